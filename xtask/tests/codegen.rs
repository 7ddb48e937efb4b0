//! The codegen pipeline: deterministic output and the drift gate.

use crate::common;

use xtask::codegen::{self, Verified};
use xtask::paths::{MANIFEST, project_root};
use xtask::util::{Drift, Mode};

use common::{edit, repo_copy};

/// The committed checkout is exactly what the protos produce: the drift
/// gate as a plain test, so `cargo test` catches drift too.
#[test]
fn checkout_has_no_drift() {
    let drifts = codegen::run(&project_root(), Mode::Check).unwrap();
    let report: Vec<_> = drifts.iter().map(|d| format!("{}\n{}", d.path, d.diff)).collect();
    assert!(drifts.is_empty(), "run `cargo xtask codegen` and commit:\n{}", report.join("\n"));
}

/// Two generations from two checkouts at different absolute paths are
/// byte-identical, file for file, and identical to the committed files.
#[test]
fn generation_is_byte_identical_across_paths() {
    let (a, b) = (repo_copy(), repo_copy());
    assert_ne!(a.path(), b.path());
    let first = codegen::generate(a.path()).unwrap();
    let second = codegen::generate(b.path()).unwrap();
    let problems = codegen::compare_outputs(&first, &second);
    assert!(problems.is_empty(), "outputs differ between paths:\n{}", problems.join("\n"));
    // Each is the committed copy, which the copies hold too: writing the
    // generation over either would change nothing.
    for out in &first {
        let committed = std::fs::read(project_root().join(&out.path)).unwrap();
        assert!(committed == out.contents, "`{}` differs from the committed copy", out.path);
    }
}

/// The outputs are generated side by side on several threads: whichever
/// thread makes which, and whichever ends first, the files are those one
/// thread makes one after another, in the same order (the order of the
/// drift report), the manifest last, each identical to the committed copy.
#[test]
fn generation_on_several_threads_yields_the_files_of_one_thread_in_its_order() {
    let expected = [
        "golden/dome.gateway.v1.binpb",
        "sdk/src/generated/dome.gateway.v1.binpb",
        "sdk/src/generated/dome.gateway.v1.rs",
        "sdk/src/generated/google.protobuf.rs",
        "sdk/src/generated/contract.rs",
        "sdk/src/generated/errors.rs",
        "sdk/src/generated/pb.rs",
        "sdk/src/generated/calls.rs",
        "docs/api.md",
        "docs/surface-matrix.md",
        "docs/delta-register.md",
        "golden/dome.conformance.testee.v1.binpb",
        "conformance/suite/src/generated/dome.conformance.testee.v1.rs",
        MANIFEST,
    ];
    let one = codegen::generate_on(&project_root(), 1).unwrap();
    let paths: Vec<&str> = one.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, expected, "one thread: the outputs in another order");
    for out in &one {
        let committed = std::fs::read(project_root().join(&out.path)).unwrap();
        assert!(committed == out.contents, "one thread: `{}` differs from the committed copy", out.path);
    }
    for lanes in [2, 3, 8] {
        let several = codegen::generate_on(&project_root(), lanes).unwrap();
        let paths: Vec<&str> = several.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, expected, "{lanes} threads: the outputs in another order");
        let problems = codegen::compare_outputs(&one, &several);
        assert!(problems.is_empty(), "{lanes} threads differ from one:\n{}", problems.join("\n"));
    }
}

/// The binary works from any working directory and writes the same files:
/// run `codegen` from two different directories of two copies, then the
/// trees are compared byte for byte.
#[test]
fn binary_output_does_not_depend_on_working_directory() {
    let (a, b) = (repo_copy(), repo_copy());
    let sh = xshell::Shell::new().unwrap();
    let exe = env!("CARGO_BIN_EXE_xtask");
    let (root_a, root_b) = (a.path(), b.path());
    let outputs = codegen::generate(&project_root()).unwrap();
    // Remove every generated file, so that both runs must write them all.
    for root in [root_a, root_b] {
        for out in &outputs {
            std::fs::remove_file(root.join(&out.path)).unwrap();
        }
    }
    sh.change_dir(root_a.join("sdk"));
    xshell::cmd!(sh, "{exe} --root {root_a} codegen").quiet().run().unwrap();
    sh.change_dir(std::env::temp_dir());
    xshell::cmd!(sh, "{exe} --root {root_b} codegen").quiet().run().unwrap();
    for out in &outputs {
        let x = std::fs::read(root_a.join(&out.path)).unwrap();
        let y = std::fs::read(root_b.join(&out.path)).unwrap();
        assert!(x == y, "`{}` differs between the two runs", out.path);
        assert!(x == out.contents, "`{}` differs from the committed copy", out.path);
    }
}

