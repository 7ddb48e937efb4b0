//! Each projection of a hand-built, contract-valid message validates
//! against its family; invalid messages project onto JSON that fails; the
//! event topics are the payload field names of the proto.

use dome_sdk::pb::Timestamp;
use dome_sdk::pb::{
    Artifact, DecisionStatus, GateDecision, GateDecisionRef, Job, JobCancelRequested, JobEvent, JobLog, JobOutcome,
    JobProgress, JobState, JobStateChanged, PromotionDecision, Provenance, SubstrateStatus, TaskStatus, TelemetryRef,
    job_event::Payload,
};
use dome_ssot::{Family, event_topic, project, schema_version, validate, validate_object};
use prost::Message as _;
use serde_json::json;

const JOB: &str = "job-5b0c8a1e2f3d4c6b9a7e8d1f0c2b3a4e";
const RUN: &str = "run-0f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn telemetry() -> TelemetryRef {
    TelemetryRef { trace_id_hex: "4bf92f3577b34da6a3ce929d0e0e4736".into(), span_id_hex: "00f067aa0ba902b7".into() }
}

fn provenance() -> Provenance {
    Provenance {
        run_id: RUN.into(),
        base_ref: "HEAD".into(),
        input_contract: "skill:dome.conformance.script@1.0.0".into(),
        input_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        commands: vec!["progress".into(), "succeed".into()],
        artifacts: [("report".to_string(), "mem://report".to_string())].into(),
        tool_versions: [("domed".to_string(), "0.1.0".to_string())].into(),
        policy_ref: String::new(),
    }
}

fn outcome() -> JobOutcome {
    JobOutcome {
        task_id: JOB.into(),
        status: TaskStatus::Fail as i32,
        reason_code: "EXEC.NONZERO_EXIT".into(),
        message: "step 2 failed".into(),
        transient: false,
        attempt: 1,
        artifacts: vec![Artifact { name: "log".into(), uri: "mem://log".into(), sha256: String::new() }],
        ..JobOutcome::default()
    }
}

fn job(state: JobState) -> Job {
    let terminal = matches!(state, JobState::Succeeded | JobState::Failed | JobState::Cancelled);
    Job {
        job_id: JOB.into(),
        run_id: RUN.into(),
        task_id: JOB.into(),
        skill_id: "dome.conformance.script".into(),
        skill_version: "1.0.0".into(),
        state: state as i32,
        create_time: Some(Timestamp { seconds: 1_772_011_800, nanos: 0 }),
        outcome: terminal.then(outcome),
        provenance: Some(provenance()),
        last_sequence: 3,
        correlation_id: "corr-1".into(),
        ..Job::default()
    }
}

fn gate_decision() -> GateDecision {
    GateDecision {
        version: "1.0.0".into(),
        run_id: RUN.into(),
        task_id: JOB.into(),
        status: DecisionStatus::Reject as i32,
        reason_codes: vec!["VERIFY.TEST_FAILURE".into()],
        telemetry_ref: Some(telemetry()),
        substrate_status: SubstrateStatus::Deny as i32,
        confidence: Some(0.25),
        risk_score: Some(40),
        notes: vec!["2 tests failed".into()],
        record_time: Some(Timestamp { seconds: 1, nanos: 0 }),
    }
}

fn promotion_decision() -> PromotionDecision {
    PromotionDecision {
        version: "1.0.0".into(),
        run_id: RUN.into(),
        decision: DecisionStatus::NeedsHuman as i32,
        reason_codes: vec!["POLICY.NEEDS_HUMAN".into()],
        confidence: 0.5,
        risk_score: 70,
        notes: vec![],
        gate_decision_ref: Some(GateDecisionRef { task_id: JOB.into(), telemetry_ref: Some(telemetry()) }),
        record_time: None,
    }
}

fn event(payload: Payload) -> JobEvent {
    JobEvent {
        event_id: "evt-8e2f1c0b9a7d6e5f4c3b2a1908f7e6d5".into(),
        sequence: 1,
        job_id: JOB.into(),
        run_id: RUN.into(),
        time: Some(Timestamp { seconds: 1_772_011_800, nanos: 125_000_000 }),
        correlation_id: "corr-1".into(),
        payload: Some(payload),
    }
}

