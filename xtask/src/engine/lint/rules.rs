//! The lint rules as a registry: each rule is buf's id, the categories
//! buf puts it in, its purpose, and one small check typed by the element
//! it looks at (a file, message, field, oneof, enum, enum value, service,
//! RPC, or the whole tree for rules that compare files). The engine
//! (`super`) walks the tree once and hands each element to the rules
//! that look at it; the set of rules, their categories and `RULES` all
//! come from [`REGISTRY`].

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{DescriptorPool, DynamicMessage};
use prost_types::field_descriptor_proto::Label;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    MethodDescriptorProto, OneofDescriptorProto, ServiceDescriptorProto,
};

use crate::descriptors::locate;
use crate::engine::config::LintOptions;
use crate::engine::toolkit::{
    file_option, full_name, has_version_suffix, num, q, sub, to_lower_snake, to_pascal, to_upper_snake,
};

/// What every check may read: the whole descriptor set, the files being
/// linted, and the configured options.
pub struct Ctx<'a> {
    /// Every file of the set, imports included.
    pub all: &'a [&'a FileDescriptorProto],
    /// The files being linted.
    pub own: Vec<&'a FileDescriptorProto>,
    /// Full type name (no leading dot) to the file that declares it.
    pub types: BTreeMap<String, &'a str>,
    /// The set decoded for reflection (custom options), when available.
    pub pool: Option<&'a DescriptorPool>,
    /// The rule options.
    pub options: &'a LintOptions,
}

/// A finding before it is positioned: the file, the candidate source
/// paths (the first one located wins), the element whose comments (and
/// whose ancestors' comments) may waive it, and buf's message.
#[derive(Debug)]
pub struct Raw<'a> {
    /// The file.
    pub file: &'a FileDescriptorProto,
    /// Candidate source paths; none for the whole file.
    pub paths: Vec<Vec<i32>>,
    /// The element the finding is about, for comment ignores.
    pub element: Vec<i32>,
    /// buf's message.
    pub message: String,
}

/// Where a check puts its findings.
#[derive(Debug, Default)]
pub struct Out<'a> {
    /// The findings so far.
    pub found: Vec<Raw<'a>>,
}

impl<'a> Out<'a> {
    /// A finding about `element` of `file`, at the first located of `paths`.
    pub fn at(&mut self, file: &'a FileDescriptorProto, element: &[i32], paths: &[&[i32]], message: String) {
        self.found.push(Raw {
            file,
            paths: paths.iter().map(|p| p.to_vec()).collect(),
            element: element.to_vec(),
            message,
        });
    }
}

/// A message (map entries excluded) with its file and source path.
pub struct Message<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a DescriptorProto,
}

/// A field or extension (group fields excluded).
pub struct Field<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a FieldDescriptorProto,
}

/// A real oneof (not the synthetic one of a proto3 `optional`).
pub struct Oneof<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a OneofDescriptorProto,
}

/// An enum.
pub struct Enum<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a EnumDescriptorProto,
}

/// An enum value with its enum.
pub struct EnumValue<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a EnumValueDescriptorProto,
    /// The enum.
    pub parent: &'a EnumDescriptorProto,
}

/// A service.
pub struct Service<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a ServiceDescriptorProto,
}

/// An RPC with its service.
pub struct Method<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a MethodDescriptorProto,
    /// The service.
    pub service: &'a ServiceDescriptorProto,
}

/// A rule's check, typed by the element it looks at.
#[derive(Clone, Copy)]
pub enum Check {
    /// Each linted file.
    File(for<'a> fn(&Ctx<'a>, &'a FileDescriptorProto, &mut Out<'a>)),
    /// Each message.
    Message(for<'a> fn(&Ctx<'a>, &Message<'a>, &mut Out<'a>)),
    /// Each field and extension.
    Field(for<'a> fn(&Ctx<'a>, &Field<'a>, &mut Out<'a>)),
    /// Each oneof.
    Oneof(for<'a> fn(&Ctx<'a>, &Oneof<'a>, &mut Out<'a>)),
    /// Each enum.
    Enum(for<'a> fn(&Ctx<'a>, &Enum<'a>, &mut Out<'a>)),
    /// Each enum value.
    EnumValue(for<'a> fn(&Ctx<'a>, &EnumValue<'a>, &mut Out<'a>)),
    /// Each service.
    Service(for<'a> fn(&Ctx<'a>, &Service<'a>, &mut Out<'a>)),
    /// Each RPC.
    Method(for<'a> fn(&Ctx<'a>, &Method<'a>, &mut Out<'a>)),
    /// The linted files together.
    Tree(for<'a> fn(&Ctx<'a>, &mut Out<'a>)),
}

/// One lint rule.
#[derive(Clone, Copy)]
pub struct Rule {
    /// buf's id.
    pub id: &'static str,
    /// The categories buf (configuration v2) puts it in.
    pub categories: &'static [&'static str],
    /// What it checks, in buf's words.
    pub purpose: &'static str,
    /// The check.
    pub check: Check,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule").field("id", &self.id).field("categories", &self.categories).finish()
    }
}

