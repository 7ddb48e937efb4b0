//! The engine's output formats, buf's own: text with explanations, JSON
//! lines, GitHub Actions commands, JUnit XML and GitLab Code Quality,
//! each escaped where its format needs it.

use xtask::engine::findings::{Finding, Span};
use xtask::engine::output::{Format, render};

fn sample() -> Vec<Finding> {
    let at = Span { line: 7, column: 1, end_line: 10, end_column: 2 };
    vec![
        Finding::new(
            "FILE_NO_DELETE",
            "",
            Span::default(),
            "Previously present file \"a/v1/b.proto\" was deleted.".into(),
        ),
        Finding::new("FIELD_NO_DELETE", "a/v1/a.proto", at, "Field \"2\" with name \"x,y\" was deleted: 100%.".into())
            .explained("Readers break."),
    ]
}

#[test]
fn text_is_one_line_per_finding_then_the_explanation() {
    assert_eq!(
        render(&sample(), Format::Text, "proto/"),
        "<input>:1:1:Previously present file \"a/v1/b.proto\" was deleted.\n\
         proto/a/v1/a.proto:7:1:Field \"2\" with name \"x,y\" was deleted: 100%.\n    Readers break.\n"
    );
}

#[test]
fn json_lines_have_buf_s_keys_and_end_positions() {
    let out = render(&sample(), Format::Json, "");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].get("path").is_none());
    assert_eq!(lines[1]["path"], "a/v1/a.proto");
    assert_eq!(
        (lines[1]["start_line"].as_u64(), lines[1]["end_line"].as_u64(), lines[1]["end_column"].as_u64()),
        (Some(7), Some(10), Some(2))
    );
    assert_eq!(lines[1]["type"], "FIELD_NO_DELETE");
    assert!(!out.contains("Readers break"), "explanations are for text output only");
}

#[test]
fn github_commands_escape_properties_and_data() {
    let out = render(&sample(), Format::GithubActions, "");
    assert_eq!(
        out,
        "::error file=<input>::Previously present file \"a/v1/b.proto\" was deleted.\n\
         ::error file=a/v1/a.proto,line=7,col=1,endLine=10,endColumn=2::Field \"2\" with name \"x,y\" was deleted: 100%25.\n"
    );
}

#[test]
fn junit_has_a_suite_per_file_and_escapes_xml() {
    let out = render(&sample(), Format::Junit, "");
    assert!(out.contains("<testsuite name=\"&lt;input&gt;\" tests=\"1\" failures=\"1\" errors=\"0\">"), "{out}");
    assert!(out.contains("<testcase name=\"FILE_NO_DELETE\">"), "{out}");
    assert!(out.contains("<testsuite name=\"a/v1/a\" tests=\"1\""), "{out}");
    assert!(out.contains("<testcase name=\"FIELD_NO_DELETE_7_1\">"), "{out}");
    assert!(out.contains("message=\"a/v1/a.proto:7:1:Field &#34;2&#34;"), "{out}");
    assert_eq!(render(&[], Format::Junit, ""), "<testsuites>\n</testsuites>\n");
}

#[test]
fn gitlab_issues_carry_positions_and_distinct_fingerprints() {
    let out = render(&sample(), Format::GitlabCodeQuality, "");
    let issues: serde_json::Value = serde_json::from_str(&out).expect("a JSON array");
    assert_eq!(issues[1]["location"]["positions"]["end"]["line"], 10);
    assert_eq!(issues[1]["check_name"], "FIELD_NO_DELETE");
    assert_eq!(issues[1]["severity"], "minor");
    assert_ne!(issues[0]["fingerprint"], issues[1]["fingerprint"]);
    assert_eq!(render(&[], Format::GitlabCodeQuality, ""), "[]\n");
}
