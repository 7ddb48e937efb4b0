//! The README's two commands share one build: every crate `cargo xtask`
//! builds (xtask itself, then the workspace's binaries for the conformance
//! suite) is built with the features `cargo test --workspace` gives it.
//! Cargo builds a crate again whenever its features differ, and a
//! difference deep in the tree (a tokio or tonic feature) rebuilds
//! everything above it, so a feature turned on by one member's tests alone
//! would cost a second build of most of the workspace.
//!
//! A crate that proc-macros or build scripts use as well as the programs
//! is built twice when the two use it with different features, so the
//! workspace's tree must list each crate with one feature set.
//!
//! Read from `cargo tree`, which resolves features as the builds do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use xshell::{Shell, cmd};
use xtask::conformance::BUILD_ARGS;

/// Every package of a `cargo tree -f '{p}|{f}' --prefix none` listing
/// (`{p}` is `name vX.Y.Z`, with the path of a workspace member; `{f}`
/// the features, comma-separated), with each feature set it is built
/// with.
fn packages(tree: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in tree.lines().map(|l| l.trim_end_matches(" (*)")) {
        if let Some((package, features)) = line.rsplit_once('|') {
            out.entry(package.trim().to_string()).or_default().insert(features.trim().to_string());
        }
    }
    out
}

/// The crates `built` builds with features the tests' build (`tests`)
/// never gives them: each a line saying what the tests use instead.
fn rebuilt(built: &str, tests: &str) -> Vec<String> {
    let tests = packages(tests);
    let mut out = Vec::new();
    for (package, features) in packages(built) {
        let theirs = tests.get(&package).cloned().unwrap_or_default();
        for f in features.difference(&theirs) {
            out.push(format!("{package} [{f}]: the tests build it with {theirs:?}"));
        }
    }
    out
}

fn cargo_tree(args: &[&str]) -> String {
    let sh = Shell::new().expect("a shell");
    sh.change_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let format = "{p}|{f}";
    cmd!(sh, "{cargo} tree --locked --prefix none -f {format} {args...}").quiet().read().expect("cargo tree runs")
}

#[test]
fn xtask_and_the_suite_are_built_as_the_tests_build_them() {
    // What `cargo xtask conformance` builds: its `cargo build` arguments,
    // as `cargo tree` takes them.
    let features = BUILD_ARGS.iter().position(|a| *a == "--features").map(|i| BUILD_ARGS[i + 1]);
    let features = features.expect("the suite's build names its features");
    assert!(BUILD_ARGS.contains(&"--workspace"), "the suite's build is the workspace's: {BUILD_ARGS:?}");

    // Twice: every crate, then the crates of the programs alone (without
    // proc-macros and build scripts, which cargo builds apart, with
    // features of their own: a crate can be built both ways, and only the
    // second listing tells which of its builds differs).
    for edges in ["normal,build", "normal,no-proc-macro"] {
        let tests = cargo_tree(&["--workspace", "-e", &format!("{edges},dev")]);
        assert!(packages(&tests).keys().any(|p| p.starts_with("tokio v")), "the listing is read: {tests:.400}");

        let xtask = cargo_tree(&["-p", "xtask", "-e", edges]);
        let differ = rebuilt(&xtask, &tests);
        assert!(
            differ.is_empty(),
            "`cargo xtask` builds these crates with features the tests never give them, so the README's two \
             commands build them twice; state the tests' features in xtask's Cargo.toml:\n  {}",
            differ.join("\n  ")
        );

        let suite = cargo_tree(&["--workspace", "-e", edges, "--features", features]);
        let differ = rebuilt(&suite, &tests);
        assert!(
            differ.is_empty(),
            "`cargo xtask conformance` builds these crates with features the tests never give them:\n  {}",
            differ.join("\n  ")
        );
    }
}

/// The crates of a `cargo tree` listing (as [`packages`] reads it) that
/// are built with more than one feature set: each a line naming the sets.
fn built_twice(tree: &str) -> Vec<String> {
    packages(tree)
        .into_iter()
        .filter(|(_, features)| features.len() > 1)
        .map(|(package, features)| format!("{package}: {features:?}"))
        .collect()
}

#[test]
fn no_crate_is_built_twice_for_proc_macros_and_programs() {
    // A crate that proc-macros or build scripts use as well as the
    // programs is listed once per feature set; two sets are two builds.
    let tests = cargo_tree(&["--workspace", "-e", "normal,build,dev"]);
    let twice = built_twice(&tests);
    assert!(
        twice.is_empty(),
        "these crates are built twice, with the features the proc-macros and build scripts use and with those \
         of the programs; give the programs' copy the other features in xtask's Cargo.toml:\n  {}",
        twice.join("\n  ")
    );
}

#[test]
fn a_crate_built_with_two_feature_sets_is_named() {
    let once = "syn v2.0.1|full,parsing\nserde v1.0.0|std\nsyn v2.0.1|full,parsing (*)\n";
    assert_eq!(built_twice(once), Vec::<String>::new());
    let twice = "syn v2.0.1|full,parsing\nserde v1.0.0|std\nsyn v2.0.1|full,parsing,visit-mut\n";
    assert_eq!(built_twice(twice), ["syn v2.0.1: {\"full,parsing\", \"full,parsing,visit-mut\"}"]);
}

#[test]
fn a_feature_only_one_build_turns_on_is_named() {
    let tests = "tokio v1.0.0|macros,rt\n\
                 domed v0.1.0 (/w/conformance/server)|default,mutants\n\
                 tokio-macros v2.0.0 (proc-macro)|\n";
    let same = "tokio v1.0.0|macros,rt\ntokio-macros v2.0.0 (proc-macro)| (*)\n\
                domed v0.1.0 (/w/conformance/server)|default,mutants (*)\n";
    assert_eq!(rebuilt(same, tests), Vec::<String>::new());

    let fewer = "tokio v1.0.0|macros\ndomed v0.1.0 (/w/conformance/server)|default\n";
    assert_eq!(
        rebuilt(fewer, tests),
        [
            "domed v0.1.0 (/w/conformance/server) [default]: the tests build it with {\"default,mutants\"}",
            "tokio v1.0.0 [macros]: the tests build it with {\"macros,rt\"}",
        ]
    );
    let unknown = "hyper v1.0.0|client\n";
    assert_eq!(rebuilt(unknown, tests), ["hyper v1.0.0 [client]: the tests build it with {}"]);
}
