//! What the server emits projects onto dome's SSOT families: jobs,
//! outcomes, provenance, decisions and every event validate against their
//! family's schema, and the advertised schema versions are the families'.

use crate::common;

use dome_sdk::pb::{self, job_event::Payload};
use dome_ssot::{Family, validate};
use serde_json::json;

#[tokio::test]
async fn every_emitted_record_fits_its_family() {
    let mut h = common::start().await;
    let caps = h.client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("ok").into_inner();
    for (entry, family) in caps.ssot_schema_versions.iter().zip(Family::ALL) {
        assert_eq!(entry.family, family.to_pb() as i32);
        assert_eq!(entry.version, dome_ssot::schema_version(family));
    }

    let scripts = [
        json!([
            { "progress": { "percent": 10, "message": "start" } },
            { "log": { "level": "ERROR", "message": "oops" } },
            { "artifact": { "name": "log", "uri": "file:///l", "sha256": "a".repeat(64) } },
            { "gate_decision": { "status": "REJECT", "reason_codes": ["VERIFY.TEST_FAILURE"], "substrate_status": "STOP", "confidence": 0.1, "risk_score": 9, "notes": ["n"] } },
            { "promotion_decision": { "decision": "NEEDS_HUMAN", "reason_codes": ["POLICY.NEEDS_HUMAN"] } },
            { "bulk": { "count": 3 } },
            { "succeed": { "output": { "ok": true } } }
        ]),
        json!([{ "fail": { "reason_code": "EXEC.NONZERO_EXIT", "transient": true } }]),
        json!([{ "park": {} }]),
    ];
    for (i, steps) in scripts.into_iter().enumerate() {
        let job = h.submit(steps).await;
        if i == 2 {
            h.wait_state(&job.job_id, pb::JobState::Running).await;
            h.cancel(&job.job_id).await;
        }
        let done = h.finished(&job.job_id).await;
        assert_eq!(validate(Family::WorkQueue, &dome_ssot::project_job(&done)), Ok(()), "job {done:?}");
        let outcome = done.outcome.clone().expect("outcome");
        assert_eq!(validate(Family::TaskResult, &dome_ssot::project_job_outcome(&outcome)), Ok(()));
        let provenance = done.provenance.clone().expect("provenance");
        assert_eq!(validate(Family::RunManifest, &dome_ssot::project_provenance(&provenance)), Ok(()));
        for event in h.all_events(&job.job_id, 0).await {
            assert_eq!(
                validate(Family::EventEnvelope, &dome_ssot::project_job_event(&event)),
                Ok(()),
                "event {event:?}"
            );
            match &event.payload {
                Some(Payload::GateDecisionRecorded(d)) => {
                    assert_eq!(validate(Family::GateDecision, &dome_ssot::project_gate_decision(d)), Ok(()));
                }
                Some(Payload::PromotionDecisionRecorded(d)) => {
                    assert_eq!(validate(Family::PromotionDecision, &dome_ssot::project_promotion_decision(d)), Ok(()));
                }
                _ => {}
            }
        }
    }
    h.running.shutdown().await.expect("clean shutdown");
}
