//! The conveniences on top of the RPCs: `execute_and_wait`, cancellation
//! helpers, and correlation ids set once per client or per call.

use crate::common;

use dome_sdk::{ApiError, Error, pb};

#[tokio::test]
async fn execute_and_wait_returns_the_terminal_job() {
    let server = common::default_server().await;
    let client = common::client(&server.url()).await;

    let before = std::time::SystemTime::now();
    let ok = common::script(&client, r#"[{"bulk":{"count":50}},{"succeed":{"output":[1,2]}}]"#)
        .send_and_wait(None)
        .await
        .expect("runs");
    assert_eq!(ok.state(), pb::JobState::Succeeded);
    assert_eq!(ok.outcome.as_ref().expect("an outcome").output_json, "[1,2]");
    // The time readers, named as their fields, give the wire times as
    // `SystemTime`s, in order; an unset time reads as `None`.
    let (created, ended) = (ok.create_time().expect("set"), ok.end_time().expect("set"));
    let second = std::time::Duration::from_secs(1);
    assert!(before - second <= created && created <= ended && ended <= std::time::SystemTime::now() + second);
    assert_eq!(pb::Job::default().create_time(), None);

    // A failed job is a successful call: its outcome carries the policy reason.
    let failed = common::script(&client, r#"[{"fail":{"reason_code":"EXEC.NONZERO_EXIT","message":"exit 3"}}]"#)
        .send_and_wait(None)
        .await
        .expect("runs");
    assert_eq!(failed.state(), pb::JobState::Failed);
    let outcome = failed.outcome.expect("an outcome");
    assert_eq!((outcome.status(), outcome.reason_code.as_str()), (pb::TaskStatus::Fail, "EXEC.NONZERO_EXIT"));

    // Submission errors come back typed, before anything is followed.
    let error = common::script(&client, r#"[{"nope":{}}]"#).send_and_wait(None).await.expect_err("invalid input");
    assert!(matches!(error, Error::Api(ApiError::InvalidSkillInput { .. })), "{error:?}");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn execute_and_wait_outlives_event_retention() {
    // Only 8 events are retained, and 500 pour out at once after the wait
    // began following (the script pauses first): the follower's next event
    // leaves retention, its resume is CURSOR_EXPIRED, and the wait reads
    // the job again instead of failing.
    let limits = domed::Limits { max_events_retained_per_job: 8, ..domed::Limits::default() };
    let server = common::server(domed::Config { limits, ..domed::Config::default() }).await;
    let client = common::client(&server.url()).await;
    let job = common::script(&client, r#"[{"sleep":{"millis":300}},{"bulk":{"count":500}}]"#)
        .send_and_wait(None)
        .await
        .expect("runs");
    assert_eq!(job.state(), pb::JobState::Succeeded);
    assert_eq!(job.last_sequence, 503, "queued, running, 500 progress, succeeded");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn cancel_and_wait_ends_a_parked_job_once() {
    let server = common::default_server().await;
    let client = common::client(&server.url()).await;
    let job = common::script(&client, r#"[{"park":{}}]"#).send().await.expect("submits").job;

    let cancelled = client.cancel_and_wait(job.job_id.clone(), "user asked", None).await.expect("cancels");
    assert_eq!(cancelled.state(), pb::JobState::Cancelled);
    assert_eq!(cancelled.outcome.expect("an outcome").reason_code, dome_sdk::contract::CANCELLED_REASON_CODE);

    // Cancelling again changes nothing and is still a success.
    let again = client.cancel_job(job.job_id.clone()).reason("again").send().await.expect("idempotent");
    assert!(!again.cancel_requested);
    let waited = client.wait_for_job(job.job_id.clone(), None).await.expect("already terminal");
    assert_eq!(waited.last_sequence, again.job.last_sequence);

    // Exactly one cancel-requested event in the log.
    let mut events = client.stream_job_events(job.job_id).after(0).send();
    let mut cancels = 0;
    while let Some(event) = events.next_event().await {
        if matches!(event.expect("no error").payload, Some(pb::job_event::Payload::CancelRequested(_))) {
            cancels += 1;
        }
    }
    assert_eq!(cancels, 1);
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn correlation_ids_are_set_per_client_or_per_call() {
    let server = common::default_server().await;
    let url = server.url();
    let client = dome_sdk::Client::builder(url.clone())
        .retry_policy(common::fast_retries())
        .correlation_id("corr-client")
        .connect()
        .await
        .expect("connects");
    assert_eq!(client.correlation_id(), Some("corr-client"));

    // Once per client: every call carries it.
    let job = common::script(&client, "[]").send_and_wait(None).await.expect("runs");
    assert_eq!(job.correlation_id, "corr-client");

    // Per call, through a derived client sharing the connection...
    let per_call = client.with_correlation_id("corr-call");
    let job = common::script(&per_call, "[]").send_and_wait(None).await.expect("runs");
    assert_eq!(job.correlation_id, "corr-call");
    let cancel = per_call.cancel_job(job.job_id.clone()).reason("").send().await.expect("answers");
    assert_eq!(cancel.correlation_id, "corr-call");

    // ...or in the request itself, which wins over the client's.
    let response = common::script(&client, "[]").correlation_id("corr-request").send().await.expect("submits");
    assert_eq!(response.correlation_id, "corr-request");
    assert_eq!(response.job.correlation_id, "corr-request");

    // Errors carry it too.
    let error = per_call.get_job_status(format!("job-{}", "0".repeat(32))).send().await.expect_err("no such job");
    assert_eq!(error.correlation_id(), Some("corr-call"));

    // Without one, the server assigns one per call.
    let anonymous = common::client(&url).await;
    let response = common::script(&anonymous, "[]").send().await.expect("submits");
    assert!(response.correlation_id.starts_with("corr-"), "{}", response.correlation_id);
    server.shutdown().await.expect("stops");
}
