//! Editions features, resolved as protoc and buf resolve them: the
//! edition's defaults, overridden by the file's `features`, then those
//! of each enclosing message (and oneof), then the element's own.
//!
//! Only the features the rules read are kept: field presence, enum type
//! (open or closed), UTF-8 validation and JSON format. proto2 and proto3
//! files have them too, fixed by their syntax ([`Features::of_syntax`]),
//! so a rule compares one representation whatever each side is written
//! in.
//!
//! `prost-types` predates editions and drops the `features` options and
//! the `edition` field when it decodes a descriptor, so they are read
//! here from the encoded set through a narrow view of
//! `descriptor.proto` that keeps nothing else.

use std::collections::HashMap;

use prost::Message as _;

/// How a singular field tracks presence (`FeatureSet.field_presence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// `EXPLICIT`: has-ers, set-to-default is visible.
    Explicit,
    /// `IMPLICIT`: proto3's plain scalars.
    Implicit,
    /// `LEGACY_REQUIRED`: proto2's `required`.
    LegacyRequired,
}

/// The resolved features of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Field presence.
    pub presence: Presence,
    /// Whether enums are closed (`enum_type = CLOSED`).
    pub closed_enums: bool,
    /// Whether strings are validated as UTF-8 (`utf8_validation = VERIFY`).
    pub verify_utf8: bool,
    /// Whether the JSON mapping is fully supported (`json_format = ALLOW`)
    /// rather than `LEGACY_BEST_EFFORT`.
    pub json_allow: bool,
}

impl Features {
    /// The features a proto2 (`"proto2"` or unset) or proto3 file has.
    pub fn of_syntax(syntax: &str) -> Features {
        if syntax == "proto3" {
            Features { presence: Presence::Implicit, closed_enums: false, verify_utf8: true, json_allow: true }
        } else {
            Features { presence: Presence::Explicit, closed_enums: true, verify_utf8: false, json_allow: false }
        }
    }

    /// The defaults of an edition (`Edition` enum value): 2023 and 2024
    /// agree on every feature read here.
    fn of_edition(_edition: i32) -> Features {
        Features { presence: Presence::Explicit, closed_enums: false, verify_utf8: true, json_allow: true }
    }

    fn apply(mut self, set: Option<&FeatureSetView>) -> Features {
        let Some(set) = set else { return self };
        match set.field_presence {
            Some(1) => self.presence = Presence::Explicit,
            Some(2) => self.presence = Presence::Implicit,
            Some(3) => self.presence = Presence::LegacyRequired,
            _ => {}
        }
        match set.enum_type {
            Some(1) => self.closed_enums = false,
            Some(2) => self.closed_enums = true,
            _ => {}
        }
        match set.utf8_validation {
            Some(2) => self.verify_utf8 = true,
            Some(3) => self.verify_utf8 = false,
            _ => {}
        }
        match set.json_format {
            Some(1) => self.json_allow = true,
            Some(2) => self.json_allow = false,
            _ => {}
        }
        self
    }
}

/// The resolved features of every message, field, extension and enum of
/// the editions files of a set, by file name and source path.
#[derive(Debug, Clone, Default)]
pub struct Resolved(HashMap<String, HashMap<Vec<i32>, Features>>);

impl Resolved {
    /// Reads and resolves the features of the editions files of an
    /// encoded `FileDescriptorSet`; empty when it has none.
    pub fn decode(encoded: &[u8]) -> Result<Resolved, prost::DecodeError> {
        let set = SetView::decode(encoded)?;
        let mut resolved = HashMap::new();
        for file in set.file {
            let Some(edition) = file.edition else { continue };
            let mut paths = HashMap::new();
            let top = Features::of_edition(edition).apply(file.options.as_ref().and_then(|o| o.features.as_ref()));
            for (i, m) in file.message_type.iter().enumerate() {
                message(&mut paths, top, vec![4, i as i32], m);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                let own = e.options.as_ref().and_then(|o| o.features.as_ref());
                paths.insert(vec![5, i as i32], top.apply(own));
            }
            for (i, x) in file.extension.iter().enumerate() {
                paths.insert(vec![7, i as i32], top.apply(x.options.as_ref().and_then(|o| o.features.as_ref())));
            }
            resolved.insert(file.name.unwrap_or_default(), paths);
        }
        Ok(Resolved(resolved))
    }

