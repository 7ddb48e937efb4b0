//! `cargo xtask lint`: buf's lint rules on a proto tree, configured as
//! buf configures them (`buf.yaml`, see [`crate::config`]), with buf's
//! rule ids, messages and positions.
//!
//! The engine ([`lint`]) takes a descriptor set and a configuration and
//! returns findings; it knows nothing of flags, files or exit codes. The
//! command ([`main`]) loads the tree and the configuration, runs the
//! engine and prints the findings in the chosen format
//! ([`crate::findings`]). Like the breaking gate it reads the compiled
//! descriptor set (protox) and never re-parses proto text.

pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorProto;

use crate::config::{self, Config, Section, Version};
use crate::descriptors::{Compiled, compile_tree, locate};
use crate::findings::{self, EXIT_ERROR, Finding, Format, Span};
use crate::paths::PROTO_DIR;
use rules::{CATEGORIES, Ctx, Elements, Out, REGISTRY, Rule};

pub use crate::toolkit::{has_version_suffix, to_lower_snake, to_pascal, to_upper_snake};

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

/// Flags of `cargo xtask lint`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// The proto tree to lint; default: `proto/`.
    #[arg(long, value_name = "DIR")]
    pub proto_root: Option<PathBuf>,
    /// The buf configuration: a `buf.yaml` file, or its contents as YAML
    /// or JSON; default: the `buf.yaml` (or `buf.work.yaml`) found from
    /// the proto root upwards, else buf's defaults.
    #[arg(long, value_name = "FILE|DATA")]
    pub config: Option<String>,
    /// Output format.
    #[arg(long, alias = "format", value_enum, default_value_t = Format::Text)]
    pub error_format: Format,
}

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
    let s = &config.lint.section;
    for (key, name) in s
        .use_
        .iter()
        .map(|n| ("use", n))
        .chain(s.except.iter().map(|n| ("except", n)))
        .chain(s.ignore_only.keys().map(|n| ("ignore_only", n)))
    {
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
/// under `config`: the engine, with no I/O.
pub fn lint(
    files: &[FileDescriptorProto],
    own: &BTreeSet<String>,
    pool: Option<&DescriptorPool>,
    config: &Config,
) -> Vec<Finding> {
    let section = &config.lint.section;
    let mine: Vec<&FileDescriptorProto> =
        files.iter().filter(|f| own.contains(f.name()) && !Section::matches(&section.ignore, f.name())).collect();
    let mut types = BTreeMap::new();
    for f in files {
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
            let at = if paths.is_empty() { Span::default() } else { crate::toolkit::position(raw.file, &paths) };
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
        out.insert(crate::toolkit::full_name(prefix, e.name()), file);
    }
    for m in msgs {
        let name = crate::toolkit::full_name(prefix, m.name());
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

/// What a lint run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The proto root's label.
    pub root: String,
    /// How many files were linted.
    pub files: usize,
    /// How many rules were run.
    pub rules: usize,
    /// Findings, sorted as buf sorts them.
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// The exit code the outcome maps to.
    pub fn exit_code(&self) -> i32 {
        findings::exit_code(&self.findings)
    }

    /// The findings in `format`, each path prefixed with `prefix`.
    pub fn render(&self, format: Format, prefix: &str) -> String {
        findings::render(&self.findings, format, prefix)
    }

    /// The one-line verdict printed after the findings (on stderr, so
    /// that the findings stay machine-readable).
    pub fn summary(&self) -> String {
        if self.findings.is_empty() {
            format!(
                "lint: clean ({} checked against {})",
                findings::plural(self.files, "file"),
                findings::plural(self.rules, "rule")
            )
        } else {
            format!(
                "lint: {} in {} of {}",
                findings::plural(self.findings.len(), "finding"),
                findings::plural(findings::file_count(&self.findings), "file"),
                self.root
            )
        }
    }
}

/// Runs the lint from the command line: prints the findings (stdout) and
/// the verdict (stderr) and returns the exit code: 0 clean, 1 findings,
/// 2 input error. A proto that does not compile is printed as a
/// `COMPILE` finding in the chosen format.
pub fn main(root: &Path, args: &Args) -> i32 {
    let proto_root = args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR));
    let prefix = crate::descriptors::display_prefix(&proto_root);
    match run(root, args) {
        Ok(outcome) => {
            print!("{}", outcome.render(args.error_format, &prefix));
            eprintln!("{}", outcome.summary());
            outcome.exit_code()
        }
        Err(e) => crate::descriptors::report_error(
            &crate::descriptors::relabel(e, &prefix, None),
            args.error_format,
            EXIT_ERROR,
        ),
    }
}

/// The lint as CI runs it: `proto/` with the repository's `buf.yaml`,
/// failing on any finding.
pub fn gate(root: &Path) -> Result<()> {
    let outcome = run(root, &Args::default())?;
    if !outcome.findings.is_empty() {
        bail!(
            "{}{}\nfix the protos as each finding says (see docs/compatibility.md)",
            outcome.render(Format::Text, &format!("{PROTO_DIR}/")),
            outcome.summary()
        );
    }
    println!("{}", outcome.summary());
    Ok(())
}

/// Loads the configuration, compiles the tree and lints it.
pub fn run(root: &Path, args: &Args) -> Result<Outcome> {
    let proto_root = args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR));
    let config = config::load(&proto_root, args.config.as_deref())?;
    let compiled = compile_tree(&proto_root, &config.excludes)?;
    Ok(lint_compiled(&compiled, &config, proto_root.display().to_string()))
}

/// Lints a compiled tree.
pub fn lint_compiled(compiled: &Compiled, config: &Config, root: String) -> Outcome {
    let own: BTreeSet<String> = compiled.files.iter().cloned().collect();
    let findings = lint(&compiled.set.file, &own, Some(&compiled.pool), config);
    Outcome { root, files: own.len(), rules: selected(config).len(), findings }
}
