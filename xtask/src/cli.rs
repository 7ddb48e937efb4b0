//! What the `lint` and `breaking` commands share on the command line:
//! the outcome of a run and its verdict, the exit codes, the
//! `--error-format` flag, how an input error is reported, and paths shown
//! relative to where the command runs. The
//! rules engine ([`crate::engine`]) knows none of this.

use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::descriptors::CompileError;
use crate::engine::findings::Finding;
use crate::engine::output::{Format, render};

/// Exit code: clean (lint) or compatible (breaking).
pub const EXIT_OK: i32 = 0;
/// Exit code: at least one finding.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: a usage or input error (a flag, a configuration, a proto
/// that does not compile, an unreadable image).
pub const EXIT_ERROR: i32 = 2;

/// The exit code of a run's findings: [`EXIT_OK`] when none,
/// [`EXIT_FINDINGS`] otherwise.
pub fn exit_code(findings: &[Finding]) -> i32 {
    if findings.is_empty() { EXIT_OK } else { EXIT_FINDINGS }
}

/// What a `lint` or `breaking` run found: what it checked (`S`, which
/// words the verdict) and its findings.
#[derive(Debug, Clone)]
pub struct Outcome<S> {
    /// What was checked, and against what.
    pub scope: S,
    /// Findings, sorted as buf sorts them.
    pub findings: Vec<Finding>,
}

/// What a run checked, as its one-line verdict says it.
pub trait Scope {
    /// The verdict of a run without findings.
    fn clean(&self) -> String;
    /// The verdict of a run with findings; `counts` says how many in how
    /// many files (`2 findings in 1 file`).
    fn found(&self, counts: &str) -> String;
}

impl<S: Scope> Outcome<S> {
    /// The exit code the outcome maps to.
    pub fn exit_code(&self) -> i32 {
        exit_code(&self.findings)
    }

    /// The findings in `format`, each path prefixed with `prefix`.
    pub fn render(&self, format: Format, prefix: &str) -> String {
        render(&self.findings, format, prefix)
    }

    /// The one-line verdict printed after the findings (on stderr, so
    /// that the findings stay machine-readable).
    pub fn summary(&self) -> String {
        if self.findings.is_empty() {
            return self.scope.clean();
        }
        let counts =
            format!("{} in {}", plural(self.findings.len(), "finding"), plural(file_count(&self.findings), "file"));
        self.scope.found(&counts)
    }
}

/// The parser of `--error-format`: buf's format names.
pub fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::name)).try_map(|name| name.parse::<Format>())
}

/// Reports a command's error: a [`CompileError`] as a `COMPILE` finding
/// on stdout in `format`, plus the error on stderr; any other error on
/// stderr only. Returns [`EXIT_ERROR`].
pub fn report_error(e: &anyhow::Error, format: Format) -> i32 {
    if let Some(c) = e.chain().find_map(|c| c.downcast_ref::<CompileError>()) {
        print!("{}", render(&[Finding::from(c)], format, ""));
    }
    eprintln!("error: {e:#}");
    EXIT_ERROR
}

/// A directory given on the command line, as a prefix for the paths
/// printed under it: relative to the working directory when inside it
/// (empty for the working directory itself), as given otherwise.
pub fn display_prefix(dir: &Path) -> String {
    let cwd = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let rel: PathBuf = match cwd.as_deref().and_then(|c| canonical.strip_prefix(c).ok()) {
        Some(rel) => rel.to_path_buf(),
        None => dir.to_path_buf(),
    };
    let shown = rel.to_string_lossy().replace('\\', "/");
    if shown.is_empty() || shown == "." { String::new() } else { format!("{}/", shown.trim_end_matches('/')) }
}

/// How many distinct files the findings point into.
pub fn file_count(findings: &[Finding]) -> usize {
    let mut files: Vec<&str> = findings.iter().map(|f| f.path.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    files.len()
}

/// `1 finding` / `3 findings`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}
