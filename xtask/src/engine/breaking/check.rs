//! The comparison itself: pairs the elements of the two sides the way buf
//! does (files by path, messages, enums and services by full name, fields
//! by number, enum values by number, RPCs by name, extensions by extendee
//! and number), and reports every rule the change violates.

use std::collections::{BTreeMap, BTreeSet};

use prost_types::FileDescriptorProto;
use prost_types::field_descriptor_proto::{Label, Type};

use super::model::{self, Enum, Field, Index, Msg, Syntax, oneof_of, real_oneof};
use super::rules::{self as r, Rule};
use crate::engine::findings::{Finding, Span};
use crate::engine::input::Tree;
use crate::engine::toolkit::{FILE_OPTIONS, full_name, num, position, q, sub};

/// Compares `current` against `baseline` and returns every finding of
/// every rule (unfiltered, sorted as buf sorts them).
pub(crate) fn compare(current: &Tree, baseline: &Tree) -> Vec<Finding> {
    let cur = Index::new(current);
    let old = Index::new(baseline);
    let mut c = Checker { cur: &cur, old: &old, out: Vec::new() };
    c.files();
    c.packages();
    c.enums();
    c.messages();
    c.fields();
    c.extensions();
    c.services();
    c.out.sort();
    c.out.dedup();
    c.out
}

struct Checker<'i, 'a> {
    cur: &'i Index<'a>,
    old: &'i Index<'a>,
    out: Vec<Finding>,
}

/// Where a finding points, always into the current tree as buf points:
/// a file and candidate source paths (the first that has a location
/// wins; none, or none located, is the whole file at 1:1), or no file at
/// all when the element's file no longer exists.
struct Loc<'p> {
    file: Option<&'p FileDescriptorProto>,
    paths: Vec<Vec<i32>>,
}

fn cur<'p>(file: &'p FileDescriptorProto, paths: Vec<Vec<i32>>) -> Loc<'p> {
    Loc { file: Some(file), paths }
}

impl<'a> Checker<'_, 'a> {
    /// Where buf reports an element of the baseline that is gone: at its
    /// parent message in the current tree when that is still in the same
    /// file, else at the top of the current file of the same name, else
    /// (the file is gone too) nowhere.
    fn gone(&self, file: &str, pkg: &str, nested: &str) -> Loc<'a> {
        if let Some((parent, _)) = nested.rsplit_once('.')
            && let Some(m) = self.cur.messages.get(&full_name(pkg, parent))
            && m.file.name() == file
        {
            return cur(m.file, vec![m.path.clone()]);
        }
        Loc { file: self.cur.files.get(file).copied(), paths: Vec::new() }
    }
}

impl Checker<'_, '_> {
    fn emit(&mut self, rule: &Rule, loc: Loc<'_>, what: String) {
        let finding = match loc.file {
            Some(file) => {
                let paths: Vec<&[i32]> = loc.paths.iter().map(Vec::as_slice).collect();
                Finding::new(rule.id, file.name(), position(file, &paths), what)
            }
            None => Finding::new(rule.id, "", Span::default(), what),
        };
        self.out.push(finding.explained(rule.why));
    }

    // ---------------------------------------------------------------- files

    fn files(&mut self) {
        for (name, prev) in &self.old.files {
            let Some(file) = self.cur.files.get(name).copied() else {
                self.emit(
                    &r::FILE_NO_DELETE,
                    Loc { file: None, paths: Vec::new() },
                    format!("Previously present file {} was deleted.", q(name)),
                );
                continue;
            };
            self.file_pair(file, prev);
        }
    }