/// The lint categories, loosest first.
pub const CATEGORIES: &[&str] = &["MINIMAL", "BASIC", "STANDARD", "COMMENTS", "UNARY_RPC"];

const MIN: &[&str] = &["MINIMAL", "BASIC", "STANDARD"];
const BASIC: &[&str] = &["BASIC", "STANDARD"];
const STD: &[&str] = &["STANDARD"];
const COMMENTS: &[&str] = &["COMMENTS"];
const UNARY: &[&str] = &["UNARY_RPC"];

macro_rules! registry {
    ($($id:literal, $cats:expr, $kind:ident($check:expr), $purpose:literal;)*) => {
        /// Every lint rule, in buf's order of listing.
        pub const REGISTRY: &[Rule] = &[$(Rule { id: $id, categories: $cats, purpose: $purpose, check: Check::$kind($check) }),*];
    };
}

registry! {
    "DIRECTORY_SAME_PACKAGE", MIN, Tree(directory_same_package), "Checks that all files in a given directory are in the same package.";
    "PACKAGE_DEFINED", MIN, File(package_defined), "Checks that all files have a package defined.";
    "PACKAGE_DIRECTORY_MATCH", MIN, File(package_directory_match), "Checks that all files are in a directory that matches their package name.";
    "PACKAGE_NO_IMPORT_CYCLE", MIN, Tree(package_no_import_cycle), "Checks that packages do not have import cycles.";
    "PACKAGE_SAME_DIRECTORY", MIN, Tree(package_same_directory), "Checks that all files with a given package are in the same directory.";
    "ENUM_FIRST_VALUE_ZERO", BASIC, Enum(enum_first_value_zero), "Checks that all first values of enums have a numeric value of 0.";
    "ENUM_NO_ALLOW_ALIAS", BASIC, Enum(enum_no_allow_alias), "Checks that enums do not have the allow_alias option set.";
    "ENUM_PASCAL_CASE", BASIC, Enum(enum_pascal_case), "Checks that enums are PascalCase.";
    "ENUM_VALUE_UPPER_SNAKE_CASE", BASIC, EnumValue(enum_value_upper_snake_case), "Checks that enum values are UPPER_SNAKE_CASE.";
    "FIELD_LOWER_SNAKE_CASE", BASIC, Field(field_lower_snake_case), "Checks that field names are lower_snake_case.";
    "FIELD_NOT_REQUIRED", BASIC, Field(field_not_required), "Checks that fields are not configured to be required.";
    "IMPORT_NO_PUBLIC", BASIC, File(import_no_public), "Checks that imports are not public.";
    "IMPORT_USED", BASIC, File(import_used), "Checks that imports are used.";
    "MESSAGE_PASCAL_CASE", BASIC, Message(message_pascal_case), "Checks that messages are PascalCase.";
    "ONEOF_LOWER_SNAKE_CASE", BASIC, Oneof(oneof_lower_snake_case), "Checks that oneof names are lower_snake_case.";
    "PACKAGE_LOWER_SNAKE_CASE", BASIC, File(package_lower_snake_case), "Checks that packages are lower_snake.case.";
    "PACKAGE_SAME_CSHARP_NAMESPACE", BASIC, Tree(|c, o| package_same_option(c, o, "csharp_namespace")), "Checks that all files with a given package have the same value for the csharp_namespace option.";
    "PACKAGE_SAME_GO_PACKAGE", BASIC, Tree(|c, o| package_same_option(c, o, "go_package")), "Checks that all files with a given package have the same value for the go_package option.";
    "PACKAGE_SAME_JAVA_MULTIPLE_FILES", BASIC, Tree(|c, o| package_same_option(c, o, "java_multiple_files")), "Checks that all files with a given package have the same value for the java_multiple_files option.";
    "PACKAGE_SAME_JAVA_PACKAGE", BASIC, Tree(|c, o| package_same_option(c, o, "java_package")), "Checks that all files with a given package have the same value for the java_package option.";
    "PACKAGE_SAME_PHP_NAMESPACE", BASIC, Tree(|c, o| package_same_option(c, o, "php_namespace")), "Checks that all files with a given package have the same value for the php_namespace option.";
    "PACKAGE_SAME_RUBY_PACKAGE", BASIC, Tree(|c, o| package_same_option(c, o, "ruby_package")), "Checks that all files with a given package have the same value for the ruby_package option.";
    "PACKAGE_SAME_SWIFT_PREFIX", BASIC, Tree(|c, o| package_same_option(c, o, "swift_prefix")), "Checks that all files with a given package have the same value for the swift_prefix option.";
    "RPC_PASCAL_CASE", BASIC, Method(rpc_pascal_case), "Checks that RPCs are PascalCase.";
    "SERVICE_PASCAL_CASE", BASIC, Service(service_pascal_case), "Checks that services are PascalCase.";
    "SYNTAX_SPECIFIED", BASIC, File(syntax_specified), "Checks that all files have a syntax specified.";
    "ENUM_VALUE_PREFIX", STD, EnumValue(enum_value_prefix), "Checks that enum values are prefixed with ENUM_NAME_UPPER_SNAKE_CASE.";
    "ENUM_ZERO_VALUE_SUFFIX", STD, EnumValue(enum_zero_value_suffix), "Checks that enum zero values have a consistent suffix (configurable, default suffix is \"_UNSPECIFIED\").";
    "FILE_LOWER_SNAKE_CASE", STD, File(file_lower_snake_case), "Checks that filenames are lower_snake_case.";
    "PACKAGE_VERSION_SUFFIX", STD, File(package_version_suffix), "Checks that the last component of all packages is a version of the form v\\d+, v\\d+test.*, v\\d+(alpha|beta)\\d*, or v\\d+p\\d+(alpha|beta)\\d*, where numbers are >=1.";
    "RPC_REQUEST_RESPONSE_UNIQUE", STD, Tree(rpc_request_response_unique), "Checks that RPC request and response types are only used in one RPC (configurable).";
    "RPC_REQUEST_STANDARD_NAME", STD, Method(rpc_request_standard_name), "Checks that RPC request type names are RPCNameRequest or ServiceNameRPCNameRequest (configurable).";
    "RPC_RESPONSE_STANDARD_NAME", STD, Method(rpc_response_standard_name), "Checks that RPC response type names are RPCNameResponse or ServiceNameRPCNameResponse (configurable).";
    "SERVICE_SUFFIX", STD, Service(service_suffix), "Checks that services have a consistent suffix (configurable, default suffix is \"Service\").";
    "COMMENT_ENUM", COMMENTS, Enum(|_, e, o| comment(o, e.file, &e.path, "Enum", e.proto.name())), "Checks that enums have non-empty comments.";
    "COMMENT_ENUM_VALUE", COMMENTS, EnumValue(|_, v, o| comment(o, v.file, &v.path, "Enum value", v.proto.name())), "Checks that enum values have non-empty comments.";
    "COMMENT_FIELD", COMMENTS, Field(|_, x, o| comment(o, x.file, &x.path, "Field", x.proto.name())), "Checks that fields have non-empty comments.";
    "COMMENT_MESSAGE", COMMENTS, Message(|_, m, o| comment(o, m.file, &m.path, "Message", m.proto.name())), "Checks that messages have non-empty comments.";
    "COMMENT_ONEOF", COMMENTS, Oneof(|_, x, o| comment(o, x.file, &x.path, "Oneof", x.proto.name())), "Checks that oneofs have non-empty comments.";
    "COMMENT_RPC", COMMENTS, Method(|_, m, o| comment(o, m.file, &m.path, "RPC", m.proto.name())), "Checks that RPCs have non-empty comments.";
    "COMMENT_SERVICE", COMMENTS, Service(|_, s, o| comment(o, s.file, &s.path, "Service", s.proto.name())), "Checks that services have non-empty comments.";
    "RPC_NO_CLIENT_STREAMING", UNARY, Method(rpc_no_client_streaming), "Checks that RPCs are not client streaming.";
    "RPC_NO_SERVER_STREAMING", UNARY, Method(rpc_no_server_streaming), "Checks that RPCs are not server streaming.";
}

