//! Findings and how they are printed: grouped text for people, a JSON
//! list for tools. Shared by the breaking gate and the lint.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// Which tree a finding's position points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The tree being checked (`--proto-root`).
    Current,
    /// The baseline; used for elements that no longer exist.
    Baseline,
}

/// One rule violation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The proto file, relative to its proto root.
    pub path: String,
    /// 1-based line of the element; 0 when the finding concerns the whole
    /// file (its name, a missing statement) or the file has no source info.
    pub line: usize,
    /// 1-based column of the element (0 when unknown).
    pub column: usize,
    /// The rule id, as buf names the same check.
    pub rule: &'static str,
    /// What changed, and which clients it breaks.
    pub message: String,
    /// The categories the rule belongs to.
    pub category: Vec<&'static str>,
    /// Which tree `path`, `line` and `column` refer to.
    pub side: Side,
}

/// Output format of the gates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Findings grouped by file, then a one-line verdict.
    #[default]
    Text,
    /// A JSON array of findings.
    Json,
}

/// A finding as JSON shows it: the rule first.
#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    path: &'a str,
    line: usize,
    column: usize,
    message: &'a str,
    category: &'a [&'static str],
    side: Side,
}

/// Renders findings as a pretty JSON array (with a trailing newline):
/// `rule`, `path`, `line`, `column`, `message`, `category`, `side`.
pub fn render_json(findings: &[Finding]) -> String {
    let view: Vec<JsonFinding<'_>> = findings
        .iter()
        .map(|f| JsonFinding {
            rule: f.rule,
            path: &f.path,
            line: f.line,
            column: f.column,
            message: &f.message,
            category: &f.category,
            side: f.side,
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&view).unwrap_or_else(|_| "[]".to_string());
    s.push('\n');
    s
}

/// Renders findings grouped by file (sorted by position), without the
/// verdict line.
pub fn render_text(findings: &[Finding]) -> String {
    let mut by_file: BTreeMap<(&str, Side), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_file.entry((f.path.as_str(), f.side)).or_default().push(f);
    }
    let mut out = String::new();
    for ((path, side), mut group) in by_file {
        group.sort();
        let suffix = match side {
            Side::Current => "",
            Side::Baseline => " (baseline)",
        };
        let _ = writeln!(out, "{path}{suffix}");
        for f in group {
            let at = if f.line == 0 { "-".to_string() } else { format!("{}:{}", f.line, f.column) };
            let _ = writeln!(out, "  {at}  {}  {}", f.rule, f.message);
        }
        out.push('\n');
    }
    out
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

/// The whole output of a gate in `format`: the JSON array, or the findings
/// grouped by file followed by `verdict` (one line, newline added).
pub fn render(findings: &[Finding], format: super::Format, verdict: &str) -> String {
    match format {
        super::Format::Json => render_json(findings),
        super::Format::Text => format!("{}{verdict}
", render_text(findings)),
    }
}

/// The exit code of a gate's findings: 0 when none, 1 otherwise.
pub fn exit_code(findings: &[Finding]) -> i32 {
    if findings.is_empty() { super::EXIT_OK } else { super::EXIT_FINDINGS }
}
