//! The breaking rules: buf's ids, the categories buf puts them in, and why
//! a violation breaks clients.
//!
//! Categories go from strictest to loosest as buf's do: `FILE` (generated
//! code keeps compiling, element by element and file by file), `PACKAGE`
//! (generated code keeps compiling when elements move between files of a
//! package), `WIRE_JSON` (encoded binary and JSON stay readable both ways)
//! and `WIRE` (encoded binary stays readable both ways).

use std::fmt;

/// A rule category, as buf names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// Source compatibility of generated code, per file.
    File,
    /// Source compatibility of generated code, per package.
    Package,
    /// Binary and JSON encoding compatibility.
    WireJson,
    /// Binary encoding compatibility.
    Wire,
}

impl Category {
    /// Every category, strictest first.
    pub const ALL: [Category; 4] = [Category::File, Category::Package, Category::WireJson, Category::Wire];

    /// The category's name as buf writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::File => "FILE",
            Category::Package => "PACKAGE",
            Category::WireJson => "WIRE_JSON",
            Category::Wire => "WIRE",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = String;

    fn from_str(s: &str) -> Result<Category, String> {
        Category::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| format!("unknown category `{s}`"))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One breaking rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// buf's id for the same check.
    pub id: &'static str,
    /// The categories that include it.
    pub categories: &'static [&'static str],
    /// Which clients a violation breaks, and how; appended to every message.
    pub why: &'static str,
}

const F: &[&str] = &["FILE"];
const FP: &[&str] = &["FILE", "PACKAGE"];
const FPJ: &[&str] = &["FILE", "PACKAGE", "WIRE_JSON"];
const ALL: &[&str] = &["FILE", "PACKAGE", "WIRE_JSON", "WIRE"];
const P: &[&str] = &["PACKAGE"];
const J: &[&str] = &["WIRE_JSON"];
const JW: &[&str] = &["WIRE_JSON", "WIRE"];
const W: &[&str] = &["WIRE"];

const GEN_ELEMENT: &str = "Generated code that names it no longer compiles.";
const GEN_OPTION: &str =
    "Generated code changes its names or layout, so code built on it no longer compiles or behaves differently.";
const WIRE_TYPE: &str = "Generated code changes the field's type, so client code no longer compiles; unless both types share a wire encoding, old and new peers also misread its bytes.";