    /// The features of the element at `path` of the editions file `file`,
    /// when resolved.
    pub fn get(&self, file: &str, path: &[i32]) -> Option<Features> {
        self.0.get(file)?.get(path).copied()
    }
}

fn message(paths: &mut HashMap<Vec<i32>, Features>, outer: Features, path: Vec<i32>, m: &MessageView) {
    let here = outer.apply(m.options.as_ref().and_then(|o| o.features.as_ref()));
    let oneofs: Vec<Features> =
        m.oneof_decl.iter().map(|o| here.apply(o.options.as_ref().and_then(|x| x.features.as_ref()))).collect();
    let at = |tail: [i32; 2]| [path.as_slice(), &tail].concat();
    for (i, f) in m.field.iter().enumerate() {
        let scope = f.oneof_index.and_then(|o| oneofs.get(usize::try_from(o).ok()?)).copied().unwrap_or(here);
        paths.insert(at([2, i as i32]), scope.apply(f.options.as_ref().and_then(|o| o.features.as_ref())));
    }
    for (i, x) in m.extension.iter().enumerate() {
        paths.insert(at([6, i as i32]), here.apply(x.options.as_ref().and_then(|o| o.features.as_ref())));
    }
    for (i, e) in m.enum_type.iter().enumerate() {
        paths.insert(at([4, i as i32]), here.apply(e.options.as_ref().and_then(|o| o.features.as_ref())));
    }
    for (i, n) in m.nested_type.iter().enumerate() {
        message(paths, here, at([3, i as i32]), n);
    }
    paths.insert(path, here);
}

// A view of `descriptor.proto` that keeps the edition and the features
// along the paths to messages, fields, oneofs and enums, and skips
// everything else.

#[derive(Clone, PartialEq, prost::Message)]
struct FeatureSetView {
    #[prost(int32, optional, tag = "1")]
    field_presence: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    enum_type: Option<i32>,
    #[prost(int32, optional, tag = "4")]
    utf8_validation: Option<i32>,
    #[prost(int32, optional, tag = "6")]
    json_format: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SetView {
    #[prost(message, repeated, tag = "1")]
    file: Vec<FileView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FileView {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(message, repeated, tag = "4")]
    message_type: Vec<MessageView>,
    #[prost(message, repeated, tag = "5")]
    enum_type: Vec<EnumView>,
    #[prost(message, repeated, tag = "7")]
    extension: Vec<FieldView>,
    #[prost(message, optional, tag = "8")]
    options: Option<FileOptionsView>,
    #[prost(int32, optional, tag = "14")]
    edition: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FileOptionsView {
    #[prost(message, optional, tag = "50")]
    features: Option<FeatureSetView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MessageView {
    #[prost(message, repeated, tag = "2")]
    field: Vec<FieldView>,
    #[prost(message, repeated, tag = "3")]
    nested_type: Vec<MessageView>,
    #[prost(message, repeated, tag = "4")]
    enum_type: Vec<EnumView>,
    #[prost(message, repeated, tag = "6")]
    extension: Vec<FieldView>,
    #[prost(message, optional, tag = "7")]
    options: Option<MessageOptionsView>,
    #[prost(message, repeated, tag = "8")]
    oneof_decl: Vec<OneofView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MessageOptionsView {
    #[prost(message, optional, tag = "12")]
    features: Option<FeatureSetView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FieldView {
    #[prost(message, optional, tag = "8")]
    options: Option<FieldOptionsView>,
    #[prost(int32, optional, tag = "9")]
    oneof_index: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FieldOptionsView {
    #[prost(message, optional, tag = "21")]
    features: Option<FeatureSetView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OneofView {
    #[prost(message, optional, tag = "2")]
    options: Option<OneofOptionsView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OneofOptionsView {
    #[prost(message, optional, tag = "1")]
    features: Option<FeatureSetView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EnumView {
    #[prost(message, optional, tag = "3")]
    options: Option<EnumOptionsView>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EnumOptionsView {
    #[prost(message, optional, tag = "7")]
    features: Option<FeatureSetView>,
}
