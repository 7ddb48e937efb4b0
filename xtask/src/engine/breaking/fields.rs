//! Rules on a pair of fields (or extensions): cardinality, type, names,
//! oneof membership, the options that change generated code or
//! validation, and defaults.

use prost_types::field_descriptor_proto::{Label, Type};

use super::context::{Ctx, Loc, Out, Pair};
use super::model::{self, Cardinality, Field, Index, oneof_of};
use crate::engine::toolkit::{full_name, message_at, num, q, sub};

/// `Field "3" with name "foo" on message "Bar"` (or the extension form).
fn describe(f: &Field<'_>, with_name: bool) -> String {
    let number = f.proto.number();
    let (kind, owner) = match (&f.proto.extendee, f.parent) {
        (Some(ext), _) => ("Extension", ext.trim_start_matches('.').to_string()),
        (None, Some(m)) => ("Field", m.name().to_string()),
        (None, None) => ("Field", String::new()),
    };
    let name = match (with_name, f.proto.extendee.is_some()) {
        (false, _) => String::new(),
        (true, true) => format!(" with name {}", q(full_name(f.file.package(), &f.nested))),
        (true, false) => format!(" with name {}", q(f.proto.name())),
    };
    format!("{kind} \"{number}\"{name} on message {}", q(owner))
}

/// The first located of the field's `tails` (paths below the field),
/// else the field itself, else (the key or value of a map entry, which
/// the source does not spell out) the map field.
fn at<'a>(f: &Field<'a>, tails: &[&[i32]]) -> Loc<'a> {
    let mut paths: Vec<Vec<i32>> = tails.iter().map(|t| sub(&f.path, t)).collect();
    paths.push(f.path.clone());
    if let Some(map) = map_field_path(f) {
        // buf points at the map's `map<K, V>` type.
        paths.push(sub(&map, &[num::FIELD_TYPE_NAME]));
        paths.push(map);
    }
    Loc::at(f.file, paths)
}

/// The path of the map field whose synthetic entry declares `f`.
fn map_field_path(f: &Field<'_>) -> Option<Vec<i32>> {
    let entry = f.parent.filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry()))?;
    // `[..message, NESTED, k, FIELD, i]`: the entry is nested in the message
    // that holds the map field.
    let message = f.path.get(..f.path.len().checked_sub(4)?)?;
    let holder = message_at(f.file, message)?;
    let suffix = format!(".{}", entry.name());
    let i = holder.field.iter().position(|x| x.type_name().ends_with(&suffix))?;
    Some(sub(message, &[num::MESSAGE_FIELD, i as i32]))
}

fn is_extension(f: &Field<'_>) -> bool {
    f.proto.extendee.is_some()
}

/// Both fields are the key or value of a map entry, whose shape the map
/// field itself answers for.
fn in_map_entries(p: &Pair<Field<'_>>) -> bool {
    let in_entry = |x: &Field<'_>| x.parent.and_then(|m| m.options.as_ref()).is_some_and(|o| o.map_entry());
    in_entry(&p.cur) && in_entry(&p.old)
}

// ------------------------------------------------------------ cardinality

/// The two cardinalities and buf's words for the change, unless the
/// fields are map-entry fields.
fn cardinalities(ctx: &Ctx<'_>, p: &Pair<Field<'_>>) -> Option<(Cardinality, Cardinality, String)> {
    if in_map_entries(p) {
        return None;
    }
    let (now, was) = (ctx.cur.cardinality(&p.cur), ctx.old.cardinality(&p.old));
    let what = format!("{} changed cardinality from {} to {}.", describe(&p.cur, true), q(was.name()), q(now.name()));
    Some((now, was, what))
}

pub(super) fn field_same_cardinality(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    if let Some((now, was, what)) = cardinalities(ctx, p)
        && now != was
    {
        out.emit(at(&p.cur, &[]), what);
    }
}

pub(super) fn field_wire_compatible_cardinality(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    if let Some((now, was, what)) = cardinalities(ctx, p)
        && now.wire_group() != was.wire_group()
    {
        out.emit(at(&p.cur, &[]), what);
    }
}

pub(super) fn field_wire_json_compatible_cardinality(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    if let Some((now, was, what)) = cardinalities(ctx, p)
        && now.wire_json_group() != was.wire_json_group()
    {
        out.emit(at(&p.cur, &[]), what);
    }
}

// ------------------------------------------------------------------ type

const WIRE_RULES: &str =
    "See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules.";
const JSON_RULES: &str = "See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules and https://developers.google.com/protocol-buffers/docs/proto3#json for JSON compatibility rules.";

/// A field's type, and its type name for messages, enums and groups.
struct Typed<'p> {
    now: Type,
    was: Type,
    now_name: &'p str,
    was_name: &'p str,
    /// `... changed type from "int32" to "int64".`
    changed_kind: String,
    /// `... changed type from "a.Old" to "a.New".`
    changed_name: String,
}

fn named(t: Type) -> bool {
    matches!(t, Type::Message | Type::Enum | Type::Group)
}

