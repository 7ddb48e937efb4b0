//! The crate as a registry would take it: whole (nothing it compiles lies
//! outside its directory), described (the metadata a registry page shows),
//! and honest about the oldest Rust it builds with.
//!
//! No older toolchain is at hand offline, so the minimum supported Rust
//! version is checked by what decides it: the edition's own minimum, the
//! language features the code uses, and the `rust-version` every crate of
//! the SDK's dependency tree declares. `cargo package -p dome-sdk` builds
//! the packaged crate by itself (see the README).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");
const MSRV: &str = env!("CARGO_PKG_RUST_VERSION");
/// The first release of edition 2024, which the crate is written in.
const EDITION_2024_MINIMUM: (u64, u64, u64) = (1, 85, 0);
/// `if let .. && ..` chains, used in `src/`: stable from 1.88 in edition
/// 2024.
const LET_CHAINS_MINIMUM: (u64, u64, u64) = (1, 88, 0);

/// `1.88` or `1.88.0` as a triple; `None` for anything else.
fn version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().unwrap_or(Some(0))?;
    parts.next().is_none().then_some((major, minor, patch))
}

fn cargo(args: &[&str]) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo).args(args).current_dir(CRATE_DIR).output().expect("cargo runs");
    assert!(output.status.success(), "cargo {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

fn host() -> String {
    let output = Command::new("rustc").arg("-vV").output().expect("rustc runs");
    let text = String::from_utf8(output.stdout).expect("rustc prints UTF-8");
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc -vV names the host").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the directory reads") {
        let path = entry.expect("the entry reads").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files `source` (a file in `dir`) pulls in with `include!`,
/// `include_str!` or `include_bytes!` that are missing or lie outside
/// `crate_dir`.
fn escaping_includes(crate_dir: &Path, dir: &Path, source: &str) -> Vec<String> {
    let crate_dir = crate_dir.canonicalize().expect("the crate directory exists");
    let mut out = Vec::new();
    for mac in ["include!(\"", "include_str!(\"", "include_bytes!(\""] {
        for (at, _) in source.match_indices(mac) {
            let rest = &source[at + mac.len()..];
            let Some(end) = rest.find('"') else { continue };
            let target = dir.join(&rest[..end]);
            match target.canonicalize() {
                Ok(real) if real.starts_with(&crate_dir) => {}
                _ => out.push(rest[..end].to_string()),
            }
        }
    }
    out
}

#[test]
fn everything_the_crate_compiles_lies_inside_it() {
    let root = Path::new(CRATE_DIR);
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("examples"), &mut files);
    assert!(files.len() > 5, "found only {files:?}");
    let escaping: Vec<_> = files
        .iter()
        .flat_map(|f| {
            let source = std::fs::read_to_string(f).expect("the source reads");
            escaping_includes(root, f.parent().expect("a file has a directory"), &source)
                .into_iter()
                .map(move |i| format!("{}: {i}", f.display()))
        })
        .collect();
    assert_eq!(escaping, Vec::<String>::new(), "a packaged crate would miss these");
}

#[test]
fn an_include_outside_the_crate_or_missing_is_found() {
    let root = Path::new(CRATE_DIR);
    let src = root.join("src");
    let source = r#"
        include!("generated/pb.rs");
        const A: &[u8] = include_bytes!("../../golden/dome.gateway.v1.binpb");
        const B: &str = include_str!("generated/absent.rs");
        #[doc = include_str!("../README.md")]
    "#;
    assert_eq!(escaping_includes(root, &src, source), ["generated/absent.rs", "../../golden/dome.gateway.v1.binpb"]);
}

/// The fields a registry page shows that `package` lacks.
fn missing_metadata(package: &Value) -> Vec<&'static str> {
    let present = |key: &str| match &package[key] {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    let mut missing: Vec<_> =
        ["description", "license", "readme", "documentation", "rust_version", "keywords", "categories"]
            .into_iter()
            .filter(|key| !present(key))
            .collect();
    // `publish = false` is an empty list of registries.
    if package["publish"].as_array().is_some_and(|r| r.is_empty()) {
        missing.push("publish");
    }
    missing
}

fn this_package(metadata: &Value) -> &Value {
    let packages = metadata["packages"].as_array().expect("metadata lists packages");
    packages.iter().find(|p| p["name"] == "dome-sdk").expect("dome-sdk is a package of the workspace")
}

#[test]
fn the_manifest_describes_the_crate() {
    let metadata = cargo(&["metadata", "--format-version", "1", "--no-deps"]);
    let package = this_package(&metadata);
    assert_eq!(missing_metadata(package), Vec::<&str>::new());
    assert_eq!(package["readme"].as_str().map(|r| Path::new(r).ends_with("README.md")), Some(true));

    let mut bare = package.clone();
    bare["keywords"] = Value::Array(Vec::new());
    bare["rust_version"] = Value::Null;
    bare["publish"] = Value::Array(Vec::new());
    assert_eq!(missing_metadata(&bare), ["rust_version", "keywords", "publish"]);
}

/// The crates of `package`'s normal dependency tree (itself excluded)
/// whose declared `rust-version` is newer than `msrv`.
fn newer_than(metadata: &Value, package: &str, msrv: (u64, u64, u64)) -> Vec<String> {
    let packages = metadata["packages"].as_array().expect("metadata lists packages");
    let nodes = metadata["resolve"]["nodes"].as_array().expect("metadata resolves");
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).expect("every id has its node");
    let root = packages.iter().find(|p| p["name"] == package).expect("the package is listed");
    let mut seen = vec![root["id"].as_str().expect("an id").to_string()];
    let mut next = seen.clone();
    while let Some(id) = next.pop() {
        for dep in node(&id)["deps"].as_array().expect("deps") {
            let normal = dep["dep_kinds"].as_array().expect("kinds").iter().any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().expect("an id").to_string();
            if normal && !seen.contains(&dep_id) {
                seen.push(dep_id.clone());
                next.push(dep_id);
            }
        }
    }
    let mut newer: Vec<String> = packages
        .iter()
        .filter(|p| p["name"] != package && seen.iter().any(|id| p["id"] == id.as_str()))
        .filter_map(|p| {
            let declared = p["rust_version"].as_str()?;
            let name = p["name"].as_str().unwrap_or("?");
            (version(declared)? > msrv)
                .then(|| format!("{name} {} needs {declared}", p["version"].as_str().unwrap_or("?")))
        })
        .collect();
    newer.sort();
    newer
}

