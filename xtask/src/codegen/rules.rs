//! The contract's rules: every normative sentence of the proto comments
//! and of the conformance script schema's descriptions ends with a marker
//! `[rule: group.name]`, and this module collects them (id, sentence,
//! element) into the `RULES` table of `contract.rs`, from which the
//! conformance suite builds its traceability matrix.
//!
//! A rule's sentence is the text before its marker, back to the previous
//! marker, the start of the paragraph, the start of the list item (`- `) or
//! the start of the comment, whichever is nearest. Its element is the proto
//! element the comment belongs to (a file's name for the comment above its
//! `syntax` line), or the schema file and the JSON Pointer of the object
//! whose `description` holds it.
//!
//! Ids are `group.name` (lowercase ASCII letters, digits and `_`, dotted),
//! unique across the contract. A malformed or repeated marker fails
//! generation with its file and line.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::{Result, bail};
use prost_reflect::DescriptorPool;

use crate::facts::PACKAGE;

/// The text that opens a marker.
pub const MARKER: &str = "[rule: ";

/// One rule of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// The stable id, `group.name`.
    pub id: String,
    /// The sentence the marker ends, on one line.
    pub text: String,
    /// The proto element (full name, or a file name) or schema location.
    pub element: String,
    /// The file the rule is stated in, relative to `proto/`.
    pub file: String,
}

/// Whether `id` is a well-formed rule id: two or more dotted parts, each
/// of lowercase ASCII letters, digits and `_`, the first starting with a
/// letter.
pub fn is_rule_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('.').collect();
    parts.len() >= 2
        && parts[0].bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

/// A marker found in a text: `(start, end, id)`, where `start..end` spans
/// the whole marker.
pub type Marker = (usize, usize, String);

/// Finds the markers of `text`. A `[rule` that does not form a
/// well-formed marker is an error naming its byte offset.
pub fn markers(text: &str) -> Result<Vec<Marker>, (usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("[rule") {
        let start = from + i;
        let rest = &text[start..];
        let Some(body) = rest.strip_prefix(MARKER) else {
            return Err((start, format!("a rule marker is written `{MARKER}group.name]`")));
        };
        let Some(close) = body.find(']') else {
            return Err((start, "the rule marker is not closed with `]`".into()));
        };
        let id = &body[..close];
        if !is_rule_id(id) {
            return Err((
                start,
                format!("`{id}` is not a rule id (`group.name`: lowercase letters, digits and `_`, dotted)"),
            ));
        }
        let end = start + MARKER.len() + close + 1;
        out.push((start, end, id.to_string()));
        from = end;
    }
    Ok(out)
}