fn typed<'p>(p: &'p Pair<Field<'_>>) -> Typed<'p> {
    let desc = describe(&p.cur, true);
    let (now, was) = (p.cur.proto.r#type(), p.old.proto.r#type());
    let (now_name, was_name) =
        (p.cur.proto.type_name().trim_start_matches('.'), p.old.proto.type_name().trim_start_matches('.'));
    let changed_kind =
        format!("{desc} changed type from {} to {}.", q(model::type_name(was)), q(model::type_name(now)));
    let changed_name = format!("{desc} changed type from {} to {}.", q(was_name), q(now_name));
    Typed { now, was, now_name, was_name, changed_kind, changed_name }
}

/// At the type name for named types, else at the type.
fn type_loc<'a>(f: &Field<'a>, t: Type) -> Loc<'a> {
    if named(t) {
        at(f, &[&[num::FIELD_TYPE_NAME], &[num::FIELD_TYPE]])
    } else {
        at(f, &[&[num::FIELD_TYPE], &[num::FIELD_TYPE_NAME]])
    }
}

/// For fields of the same kind whose type name changed: whether the new
/// type cannot stand in for the old one on the wire. Enums can, if they
/// share their short name and the old values are a subset of the new
/// ones; messages and groups never.
fn named_type_incompatible(ctx: &Ctx<'_>, t: &Typed<'_>) -> bool {
    if t.now_name == t.was_name || !named(t.now) {
        return false;
    }
    if t.now != Type::Enum {
        return true;
    }
    let (Some(c), Some(p)) = (ctx.cur.all_enums.get(t.now_name), ctx.old.all_enums.get(t.was_name)) else {
        return true;
    };
    if c.name() != p.name() {
        return true;
    }
    !p.value.iter().all(|pv| c.value.iter().any(|cv| cv.name() == pv.name() && cv.number() == pv.number()))
}

pub(super) fn field_same_type(_: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    let t = typed(p);
    if t.now != t.was {
        out.emit(type_loc(&p.cur, t.now), t.changed_kind);
    } else if named(t.now) && t.now_name != t.was_name {
        out.emit(type_loc(&p.cur, t.now), t.changed_name);
    }
}

pub(super) fn field_wire_compatible_type(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    let t = typed(p);
    if model::wire_group(t.now) != model::wire_group(t.was) {
        // string to bytes is compatible; bytes to string only for UTF-8.
        if !(t.was == Type::String && t.now == Type::Bytes) {
            let extra = if t.was == Type::Bytes && t.now == Type::String {
                " Note that while string and bytes are compatible if the data is valid UTF-8, there is no way to enforce that a bytes field is UTF-8, so these fields may be incompatible."
            } else {
                ""
            };
            out.emit(type_loc(&p.cur, t.now), format!("{} {WIRE_RULES}{extra}", t.changed_kind.trim_end()));
        }
    } else if named_type_incompatible(ctx, &t) {
        out.emit(type_loc(&p.cur, t.now), t.changed_name);
    }
}

pub(super) fn field_wire_json_compatible_type(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    let t = typed(p);
    if model::wire_json_group(t.now) != model::wire_json_group(t.was) {
        out.emit(type_loc(&p.cur, t.now), format!("{} {JSON_RULES}", t.changed_kind));
    } else if named_type_incompatible(ctx, &t) {
        out.emit(type_loc(&p.cur, t.now), t.changed_name);
    }
}

// ----------------------------------------------------------------- names

pub(super) fn field_same_json_name(_: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    if is_extension(&p.cur) {
        return;
    }
    let (now, was) = (model::json_name(p.cur.proto), model::json_name(p.old.proto));
    if now != was {
        out.emit(
            at(&p.cur, &[&[num::FIELD_JSON_NAME]]),
            format!("{} changed option \"json_name\" from {} to {}.", describe(&p.cur, true), q(was), q(now)),
        );
    }
}

pub(super) fn field_same_name(_: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    let name = |f: &Field<'_>| {
        if is_extension(f) { full_name(f.file.package(), &f.nested) } else { f.proto.name().to_string() }
    };
    let (now, was) = (name(&p.cur), name(&p.old));
    if now != was {
        out.emit(
            at(&p.cur, &[&[num::NAME]]),
            format!("{} changed name from {} to {}.", describe(&p.cur, false), q(was), q(now)),
        );
    }
}

pub(super) fn field_same_oneof(_: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    if is_extension(&p.cur) {
        return;
    }
    let desc = describe(&p.cur, true);
    let moved = match (oneof_of(&p.old), oneof_of(&p.cur)) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (Some(a), Some(b)) => format!("{desc} moved from oneof {} to oneof {}.", q(a), q(b)),
        (Some(_), None) => format!("{desc} moved from inside to outside a oneof."),
        (None, Some(_)) => format!("{desc} moved from outside to inside a oneof."),
    };
    out.emit(at(&p.cur, &[]), moved);
}

// ------------------------------------------- generated code and validation

