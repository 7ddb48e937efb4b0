//! Rules on a pair of messages: deleted fields and oneofs, reservations
//! and extension ranges, and the options and syntax that change how the
//! message is generated or encoded.

use std::collections::{BTreeMap, BTreeSet};

use prost_types::DescriptorProto;
use prost_types::field_descriptor_proto::Label;

use super::context::{Ctx, Loc, Out, Pair, in_ranges, show_range, show_ranges, uncovered};
use super::model::{Field, Index, Msg, real_oneof};
use crate::engine::toolkit::{num, q, sub};

fn here<'a>(m: &Msg<'a>) -> Loc<'a> {
    Loc::at(m.file, vec![m.path.clone()])
}

/// The baseline's fields whose number no current field has, each with
/// buf's words for the deletion.
fn deleted_fields<'a>(p: &Pair<Msg<'a>>) -> Vec<(i32, Field<'a>, String)> {
    let current = Index::fields_of(&p.cur);
    Index::fields_of(&p.old)
        .into_iter()
        .filter(|(number, _)| !current.contains_key(number))
        .map(|(number, f)| {
            let what = format!(
                "Previously present field \"{number}\" with name {} on message {} was deleted",
                q(f.proto.name()),
                q(p.cur.proto.name())
            );
            (number, f, what)
        })
        .collect()
}

pub(super) fn field_no_delete(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    for (_, _, what) in deleted_fields(p) {
        out.emit(here(&p.cur), format!("{what}."));
    }
}

/// Message reserved ranges end exclusive.
pub(super) fn field_no_delete_unless_number_reserved(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    for (number, _, what) in deleted_fields(p) {
        if !in_ranges(number, p.cur.proto.reserved_range.iter().map(|r| (r.start(), r.end() - 1))) {
            out.emit(here(&p.cur), format!("{what} without reserving the number \"{number}\"."));
        }
    }
}

pub(super) fn field_no_delete_unless_name_reserved(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    for (_, f, what) in deleted_fields(p) {
        if !p.cur.proto.reserved_name.iter().any(|n| n == f.proto.name()) {
            out.emit(here(&p.cur), format!("{what} without reserving the name {}.", q(f.proto.name())));
        }
    }
}

/// Real oneofs by name (the synthetic ones of proto3 `optional` are
/// presence, not oneofs).
fn oneofs(d: &DescriptorProto) -> BTreeSet<&str> {
    d.oneof_decl.iter().enumerate().filter(|(i, _)| real_oneof(d, *i as i32)).map(|(_, o)| o.name()).collect()
}

pub(super) fn oneof_no_delete(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    let current = oneofs(p.cur.proto);
    for o in oneofs(p.old.proto).difference(&current) {
        out.emit(
            here(&p.cur),
            format!("Previously present oneof {} on message {} was deleted.", q(o), q(p.cur.proto.name())),
        );
    }
}

pub(super) fn reserved_message_no_delete(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    let (m, name) = (&p.cur, p.cur.proto.name());
    let ranges: Vec<(i32, i32)> = m.proto.reserved_range.iter().map(|r| (r.start(), r.end() - 1)).collect();
    for r in &p.old.proto.reserved_range {
        let range = (r.start(), r.end() - 1);
        let gaps = uncovered(range.0, range.1, &ranges);
        if !gaps.is_empty() {
            out.emit(
                here(m),
                format!(
                    "Previously present reserved range {} on message {} is missing values: {} were removed.",
                    q(show_range(range)),
                    q(name),
                    show_ranges(&gaps)
                ),
            );
        }
    }
    for n in &p.old.proto.reserved_name {
        if !m.proto.reserved_name.contains(n) {
            out.emit(here(m), format!("Previously present reserved name {} on message {} was deleted.", q(n), q(name)));
        }
    }
}

pub(super) fn extension_message_no_delete(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    let m = &p.cur;
    let ranges: Vec<(i32, i32)> = m.proto.extension_range.iter().map(|r| (r.start(), r.end() - 1)).collect();
    for r in &p.old.proto.extension_range {
        let range = (r.start(), r.end() - 1);
        let gaps = uncovered(range.0, range.1, &ranges);
        if !gaps.is_empty() {
            out.emit(
                here(m),
                format!(
                    "Previously present extension range {} on message {} is missing values: {} were removed.",
                    q(show_range(range)),
                    q(m.proto.name()),
                    show_ranges(&gaps)
                ),
            );
        }
    }
}

pub(super) fn message_no_remove_standard_descriptor_accessor(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    let off = |d: &DescriptorProto| d.options.as_ref().is_some_and(|o| o.no_standard_descriptor_accessor());
    if !off(p.old.proto) && off(p.cur.proto) {
        let m = &p.cur;
        let option = sub(&m.path, &[num::MESSAGE_OPTIONS, num::MESSAGE_OPTION_NO_STANDARD_DESCRIPTOR_ACCESSOR]);
        out.emit(
            Loc::at(m.file, vec![option, sub(&m.path, &[num::NAME]), m.path.clone()]),
            "Message option \"no_standard_descriptor_accessor\" changed from \"false\" to \"true\".".to_string(),
        );
    }
}

/// `ALLOW` (proto3, editions by default) or `LEGACY_BEST_EFFORT` (proto2,
/// `json_format = LEGACY_BEST_EFFORT` on the message, an enclosing one or
/// the file); only a loss of support breaks.
pub(super) fn message_same_json_format(ctx: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    let was = ctx.old.features(p.old.file, &p.old.path).json_allow;
    let is = ctx.cur.features(p.cur.file, &p.cur.path).json_allow;
    if was && !is {
        let m = &p.cur;
        let option = sub(&m.path, &[num::MESSAGE_OPTIONS, num::MESSAGE_OPTION_FEATURES, num::FEATURE_JSON_FORMAT]);
        out.emit(
            Loc::at(m.file, vec![option, m.path.clone()]),
            format!("Message {} JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.", q(p.cur.proto.name())),
        );
    }
}

pub(super) fn message_same_required_fields(_: &Ctx<'_>, p: &Pair<Msg<'_>>, out: &mut Out<'_>) {
    let required = |f: &BTreeMap<i32, Field<'_>>| -> BTreeSet<i32> {
        f.iter().filter(|(_, x)| x.proto.label() == Label::Required).map(|(n, _)| *n).collect()
    };
    let (fields, old_fields) = (Index::fields_of(&p.cur), Index::fields_of(&p.old));
    let (now, was) = (required(&fields), required(&old_fields));
    let name = q(p.cur.proto.name());
    let why = "Required fields must always be sent, so if one side does not know about the required field, this will result in a breakage.";
    for n in was.difference(&now) {
        out.emit(here(&p.cur), format!("Message {name} had required field \"{n}\" deleted. {why}"));
    }
    for n in now.difference(&was) {
        if let Some(f) = fields.get(n) {
            out.emit(
                Loc::at(f.file, vec![f.path.clone()]),
                format!("Message {name} had required field \"{n}\" added. {why}"),
            );
        }
    }
}
