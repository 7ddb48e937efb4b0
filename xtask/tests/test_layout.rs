//! Each crate builds its integration tests as one binary, `tests/main.rs`
//! with a module per file. Every test binary links the whole dependency
//! tree again, and one binary per file made compiling the tests take longer
//! than running them. The crates set `autotests = false`, so a file under
//! `tests/` is built only when `tests/main.rs` declares it: this fails,
//! naming the file, on one that is not, and on a crate with a second
//! test binary.

use std::path::Path;

use serde_json::Value;
use xshell::{Shell, cmd};

/// The files and folders of `tests` (a crate's `tests/` folder) that are
/// Rust modules but are not declared by `root`, the text of the test
/// binary's `main.rs` there.
fn undeclared(tests: &Path, root: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(tests).expect("the tests folder reads") {
        let path = entry.expect("the entry reads").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 file name").to_string();
        let module = if path.is_file() {
            match name.strip_suffix(".rs") {
                Some("main") | None => continue,
                Some(stem) => stem.to_string(),
            }
        } else if path.join("mod.rs").is_file() || path.join("main.rs").is_file() {
            name.clone()
        } else {
            continue; // fixtures, snapshots, corpora
        };
        if !root.lines().any(|l| l.trim() == format!("mod {module};")) {
            out.push(name);
        }
    }
    out.sort();
    out
}

#[test]
fn every_test_file_is_a_module_of_its_crate_s_one_test_binary() {
    let sh = Shell::new().expect("a shell");
    sh.change_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let metadata = cmd!(sh, "{cargo} metadata --locked --no-deps --format-version 1").quiet().read();
    let metadata: Value = serde_json::from_str(&metadata.expect("cargo metadata runs")).expect("cargo prints JSON");
    let mut problems = Vec::new();
    let packages = metadata["packages"].as_array().expect("a package list");
    assert!(packages.len() >= 6, "the workspace's packages are listed: {}", packages.len());
    for package in packages {
        let name = package["name"].as_str().expect("a package name");
        let manifest = Path::new(package["manifest_path"].as_str().expect("a manifest path"));
        let tests = manifest.parent().expect("a crate folder").join("tests");
        let binaries: Vec<&str> = package["targets"]
            .as_array()
            .expect("a target list")
            .iter()
            .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "test")))
            .map(|t| t["src_path"].as_str().expect("a source path"))
            .collect();
        match binaries.as_slice() {
            [] if tests.is_dir() => problems.push(format!("{name}: `tests/` builds no test binary")),
            [] => {}
            [root] if Path::new(root) == tests.join("main.rs") => {
                let text = std::fs::read_to_string(root).expect("the test binary's root reads");
                for file in undeclared(&tests, &text) {
                    problems.push(format!("{name}: `tests/{file}` is not declared (`mod ...;`) in `tests/main.rs`"));
                }
            }
            _ => problems.push(format!(
                "{name}: the integration tests are {binaries:?}, not one `tests/main.rs` \
                 (set `autotests = false` and declare each file as a module of `tests/main.rs`)"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_file_not_declared_in_main_rs_is_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tests = dir.path();
    std::fs::write(tests.join("main.rs"), "//! Tests.\n\nmod common;\nmod declared;\n").unwrap();
    std::fs::write(tests.join("declared.rs"), "").unwrap();
    std::fs::write(tests.join("forgotten.rs"), "").unwrap();
    std::fs::create_dir_all(tests.join("common")).unwrap();
    std::fs::write(tests.join("common/mod.rs"), "").unwrap();
    std::fs::create_dir_all(tests.join("helpers")).unwrap();
    std::fs::write(tests.join("helpers/mod.rs"), "").unwrap();
    std::fs::create_dir_all(tests.join("fixtures")).unwrap();
    std::fs::write(tests.join("fixtures/data.json"), "{}").unwrap();
    let root = std::fs::read_to_string(tests.join("main.rs")).unwrap();
    assert_eq!(undeclared(tests, &root), ["forgotten.rs", "helpers"]);
    assert!(undeclared(tests, &format!("{root}mod forgotten;\nmod helpers;\n")).is_empty());
}
