//! `cargo xtask lint`: the conventions of buf's `STANDARD` lint category
//! plus its `COMMENTS` rules (every message, field, oneof, enum, enum
//! value, service and RPC documented), with buf's rule ids and
//! file/line/column positions.
//!
//! Exits 0 (clean), 1 (findings) or 2 (input error, such as a proto that
//! does not compile). Like the breaking gate it reads the compiled
//! descriptor set (protox) and never re-parses proto text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileOptions};

use crate::breaking::report::{self, Finding, Format, Side};
use crate::breaking::EXIT_ERROR;
use crate::paths::PROTO_DIR;
use crate::descriptors::{compile_tree, locate};

/// Flags of `cargo xtask lint`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// The proto tree to lint; default: `proto/`.
    #[arg(long, value_name = "DIR")]
    pub proto_root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The lint rules, by buf's ids: `STANDARD` then `COMMENTS`.
pub const RULES: &[&str] = &[
    "DIRECTORY_SAME_PACKAGE",
    "ENUM_FIRST_VALUE_ZERO",
    "ENUM_NO_ALLOW_ALIAS",
    "ENUM_PASCAL_CASE",
    "ENUM_VALUE_PREFIX",
    "ENUM_VALUE_UPPER_SNAKE_CASE",
    "ENUM_ZERO_VALUE_SUFFIX",
    "FIELD_LOWER_SNAKE_CASE",
    "FIELD_NOT_REQUIRED",
    "FILE_LOWER_SNAKE_CASE",
    "IMPORT_NO_PUBLIC",
    "IMPORT_USED",
    "MESSAGE_PASCAL_CASE",
    "ONEOF_LOWER_SNAKE_CASE",
    "PACKAGE_DEFINED",
    "PACKAGE_DIRECTORY_MATCH",
    "PACKAGE_LOWER_SNAKE_CASE",
    "PACKAGE_NO_IMPORT_CYCLE",
    "PACKAGE_SAME_CSHARP_NAMESPACE",
    "PACKAGE_SAME_DIRECTORY",
    "PACKAGE_SAME_GO_PACKAGE",
    "PACKAGE_SAME_JAVA_MULTIPLE_FILES",
    "PACKAGE_SAME_JAVA_PACKAGE",
    "PACKAGE_SAME_PHP_NAMESPACE",
    "PACKAGE_SAME_RUBY_PACKAGE",
    "PACKAGE_SAME_SWIFT_PREFIX",
    "PACKAGE_VERSION_SUFFIX",
    "RPC_PASCAL_CASE",
    "RPC_REQUEST_RESPONSE_UNIQUE",
    "RPC_REQUEST_STANDARD_NAME",
    "RPC_RESPONSE_STANDARD_NAME",
    "SERVICE_PASCAL_CASE",
    "SERVICE_SUFFIX",
    "SYNTAX_SPECIFIED",
    "COMMENT_ENUM",
    "COMMENT_ENUM_VALUE",
    "COMMENT_FIELD",
    "COMMENT_MESSAGE",
    "COMMENT_ONEOF",
    "COMMENT_RPC",
    "COMMENT_SERVICE",
];

/// What a lint run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The proto root's label.
    pub root: String,
    /// How many files were linted.
    pub files: usize,
    /// Findings, sorted.
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// The exit code the outcome maps to.
    pub fn exit_code(&self) -> i32 {
        report::exit_code(&self.findings)
    }

    /// The output in `format`.
    pub fn render(&self, format: Format) -> String {
        let verdict = if self.findings.is_empty() {
            format!(
                "lint: clean ({} checked against {})",
                report::plural(self.files, "file"),
                report::plural(RULES.len(), "rule")
            )
        } else {
            format!(
                "lint: {} in {} of {}",
                report::plural(self.findings.len(), "finding"),
                report::plural(report::file_count(&self.findings), "file"),
                self.root
            )
        };
        report::render(&self.findings, format, &verdict)
    }
}

