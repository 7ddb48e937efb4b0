//! `StreamJobEvents`: replay after any cursor, live follow, many
//! subscribers, resuming, cursor errors, lagging subscribers and the
//! per-job subscriber limit.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use dome_sdk::pb::{self, JobState};
use serde_json::json;
use tonic::Code;

fn sequences(events: &[pb::JobEvent]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

#[tokio::test]
async fn replay_from_every_cursor_of_a_finished_job_is_exactly_the_suffix() {
    let mut h = common::start().await;
    let mut request = common::script(json!([
        { "progress": { "percent": 1, "message": "one" } },
        { "log": { "level": "WARN", "message": "careful" } },
        { "artifact": { "name": "a", "uri": "mem://a" } },
        { "bulk": { "count": 20 } },
        { "succeed": { "output": 7 } }
    ]));
    request.correlation_id = "replay".into();
    let job = h.submit_request(request).await;
    let all = h.all_events(&job.job_id, 0).await;
    let last = all.len() as u64;
    assert_eq!(sequences(&all), (1..=last).collect::<Vec<_>>(), "gapless from 1");
    assert_eq!(common::state_of(&all[0]), Some(JobState::Queued), "the first event is QUEUED");
    assert!(dome_sdk::is_terminal_event(&all[all.len() - 1]));
    assert_eq!(all.iter().filter(|e| dome_sdk::is_terminal_event(e)).count(), 1);
    let ids: HashSet<&str> = all.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "event ids are unique");
    for e in &all {
        assert!(e.event_id.starts_with("evt-") && e.event_id.len() == 36);
        assert_eq!(
            (e.job_id.as_str(), e.run_id.as_str(), e.correlation_id.as_str()),
            (job.job_id.as_str(), job.run_id.as_str(), "replay")
        );
        assert!(e.time.is_some() && e.payload.is_some());
    }
    assert_eq!(h.status(&job.job_id).await.last_sequence, last);

    for after in 0..=last {
        let suffix = h.all_events(&job.job_id, after).await;
        assert_eq!(suffix, all[after as usize..].to_vec(), "after {after}: the same events, ids and all");
    }
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_live_stream_follows_new_events_and_closes_after_the_terminal_one() {
    let mut h = common::start().await;
    let job = h.submit(json!([{ "progress": { "percent": 5 } }, { "park": {} }])).await;
    let mut stream = h.open(&job.job_id, 0).await.expect("stream");
    let mut seen = Vec::new();
    // QUEUED, RUNNING, progress: then the job is parked.
    while seen.len() < 3 {
        seen.push(stream.message().await.expect("ok").expect("event").event.expect("event"));
    }
    h.cancel(&job.job_id).await;
    let (rest, error) = common::drain(&mut stream).await;
    assert!(error.is_none(), "closes with OK");
    seen.extend(rest);
    assert_eq!(sequences(&seen), (1..=5).collect::<Vec<_>>(), "progress, cancel_requested, CANCELLED follow");
    assert!(dome_sdk::is_terminal_event(&seen[4]));
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_subscribers_see_the_identical_sequence() {
    let mut h = common::start_with(common::limits(|l| l.max_running_jobs = 1)).await;
    let blocker = h.submit(json!([{ "park": {} }])).await;
    h.wait_state(&blocker.job_id, JobState::Running).await;
    let job = h.submit(json!([{ "bulk": { "count": 300 } }, { "log": { "message": "end" } }, { "succeed": {} }])).await;
    let mut streams = Vec::new();
    for _ in 0..100 {
        streams.push(h.open(&job.job_id, 0).await.expect("stream"));
    }
    // Release the worker: the job runs while all hundred follow it.
    h.cancel(&blocker.job_id).await;
    let tasks: Vec<_> =
        streams.into_iter().map(|mut s| tokio::spawn(async move { common::drain(&mut s).await })).collect();
    let mut first: Option<Vec<pb::JobEvent>> = None;
    for task in tasks {
        let (events, error) = task.await.expect("task");
        assert!(error.is_none(), "{error:?}");
        assert_eq!(events.len(), 304);
        match &first {
            None => first = Some(events),
            Some(f) => assert_eq!(&events, f, "identical sequences"),
        }
    }
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn resuming_after_a_dropped_stream_loses_nothing() {
    let mut h = common::start().await;
    let job = h.submit(json!([{ "bulk": { "count": 40 } }, { "park": {} }])).await;
    let mut got = Vec::new();
    let mut stream = h.open(&job.job_id, 0).await.expect("stream");
    for _ in 0..10 {
        got.push(stream.message().await.expect("ok").expect("event").event.expect("event"));
    }
    drop(stream);
    // Resume from the last sequence seen; the job is still running.
    let after = got.last().expect("events").sequence;
    let mut stream = h.open(&job.job_id, after).await.expect("resumed");
    for _ in 0..20 {
        got.push(stream.message().await.expect("ok").expect("event").event.expect("event"));
    }
    drop(stream);
    h.cancel(&job.job_id).await;
    let after = got.last().expect("events").sequence;
    got.extend(h.all_events(&job.job_id, after).await);
    assert_eq!(sequences(&got), (1..=got.len() as u64).collect::<Vec<_>>());
    assert!(dome_sdk::is_terminal_event(got.last().expect("events")));
    assert_eq!(got, h.all_events(&job.job_id, 0).await);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_cursor_at_the_end_of_a_finished_job_closes_at_once() {
    let mut h = common::start().await;
    let job = h.submit(json!([])).await;
    let done = h.finished(&job.job_id).await;
    assert!(h.all_events(&job.job_id, done.last_sequence).await.is_empty());
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_cursor_ahead_of_head_is_typed() {
    let mut h = common::start().await;
    let job = h.submit(json!([])).await;
    let done = h.finished(&job.job_id).await;
    let err = h
        .client
        .stream_job_events(pb::StreamJobEventsRequest {
            job_id: job.job_id.clone(),
            after_sequence: done.last_sequence + 1,
            correlation_id: "ahead".into(),
        })
        .await
        .expect_err("ahead");
    let info = common::assert_error(&err, Code::OutOfRange, "CURSOR_AHEAD_OF_HEAD");
    assert_eq!(info.metadata["jobId"], job.job_id);
    assert_eq!(info.metadata["afterSequence"], (done.last_sequence + 1).to_string());
    assert_eq!(info.metadata["lastSequence"], done.last_sequence.to_string());
    assert_eq!(info.metadata["correlationId"], "ahead");

    let err = h.open("job-none", 0).await.expect_err("unknown job");
    assert_eq!(common::assert_error(&err, Code::NotFound, "JOB_NOT_FOUND").metadata["jobId"], "job-none");
    let err = h.open("", 0).await.expect_err("no job id");
    assert_eq!(common::assert_typed(&err, "INVALID_ARGUMENT").metadata["field"], "job_id");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_cursor_older_than_retention_is_cursor_expired() {
    let mut h = common::start_with(common::limits(|l| l.max_events_retained_per_job = 10)).await;
    let job = h.submit(json!([{ "bulk": { "count": 50 } }])).await;
    let done = h.wait_terminal(&job.job_id).await;
    let mut first_retained = 0;
    for after in [0, 10, 20] {
        match h.open(&job.job_id, after).await {
            Ok(_) => {}
            Err(err) => {
                let info = common::assert_error(&err, Code::FailedPrecondition, "CURSOR_EXPIRED");
                assert_eq!(info.metadata["jobId"], job.job_id);
                assert_eq!(info.metadata["afterSequence"], after.to_string());
                first_retained = info.metadata["firstRetainedSequence"].parse::<u64>().expect("decimal");
            }
        }
    }
    assert!(first_retained > 21, "the early cursors are gone (first retained {first_retained}, job {done:?})");
    // Streaming from firstRetainedSequence - 1 works and ends with the terminal event.
    let events = h.all_events(&job.job_id, first_retained - 1).await;
    assert_eq!(events.first().expect("events").sequence, first_retained);
    assert!(dome_sdk::is_terminal_event(events.last().expect("events")));
    assert!(events.len() <= 10);
    let finished = h.status(&job.job_id).await;
    assert_eq!(first_retained, finished.last_sequence - 9);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_lagged_and_resumes_without_a_gap() {
    let mut h = common::start_with(common::limits(|l| {
        l.max_running_jobs = 1;
        l.max_subscriber_lag_events = 8;
    }))
    .await;
    let blocker = h.submit(json!([{ "park": {} }])).await;
    h.wait_state(&blocker.job_id, JobState::Running).await;
    let job = h.submit(json!([{ "bulk": { "count": 2000 } }])).await;
    let mut stream = h.open(&job.job_id, 0).await.expect("stream");
    let first = stream.message().await.expect("ok").expect("event").event.expect("event");
    assert_eq!(first.sequence, 1);
    // The bulk step appends 2000 events in chunks of hundreds: far more
    // than 8 behind.
    h.cancel(&blocker.job_id).await;
    let (mut got, error) = common::drain(&mut stream).await;
    got.insert(0, first);
    let error = error.expect("the stream ends with an error");
    let info = common::assert_error(&error, Code::Aborted, "SUBSCRIBER_LAGGED");
    assert_eq!(info.metadata["jobId"], job.job_id);
    let resume: u64 = info.metadata["resumeAfterSequence"].parse().expect("decimal");
    assert_eq!(resume, got.last().expect("events").sequence, "resume after the last event sent");
    let retry = tonic_types::StatusExt::get_error_details(&error).retry_info().cloned().expect("RetryInfo");
    assert!(retry.retry_delay.is_some());
    // Resuming where each error says replays the rest without a gap (the
    // bulk may still be appending, so a resumed stream may lag again).
    let mut cursor = resume;
    loop {
        let (events, error) = h.events(&job.job_id, cursor).await;
        got.extend(events);
        let Some(error) = error else { break };
        let info = common::assert_error(&error, Code::Aborted, "SUBSCRIBER_LAGGED");
        cursor = info.metadata["resumeAfterSequence"].parse().expect("decimal");
    }
    assert_eq!(sequences(&got), (1..=2003).collect::<Vec<_>>());
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_limit_is_typed_and_a_dropped_stream_frees_its_slot() {
    let mut h = common::start_with(common::limits(|l| l.max_subscribers_per_job = 2)).await;
    let job = h.submit(json!([{ "park": {} }])).await;
    let a = h.open(&job.job_id, 0).await.expect("first");
    let _b = h.open(&job.job_id, 0).await.expect("second");
    let err = h.open(&job.job_id, 0).await.expect_err("third");
    let info = common::assert_error(&err, Code::ResourceExhausted, "LIMIT_EXCEEDED");
    assert_eq!(info.metadata["limit"], "max_subscribers_per_job");
    assert_eq!(info.metadata["limitValue"], "2");
    drop(a);
    // The server learns of the drop through the transport; retry until it has.
    let reopened = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match h.open(&job.job_id, 0).await {
                Ok(s) => return s,
                Err(e) => {
                    common::assert_typed(&e, "LIMIT_EXCEEDED");
                    tokio::task::yield_now().await;
                }
            }
        }
    })
    .await
    .expect("the dropped stream's slot is freed");
    drop(reopened);
    h.cancel(&job.job_id).await;
    h.running.shutdown().await.expect("clean shutdown");
}
