//! `GetGateDecision` and `GetPromotionDecision`: a REJECT is data, and a
//! decision not recorded yet is `DECISION_NOT_FOUND`.

use crate::common;

use dome_sdk::pb::{self, DecisionStatus, SubstrateStatus, job_event::Payload};
use serde_json::json;
use tonic::Code;

const TRACE: &str = "0123456789abcdef0123456789abcdef";
const SPAN: &str = "0123456789abcdef";

#[tokio::test]
async fn a_rejected_gate_decision_is_a_successful_read() {
    let mut h = common::start().await;
    let job = h
        .submit(json!([{ "gate_decision": {
            "status": "REJECT",
            "reason_codes": ["VERIFY.TEST_FAILURE"],
            "substrate_status": "DENY",
            "confidence": 0.25,
            "risk_score": 80,
            "notes": ["flaky"],
            "telemetry_ref": { "trace_id_hex": TRACE, "span_id_hex": SPAN }
        } }]))
        .await;
    let events = h.all_events(&job.job_id, 0).await;
    let recorded = events
        .iter()
        .find_map(|e| match &e.payload {
            Some(Payload::GateDecisionRecorded(d)) => Some(d.clone()),
            _ => None,
        })
        .expect("the decision is emitted as an event");
    let resp = h
        .client
        .get_gate_decision(pb::GetGateDecisionRequest {
            run_id: job.run_id.clone(),
            correlation_id: "g-1".into(),
            ..Default::default()
        })
        .await
        .expect("REJECT is data")
        .into_inner();
    assert_eq!(resp.correlation_id, "g-1");
    let decision = resp.decision.expect("decision");
    assert_eq!(decision, recorded);
    assert_eq!(decision.status(), DecisionStatus::Reject);
    assert_eq!(decision.run_id, job.run_id);
    assert_eq!(decision.task_id, job.job_id);
    assert_eq!(decision.reason_codes, vec!["VERIFY.TEST_FAILURE".to_owned()]);
    assert_eq!(decision.substrate_status(), SubstrateStatus::Deny);
    assert_eq!(decision.confidence, Some(0.25));
    assert_eq!(decision.risk_score, Some(80));
    assert_eq!(decision.notes, vec!["flaky".to_owned()]);
    let telemetry = decision.telemetry_ref.expect("telemetry");
    assert_eq!((telemetry.trace_id_hex.as_str(), telemetry.span_id_hex.as_str()), (TRACE, SPAN));
    assert!(!decision.version.is_empty() && decision.record_time.is_some());
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn gate_decisions_are_read_per_task_and_last_per_run() {
    let mut h = common::start().await;
    let first = h.submit(json!([{ "gate_decision": { "status": "APPROVE" } }])).await;
    h.finished(&first.job_id).await;
    let mut request = common::script(json!([{ "gate_decision": { "status": "NEEDS_HUMAN" } }]));
    request.run_id = first.run_id.clone();
    let second = h.submit_request(request).await;
    assert_eq!(second.run_id, first.run_id, "the job joins the run");
    h.finished(&second.job_id).await;

    let read = |task: &str| pb::GetGateDecisionRequest {
        run_id: first.run_id.clone(),
        task_id: task.to_owned(),
        ..Default::default()
    };
    let last = h.client.get_gate_decision(read("")).await.expect("ok").into_inner().decision.expect("decision");
    assert_eq!(last.status(), DecisionStatus::NeedsHuman);
    let of_first =
        h.client.get_gate_decision(read(&first.job_id)).await.expect("ok").into_inner().decision.expect("decision");
    assert_eq!(of_first.status(), DecisionStatus::Approve);
    assert_eq!(of_first.task_id, first.job_id);
    // Generated telemetry references have the documented form.
    let t = of_first.telemetry_ref.expect("telemetry");
    assert!(t.trace_id_hex.len() == 32 && t.span_id_hex.len() == 16);

    let err = h.client.get_gate_decision(read("job-other")).await.expect_err("no decision for that task");
    let info = common::assert_error(&err, Code::NotFound, "DECISION_NOT_FOUND");
    assert_eq!(info.metadata["runId"], first.run_id);
    assert_eq!(info.metadata["decisionKind"], "gate");
    assert_eq!(info.metadata["taskId"], "job-other");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn promotion_decisions_rest_on_the_jobs_gate_decision() {
    let mut h = common::start().await;
    let job = h
        .submit(json!([
            { "gate_decision": { "status": "APPROVE", "telemetry_ref": { "trace_id_hex": TRACE, "span_id_hex": SPAN } } },
            { "promotion_decision": { "decision": "REJECT", "reason_codes": ["POLICY.NEEDS_HUMAN"], "confidence": 0.5, "risk_score": 40, "notes": ["n"] } }
        ]))
        .await;
    h.finished(&job.job_id).await;
    let resp = h
        .client
        .get_promotion_decision(pb::GetPromotionDecisionRequest {
            run_id: job.run_id.clone(),
            correlation_id: "p-1".into(),
        })
        .await
        .expect("REJECT is data")
        .into_inner();
    assert_eq!(resp.correlation_id, "p-1");
    let decision = resp.decision.expect("decision");
    assert_eq!(decision.decision(), DecisionStatus::Reject);
    assert_eq!(decision.reason_codes, vec!["POLICY.NEEDS_HUMAN".to_owned()]);
    assert_eq!((decision.confidence, decision.risk_score), (0.5, 40));
    let gate_ref = decision.gate_decision_ref.expect("gate ref");
    assert_eq!(gate_ref.task_id, job.job_id);
    assert_eq!(gate_ref.telemetry_ref.expect("telemetry").trace_id_hex, TRACE);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn no_decision_yet_is_decision_not_found() {
    let mut h = common::start().await;
    let job = h.submit(json!([])).await;
    h.finished(&job.job_id).await;
    let err = h
        .client
        .get_gate_decision(pb::GetGateDecisionRequest {
            run_id: job.run_id.clone(),
            correlation_id: "n-1".into(),
            ..Default::default()
        })
        .await
        .expect_err("none recorded");
    let info = common::assert_error(&err, Code::NotFound, "DECISION_NOT_FOUND");
    assert_eq!(info.metadata["decisionKind"], "gate");
    assert_eq!(info.metadata["taskId"], "");
    assert_eq!(info.metadata["correlationId"], "n-1");
    let err = h
        .client
        .get_promotion_decision(pb::GetPromotionDecisionRequest { run_id: "run-unknown".into(), ..Default::default() })
        .await
        .expect_err("none recorded");
    let info = common::assert_error(&err, Code::NotFound, "DECISION_NOT_FOUND");
    assert_eq!(info.metadata["decisionKind"], "promotion");
    assert_eq!(info.metadata["runId"], "run-unknown");

    for err in [
        h.client.get_gate_decision(pb::GetGateDecisionRequest::default()).await.expect_err("missing run"),
        h.client.get_promotion_decision(pb::GetPromotionDecisionRequest::default()).await.expect_err("missing run"),
    ] {
        assert_eq!(common::assert_typed(&err, "INVALID_ARGUMENT").metadata["field"], "run_id");
    }
    h.running.shutdown().await.expect("clean shutdown");
}
