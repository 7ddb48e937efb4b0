//! Findings of the proto gates and what a gate's run maps to: one finding
//! type for the lint and the breaking gate alike, the exit codes both
//! commands share, and (in [`output`]) every format a finding is printed
//! in. Neither gate owns this module; both build findings and hand them
//! here.

pub mod output;

pub use output::{Format, render};

/// Exit code: clean (lint) or compatible (breaking).
pub const EXIT_OK: i32 = 0;
/// Exit code: at least one finding.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: a usage or input error (a flag, a configuration, a proto
/// that does not compile, an unreadable image).
pub const EXIT_ERROR: i32 = 2;

/// The rule id of a finding that reports a proto which does not compile,
/// as buf names it.
pub const COMPILE: &str = "COMPILE";

/// One rule violation, positioned as buf positions it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The proto file, relative to its proto root; empty when the finding
    /// concerns a file that no longer exists (buf prints `<input>`).
    pub path: String,
    /// 1-based line of the element's start; 1 for a finding about the
    /// whole file.
    pub line: usize,
    /// 1-based column of the element's start.
    pub column: usize,
    /// 1-based line of the element's end.
    pub end_line: usize,
    /// 1-based column just past the element's end.
    pub end_column: usize,
    /// The rule id, as buf names the same check.
    pub rule: &'static str,
    /// buf's message for the same finding, word for word.
    pub message: String,
    /// Why the rule matters; printed on a line of its own in text output
    /// only, so that every other format carries buf's message unchanged.
    pub explanation: &'static str,
}

impl Finding {
    /// A finding at the position `at` (1-based; an unknown position,
    /// 0:0, is taken as the whole file, 1:1 as buf does).
    pub fn new(rule: &'static str, path: impl Into<String>, at: Span, message: String) -> Finding {
        let (line, column) = if at.line == 0 { (1, 1) } else { (at.line, at.column.max(1)) };
        let (end_line, end_column) = if at.end_line == 0 { (line, column) } else { (at.end_line, at.end_column) };
        Finding { path: path.into(), line, column, end_line, end_column, rule, message, explanation: "" }
    }

    /// The same finding with an explanation.
    pub fn explained(mut self, why: &'static str) -> Finding {
        self.explanation = why;
        self
    }
}

/// A start and end position, 1-based; all 0 when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// Start line.
    pub line: usize,
    /// Start column.
    pub column: usize,
    /// End line.
    pub end_line: usize,
    /// End column (exclusive).
    pub end_column: usize,
}

impl From<&crate::descriptors::Located> for Span {
    fn from(l: &crate::descriptors::Located) -> Span {
        Span { line: l.line, column: l.column, end_line: l.end_line, end_column: l.end_column }
    }
}

/// The exit code of a run's findings: [`EXIT_OK`] when none,
/// [`EXIT_FINDINGS`] otherwise.
pub fn exit_code(findings: &[Finding]) -> i32 {
    if findings.is_empty() { EXIT_OK } else { EXIT_FINDINGS }
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