/// The rule with buf's id `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    REGISTRY.iter().find(|r| r.id == id)
}

// ------------------------------------------------------------------ files

fn file_lower_snake_case<'a>(_: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    let name = f.name();
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base.strip_suffix(".proto").unwrap_or(base);
    let expected = to_lower_snake(stem);
    if stem != expected {
        out.at(
            f,
            &[],
            &[],
            format!("Filename {} should be lower_snake_case.proto, such as \"{expected}.proto\".", q(base)),
        );
    }
}

fn syntax_specified<'a>(_: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    let stated = locate(f, &[num::FILE_SYNTAX]).line > 0 || locate(f, &[num::FILE_EDITION]).line > 0;
    if f.syntax.as_deref().unwrap_or("").is_empty() && !stated {
        out.at(f, &[], &[], "Files must have a syntax explicitly specified. If no syntax is specified, the file defaults to \"proto2\".".into());
    }
}

fn package_defined<'a>(_: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    if f.package().is_empty() {
        out.at(f, &[], &[], "Files must have a package defined.".into());
    }
}

fn dir_of(f: &FileDescriptorProto) -> &str {
    f.name().rsplit_once('/').map_or(".", |(d, _)| d)
}

fn package_directory_match<'a>(_: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    let pkg = f.package();
    let expected = pkg.replace('.', "/");
    if !pkg.is_empty() && dir_of(f) != expected {
        let message = format!(
            "Files with package {} must be within a directory \"{expected}\" relative to root but were in directory \"{}\".",
            q(pkg),
            dir_of(f)
        );
        out.at(f, &[num::FILE_PACKAGE], &[&[num::FILE_PACKAGE]], message);
    }
}