    fn file_pair(&mut self, file: &FileDescriptorProto, prev: &FileDescriptorProto) {
        // Element deletions within the file (FILE category: moving an
        // element to another file breaks generated imports).
        let nested = |f: &FileDescriptorProto,
                      ix: &Index<'_>|
         -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
            let msgs = ix.messages.values().filter(|m| m.file.name() == f.name()).map(|m| m.nested.clone()).collect();
            let enums = ix.enums.values().filter(|e| e.file.name() == f.name()).map(|e| e.nested.clone()).collect();
            let svcs = f.service.iter().map(|s| s.name().to_string()).collect();
            let exts = ix.extensions.values().filter(|x| x.file.name() == f.name()).map(|x| x.nested.clone()).collect();
            (msgs, enums, svcs, exts)
        };
        let (cm, ce, cs, cx) = nested(file, self.cur);
        let old_msgs: Vec<Msg<'_>> =
            self.old.messages.values().filter(|m| m.file.name() == prev.name()).cloned().collect();
        for m in old_msgs {
            if !cm.contains(&m.nested) {
                self.emit(
                    &r::MESSAGE_NO_DELETE,
                    self.gone(prev.name(), prev.package(), &m.nested),
                    format!("Previously present message {} was deleted from file.", q(&m.nested)),
                );
            }
        }
        let old_enums: Vec<Enum<'_>> =
            self.old.enums.values().filter(|e| e.file.name() == prev.name()).cloned().collect();
        for e in old_enums {
            if !ce.contains(&e.nested) {
                self.emit(
                    &r::ENUM_NO_DELETE,
                    self.gone(prev.name(), prev.package(), &e.nested),
                    format!("Previously present enum {} was deleted from file.", q(&e.nested)),
                );
            }
        }
        for s in &prev.service {
            if !cs.contains(s.name()) {
                self.emit(
                    &r::SERVICE_NO_DELETE,
                    self.gone(prev.name(), prev.package(), s.name()),
                    format!("Previously present service {} was deleted from file.", q(s.name())),
                );
            }
        }
        let old_exts: Vec<Field<'_>> =
            self.old.extensions.values().filter(|x| x.file.name() == prev.name()).cloned().collect();
        for x in old_exts {
            if !cx.contains(&x.nested) {
                self.emit(
                    &r::EXTENSION_NO_DELETE,
                    self.gone(prev.name(), prev.package(), &x.nested),
                    format!("Previously present extension {} was deleted from file.", q(&x.nested)),
                );
            }
        }

