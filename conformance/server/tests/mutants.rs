//! Each mutant (feature `mutants`) breaks its one rule, observably over
//! the wire. The conformance suite proves it catches them; this only
//! shows each one is live.

#![cfg(feature = "mutants")]

use crate::common;

use dome_sdk::pb::{self, JobState};
use domed::Mutant;
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

async fn with(mutant: Mutant) -> common::Harness {
    common::start_with(domed::Config { mutant: Some(mutant), ..Default::default() }).await
}

fn seqs(events: &[pb::JobEvent]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

#[test]
fn ids_round_trip_and_rules_are_one_line() {
    for m in Mutant::ALL {
        assert_eq!(m.id().parse::<Mutant>().ok(), Some(*m));
        assert!(!m.rule().is_empty() && !m.rule().contains('\n'));
    }
    assert!("nope".parse::<Mutant>().is_err());
}

#[tokio::test]
async fn error_mutants() {
    let mut h = with(Mutant::WrongStatusCode).await;
    let err = h
        .client
        .get_job_status(pb::GetJobStatusRequest { job_id: "job-x".into(), ..Default::default() })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.get_error_details().error_info().map(|i| i.reason.as_str()), Some("JOB_NOT_FOUND"));
    h.running.shutdown().await.expect("shutdown");

    let mut h = with(Mutant::MissingErrorInfo).await;
    let err = h
        .client
        .get_job_status(pb::GetJobStatusRequest { job_id: "job-x".into(), ..Default::default() })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.get_error_details().error_info().is_none());
    h.running.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sequence_and_stream_mutants() {
    let steps = json!([{ "progress": { "percent": 1 } }, { "progress": { "percent": 2 } }, { "succeed": {} }]);
    let mut h = with(Mutant::SkippedSequence).await;
    let job = h.submit(steps.clone()).await;
    assert_eq!(seqs(&h.all_events(&job.job_id, 0).await), vec![1, 2, 4, 5, 6]);
    h.running.shutdown().await.expect("shutdown");

    let mut h = with(Mutant::DuplicatedEvent).await;
    let job = h.submit(steps.clone()).await;
    assert_eq!(seqs(&h.all_events(&job.job_id, 0).await), vec![1, 2, 2, 3, 4, 5]);
    h.running.shutdown().await.expect("shutdown");

    let mut h = with(Mutant::EventsOutOfOrder).await;
    let job = h.submit(steps.clone()).await;
    assert_eq!(seqs(&h.all_events(&job.job_id, 0).await), vec![1, 3, 2, 4, 5]);
    h.running.shutdown().await.expect("shutdown");

    let mut h = with(Mutant::NoTerminalEvent).await;
    let job = h.submit(steps.clone()).await;
    let events = h.all_events(&job.job_id, 0).await;
    assert_eq!(seqs(&events), vec![1, 2, 3, 4]);
    assert!(!events.iter().any(dome_sdk::is_terminal_event));
    h.running.shutdown().await.expect("shutdown");

    let mut h = with(Mutant::ResumeReturnsWholeLog).await;
    let job = h.submit(steps.clone()).await;
    h.wait_terminal(&job.job_id).await;
    assert_eq!(seqs(&h.all_events(&job.job_id, 3).await), vec![1, 2, 3, 4, 5]);
    h.running.shutdown().await.expect("shutdown");

    let mut h = with(Mutant::StreamNeverCloses).await;
    let job = h.submit(steps).await;
    let mut stream = h.open(&job.job_id, 0).await.expect("stream");
    for _ in 0..5 {
        stream.message().await.expect("ok").expect("event");
    }
    let next = tokio::time::timeout(std::time::Duration::from_millis(300), stream.message()).await;
    assert!(next.is_err(), "the stream stays open after the terminal event");
    drop(stream);
    h.running.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn cancel_mutants() {
    let mut h = with(Mutant::CancelIgnored).await;
    let job = h.submit(json!([{ "park": {} }])).await;
    h.wait_state(&job.job_id, JobState::Running).await;
    h.cancel(&job.job_id).await;
    assert_eq!(h.status(&job.job_id).await.state(), JobState::Running);
    drop(h.running);

    let mut h = with(Mutant::CancelFinishedErrors).await;
    let job = h.submit(json!([])).await;
    h.wait_terminal(&job.job_id).await;
    assert!(h.client.cancel_job(pb::CancelJobRequest { job_id: job.job_id, ..Default::default() }).await.is_err());
    h.running.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn idempotency_and_decision_mutants() {
    let mut h = with(Mutant::DuplicateIdempotentJob).await;
    let mut request = common::script(json!([]));
    request.idempotency_key = "k".into();
    let a = h.submit_request(request.clone()).await;
    let b = h.submit_request(request).await;
    assert_ne!(a.job_id, b.job_id);
    h.running.shutdown().await.expect("shutdown");

    let mut h = with(Mutant::RejectAsError).await;
    let job = h.submit(json!([{ "gate_decision": { "status": "REJECT" } }])).await;
    h.wait_terminal(&job.job_id).await;
    let read = h
        .client
        .get_gate_decision(pb::GetGateDecisionRequest { run_id: job.run_id.clone(), ..Default::default() })
        .await;
    assert!(read.is_err());
    h.running.shutdown().await.expect("shutdown");
}