fn payloads() -> Vec<Payload> {
    vec![
        Payload::StateChanged(JobStateChanged { state: JobState::Queued as i32, outcome: None }),
        Payload::StateChanged(JobStateChanged { state: JobState::Failed as i32, outcome: Some(outcome()) }),
        Payload::Progress(JobProgress { percent: 50, message: String::new() }),
        Payload::Log(JobLog { level: 0, message: "hello".into() }),
        Payload::CancelRequested(JobCancelRequested {
            reason: "user".into(),
            previous_state: JobState::Running as i32,
        }),
        Payload::GateDecisionRecorded(gate_decision()),
        Payload::PromotionDecisionRecorded(promotion_decision()),
        Payload::ArtifactProduced(Artifact { name: "a".into(), uri: "mem://a".into(), sha256: "0".repeat(64) }),
    ]
}

#[test]
fn a_job_in_every_state_projects_onto_work_queue() {
    let expected = [
        (JobState::Queued, "QUEUED"),
        (JobState::Running, "RUNNING"),
        (JobState::Cancelling, "RUNNING"),
        (JobState::Succeeded, "DONE"),
        (JobState::Failed, "DONE"),
        (JobState::Cancelled, "BLOCKED"),
    ];
    for (state, status) in expected {
        let value = project::project_job(&job(state));
        assert_eq!(validate(Family::WorkQueue, &value), Ok(()), "{state:?}: {value:#}");
        assert_eq!(value["tasks"][0]["status"], status, "{state:?}");
    }
    let value = project::project_job(&job(JobState::Running));
    assert_eq!(
        value,
        json!({
            "artifact_kind": "work.queue",
            "version": schema_version(Family::WorkQueue),
            "run_id": RUN,
            "base_ref": "HEAD",
            "max_workers": 1,
            "tasks": [{ "task_id": JOB, "goal": "skill:dome.conformance.script@1.0.0", "status": "RUNNING" }],
        })
    );
}

#[test]
fn an_outcome_projects_onto_task_result() {
    let value = project::project_job_outcome(&outcome());
    assert_eq!(validate(Family::TaskResult, &value), Ok(()), "{value:#}");
    assert_eq!(
        value,
        json!({
            "artifact_kind": "task.result",
            "task_id": JOB,
            "status": "FAIL",
            "notes": "step 2 failed",
            "attempt": 1,
            "reason_code": "EXEC.NONZERO_EXIT",
            "transient": false,
            "artifacts": [{ "name": "log", "uri": "mem://log" }],
        })
    );
    let pass = JobOutcome { status: TaskStatus::Pass as i32, output_json: "{\"n\":1}".into(), ..JobOutcome::default() };
    let value = project::project_job_outcome(&JobOutcome { task_id: JOB.into(), ..pass });
    assert_eq!(validate(Family::TaskResult, &value), Ok(()), "{value:#}");
    assert_eq!(value.get("transient"), None, "transient is only written on FAIL");
}

#[test]
fn decisions_project_onto_their_families() {
    let value = project::project_gate_decision(&gate_decision());
    assert_eq!(validate(Family::GateDecision, &value), Ok(()), "{value:#}");
    assert_eq!(value.get("record_time"), None, "record_time is not part of gate.decision");
    assert_eq!(value["substrate_status"], "DENY");
    let bare =
        GateDecision { substrate_status: 0, confidence: None, risk_score: None, notes: vec![], ..gate_decision() };
    let value = project::project_gate_decision(&bare);
    assert_eq!(validate(Family::GateDecision, &value), Ok(()), "{value:#}");
    for absent in ["substrate_status", "confidence", "risk_score", "notes"] {
        assert_eq!(value.get(absent), None, "unset `{absent}` is omitted");
    }

    let value = project::project_promotion_decision(&promotion_decision());
    assert_eq!(validate(Family::PromotionDecision, &value), Ok(()), "{value:#}");
    assert_eq!(value["notes"], json!([]), "notes is required, so written even when empty");

    let telemetry_json = project::project_telemetry_ref(&telemetry());
    assert_eq!(validate_object(Family::GateDecision, "telemetry_ref", &telemetry_json), Ok(()));
    let reference =
        project::project_gate_decision_ref(&GateDecisionRef { task_id: JOB.into(), telemetry_ref: Some(telemetry()) });
    assert_eq!(validate_object(Family::PromotionDecision, "gate_decision_ref", &reference), Ok(()));
}

