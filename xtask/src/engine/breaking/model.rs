//! An index over one side of a comparison: every message, enum, service,
//! field and extension of the tree's own files (imports excluded), by the
//! keys buf pairs them with, each with its file and source path so that a
//! finding can say where it is.

use std::collections::BTreeMap;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto, MethodDescriptorProto,
    ServiceDescriptorProto,
};

use crate::engine::features::{Features, Presence, Resolved};
use crate::engine::input::Tree;
use crate::engine::toolkit::{full_name, num, sub};

/// The syntax a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `proto2` (or no syntax statement).
    Proto2,
    /// `proto3`.
    Proto3,
    /// `editions`, whose behaviour comes from resolved features.
    Editions,
}

impl Syntax {
    /// The syntax of a file.
    pub fn of(file: &FileDescriptorProto) -> Syntax {
        match file.syntax() {
            "proto3" => Syntax::Proto3,
            "editions" => Syntax::Editions,
            _ => Syntax::Proto2,
        }
    }

    /// The syntax as buf prints it.
    pub fn name(self) -> &'static str {
        match self {
            Syntax::Proto2 => "proto2",
            Syntax::Proto3 => "proto3",
            Syntax::Editions => "editions",
        }
    }
}

/// A message of the tree.
#[derive(Debug, Clone)]
pub struct Msg<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path of the message.
    pub path: Vec<i32>,
    /// Name within the package (`Outer.Inner`).
    pub nested: String,
    /// The descriptor.
    pub proto: &'a DescriptorProto,
}

/// An enum of the tree.
#[derive(Debug, Clone)]
pub struct Enum<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path of the enum.
    pub path: Vec<i32>,
    /// Name within the package.
    pub nested: String,
    /// The descriptor.
    pub proto: &'a EnumDescriptorProto,
}

/// A service of the tree.
#[derive(Debug, Clone)]
pub struct Service<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path of the service.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a ServiceDescriptorProto,
}

impl<'a> Service<'a> {
    /// The service's RPCs, each with its source path.
    pub fn methods(&self) -> Vec<Method<'a>> {
        let (file, service) = (self.file, self.proto);
        service
            .method
            .iter()
            .enumerate()
            .map(|(i, proto)| Method { file, path: sub(&self.path, &[num::SERVICE_METHOD, i as i32]), service, proto })
            .collect()
    }
}

/// An RPC of a service.
#[derive(Debug, Clone)]
pub struct Method<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path of the RPC.
    pub path: Vec<i32>,
    /// Its service.
    pub service: &'a ServiceDescriptorProto,
    /// The descriptor.
    pub proto: &'a MethodDescriptorProto,
}

/// A field of a message, or an extension.
#[derive(Debug, Clone)]
pub struct Field<'a> {
    /// The declaring file.
    pub file: &'a FileDescriptorProto,
    /// Source path of the field.
    pub path: Vec<i32>,
    /// The descriptor.
    pub proto: &'a FieldDescriptorProto,
    /// The containing message (`None` for top-level extensions).
    pub parent: Option<&'a DescriptorProto>,
    /// Name within the package of the extension (extensions only).
    pub nested: String,
}

/// The index of one side.
#[derive(Debug, Default)]
pub struct Index<'a> {
    /// Own files by name.
    pub files: BTreeMap<&'a str, &'a FileDescriptorProto>,
    /// Own messages by full name (no leading dot).
    pub messages: BTreeMap<String, Msg<'a>>,
    /// Own enums by full name.
    pub enums: BTreeMap<String, Enum<'a>>,
    /// Own services by full name.
    pub services: BTreeMap<String, Service<'a>>,
    /// Own extensions by (extendee without leading dot, number).
    pub extensions: BTreeMap<(String, i32), Field<'a>>,
    /// Every message of the set (imports included), for map-entry lookups.
    pub all_messages: BTreeMap<String, &'a DescriptorProto>,
    /// Every enum of the set (imports included), for wire-compatible enum checks.
    pub all_enums: BTreeMap<String, &'a EnumDescriptorProto>,
    /// The resolved features of editions files.
    pub resolved: Option<&'a Resolved>,
}