/// A one-word proto comment change makes `--check` fail naming the drifted
/// files with a diff; regenerating makes it pass again.
#[test]
fn drift_gate_catches_a_comment_change_and_passes_after_regeneration() {
    let tmp = repo_copy();
    let root = tmp.path();
    assert!(codegen::run(root, Mode::Check).unwrap().is_empty(), "a fresh copy has no drift");

    edit(
        root,
        "proto/dome/gateway/v1/jobs.proto",
        "// The job's id, assigned by the server",
        "// The job's identifier, assigned by the server",
    );
    let drifts = codegen::run(root, Mode::Check).unwrap();
    let paths: Vec<_> = drifts.iter().map(|d| d.path.as_str()).collect();
    assert!(paths.contains(&"sdk/src/generated/dome.gateway.v1.rs"), "{paths:?}");
    assert!(paths.contains(&"golden/dome.gateway.v1.binpb"), "{paths:?}");
    assert!(paths.contains(&MANIFEST), "{paths:?}");
    let rust = drifts.iter().find(|d| d.path.ends_with(".rs")).unwrap();
    assert!(rust.diff.contains("-    /// The job's id, assigned by the server"), "{}", rust.diff);
    assert!(rust.diff.contains("+    /// The job's identifier, assigned by the server"), "{}", rust.diff);

    // The CLI form fails with the fixing command.
    let err = codegen::main(root, true, true).unwrap_err().to_string();
    assert!(err.contains("run `cargo xtask codegen`"), "{err}");

    codegen::run(root, Mode::Write).unwrap();
    assert!(codegen::run(root, Mode::Check).unwrap().is_empty());
    codegen::main(root, true, true).unwrap();
}

/// Hand-editing a generated file is drift, and so is a stray file in the
/// generated directory.
#[test]
fn drift_gate_catches_hand_edits_and_stray_files() {
    let tmp = repo_copy();
    let root = tmp.path();
    edit(root, "sdk/src/generated/contract.rs", "retryable: true", "retryable: false");
    let drifts = codegen::run(root, Mode::Check).unwrap();
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    assert_eq!(drifts[0].path, "sdk/src/generated/contract.rs");
    assert!(drifts[0].diff.contains("+        retryable: true"), "{}", drifts[0].diff);

    codegen::run(root, Mode::Write).unwrap();
    std::fs::write(root.join("sdk/src/generated/extra.rs"), "// hand-made\n").unwrap();
    let drifts = codegen::run(root, Mode::Check).unwrap();
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    assert!(drifts[0].diff.contains("not produced by codegen"), "{}", drifts[0].diff);

    // A hand-edited binary descriptor set is reported by hash.
    codegen::run(root, Mode::Write).unwrap();
    let mut bytes = std::fs::read(root.join("golden/dome.gateway.v1.binpb")).unwrap();
    bytes.push(0);
    std::fs::write(root.join("golden/dome.gateway.v1.binpb"), bytes).unwrap();
    let drifts = codegen::run(root, Mode::Check).unwrap();
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    assert!(drifts[0].diff.contains("sha256"), "{}", drifts[0].diff);
}

/// The manifest records the generator versions from Cargo.lock and the
/// hash of every input and output.
#[test]
fn manifest_records_versions_and_hashes() {
    let outputs = codegen::generate(&project_root()).unwrap();
    let manifest = outputs.iter().find(|o| o.path == MANIFEST).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&manifest.contents).unwrap();
    let lock = std::fs::read_to_string(project_root().join("Cargo.lock")).unwrap();
    let protox = json["generators"]["protox"].as_str().unwrap();
    assert!(lock.contains(&format!("name = \"protox\"\nversion = \"{protox}\"")), "{protox}");
    assert_eq!(json["command"], "cargo xtask codegen");
    for out in outputs.iter().filter(|o| o.path != MANIFEST) {
        let want = xtask::util::sha256_hex(&out.contents);
        assert_eq!(json["outputs"][&out.path].as_str(), Some(want.as_str()), "{}", out.path);
    }
    let inputs = json["inputs"].as_object().unwrap();
    assert!(inputs.contains_key("proto/dome/gateway/v1/service.proto"));
    assert!(inputs.contains_key("proto/dome/gateway/v1/conformance_script.schema.json"));
}

