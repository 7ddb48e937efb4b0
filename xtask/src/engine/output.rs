//! The formats a finding is printed in, the same set as buf's
//! `--error-format`: one line per finding (`path:line:col:message`, which
//! editors and CI problem matchers parse), JSON lines in buf's shape,
//! GitHub Actions workflow commands (annotations on the pull request), a
//! JUnit report and a GitLab Code Quality report.
//!
//! Paths are printed as the caller gives them plus a prefix, so that a
//! command can make them relative to where it runs; a finding without a
//! file (the file was deleted) prints as `<input>`, as buf's do.

use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha512};

use super::findings::Finding;

/// An output format, named as buf's `--error-format` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// `path:line:col:message`, one finding per line; an explanation, when
    /// the rule has one, follows on its own indented line.
    #[default]
    Text,
    /// One JSON object per line: `path`, `start_line`, `start_column`,
    /// `end_line`, `end_column`, `type`, `message`.
    Json,
    /// `::error file=..,line=..,col=..,endLine=..,endColumn=..::message`.
    GithubActions,
    /// A JUnit XML report: a test suite per file, a failed test case per
    /// finding.
    Junit,
    /// A GitLab Code Quality report (a JSON array).
    GitlabCodeQuality,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] =
        [Format::Text, Format::Json, Format::GithubActions, Format::Junit, Format::GitlabCodeQuality];

    /// buf's name for the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::GithubActions => "github-actions",
            Format::Junit => "junit",
            Format::GitlabCodeQuality => "gitlab-code-quality",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| format!("unknown format `{s}`"))
    }
}

/// Renders the findings in `format`, each path prefixed with `prefix`
/// (empty, or a directory ending in `/`).
pub fn render(findings: &[Finding], format: Format, prefix: &str) -> String {
    let path = |f: &Finding| if f.path.is_empty() { String::new() } else { format!("{prefix}{}", f.path) };
    match format {
        Format::Text => findings.iter().map(|f| text_line(f, &path(f), true)).collect(),
        Format::Json => findings.iter().map(|f| json_line(f, &path(f))).collect(),
        Format::GithubActions => findings.iter().map(|f| github_line(f, &path(f))).collect(),
        Format::Junit => junit(findings, &path),
        Format::GitlabCodeQuality => gitlab(findings, &path),
    }
}

/// `path:line:col:message` (buf's text form), plus the explanation on its
/// own line when asked.
fn text_line(f: &Finding, path: &str, explain: bool) -> String {
    let shown = if path.is_empty() { "<input>" } else { path };
    let mut s = format!("{shown}:{}:{}:{}\n", f.line, f.column, f.message);
    if explain && !f.explanation.is_empty() {
        let _ = writeln!(s, "    {}", f.explanation);
    }
    s
}

#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    path: &'a str,
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
    #[serde(rename = "type")]
    rule: &'a str,
    message: &'a str,
}

fn json_line(f: &Finding, path: &str) -> String {
    let line = JsonLine {
        path,
        start_line: f.line,
        start_column: f.column,
        end_line: f.end_line,
        end_column: f.end_column,
        rule: f.rule,
        message: &f.message,
    };
    // Plain strings and numbers: serialization cannot fail.
    let mut s = serde_json::to_string(&line).unwrap_or_default();
    s.push('\n');
    s
}

/// A workflow command, escaped as GitHub's toolkit escapes them: `%`, CR
/// and LF everywhere, and also `:` and `,` inside property values.
fn github_line(f: &Finding, path: &str) -> String {
    let data = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    if path.is_empty() {
        return format!("::error file=<input>::{}\n", data(&f.message));
    }
    format!(
        "::error file={},line={},col={},endLine={},endColumn={}::{}\n",
        property(path),
        f.line,
        f.column,
        f.end_line,
        f.end_column,
        data(&f.message)
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#xA;"),
            c => out.push(c),
        }
    }
    out
}

/// One `<testsuite>` per file (named by its path without `.proto`, in
/// the order of the findings), one failed `<testcase>` per finding, named
/// `RULE_LINE_COLUMN` (just `RULE` when there is no file).
fn junit(findings: &[Finding], path: &dyn Fn(&Finding) -> String) -> String {
    let mut suites: Vec<(String, Vec<&Finding>)> = Vec::new();
    for f in findings {
        let p = path(f);
        match suites.last_mut() {
            Some((last, group)) if *last == p => group.push(f),
            _ => suites.push((p, vec![f])),
        }
    }
    let mut out = String::from("<testsuites>\n");
    for (p, group) in suites {
        let name =
            if p.is_empty() { "<input>".to_string() } else { p.strip_suffix(".proto").unwrap_or(&p).to_string() };
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
            xml_escape(&name),
            group.len(),
            group.len()
        );
        for f in group {
            let case = if p.is_empty() { f.rule.to_string() } else { format!("{}_{}_{}", f.rule, f.line, f.column) };
            let message = text_line(f, &p, false);
            let _ = writeln!(out, "    <testcase name=\"{}\">", xml_escape(&case));
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{}\"></failure>",
                xml_escape(message.trim_end()),
                xml_escape(f.rule)
            );
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[derive(Serialize)]
struct CodeQuality<'a> {
    description: &'a str,
    check_name: &'a str,
    fingerprint: String,
    location: CodeQualityLocation<'a>,
    severity: &'static str,
}

#[derive(Serialize)]
struct CodeQualityLocation<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    path: &'a str,
    positions: CodeQualityPositions,
}

#[derive(Serialize)]
struct CodeQualityPositions {
    begin: CodeQualityPosition,
    end: CodeQualityPosition,
}

#[derive(Serialize)]
struct CodeQualityPosition {
    line: usize,
    column: usize,
}

/// GitLab's Code Quality report: a JSON array, each issue with a
/// fingerprint that is stable for the same finding at the same place.
fn gitlab(findings: &[Finding], path: &dyn Fn(&Finding) -> String) -> String {
    let paths: Vec<String> = findings.iter().map(path).collect();
    let issues: Vec<CodeQuality<'_>> = findings
        .iter()
        .zip(&paths)
        .map(|(f, p)| CodeQuality {
            description: &f.message,
            check_name: f.rule,
            fingerprint: hex::encode(Sha512::digest(text_line(f, p, false).as_bytes())),
            location: CodeQualityLocation {
                path: p,
                positions: CodeQualityPositions {
                    begin: CodeQualityPosition { line: f.line, column: f.column },
                    end: CodeQualityPosition { line: f.end_line, column: f.end_column },
                },
            },
            severity: "minor",
        })
        .collect();
    let mut s = serde_json::to_string(&issues).unwrap_or_else(|_| "[]".to_string());
    s.push('\n');
    s
}
