//! The breaking rules as a registry: each rule is buf's id, the
//! categories buf puts it in, why a violation breaks clients, and one
//! small check typed by the pair of elements it looks at (the two trees,
//! or a file, message, field, enum, service or RPC present on both
//! sides). The engine (`check`) pairs the elements once and hands each
//! pair to the rules that look at it.
//!
//! Categories go from strictest to loosest as buf's do: `FILE` (generated
//! code keeps compiling, element by element and file by file), `PACKAGE`
//! (generated code keeps compiling when elements move between files of a
//! package), `WIRE_JSON` (encoded binary and JSON stay readable both ways)
//! and `WIRE` (encoded binary stays readable both ways).

use std::fmt;

use prost_types::FileDescriptorProto;

use super::context::{Ctx, Out, Pair};
use super::model::{Enum, Field, Method, Msg, Service};
use super::{enums, fields, files, messages, services};

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

/// A rule's check, typed by the pair of elements it looks at.
#[derive(Clone, Copy)]
pub enum Check {
    /// The two trees as a whole (deletions of files, packages and of
    /// elements from them).
    Tree(for<'a> fn(&Ctx<'a>, &mut Out<'_>)),
    /// Each file present on both sides.
    File(for<'a> fn(&Ctx<'a>, &Pair<&'a FileDescriptorProto>, &mut Out<'_>)),
    /// Each message present on both sides.
    Message(for<'a> fn(&Ctx<'a>, &Pair<Msg<'a>>, &mut Out<'_>)),
    /// Each field (by number) or extension (by extendee and number) present
    /// on both sides.
    Field(for<'a> fn(&Ctx<'a>, &Pair<Field<'a>>, &mut Out<'_>)),
    /// Each enum present on both sides.
    Enum(for<'a> fn(&Ctx<'a>, &Pair<Enum<'a>>, &mut Out<'_>)),
    /// Each service present on both sides.
    Service(for<'a> fn(&Ctx<'a>, &Pair<Service<'a>>, &mut Out<'_>)),
    /// Each RPC present on both sides.
    Method(for<'a> fn(&Ctx<'a>, &Pair<Method<'a>>, &mut Out<'_>)),
}

/// One breaking rule.
#[derive(Clone, Copy)]
pub struct Rule {
    /// buf's id for the same check.
    pub id: &'static str,
    /// The categories that include it.
    pub categories: &'static [&'static str],
    /// Which clients a violation breaks, and how; printed after every
    /// message in text output.
    pub why: &'static str,
    /// The check.
    pub check: Check,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule").field("id", &self.id).field("categories", &self.categories).finish()
    }
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

macro_rules! registry {
    ($($id:literal, $cats:expr, $kind:ident($check:expr), $why:expr;)*) => {
        /// Every rule, in buf's order of listing.
        pub const ALL_RULES: &[Rule] = &[$(Rule { id: $id, categories: $cats, why: $why, check: Check::$kind($check) }),*];
    };
}