/// The rules of one comment (or description): each marker's id with the
/// sentence before it.
pub fn rules_of(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    let mut prev_end = 0;
    for (start, end, id) in markers(text)? {
        let before = &text[..start];
        let paragraph = before.rfind("\n\n").map_or(0, |i| i + 2);
        let item = before.rfind("\n- ").map_or(0, |i| i + 1);
        let from = prev_end.max(paragraph).max(item);
        let sentence = one_line(text[from..start].trim_start_matches("- "));
        if sentence.is_empty() {
            return Err((start, format!("the marker of `{id}` follows no sentence")));
        }
        out.push((id, sentence));
        prev_end = end;
    }
    Ok(out)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The full name of every element of the contract's files, by file and
/// source path.
fn element_names(pool: &DescriptorPool) -> HashMap<(String, Vec<i32>), String> {
    let mut names = HashMap::new();
    let mut add = |file: &str, path: &[i32], name: &str| {
        names.insert((file.to_string(), path.to_vec()), name.to_string());
    };
    for m in pool.all_messages() {
        let file = m.parent_file().name().to_string();
        add(&file, m.path(), m.full_name());
        for f in m.fields() {
            add(&file, f.path(), f.full_name());
        }
        for o in m.oneofs() {
            add(&file, o.path(), o.full_name());
        }
    }
    for e in pool.all_enums() {
        let file = e.parent_file().name().to_string();
        add(&file, e.path(), e.full_name());
        for v in e.values() {
            add(&file, v.path(), v.full_name());
        }
    }
    for s in pool.services() {
        let file = s.parent_file().name().to_string();
        add(&file, s.path(), s.full_name());
        for m in s.methods() {
            add(&file, m.path(), m.full_name());
        }
    }
    for x in pool.all_extensions() {
        add(x.parent_file().name(), x.path(), x.full_name());
    }
    names
}

/// Collects the rules of the contract's proto files (in file order, then
/// source order) and of the conformance schema (`schema_name`, its text).
pub fn collect(pool: &DescriptorPool, schema_name: &str, schema: &str) -> Result<Vec<RuleRow>> {
    let names = element_names(pool);
    let mut found: Vec<((String, i32, i32, usize), RuleRow)> = Vec::new();
    for file in pool.files().filter(|f| f.package_name() == PACKAGE) {
        let proto = file.file_descriptor_proto();
        let Some(info) = &proto.source_code_info else { continue };
        for loc in &info.location {
            let comments = loc
                .leading_detached_comments
                .iter()
                .map(String::as_str)
                .chain([loc.leading_comments(), loc.trailing_comments()]);
            for (k, raw) in comments.enumerate() {
                let text = crate::descriptors::clean_comment(raw);
                if !text.contains("[rule") {
                    continue;
                }
                let element = names
                    .get(&(file.name().to_string(), loc.path.clone()))
                    .cloned()
                    .unwrap_or_else(|| file.name().to_string());
                let line = loc.span.first().copied().unwrap_or(0) + 1;
                let rules = rules_of(&text).map_err(|(_, why)| {
                    anyhow::anyhow!("{}:{line}: in the comment of `{element}`: {why}", file.name())
                })?;
                for (n, (id, sentence)) in rules.into_iter().enumerate() {
                    let order = (file.name().to_string(), loc.span.first().copied().unwrap_or(0), k as i32, n);
                    found.push((
                        order,
                        RuleRow { id, text: sentence, element: element.clone(), file: file.name().to_string() },
                    ));
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rows: Vec<RuleRow> = found.into_iter().map(|(_, r)| r).collect();
    let json: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| anyhow::anyhow!("`{schema_name}` is not valid JSON: {e}"))?;
    schema_rules(&json, "", schema_name, &mut rows)?;
    let mut seen: BTreeMap<&str, &RuleRow> = BTreeMap::new();
    for r in &rows {
        if let Some(first) = seen.insert(&r.id, r) {
            bail!(
                "the rule id `{}` is used twice: in `{}` ({}) and in `{}` ({}); every rule needs an id of its own",
                r.id,
                first.element,
                first.file,
                r.element,
                r.file
            );
        }
    }
    Ok(rows)
}

/// The rules of every `description` of a JSON Schema, depth first in the
/// document's key order.
fn schema_rules(value: &serde_json::Value, pointer: &str, file: &str, out: &mut Vec<RuleRow>) -> Result<()> {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(d)) = map.get("description") {
                let element = format!("{file}#{pointer}");
                let rules = rules_of(d).map_err(|(_, why)| anyhow::anyhow!("{element}: in its description: {why}"))?;
                for (id, text) in rules {
                    out.push(RuleRow { id, text, element: element.clone(), file: file.to_string() });
                }
            }
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                schema_rules(v, &format!("{pointer}/{escaped}"), file, out)?;
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                schema_rules(v, &format!("{pointer}/{i}"), file, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Renders the `RULES` table of `contract.rs`.
pub fn render(rows: &[RuleRow]) -> Result<String> {
    let mut s = String::new();
    writeln!(
        s,
        "/// One rule the contract states: a normative sentence of a proto comment
/// (or of the conformance schema) and the id its `[rule: ...]` marker gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSpec {{
    /// The stable id, `group.name`.
    pub id: &'static str,
    /// The sentence the marker ends, on one line (without the marker).
    pub text: &'static str,
    /// The proto element (full name, or the file's name for a file comment),
    /// or `conformance_script.schema.json#` and a JSON Pointer.
    pub element: &'static str,
    /// The file the rule is stated in, relative to `proto/`.
    pub file: &'static str,
}}
/// Every rule of the contract, file by file in source order.
pub const RULES: &[RuleSpec] = &["
    )?;
    for r in rows {
        writeln!(
            s,
            "RuleSpec {{ id: {:?}, text: {:?}, element: {:?}, file: {:?} }},",
            r.id, r.text, r.element, r.file
        )?;
    }
    writeln!(s, "];")?;
    Ok(s)
}