#[test]
fn the_minimum_rust_version_holds_for_the_code_and_every_dependency() {
    let msrv = version(MSRV).unwrap_or_else(|| panic!("rust-version `{MSRV}` is set and a version"));
    assert!(msrv >= EDITION_2024_MINIMUM, "edition 2024 needs 1.85; rust-version says {MSRV}");
    assert!(msrv >= LET_CHAINS_MINIMUM, "the code uses let chains (1.88); rust-version says {MSRV}");

    // Features of the whole workspace are unified here, so this is the
    // SDK's tree with every feature any member turns on: a superset.
    let metadata = cargo(&["metadata", "--format-version", "1", "--filter-platform", &host()]);
    assert_eq!(newer_than(&metadata, "dome-sdk", msrv), Vec::<String>::new(), "dependencies newer than {MSRV}");
    let strict = newer_than(&metadata, "dome-sdk", (1, 80, 0));
    assert!(strict.iter().any(|c| c.starts_with("tonic ")), "an older minimum is caught: {strict:?}");

    let stated = format!("Minimum supported Rust version: {MSRV}");
    let readme = std::fs::read_to_string(Path::new(CRATE_DIR).join("README.md")).expect("README.md reads");
    let lib = std::fs::read_to_string(Path::new(CRATE_DIR).join("src/lib.rs")).expect("lib.rs reads");
    assert!(readme.contains(&stated) && lib.contains(&stated), "README.md and lib.rs state `{stated}`");
}

#[test]
fn versions_read_as_triples() {
    assert_eq!(version("1.88"), Some((1, 88, 0)));
    assert_eq!(version("1.85.1"), Some((1, 85, 1)));
    assert_eq!(version("1"), None);
    assert_eq!(version("1.88.0.1"), None);
    assert_eq!(version("1.x"), None);
}