registry! {
    "ENUM_NO_DELETE", F, Tree(files::enum_no_delete), GEN_ELEMENT;
    "EXTENSION_NO_DELETE", F, Tree(files::extension_no_delete), GEN_ELEMENT;
    "FILE_NO_DELETE", F, Tree(files::file_no_delete), "Generated code for the file disappears, and code that imports it no longer compiles.";
    "MESSAGE_NO_DELETE", F, Tree(files::message_no_delete), GEN_ELEMENT;
    "SERVICE_NO_DELETE", F, Tree(files::service_no_delete), "Generated clients and servers that name it no longer compile, and calls to it fail with UNIMPLEMENTED.";
    "ENUM_SAME_TYPE", FP, Enum(enums::enum_same_type), "Open and closed enums treat unknown values differently: closed enums move them to unknown fields, so readers lose them.";
    "ENUM_VALUE_NO_DELETE", FP, Enum(enums::enum_value_no_delete), "Generated code that names the value no longer compiles, and readers see the number as unknown.";
    "EXTENSION_MESSAGE_NO_DELETE", FP, Message(messages::extension_message_no_delete), "Extensions declared in the removed range no longer compile.";
    "FIELD_NO_DELETE", FP, Message(messages::field_no_delete), "Generated code that reads or writes the field no longer compiles, and old writers' values become unknown fields.";
    "FIELD_SAME_CARDINALITY", FP, Field(fields::field_same_cardinality), "Generated accessors change shape (presence, repeated, map), so client code no longer compiles.";
    "FIELD_SAME_CPP_STRING_TYPE", FP, Field(fields::field_same_cpp_string_type), "Generated C++ accessors change type, so C++ clients no longer compile.";
    "FIELD_SAME_JAVA_UTF8_VALIDATION", FP, Field(fields::field_same_java_utf8_validation), "Java readers start or stop rejecting invalid UTF-8, so messages accepted before may now fail to parse.";
    "FIELD_SAME_JSTYPE", FP, Field(fields::field_same_jstype), "Generated JavaScript changes the field's type between number and string, so JS clients break.";
    "FIELD_SAME_TYPE", FP, Field(fields::field_same_type), WIRE_TYPE;
    "FIELD_SAME_UTF8_VALIDATION", FP, Field(fields::field_same_utf8_validation), "Readers start or stop rejecting invalid UTF-8, so messages accepted before may now fail to parse.";
    "FILE_SAME_CC_ENABLE_ARENAS", FP, File(|c, p, o| files::file_same_option(c, p, o, "cc_enable_arenas")), GEN_OPTION;
    "FILE_SAME_CC_GENERIC_SERVICES", FP, File(|c, p, o| files::file_same_option(c, p, o, "cc_generic_services")), GEN_OPTION;
    "FILE_SAME_CSHARP_NAMESPACE", FP, File(|c, p, o| files::file_same_option(c, p, o, "csharp_namespace")), GEN_OPTION;
    "FILE_SAME_GO_PACKAGE", FP, File(|c, p, o| files::file_same_option(c, p, o, "go_package")), GEN_OPTION;
    "FILE_SAME_JAVA_GENERIC_SERVICES", FP, File(|c, p, o| files::file_same_option(c, p, o, "java_generic_services")), GEN_OPTION;
    "FILE_SAME_JAVA_MULTIPLE_FILES", FP, File(|c, p, o| files::file_same_option(c, p, o, "java_multiple_files")), GEN_OPTION;
    "FILE_SAME_JAVA_OUTER_CLASSNAME", FP, File(|c, p, o| files::file_same_option(c, p, o, "java_outer_classname")), GEN_OPTION;
    "FILE_SAME_JAVA_PACKAGE", FP, File(|c, p, o| files::file_same_option(c, p, o, "java_package")), GEN_OPTION;
    "FILE_SAME_OBJC_CLASS_PREFIX", FP, File(|c, p, o| files::file_same_option(c, p, o, "objc_class_prefix")), GEN_OPTION;
    "FILE_SAME_OPTIMIZE_FOR", FP, File(|c, p, o| files::file_same_option(c, p, o, "optimize_for")), GEN_OPTION;
    "FILE_SAME_PHP_CLASS_PREFIX", FP, File(|c, p, o| files::file_same_option(c, p, o, "php_class_prefix")), GEN_OPTION;
    "FILE_SAME_PHP_METADATA_NAMESPACE", FP, File(|c, p, o| files::file_same_option(c, p, o, "php_metadata_namespace")), GEN_OPTION;
    "FILE_SAME_PHP_NAMESPACE", FP, File(|c, p, o| files::file_same_option(c, p, o, "php_namespace")), GEN_OPTION;
    "FILE_SAME_PY_GENERIC_SERVICES", FP, File(|c, p, o| files::file_same_option(c, p, o, "py_generic_services")), GEN_OPTION;
    "FILE_SAME_RUBY_PACKAGE", FP, File(|c, p, o| files::file_same_option(c, p, o, "ruby_package")), GEN_OPTION;
    "FILE_SAME_SWIFT_PREFIX", FP, File(|c, p, o| files::file_same_option(c, p, o, "swift_prefix")), GEN_OPTION;
    "FILE_SAME_SYNTAX", FP, File(files::file_same_syntax), "Presence, enum openness, UTF-8 validation and JSON support change with the syntax, for generated code and readers alike.";
    "MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR", FP, Message(messages::message_no_remove_standard_descriptor_accessor), "Generated code loses its descriptor accessor, so code that calls it no longer compiles.";
    "ONEOF_NO_DELETE", FP, Message(messages::oneof_no_delete), "Generated code for the oneof (its case enum and accessors) disappears, so client code no longer compiles.";
    "RPC_NO_DELETE", FP, Service(services::rpc_no_delete), "Generated clients that call it no longer compile, and old clients get UNIMPLEMENTED.";
    "ENUM_SAME_JSON_FORMAT", FPJ, Enum(enums::enum_same_json_format), "JSON support for the enum is reduced, so JSON clients may fail to read or write it.";
    "ENUM_VALUE_SAME_NAME", FPJ, Enum(enums::enum_value_same_name), "JSON carries enum values by name, so JSON readers reject the old name; generated code that names it no longer compiles.";
    "FIELD_SAME_JSON_NAME", FPJ, Field(fields::field_same_json_name), "JSON carries fields by json_name, so JSON peers silently drop the field.";
    "FIELD_SAME_NAME", FPJ, Field(fields::field_same_name), "JSON readers accept the proto name too, so old JSON stops parsing; generated code that names it no longer compiles.";
    "MESSAGE_SAME_JSON_FORMAT", FPJ, Message(messages::message_same_json_format), "JSON support for the message is reduced, so JSON clients may fail to read or write it.";
    "FIELD_SAME_DEFAULT", ALL, Field(fields::field_same_default), "Readers of an unset field see a different value depending on which version they run.";
    "FIELD_SAME_ONEOF", ALL, Field(fields::field_same_oneof), "Setting a member of a oneof clears the others, so old and new peers disagree about which fields are set.";
    "FILE_SAME_PACKAGE", ALL, File(files::file_same_package), "Every type and RPC of the file changes its full name: wire method paths, Any type URLs and generated code all break.";
    "MESSAGE_SAME_REQUIRED_FIELDS", ALL, Message(messages::message_same_required_fields), "Required fields must always be sent, so a peer that does not know about the change fails to parse.";
    "RESERVED_ENUM_NO_DELETE", ALL, Enum(enums::reserved_enum_no_delete), "A freed number or name can be reused with another meaning, which old peers would misread.";
    "RESERVED_MESSAGE_NO_DELETE", ALL, Message(messages::reserved_message_no_delete), "A freed number or name can be reused with another meaning, which old peers would misread.";
    "RPC_SAME_CLIENT_STREAMING", ALL, Method(services::rpc_same_client_streaming), "The call's shape on the wire changes, so every existing client and server of the RPC fails.";
    "RPC_SAME_IDEMPOTENCY_LEVEL", ALL, Method(services::rpc_same_idempotency_level), "Clients choose HTTP verbs and retries by idempotency level, so existing calls may be rejected or retried unsafely.";
    "RPC_SAME_REQUEST_TYPE", ALL, Method(services::rpc_same_request_type), "Servers decode old clients' requests as another type (wire), and generated clients no longer compile.";
    "RPC_SAME_RESPONSE_TYPE", ALL, Method(services::rpc_same_response_type), "Old clients decode responses as another type (wire), and generated clients no longer compile.";
    "RPC_SAME_SERVER_STREAMING", ALL, Method(services::rpc_same_server_streaming), "The call's shape on the wire changes, so every existing client and server of the RPC fails.";
    "PACKAGE_ENUM_NO_DELETE", P, Tree(files::package_enum_no_delete), GEN_ELEMENT;
    "PACKAGE_EXTENSION_NO_DELETE", P, Tree(files::package_extension_no_delete), GEN_ELEMENT;
    "PACKAGE_MESSAGE_NO_DELETE", P, Tree(files::package_message_no_delete), GEN_ELEMENT;
    "PACKAGE_NO_DELETE", P, Tree(files::package_no_delete), "Every type and RPC of the package disappears for generated code and on the wire.";
    "PACKAGE_SERVICE_NO_DELETE", P, Tree(files::package_service_no_delete), "Generated clients that name it no longer compile, and calls to it fail with UNIMPLEMENTED.";
    "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED", J, Enum(enums::enum_value_no_delete_unless_name_reserved), "JSON carries enum values by name; reserve the name so it is never reused with another number.";
    "FIELD_NO_DELETE_UNLESS_NAME_RESERVED", J, Message(messages::field_no_delete_unless_name_reserved), "JSON carries fields by name; reserve the name so it is never reused with another meaning.";
    "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY", J, Field(fields::field_wire_json_compatible_cardinality), "The binary or JSON encoding of the field changes shape, so old and new peers misread it.";
    "FIELD_WIRE_JSON_COMPATIBLE_TYPE", J, Field(fields::field_wire_json_compatible_type), "The binary or JSON encoding of the field changes, so old and new peers misread it.";
    "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED", JW, Enum(enums::enum_value_no_delete_unless_number_reserved), "Reserve the number so it is never reused with another meaning that old peers would misread.";
    "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", JW, Message(messages::field_no_delete_unless_number_reserved), "Reserve the number so it is never reused with another type that old peers would misread.";
    "FIELD_WIRE_COMPATIBLE_CARDINALITY", W, Field(fields::field_wire_compatible_cardinality), "The binary encoding of the field changes shape, so old and new peers misread it.";
    "FIELD_WIRE_COMPATIBLE_TYPE", W, Field(fields::field_wire_compatible_type), "The binary encoding of the field changes, so old and new peers misread it.";
}

/// The rules of one category.
pub fn rules_in(category: Category) -> impl Iterator<Item = &'static Rule> {
    ALL_RULES.iter().filter(move |r| r.categories.contains(&category.as_str()))
}

/// The rule with buf's id `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    ALL_RULES.iter().find(|r| r.id == id)
}
