//! The gates configured as buf is configured: a small tree with findings
//! of many rules, run under `buf.yaml` variants (v1 and v2, categories and
//! single rules, `except`, `ignore`, `ignore_only`, the rule options,
//! comment ignores, unstable packages), each compared with what buf
//! reported on the same tree and configuration: same rule ids, paths,
//! positions and messages. buf's verdicts are recorded in
//! `corpus/config/buf-verdicts.json` by `corpus/config/capture.py`, so
//! the test does not need buf.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xtask::engine::input::load_dir;
use xtask::engine::output::{Format, render};
use xtask::{engine, lint};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/config")
}

fn verdicts() -> Value {
    let text = std::fs::read_to_string(corpus().join("buf-verdicts.json")).expect("the recorded verdicts");
    serde_json::from_str(&text).expect("valid JSON")
}

/// A finding as one comparable line of buf's JSON shape.
fn lines(json_lines: &str) -> BTreeSet<String> {
    json_lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line").to_string())
        .collect()
}

fn bufs(case: &Value) -> BTreeSet<String> {
    case["buf"].as_array().expect("buf's findings").iter().map(Value::to_string).collect()
}

#[test]
fn lint_agrees_with_buf_under_every_configuration() {
    let proto = corpus().join("lint/proto");
    let cases = verdicts();
    let cases = cases["lint"].as_array().expect("lint cases");
    assert!(cases.len() >= 9);
    let mut distinct = BTreeSet::new();
    for case in cases {
        let config = case["config"].to_string();
        let args =
            lint::Args { proto_root: Some(proto.clone()), config: Some(config.clone()), error_format: Format::Json };
        let outcome = lint::run(&proto, &args).expect("the tree compiles");
        let ours = lines(&outcome.render(Format::Json, ""));
        assert_eq!(ours, bufs(case), "lint findings under {config}");
        distinct.insert(ours);
    }
    // The variants do select different findings: each key is exercised.
    assert!(distinct.len() >= 6, "{} distinct outcomes", distinct.len());
}

#[test]
fn breaking_agrees_with_buf_under_every_configuration() {
    let (after, before) = (corpus().join("breaking/after"), corpus().join("breaking/before"));
    let current = load_dir(&after, "after").expect("after compiles");
    let baseline = load_dir(&before, "before").expect("before compiles");
    let cases = verdicts();
    let cases = cases["breaking"].as_array().expect("breaking cases");
    assert!(cases.len() >= 7);
    for case in cases {
        let config = engine::configuration(&after, Some(&case["config"].to_string())).expect("a valid configuration");
        let findings = engine::breaking::compare(&current, &baseline, &config, None);
        let ours = lines(&render(&findings, Format::Json, ""));
        assert_eq!(ours, bufs(case), "breaking findings under {}", case["config"]);
    }
}

#[test]
fn a_bad_configuration_is_an_input_error() {
    let proto = corpus().join("lint/proto");
    for (config, expected) in [
        (r#"{"version":"v1","lint":{"use":["NOT_A_RULE"]}}"#, "`NOT_A_RULE` is neither a lint rule nor a category"),
        (r#"{"version":"v1","breaking":{"except":["NOPE"]}}"#, "`NOPE` is neither a breaking rule nor a category"),
        (r#"{"version":"v1","lint":{"uses":["BASIC"]}}"#, "unknown field `uses`"),
        (r#"{"version":"v9"}"#, "unsupported version `v9`"),
    ] {
        let args =
            lint::Args { proto_root: Some(proto.clone()), config: Some(config.into()), error_format: Format::Text };
        let e = lint::run(&proto, &args).expect_err(config);
        assert!(format!("{e:#}").contains(expected), "{config}: {e:#}");
    }
}