        // File options.
        let option_rules: [&Rule; 16] = [
            &r::FILE_SAME_CC_ENABLE_ARENAS,
            &r::FILE_SAME_CC_GENERIC_SERVICES,
            &r::FILE_SAME_CSHARP_NAMESPACE,
            &r::FILE_SAME_GO_PACKAGE,
            &r::FILE_SAME_JAVA_GENERIC_SERVICES,
            &r::FILE_SAME_JAVA_MULTIPLE_FILES,
            &r::FILE_SAME_JAVA_OUTER_CLASSNAME,
            &r::FILE_SAME_JAVA_PACKAGE,
            &r::FILE_SAME_OBJC_CLASS_PREFIX,
            &r::FILE_SAME_OPTIMIZE_FOR,
            &r::FILE_SAME_PHP_CLASS_PREFIX,
            &r::FILE_SAME_PHP_METADATA_NAMESPACE,
            &r::FILE_SAME_PHP_NAMESPACE,
            &r::FILE_SAME_PY_GENERIC_SERVICES,
            &r::FILE_SAME_RUBY_PACKAGE,
            &r::FILE_SAME_SWIFT_PREFIX,
        ];
        for (rule, option) in option_rules.into_iter().zip(FILE_OPTIONS) {
            let (before, after) = (option.effective(prev), option.effective(file));
            if before != after {
                // The option's statement, or (removed) the whole file, as buf.
                let at = cur(file, vec![vec![num::FILE_OPTIONS, option.number]]);
                self.emit(
                    rule,
                    at,
                    format!("File option {} changed from {} to {}.", q(option.name), q(before), q(after)),
                );
            }
        }
        let (sb, sa) = (Syntax::of(prev).name(), Syntax::of(file).name());
        if sb != sa {
            self.emit(
                &r::FILE_SAME_SYNTAX,
                cur(file, vec![vec![12], vec![]]),
                format!("File syntax changed from {} to {}.", q(sb), q(sa)),
            );
        }
        if prev.package() != file.package() {
            self.emit(
                &r::FILE_SAME_PACKAGE,
                cur(file, vec![vec![2], vec![]]),
                format!("File package changed from {} to {}.", q(prev.package()), q(file.package())),
            );
        }
    }

    // ------------------------------------------------------------- packages

    fn packages(&mut self) {
        let pkgs = |ix: &Index<'_>| ix.files.values().map(|f| f.package().to_string()).collect::<BTreeSet<_>>();
        let (cur_pkgs, old_pkgs) = (pkgs(self.cur), pkgs(self.old));
        for p in old_pkgs.difference(&cur_pkgs) {
            let first = self.old.files.values().find(|f| f.package() == p).copied();
            if let Some(f) = first {
                let _ = f;
                self.emit(
                    &r::PACKAGE_NO_DELETE,
                    Loc { file: None, paths: Vec::new() },
                    format!("Previously present package {} was deleted.", q(p)),
                );
            }
        }
        let surviving = |p: &str| cur_pkgs.contains(p);
        let old_msgs: Vec<Msg<'_>> = self.old.messages.values().cloned().collect();
        for m in old_msgs {
            let pkg = m.file.package();
            if surviving(pkg) && !self.cur.messages.contains_key(&full_name(pkg, &m.nested)) {
                self.emit(
                    &r::PACKAGE_MESSAGE_NO_DELETE,
                    self.gone(m.file.name(), pkg, &m.nested),
                    format!("Previously present message {} was deleted from package {}.", q(&m.nested), q(pkg)),
                );
            }
        }
        let old_enums: Vec<Enum<'_>> = self.old.enums.values().cloned().collect();
        for e in old_enums {
            let pkg = e.file.package();
            if surviving(pkg) && !self.cur.enums.contains_key(&full_name(pkg, &e.nested)) {
                self.emit(
                    &r::PACKAGE_ENUM_NO_DELETE,
                    self.gone(e.file.name(), pkg, &e.nested),
                    format!("Previously present enum {} was deleted from package {}.", q(&e.nested), q(pkg)),
                );
            }
        }
        let old_svcs: Vec<_> = self.old.services.iter().map(|(k, s)| (k.clone(), s.clone())).collect();
        for (full, s) in old_svcs {
            let pkg = s.file.package();
            if surviving(pkg) && !self.cur.services.contains_key(&full) {
                self.emit(
                    &r::PACKAGE_SERVICE_NO_DELETE,
                    self.gone(s.file.name(), pkg, s.proto.name()),
                    format!("Previously present service {} was deleted from package {}.", q(s.proto.name()), q(pkg)),
                );
            }
        }
        let cur_exts: BTreeSet<String> =
            self.cur.extensions.values().map(|x| full_name(x.file.package(), &x.nested)).collect();
        let old_exts: Vec<Field<'_>> = self.old.extensions.values().cloned().collect();
        for x in old_exts {
            let pkg = x.file.package();
            if surviving(pkg) && !cur_exts.contains(&full_name(pkg, &x.nested)) {
                self.emit(
                    &r::PACKAGE_EXTENSION_NO_DELETE,
                    self.gone(x.file.name(), pkg, &x.nested),
                    format!("Previously present extension {} was deleted from package {}.", q(&x.nested), q(pkg)),
                );
            }
        }
    }

    // ---------------------------------------------------------------- enums

    fn enums(&mut self) {
        let pairs: Vec<(Enum<'_>, Enum<'_>)> =
            self.old.enums.iter().filter_map(|(k, p)| self.cur.enums.get(k).map(|c| (c.clone(), p.clone()))).collect();
        for (e, p) in pairs {
            self.enum_pair(&e, &p);
        }
    }

    fn enum_pair(&mut self, e: &Enum<'_>, p: &Enum<'_>) {
        let name = e.proto.name();
        // Open (proto3, editions) versus closed (proto2).
        let closed = |s: Syntax| s == Syntax::Proto2;
        let (pc, cc) = (closed(Syntax::of(p.file)), closed(Syntax::of(e.file)));
        if pc != cc {
            let (a, b) = if cc { ("open", "closed") } else { ("closed", "open") };
            self.emit(
                &r::ENUM_SAME_TYPE,
                cur(e.file, vec![e.path.clone()]),
                format!("Enum {} changed from {a} to {b}.", q(name)),
            );
        }
        // JSON format: proto2 enums are LEGACY_BEST_EFFORT, the others ALLOW.
        if !closed(Syntax::of(p.file)) && closed(Syntax::of(e.file)) {
            self.emit(
                &r::ENUM_SAME_JSON_FORMAT,
                cur(e.file, vec![e.path.clone()]),
                format!("Enum {} JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.", q(name)),
            );
        }

        let by_number = |en: &Enum<'_>| {
            let mut m: BTreeMap<i32, Vec<(String, usize)>> = BTreeMap::new();
            for (i, v) in en.proto.value.iter().enumerate() {
                m.entry(v.number()).or_default().push((v.name().to_string(), i));
            }
            m
        };
        let (cv, pv) = (by_number(e), by_number(p));
        for (number, prev_names) in &pv {
            match cv.get(number) {
                None => {
                    let what = format!("Previously present enum value \"{number}\" on enum {} was deleted", q(name));
                    let loc = || cur(e.file, vec![e.path.clone()]);
                    self.emit(&r::ENUM_VALUE_NO_DELETE, loc(), format!("{what}."));
                    if !in_ranges(*number, e.proto.reserved_range.iter().map(|r| (r.start(), r.end()))) {
                        self.emit(
                            &r::ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED,
                            loc(),
                            format!("{what} without reserving the number \"{number}\"."),
                        );
                    }
                    if !prev_names.iter().all(|(n, _)| e.proto.reserved_name.contains(n)) {
                        let names: Vec<String> = prev_names.iter().map(|(n, _)| q(n)).collect();
                        let s = if names.len() > 1 { "s" } else { "" };
                        self.emit(
                            &r::ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED,
                            loc(),
                            format!("{what} without reserving the name{s} {}.", names.join(", ")),
                        );
                    }
                }
                Some(names) => {
                    // Every previous name must survive (aliases may be added).
                    let current: BTreeSet<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
                    if !prev_names.iter().all(|(n, _)| current.contains(n.as_str())) {
                        let quote = |v: &Vec<(String, usize)>| {
                            let mut s: Vec<String> = v.iter().map(|(n, _)| q(n)).collect();
                            s.sort();
                            s.join(", ")
                        };
                        let s = if prev_names.len() > 1 && names.len() > 1 { "s" } else { "" };
                        let what = format!(
                            "Enum value \"{number}\" on enum {} changed name{s} from {} to {}.",
                            q(name),
                            quote(prev_names),
                            quote(names)
                        );
                        for (_, idx) in names {
                            let idx = *idx as i32;
                            self.emit(
                                &r::ENUM_VALUE_SAME_NAME,
                                cur(e.file, vec![sub(&e.path, &[2, idx, 2]), sub(&e.path, &[2, idx])]),
                                what.clone(),
                            );
                        }
                    }
                }
            }
        }

        // Reserved ranges (end inclusive in enums) and names.
        let prev_ranges: Vec<(i32, i32)> = p.proto.reserved_range.iter().map(|r| (r.start(), r.end())).collect();
        let ranges: Vec<(i32, i32)> = e.proto.reserved_range.iter().map(|r| (r.start(), r.end())).collect();
        for (s, t) in prev_ranges {
            if !range_covered(s, t, &ranges) {
                self.emit(
                    &r::RESERVED_ENUM_NO_DELETE,
                    cur(e.file, vec![e.path.clone()]),
                    format!("Previously present reserved range \"[{s}, {t}]\" on enum {} is missing.", q(name)),
                );
            }
        }
        for n in &p.proto.reserved_name {
            if !e.proto.reserved_name.contains(n) {
                self.emit(
                    &r::RESERVED_ENUM_NO_DELETE,
                    cur(e.file, vec![e.path.clone()]),
                    format!("Previously present reserved name {} on enum {} was deleted.", q(n), q(name)),
                );
            }
        }
    }

    // ------------------------------------------------------------- messages

    fn messages(&mut self) {
        let pairs: Vec<(Msg<'_>, Msg<'_>)> = self
            .old
            .messages
            .iter()
            .filter_map(|(k, p)| self.cur.messages.get(k).map(|c| (c.clone(), p.clone())))
            .collect();
        for (m, p) in pairs {
            self.message_pair(&m, &p);
        }
    }

    fn message_pair(&mut self, m: &Msg<'_>, p: &Msg<'_>) {
        let name = m.proto.name();
        let here = |extra: &[i32]| cur(m.file, vec![sub(&m.path, extra), sub(&m.path, &[1]), m.path.clone()]);
        let fields = Index::fields_of(m);
        let prev_fields = Index::fields_of(p);

        for (number, pf) in &prev_fields {
            if fields.contains_key(number) {
                continue;
            }
            let what = format!(
                "Previously present field \"{number}\" with name {} on message {} was deleted",
                q(pf.proto.name()),
                q(name)
            );
            let gone = || cur(m.file, vec![m.path.clone()]);
            self.emit(&r::FIELD_NO_DELETE, gone(), format!("{what}."));
            if !in_ranges(*number, m.proto.reserved_range.iter().map(|r| (r.start(), r.end() - 1))) {
                self.emit(
                    &r::FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED,
                    gone(),
                    format!("{what} without reserving the number \"{number}\"."),
                );
            }
            if !m.proto.reserved_name.iter().any(|n| n == pf.proto.name()) {
                self.emit(
                    &r::FIELD_NO_DELETE_UNLESS_NAME_RESERVED,
                    gone(),
                    format!("{what} without reserving the name {}.", q(pf.proto.name())),
                );
            }
        }

        // Oneofs (synthetic ones of proto3 `optional` are presence, not oneofs).
        let names = |d: &prost_types::DescriptorProto| -> BTreeMap<String, usize> {
            d.oneof_decl
                .iter()
                .enumerate()
                .filter(|(i, _)| real_oneof(d, *i as i32))
                .map(|(i, o)| (o.name().to_string(), i))
                .collect()
        };
        let cur_oneofs = names(m.proto);
        for o in names(p.proto).into_keys() {
            if !cur_oneofs.contains_key(&o) {
                self.emit(
                    &r::ONEOF_NO_DELETE,
                    cur(m.file, vec![m.path.clone()]),
                    format!("Previously present oneof {} on message {} was deleted.", q(&o), q(name)),
                );
            }
        }

        // Reserved ranges (end exclusive in messages) and names.
        let ranges: Vec<(i32, i32)> = m.proto.reserved_range.iter().map(|r| (r.start(), r.end() - 1)).collect();
        for r in &p.proto.reserved_range {
            let (s, t) = (r.start(), r.end() - 1);
            if !range_covered(s, t, &ranges) {
                self.emit(
                    &r::RESERVED_MESSAGE_NO_DELETE,
                    cur(m.file, vec![m.path.clone()]),
                    format!("Previously present reserved range \"[{s}, {t}]\" on message {} is missing.", q(name)),
                );
            }
        }
        for n in &p.proto.reserved_name {
            if !m.proto.reserved_name.contains(n) {
                self.emit(
                    &r::RESERVED_MESSAGE_NO_DELETE,
                    cur(m.file, vec![m.path.clone()]),
                    format!("Previously present reserved name {} on message {} was deleted.", q(n), q(name)),
                );
            }
        }
        let ext: Vec<(i32, i32)> = m.proto.extension_range.iter().map(|r| (r.start(), r.end() - 1)).collect();
        for r in &p.proto.extension_range {
            let (s, t) = (r.start(), r.end() - 1);
            if !range_covered(s, t, &ext) {
                self.emit(
                    &r::EXTENSION_MESSAGE_NO_DELETE,
                    cur(m.file, vec![m.path.clone()]),
                    format!("Previously present extension range \"[{s}, {t}]\" on message {} is missing.", q(name)),
                );
            }
        }

        // Message options.
        let nsda =
            |d: &prost_types::DescriptorProto| d.options.as_ref().is_some_and(|o| o.no_standard_descriptor_accessor());
        if !nsda(p.proto) && nsda(m.proto) {
            self.emit(
                &r::MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR,
                here(&[7, 2]),
                "Message option \"no_standard_descriptor_accessor\" changed from \"false\" to \"true\".".to_string(),
            );
        }
        if Syntax::of(p.file) != Syntax::Proto2 && Syntax::of(m.file) == Syntax::Proto2 {
            self.emit(
                &r::MESSAGE_SAME_JSON_FORMAT,
                cur(m.file, vec![m.path.clone()]),
                format!("Message {} JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.", q(name)),
            );
        }

        // Required fields.
        let required = |f: &BTreeMap<i32, Field<'_>>| -> BTreeSet<i32> {
            f.iter().filter(|(_, x)| x.proto.label() == Label::Required).map(|(n, _)| *n).collect()
        };
        let (rc, rp) = (required(&fields), required(&prev_fields));
        for n in rp.difference(&rc) {
            self.emit(&r::MESSAGE_SAME_REQUIRED_FIELDS, cur(m.file, vec![m.path.clone()]), format!("Message {} had required field \"{n}\" deleted. Required fields must always be sent, so if one side does not know about the required field, this will result in a breakage.", q(name)));
        }
        for n in rc.difference(&rp) {
            if let Some(f) = fields.get(n) {
                self.emit(&r::MESSAGE_SAME_REQUIRED_FIELDS, cur(f.file, vec![f.path.clone()]), format!("Message {} had required field \"{n}\" added. Required fields must always be sent, so if one side does not know about the required field, this will result in a breakage.", q(name)));
            }
        }
    }

    // --------------------------------------------------------------- fields

    fn fields(&mut self) {
        let mut pairs: Vec<(Field<'_>, Field<'_>)> = Vec::new();
        for (k, p) in &self.old.messages {
            let Some(m) = self.cur.messages.get(k) else { continue };
            let fields = Index::fields_of(m);
            for (n, pf) in Index::fields_of(p) {
                if let Some(f) = fields.get(&n) {
                    pairs.push((f.clone(), pf));
                }
            }
        }
        for (f, p) in pairs {
            self.field_pair(&f, &p);
        }
    }

    fn extensions(&mut self) {
        let pairs: Vec<(Field<'_>, Field<'_>)> = self
            .old
            .extensions
            .iter()
            .filter_map(|(k, p)| self.cur.extensions.get(k).map(|c| (c.clone(), p.clone())))
            .collect();
        for (f, p) in pairs {
            self.field_pair(&f, &p);
        }
    }

    fn field_pair(&mut self, f: &Field<'_>, p: &Field<'_>) {
        let is_ext = f.proto.extendee.is_some();
        let desc = describe(f, true);
        let at = |tail: &[&[i32]]| {
            let mut paths: Vec<Vec<i32>> = tail.iter().map(|t| sub(&f.path, t)).collect();
            paths.push(f.path.clone());
            cur(f.file, paths)
        };
        let in_map_entry = |x: &Field<'_>| x.parent.and_then(|m| m.options.as_ref()).is_some_and(|o| o.map_entry());
        let map_entries = in_map_entry(f) && in_map_entry(p);

        // Cardinality.
        if !map_entries {
            let (cc, pc) = (self.cur.cardinality(f), self.old.cardinality(p));
            let what = format!("{desc} changed cardinality from {} to {}.", q(pc.name()), q(cc.name()));
            if cc != pc {
                self.emit(&r::FIELD_SAME_CARDINALITY, at(&[]), what.clone());
            }
            if cc.wire_group() != pc.wire_group() {
                self.emit(&r::FIELD_WIRE_COMPATIBLE_CARDINALITY, at(&[]), what.clone());
            }
            if cc.wire_json_group() != pc.wire_json_group() {
                self.emit(&r::FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY, at(&[]), what);
            }
        }

        // Type.
        let (ct, pt) = (f.proto.r#type(), p.proto.r#type());
        let named = |t: Type| matches!(t, Type::Message | Type::Enum | Type::Group);
        let type_loc = |t: Type| if named(t) { at(&[&[6], &[5]]) } else { at(&[&[5], &[6]]) };
        let (ctn, ptn) = (f.proto.type_name().trim_start_matches('.'), p.proto.type_name().trim_start_matches('.'));
        let changed_kind =
            format!("{desc} changed type from {} to {}.", q(model::type_name(pt)), q(model::type_name(ct)));
        let changed_name = format!("{desc} changed type from {} to {}.", q(ptn), q(ctn));
        if ct != pt {
            self.emit(&r::FIELD_SAME_TYPE, type_loc(ct), changed_kind.clone());
        } else if named(ct) && ctn != ptn {
            self.emit(&r::FIELD_SAME_TYPE, type_loc(ct), changed_name.clone());
        }
        if model::wire_group(ct) != model::wire_group(pt) {
            if !(pt == Type::String && ct == Type::Bytes) {
                let extra = if pt == Type::Bytes && ct == Type::String {
                    " Note that while string and bytes are compatible if the data is valid UTF-8, there is no way to enforce that a bytes field is UTF-8, so these fields may be incompatible."
                } else {
                    ""
                };
                self.emit(&r::FIELD_WIRE_COMPATIBLE_TYPE, type_loc(ct), format!("{} See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules.{extra}", changed_kind.trim_end()));
            }
        } else if ctn != ptn && named(ct) && self.named_type_incompatible(ct, ctn, ptn) {
            self.emit(&r::FIELD_WIRE_COMPATIBLE_TYPE, type_loc(ct), format!("{changed_name} See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules."));
        }
        if model::wire_json_group(ct) != model::wire_json_group(pt) {
            self.emit(&r::FIELD_WIRE_JSON_COMPATIBLE_TYPE, type_loc(ct), format!("{changed_kind} See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules and https://developers.google.com/protocol-buffers/docs/proto3#json for JSON compatibility rules."));
        } else if ctn != ptn && named(ct) && self.named_type_incompatible(ct, ctn, ptn) {
            self.emit(&r::FIELD_WIRE_JSON_COMPATIBLE_TYPE, type_loc(ct), format!("{changed_name} See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules and https://developers.google.com/protocol-buffers/docs/proto3#json for JSON compatibility rules."));
        }

        // Names.
        if !is_ext {
            let (cj, pj) = (model::json_name(f.proto), model::json_name(p.proto));
            if cj != pj {
                self.emit(
                    &r::FIELD_SAME_JSON_NAME,
                    at(&[&[10]]),
                    format!("{desc} changed option \"json_name\" from {} to {}.", q(pj), q(cj)),
                );
            }
        }
        let (cn, pn) = if is_ext {
            (full_name(f.file.package(), &f.nested), full_name(p.file.package(), &p.nested))
        } else {
            (f.proto.name().to_string(), p.proto.name().to_string())
        };
        if cn != pn {
            self.emit(
                &r::FIELD_SAME_NAME,
                at(&[&[1]]),
                format!("{} changed name from {} to {}.", describe(f, false), q(pn), q(cn)),
            );
        }

        // Oneof membership.
        if !is_ext {
            match (oneof_of(p), oneof_of(f)) {
                (None, None) => {}
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => self.emit(
                    &r::FIELD_SAME_ONEOF,
                    at(&[]),
                    format!("{desc} moved from oneof {} to oneof {}.", q(a), q(b)),
                ),
                (Some(_), None) => {
                    self.emit(&r::FIELD_SAME_ONEOF, at(&[]), format!("{desc} moved from inside to outside a oneof."))
                }
                (None, Some(_)) => {
                    self.emit(&r::FIELD_SAME_ONEOF, at(&[]), format!("{desc} moved from outside to inside a oneof."))
                }
            }
        }

        // Options that change generated code or validation.
        let (co, po) = (f.proto.options.clone().unwrap_or_default(), p.proto.options.clone().unwrap_or_default());
        let stringy = |t: Type| matches!(t, Type::String | Type::Bytes);
        if !map_entries && stringy(ct) && stringy(pt) {
            let (a, b) = (po.ctype().as_str_name(), co.ctype().as_str_name());
            if a != b && !(a == "STRING_PIECE" && b == "STRING") {
                self.emit(
                    &r::FIELD_SAME_CPP_STRING_TYPE,
                    at(&[&[8, 1]]),
                    format!("{desc} changed C++ string type from {} to {}.", q(a), q(b)),
                );
            }
        }
        if ct == Type::String && pt == Type::String {
            let utf8 = |file: &FileDescriptorProto| if Syntax::of(file) == Syntax::Proto2 { "NONE" } else { "VERIFY" };
            let (a, b) = (utf8(p.file), utf8(f.file));
            if a != b {
                self.emit(
                    &r::FIELD_SAME_UTF8_VALIDATION,
                    at(&[]),
                    format!("{desc} changed UTF8 validation from {a} to {b}."),
                );
            }
            let java = |file: &FileDescriptorProto| {
                if file.options.as_ref().is_some_and(|o| o.java_string_check_utf8()) { "VERIFY" } else { utf8(file) }
            };
            let (a, b) = (java(p.file), java(f.file));
            if a != b {
                self.emit(
                    &r::FIELD_SAME_JAVA_UTF8_VALIDATION,
                    cur(f.file, vec![vec![num::FILE_OPTIONS, 27], f.path.clone()]),
                    format!("{desc} changed Java string UTF8 validation from {} to {}.", q(a), q(b)),
                );
            }
        }
        let is64 = |t: Type| matches!(t, Type::Int64 | Type::Sint64 | Type::Uint64 | Type::Fixed64 | Type::Sfixed64);
        if is64(ct) && is64(pt) && co.jstype() != po.jstype() {
            self.emit(
                &r::FIELD_SAME_JSTYPE,
                at(&[&[8, 6]]),
                format!(
                    "{desc} changed option \"jstype\" from {} to {}.",
                    q(po.jstype().as_str_name()),
                    q(co.jstype().as_str_name())
                ),
            );
        }

        // Defaults (explicit proto2 defaults; proto3 fields default to zero).
        let can_default = |x: &Field<'_>| {
            x.proto.label() != Label::Repeated && !matches!(x.proto.r#type(), Type::Message | Type::Group)
        };
        if can_default(f) && can_default(p) {
            let (a, b) = (self.old.default_of(p), self.cur.default_of(f));
            if a != b {
                self.emit(
                    &r::FIELD_SAME_DEFAULT,
                    at(&[&[7]]),
                    format!(
                        "{desc} changed default value from {} to {}.",
                        a.unwrap_or_else(|| "zero".into()),
                        b.unwrap_or_else(|| "zero".into())
                    ),
                );
            }
        }
    }

    /// For fields of the same kind whose type name changed: whether the
    /// new type cannot stand in for the old one on the wire. Enums can, if
    /// they share their short name and the old values are a subset of the
    /// new ones; messages and groups never.
    fn named_type_incompatible(&self, t: Type, cur_name: &str, old_name: &str) -> bool {
        if t != Type::Enum {
            return true;
        }
        let (Some(c), Some(p)) = (self.cur.all_enums.get(cur_name), self.old.all_enums.get(old_name)) else {
            return true;
        };
        if c.name() != p.name() {
            return true;
        }
        !p.value.iter().all(|pv| c.value.iter().any(|cv| cv.name() == pv.name() && cv.number() == pv.number()))
    }

    // ------------------------------------------------------------- services

    fn services(&mut self) {
        let pairs: Vec<_> = self
            .old
            .services
            .iter()
            .filter_map(|(k, p)| self.cur.services.get(k).map(|c| (c.clone(), p.clone())))
            .collect();
        for (s, p) in pairs {
            let sname = s.proto.name();
            let methods: BTreeMap<&str, (usize, &prost_types::MethodDescriptorProto)> =
                s.proto.method.iter().enumerate().map(|(i, m)| (m.name(), (i, m))).collect();
            for pm in &p.proto.method {
                let Some(&(i, m)) = methods.get(pm.name()) else {
                    self.emit(
                        &r::RPC_NO_DELETE,
                        cur(s.file, vec![s.path.clone()]),
                        format!("Previously present RPC {} on service {} was deleted.", q(pm.name()), q(sname)),
                    );
                    continue;
                };
                let mpath = sub(&s.path, &[2, i as i32]);
                let at = |tail: &[i32]| cur(s.file, vec![sub(&mpath, tail), mpath.clone()]);
                let rpc = format!("RPC {} on service {}", q(m.name()), q(sname));
                let streaming = |b: bool| if b { "streaming" } else { "unary" };
                if pm.client_streaming() != m.client_streaming() {
                    self.emit(
                        &r::RPC_SAME_CLIENT_STREAMING,
                        at(&[]),
                        format!(
                            "{rpc} changed from client {} to client {}.",
                            streaming(pm.client_streaming()),
                            streaming(m.client_streaming())
                        ),
                    );
                }
                if pm.server_streaming() != m.server_streaming() {
                    self.emit(
                        &r::RPC_SAME_SERVER_STREAMING,
                        at(&[]),
                        format!(
                            "{rpc} changed from server {} to server {}.",
                            streaming(pm.server_streaming()),
                            streaming(m.server_streaming())
                        ),
                    );
                }
                let level = |x: &prost_types::MethodDescriptorProto| {
                    x.options.as_ref().map_or(prost_types::method_options::IdempotencyLevel::IdempotencyUnknown, |o| {
                        o.idempotency_level()
                    })
                };
                if level(pm) != level(m) {
                    self.emit(
                        &r::RPC_SAME_IDEMPOTENCY_LEVEL,
                        at(&[4, 34]),
                        format!(
                            "{rpc} changed option \"idempotency_level\" from {} to {}.",
                            q(level(pm).as_str_name()),
                            q(level(m).as_str_name())
                        ),
                    );
                }
                let tn = |s: &str| s.trim_start_matches('.').to_string();
                if tn(pm.input_type()) != tn(m.input_type()) {
                    self.emit(
                        &r::RPC_SAME_REQUEST_TYPE,
                        at(&[2]),
                        format!(
                            "{rpc} changed request type from {} to {}.",
                            q(tn(pm.input_type())),
                            q(tn(m.input_type()))
                        ),
                    );
                }
                if tn(pm.output_type()) != tn(m.output_type()) {
                    self.emit(
                        &r::RPC_SAME_RESPONSE_TYPE,
                        at(&[3]),
                        format!(
                            "{rpc} changed response type from {} to {}.",
                            q(tn(pm.output_type())),
                            q(tn(m.output_type()))
                        ),
                    );
                }
            }
        }
    }
}

