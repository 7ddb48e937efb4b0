//! Rules on a pair of enums: their type and JSON format, their values
//! (deleted, renamed) and their reservations.

use std::collections::{BTreeMap, BTreeSet};

use super::context::{Ctx, Loc, Out, Pair, in_ranges, show_range, show_ranges, uncovered};
use super::model::Enum;
use crate::engine::features::Features;
use crate::engine::toolkit::{num, q, sub};

/// The resolved features of both enums.
fn features(ctx: &Ctx<'_>, p: &Pair<Enum<'_>>) -> (Features, Features) {
    (ctx.old.features(p.old.file, &p.old.path), ctx.cur.features(p.cur.file, &p.cur.path))
}

fn here<'a>(e: &Enum<'a>) -> Loc<'a> {
    Loc::at(e.file, vec![e.path.clone()])
}

/// At the enum's own `features.<feature>` option when it sets one, else
/// the enum.
fn at_feature<'a>(e: &Enum<'a>, feature: i32) -> Loc<'a> {
    let option = sub(&e.path, &[num::ENUM_OPTIONS, num::ENUM_OPTION_FEATURES, feature]);
    Loc::at(e.file, vec![option, e.path.clone()])
}

/// Open (proto3, editions by default) or closed (proto2, `enum_type =
/// CLOSED`).
pub(super) fn enum_same_type(ctx: &Ctx<'_>, p: &Pair<Enum<'_>>, out: &mut Out<'_>) {
    let (was, is) = features(ctx, p);
    if was.closed_enums != is.closed_enums {
        let (a, b) = if is.closed_enums { ("open", "closed") } else { ("closed", "open") };
        out.emit(
            at_feature(&p.cur, num::FEATURE_ENUM_TYPE),
            format!("Enum {} changed from {a} to {b}.", q(p.cur.proto.name())),
        );
    }
}

/// `ALLOW` (proto3, editions by default) or `LEGACY_BEST_EFFORT` (proto2,
/// `json_format = LEGACY_BEST_EFFORT`); only a loss of support breaks.
pub(super) fn enum_same_json_format(ctx: &Ctx<'_>, p: &Pair<Enum<'_>>, out: &mut Out<'_>) {
    let (was, is) = features(ctx, p);
    if was.json_allow && !is.json_allow {
        out.emit(
            at_feature(&p.cur, num::FEATURE_JSON_FORMAT),
            format!("Enum {} JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.", q(p.cur.proto.name())),
        );
    }
}

/// The enum's value names by number, each with its index.
fn by_number(e: &Enum<'_>) -> BTreeMap<i32, Vec<(String, usize)>> {
    let mut m: BTreeMap<i32, Vec<(String, usize)>> = BTreeMap::new();
    for (i, v) in e.proto.value.iter().enumerate() {
        m.entry(v.number()).or_default().push((v.name().to_string(), i));
    }
    m
}

/// The numbers of the baseline's values that no current value has, each
/// with the baseline's names for it, and buf's words for the deletion.
fn deleted_values(p: &Pair<Enum<'_>>) -> Vec<(i32, Vec<String>, String)> {
    let current = by_number(&p.cur);
    by_number(&p.old)
        .into_iter()
        .filter(|(number, _)| !current.contains_key(number))
        .map(|(number, names)| {
            let what =
                format!("Previously present enum value \"{number}\" on enum {} was deleted", q(p.cur.proto.name()));
            (number, names.into_iter().map(|(n, _)| n).collect(), what)
        })
        .collect()
}

pub(super) fn enum_value_no_delete(_: &Ctx<'_>, p: &Pair<Enum<'_>>, out: &mut Out<'_>) {
    for (_, _, what) in deleted_values(p) {
        out.emit(here(&p.cur), format!("{what}."));
    }
}

pub(super) fn enum_value_no_delete_unless_number_reserved(_: &Ctx<'_>, p: &Pair<Enum<'_>>, out: &mut Out<'_>) {
    for (number, _, what) in deleted_values(p) {
        if !in_ranges(number, p.cur.proto.reserved_range.iter().map(|r| (r.start(), r.end()))) {
            out.emit(here(&p.cur), format!("{what} without reserving the number \"{number}\"."));
        }
    }
}

pub(super) fn enum_value_no_delete_unless_name_reserved(_: &Ctx<'_>, p: &Pair<Enum<'_>>, out: &mut Out<'_>) {
    for (_, names, what) in deleted_values(p) {
        if !names.iter().all(|n| p.cur.proto.reserved_name.contains(n)) {
            let s = if names.len() > 1 { "s" } else { "" };
            let quoted: Vec<String> = names.iter().map(q).collect();
            out.emit(here(&p.cur), format!("{what} without reserving the name{s} {}.", quoted.join(", ")));
        }
    }
}

/// Every name a number had must survive (aliases may be added).
pub(super) fn enum_value_same_name(_: &Ctx<'_>, p: &Pair<Enum<'_>>, out: &mut Out<'_>) {
    let e = &p.cur;
    let current = by_number(e);
    for (number, was) in by_number(&p.old) {
        let Some(names) = current.get(&number) else { continue };
        let now: BTreeSet<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        if was.iter().all(|(n, _)| now.contains(n.as_str())) {
            continue;
        }
        let quote = |v: &[(String, usize)]| {
            let mut s: Vec<String> = v.iter().map(|(n, _)| q(n)).collect();
            s.sort();
            s.join(", ")
        };
        let s = if was.len() > 1 && names.len() > 1 { "s" } else { "" };
        let what = format!(
            "Enum value \"{number}\" on enum {} changed name{s} from {} to {}.",
            q(e.proto.name()),
            quote(&was),
            quote(names)
        );
        for (_, idx) in names {
            let value = sub(&e.path, &[num::ENUM_VALUE, *idx as i32]);
            out.emit(Loc::at(e.file, vec![sub(&value, &[num::ENUM_VALUE_NUMBER]), value]), what.clone());
        }
    }
}

/// Reserved ranges (end inclusive in enums) and names.
pub(super) fn reserved_enum_no_delete(_: &Ctx<'_>, p: &Pair<Enum<'_>>, out: &mut Out<'_>) {
    let (e, name) = (&p.cur, p.cur.proto.name());
    let ranges: Vec<(i32, i32)> = e.proto.reserved_range.iter().map(|r| (r.start(), r.end())).collect();
    for r in &p.old.proto.reserved_range {
        let range = (r.start(), r.end());
        let gaps = uncovered(range.0, range.1, &ranges);
        if !gaps.is_empty() {
            out.emit(
                here(e),
                format!(
                    "Previously present reserved range {} on enum {} is missing values: {} were removed.",
                    q(show_range(range)),
                    q(name),
                    show_ranges(&gaps)
                ),
            );
        }
    }
    for n in &p.old.proto.reserved_name {
        if !e.proto.reserved_name.contains(n) {
            out.emit(here(e), format!("Previously present reserved name {} on enum {} was deleted.", q(n), q(name)));
        }
    }
}