impl<'a> Index<'a> {
    /// Builds the index of a tree.
    pub fn new(tree: &'a Tree) -> Index<'a> {
        let mut ix = Index { resolved: Some(&tree.features), ..Index::default() };
        for file in &tree.files {
            let own = tree.own.contains(file.name());
            if own {
                ix.files.insert(file.name(), file);
            }
            let pkg = file.package();
            for (i, e) in file.enum_type.iter().enumerate() {
                ix.add_enum(file, own, pkg, "", vec![num::FILE_ENUM, i as i32], e);
            }
            for (i, m) in file.message_type.iter().enumerate() {
                ix.add_message(file, own, pkg, "", vec![num::FILE_MESSAGE, i as i32], m);
            }
            if own {
                for (i, s) in file.service.iter().enumerate() {
                    ix.services.insert(
                        full_name(pkg, s.name()),
                        Service { file, path: vec![num::FILE_SERVICE, i as i32], proto: s },
                    );
                }
                for (i, x) in file.extension.iter().enumerate() {
                    ix.add_extension(file, None, "", vec![num::FILE_EXTENSION, i as i32], x);
                }
            }
        }
        ix
    }

    fn add_enum(
        &mut self,
        file: &'a FileDescriptorProto,
        own: bool,
        pkg: &str,
        outer: &str,
        path: Vec<i32>,
        e: &'a EnumDescriptorProto,
    ) {
        let nested = full_name(outer, e.name());
        let full = full_name(pkg, &nested);
        self.all_enums.insert(full.clone(), e);
        if own {
            self.enums.insert(full, Enum { file, path, nested, proto: e });
        }
    }

    fn add_message(
        &mut self,
        file: &'a FileDescriptorProto,
        own: bool,
        pkg: &str,
        outer: &str,
        path: Vec<i32>,
        m: &'a DescriptorProto,
    ) {
        let nested = full_name(outer, m.name());
        let full = full_name(pkg, &nested);
        self.all_messages.insert(full.clone(), m);
        for (i, e) in m.enum_type.iter().enumerate() {
            self.add_enum(file, own, pkg, &nested, sub(&path, &[num::MESSAGE_ENUM, i as i32]), e);
        }
        for (i, n) in m.nested_type.iter().enumerate() {
            self.add_message(file, own, pkg, &nested, sub(&path, &[num::MESSAGE_NESTED, i as i32]), n);
        }
        if own {
            for (i, x) in m.extension.iter().enumerate() {
                self.add_extension(file, Some(m), &nested, sub(&path, &[num::MESSAGE_EXTENSION, i as i32]), x);
            }
            self.messages.insert(full, Msg { file, path, nested, proto: m });
        }
    }

    fn add_extension(
        &mut self,
        file: &'a FileDescriptorProto,
        parent: Option<&'a DescriptorProto>,
        outer: &str,
        path: Vec<i32>,
        x: &'a FieldDescriptorProto,
    ) {
        let key = (x.extendee().trim_start_matches('.').to_string(), x.number());
        let nested = full_name(outer, x.name());
        self.extensions.insert(key, Field { file, path, proto: x, parent, nested });
    }

    /// The fields of a message by number, each with its source path.
    pub fn fields_of(msg: &Msg<'a>) -> BTreeMap<i32, Field<'a>> {
        msg.proto
            .field
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let path = sub(&msg.path, &[num::MESSAGE_FIELD, i as i32]);
                (f.number(), Field { file: msg.file, path, proto: f, parent: Some(msg.proto), nested: String::new() })
            })
            .collect()
    }

    /// Whether the message named `type_name` (with or without leading dot)
    /// is a synthesized map entry.
    pub fn is_map_entry(&self, type_name: &str) -> bool {
        self.all_messages
            .get(type_name.trim_start_matches('.'))
            .and_then(|m| m.options.as_ref())
            .is_some_and(|o| o.map_entry())
    }

    /// Whether `field` is a map field.
    pub fn is_map(&self, field: &FieldDescriptorProto) -> bool {
        field.label() == Label::Repeated && field.r#type() == Type::Message && self.is_map_entry(field.type_name())
    }

    /// The resolved features of the element at `path` of `file`: its
    /// syntax's, or for editions the edition's defaults with every
    /// `features` option on the way applied.
    pub fn features(&self, file: &FileDescriptorProto, path: &[i32]) -> Features {
        match Syntax::of(file) {
            Syntax::Editions => {
                self.resolved.and_then(|r| r.get(file.name(), path)).unwrap_or_else(|| Features::of_syntax("editions"))
            }
            _ => Features::of_syntax(file.syntax()),
        }
    }

