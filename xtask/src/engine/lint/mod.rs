//! The lint rules engine: buf's lint rules on a descriptor set, selected
//! and waived as a buf configuration says ([`super::config`]), with
//! buf's rule ids, messages and positions.
//!
//! [`lint`] takes the files and a configuration and returns findings;
//! it knows nothing of flags, files on disk or exit codes (the `cargo
//! xtask lint` command, [`crate::lint`], does that). The rules
//! themselves, one small function each, are in [`rules`].

pub mod rules;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorProto;

use super::config::{Config, Section, Version};
use super::findings::{Finding, Span};
use super::toolkit::{full_name, position};
use crate::descriptors::locate;
use rules::{CATEGORIES, Ctx, Elements, Out, REGISTRY, Rule};

/// Every lint rule id, from the registry.
pub const RULES: &[&str] = &{
    let mut ids = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        ids[i] = REGISTRY[i].id;
        i += 1;
    }
    ids
};

/// Whether `rule` belongs to `category` under the configuration's
/// version (v1 leaves `PACKAGE_NO_IMPORT_CYCLE` uncategorized and has no
/// `FIELD_NOT_REQUIRED`; `DEFAULT` is v1's name for `STANDARD`).
fn in_category(rule: &Rule, category: &str, version: Version) -> bool {
    let category = if category == "DEFAULT" && version == Version::V1 { "STANDARD" } else { category };
    if version == Version::V1 && matches!(rule.id, "PACKAGE_NO_IMPORT_CYCLE" | "FIELD_NOT_REQUIRED") {
        return false;
    }
    rule.categories.contains(&category)
}

fn is_category(name: &str, version: Version) -> bool {
    CATEGORIES.contains(&name) || (name == "DEFAULT" && version == Version::V1)
}

/// Fails on a selector (in `use`, `except` or `ignore_only`) that names
/// neither a lint rule nor a category.
pub fn check_selectors(config: &Config) -> Result<()> {
    for (key, name) in config.lint.section.selectors() {
        if !is_category(name, config.version) && rules::rule(name).is_none() {
            bail!(
                "{}: lint.{key}: `{name}` is neither a lint rule nor a category ({})",
                config.source,
                CATEGORIES.join(", ")
            );
        }
    }
    Ok(())
}

fn selected_by(names: &[String], rule: &Rule, version: Version) -> bool {
    names.iter().any(|n| n == rule.id || in_category(rule, n, version))
}

/// The rules a configuration turns on: `use` less `except`.
pub fn selected(config: &Config) -> Vec<&'static Rule> {
    let s = &config.lint.section;
    REGISTRY
        .iter()
        .filter(|r| selected_by(&s.use_, r, config.version) && !selected_by(&s.except, r, config.version))
        .collect()
}

/// Lints the `own` files of a descriptor set (imports are context only)
/// under `config`: the engine, with no I/O. The files are borrowed, so
/// that they can be the pool's own (one copy of the source info).
pub fn lint<'a>(
    files: &'a [&'a FileDescriptorProto],
    own: &BTreeSet<String>,
    pool: Option<&DescriptorPool>,
    config: &Config,
) -> Vec<Finding> {
    let section = &config.lint.section;
    let mine: Vec<&FileDescriptorProto> = files
        .iter()
        .copied()
        .filter(|f| own.contains(f.name()) && !Section::matches(&section.ignore, f.name()))
        .collect();
    let mut types = BTreeMap::new();
    for &f in files {
        collect_types(f.package(), &f.message_type, &f.enum_type, f.name(), &mut types);
    }
    let ctx = Ctx { all: files, own: mine, types, pool, options: &config.lint.options };
    let elements = Elements::of(&ctx.own);
    let mut findings = Vec::new();
    for rule in selected(config) {
        let mut out = Out::default();
        rules::run(rule, &ctx, &elements, &mut out);
        let skip: Vec<&Vec<String>> = section
            .ignore_only
            .iter()
            .filter(|(k, _)| *k == rule.id || in_category(rule, k, config.version))
            .map(|(_, v)| v)
            .collect();
        for raw in out.found {
            if skip.iter().any(|paths| Section::matches(paths, raw.file.name())) {
                continue;
            }
            if config.lint.allow_comment_ignores && ignored(raw.file, &raw.element, rule.id) {
                continue;
            }
            let paths: Vec<&[i32]> = raw.paths.iter().map(Vec::as_slice).collect();
            let at = if paths.is_empty() { Span::default() } else { position(raw.file, &paths) };
            findings.push(Finding::new(rule.id, raw.file.name(), at, raw.message));
        }
    }
    findings.sort();
    findings.dedup();
    findings
}

fn collect_types<'a>(
    prefix: &str,
    msgs: &'a [prost_types::DescriptorProto],
    enums: &'a [prost_types::EnumDescriptorProto],
    file: &'a str,
    out: &mut BTreeMap<String, &'a str>,
) {
    for e in enums {
        out.insert(full_name(prefix, e.name()), file);
    }
    for m in msgs {
        let name = full_name(prefix, m.name());
        collect_types(&name, &m.nested_type, &m.enum_type, file, out);
        out.insert(name, file);
    }
}

/// Whether the element at `path`, or one of the elements that contain
/// it (its message, enum or service), carries a `buf:lint:ignore RULE`
/// leading comment: buf's way of waiving one rule for one element and
/// everything inside it.
fn ignored(file: &FileDescriptorProto, path: &[i32], rule: &str) -> bool {
    (2..=path.len()).step_by(2).any(|n| {
        locate(file, &path[..n]).leading_comments.lines().any(|line| {
            line.trim().strip_prefix("buf:lint:ignore").is_some_and(|rest| rest.split_whitespace().any(|id| id == rule))
        })
    })
}