fn package_lower_snake_case<'a>(_: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    let pkg = f.package();
    let lower = pkg.split('.').map(to_lower_snake).collect::<Vec<_>>().join(".");
    if !pkg.is_empty() && lower != pkg {
        out.at(
            f,
            &[num::FILE_PACKAGE],
            &[&[num::FILE_PACKAGE]],
            format!("Package name {} should be lower_snake.case, such as {}.", q(pkg), q(lower)),
        );
    }
}

fn package_version_suffix<'a>(_: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    let pkg = f.package();
    if !pkg.is_empty() && !has_version_suffix(pkg) {
        let message = format!(
            "Package name {} should be suffixed with a correctly formed version, such as {}.",
            q(pkg),
            q(format!("{pkg}.v1"))
        );
        out.at(f, &[num::FILE_PACKAGE], &[&[num::FILE_PACKAGE]], message);
    }
}

fn import_no_public<'a>(_: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    for &i in &f.public_dependency {
        if let Some(dep) = usize::try_from(i).ok().and_then(|i| f.dependency.get(i)) {
            let path = [num::FILE_DEPENDENCY, i];
            out.at(f, &path, &[&path], format!("Import {} must not be public.", q(dep)));
        }
    }
}

fn import_used<'a>(ctx: &Ctx<'a>, f: &'a FileDescriptorProto, out: &mut Out<'a>) {
    // Files whose types or extensions this file uses.
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut refer = |name: &str| {
        if let Some(file) = ctx.types.get(name.trim_start_matches('.')) {
            used.insert(file);
        }
    };
    let mut fields: Vec<&FieldDescriptorProto> = f.extension.iter().collect();
    let mut stack: Vec<&DescriptorProto> = f.message_type.iter().collect();
    while let Some(m) = stack.pop() {
        fields.extend(m.field.iter().chain(&m.extension));
        stack.extend(m.nested_type.iter());
    }
    for x in fields {
        refer(x.type_name());
        refer(x.extendee());
    }
    for m in f.service.iter().flat_map(|s| &s.method) {
        refer(m.input_type());
        refer(m.output_type());
    }
    let mut by_options: BTreeSet<String> = BTreeSet::new();
    if let Some(fd) = ctx.pool.and_then(|p| p.get_file_by_name(f.name())) {
        let mut options: Vec<DynamicMessage> = vec![fd.options()];
        let mut msgs: Vec<_> = fd.messages().collect();
        while let Some(m) = msgs.pop() {
            options.push(m.options());
            options.extend(m.fields().map(|x| x.options()));
            options.extend(m.oneofs().map(|o| o.options()));
            options.extend(m.child_extensions().map(|x| x.options()));
            for e in m.child_enums() {
                options.push(e.options());
                options.extend(e.values().map(|v| v.options()));
            }
            msgs.extend(m.child_messages());
        }
        for e in fd.enums() {
            options.push(e.options());
            options.extend(e.values().map(|v| v.options()));
        }
        options.extend(fd.extensions().map(|x| x.options()));
        for s in fd.services() {
            options.push(s.options());
            options.extend(s.methods().map(|m| m.options()));
        }
        for o in &options {
            for (ext, _) in o.extensions() {
                by_options.insert(ext.parent_file().name().to_string());
            }
        }
    }
    let is_used = |d: &str| used.contains(d) || by_options.contains(d);
    for (i, dep) in f.dependency.iter().enumerate() {
        if f.public_dependency.contains(&(i as i32)) {
            continue;
        }
        if !reaches_public(ctx, dep, &is_used) {
            let path = [num::FILE_DEPENDENCY, i as i32];
            out.at(f, &path, &[&path], format!("Import {} is unused.", q(dep)));
        }
    }
}

/// Whether `dep`, or a file it publicly imports (transitively), is used.
fn reaches_public(ctx: &Ctx<'_>, dep: &str, used: &dyn Fn(&str) -> bool) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![dep.to_string()];
    while let Some(d) = stack.pop() {
        if used(&d) {
            return true;
        }
        if !seen.insert(d.clone()) {
            continue;
        }
        if let Some(file) = ctx.all.iter().find(|x| x.name() == d) {
            for &i in &file.public_dependency {
                if let Some(p) = usize::try_from(i).ok().and_then(|i| file.dependency.get(i)) {
                    stack.push(p.clone());
                }
            }
        }
    }
    false
}

// ------------------------------------------------------- across the files

fn directory_same_package<'a>(ctx: &Ctx<'a>, out: &mut Out<'a>) {
    let mut by_dir: BTreeMap<&str, Vec<&'a FileDescriptorProto>> = BTreeMap::new();
    for f in &ctx.own {
        by_dir.entry(dir_of(f)).or_default().push(f);
    }
    for (dir, group) in &by_dir {
        let pkgs: BTreeSet<&str> = group.iter().map(|f| f.package()).collect();
        if pkgs.len() < 2 {
            continue;
        }
        let named: Vec<&str> = pkgs.iter().copied().filter(|p| !p.is_empty()).collect();
        let prefix = match (pkgs.contains(""), named.len()) {
            (true, 1) => format!("Package {} and file with no package", q(named.join(","))),
            (true, _) => format!("Multiple packages {} and file with no package", q(named.join(","))),
            (false, _) => format!("Multiple packages {}", q(named.join(","))),
        };
        for f in group {
            out.at(
                f,
                &[num::FILE_PACKAGE],
                &[&[num::FILE_PACKAGE]],
                format!("{prefix} detected within directory {}.", q(dir)),
            );
        }
    }
}