impl Index<'_> {
    /// A singular field's default as text, `None` for the zero value.
    fn default_of(&self, f: &Field<'_>) -> Option<String> {
        let t = f.proto.r#type();
        let explicit = f.proto.default_value.clone().filter(|d| !d.is_empty());
        if t == Type::Enum {
            // An enum's implicit default is its first value.
            let first = self
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
}

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

/// Whether `n` falls in any inclusive range.
fn in_ranges(n: i32, ranges: impl IntoIterator<Item = (i32, i32)>) -> bool {
    ranges.into_iter().any(|(s, t)| s <= n && n <= t)
}

/// Whether the inclusive range `[s, t]` is covered by the union of `ranges`.
fn range_covered(s: i32, t: i32, ranges: &[(i32, i32)]) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut next = i64::from(s);
    for (a, b) in sorted {
        if i64::from(a) > next {
            continue;
        }
        if i64::from(b) >= next {
            next = i64::from(b) + 1;
        }
        if next > i64::from(t) {
            return true;
        }
    }
    next > i64::from(t)
}

#[cfg(test)]
mod tests {
    use super::range_covered;

    #[test]
    fn ranges_cover_by_union() {
        assert!(range_covered(5, 10, &[(1, 7), (8, 12)]));
        assert!(range_covered(5, 5, &[(5, 5)]));
        assert!(!range_covered(5, 10, &[(1, 7), (9, 12)]));
        assert!(!range_covered(5, 10, &[]));
        assert!(range_covered(1, 536_870_911, &[(1, 536_870_911)]));
    }
}
