//! `GetJobStatus`: the job as it is now, and the typed errors.

use crate::common;

use dome_sdk::pb::{self, JobState};
use serde_json::json;
use tonic::Code;

#[tokio::test]
async fn reads_a_job_through_its_life() {
    let mut h = common::start().await;
    let job = h.submit(json!([{ "artifact": { "name": "report", "uri": "file:///tmp/r.txt" } }, { "park": {} }])).await;
    h.wait_state(&job.job_id, JobState::Running).await;
    let resp = h
        .client
        .get_job_status(pb::GetJobStatusRequest { job_id: job.job_id.clone(), correlation_id: "s-1".into() })
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(resp.correlation_id, "s-1");
    let running = resp.job.expect("job");
    assert!(matches!(running.state(), JobState::Running));
    assert!(running.start_time.is_some());
    assert!(running.last_sequence >= 2);
    h.cancel(&job.job_id).await;
    let done = h.finished(&job.job_id).await;
    assert_eq!(done.state(), JobState::Cancelled);
    assert!(done.end_time.is_some());
    let events = h.all_events(&job.job_id, 0).await;
    assert_eq!(done.last_sequence, events.last().expect("events").sequence);
    let outcome = done.outcome.expect("outcome");
    assert_eq!(outcome.artifacts.len(), 1);
    assert_eq!(outcome.artifacts[0].name, "report");
    assert_eq!(done.provenance.expect("provenance").artifacts["report"], "file:///tmp/r.txt");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_typed() {
    let mut h = common::start().await;
    let err = h
        .client
        .get_job_status(pb::GetJobStatusRequest { job_id: "job-0000".into(), correlation_id: "s-2".into() })
        .await
        .expect_err("unknown");
    let info = common::assert_error(&err, Code::NotFound, "JOB_NOT_FOUND");
    assert_eq!(info.metadata["jobId"], "job-0000");
    assert_eq!(info.metadata["correlationId"], "s-2");
    assert!(err.message().contains("job-0000"), "dynamic values of the message are in the metadata");

    let err = h.client.get_job_status(pb::GetJobStatusRequest::default()).await.expect_err("missing");
    let info = common::assert_error(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(info.metadata["field"], "job_id");
    h.running.shutdown().await.expect("clean shutdown");
}