fn by_package<'a>(ctx: &Ctx<'a>) -> BTreeMap<&'a str, Vec<&'a FileDescriptorProto>> {
    let mut by_pkg: BTreeMap<&str, Vec<&FileDescriptorProto>> = BTreeMap::new();
    for f in &ctx.own {
        by_pkg.entry(f.package()).or_default().push(f);
    }
    by_pkg
}

fn package_same_directory<'a>(ctx: &Ctx<'a>, out: &mut Out<'a>) {
    for (pkg, group) in by_package(ctx) {
        let dirs: BTreeSet<&str> = group.iter().map(|f| dir_of(f)).collect();
        if dirs.len() > 1 {
            let list = dirs.into_iter().collect::<Vec<_>>().join(",");
            for f in group {
                out.at(
                    f,
                    &[num::FILE_PACKAGE],
                    &[&[num::FILE_PACKAGE]],
                    format!("Multiple directories {} contain files with package {}.", q(&list), q(pkg)),
                );
            }
        }
    }
}

fn package_same_option<'a>(ctx: &Ctx<'a>, out: &mut Out<'a>, option: &str) {
    let option = file_option(option);
    for (pkg, group) in by_package(ctx) {
        let values: BTreeSet<String> = group.iter().map(|f| option.value(f).unwrap_or_default()).collect();
        if values.len() < 2 {
            continue;
        }
        let set = values.iter().filter(|v| !v.is_empty()).cloned().collect::<Vec<_>>().join(",");
        let message = if values.contains("") {
            format!(
                "Files in package {} have both values {} and no value for option {} and all values must be equal.",
                q(pkg),
                q(&set),
                q(option.name)
            )
        } else {
            format!(
                "Files in package {} have multiple values {} for option {} and all values must be equal.",
                q(pkg),
                q(&set),
                q(option.name)
            )
        };
        for f in group {
            let path = [num::FILE_OPTIONS, option.number];
            out.at(f, &path, &[&path], message.clone());
        }
    }
}

/// Package -> imported package -> the (file, dependency index) imports making the edge.
type ImportGraph<'a> = BTreeMap<&'a str, BTreeMap<&'a str, Vec<(&'a FileDescriptorProto, usize)>>>;

fn package_no_import_cycle<'a>(ctx: &Ctx<'a>, out: &mut Out<'a>) {
    let mut graph: ImportGraph<'a> = BTreeMap::new();
    let pkg_of: BTreeMap<&str, &str> = ctx.all.iter().map(|f| (f.name(), f.package())).collect();
    for &f in ctx.all {
        for (i, dep) in f.dependency.iter().enumerate() {
            if let Some(&dp) = pkg_of.get(dep.as_str())
                && !dp.is_empty()
                && dp != f.package()
                && !f.package().is_empty()
            {
                graph.entry(f.package()).or_default().entry(dp).or_default().push((f, i));
            }
        }
    }
    let own: BTreeSet<&str> = ctx.own.iter().map(|f| f.name()).collect();
    for (pkg, edges) in &graph {
        for (next, imports) in edges {
            let mut visiting = vec![*pkg];
            if let Some(cycle) = find_cycle(next, &graph, &mut visiting) {
                for (file, i) in imports {
                    if own.contains(file.name()) {
                        let path = [num::FILE_DEPENDENCY, *i as i32];
                        out.at(file, &path, &[&path], format!("Package import cycle: {}", cycle.join(" -> ")));
                    }
                }
            }
        }
    }
}

fn find_cycle<'a>(pkg: &'a str, graph: &ImportGraph<'a>, visiting: &mut Vec<&'a str>) -> Option<Vec<&'a str>> {
    visiting.push(pkg);
    if visiting[..visiting.len() - 1].contains(&pkg) {
        let result = (visiting.first() == Some(&pkg)).then(|| visiting.clone());
        visiting.pop();
        return result;
    }
    if let Some(edges) = graph.get(pkg) {
        for next in edges.keys() {
            if let Some(c) = find_cycle(next, graph, visiting) {
                visiting.pop();
                return Some(c);
            }
        }
    }
    visiting.pop();
    None
}

