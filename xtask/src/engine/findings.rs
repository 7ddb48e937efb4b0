//! Findings of the proto rules: one finding type for the lint and the
//! breaking rules alike, positioned as buf positions them. Neither rule
//! set owns this module; both build findings here, and
//! [`super::output`] prints them.

use crate::descriptors::CompileError;
pub use crate::descriptors::Span;

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

impl From<&CompileError> for Finding {
    /// A proto that does not compile, as a [`COMPILE`] finding.
    fn from(e: &CompileError) -> Finding {
        Finding::new(COMPILE, e.path.clone(), e.at, e.message.clone())
    }
}
