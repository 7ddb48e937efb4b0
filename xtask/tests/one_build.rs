//! The README's two commands share one build: every crate `cargo xtask`
//! builds (xtask itself, then the workspace's binaries for the conformance
//! suite) is built as `cargo test --workspace` builds it, and no crate is
//! compiled twice within one command.
//!
//! Cargo compiles a crate again whenever its features, or those of
//! anything below it, differ: a feature turned on by one member's tests
//! alone would cost a second build of most of the workspace. And a crate
//! that proc-macros or build scripts use as well as the programs is
//! compiled twice, once for each, whenever the two copies differ, even
//! by a feature that changes nothing (a `default` that only names `std`).
//!
//! Read from cargo's unit graph (`--unit-graph`, which cargo prints
//! without building anything), the very list of compilations a build
//! runs; `cargo tree` merges the two copies of a crate and cannot show
//! them apart. The unit graph is an unstable cargo flag, enabled for the
//! stable toolchain by `RUSTC_BOOTSTRAP=1`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};
use xtask::conformance::BUILD_ARGS;

/// One compilation: its crate, target, mode, features and profile
/// settings, and (recursively) the same of everything it links. Two units
/// with equal keys are one compilation; the profile's name is left out,
/// since `test` inherits `dev` and cargo shares their artefacts.
type Key = String;

/// A unit graph as [`units`] reads it: each compilation's key, with the
/// name a reader knows it by (`crate@version kind target (mode)`).
struct Graph {
    units: BTreeMap<Key, String>,
}

/// Reads the JSON of `cargo ... --unit-graph`.
fn units(json: &str) -> Graph {
    let graph: Value = serde_json::from_str(json).expect("the unit graph is JSON");
    let list = graph["units"].as_array().expect("the unit graph lists units");
    let mut keys: HashMap<usize, Key> = HashMap::new();
    // Dependencies come before their dependents only by chance: resolve
    // each key on demand, with the keys already known.
    fn key(list: &[Value], i: usize, keys: &mut HashMap<usize, Key>) -> Key {
        if let Some(k) = keys.get(&i) {
            return k.clone();
        }
        let unit = &list[i];
        let mut profile = unit["profile"].clone();
        profile.as_object_mut().map(|p| p.remove("name"));
        let mut deps: Vec<Key> = unit["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| key(list, d["index"].as_u64().expect("a dependency's index") as usize, keys))
            .collect();
        deps.sort();
        let own = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            unit["pkg_id"],
            unit["target"]["name"],
            unit["target"]["kind"],
            unit["mode"],
            unit["features"],
            profile,
            unit["platform"]
        );
        // Hashed, so that a key stays short however deep its tree.
        let k = hex::encode(Sha256::digest(format!("{own}|{}", deps.join(","))));
        keys.insert(i, k.clone());
        k
    }
    let mut units = BTreeMap::new();
    for (i, unit) in list.iter().enumerate() {
        let k = key(list, i, &mut keys);
        let pkg = unit["pkg_id"].as_str().unwrap_or_default();
        let target = unit["target"]["name"].as_str().unwrap_or_default();
        // `registry+…#memchr@2.8.3`, or `path+file:///…/xtask#0.1.0`.
        let version = pkg.rsplit('#').next().unwrap_or(pkg);
        let crate_ = if version.contains('@') { version.to_string() } else { format!("{target}@{version}") };
        let kind = unit["target"]["kind"].as_array().and_then(|k| k.first()).and_then(Value::as_str).unwrap_or("");
        let mode = unit["mode"].as_str().unwrap_or_default();
        let name = format!("{crate_} {kind} {target} ({mode})");
        units.insert(k, name);
    }
    Graph { units }
}

/// The compilations the graph runs more than once: the same crate,
/// target and mode compiled with two different keys.
fn built_twice(graph: &Graph) -> Vec<String> {
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for name in graph.units.values() {
        *by_name.entry(name).or_default() += 1;
    }
    by_name.into_iter().filter(|(_, n)| *n > 1).map(|(name, n)| format!("{name}: {n} times")).collect()
}

/// The compilations of `built` that the tests' build (`tests`) does not
/// run as they are: `cargo test` after `built` compiles them again.
fn rebuilt(built: &Graph, tests: &Graph) -> BTreeSet<String> {
    built.units.iter().filter(|(k, _)| !tests.units.contains_key(*k)).map(|(_, name)| name.clone()).collect()
}

