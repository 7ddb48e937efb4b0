//! The default baseline of the breaking gate is the v1 freeze, which
//! codegen never rewrites: regenerating after a breaking edit cannot make
//! the break pass, and `--freeze` moves the baseline only forward over
//! compatible trees.

use crate::common;

use xtask::breaking::{self, Args};
use xtask::cli::{EXIT_FINDINGS, EXIT_OK};
use xtask::codegen;
use xtask::paths::FROZEN_DESCRIPTOR_SET;
use xtask::util::Mode;

use common::{edit, repo_copy};

const JOB_FIELD: &str = "  // The idempotency key given at submission; empty when none was.\n  // [rule: job.idempotency_key]\n  string idempotency_key = 15;\n";

#[test]
fn a_regenerated_break_still_fails_against_the_freeze() {
    let tmp = repo_copy();
    let root = tmp.path();
    let frozen_before = std::fs::read(root.join(FROZEN_DESCRIPTOR_SET)).unwrap();

    edit(root, "proto/dome/gateway/v1/jobs.proto", JOB_FIELD, "");
    codegen::run(root, Mode::Write).unwrap();
    assert!(codegen::run(root, Mode::Check).unwrap().is_empty(), "regenerated: no drift left");

    let outcome = breaking::run(root, &Args::default()).unwrap();
    let rules: Vec<_> = outcome.findings.iter().map(|f| f.rule).collect();
    assert!(rules.contains(&"FIELD_NO_DELETE"), "{rules:?}");
    assert_eq!(outcome.exit_code(), EXIT_FINDINGS);

    // Freezing a breaking tree is refused and writes nothing.
    let code = breaking::main(root, &Args { freeze: true, ..Args::default() });
    assert_eq!(code, EXIT_FINDINGS);
    assert_eq!(std::fs::read(root.join(FROZEN_DESCRIPTOR_SET)).unwrap(), frozen_before);
}

#[test]
fn freeze_moves_the_baseline_over_a_compatible_change() {
    let tmp = repo_copy();
    let root = tmp.path();
    let frozen_before = std::fs::read(root.join(FROZEN_DESCRIPTOR_SET)).unwrap();
    let added = "  // A note for operators; empty when none was given.\n  string operator_note = 16;\n";
    edit(root, "proto/dome/gateway/v1/jobs.proto", JOB_FIELD, &format!("{JOB_FIELD}{added}"));

    assert_eq!(breaking::main(root, &Args { freeze: true, ..Args::default() }), EXIT_OK);
    let frozen_after = std::fs::read(root.join(FROZEN_DESCRIPTOR_SET)).unwrap();
    assert_ne!(frozen_after, frozen_before, "the baseline moved");
    let compiled = xtask::descriptors::compile_tree(&root.join("proto"), &[]).unwrap();
    assert_eq!(frozen_after, compiled.encoded, "the baseline is the current tree");

    // Deleting the field that is now frozen is a break.
    edit(root, "proto/dome/gateway/v1/jobs.proto", added, "");
    let outcome = breaking::run(root, &Args::default()).unwrap();
    assert!(outcome.findings.iter().any(|f| f.rule == "FIELD_NO_DELETE"), "{:?}", outcome.findings);
}
