//! The proto lint: a corpus of proto trees, each breaking the rules its
//! `expect` file lists (and no other), with snapshots of the text and JSON
//! output; and the real contract, which must pass.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};
use xtask::engine::lint::RULES;
use xtask::engine::output::Format;
use xtask::lint::{self, Args};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/lint")
}

fn expected(case: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(case.join("expect")).expect("every case has an expect file");
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

fn lint_case(case: &Path) -> lint::Outcome {
    // The corpus is linted as the repository lints itself: STANDARD and
    // COMMENTS, with comment ignores (v2), unless a case has a buf.yaml.
    let own = case.join("proto/buf.yaml").is_file();
    let config = (!own).then(|| r#"{"version":"v2","lint":{"use":["STANDARD","COMMENTS"]}}"#.to_string());
    let args = Args { proto_root: Some(case.join("proto")), config, error_format: Format::Text };
    let mut outcome = lint::run(case, &args).expect("the case compiles");
    outcome.scope.root = "proto".into();
    outcome
}

#[test]
fn corpus_cases_trigger_exactly_their_rules() {
    insta::glob!("corpus/lint/*/expect", |expect| {
        let case = expect.parent().expect("case directory");
        let outcome = lint_case(case);
        let fired: BTreeSet<String> = outcome.findings.iter().map(|f| f.rule.to_string()).collect();
        assert_eq!(fired, expected(case), "rules fired by case `{}`", case.display());
        assert_eq!(outcome.exit_code(), if fired.is_empty() { 0 } else { 1 });
        // Findings about a whole file are at 1:1, as buf puts them.
        let whole_file = ["FILE_LOWER_SNAKE_CASE", "SYNTAX_SPECIFIED", "PACKAGE_DEFINED"];
        for f in &outcome.findings {
            if whole_file.contains(&f.rule) {
                assert_eq!((f.line, f.column, f.end_line, f.end_column), (1, 1, 1, 1), "{f:?}");
            }
            assert!(f.line > 0 && f.column > 0, "{f:?}");
        }
        insta::assert_snapshot!("text", format!("{}{}\n", outcome.render(Format::Text, ""), outcome.summary()));
        insta::assert_snapshot!("json", outcome.render(Format::Json, ""));
    });
}

#[test]
fn every_rule_has_a_corpus_case() {
    let mut covered = BTreeSet::new();
    for entry in std::fs::read_dir(corpus()).expect("corpus exists") {
        covered.extend(expected(&entry.expect("entry").path()));
    }
    let missing: Vec<&str> = RULES.iter().copied().filter(|id| !covered.contains(*id)).collect();
    assert!(missing.is_empty(), "rules without a corpus case: {missing:?}");
    assert!(covered.iter().all(|id| RULES.contains(&id.as_str())), "expect files name unknown rules: {covered:?}");
}

#[test]
fn the_contract_passes_the_lint() {
    let root = xtask::paths::project_root();
    let outcome = lint::run(&root, &Args::default()).expect("the contract compiles");
    assert!(outcome.findings.is_empty(), "{}", outcome.render(Format::Text, ""));
    assert!(outcome.scope.files >= 7);
    lint::gate(&root).expect("the lint gate passes");
}

#[test]
fn the_command_exits_0_clean_1_findings_2_input_error() {
    let sh = Shell::new().expect("shell");
    let bin = env!("CARGO_BIN_EXE_xtask");
    let root = xtask::paths::project_root();
    let run = |proto: &Path, format: &str| {
        let config = r#"{"version":"v2","lint":{"use":["STANDARD","COMMENTS"]}}"#;
        let out = cmd!(sh, "{bin} --root {root} lint --proto-root {proto} --config {config} --error-format {format}")
            .ignore_status()
            .quiet()
            .output()
            .expect("xtask runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&root.join("proto"), "text");
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.starts_with("lint: clean ("), "{stderr}");

    let (code, stdout, _) = run(&corpus().join("service_suffix/proto"), "json");
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("a JSON line");
    assert_eq!(json["type"], "SERVICE_SUFFIX");
    assert!(json["path"].as_str().is_some_and(|p| p.ends_with("service_suffix/proto/corpus/v1/a.proto")), "{json}");

    let broken = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(broken.path().join("x/v1")).expect("mkdir");
    std::fs::write(
        broken.path().join("x/v1/x.proto"),
        "syntax = \"proto3\";\npackage x.v1;\nmessage X {\n  strin a = 1;\n}\n",
    )
    .expect("write");
    let (code, stdout, stderr) = run(broken.path(), "text");
    assert_eq!(code, 2);
    assert!(stderr.contains("x/v1/x.proto:4:"), "{stderr}");
    assert!(stdout.contains("x/v1/x.proto:4:"), "the compile error is a finding: {stdout}");
    let (code, stdout, _) = run(broken.path(), "github-actions");
    assert_eq!(code, 2);
    assert!(stdout.starts_with("::error file=") && stdout.contains("x/v1/x.proto,line=4,"), "{stdout}");
}