/// RPCs are told apart by their fully-qualified name (`pkg.Service.Rpc`),
/// so that two versions of one API, each with an RPC of the same name,
/// count as two RPCs.
fn rpc_request_response_unique<'a>(ctx: &Ctx<'a>, out: &mut Out<'a>) {
    type Uses<'f> = BTreeMap<String, Vec<(&'f FileDescriptorProto, Vec<i32>, String)>>;
    let opts = ctx.options;
    let mut uses: Uses<'a> = BTreeMap::new();
    for f in &ctx.own {
        for (i, s) in f.service.iter().enumerate() {
            for (j, m) in s.method.iter().enumerate() {
                let path = vec![num::FILE_SERVICE, i as i32, num::SERVICE_METHOD, j as i32];
                let (input, output) = (m.input_type().trim_start_matches('.'), m.output_type().trim_start_matches('.'));
                if input == output && !opts.rpc_allow_same_request_response {
                    out.at(
                        f,
                        &path,
                        &[&path],
                        format!("RPC {} has the same type {} for the request and response.", q(m.name()), q(input)),
                    );
                }
                let rpc = full_name(f.package(), &format!("{}.{}", s.name(), m.name()));
                let empty = "google.protobuf.Empty";
                let mut types = Vec::new();
                if !(input == empty && opts.rpc_allow_google_protobuf_empty_requests) {
                    types.push(input);
                }
                if !(output == empty && opts.rpc_allow_google_protobuf_empty_responses) {
                    types.push(output);
                }
                for t in types {
                    let entry = uses.entry(t.to_string()).or_default();
                    if !entry.iter().any(|(_, _, n)| *n == rpc) {
                        entry.push((f, path.clone(), rpc.clone()));
                    }
                }
            }
        }
    }
    for (t, rpcs) in uses {
        if rpcs.len() > 1 {
            for (f, path, _) in rpcs {
                out.at(
                    f,
                    &path,
                    &[&path],
                    format!("{} is used as the request or response type for multiple RPCs.", q(&t)),
                );
            }
        }
    }
}

// ---------------------------------------------------------------- messages

fn message_pascal_case<'a>(_: &Ctx<'a>, m: &Message<'a>, out: &mut Out<'a>) {
    let (name, pascal) = (m.proto.name(), to_pascal(m.proto.name()));
    if name != pascal {
        out.at(
            m.file,
            &m.path,
            &[&sub(&m.path, &[num::NAME])],
            format!("Message name {} should be PascalCase, such as {}.", q(name), q(pascal)),
        );
    }
}

fn field_lower_snake_case<'a>(_: &Ctx<'a>, x: &Field<'a>, out: &mut Out<'a>) {
    let (name, expected) = (x.proto.name(), to_lower_snake(x.proto.name()));
    if name != expected {
        out.at(
            x.file,
            &x.path,
            &[&sub(&x.path, &[num::NAME])],
            format!("Field name {} should be lower_snake_case, such as {}.", q(name), q(expected)),
        );
    }
}

fn field_not_required<'a>(_: &Ctx<'a>, x: &Field<'a>, out: &mut Out<'a>) {
    if x.proto.label() == Label::Required {
        out.at(
            x.file,
            &x.path,
            &[&sub(&x.path, &[num::NAME])],
            format!("Field named {} should not be required.", q(x.proto.name())),
        );
    }
}

fn oneof_lower_snake_case<'a>(_: &Ctx<'a>, x: &Oneof<'a>, out: &mut Out<'a>) {
    let (name, expected) = (x.proto.name(), to_lower_snake(x.proto.name()));
    if name != expected {
        out.at(
            x.file,
            &x.path,
            &[&sub(&x.path, &[num::NAME])],
            format!("Oneof name {} should be lower_snake_case, such as {}.", q(name), q(expected)),
        );
    }
}

// ------------------------------------------------------------------- enums

fn enum_pascal_case<'a>(_: &Ctx<'a>, e: &Enum<'a>, out: &mut Out<'a>) {
    let (name, pascal) = (e.proto.name(), to_pascal(e.proto.name()));
    if name != pascal {
        out.at(
            e.file,
            &e.path,
            &[&sub(&e.path, &[num::NAME])],
            format!("Enum name {} should be PascalCase, such as {}.", q(name), q(pascal)),
        );
    }
}

fn enum_no_allow_alias<'a>(_: &Ctx<'a>, e: &Enum<'a>, out: &mut Out<'a>) {
    if e.proto.options.as_ref().is_some_and(|o| o.allow_alias()) {
        let option = sub(&e.path, &[num::ENUM_OPTIONS, num::ENUM_OPTION_ALLOW_ALIAS]);
        out.at(
            e.file,
            &e.path,
            &[&option, &e.path],
            format!("Enum option \"allow_alias\" on enum {} must be false.", q(e.proto.name())),
        );
    }
}

fn enum_first_value_zero<'a>(_: &Ctx<'a>, e: &Enum<'a>, out: &mut Out<'a>) {
    if let Some(first) = e.proto.value.first()
        && first.number() != 0
    {
        let number = sub(&e.path, &[num::ENUM_VALUE, 0, num::ENUM_VALUE_NUMBER]);
        out.at(
            e.file,
            &e.path,
            &[&number],
            format!("First enum value {} should have a numeric value of 0", q(first.name())),
        );
    }
}

fn enum_value_prefix<'a>(_: &Ctx<'a>, v: &EnumValue<'a>, out: &mut Out<'a>) {
    let prefix = format!("{}_", to_upper_snake(v.parent.name()));
    if !v.proto.name().starts_with(&prefix) {
        out.at(
            v.file,
            &v.path,
            &[&sub(&v.path, &[num::NAME])],
            format!("Enum value name {} should be prefixed with {}.", q(v.proto.name()), q(&prefix)),
        );
    }
}

