//! The breaking rules engine: compares a current tree with a baseline
//! under buf's breaking rules, as a buf configuration selects them
//! ([`super::config`]), and returns buf's findings.
//!
//! [`model`] indexes one side by the keys buf pairs elements with,
//! `check` pairs them and reports every rule a change violates,
//! [`rules`] is the registry (ids, categories, why a violation breaks
//! clients). No flags, printing or exit codes here: the `cargo xtask
//! breaking` command ([`crate::breaking`]) does that.

mod check;
pub mod context;
mod enums;
mod fields;
mod files;
mod messages;
pub mod model;
pub mod rules;
mod services;

use std::collections::BTreeSet;

use anyhow::{Result, bail};

pub use rules::{ALL_RULES, Category, Rule};

use super::config::{Config, Section, Version};
use super::findings::Finding;
use super::input::Tree;
use super::toolkit::has_version_suffix;

/// The rules buf added with configuration v2: a v1 configuration's
/// categories do not include them, and a v1 file cannot name them.
const V2_ONLY: &[&str] = &["EXTENSION_NO_DELETE", "FIELD_SAME_DEFAULT", "PACKAGE_EXTENSION_NO_DELETE"];

fn in_version(rule: &Rule, version: Version) -> bool {
    version == Version::V2 || !V2_ONLY.contains(&rule.id)
}

/// Fails on a selector (in `use`, `except` or `ignore_only`) that names
/// neither a breaking rule (of the configuration's version) nor a
/// category.
pub fn check_selectors(config: &Config) -> Result<()> {
    for (key, name) in config.breaking.section.selectors() {
        let known = ALL_RULES
            .iter()
            .any(|r| (r.id == name && in_version(r, config.version)) || r.categories.contains(&name.as_str()));
        if !known {
            bail!(
                "{}: breaking.{key}: `{name}` is neither a breaking rule nor a category (FILE, PACKAGE, WIRE_JSON, WIRE)",
                config.source
            );
        }
    }
    Ok(())
}

fn selected_by(names: &[String], rule: &Rule, version: Version) -> bool {
    in_version(rule, version) && names.iter().any(|n| n == rule.id || rule.categories.contains(&n.as_str()))
}

/// Whether a package's last component is an unstable version
/// (`v1alpha1`, `v1beta`, `v1test`, `v1p1alpha`), which
/// `ignore_unstable_packages` leaves out.
pub fn is_unstable_package(pkg: &str) -> bool {
    let last = pkg.rsplit('.').next().unwrap_or(pkg);
    has_version_suffix(pkg) && (last.contains("alpha") || last.contains("beta") || last.contains("test"))
}

/// Compares two trees under a configuration: its rules (or those of
/// `category` instead), less the files it ignores. Findings are sorted as
/// buf sorts them.
pub fn compare(current: &Tree, baseline: &Tree, config: &Config, category: Option<Category>) -> Vec<Finding> {
    let b = &config.breaking;
    // Ignored files (and unstable packages) leave both sides before the
    // comparison, as buf filters its images; the copy is made only then.
    let keep = |tree: &Tree| -> Tree {
        let own: BTreeSet<String> = tree
            .own
            .iter()
            .filter(|name| !Section::matches(&b.section.ignore, name))
            .filter(|name| {
                !b.ignore_unstable_packages
                    || !tree.files.iter().any(|f| f.name() == name.as_str() && is_unstable_package(f.package()))
            })
            .cloned()
            .collect();
        Tree { label: tree.label.clone(), files: tree.files.clone(), own, features: tree.features.clone() }
    };
    let (use_, except) = match category {
        Some(c) => (vec![c.as_str().to_string()], Vec::new()),
        None => (b.section.use_.clone(), b.section.except.clone()),
    };
    let v = config.version;
    let selected = ALL_RULES.iter().filter(|r| selected_by(&use_, r, v) && !selected_by(&except, r, v));
    let found = if b.section.ignore.is_empty() && !b.ignore_unstable_packages {
        check::run(current, baseline, selected)
    } else {
        check::run(&keep(current), &keep(baseline), selected)
    };
    found
        .into_iter()
        .filter(|f| {
            !b.section.ignore_only.iter().any(|(k, paths)| {
                rules::rule(f.rule).is_some_and(|r| selected_by(std::slice::from_ref(k), r, v))
                    && Section::matches(paths, &f.path)
            })
        })
        .collect()
}

/// Every finding of every rule, whatever its category or configuration,
/// sorted.
pub fn all_findings(current: &Tree, baseline: &Tree) -> Vec<Finding> {
    check::run(current, baseline, ALL_RULES)
}
