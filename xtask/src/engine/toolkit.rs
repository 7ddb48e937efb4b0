//! The toolkit the lint and breaking rules share: descriptor field
//! numbers by name (for source paths), the file options with their
//! numbers, one helper that turns candidate source paths into a position,
//! and buf's case converters and version-suffix test.

use prost_types::{DescriptorProto, FileDescriptorProto, FileOptions};

use crate::descriptors::{Span, locate};

/// Field numbers of `google/protobuf/descriptor.proto`, the steps of a
/// source path (`[MESSAGE, 0, MESSAGE_FIELD, 2]` is the third field of the
/// first message).
pub mod num {
    /// `FileDescriptorProto.package`.
    pub const FILE_PACKAGE: i32 = 2;
    /// `FileDescriptorProto.dependency`.
    pub const FILE_DEPENDENCY: i32 = 3;
    /// `FileDescriptorProto.message_type`.
    pub const FILE_MESSAGE: i32 = 4;
    /// `FileDescriptorProto.enum_type`.
    pub const FILE_ENUM: i32 = 5;
    /// `FileDescriptorProto.service`.
    pub const FILE_SERVICE: i32 = 6;
    /// `FileDescriptorProto.extension`.
    pub const FILE_EXTENSION: i32 = 7;
    /// `FileDescriptorProto.options`.
    pub const FILE_OPTIONS: i32 = 8;
    /// `FileDescriptorProto.syntax`.
    pub const FILE_SYNTAX: i32 = 12;
    /// `MessageOptions.features`.
    pub const MESSAGE_OPTION_FEATURES: i32 = 12;
    /// `FieldOptions.features`.
    pub const FIELD_OPTION_FEATURES: i32 = 21;
    /// `EnumOptions.features`.
    pub const ENUM_OPTION_FEATURES: i32 = 7;
    /// `FeatureSet.enum_type`.
    pub const FEATURE_ENUM_TYPE: i32 = 2;
    /// `FeatureSet.utf8_validation`.
    pub const FEATURE_UTF8_VALIDATION: i32 = 4;
    /// `FeatureSet.json_format`.
    pub const FEATURE_JSON_FORMAT: i32 = 6;
    /// `FileOptions.java_string_check_utf8`.
    pub const FILE_OPTION_JAVA_STRING_CHECK_UTF8: i32 = 27;
    /// `FileDescriptorProto.edition`.
    pub const FILE_EDITION: i32 = 14;
    /// `DescriptorProto.name` (also of fields, enums, values, services, RPCs, oneofs).
    pub const NAME: i32 = 1;
    /// `DescriptorProto.field`.
    pub const MESSAGE_FIELD: i32 = 2;
    /// `DescriptorProto.nested_type`.
    pub const MESSAGE_NESTED: i32 = 3;
    /// `DescriptorProto.enum_type`.
    pub const MESSAGE_ENUM: i32 = 4;
    /// `DescriptorProto.extension_range`.
    pub const MESSAGE_EXTENSION_RANGE: i32 = 5;
    /// `DescriptorProto.extension`.
    pub const MESSAGE_EXTENSION: i32 = 6;
    /// `DescriptorProto.options`.
    pub const MESSAGE_OPTIONS: i32 = 7;
    /// `DescriptorProto.oneof_decl`.
    pub const MESSAGE_ONEOF: i32 = 8;
    /// `DescriptorProto.reserved_range`.
    pub const MESSAGE_RESERVED_RANGE: i32 = 9;
    /// `DescriptorProto.reserved_name`.
    pub const MESSAGE_RESERVED_NAME: i32 = 10;
    /// `MessageOptions.no_standard_descriptor_accessor`.
    pub const MESSAGE_OPTION_NO_STANDARD_DESCRIPTOR_ACCESSOR: i32 = 2;
    /// `FieldDescriptorProto.label`.
    pub const FIELD_LABEL: i32 = 4;
    /// `FieldDescriptorProto.type`.
    pub const FIELD_TYPE: i32 = 5;
    /// `FieldDescriptorProto.type_name`.
    pub const FIELD_TYPE_NAME: i32 = 6;
    /// `FieldDescriptorProto.default_value`.
    pub const FIELD_DEFAULT: i32 = 7;
    /// `FieldDescriptorProto.options`.
    pub const FIELD_OPTIONS: i32 = 8;
    /// `FieldDescriptorProto.json_name`.
    pub const FIELD_JSON_NAME: i32 = 10;
    /// `FieldOptions.ctype`.
    pub const FIELD_OPTION_CTYPE: i32 = 1;
    /// `FieldOptions.jstype`.
    pub const FIELD_OPTION_JSTYPE: i32 = 6;
    /// `EnumDescriptorProto.value`.
    pub const ENUM_VALUE: i32 = 2;
    /// `EnumDescriptorProto.options`.
    pub const ENUM_OPTIONS: i32 = 3;
    /// `EnumDescriptorProto.reserved_range`.
    pub const ENUM_RESERVED_RANGE: i32 = 4;
    /// `EnumDescriptorProto.reserved_name`.
    pub const ENUM_RESERVED_NAME: i32 = 5;
    /// `EnumOptions.allow_alias`.
    pub const ENUM_OPTION_ALLOW_ALIAS: i32 = 2;
    /// `EnumValueDescriptorProto.number`.
    pub const ENUM_VALUE_NUMBER: i32 = 2;
    /// `ServiceDescriptorProto.method`.
    pub const SERVICE_METHOD: i32 = 2;
    /// `MethodDescriptorProto.input_type`.
    pub const METHOD_INPUT: i32 = 2;
    /// `MethodDescriptorProto.output_type`.
    pub const METHOD_OUTPUT: i32 = 3;
    /// `MethodDescriptorProto.options`.
    pub const METHOD_OPTIONS: i32 = 4;
    /// `MethodOptions.idempotency_level`.
    pub const METHOD_OPTION_IDEMPOTENCY_LEVEL: i32 = 34;
}

