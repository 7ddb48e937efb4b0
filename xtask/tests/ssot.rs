//! The SSOT gate: it passes on the checkout, and fails, naming the cause,
//! on an unmapped surface message, on a message mapped onto a family it
//! cannot satisfy, on a broken projection, and on a register that
//! disagrees with the proto.

use std::path::{Path, PathBuf};

use dome_sdk::pb::{JobOutcome, TaskStatus};
use dome_ssot::{Family, arbitrary, project};
use proptest::strategy::{Just, Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::Value;
use xtask::descriptors::compile_tree;
use xtask::paths::project_root;
use xtask::ssot::{self, Options, ProblemKind, Report, Target};

/// Few cases: the full count runs in `cargo xtask ssot`.
const QUICK: Options = Options { cases: 32, seed: ssot::DEFAULT_SEED };

fn deltas() -> PathBuf {
    project_root().join(xtask::paths::DELTAS)
}

/// A copy of `proto/` in a new temporary directory.
fn proto_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() { copy(&path, &target) } else { std::fs::copy(&path, &target).map(drop).unwrap() }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    copy(&project_root().join("proto"), tmp.path());
    tmp
}

/// Replaces the first `from` with `to` in `root/rel`, failing when absent.
fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{rel}` does not contain {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn kinds(report: &Report) -> Vec<(ProblemKind, String)> {
    report.problems.iter().map(|p| (p.kind, p.subject.clone())).collect()
}

#[test]
fn the_checkout_passes() {
    let report = ssot::check(&project_root().join("proto"), &deltas(), &QUICK).unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    // Every request and response is on the surface, so is what they carry,
    // and the option messages (reachable from no RPC) are not.
    for rpc in dome_sdk::contract::RPCS {
        assert!(report.surface.iter().any(|m| m == rpc.request), "{}", rpc.request);
        assert!(report.surface.iter().any(|m| m == rpc.response), "{}", rpc.response);
    }
    for carried in ["Job", "JobOutcome", "Artifact", "Provenance", "JobEvent", "TelemetryRef", "ServerLimits"] {
        assert!(report.surface.contains(&format!("dome.gateway.v1.{carried}")), "{carried}");
    }
    assert!(!report.surface.iter().any(|m| m.ends_with(".ErrorSpec") || m.ends_with("Entry")), "{:?}", report.surface);
    // Each mapped message was checked, with the requested number of cases.
    let mut checked: Vec<_> = report.fits.iter().map(|f| f.message.as_str()).collect();
    checked.sort();
    let mut expected: Vec<_> = dome_ssot::SUBJECTS.iter().map(|s| s.message).collect();
    expected.sort();
    assert_eq!(checked, expected);
    assert!(
        report.fits.iter().all(|f| f.cases >= QUICK.cases && f.cases <= QUICK.cases * ssot::CEILING_FACTOR),
        "{:#?}",
        report.fits
    );
}

#[test]
fn a_surface_message_without_mapping_fails_naming_it() {
    let tmp = proto_copy();
    let root = tmp.path();
    // `Widget` is carried by `Job`, so it joins the surface; `Orphan` is
    // reachable from no RPC and needs no mapping.
    edit(
        root,
        "dome/gateway/v1/jobs.proto",
        "  string idempotency_key = 15;\n}",
        "  string idempotency_key = 15;\n  // A new part.\n  Widget widget = 16;\n}\n\n\
         // A new message without an SSOT mapping.\nmessage Widget {\n  // Its name.\n  string name = 1;\n}\n\n\
         // Reachable from no RPC.\nmessage Orphan {\n  // Nothing.\n  string name = 1;\n}",
    );
    let report = ssot::check(root, &deltas(), &QUICK).unwrap();
    assert_eq!(kinds(&report), vec![(ProblemKind::Unmapped, "dome.gateway.v1.Widget".to_string())]);
    let text = report.problems[0].to_string();
    assert!(text.contains("`dome.gateway.v1.Widget`") && text.contains("option (ssot)"), "{text}");
    // It points at the declaration: the message follows `Job`'s closing
    // brace in jobs.proto.
    let jobs = std::fs::read_to_string(root.join("dome/gateway/v1/jobs.proto")).unwrap();
    let line = jobs.lines().position(|l| l == "message Widget {").unwrap() + 1;
    assert!(text.starts_with(&format!("dome/gateway/v1/jobs.proto:{line}:1: Unmapped")), "{text}");

    // Mapping it as a delta the register does not have fails on the
    // register instead; registering that delta makes the gate pass.
    edit(
        root,
        "dome/gateway/v1/jobs.proto",
        "message Widget {\n",
        "message Widget {\n  option (ssot) = { delta: \"D-WIDGET\" rationale: \"A test part.\" };\n",
    );
    let report = ssot::check(root, &deltas(), &QUICK).unwrap();
    assert_eq!(kinds(&report), vec![(ProblemKind::UnregisteredDelta, "D-WIDGET".to_string())]);
    let mut register: Value = serde_json::from_str(&std::fs::read_to_string(deltas()).unwrap()).unwrap();
    register["deltas"].as_array_mut().unwrap().push(serde_json::json!({
        "id": "D-WIDGET", "title": "Widgets", "change": "new", "families": [],
        "rationale": "A test.", "introduces": ["Job.widget", "Widget.name"]
    }));
    let register_path = root.join("deltas.json");
    std::fs::write(&register_path, register.to_string()).unwrap();
    let report = ssot::check(root, &register_path, &QUICK).unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

#[test]
fn a_message_mapped_onto_the_wrong_family_fails_with_the_shrunk_instance() {
    let tmp = proto_copy();
    let root = tmp.path();
    edit(
        root,
        "dome/gateway/v1/jobs.proto",
        "    family: SSOT_FAMILY_TASK_RESULT\n",
        "    family: SSOT_FAMILY_GATE_DECISION\n",
    );
    let report = ssot::check(root, &deltas(), &QUICK).unwrap();
    assert_eq!(kinds(&report), vec![(ProblemKind::Misfit, "dome.gateway.v1.JobOutcome".to_string())]);
    let text = report.problems[0].to_string();
    for expected in [
        "does not fit `gate.decision` through `dome_ssot::project_job_outcome`",
        "shrunk instance",
        "JobOutcome {",
        "\"artifact_kind\": \"task.result\"",
        "schema errors:",
        "\"run_id\" is a required property",
        "seed 0x00d03e5507a11905",
    ] {
        assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
    }
}

/// A message the proto stops mapping onto a family leaves its projection
/// stale, and the gate says so.
#[test]
fn a_projection_of_an_unmapped_message_is_stale() {
    let tmp = proto_copy();
    let root = tmp.path();
    edit(
        root,
        "dome/gateway/v1/decisions.proto",
        "    family: SSOT_FAMILY_GATE_DECISION\n    rationale: \"The telemetry_ref object",
        "    delta: \"D-DECISION-READ\"\n    rationale: \"The telemetry_ref object",
    );
    let report = ssot::check(root, &deltas(), &QUICK).unwrap();
    assert_eq!(kinds(&report), vec![(ProblemKind::StaleProjection, "dome.gateway.v1.TelemetryRef".to_string())]);
    assert!(report.problems[0].detail.contains("`dome_ssot::project_telemetry_ref`"), "{}", report.problems[0]);
}

/// The projection checker on a deliberately broken projection: the
/// failure is found, shrunk to a minimal instance, reported with the
/// schema's complaint, and is the same for the same seed.
#[test]
fn a_broken_projection_is_shrunk_and_reported() {
    // Writes the reason code in lowercase, which the policy pattern
    // forbids; only outcomes with a reason code (FAIL, BLOCKED) fail.
    let broken = |outcome: &JobOutcome| {
        let mut value = project::project_job_outcome(outcome);
        if let Some(code) = value.get_mut("reason_code") {
            *code = Value::String(code.as_str().unwrap_or_default().to_lowercase());
        }
        value
    };
    let target = Target { family: Family::TaskResult, object: None };
    let misfit = ssot::fit(&arbitrary::job_outcome(), broken, target, &QUICK).unwrap_err();
    assert_eq!(misfit.violations.len(), 1, "{misfit}");
    assert_eq!(misfit.violations[0].instance_path, "/reason_code", "{misfit}");
    // Shrunk: no artifacts, no output, the smallest attempt, a non-PASS
    // status (the failure needs a reason code).
    assert!(misfit.instance.contains("artifacts: []"), "{misfit}");
    assert!(misfit.instance.contains("attempt: 1,"), "{misfit}");
    assert!(!misfit.instance.contains(&format!("status: {},", TaskStatus::Pass as i32)), "{misfit}");
    assert!(misfit.to_string().contains("seed 0x00d03e5507a11905"), "{misfit}");
    let again = ssot::fit(&arbitrary::job_outcome(), broken, target, &QUICK).unwrap_err();
    assert_eq!(again.instance, misfit.instance, "the same seed finds the same instance");

    // The honest projection passes the same search.
    assert!(ssot::fit(&arbitrary::job_outcome(), project::project_job_outcome, target, &QUICK).unwrap().cases >= 32);
}

/// The count of a search is chosen by what it finds: a message whose
/// projections all look alike costs its floor; one whose projections still
/// show new shapes late in the search is searched further, up to the
/// ceiling.
#[test]
fn a_search_goes_on_while_it_finds_new_shapes() {
    let target = Target { family: Family::TaskResult, object: None };
    let floor = Options { cases: 8, ..QUICK };
    let outcome = arbitrary::job_outcome().new_tree(&mut TestRunner::deterministic()).unwrap().current();
    let alike = ssot::fit(&Just(outcome), project::project_job_outcome, target, &floor).unwrap();
    assert_eq!(alike.cases, 8, "one instance over and over shows nothing new: {alike:?}");
    let varied = ssot::fit(&arbitrary::job_outcome(), project::project_job_outcome, target, &floor).unwrap();
    assert!(varied.cases > 8 && varied.cases <= 8 * ssot::CEILING_FACTOR, "outcomes still vary after 8: {varied:?}");
    assert!(varied.shapes > alike.shapes, "{varied:?} vs {alike:?}");
}

/// Shapes are named in the schema's words: a key the schema does not
/// know counts as any key, an `enum` word is itself, other text is text.
#[test]
fn shapes_are_told_apart_in_the_schemas_words() {
    let mut shapes = ssot::Shapes::of(Target { family: Family::TaskResult, object: None });
    assert!(shapes.add(&serde_json::json!({ "status": "PASS", "labels": { "a": "x" } })));
    assert!(
        !shapes.add(&serde_json::json!({ "status": "PASS", "labels": { "b": "y" } })),
        "another unknown key and text"
    );
    assert!(shapes.add(&serde_json::json!({ "status": "FAIL" })), "another enum word");
    assert!(shapes.add(&serde_json::json!({ "status": "" })), "an empty string");
    assert!(!shapes.add(&serde_json::json!({ "status": "" })));
}

#[test]
fn the_register_must_agree_with_the_proto() {
    let pool = compile_tree(&project_root().join("proto"), &[]).unwrap().pool;
    let register = xtask::facts::read_register(&deltas()).unwrap();
    let none = Options { cases: 1, ..QUICK };
    assert!(ssot::check_pool(&pool, &register, &none).unwrap().problems.is_empty());

    // A row no message uses names nothing in the proto.
    let mut extra = register.clone();
    let mut row = extra.deltas[0].clone();
    row.id = "D-NOTHING".into();
    extra.deltas.push(row);
    let report = ssot::check_pool(&pool, &extra, &none).unwrap();
    assert_eq!(kinds(&report), vec![(ProblemKind::UnusedDelta, "D-NOTHING".to_string())]);

    // A delta used in the proto without a row.
    let mut missing = register.clone();
    missing.deltas.retain(|d| d.id != "D-CANCEL");
    let report = ssot::check_pool(&pool, &missing, &none).unwrap();
    assert_eq!(kinds(&report), vec![(ProblemKind::UnregisteredDelta, "D-CANCEL".to_string())]);
    assert!(report.problems[0].detail.contains("`dome.gateway.v1.CancelJobRequest`"), "{}", report.problems[0]);

    // Elements the proto does not have, a message of another delta, an
    // unknown family.
    let mut wrong = register.clone();
    let cancel = wrong.deltas.iter_mut().find(|d| d.id == "D-CANCEL").unwrap();
    cancel.introduces.push("CancelJobRequest.force".into());
    cancel.introduces.push("Job".into());
    cancel.change = "extends".into();
    cancel.families = vec!["work_queue".into()];
    let report = ssot::check_pool(&pool, &wrong, &none).unwrap();
    let details: Vec<_> = report.problems.iter().map(|p| p.detail.as_str()).collect();
    assert!(report.problems.iter().all(|p| p.kind == ProblemKind::BadRow && p.subject == "D-CANCEL"), "{details:#?}");
    assert_eq!(report.problems.len(), 3, "{details:#?}");
    assert!(details.iter().any(|d| d.contains("`CancelJobRequest.force`, which is not in the proto")), "{details:#?}");
    assert!(
        details.iter().any(|d| d.contains("the message `Job`, whose `(ssot)` option says it is no delta")),
        "{details:#?}"
    );
    assert!(details.iter().any(|d| d.contains("\"work_queue\", which is not an SSOT family")), "{details:#?}");
}

#[test]
fn every_register_element_resolves_to_what_it_names() {
    let pool = compile_tree(&project_root().join("proto"), &[]).unwrap().pool;
    use xtask::facts::{Element, resolve};
    assert_eq!(resolve(&pool, "GatewayService.CancelJob"), Some(Element::Method));
    assert_eq!(resolve(&pool, "GatewayService"), Some(Element::Service));
    assert_eq!(resolve(&pool, "JobEvent.payload"), Some(Element::Field));
    assert_eq!(resolve(&pool, "Job.labels"), Some(Element::Field));
    assert_eq!(resolve(&pool, "LogLevel"), Some(Element::Enum));
    assert_eq!(resolve(&pool, "ErrorReason.ERROR_REASON_QUEUE_FULL"), Some(Element::EnumValue));
    assert_eq!(resolve(&pool, "Skill"), Some(Element::Message("dome.gateway.v1.Skill".into())));
    assert_eq!(resolve(&pool, "GatewayService.DeleteJob"), None);
    assert_eq!(resolve(&pool, "ErrorReason.QUEUE_FULL"), None);
    assert_eq!(resolve(&pool, "Nothing.at_all"), None);
}

#[test]
fn seeds_parse_as_decimal_or_hex() {
    assert_eq!(ssot::parse_seed("0x00d0_3e55_07a1_1905"), Ok(ssot::DEFAULT_SEED));
    assert_eq!(ssot::parse_seed("42"), Ok(42));
    assert!(ssot::parse_seed("0xzz").is_err());
    assert!(ssot::parse_seed("").is_err());
}

#[test]
fn a_message_mapped_onto_the_zero_family_is_unmapped() {
    let tmp = proto_copy();
    let root = tmp.path();
    edit(
        root,
        "dome/gateway/v1/jobs.proto",
        "    family: SSOT_FAMILY_TASK_RESULT\n",
        "    family: SSOT_FAMILY_UNSPECIFIED\n",
    );
    let report = ssot::check(root, &deltas(), &QUICK).unwrap();
    let outcome = "dome.gateway.v1.JobOutcome".to_string();
    // Unmapped on the surface, and a projection `dome-ssot` still has for
    // a message the proto no longer maps.
    assert_eq!(kinds(&report), vec![(ProblemKind::Unmapped, outcome.clone()), (ProblemKind::StaleProjection, outcome)]);
    assert!(report.rows.iter().all(|r| r.family.as_deref() != Some("UNSPECIFIED")), "{:?}", report.rows);
}