/// A proto that does not compile is an error naming its file and line.
#[test]
fn compile_errors_name_file_and_line() {
    let tmp = repo_copy();
    let root = tmp.path();
    edit(
        root,
        "proto/dome/gateway/v1/jobs.proto",
        "  string job_id = 1;\n  // The run the job is a task of.",
        "  strin job_id = 1;\n  // The run the job is a task of.",
    );
    let err = codegen::run(root, Mode::Check).unwrap_err().to_string();
    assert!(err.contains("dome/gateway/v1/jobs.proto:"), "{err}");
    let line = err.split(':').nth(1).unwrap().parse::<usize>().unwrap();
    let text = std::fs::read_to_string(root.join("proto/dome/gateway/v1/jobs.proto")).unwrap();
    assert!(text.lines().nth(line - 1).unwrap().contains("strin job_id"), "line {line}: {err}");
}

/// A clean check leaves a stamp that lets the next check pass without
/// generating, but only while the generator, the inputs and the outputs
/// are byte for byte those it found clean: a hand-edited generated file, a
/// proto change, a stray file in a generated directory, a removed output
/// and a damaged stamp each make the check generate again, and the first
/// four fail it with their drift.
#[test]
fn the_stamp_passes_only_the_tree_it_found_clean() {
    let tmp = repo_copy();
    let root = tmp.path();
    let stamps = tempfile::tempdir().unwrap();
    let stamp = stamps.path().join("xtask/codegen-check.stamp");
    let check = || codegen::check_with_stamp(root, &stamp).unwrap();
    let drifted = |(drifts, verified): (Vec<Drift>, Verified)| {
        assert_eq!(verified, Verified::Generated, "a changed tree is generated again");
        drifts.into_iter().map(|d| d.path).collect::<Vec<_>>()
    };

    let (drifts, verified) = check();
    assert!(drifts.is_empty() && verified == Verified::Generated, "{drifts:?} {verified:?}");
    let (drifts, verified) = check();
    assert!(drifts.is_empty() && verified == Verified::Stamp, "{drifts:?} {verified:?}");

    // A hand edit of a generated file.
    let contract = std::fs::read(root.join("sdk/src/generated/contract.rs")).unwrap();
    edit(root, "sdk/src/generated/contract.rs", "retryable: true", "retryable: false");
    assert_eq!(drifted(check()), ["sdk/src/generated/contract.rs"]);
    std::fs::write(root.join("sdk/src/generated/contract.rs"), contract).unwrap();
    assert_eq!(check().1, Verified::Stamp, "the same bytes again are the tree found clean");

    // A proto change.
    let jobs = std::fs::read(root.join("proto/dome/gateway/v1/jobs.proto")).unwrap();
    edit(
        root,
        "proto/dome/gateway/v1/jobs.proto",
        "// The job's id, assigned by the server",
        "// The job's identifier, assigned by the server",
    );
    let paths = drifted(check());
    assert!(paths.iter().any(|p| p == "sdk/src/generated/dome.gateway.v1.rs"), "{paths:?}");
    assert!(paths.iter().any(|p| p == MANIFEST), "{paths:?}");
    std::fs::write(root.join("proto/dome/gateway/v1/jobs.proto"), jobs).unwrap();
    assert_eq!(check().1, Verified::Stamp);

    // A stray file in a generated directory, then a removed output.
    let stray = root.join("sdk/src/generated/extra.rs");
    std::fs::write(&stray, "// hand-made\n").unwrap();
    assert_eq!(drifted(check()), ["sdk/src/generated/extra.rs"]);
    std::fs::remove_file(&stray).unwrap();
    let api = std::fs::read(root.join("docs/api.md")).unwrap();
    std::fs::remove_file(root.join("docs/api.md")).unwrap();
    assert_eq!(drifted(check()), ["docs/api.md"]);
    std::fs::write(root.join("docs/api.md"), api).unwrap();
    assert_eq!(check().1, Verified::Stamp);

    // A damaged stamp is no stamp.
    let text = std::fs::read_to_string(&stamp).unwrap();
    std::fs::write(&stamp, text.replacen('0', "1", 1).replacen('a', "b", 1)).unwrap();
    let (drifts, verified) = check();
    assert!(drifts.is_empty() && verified == Verified::Generated, "{drifts:?} {verified:?}");
}
