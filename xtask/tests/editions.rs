//! The breaking gate on editions images: rules that depend on what a
//! file means (presence, open or closed enums, UTF-8 validation, JSON
//! format) read the resolved features, so a move between proto3, proto2
//! and edition 2023 is judged as buf judges it. Both sides are images
//! built by buf from `corpus/editions/` (its README says how), and buf's
//! findings on them are recorded beside them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xtask::breaking::{self, Args};
use xtask::engine::output::Format;

const ALL_CATEGORIES: &str = r#"{"version":"v1","breaking":{"use":["FILE","PACKAGE","WIRE_JSON","WIRE"]}}"#;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/editions")
}

/// Findings as comparable JSON values, one per line of buf's JSON shape.
fn lines(json_lines: &str) -> BTreeSet<String> {
    json_lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line").to_string())
        .collect()
}

fn compare(current: &str, against: &str) -> breaking::Outcome {
    let args = Args {
        image: Some(corpus().join(current)),
        against: Some(corpus().join(against)),
        config: Some(ALL_CATEGORIES.into()),
        error_format: Format::Json,
        ..Args::default()
    };
    breaking::run(&corpus(), &args).expect("both images load")
}

fn recorded(name: &str) -> BTreeSet<String> {
    lines(&std::fs::read_to_string(corpus().join(name)).expect("buf's recorded findings"))
}

#[test]
fn moving_to_edition_2023_is_judged_by_resolved_features_as_buf_judges_it() {
    let outcome = compare("after.binpb", "before.binpb");
    let ours = lines(&outcome.render(Format::Json, ""));
    assert_eq!(ours, recorded("buf-after-against-before.json"));
    // The findings that only resolved features explain are among them:
    // an enum closed by `features.enum_type`, a message that inherits
    // `json_format` from the message around it, a file-wide
    // `utf8_validation` reaching a map's key and value.
    let rules: BTreeSet<&str> = outcome.findings.iter().map(|f| f.rule).collect();
    for rule in ["ENUM_SAME_TYPE", "ENUM_SAME_JSON_FORMAT", "MESSAGE_SAME_JSON_FORMAT", "FIELD_SAME_UTF8_VALIDATION"] {
        assert!(rules.contains(rule), "{rule} among {rules:?}");
    }
    assert!(
        outcome.findings.iter().any(|f| f.message.contains("\"Inner\" JSON format")),
        "a nested message inherits its JSON format: {:?}",
        outcome.findings
    );
    // proto2 restated as features (b.proto's B.r, B.s, B.p) changes nothing
    // but the syntax; B.q's presence does change.
    let b: Vec<&str> =
        outcome.findings.iter().filter(|f| f.path == "ed/v1/b.proto").map(|f| f.message.as_str()).collect();
    assert!(!b.iter().any(|m| m.contains("\"r\"") || m.contains("\"s\"") || m.contains("\"p\"")), "{b:?}");
    assert!(b.iter().any(|m| m.contains("\"q\"") && m.contains("cardinality")), "{b:?}");
}

#[test]
fn moving_back_from_edition_2023_agrees_with_buf_too() {
    let outcome = compare("before.binpb", "after.binpb");
    assert_eq!(lines(&outcome.render(Format::Json, "")), recorded("buf-before-against-after.json"));
}

#[test]
fn an_editions_image_against_itself_is_compatible() {
    let outcome = compare("after.binpb", "after.binpb");
    assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
    assert_eq!(outcome.exit_code(), xtask::cli::EXIT_OK);
}

#[test]
fn an_image_without_its_imports_is_refused() {
    use prost::Message as _;
    let bytes = std::fs::read(corpus().join("after.binpb")).expect("image");
    let mut set = prost_types::FileDescriptorSet::decode(bytes.as_slice()).expect("decodes");
    set.file[0].dependency.push("missing/dep.proto".into());
    let tmp = tempfile::tempdir().expect("tmp");
    let image = tmp.path().join("partial.binpb");
    std::fs::write(&image, set.encode_to_vec()).expect("write");
    let args = Args { image: Some(image), against: Some(corpus().join("before.binpb")), ..Args::default() };
    let e = breaking::run(tmp.path(), &args).expect_err("an import is missing");
    let shown = format!("{e:#}");
    assert!(shown.contains("imports `missing/dep.proto`, which the image does not contain"), "{shown}");
    assert!(shown.contains("current image"), "{shown}");
}
