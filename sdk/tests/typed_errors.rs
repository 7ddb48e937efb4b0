//! Every typed error a client can provoke from the reference server,
//! produced by a real call and decoded to its [`ApiError`] variant with its
//! typed fields. (`PERMISSION_DENIED` and `INTERNAL` have no call that
//! provokes them on the reference server; the unit tests of `src/error`
//! cover their decoding.)

use crate::common;

use std::time::Duration;

use dome_sdk::contract::API_VERSION;
use dome_sdk::{ApiError, Client, Error, RetryPolicy, pb};
use tonic_types::StatusExt as _;

/// A client that never retries, so the first error is the one returned.
async fn no_retry(url: &str) -> Client {
    Client::builder(url).retry_policy(RetryPolicy::never()).connect().await.expect("connects")
}

fn api(result: Result<impl std::fmt::Debug, Error>) -> ApiError {
    match result {
        Err(Error::Api(e)) => e,
        other => panic!("expected a typed api error, got {other:?}"),
    }
}

async fn submit(client: &Client, steps: &str) -> pb::Job {
    common::script(client, steps).send().await.expect("submits").job
}

#[tokio::test]
async fn request_errors_decode_with_their_fields() {
    let server = common::default_server().await;
    let client = no_retry(&server.url()).await.with_correlation_id("corr-typed-errors");

    // INVALID_ARGUMENT: a required field left empty.
    match api(client.get_job_status("").send().await) {
        ApiError::InvalidArgument { field, violations, correlation_id, .. } => {
            assert_eq!(field, "job_id");
            assert!(violations.iter().any(|v| v.field == "job_id"), "{violations:?}");
            assert_eq!(correlation_id, "corr-typed-errors", "the client's correlation id is echoed");
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }

    // INVALID_SKILL_INPUT: input that breaks the script schema.
    let e = api(common::script(&client, r#"[{"progress":{"percent":500}}]"#).send().await);
    match &e {
        ApiError::InvalidSkillInput { skill_id, violation_count, violations, .. } => {
            assert_eq!(skill_id, dome_sdk::contract::CONFORMANCE_SKILL_ID);
            assert_eq!(*violation_count, violations.len() as u64, "a number, not text");
            assert!(violations.iter().all(|v| v.field.starts_with("input_json")), "{violations:?}");
        }
        other => panic!("expected INVALID_SKILL_INPUT, got {other:?}"),
    }

    // SKILL_NOT_FOUND.
    match api(client.skill_execute("no.such.skill", "{}").skill_version("9.9.9").send().await) {
        ApiError::SkillNotFound { skill_id, skill_version, .. } => {
            assert_eq!((skill_id.as_str(), skill_version.as_str()), ("no.such.skill", "9.9.9"));
        }
        other => panic!("expected SKILL_NOT_FOUND, got {other:?}"),
    }

    // JOB_NOT_FOUND.
    let unknown = format!("job-{}", "0".repeat(32));
    match api(client.get_job_status(unknown.clone()).send().await) {
        ApiError::JobNotFound { job_id, .. } => assert_eq!(job_id, unknown),
        other => panic!("expected JOB_NOT_FOUND, got {other:?}"),
    }

    // DECISION_NOT_FOUND: a run without decisions.
    let job = submit(&client, "[]").await;
    match api(client.get_gate_decision(job.run_id.clone()).task_id(job.job_id.clone()).send().await) {
        ApiError::DecisionNotFound { run_id, decision_kind, task_id, .. } => {
            assert_eq!((run_id, decision_kind, task_id), (job.run_id.clone(), "gate".to_string(), job.job_id.clone()));
        }
        other => panic!("expected DECISION_NOT_FOUND, got {other:?}"),
    }
    match api(client.get_promotion_decision(job.run_id.clone()).send().await) {
        ApiError::DecisionNotFound { decision_kind, .. } => assert_eq!(decision_kind, "promotion"),
        other => panic!("expected DECISION_NOT_FOUND, got {other:?}"),
    }

    // IDEMPOTENCY_KEY_CONFLICT: the same key with another input.
    let first = common::script(&client, "[]").idempotency_key("key-conflict-1");
    let created = first.clone().send().await.expect("submits").job;
    let other_input = common::script(&client, r#"[{"progress":{"percent":1}}]"#).idempotency_key("key-conflict-1");
    match api(other_input.send().await) {
        ApiError::IdempotencyKeyConflict { idempotency_key, job_id, .. } => {
            assert_eq!((idempotency_key.as_str(), job_id), ("key-conflict-1", created.job_id));
        }
        other => panic!("expected IDEMPOTENCY_KEY_CONFLICT, got {other:?}"),
    }

    // UNSUPPORTED_API_VERSION: another version stated on the call.
    match api(client.list_capabilities().api_version("v9").send().await) {
        ApiError::UnsupportedApiVersion { requested_version, supported_versions, .. } => {
            assert_eq!(requested_version, "v9");
            assert!(supported_versions.iter().any(|v| v == API_VERSION), "{supported_versions:?}");
        }
        other => panic!("expected UNSUPPORTED_API_VERSION, got {other:?}"),
    }
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn stream_cursor_errors_decode_with_their_sequences() {
    let limits = domed::Limits { max_events_retained_per_job: 5, ..domed::Limits::default() };
    let server = common::server(domed::Config { limits, ..domed::Config::default() }).await;
    let client = no_retry(&server.url()).await;
    let job = common::script(&client, r#"[{"bulk":{"count":20}}]"#).send_and_wait(None).await.expect("runs");
    assert!(job.last_sequence > 5, "more events than are retained");

    // CURSOR_AHEAD_OF_HEAD: a cursor past the last event.
    let mut events = client.stream_job_events(job.job_id.clone()).after(job.last_sequence + 10).send();
    let e = api(events.next_event().await.expect("one item").map(|_| ()));
    match &e {
        ApiError::CursorAheadOfHead { after_sequence, last_sequence, .. } => {
            assert_eq!((*after_sequence, *last_sequence), (job.last_sequence + 10, job.last_sequence));
        }
        other => panic!("expected CURSOR_AHEAD_OF_HEAD, got {other:?}"),
    }
    assert!(events.next_event().await.is_none(), "the stream ends after its error");

    // CURSOR_EXPIRED: a cursor before retention is a typed gap, not silence.
    let mut events = client.stream_job_events(job.job_id.clone()).after(0).send();
    let e = api(events.next_event().await.expect("one item").map(|_| ()));
    match &e {
        ApiError::CursorExpired { job_id, after_sequence, first_retained_sequence, .. } => {
            assert_eq!(job_id, &job.job_id);
            assert_eq!((*after_sequence, *first_retained_sequence), (0, job.last_sequence - 4));
        }
        other => panic!("expected CURSOR_EXPIRED, got {other:?}"),
    }
    assert!(events.next_event().await.is_none());
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn capacity_errors_decode_with_their_limits() {
    let limits =
        domed::Limits { queue_capacity: 1, max_running_jobs: 1, max_input_bytes: 200, ..domed::Limits::default() };
    let server = common::server(domed::Config { limits, ..domed::Config::default() }).await;
    let client = no_retry(&server.url()).await;

    // LIMIT_EXCEEDED: an input over `max_input_bytes`.
    let long = format!(r#"[{{"log":{{"message":"{}"}}}}]"#, "x".repeat(300));
    match api(common::script(&client, &long).send().await) {
        ApiError::LimitExceeded { limit, limit_value, .. } => {
            assert_eq!((limit.as_str(), limit_value), ("max_input_bytes", 200));
        }
        other => panic!("expected LIMIT_EXCEEDED, got {other:?}"),
    }

    // QUEUE_FULL: one job running, one queued, the third has no room.
    let running = submit(&client, r#"[{"park":{}}]"#).await;
    let queued = submit(&client, r#"[{"park":{}}]"#).await;
    let e = api(common::script(&client, r#"[{"park":{}}]"#).send().await);
    match &e {
        ApiError::QueueFull { queue_capacity, retry_delay, .. } => {
            assert_eq!(*queue_capacity, 1);
            assert!(retry_delay.is_some_and(|d| d > Duration::ZERO), "a retryable error says when to retry");
        }
        other => panic!("expected QUEUE_FULL, got {other:?}"),
    }
    assert!(e.is_retryable());
    for job in [queued, running] {
        let job = client.cancel_and_wait(job.job_id, "done", None).await.expect("cancels");
        assert_eq!(job.state(), pb::JobState::Cancelled);
    }
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn profile_and_credential_errors_decode() {
    // FEATURE_NOT_ENABLED: the conformance skill on a server without the profile.
    let plain = common::server(domed::Config { conformance: false, ..domed::Config::default() }).await;
    let client = no_retry(&plain.url()).await;
    match api(common::script(&client, "[]").send().await) {
        ApiError::FeatureNotEnabled { feature, .. } => assert_eq!(feature, dome_sdk::contract::CONFORMANCE_FEATURE),
        other => panic!("expected FEATURE_NOT_ENABLED, got {other:?}"),
    }
    plain.shutdown().await.expect("stops");

    // UNAUTHENTICATED: no token, or the wrong one; the right one connects.
    let guarded = common::server(domed::Config { auth_token: Some("s3cret".into()), ..domed::Config::default() }).await;
    let refused = Client::builder(guarded.url()).retry_policy(RetryPolicy::never()).connect().await;
    assert!(matches!(api(refused.map(|_| ())), ApiError::Unauthenticated { .. }));
    let wrong = Client::builder(guarded.url()).auth_token("nope").retry_policy(RetryPolicy::never()).connect().await;
    assert!(matches!(api(wrong.map(|_| ())), ApiError::Unauthenticated { .. }));
    let client = Client::builder(guarded.url()).auth_token("s3cret").connect().await.expect("the token is accepted");
    assert!(client.capabilities().features.iter().any(|f| f == dome_sdk::contract::FEATURE_AUTH_BEARER));
    guarded.shutdown().await.expect("stops");
}

#[tokio::test]
async fn stream_enders_decode_with_their_resume_point() {
    let limits = domed::Limits { max_subscriber_lag_events: 4, ..domed::Limits::default() };
    let server = common::server(domed::Config { limits, ..domed::Config::default() }).await;
    let client = no_retry(&server.url()).await;
    let mut raw = client.raw();

    // SUBSCRIBER_LAGGED: 5000 events appended at once, after the call
    // began (the script waits before its burst), leave the subscriber far
    // behind at once.
    // Should a loaded machine open the stream only after the burst, the
    // whole log is a replay, which never lags: the stream then ends
    // normally and the attempt is repeated with a longer pause.
    let mut lagged = None;
    for pause_ms in [500, 2000, 8000] {
        let script = format!(r#"[{{"sleep":{{"millis":{pause_ms}}}}},{{"bulk":{{"count":5000}}}}]"#);
        let job = submit(&client, &script).await;
        let request = pb::StreamJobEventsRequest { job_id: job.job_id.clone(), ..Default::default() };
        let mut stream = raw.stream_job_events(request).await.expect("opens").into_inner();
        let mut last = 0;
        loop {
            match stream.message().await {
                Ok(Some(message)) => last = message.event.expect("an event").sequence,
                Ok(None) => break,
                Err(status) => {
                    lagged = Some((status, last));
                    break;
                }
            }
        }
        if lagged.is_some() {
            break;
        }
    }
    let (status, last) = lagged.expect("a stream opened before the burst ends with SUBSCRIBER_LAGGED");
    // Seen on the raw stream (the SDK's own stream resumes from it):
    // decoded as the SDK decodes it, covered reason by reason in its unit
    // tests.
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "SUBSCRIBER_LAGGED", "{status:?}");
    assert_eq!(info.metadata.get("resumeAfterSequence"), Some(&last.to_string()), "resume from the last event sent");
    assert!(
        status.get_details_retry_info().is_some_and(|r| r.retry_delay.is_some()),
        "a retryable error carries RetryInfo"
    );

    // SHUTTING_DOWN: a stream open on a parked job when the server stops.
    let parked = submit(&client, r#"[{"park":{}}]"#).await;
    let request = pb::StreamJobEventsRequest { job_id: parked.job_id.clone(), ..Default::default() };
    let mut stream = raw.stream_job_events(request).await.expect("opens").into_inner();
    let first = stream.message().await.expect("an event").expect("not the end");
    let mut last = first.event.expect("an event").sequence;
    let stopping = tokio::spawn(server.shutdown());
    let status = loop {
        match stream.message().await {
            Ok(Some(message)) => last = message.event.expect("an event").sequence,
            Ok(None) => panic!("the stream ended without SHUTTING_DOWN after #{last}"),
            Err(status) => break status,
        }
    };
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "SHUTTING_DOWN", "{status:?}");
    assert_eq!(info.metadata.get("resumeAfterSequence"), Some(&last.to_string()));
    assert_eq!(info.metadata.get("jobId"), Some(&parked.job_id));
    assert!(status.get_details_retry_info().is_some(), "a retryable error carries RetryInfo");
    stopping.await.expect("joins").expect("stops");
}