/// A file option the rules compare: its name, field number in
/// `FileOptions`, value when set, and value when unset.
#[derive(Debug, Clone, Copy)]
pub struct FileOption {
    /// The option's name.
    pub name: &'static str,
    /// Its field number in `FileOptions`.
    pub number: i32,
    /// Its value as buf prints it, `None` when unset.
    pub get: fn(&FileOptions) -> Option<String>,
    /// The value an unset option has.
    pub default: &'static str,
}

impl FileOption {
    /// The option's value in `file`, `None` when unset.
    pub fn value(&self, file: &FileDescriptorProto) -> Option<String> {
        file.options.as_ref().and_then(|o| (self.get)(o))
    }

    /// The option's value in `file`, its default when unset.
    pub fn effective(&self, file: &FileDescriptorProto) -> String {
        self.value(file).unwrap_or_else(|| self.default.to_string())
    }
}

macro_rules! file_options {
    ($($name:ident = $number:literal, $default:literal, $get:expr;)*) => {
        /// Every file option a rule compares, in buf's order.
        pub const FILE_OPTIONS: &[FileOption] = &[$(FileOption {
            name: stringify!($name),
            number: $number,
            get: $get,
            default: $default,
        }),*];
    };
}

file_options! {
    cc_enable_arenas = 31, "true", |o| o.cc_enable_arenas.map(|v| v.to_string());
    cc_generic_services = 16, "false", |o| o.cc_generic_services.map(|v| v.to_string());
    csharp_namespace = 37, "", |o| o.csharp_namespace.clone();
    go_package = 11, "", |o| o.go_package.clone();
    java_generic_services = 17, "false", |o| o.java_generic_services.map(|v| v.to_string());
    java_multiple_files = 10, "false", |o| o.java_multiple_files.map(|v| v.to_string());
    java_outer_classname = 8, "", |o| o.java_outer_classname.clone();
    java_package = 1, "", |o| o.java_package.clone();
    objc_class_prefix = 36, "", |o| o.objc_class_prefix.clone();
    optimize_for = 9, "SPEED", |o| o.optimize_for.map(|_| o.optimize_for().as_str_name().to_string());
    php_class_prefix = 40, "", |o| o.php_class_prefix.clone();
    php_metadata_namespace = 44, "", |o| o.php_metadata_namespace.clone();
    php_namespace = 41, "", |o| o.php_namespace.clone();
    py_generic_services = 18, "false", |o| o.py_generic_services.map(|v| v.to_string());
    ruby_package = 45, "", |o| o.ruby_package.clone();
    swift_prefix = 39, "", |o| o.swift_prefix.clone();
}

/// The file option named `name`.
pub fn file_option(name: &str) -> &'static FileOption {
    FILE_OPTIONS.iter().find(|o| o.name == name).unwrap_or_else(|| unreachable!("`{name}` is in FILE_OPTIONS"))
}

/// The position of the first of `paths` that `file`'s source info
/// locates; unknown (0) when none does, which a finding shows as 1:1.
pub fn position(file: &FileDescriptorProto, paths: &[&[i32]]) -> Span {
    paths.iter().map(|p| locate(file, p)).find(|l| l.line > 0).map(|l| l.span()).unwrap_or_default()
}

/// The message at the source path `path` of `file` (`[MESSAGE, i]`, then
/// `[MESSAGE_NESTED, j]` steps).
pub fn message_at<'f>(file: &'f FileDescriptorProto, path: &[i32]) -> Option<&'f DescriptorProto> {
    let (&[num::FILE_MESSAGE, first], mut rest) = (path.first_chunk::<2>()?, &path[2..]) else { return None };
    let mut m = file.message_type.get(usize::try_from(first).ok()?)?;
    while let [num::MESSAGE_NESTED, i, tail @ ..] = rest {
        m = m.nested_type.get(usize::try_from(*i).ok()?)?;
        rest = tail;
    }
    rest.is_empty().then_some(m)
}

/// `path` followed by `tail`.
pub fn sub(path: &[i32], tail: &[i32]) -> Vec<i32> {
    [path, tail].concat()
}

/// A name in double quotes, escaped as buf's `%q` does.
pub fn q(s: impl AsRef<str>) -> String {
    format!("{:?}", s.as_ref())
}

/// `pkg.name`, or `name` in the root package.
pub fn full_name(pkg: &str, name: &str) -> String {
    if pkg.is_empty() { name.to_string() } else { format!("{pkg}.{name}") }
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
            && (next.is_some_and(|n| !n.is_uppercase() && !n.is_ascii_digit() && !is_delimiter(n))
                || s[i - 1].is_lowercase());
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