fn unit_graph(args: &[&str]) -> Graph {
    let sh = Shell::new().expect("a shell");
    sh.change_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let json = cmd!(sh, "{cargo} {args...} --locked --unit-graph -Z unstable-options")
        .env("RUSTC_BOOTSTRAP", "1")
        .quiet()
        .read()
        .expect("cargo prints the unit graph");
    let graph = units(&json);
    assert!(graph.units.values().any(|n| n.contains("tokio@")), "the unit graph is read: {json:.400}");
    graph
}

#[test]
fn xtask_and_the_suite_are_built_as_the_tests_build_them() {
    // What `cargo xtask conformance` builds: its `cargo build` arguments.
    let suite_args: Vec<&str> = BUILD_ARGS.iter().copied().filter(|a| *a != "--quiet").collect();
    assert!(BUILD_ARGS.contains(&"--workspace"), "the suite's build is the workspace's: {BUILD_ARGS:?}");

    let tests = unit_graph(&["test", "--workspace", "--no-run"]);
    let xtask = unit_graph(&["build", "-p", "xtask", "--bin", "xtask"]);
    let suite = unit_graph(&suite_args);
    for (command, graph) in [("cargo xtask", &xtask), ("cargo xtask conformance", &suite)] {
        let differ = rebuilt(graph, &tests);
        assert!(
            differ.is_empty(),
            "`{command}` compiles these as the tests never do (other features, or other features below them), so the \
             README's two commands compile them twice; state the tests' features in xtask's Cargo.toml:\n  {}",
            differ.into_iter().collect::<Vec<_>>().join("\n  ")
        );
    }
    for (command, graph) in [("cargo xtask", &xtask), ("cargo xtask conformance", &suite), ("cargo test", &tests)] {
        let twice = built_twice(graph);
        assert!(
            twice.is_empty(),
            "`{command}` compiles these more than once, for the proc-macros and build scripts and for the programs; \
             give both copies the same features in xtask's Cargo.toml:\n  {}",
            twice.join("\n  ")
        );
    }
}

/// A unit graph of the given units: `(crate, features, dependencies by
/// index)`.
fn graph_of(spec: &[(&str, &[&str], &[usize])]) -> Graph {
    let list: Vec<Value> = spec
        .iter()
        .map(|(pkg, features, deps)| {
            serde_json::json!({
                "pkg_id": format!("registry+https://x#{pkg}"),
                "target": { "name": pkg.split('@').next().unwrap(), "kind": ["lib"] },
                "profile": { "name": "dev", "opt_level": "0" },
                "platform": null,
                "mode": "build",
                "features": features,
                "dependencies": deps.iter().map(|i| serde_json::json!({ "index": i })).collect::<Vec<_>>(),
            })
        })
        .collect();
    units(&serde_json::json!({ "units": list }).to_string())
}

#[test]
fn a_crate_compiled_twice_is_named_even_when_only_a_dependency_differs() {
    // memchr twice (a `default` feature apart), and regex-automata twice
    // with equal features, over the two memchr copies.
    let twice = graph_of(&[
        ("memchr@2.0.0", &["default", "std"], &[]),
        ("memchr@2.0.0", &["std"], &[]),
        ("regex-automata@0.4.0", &["std"], &[0]),
        ("regex-automata@0.4.0", &["std"], &[1]),
    ]);
    assert_eq!(
        built_twice(&twice),
        ["memchr@2.0.0 lib memchr (build): 2 times", "regex-automata@0.4.0 lib regex-automata (build): 2 times"]
    );
    let once = graph_of(&[("memchr@2.0.0", &["std"], &[]), ("regex-automata@0.4.0", &["std"], &[0])]);
    assert_eq!(built_twice(&once), Vec::<String>::new());
}

#[test]
fn a_compilation_the_tests_do_not_share_is_named() {
    let tests = graph_of(&[("memchr@2.0.0", &["default", "std"], &[]), ("regex@1.0.0", &["std"], &[0])]);
    let same = graph_of(&[("memchr@2.0.0", &["default", "std"], &[]), ("regex@1.0.0", &["std"], &[0])]);
    assert_eq!(rebuilt(&same, &tests), BTreeSet::new());
    // memchr with fewer features: it and everything above it differ.
    let fewer = graph_of(&[("memchr@2.0.0", &["std"], &[]), ("regex@1.0.0", &["std"], &[0])]);
    assert_eq!(
        rebuilt(&fewer, &tests),
        BTreeSet::from(["memchr@2.0.0 lib memchr (build)".to_string(), "regex@1.0.0 lib regex (build)".to_string()])
    );
}