/// Runs the lint from the command line: prints the result and returns the
/// exit code (0 clean, 1 findings, 2 input error).
pub fn main(root: &Path, args: &Args) -> i32 {
    match run(root, args) {
        Ok(outcome) => {
            print!("{}", outcome.render(args.format));
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
}

/// The lint as CI runs it: `proto/`, failing on any finding.
pub fn gate(root: &Path) -> Result<()> {
    let outcome = run(root, &Args::default())?;
    if !outcome.findings.is_empty() {
        bail!("{}fix the protos as each finding says (see docs/compatibility.md)", outcome.render(Format::Text));
    }
    print!("{}", outcome.render(Format::Text));
    Ok(())
}

/// Compiles the tree and lints it.
pub fn run(root: &Path, args: &Args) -> Result<Outcome> {
    let proto_root = args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR));
    let compiled = compile_tree(&proto_root)?;
    let set = prost_types::FileDescriptorSet::decode(compiled.encoded.as_slice())
        .context("descriptor set does not decode")?;
    let own: BTreeSet<String> = compiled.files.iter().cloned().collect();
    let findings = lint(&set.file, &own, &compiled.pool);
    Ok(Outcome { root: proto_root.display().to_string(), files: own.len(), findings })
}

/// Lints the `own` files of a descriptor set (imports are context only).
pub fn lint(files: &[FileDescriptorProto], own: &BTreeSet<String>, pool: &DescriptorPool) -> Vec<Finding> {
    let mut l = Linter { out: Vec::new(), all: files, types: BTreeMap::new() };
    for f in files {
        let pkg = f.package();
        collect_types(pkg, &f.message_type, &f.enum_type, f.name(), &mut l.types);
    }
    let mine: Vec<&FileDescriptorProto> = files.iter().filter(|f| own.contains(f.name())).collect();
    for f in &mine {
        l.file(f, pool);
    }
    l.layout(&mine);
    l.import_cycles(&mine);
    l.request_response_unique(&mine);
    l.out.sort();
    l.out.dedup();
    l.out
}

fn collect_types(prefix: &str, msgs: &[DescriptorProto], enums: &[EnumDescriptorProto], file: &str, out: &mut BTreeMap<String, String>) {
    let full = |n: &str| if prefix.is_empty() { n.to_string() } else { format!("{prefix}.{n}") };
    for e in enums {
        out.insert(full(e.name()), file.to_string());
    }
    for m in msgs {
        let name = full(m.name());
        collect_types(&name, &m.nested_type, &m.enum_type, file, out);
        out.insert(name, file.to_string());
    }
}

struct Linter<'a> {
    out: Vec<Finding>,
    all: &'a [FileDescriptorProto],
    /// Full type name (no leading dot) to the file that declares it.
    types: BTreeMap<String, String>,
}

fn q(s: impl AsRef<str>) -> String {
    format!("{:?}", s.as_ref())
}

fn sub(path: &[i32], tail: &[i32]) -> Vec<i32> {
    [path, tail].concat()
}