#[test]
fn provenance_projects_onto_run_manifest() {
    let value = project::project_provenance(&provenance());
    assert_eq!(validate(Family::RunManifest, &value), Ok(()), "{value:#}");
    assert_eq!(value["inputs"]["pre_contract_path"], "skill:dome.conformance.script@1.0.0");
    assert_eq!(value["refs"], json!({ "base_ref": "HEAD" }));
    assert_eq!(value["runtime"]["tool_versions"]["domed"], "0.1.0");
}

#[test]
fn every_payload_projects_onto_event_envelope() {
    for payload in payloads() {
        let value = project::project_job_event(&event(payload.clone()));
        assert_eq!(validate(Family::EventEnvelope, &value), Ok(()), "{payload:?}: {value:#}");
        assert_eq!(value["ts"], "2026-02-25T09:30:00.125Z");
        assert_eq!(value["payload"]["job_id"], JOB);
        assert_eq!(value["payload"]["correlation_id"], "corr-1");
    }
    let log = project::project_job_event(&event(Payload::Log(JobLog { level: 0, message: "x".into() })));
    assert_eq!(log["payload"]["level"], "INFO", "an unspecified level is INFO");
    let gate = project::project_job_event(&event(Payload::GateDecisionRecorded(gate_decision())));
    assert_eq!(validate(Family::GateDecision, &gate["payload"]["gate_decision"]), Ok(()));
}

/// The topic is `job.` and the name of the payload field, for every field
/// of the `payload` oneof in the compiled contract.
#[test]
fn event_topics_are_the_payload_field_names() {
    let set = prost_types::FileDescriptorSet::decode(dome_sdk::FILE_DESCRIPTOR_SET).unwrap();
    let message = set
        .file
        .iter()
        .filter(|f| f.package() == "dome.gateway.v1")
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == "JobEvent")
        .expect("JobEvent in the descriptor set");
    let oneof = message.oneof_decl.iter().position(|o| o.name() == "payload").unwrap() as i32;
    let mut fields: Vec<String> =
        message.field.iter().filter(|f| f.oneof_index == Some(oneof)).map(|f| format!("job.{}", f.name())).collect();
    let mut topics: Vec<String> = payloads().into_iter().map(|p| event_topic(&event(p)).unwrap().to_string()).collect();
    fields.sort();
    topics.sort();
    topics.dedup();
    assert_eq!(topics, fields);
    assert_eq!(event_topic(&JobEvent::default()), None);
}

/// Invalid messages are not repaired: their projections fail validation,
/// naming the field.
#[test]
fn invalid_messages_project_onto_invalid_json() {
    let no_provenance = Job { provenance: None, ..job(JobState::Queued) };
    let errors = validate(Family::WorkQueue, &project::project_job(&no_provenance)).unwrap_err();
    assert!(errors.iter().any(|e| e.message.contains("base_ref")), "{errors:?}");

    let unspecified = Job { state: 0, ..job(JobState::Queued) };
    let errors = validate(Family::WorkQueue, &project::project_job(&unspecified)).unwrap_err();
    assert_eq!(errors[0].instance_path, "/tasks/0/status", "{errors:?}");

    let bad_reason = JobOutcome { reason_code: "nonzero exit".into(), ..outcome() };
    let errors = validate(Family::TaskResult, &project::project_job_outcome(&bad_reason)).unwrap_err();
    assert_eq!(errors[0].instance_path, "/reason_code", "{errors:?}");

    let no_telemetry = GateDecision { telemetry_ref: None, ..gate_decision() };
    assert!(validate(Family::GateDecision, &project::project_gate_decision(&no_telemetry)).is_err());

    let nan = PromotionDecision { confidence: f64::NAN, ..promotion_decision() };
    let errors = validate(Family::PromotionDecision, &project::project_promotion_decision(&nan)).unwrap_err();
    assert_eq!(errors[0].instance_path, "/confidence", "{errors:?}");

    let short_hash = Provenance { input_sha256: "abc".into(), ..provenance() };
    let errors = validate(Family::RunManifest, &project::project_provenance(&short_hash)).unwrap_err();
    assert_eq!(errors[0].instance_path, "/inputs/pre_contract_sha256", "{errors:?}");

    let no_payload = JobEvent { payload: None, time: None, ..event(Payload::Log(JobLog::default())) };
    let errors = validate(Family::EventEnvelope, &project::project_job_event(&no_payload)).unwrap_err();
    assert!(errors.iter().any(|e| e.message.contains("topic")), "{errors:?}");
    assert!(errors.iter().any(|e| e.message.contains("ts")), "{errors:?}");
}