fn enum_value_upper_snake_case<'a>(_: &Ctx<'a>, v: &EnumValue<'a>, out: &mut Out<'a>) {
    let (name, upper) = (v.proto.name(), to_upper_snake(v.proto.name()));
    if name != upper {
        out.at(
            v.file,
            &v.path,
            &[&sub(&v.path, &[num::NAME])],
            format!("Enum value name {} should be UPPER_SNAKE_CASE, such as {}.", q(name), q(upper)),
        );
    }
}

fn enum_zero_value_suffix<'a>(ctx: &Ctx<'a>, v: &EnumValue<'a>, out: &mut Out<'a>) {
    let suffix = &ctx.options.enum_zero_value_suffix;
    if v.proto.number() == 0 && !v.proto.name().ends_with(suffix.as_str()) {
        let message = format!("Enum zero value name {} should be suffixed with {}.", q(v.proto.name()), q(suffix));
        out.at(v.file, &v.path, &[&sub(&v.path, &[num::NAME])], message);
    }
}

// ---------------------------------------------------------------- services

fn service_pascal_case<'a>(_: &Ctx<'a>, s: &Service<'a>, out: &mut Out<'a>) {
    let (name, pascal) = (s.proto.name(), to_pascal(s.proto.name()));
    if name != pascal {
        out.at(
            s.file,
            &s.path,
            &[&sub(&s.path, &[num::NAME])],
            format!("Service name {} should be PascalCase, such as {}.", q(name), q(pascal)),
        );
    }
}

fn service_suffix<'a>(ctx: &Ctx<'a>, s: &Service<'a>, out: &mut Out<'a>) {
    let suffix = &ctx.options.service_suffix;
    if !s.proto.name().ends_with(suffix.as_str()) {
        out.at(
            s.file,
            &s.path,
            &[&sub(&s.path, &[num::NAME])],
            format!("Service name {} should be suffixed with {}.", q(s.proto.name()), q(suffix)),
        );
    }
}

fn rpc_pascal_case<'a>(_: &Ctx<'a>, m: &Method<'a>, out: &mut Out<'a>) {
    let (name, pascal) = (m.proto.name(), to_pascal(m.proto.name()));
    if name != pascal {
        out.at(
            m.file,
            &m.path,
            &[&sub(&m.path, &[num::NAME])],
            format!("RPC name {} should be PascalCase, such as {}.", q(name), q(pascal)),
        );
    }
}

/// The standard-name check of a request (`Request`) or response
/// (`Response`) type; `google.protobuf.Empty` passes when allowed.
fn standard_name<'a>(m: &Method<'a>, out: &mut Out<'a>, ty: &str, suffix: &str, field: i32, allow_empty: bool) {
    let ty = ty.trim_start_matches('.');
    if allow_empty && ty == "google.protobuf.Empty" {
        return;
    }
    let short = ty.rsplit('.').next().unwrap_or(ty);
    let a = format!("{}{suffix}", to_pascal(m.proto.name()));
    let b = format!("{}{a}", to_pascal(m.service.name()));
    if short != a && short != b {
        let what = suffix.to_lowercase();
        out.at(
            m.file,
            &m.path,
            &[&sub(&m.path, &[field])],
            format!("RPC {what} type {} should be named {} or {}.", q(short), q(a), q(b)),
        );
    }
}

fn rpc_request_standard_name<'a>(ctx: &Ctx<'a>, m: &Method<'a>, out: &mut Out<'a>) {
    let allow = ctx.options.rpc_allow_google_protobuf_empty_requests;
    standard_name(m, out, m.proto.input_type(), "Request", num::METHOD_INPUT, allow);
}

fn rpc_response_standard_name<'a>(ctx: &Ctx<'a>, m: &Method<'a>, out: &mut Out<'a>) {
    let allow = ctx.options.rpc_allow_google_protobuf_empty_responses;
    standard_name(m, out, m.proto.output_type(), "Response", num::METHOD_OUTPUT, allow);
}

fn rpc_no_client_streaming<'a>(_: &Ctx<'a>, m: &Method<'a>, out: &mut Out<'a>) {
    if m.proto.client_streaming() {
        out.at(m.file, &m.path, &[&m.path], format!("RPC {} is client streaming.", q(m.proto.name())));
    }
}

fn rpc_no_server_streaming<'a>(_: &Ctx<'a>, m: &Method<'a>, out: &mut Out<'a>) {
    if m.proto.server_streaming() {
        out.at(m.file, &m.path, &[&m.path], format!("RPC {} is server streaming.", q(m.proto.name())));
    }
}

// ---------------------------------------------------------------- comments

