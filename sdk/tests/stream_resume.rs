//! Event streams survive disconnects: a connection killed mid-stream, cut
//! after a number of bytes, or ended by `SUBSCRIBER_LAGGED` is resumed from
//! the last delivered sequence, and every event is delivered exactly once,
//! in order, up to the terminal event.

use crate::common;

use dome_sdk::{Client, JobEventStream, is_terminal_event, pb};
use proptest::prelude::*;

/// Reads `events` to its end; fails on an error item.
async fn drain(events: &mut JobEventStream, into: &mut Vec<pb::JobEvent>) {
    while let Some(item) = events.next_event().await {
        into.push(item.expect("the stream resumes rather than failing"));
    }
}

fn assert_exactly_once(events: &[pb::JobEvent], last_sequence: u64) {
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=last_sequence).collect::<Vec<_>>(), "each sequence once, in order");
    assert!(is_terminal_event(events.last().expect("events")), "the last event is the terminal one");
}

#[tokio::test]
async fn a_stream_survives_a_connection_killed_mid_way() {
    let server = common::default_server().await;
    let direct = common::client(&server.url()).await;
    // 2 000 events at once, then the job waits for a cancel: the stream is
    // busy when its connection dies, and cannot have ended.
    let job = common::script(&direct, r#"[{"bulk":{"count":2000}},{"park":{}}]"#).send().await.expect("submits");
    let job = job.job;

    let proxy = common::Proxy::start(server.local_addr(), 0).await;
    let through_proxy = common::client(&proxy.url()).await;
    let mut events = through_proxy.stream_job_events(job.job_id.clone()).after(0).send();
    let mut seen = Vec::new();
    while seen.len() < 100 {
        seen.push(events.next_event().await.expect("more events").expect("no error"));
    }
    proxy.kill_all();
    // Everything before the park (queued, running, 2 000 progress events).
    while seen.len() < 2002 {
        seen.push(events.next_event().await.expect("more events").expect("the stream resumes"));
    }
    direct.cancel_job(job.job_id.clone()).reason("enough").send().await.expect("cancels");
    drain(&mut events, &mut seen).await;
    // The cancel's events were appended after the kill, so they came over
    // a new connection.
    assert!(proxy.accepted() >= 2, "the stream reconnected through the proxy");
    let job = direct.get_job_status(job.job_id).send().await.expect("reads");
    assert_eq!(job.state(), pb::JobState::Cancelled);
    assert_exactly_once(&seen, job.last_sequence);
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_lagging_reader_is_resumed_without_loss() {
    // Lagging more than 4 events behind ends a stream with SUBSCRIBER_LAGGED;
    // the burst comes after the stream is open, so this one lags at once.
    let limits = domed::Limits { max_subscriber_lag_events: 4, ..domed::Limits::default() };
    let server = common::server(domed::Config { limits, ..domed::Config::default() }).await;
    let client = common::client(&server.url()).await;
    let job = common::script(&client, r#"[{"sleep":{"millis":500}},{"bulk":{"count":3000}}]"#)
        .send()
        .await
        .expect("submits")
        .job;
    let mut events = client.stream_job_events(job.job_id.clone()).after(0).send();
    let mut seen = Vec::new();
    drain(&mut events, &mut seen).await;
    let job = client.get_job_status(job.job_id).send().await.expect("reads");
    assert_eq!(job.state(), pb::JobState::Succeeded);
    assert_exactly_once(&seen, job.last_sequence);
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_stream_resumes_from_a_caller_cursor_and_ends_at_once_on_a_finished_job() {
    let server = common::default_server().await;
    let client = common::client(&server.url()).await;
    let job = common::script(&client, r#"[{"bulk":{"count":10}}]"#).send_and_wait(None).await.expect("runs");
    let mut events = client.stream_job_events(job.job_id.clone()).after(5).send();
    let mut seen = Vec::new();
    drain(&mut events, &mut seen).await;
    let sequences: Vec<u64> = seen.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (6..=job.last_sequence).collect::<Vec<_>>());
    // A cursor at the terminal event: nothing left, the stream just ends.
    let mut events = client.stream_job_events(job.job_id.clone()).after(job.last_sequence).send();
    assert!(events.next_event().await.is_none());
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_gap_the_server_cannot_fill_is_a_typed_error() {
    // Only 8 events are retained and 500 pour out at once after the stream
    // opened: the stream's next event leaves retention, and resuming from
    // it is CURSOR_EXPIRED, which the stream yields rather than skipping.
    let limits = domed::Limits { max_events_retained_per_job: 8, ..domed::Limits::default() };
    let server = common::server(domed::Config { limits, ..domed::Config::default() }).await;
    let client = common::client(&server.url()).await;
    let job = common::script(&client, r#"[{"sleep":{"millis":300}},{"bulk":{"count":500}}]"#)
        .send()
        .await
        .expect("submits")
        .job;
    let mut events = client.stream_job_events(job.job_id.clone()).after(0).send();
    let mut delivered = Vec::new();
    let error = loop {
        match events.next_event().await.expect("the stream reports the gap before it ends") {
            Ok(event) => delivered.push(event.sequence),
            Err(error) => break error,
        }
    };
    assert!(events.next_event().await.is_none(), "the stream ends after its error");
    assert_eq!(delivered, (1..=delivered.len() as u64).collect::<Vec<_>>(), "a gapless prefix");
    match error {
        dome_sdk::Error::Api(dome_sdk::ApiError::CursorExpired {
            after_sequence,
            first_retained_sequence: first,
            ..
        }) => {
            assert_eq!(after_sequence, delivered.len() as u64);
            assert!(first > delivered.len() as u64 + 1, "events {} to {} are gone", delivered.len() + 1, first - 1);
        }
        other => panic!("expected CURSOR_EXPIRED, got {other:?}"),
    }
    server.shutdown().await.expect("stops");
}

/// One job of `count` progress events followed to its end through a proxy
/// that kills its first carried connection after `cut` bytes.
async fn follow_through_a_cut(server: &domed::Running, direct: &Client, count: u32, cut: usize) {
    let job = common::script(direct, &format!(r#"[{{"bulk":{{"count":{count}}}}}]"#)).send().await.expect("submits");
    let job = job.job;
    let proxy = common::Proxy::start_with(server.local_addr(), 0, Some(cut)).await;
    // The cut may fall in the handshake or ListCapabilities: connecting
    // retries on a new connection like any call.
    let client = common::client(&proxy.url()).await;
    let mut events = client.stream_job_events(job.job_id.clone()).after(0).send();
    let mut seen = Vec::new();
    drain(&mut events, &mut seen).await;
    let job = direct.get_job_status(job.job_id).send().await.expect("reads");
    assert_exactly_once(&seen, job.last_sequence);
}

proptest! {
    // Each case runs a job over real connections: few cases.
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn streams_cut_after_any_byte_deliver_each_event_once(count in 1u32..400, cut in 64usize..40_000) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let server = common::default_server().await;
            let direct = common::client(&server.url()).await;
            follow_through_a_cut(&server, &direct, count, cut).await;
            server.shutdown().await.expect("stops");
        });
    }
}
