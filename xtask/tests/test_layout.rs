//! Each crate builds its integration tests as one binary, `tests/main.rs`
//! with a module per file. Every test binary links the whole dependency
//! tree again, and one binary per file made compiling the tests take longer
//! than running them. The crates set `autotests = false`, so a file under
//! `tests/` is built only when `tests/main.rs` declares it: this fails,
//! naming the file, on one that is not, and on a crate with a second
//! test binary. A library whose `[lib]` sets `test = false` (compiled once,
//! its tests in the test binary) is never built with `cfg(test)`: this
//! fails, naming the file, on a `#[cfg(test)]` left in its sources, whose
//! tests would never run.

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

/// The Rust files under `src` (a crate's source folder) that hold unit
/// tests (`#[cfg(test)]`), relative to `src`, leaving out `tested`: the
/// roots of targets that `cargo test` builds as test harnesses.
fn unit_tests(src: &Path, tested: &[&Path]) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("the source folder reads") {
            let path = entry.expect("the entry reads").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !tested.contains(&path.as_path()) {
                let text = std::fs::read_to_string(&path).expect("a source file reads");
                if text.contains("#[cfg(test)]") {
                    out.push(path.strip_prefix(src).expect("a file under src").display().to_string());
                }
            }
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
        let targets = package["targets"].as_array().expect("a target list");
        let tested: Vec<&Path> = targets
            .iter()
            .filter(|t| t["test"] == true)
            .map(|t| Path::new(t["src_path"].as_str().expect("a source path")))
            .collect();
        let untested_lib = targets
            .iter()
            .find(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "lib")) && t["test"] == false);
        if let Some(lib) = untested_lib {
            let src = Path::new(lib["src_path"].as_str().expect("a source path")).parent().expect("a source folder");
            for file in unit_tests(src, &tested) {
                problems.push(format!(
                    "{name}: `src/{file}` has unit tests (`#[cfg(test)]`), but its `[lib]` sets `test = false`, \
                     so they never run: move them into the crate's test binary (`tests/`)"
                ));
            }
        }
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

#[test]
fn unit_tests_in_a_library_that_cargo_test_does_not_build_are_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("lib.rs"), "//! A library.\n\npub mod a;\npub mod sub;\n").unwrap();
    std::fs::write(src.join("a.rs"), "//! A.\n\n#[cfg(test)]\nmod tests {}\n").unwrap();
    std::fs::write(src.join("sub/mod.rs"), "//! Sub.\n\npub mod b;\n").unwrap();
    std::fs::write(src.join("sub/b.rs"), "//! B.\n\n#[cfg(test)]\nmod tests {}\n").unwrap();
    // A binary built as a test harness may keep its own tests.
    std::fs::write(src.join("main.rs"), "fn main() {}\n\n#[cfg(test)]\nmod tests {}\n").unwrap();
    let main = src.join("main.rs");
    assert_eq!(unit_tests(src, &[main.as_path()]), ["a.rs", "sub/b.rs"]);
    std::fs::write(src.join("a.rs"), "//! A.\n").unwrap();
    std::fs::write(src.join("sub/b.rs"), "//! B.\n").unwrap();
    assert!(unit_tests(src, &[main.as_path()]).is_empty());
    assert_eq!(unit_tests(src, &[]), ["main.rs"], "the binary's tests, once it is no test harness");
}