impl Linter<'_> {
    fn emit(&mut self, rule: &'static str, file: &FileDescriptorProto, paths: &[&[i32]], message: String) {
        if paths.iter().any(|p| ignored(file, p, rule)) {
            return;
        }
        let mut loc = None;
        for p in paths {
            let l = locate(file, p);
            if l.line > 0 {
                loc = Some(l);
                break;
            }
        }
        // Rules about a whole file (its name, a missing statement) have no
        // position, as in buf.
        let (line, column) = loc.map_or((0, 0), |l| (l.line, l.column));
        let category = if rule.starts_with("COMMENT_") { vec!["COMMENTS"] } else { vec!["STANDARD"] };
        self.out.push(Finding { path: file.name().to_string(), line, column, rule, message, category, side: Side::Current });
    }

    fn comment(&mut self, rule: &'static str, kind: &str, name: &str, file: &FileDescriptorProto, path: &[i32]) {
        let l = locate(file, path);
        let valid = l.leading_comments.lines().map(str::trim).any(|line| !line.is_empty() && !line.starts_with("buf:lint:ignore"));
        if !valid {
            self.emit(rule, file, &[path], format!("{kind} {} should have a non-empty comment for documentation.", q(name)));
        }
    }

    // ----------------------------------------------------------------- file

    fn file(&mut self, f: &FileDescriptorProto, pool: &DescriptorPool) {
        let name = f.name();
        let base = name.rsplit('/').next().unwrap_or(name);
        let stem = base.strip_suffix(".proto").unwrap_or(base);
        let expected = to_lower_snake(stem);
        if stem != expected {
            self.emit("FILE_LOWER_SNAKE_CASE", f, &[], format!("Filename {} should be lower_snake_case.proto, such as \"{expected}.proto\".", q(base)));
        }
        if f.syntax.as_deref().unwrap_or("").is_empty() && locate(f, &[12]).line == 0 {
            self.emit("SYNTAX_SPECIFIED", f, &[], "Files must have a syntax explicitly specified. If no syntax is specified, the file defaults to \"proto2\".".into());
        }
        let pkg = f.package();
        if pkg.is_empty() {
            self.emit("PACKAGE_DEFINED", f, &[], "Files must have a package defined.".into());
        } else {
            let dir = name.rsplit_once('/').map_or(".", |(d, _)| d);
            let expected_dir = pkg.replace('.', "/");
            if dir != expected_dir {
                self.emit("PACKAGE_DIRECTORY_MATCH", f, &[&[2]], format!("Files with package {} must be within a directory \"{expected_dir}\" relative to root but were in directory \"{dir}\".", q(pkg)));
            }
            let lower: Vec<String> = pkg.split('.').map(to_lower_snake).collect();
            let lower = lower.join(".");
            if lower != pkg {
                self.emit("PACKAGE_LOWER_SNAKE_CASE", f, &[&[2]], format!("Package name {} should be lower_snake.case, such as {}.", q(pkg), q(lower)));
            }
            if !has_version_suffix(pkg) {
                self.emit("PACKAGE_VERSION_SUFFIX", f, &[&[2]], format!("Package name {} should be suffixed with a correctly formed version, such as {}.", q(pkg), q(format!("{pkg}.v1"))));
            }
        }
        for &i in &f.public_dependency {
            if let Some(dep) = usize::try_from(i).ok().and_then(|i| f.dependency.get(i)) {
                self.emit("IMPORT_NO_PUBLIC", f, &[&[3, i]], format!("Import {} must not be public.", q(dep)));
            }
        }
        self.imports_used(f, pool);

        for (i, m) in f.message_type.iter().enumerate() {
            self.message(f, m, &[4, i as i32]);
        }
        for (i, e) in f.enum_type.iter().enumerate() {
            self.enumeration(f, e, &[5, i as i32]);
        }
        for (i, x) in f.extension.iter().enumerate() {
            self.field(f, x, &[7, i as i32]);
        }
        for (i, s) in f.service.iter().enumerate() {
            let path = [6, i as i32];
            let sname = s.name();
            let pascal = to_pascal(sname);
            if sname != pascal {
                self.emit("SERVICE_PASCAL_CASE", f, &[&sub(&path, &[1])], format!("Service name {} should be PascalCase, such as {}.", q(sname), q(pascal)));
            }
            if !sname.ends_with("Service") {
                self.emit("SERVICE_SUFFIX", f, &[&sub(&path, &[1])], format!("Service name {} should be suffixed with \"Service\".", q(sname)));
            }
            self.comment("COMMENT_SERVICE", "Service", sname, f, &path);
            for (j, m) in s.method.iter().enumerate() {
                let mpath = sub(&path, &[2, j as i32]);
                let mname = m.name();
                let pascal = to_pascal(mname);
                if mname != pascal {
                    self.emit("RPC_PASCAL_CASE", f, &[&sub(&mpath, &[1])], format!("RPC name {} should be PascalCase, such as {}.", q(mname), q(pascal)));
                }
                for (rule, ty, suffix, field, what) in [
                    ("RPC_REQUEST_STANDARD_NAME", m.input_type(), "Request", 2, "request"),
                    ("RPC_RESPONSE_STANDARD_NAME", m.output_type(), "Response", 3, "response"),
                ] {
                    let short = ty.rsplit('.').next().unwrap_or(ty);
                    let a = format!("{}{suffix}", to_pascal(mname));
                    let b = format!("{}{a}", to_pascal(sname));
                    if short != a && short != b {
                        self.emit(rule, f, &[&sub(&mpath, &[field])], format!("RPC {what} type {} should be named {} or {}.", q(short), q(a), q(b)));
                    }
                }
                self.comment("COMMENT_RPC", "RPC", mname, f, &mpath);
            }
        }
    }

    fn imports_used(&mut self, f: &FileDescriptorProto, pool: &DescriptorPool) {
        // Files whose types or extensions this file uses.
        let mut used: BTreeSet<String> = BTreeSet::new();
        let refer = |name: &str, used: &mut BTreeSet<String>| {
            if let Some(file) = self.types.get(name.trim_start_matches('.')) {
                used.insert(file.clone());
            }
        };
        let mut fields: Vec<&FieldDescriptorProto> = f.extension.iter().collect();
        let mut stack: Vec<&DescriptorProto> = f.message_type.iter().collect();
        while let Some(m) = stack.pop() {
            fields.extend(m.field.iter().chain(&m.extension));
            stack.extend(m.nested_type.iter());
        }
        for x in fields {
            refer(x.type_name(), &mut used);
            refer(x.extendee(), &mut used);
        }
        for s in &f.service {
            for m in &s.method {
                refer(m.input_type(), &mut used);
                refer(m.output_type(), &mut used);
            }
        }
        if let Some(fd) = pool.get_file_by_name(f.name()) {
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
                    used.insert(ext.parent_file().name().to_string());
                }
            }
        }
        for (i, dep) in f.dependency.iter().enumerate() {
            if f.public_dependency.contains(&(i as i32)) {
                continue;
            }
            if !self.reaches_public(dep, &used) {
                self.emit("IMPORT_USED", f, &[&[3, i as i32]], format!("Import {} is unused.", q(dep)));
            }
        }
    }

    /// Whether `dep`, or a file it publicly imports (transitively), is used.
    fn reaches_public(&self, dep: &str, used: &BTreeSet<String>) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![dep.to_string()];
        while let Some(d) = stack.pop() {
            if used.contains(&d) {
                return true;
            }
            if !seen.insert(d.clone()) {
                continue;
            }
            if let Some(file) = self.all.iter().find(|x| x.name() == d) {
                for &i in &file.public_dependency {
                    if let Some(p) = usize::try_from(i).ok().and_then(|i| file.dependency.get(i)) {
                        stack.push(p.clone());
                    }
                }
            }
        }
        false
    }

    // ------------------------------------------------------------- messages

    fn message(&mut self, f: &FileDescriptorProto, m: &DescriptorProto, path: &[i32]) {
        if m.options.as_ref().is_some_and(|o| o.map_entry()) {
            return;
        }
        let name = m.name();
        let pascal = to_pascal(name);
        if name != pascal {
            self.emit("MESSAGE_PASCAL_CASE", f, &[&sub(path, &[1])], format!("Message name {} should be PascalCase, such as {}.", q(name), q(pascal)));
        }
        self.comment("COMMENT_MESSAGE", "Message", name, f, path);
        for (i, x) in m.field.iter().enumerate() {
            if x.r#type() == Type::Group {
                continue;
            }
            self.field(f, x, &sub(path, &[2, i as i32]));
        }
        for (i, x) in m.extension.iter().enumerate() {
            self.field(f, x, &sub(path, &[6, i as i32]));
        }
        for (i, o) in m.oneof_decl.iter().enumerate() {
            let synthetic = m.field.iter().any(|x| x.oneof_index == Some(i as i32) && x.proto3_optional());
            if synthetic {
                continue;
            }
            let opath = sub(path, &[8, i as i32]);
            let expected = to_lower_snake(o.name());
            if o.name() != expected {
                self.emit("ONEOF_LOWER_SNAKE_CASE", f, &[&sub(&opath, &[1])], format!("Oneof name {} should be lower_snake_case, such as {}.", q(o.name()), q(expected)));
            }
            self.comment("COMMENT_ONEOF", "Oneof", o.name(), f, &opath);
        }
        for (i, n) in m.nested_type.iter().enumerate() {
            self.message(f, n, &sub(path, &[3, i as i32]));
        }
        for (i, e) in m.enum_type.iter().enumerate() {
            self.enumeration(f, e, &sub(path, &[4, i as i32]));
        }
    }

    fn field(&mut self, f: &FileDescriptorProto, x: &FieldDescriptorProto, path: &[i32]) {
        let name = x.name();
        let expected = to_lower_snake(name);
        if name != expected {
            self.emit("FIELD_LOWER_SNAKE_CASE", f, &[&sub(path, &[1])], format!("Field name {} should be lower_snake_case, such as {}.", q(name), q(expected)));
        }
        if x.label() == Label::Required {
            self.emit("FIELD_NOT_REQUIRED", f, &[&sub(path, &[1])], format!("Field named {} should not be required.", q(name)));
        }
        self.comment("COMMENT_FIELD", "Field", name, f, path);
    }

    // ---------------------------------------------------------------- enums

    fn enumeration(&mut self, f: &FileDescriptorProto, e: &EnumDescriptorProto, path: &[i32]) {
        let name = e.name();
        let pascal = to_pascal(name);
        if name != pascal {
            self.emit("ENUM_PASCAL_CASE", f, &[&sub(path, &[1])], format!("Enum name {} should be PascalCase, such as {}.", q(name), q(pascal)));
        }
        if e.options.as_ref().is_some_and(|o| o.allow_alias()) {
            self.emit("ENUM_NO_ALLOW_ALIAS", f, &[&sub(path, &[3, 2]), path], format!("Enum option \"allow_alias\" on enum {} must be false.", q(name)));
        }
        if let Some(first) = e.value.first()
            && first.number() != 0
        {
            self.emit("ENUM_FIRST_VALUE_ZERO", f, &[&sub(path, &[2, 0, 2])], format!("First enum value {} should have a numeric value of 0", q(first.name())));
        }
        self.comment("COMMENT_ENUM", "Enum", name, f, path);
        let prefix = format!("{}_", to_upper_snake(name));
        for (i, v) in e.value.iter().enumerate() {
            let vpath = sub(path, &[2, i as i32]);
            let vname = v.name();
            if !vname.starts_with(&prefix) {
                self.emit("ENUM_VALUE_PREFIX", f, &[&sub(&vpath, &[1])], format!("Enum value name {} should be prefixed with {}.", q(vname), q(&prefix)));
            }
            let upper = to_upper_snake(vname);
            if vname != upper {
                self.emit("ENUM_VALUE_UPPER_SNAKE_CASE", f, &[&sub(&vpath, &[1])], format!("Enum value name {} should be UPPER_SNAKE_CASE, such as {}.", q(vname), q(upper)));
            }
            if v.number() == 0 && !vname.ends_with("_UNSPECIFIED") {
                self.emit("ENUM_ZERO_VALUE_SUFFIX", f, &[&sub(&vpath, &[1])], format!("Enum zero value name {} should be suffixed with \"_UNSPECIFIED\".", q(vname)));
            }
            self.comment("COMMENT_ENUM_VALUE", "Enum value", vname, f, &vpath);
        }
    }

    // ----------------------------------------------------- across the files

    fn layout(&mut self, files: &[&FileDescriptorProto]) {
        let dir_of = |f: &FileDescriptorProto| f.name().rsplit_once('/').map_or(".".to_string(), |(d, _)| d.to_string());
        let mut by_dir: BTreeMap<String, Vec<&FileDescriptorProto>> = BTreeMap::new();
        let mut by_pkg: BTreeMap<String, Vec<&FileDescriptorProto>> = BTreeMap::new();
        for f in files {
            by_dir.entry(dir_of(f)).or_default().push(f);
            by_pkg.entry(f.package().to_string()).or_default().push(f);
        }
        for (dir, group) in &by_dir {
            let pkgs: BTreeSet<&str> = group.iter().map(|f| f.package()).collect();
            if pkgs.len() > 1 {
                let named: Vec<&str> = pkgs.iter().copied().filter(|p| !p.is_empty()).collect();
                let prefix = match (pkgs.contains(""), named.len()) {
                    (true, 1) => format!("Package {} and file with no package", q(named.join(","))),
                    (true, _) => format!("Multiple packages {} and file with no package", q(named.join(","))),
                    (false, _) => format!("Multiple packages {}", q(named.join(","))),
                };
                for f in group {
                    self.emit("DIRECTORY_SAME_PACKAGE", f, &[&[2]], format!("{prefix} detected within directory {}.", q(dir)));
                }
            }
        }
        type Get = fn(&FileDescriptorProto) -> String;
        let same: [(&'static str, &str, i32, Get); 7] = [
            ("PACKAGE_SAME_CSHARP_NAMESPACE", "csharp_namespace", 37, |f| f.options.as_ref().map(|o| o.csharp_namespace().to_string()).unwrap_or_default()),
            ("PACKAGE_SAME_GO_PACKAGE", "go_package", 11, |f| f.options.as_ref().map(|o| o.go_package().to_string()).unwrap_or_default()),
            ("PACKAGE_SAME_JAVA_MULTIPLE_FILES", "java_multiple_files", 10, |f| {
                f.options.as_ref().and_then(|o: &FileOptions| o.java_multiple_files).map(|b| b.to_string()).unwrap_or_default()
            }),
            ("PACKAGE_SAME_JAVA_PACKAGE", "java_package", 1, |f| f.options.as_ref().map(|o| o.java_package().to_string()).unwrap_or_default()),
            ("PACKAGE_SAME_PHP_NAMESPACE", "php_namespace", 41, |f| f.options.as_ref().map(|o| o.php_namespace().to_string()).unwrap_or_default()),
            ("PACKAGE_SAME_RUBY_PACKAGE", "ruby_package", 45, |f| f.options.as_ref().map(|o| o.ruby_package().to_string()).unwrap_or_default()),
            ("PACKAGE_SAME_SWIFT_PREFIX", "swift_prefix", 39, |f| f.options.as_ref().map(|o| o.swift_prefix().to_string()).unwrap_or_default()),
        ];
        for (pkg, group) in &by_pkg {
            let dirs: BTreeSet<String> = group.iter().map(|f| dir_of(f)).collect();
            if dirs.len() > 1 {
                let list: Vec<&str> = dirs.iter().map(String::as_str).collect();
                for f in group {
                    self.emit("PACKAGE_SAME_DIRECTORY", f, &[&[2]], format!("Multiple directories {} contain files with package {}.", q(list.join(",")), q(pkg)));
                }
            }
            for (rule, name, number, get) in same {
                let values: BTreeSet<String> = group.iter().map(|f| get(f)).collect();
                if values.len() > 1 {
                    let none = values.contains("");
                    let set: Vec<&str> = values.iter().map(String::as_str).filter(|v| !v.is_empty()).collect();
                    let message = if none {
                        format!("Files in package {} have both values {} and no value for option {} and all values must be equal.", q(pkg), q(set.join(",")), q(name))
                    } else {
                        format!("Files in package {} have multiple values {} for option {} and all values must be equal.", q(pkg), q(set.join(",")), q(name))
                    };
                    for f in group {
                        self.emit(rule, f, &[&[8, number]], message.clone());
                    }
                }
            }
        }
    }

    fn import_cycles(&mut self, files: &[&FileDescriptorProto]) {
        // Package -> imported package -> the imports that make the edge.
        let mut graph: ImportGraph = BTreeMap::new();
        let pkg_of: BTreeMap<&str, &str> = self.all.iter().map(|f| (f.name(), f.package())).collect();
        for f in self.all {
            for (i, dep) in f.dependency.iter().enumerate() {
                if let Some(&dp) = pkg_of.get(dep.as_str())
                    && !dp.is_empty()
                    && dp != f.package()
                    && !f.package().is_empty()
                {
                    graph.entry(f.package().to_string()).or_default().entry(dp.to_string()).or_default().push((f.name().to_string(), i));
                }
            }
        }
        let own: BTreeSet<&str> = files.iter().map(|f| f.name()).collect();
        let mut hits = Vec::new();
        for (pkg, edges) in &graph {
            for (next, imports) in edges {
                let mut visiting = vec![pkg.clone()];
                if let Some(cycle) = find_cycle(next, &graph, &mut visiting) {
                    for (file, i) in imports {
                        if own.contains(file.as_str()) {
                            hits.push((file.clone(), *i, cycle.join(" -> ")));
                        }
                    }
                }
            }
        }
        for (file, i, cycle) in hits {
            if let Some(f) = self.all.iter().find(|f| f.name() == file) {
                self.emit("PACKAGE_NO_IMPORT_CYCLE", f, &[&[3, i as i32]], format!("Package import cycle: {cycle}"));
            }
        }
    }

    fn request_response_unique(&mut self, files: &[&FileDescriptorProto]) {
        // Type name -> the RPCs using it: (file, source path, service.rpc).
        type Uses<'f> = BTreeMap<String, Vec<(&'f FileDescriptorProto, Vec<i32>, String)>>;
        let mut uses: Uses<'_> = BTreeMap::new();
        for f in files {
            for (i, s) in f.service.iter().enumerate() {
                for (j, m) in s.method.iter().enumerate() {
                    let path = vec![6, i as i32, 2, j as i32];
                    let (input, output) = (m.input_type().trim_start_matches('.'), m.output_type().trim_start_matches('.'));
                    if input == output {
                        self.emit("RPC_REQUEST_RESPONSE_UNIQUE", f, &[&path], format!("RPC {} has the same type {} for the request and response.", q(m.name()), q(input)));
                    }
                    let full = format!("{}.{}", s.name(), m.name());
                    for t in [input, output] {
                        let entry = uses.entry(t.to_string()).or_default();
                        if !entry.iter().any(|(_, _, n)| *n == full) {
                            entry.push((f, path.clone(), full.clone()));
                        }
                    }
                }
            }
        }
        for (t, methods) in uses {
            if methods.len() > 1 {
                for (f, path, _) in methods {
                    self.emit("RPC_REQUEST_RESPONSE_UNIQUE", f, &[&path], format!("{} is used as the request or response type for multiple RPCs.", q(&t)));
                }
            }
        }
    }
}