    /// The field's cardinality, as buf classifies it.
    pub fn cardinality(&self, field: &Field<'a>) -> Cardinality {
        let f = field.proto;
        if f.label() == Label::Repeated {
            return if self.is_map(f) { Cardinality::Map } else { Cardinality::Repeated };
        }
        if f.label() == Label::Required {
            return Cardinality::Required;
        }
        // Messages, oneof members and extensions always track presence.
        let always = matches!(f.r#type(), Type::Message | Type::Group)
            || f.oneof_index.is_some()
            || f.extendee.is_some()
            || f.proto3_optional();
        let explicit = always
            || match self.features(field.file, &field.path).presence {
                Presence::Explicit => true,
                Presence::Implicit => false,
                Presence::LegacyRequired => return Cardinality::Required,
            };
        if explicit { Cardinality::Explicit } else { Cardinality::Implicit }
    }
}

/// Whether `parent`'s oneof at `index` is a real oneof (not the synthetic
/// one of a proto3 `optional` field).
pub fn real_oneof(parent: &DescriptorProto, index: i32) -> bool {
    !parent.field.iter().any(|f| f.oneof_index == Some(index) && f.proto3_optional())
}

/// The real oneof a field belongs to, if any.
pub fn oneof_of<'p>(field: &Field<'p>) -> Option<&'p str> {
    let parent = field.parent?;
    let index = field.proto.oneof_index?;
    if field.proto.proto3_optional() || !real_oneof(parent, index) {
        return None;
    }
    parent.oneof_decl.get(usize::try_from(index).ok()?).map(|o| o.name())
}

/// A field's cardinality, as buf classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// Singular with explicit presence (proto3 `optional`, messages, oneofs, proto2).
    Explicit,
    /// Singular with implicit presence (plain proto3 scalars).
    Implicit,
    /// proto2 `required`.
    Required,
    /// `repeated`.
    Repeated,
    /// `map<..>`.
    Map,
}

impl Cardinality {
    /// The name buf prints.
    pub fn name(self) -> &'static str {
        match self {
            Cardinality::Explicit => "optional with explicit presence",
            Cardinality::Implicit => "optional with implicit presence",
            Cardinality::Required => "required",
            Cardinality::Repeated => "repeated",
            Cardinality::Map => "map",
        }
    }

    /// Wire-compatibility group: presence does not matter on the wire, and
    /// maps are repeated entry messages.
    pub fn wire_group(self) -> u8 {
        match self {
            Cardinality::Explicit | Cardinality::Implicit => 1,
            Cardinality::Required => 2,
            Cardinality::Repeated | Cardinality::Map => 3,
        }
    }

    /// Wire-and-JSON group: as on the wire, but maps and lists differ in JSON.
    pub fn wire_json_group(self) -> u8 {
        match self {
            Cardinality::Map => 4,
            other => other.wire_group(),
        }
    }
}

/// The name buf prints for a field type.
pub fn type_name(t: Type) -> &'static str {
    match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Group => "group",
        Type::Message => "message",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Enum => "enum",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
    }
}

/// Groups of types whose binary encodings interoperate
/// (<https://protobuf.dev/programming-guides/proto3/#updating>).
pub fn wire_group(t: Type) -> u8 {
    match t {
        Type::Int32 | Type::Int64 | Type::Uint32 | Type::Uint64 | Type::Bool => 1,
        Type::Sint32 | Type::Sint64 => 2,
        Type::String => 3,
        Type::Bytes => 4,
        Type::Fixed32 | Type::Sfixed32 => 5,
        Type::Fixed64 | Type::Sfixed64 => 6,
        Type::Double => 7,
        Type::Float => 8,
        Type::Group => 9,
        Type::Message => 10,
        Type::Enum => 11,
    }
}

/// Groups of types whose binary and JSON encodings both interoperate.
pub fn wire_json_group(t: Type) -> u8 {
    match t {
        Type::Int32 | Type::Uint32 => 1,
        Type::Int64 | Type::Uint64 => 2,
        Type::Fixed32 | Type::Sfixed32 => 3,
        Type::Fixed64 | Type::Sfixed64 => 4,
        Type::Bool => 5,
        Type::Sint32 => 6,
        Type::Sint64 => 7,
        Type::String => 8,
        Type::Bytes => 9,
        Type::Double => 10,
        Type::Float => 11,
        Type::Group => 12,
        Type::Message => 13,
        Type::Enum => 14,
    }
}

/// The JSON name protoc derives from a field name (lowerCamelCase).
pub fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A field's JSON name: explicit `json_name`, or the derived one.
pub fn json_name(field: &FieldDescriptorProto) -> String {
    field.json_name.clone().unwrap_or_else(|| default_json_name(field.name()))
}