/// The COMMENTS rules: a leading comment with some text other than a
/// `buf:lint:ignore` directive.
fn comment<'a>(out: &mut Out<'a>, file: &'a FileDescriptorProto, path: &[i32], kind: &str, name: &str) {
    let l = locate(file, path);
    let documented =
        l.leading_comments.lines().map(str::trim).any(|line| !line.is_empty() && !line.starts_with("buf:lint:ignore"));
    if !documented {
        out.at(file, path, &[path], format!("{kind} {} should have a non-empty comment for documentation.", q(name)));
    }
}

/// Every element of the linted files, in declaration order, as the typed
/// checks take them.
#[derive(Default)]
pub struct Elements<'a> {
    /// Messages (map entries excluded).
    pub messages: Vec<Message<'a>>,
    /// Fields and extensions (groups excluded).
    pub fields: Vec<Field<'a>>,
    /// Real oneofs.
    pub oneofs: Vec<Oneof<'a>>,
    /// Enums.
    pub enums: Vec<Enum<'a>>,
    /// Enum values.
    pub values: Vec<EnumValue<'a>>,
    /// Services.
    pub services: Vec<Service<'a>>,
    /// RPCs.
    pub methods: Vec<Method<'a>>,
}

impl<'a> Elements<'a> {
    /// Collects the elements of `files`.
    pub fn of(files: &[&'a FileDescriptorProto]) -> Elements<'a> {
        let mut el = Elements::default();
        for f in files {
            for (i, m) in f.message_type.iter().enumerate() {
                el.message(f, m, vec![num::FILE_MESSAGE, i as i32]);
            }
            for (i, e) in f.enum_type.iter().enumerate() {
                el.enumeration(f, e, vec![num::FILE_ENUM, i as i32]);
            }
            for (i, x) in f.extension.iter().enumerate() {
                el.fields.push(Field { file: f, path: vec![num::FILE_EXTENSION, i as i32], proto: x });
            }
            for (i, s) in f.service.iter().enumerate() {
                let path = vec![num::FILE_SERVICE, i as i32];
                for (j, m) in s.method.iter().enumerate() {
                    el.methods.push(Method {
                        file: f,
                        path: sub(&path, &[num::SERVICE_METHOD, j as i32]),
                        proto: m,
                        service: s,
                    });
                }
                el.services.push(Service { file: f, path, proto: s });
            }
        }
        el
    }

    fn message(&mut self, f: &'a FileDescriptorProto, m: &'a DescriptorProto, path: Vec<i32>) {
        if m.options.as_ref().is_some_and(|o| o.map_entry()) {
            return;
        }
        for (i, x) in m.field.iter().enumerate() {
            if x.r#type() != prost_types::field_descriptor_proto::Type::Group {
                self.fields.push(Field { file: f, path: sub(&path, &[num::MESSAGE_FIELD, i as i32]), proto: x });
            }
        }
        for (i, x) in m.extension.iter().enumerate() {
            self.fields.push(Field { file: f, path: sub(&path, &[num::MESSAGE_EXTENSION, i as i32]), proto: x });
        }
        for (i, o) in m.oneof_decl.iter().enumerate() {
            let synthetic = m.field.iter().any(|x| x.oneof_index == Some(i as i32) && x.proto3_optional());
            if !synthetic {
                self.oneofs.push(Oneof { file: f, path: sub(&path, &[num::MESSAGE_ONEOF, i as i32]), proto: o });
            }
        }
        for (i, n) in m.nested_type.iter().enumerate() {
            self.message(f, n, sub(&path, &[num::MESSAGE_NESTED, i as i32]));
        }
        for (i, e) in m.enum_type.iter().enumerate() {
            self.enumeration(f, e, sub(&path, &[num::MESSAGE_ENUM, i as i32]));
        }
        self.messages.push(Message { file: f, path, proto: m });
    }

    fn enumeration(&mut self, f: &'a FileDescriptorProto, e: &'a EnumDescriptorProto, path: Vec<i32>) {
        for (i, v) in e.value.iter().enumerate() {
            self.values.push(EnumValue {
                file: f,
                path: sub(&path, &[num::ENUM_VALUE, i as i32]),
                proto: v,
                parent: e,
            });
        }
        self.enums.push(Enum { file: f, path, proto: e });
    }
}

/// Runs one rule over the elements.
pub fn run<'a>(rule: &Rule, ctx: &Ctx<'a>, el: &Elements<'a>, out: &mut Out<'a>) {
    match rule.check {
        Check::File(check) => ctx.own.iter().for_each(|f| check(ctx, f, out)),
        Check::Message(check) => el.messages.iter().for_each(|x| check(ctx, x, out)),
        Check::Field(check) => el.fields.iter().for_each(|x| check(ctx, x, out)),
        Check::Oneof(check) => el.oneofs.iter().for_each(|x| check(ctx, x, out)),
        Check::Enum(check) => el.enums.iter().for_each(|x| check(ctx, x, out)),
        Check::EnumValue(check) => el.values.iter().for_each(|x| check(ctx, x, out)),
        Check::Service(check) => el.services.iter().for_each(|x| check(ctx, x, out)),
        Check::Method(check) => el.methods.iter().for_each(|x| check(ctx, x, out)),
        Check::Tree(check) => check(ctx, out),
    }
}