pub(super) fn field_same_cpp_string_type(_: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    let stringy = |f: &Field<'_>| matches!(f.proto.r#type(), Type::String | Type::Bytes);
    if in_map_entries(p) || !stringy(&p.cur) || !stringy(&p.old) {
        return;
    }
    let ctype = |f: &Field<'_>| f.proto.options.as_ref().map_or("STRING", |o| o.ctype().as_str_name());
    let (was, now) = (ctype(&p.old), ctype(&p.cur));
    if was != now && !(was == "STRING_PIECE" && now == "STRING") {
        out.emit(
            at(&p.cur, &[&[num::FIELD_OPTIONS, num::FIELD_OPTION_CTYPE]]),
            format!("{} changed C++ string type from {} to {}.", describe(&p.cur, true), q(was), q(now)),
        );
    }
}

fn both_strings(p: &Pair<Field<'_>>) -> bool {
    p.cur.proto.r#type() == Type::String && p.old.proto.r#type() == Type::String
}

/// `VERIFY` or `NONE`, as the field's resolved features say.
fn utf8(ix: &Index<'_>, f: &Field<'_>) -> &'static str {
    if ix.features(f.file, &f.path).verify_utf8 { "VERIFY" } else { "NONE" }
}

pub(super) fn field_same_utf8_validation(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    if !both_strings(p) {
        return;
    }
    let (was, now) = (utf8(ctx.old, &p.old), utf8(ctx.cur, &p.cur));
    if was != now {
        let option = [num::FIELD_OPTIONS, num::FIELD_OPTION_FEATURES, num::FEATURE_UTF8_VALIDATION];
        out.emit(
            at(&p.cur, &[&option]),
            format!("{} changed UTF8 validation from {was} to {now}.", describe(&p.cur, true)),
        );
    }
}

pub(super) fn field_same_java_utf8_validation(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    if !both_strings(p) {
        return;
    }
    let java = |ix: &Index<'_>, f: &Field<'_>| {
        if f.file.options.as_ref().is_some_and(|o| o.java_string_check_utf8()) { "VERIFY" } else { utf8(ix, f) }
    };
    let (was, now) = (java(ctx.old, &p.old), java(ctx.cur, &p.cur));
    if was != now {
        let option = vec![num::FILE_OPTIONS, num::FILE_OPTION_JAVA_STRING_CHECK_UTF8];
        let mut loc = at(&p.cur, &[]);
        loc.prepend(option);
        out.emit(
            loc,
            format!("{} changed Java string UTF8 validation from {} to {}.", describe(&p.cur, true), q(was), q(now)),
        );
    }
}

pub(super) fn field_same_jstype(_: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    let is64 = |f: &Field<'_>| {
        matches!(f.proto.r#type(), Type::Int64 | Type::Sint64 | Type::Uint64 | Type::Fixed64 | Type::Sfixed64)
    };
    let jstype = |f: &Field<'_>| f.proto.options.as_ref().map_or("JS_NORMAL", |o| o.jstype().as_str_name());
    let (was, now) = (jstype(&p.old), jstype(&p.cur));
    if is64(&p.cur) && is64(&p.old) && was != now {
        out.emit(
            at(&p.cur, &[&[num::FIELD_OPTIONS, num::FIELD_OPTION_JSTYPE]]),
            format!("{} changed option \"jstype\" from {} to {}.", describe(&p.cur, true), q(was), q(now)),
        );
    }
}

// --------------------------------------------------------------- defaults

/// A singular field's default as text, `None` for the zero value
/// (explicit proto2 defaults; proto3 fields default to zero).
fn default_of(ix: &Index<'_>, f: &Field<'_>) -> Option<String> {
    let t = f.proto.r#type();
    let explicit = f.proto.default_value.clone().filter(|d| !d.is_empty());
    if t == Type::Enum {
        // An enum's implicit default is its first value.
        let first = ix
            .all_enums
            .get(f.proto.type_name().trim_start_matches('.'))
            .and_then(|e| e.value.first())
            .map(|v| v.name().to_string());
        let value = explicit.or(first.clone());
        return if value == first { None } else { value };
    }
    let d = explicit?;
    let zero = match t {
        Type::Bool => d == "false",
        Type::String | Type::Bytes => d.is_empty(),
        Type::Double | Type::Float => d.parse::<f64>().is_ok_and(|v| v == 0.0 && v.is_sign_positive()),
        _ => d.parse::<i128>().is_ok_and(|v| v == 0),
    };
    if zero { None } else { Some(d) }
}

pub(super) fn field_same_default(ctx: &Ctx<'_>, p: &Pair<Field<'_>>, out: &mut Out<'_>) {
    let can_default =
        |x: &Field<'_>| x.proto.label() != Label::Repeated && !matches!(x.proto.r#type(), Type::Message | Type::Group);
    if !can_default(&p.cur) || !can_default(&p.old) {
        return;
    }
    let (was, now) = (default_of(ctx.old, &p.old), default_of(ctx.cur, &p.cur));
    if was != now {
        out.emit(
            at(&p.cur, &[&[num::FIELD_DEFAULT]]),
            format!(
                "{} changed default value from {} to {}.",
                describe(&p.cur, true),
                was.unwrap_or_else(|| "zero".into()),
                now.unwrap_or_else(|| "zero".into())
            ),
        );
    }
}