/// Whether the element at `path` (or the element whose name or option
/// `path` is) carries a `buf:lint:ignore RULE` leading comment, buf's way of
/// waiving one rule for one element.
fn ignored(file: &FileDescriptorProto, path: &[i32], rule: &str) -> bool {
    (path.len().saturating_sub(2)..=path.len()).filter(|&n| n > 0).any(|n| {
        locate(file, &path[..n]).leading_comments.lines().any(|line| {
            line.trim().strip_prefix("buf:lint:ignore").is_some_and(|rest| rest.split_whitespace().any(|id| id == rule))
        })
    })
}

/// Package -> imported package -> the (file, dependency index) imports making the edge.
type ImportGraph = BTreeMap<String, BTreeMap<String, Vec<(String, usize)>>>;

fn find_cycle(pkg: &str, graph: &ImportGraph, visiting: &mut Vec<String>) -> Option<Vec<String>> {
    visiting.push(pkg.to_string());
    if visiting[..visiting.len() - 1].iter().any(|p| p == pkg) {
        let result = (visiting.first().map(String::as_str) == Some(pkg)).then(|| visiting.clone());
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

fn is_delimiter(c: char) -> bool {
    matches!(c, '.' | '-' | '_' | ' ' | '\t' | '\n' | '\r')
}

/// buf's `ToLowerSnakeCase`: a new word starts at an upper-case letter
/// that follows a lower-case one or starts a lower-case run; digits do
/// not start words.
pub fn to_lower_snake(s: &str) -> String {
    snake(s).to_lowercase()
}

/// buf's `ToUpperSnakeCase`.
pub fn to_upper_snake(s: &str) -> String {
    snake(s).to_uppercase()
}

fn snake(s: &str) -> String {
    let s: Vec<char> = s.trim_matches(is_delimiter).chars().collect();
    let mut out = String::new();
    for (i, &raw) in s.iter().enumerate() {
        let c = if is_delimiter(raw) { '_' } else { raw };
        if i == 0 {
            out.push(c);
            continue;
        }
        let last_underscore = out.ends_with('_');
        let next = s.get(i + 1).copied();
        let new_word = c.is_uppercase()
            && !last_underscore
            && (next.is_some_and(|n| !n.is_uppercase() && !n.is_ascii_digit() && !is_delimiter(n)) || s[i - 1].is_lowercase());
        if new_word {
            out.push('_');
            out.push(c);
        } else if !(c == '_' && last_underscore) {
            out.push(c);
        }
    }
    out
}

/// buf's `ToPascalCase`: delimiters dropped, the first letter and every
/// letter after a delimiter upper-cased, upper-case letters kept.
pub fn to_pascal(s: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in s.trim().chars() {
        if !is_delimiter(c) {
            if prev.is_none() || prev.is_some_and(is_delimiter) || c.is_uppercase() {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
        }
        prev = Some(c);
    }
    out
}

/// Whether the package's last component is a version buf accepts: `v1`,
/// `v1alpha`, `v1beta2`, `v1p1alpha1`, `v2test`, ... (major version at
/// least 1).
pub fn has_version_suffix(pkg: &str) -> bool {
    // A version alone (`package v1;`) is not a versioned package.
    let Some((_, last)) = pkg.rsplit_once('.') else { return false };
    let Some(rest) = last.strip_prefix('v') else { return false };
    let (major, rest) = split_number(rest);
    if major.is_none_or(|m| m < 1) {
        return false;
    }
    if rest.is_empty() || rest.starts_with("test") {
        return true;
    }
    let stability = |r: &str| -> bool {
        let r = r.strip_prefix("alpha").or_else(|| r.strip_prefix("beta"));
        match r {
            None => false,
            Some("") => true,
            Some(n) => matches!(split_number(n), (Some(v), "") if v >= 1),
        }
    };
    if let Some(p) = rest.strip_prefix('p') {
        let (minor, r) = split_number(p);
        return minor.is_some_and(|m| m >= 1) && stability(r);
    }
    stability(rest)
}

fn split_number(s: &str) -> (Option<u64>, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 || (end > 1 && s.starts_with('0')) {
        return (None, s);
    }
    (s[..end].parse().ok(), &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions_match_buf() {
        assert_eq!(to_lower_snake("fooBar"), "foo_bar");
        assert_eq!(to_lower_snake("FooBar"), "foo_bar");
        assert_eq!(to_lower_snake("HTTPServer"), "http_server");
        assert_eq!(to_lower_snake("foo_bar2"), "foo_bar2");
        assert_eq!(to_lower_snake("max_input_bytes"), "max_input_bytes");
        assert_eq!(to_upper_snake("JobState"), "JOB_STATE");
        assert_eq!(to_upper_snake("GrpcCode"), "GRPC_CODE");
        assert_eq!(to_pascal("job_state"), "JobState");
        assert_eq!(to_pascal("JobState"), "JobState");
        assert_eq!(to_pascal("getJob"), "GetJob");
    }

    #[test]
    fn version_suffixes() {
        for ok in ["dome.gateway.v1", "a.v2", "a.v1alpha", "a.v1beta2", "a.v1p1alpha1", "a.v1test", "a.v10"] {
            assert!(has_version_suffix(ok), "{ok}");
        }
        for bad in ["dome.gateway", "v1", "a.v0", "a.v1gamma", "a.V1", "a.v01", "a.v1alpha0", "a.version1"] {
            assert!(!has_version_suffix(bad), "{bad}");
        }
    }
}