macro_rules! rules {
    ($($name:ident = $id:literal, $cats:expr, $why:expr;)*) => {
        $(
            #[doc = concat!("`", $id, "`.")]
            pub const $name: Rule = Rule { id: $id, categories: $cats, why: $why };
        )*
        /// Every rule, in buf's order of listing.
        pub const ALL_RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    ENUM_NO_DELETE = "ENUM_NO_DELETE", F, GEN_ELEMENT;
    EXTENSION_NO_DELETE = "EXTENSION_NO_DELETE", F, GEN_ELEMENT;
    FILE_NO_DELETE = "FILE_NO_DELETE", F, "Generated code for the file disappears, and code that imports it no longer compiles.";
    MESSAGE_NO_DELETE = "MESSAGE_NO_DELETE", F, GEN_ELEMENT;
    SERVICE_NO_DELETE = "SERVICE_NO_DELETE", F, "Generated clients and servers that name it no longer compile, and calls to it fail with UNIMPLEMENTED.";
    ENUM_SAME_TYPE = "ENUM_SAME_TYPE", FP, "Open and closed enums treat unknown values differently: closed enums move them to unknown fields, so readers lose them.";
    ENUM_VALUE_NO_DELETE = "ENUM_VALUE_NO_DELETE", FP, "Generated code that names the value no longer compiles, and readers see the number as unknown.";
    EXTENSION_MESSAGE_NO_DELETE = "EXTENSION_MESSAGE_NO_DELETE", FP, "Extensions declared in the removed range no longer compile.";
    FIELD_NO_DELETE = "FIELD_NO_DELETE", FP, "Generated code that reads or writes the field no longer compiles, and old writers' values become unknown fields.";
    FIELD_SAME_CARDINALITY = "FIELD_SAME_CARDINALITY", FP, "Generated accessors change shape (presence, repeated, map), so client code no longer compiles.";
    FIELD_SAME_CPP_STRING_TYPE = "FIELD_SAME_CPP_STRING_TYPE", FP, "Generated C++ accessors change type, so C++ clients no longer compile.";
    FIELD_SAME_JAVA_UTF8_VALIDATION = "FIELD_SAME_JAVA_UTF8_VALIDATION", FP, "Java readers start or stop rejecting invalid UTF-8, so messages accepted before may now fail to parse.";
    FIELD_SAME_JSTYPE = "FIELD_SAME_JSTYPE", FP, "Generated JavaScript changes the field's type between number and string, so JS clients break.";
    FIELD_SAME_TYPE = "FIELD_SAME_TYPE", FP, WIRE_TYPE;
    FIELD_SAME_UTF8_VALIDATION = "FIELD_SAME_UTF8_VALIDATION", FP, "Readers start or stop rejecting invalid UTF-8, so messages accepted before may now fail to parse.";
    FILE_SAME_CC_ENABLE_ARENAS = "FILE_SAME_CC_ENABLE_ARENAS", FP, GEN_OPTION;
    FILE_SAME_CC_GENERIC_SERVICES = "FILE_SAME_CC_GENERIC_SERVICES", FP, GEN_OPTION;
    FILE_SAME_CSHARP_NAMESPACE = "FILE_SAME_CSHARP_NAMESPACE", FP, GEN_OPTION;
    FILE_SAME_GO_PACKAGE = "FILE_SAME_GO_PACKAGE", FP, GEN_OPTION;
    FILE_SAME_JAVA_GENERIC_SERVICES = "FILE_SAME_JAVA_GENERIC_SERVICES", FP, GEN_OPTION;
    FILE_SAME_JAVA_MULTIPLE_FILES = "FILE_SAME_JAVA_MULTIPLE_FILES", FP, GEN_OPTION;
    FILE_SAME_JAVA_OUTER_CLASSNAME = "FILE_SAME_JAVA_OUTER_CLASSNAME", FP, GEN_OPTION;
    FILE_SAME_JAVA_PACKAGE = "FILE_SAME_JAVA_PACKAGE", FP, GEN_OPTION;
    FILE_SAME_OBJC_CLASS_PREFIX = "FILE_SAME_OBJC_CLASS_PREFIX", FP, GEN_OPTION;
    FILE_SAME_OPTIMIZE_FOR = "FILE_SAME_OPTIMIZE_FOR", FP, GEN_OPTION;
    FILE_SAME_PHP_CLASS_PREFIX = "FILE_SAME_PHP_CLASS_PREFIX", FP, GEN_OPTION;
    FILE_SAME_PHP_METADATA_NAMESPACE = "FILE_SAME_PHP_METADATA_NAMESPACE", FP, GEN_OPTION;
    FILE_SAME_PHP_NAMESPACE = "FILE_SAME_PHP_NAMESPACE", FP, GEN_OPTION;
    FILE_SAME_PY_GENERIC_SERVICES = "FILE_SAME_PY_GENERIC_SERVICES", FP, GEN_OPTION;
    FILE_SAME_RUBY_PACKAGE = "FILE_SAME_RUBY_PACKAGE", FP, GEN_OPTION;
    FILE_SAME_SWIFT_PREFIX = "FILE_SAME_SWIFT_PREFIX", FP, GEN_OPTION;
    FILE_SAME_SYNTAX = "FILE_SAME_SYNTAX", FP, "Presence, enum openness, UTF-8 validation and JSON support change with the syntax, for generated code and readers alike.";
    MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR = "MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR", FP, "Generated code loses its descriptor accessor, so code that calls it no longer compiles.";
    ONEOF_NO_DELETE = "ONEOF_NO_DELETE", FP, "Generated code for the oneof (its case enum and accessors) disappears, so client code no longer compiles.";
    RPC_NO_DELETE = "RPC_NO_DELETE", FP, "Generated clients that call it no longer compile, and old clients get UNIMPLEMENTED.";
    ENUM_SAME_JSON_FORMAT = "ENUM_SAME_JSON_FORMAT", FPJ, "JSON support for the enum is reduced, so JSON clients may fail to read or write it.";
    ENUM_VALUE_SAME_NAME = "ENUM_VALUE_SAME_NAME", FPJ, "JSON carries enum values by name, so JSON readers reject the old name; generated code that names it no longer compiles.";
    FIELD_SAME_JSON_NAME = "FIELD_SAME_JSON_NAME", FPJ, "JSON carries fields by json_name, so JSON peers silently drop the field.";
    FIELD_SAME_NAME = "FIELD_SAME_NAME", FPJ, "JSON readers accept the proto name too, so old JSON stops parsing; generated code that names it no longer compiles.";
    MESSAGE_SAME_JSON_FORMAT = "MESSAGE_SAME_JSON_FORMAT", FPJ, "JSON support for the message is reduced, so JSON clients may fail to read or write it.";
    FIELD_SAME_DEFAULT = "FIELD_SAME_DEFAULT", ALL, "Readers of an unset field see a different value depending on which version they run.";
    FIELD_SAME_ONEOF = "FIELD_SAME_ONEOF", ALL, "Setting a member of a oneof clears the others, so old and new peers disagree about which fields are set.";
    FILE_SAME_PACKAGE = "FILE_SAME_PACKAGE", ALL, "Every type and RPC of the file changes its full name: wire method paths, Any type URLs and generated code all break.";
    MESSAGE_SAME_REQUIRED_FIELDS = "MESSAGE_SAME_REQUIRED_FIELDS", ALL, "Required fields must always be sent, so a peer that does not know about the change fails to parse.";
    RESERVED_ENUM_NO_DELETE = "RESERVED_ENUM_NO_DELETE", ALL, "A freed number or name can be reused with another meaning, which old peers would misread.";
    RESERVED_MESSAGE_NO_DELETE = "RESERVED_MESSAGE_NO_DELETE", ALL, "A freed number or name can be reused with another meaning, which old peers would misread.";
    RPC_SAME_CLIENT_STREAMING = "RPC_SAME_CLIENT_STREAMING", ALL, "The call's shape on the wire changes, so every existing client and server of the RPC fails.";
    RPC_SAME_IDEMPOTENCY_LEVEL = "RPC_SAME_IDEMPOTENCY_LEVEL", ALL, "Clients choose HTTP verbs and retries by idempotency level, so existing calls may be rejected or retried unsafely.";
    RPC_SAME_REQUEST_TYPE = "RPC_SAME_REQUEST_TYPE", ALL, "Servers decode old clients' requests as another type (wire), and generated clients no longer compile.";
    RPC_SAME_RESPONSE_TYPE = "RPC_SAME_RESPONSE_TYPE", ALL, "Old clients decode responses as another type (wire), and generated clients no longer compile.";
    RPC_SAME_SERVER_STREAMING = "RPC_SAME_SERVER_STREAMING", ALL, "The call's shape on the wire changes, so every existing client and server of the RPC fails.";
    PACKAGE_ENUM_NO_DELETE = "PACKAGE_ENUM_NO_DELETE", P, GEN_ELEMENT;
    PACKAGE_EXTENSION_NO_DELETE = "PACKAGE_EXTENSION_NO_DELETE", P, GEN_ELEMENT;
    PACKAGE_MESSAGE_NO_DELETE = "PACKAGE_MESSAGE_NO_DELETE", P, GEN_ELEMENT;
    PACKAGE_NO_DELETE = "PACKAGE_NO_DELETE", P, "Every type and RPC of the package disappears for generated code and on the wire.";
    PACKAGE_SERVICE_NO_DELETE = "PACKAGE_SERVICE_NO_DELETE", P, "Generated clients that name it no longer compile, and calls to it fail with UNIMPLEMENTED.";
    ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED = "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED", J, "JSON carries enum values by name; reserve the name so it is never reused with another number.";
    FIELD_NO_DELETE_UNLESS_NAME_RESERVED = "FIELD_NO_DELETE_UNLESS_NAME_RESERVED", J, "JSON carries fields by name; reserve the name so it is never reused with another meaning.";
    FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY = "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY", J, "The binary or JSON encoding of the field changes shape, so old and new peers misread it.";
    FIELD_WIRE_JSON_COMPATIBLE_TYPE = "FIELD_WIRE_JSON_COMPATIBLE_TYPE", J, "The binary or JSON encoding of the field changes, so old and new peers misread it.";
    ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED = "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED", JW, "Reserve the number so it is never reused with another meaning that old peers would misread.";
    FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED = "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", JW, "Reserve the number so it is never reused with another type that old peers would misread.";
    FIELD_WIRE_COMPATIBLE_CARDINALITY = "FIELD_WIRE_COMPATIBLE_CARDINALITY", W, "The binary encoding of the field changes shape, so old and new peers misread it.";
    FIELD_WIRE_COMPATIBLE_TYPE = "FIELD_WIRE_COMPATIBLE_TYPE", W, "The binary encoding of the field changes, so old and new peers misread it.";
}

/// The rules of one category.
pub fn rules_in(category: Category) -> impl Iterator<Item = &'static Rule> {
    ALL_RULES.iter().filter(move |r| r.categories.contains(&category.as_str()))
}
