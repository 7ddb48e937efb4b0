//! `CancelJob`: queued, parked, sleeping and finished jobs, repeated
//! cancels, and cancels racing a job's own end.

use crate::common;

use dome_sdk::pb::{self, JobState, TaskStatus, job_event::Payload};
use serde_json::json;
use tonic::Code;

fn cancel_events(events: &[pb::JobEvent]) -> usize {
    events.iter().filter(|e| matches!(e.payload, Some(Payload::CancelRequested(_)))).count()
}

#[tokio::test]
async fn a_queued_job_ends_cancelled_at_once() {
    let mut h = common::start_with(common::limits(|l| l.max_running_jobs = 1)).await;
    let blocker = h.submit(json!([{ "park": {} }])).await;
    h.wait_state(&blocker.job_id, JobState::Running).await;
    let queued = h.submit(json!([{ "succeed": {} }])).await;
    let resp = h
        .client
        .cancel_job(pb::CancelJobRequest {
            job_id: queued.job_id.clone(),
            correlation_id: "c-1".into(),
            reason: "not needed".into(),
        })
        .await
        .expect("cancel")
        .into_inner();
    assert!(resp.cancel_requested);
    assert_eq!(resp.correlation_id, "c-1");
    let job = resp.job.expect("job");
    assert_eq!(job.state(), JobState::Cancelled);
    assert!(job.start_time.is_none(), "never started");
    let outcome = job.outcome.expect("outcome");
    assert_eq!(outcome.status(), TaskStatus::Blocked);
    assert_eq!(outcome.reason_code, dome_sdk::contract::CANCELLED_REASON_CODE);

    let events = h.all_events(&queued.job_id, 0).await;
    let states: Vec<Option<JobState>> = events.iter().map(common::state_of).collect();
    assert_eq!(states, vec![Some(JobState::Queued), None, Some(JobState::Cancelled)]);
    match &events[1].payload {
        Some(Payload::CancelRequested(c)) => {
            assert_eq!(c.reason, "not needed");
            assert_eq!(c.previous_state(), JobState::Queued);
        }
        other => panic!("expected cancel_requested, got {other:?}"),
    }
    assert_eq!(events[1].correlation_id, "c-1", "the cancel event carries the cancel call's id");
    assert_eq!(events[0].correlation_id, queued.correlation_id);

    h.cancel(&blocker.job_id).await;
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_parked_job_is_woken_and_ends_cancelled() {
    let mut h = common::start().await;
    let job = h.submit(json!([{ "progress": { "percent": 10 } }, { "park": {} }, { "succeed": {} }])).await;
    h.wait_state(&job.job_id, JobState::Running).await;
    let resp = h.cancel(&job.job_id).await;
    assert!(resp.cancel_requested);
    let state = resp.job.expect("job").state();
    assert!(matches!(state, JobState::Cancelling | JobState::Cancelled), "{state:?}");
    let done = h.finished(&job.job_id).await;
    assert_eq!(done.state(), JobState::Cancelled);
    assert_eq!(done.outcome.expect("outcome").reason_code, dome_sdk::contract::CANCELLED_REASON_CODE);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_sleeping_job_is_woken_at_once() {
    let mut h = common::start().await;
    // Ten seconds of sleep: the test finishing quickly shows the wake-up.
    let job = h.submit(json!([{ "log": { "message": "before" } }, { "sleep": { "millis": 10000 } }])).await;
    let mut stream = h.open(&job.job_id, 0).await.expect("stream");
    // Wait for the log event: the sleep step starts right after it.
    loop {
        let msg = stream.message().await.expect("ok").expect("more events");
        if matches!(msg.event.and_then(|e| e.payload), Some(Payload::Log(_))) {
            break;
        }
    }
    let started = std::time::Instant::now();
    h.cancel(&job.job_id).await;
    let (rest, error) = common::drain(&mut stream).await;
    assert!(error.is_none());
    assert!(rest.last().is_some_and(dome_sdk::is_terminal_event));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "woken, not slept out");
    assert_eq!(h.status(&job.job_id).await.state(), JobState::Cancelled);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn cancelling_a_finished_job_changes_nothing() {
    let mut h = common::start().await;
    let job = h
        .submit(json!([{ "fail": { "reason_code": "EXEC.NONZERO_EXIT", "message": "exit 2", "transient": true } }]))
        .await;
    let before = h.finished(&job.job_id).await;
    assert_eq!(before.state(), JobState::Failed);
    let resp = h.cancel(&job.job_id).await;
    assert!(!resp.cancel_requested);
    assert_eq!(resp.job.expect("job"), before);
    let outcome = before.outcome.expect("outcome");
    assert_eq!(outcome.status(), TaskStatus::Fail);
    assert_eq!(outcome.reason_code, "EXEC.NONZERO_EXIT");
    assert!(outcome.transient);
    assert_eq!(h.status(&job.job_id).await.last_sequence, before.last_sequence);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn cancelling_twice_emits_one_event() {
    let mut h = common::start().await;
    let job = h.submit(json!([{ "park": {} }])).await;
    h.wait_state(&job.job_id, JobState::Running).await;
    let first = h.cancel(&job.job_id).await;
    let second = h.cancel(&job.job_id).await;
    assert!(first.cancel_requested);
    assert!(!second.cancel_requested);
    let events = h.all_events(&job.job_id, 0).await;
    assert_eq!(cancel_events(&events), 1);
    assert_eq!(events.iter().filter(|e| dome_sdk::is_terminal_event(e)).count(), 1);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_completion_ends_in_exactly_one_terminal_state() {
    let mut h = common::start().await;
    for i in 0..100 {
        let steps = if i % 2 == 0 {
            json!([{ "bulk": { "count": 200 } }, { "succeed": {} }])
        } else {
            json!([{ "bulk": { "count": 100 } }, { "fail": { "reason_code": "EXEC.X" } }])
        };
        let job = h.submit(steps).await;
        let mut a = h.client.clone();
        let mut b = h.client.clone();
        let id = job.job_id.clone();
        let id2 = job.job_id.clone();
        let (ra, rb) = tokio::join!(
            a.cancel_job(pb::CancelJobRequest { job_id: id, ..Default::default() }),
            b.cancel_job(pb::CancelJobRequest { job_id: id2, ..Default::default() }),
        );
        let effective = usize::from(ra.expect("ok").into_inner().cancel_requested)
            + usize::from(rb.expect("ok").into_inner().cancel_requested);
        assert!(effective <= 1, "at most one call's cancel takes effect");
        let events = h.all_events(&job.job_id, 0).await;
        let terminals: Vec<&pb::JobEvent> = events.iter().filter(|e| dome_sdk::is_terminal_event(e)).collect();
        assert_eq!(terminals.len(), 1, "exactly one terminal event");
        assert!(std::ptr::eq(terminals[0], events.last().expect("events")), "and it is the last");
        assert_eq!(cancel_events(&events), effective);
        let seqs: Vec<u64> = events.iter().map(|e| e.sequence).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
        let job = h.status(&job.job_id).await;
        assert_eq!(Some(job.state()), common::state_of(terminals[0]));
        assert!(matches!(job.state(), JobState::Succeeded | JobState::Failed | JobState::Cancelled));
    }
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unknown_and_missing_jobs_are_typed() {
    let mut h = common::start().await;
    let err = h
        .client
        .cancel_job(pb::CancelJobRequest {
            job_id: "job-unknown".into(),
            correlation_id: "c".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown");
    let info = common::assert_error(&err, Code::NotFound, "JOB_NOT_FOUND");
    assert_eq!(info.metadata["jobId"], "job-unknown");
    assert_eq!(info.metadata["correlationId"], "c");
    let err = h.client.cancel_job(pb::CancelJobRequest::default()).await.expect_err("missing");
    assert_eq!(common::assert_typed(&err, "INVALID_ARGUMENT").metadata["field"], "job_id");
    let err = h
        .client
        .cancel_job(pb::CancelJobRequest { job_id: "job-x".into(), reason: "r".repeat(1025), ..Default::default() })
        .await
        .expect_err("reason too long");
    assert_eq!(common::assert_typed(&err, "INVALID_ARGUMENT").metadata["field"], "reason");
    h.running.shutdown().await.expect("clean shutdown");
}
