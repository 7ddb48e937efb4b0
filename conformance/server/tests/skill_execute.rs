//! `SkillExecute`: jobs are created queued, inputs are checked against the
//! skill's schema, idempotency keys are honoured, and the queue and
//! retention limits are typed errors.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;

use dome_sdk::contract::CONFORMANCE_SKILL_ID;
use dome_sdk::pb::{self, JobState, TaskStatus};
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_job_is_created_queued_with_its_provenance() {
    let mut h = common::start().await;
    let mut request = common::script(json!([{ "succeed": { "output": { "b": 2, "a": [1, 2] } } }]));
    request.correlation_id = "submit-1".into();
    request.labels = HashMap::from([("team".to_owned(), "core".to_owned())]);
    request.base_ref = "refs/heads/main".into();
    let resp = h.client.skill_execute(request).await.expect("created").into_inner();
    assert!(resp.created);
    assert_eq!(resp.correlation_id, "submit-1");
    let job = resp.job.expect("job");
    assert_eq!(job.state(), JobState::Queued);
    assert!(job.job_id.starts_with("job-") && job.job_id.len() == 36);
    assert!(job.run_id.starts_with("run-") && job.run_id.len() == 36);
    assert_eq!(job.task_id, job.job_id);
    assert_eq!(job.skill_id, CONFORMANCE_SKILL_ID);
    assert_eq!(job.skill_version, "1.0.0", "the empty version resolves to the highest");
    assert_eq!(job.correlation_id, "submit-1");
    assert_eq!(job.labels["team"], "core");
    assert!(job.create_time.is_some() && job.start_time.is_none() && job.end_time.is_none());
    assert!(job.outcome.is_none());
    assert_eq!(job.last_sequence, 1, "the creation event");
    let provenance = job.provenance.clone().expect("provenance");
    assert_eq!(provenance.base_ref, "refs/heads/main");
    assert_eq!(provenance.input_contract, format!("skill:{CONFORMANCE_SKILL_ID}@1.0.0"));
    assert_eq!(provenance.input_sha256.len(), 64);
    assert!(provenance.tool_versions.contains_key("domed"));

    let done = h.finished(&job.job_id).await;
    assert_eq!(done.state(), JobState::Succeeded);
    let outcome = done.outcome.expect("outcome");
    assert_eq!(outcome.status(), TaskStatus::Pass);
    assert_eq!(outcome.output_json, r#"{"a":[1,2],"b":2}"#, "canonical output");
    assert_eq!(outcome.attempt, 1);
    assert_eq!(done.provenance.expect("provenance").commands, vec!["succeed".to_owned()]);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_echo_skill_returns_its_input() {
    let mut h = common::start().await;
    let job = h
        .submit_request(pb::SkillExecuteRequest {
            skill_id: "dome.echo".into(),
            input_json: r#"{"message": "hi", "n": 12345678901234567}"#.into(),
            ..Default::default()
        })
        .await;
    let done = h.finished(&job.job_id).await;
    assert_eq!(done.outcome.expect("outcome").output_json, r#"{"message":"hi","n":12345678901234567}"#);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unknown_skills_and_versions_are_skill_not_found() {
    let mut h = common::start().await;
    let err = h
        .client
        .skill_execute(pb::SkillExecuteRequest {
            skill_id: "dome.nope".into(),
            input_json: "{}".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown skill");
    let info = common::assert_error(&err, Code::NotFound, "SKILL_NOT_FOUND");
    assert_eq!(info.metadata["skillId"], "dome.nope");
    assert_eq!(info.metadata["skillVersion"], "");

    let mut request = common::script(json!([]));
    request.skill_version = "9.9.9".into();
    let err = h.client.skill_execute(request).await.expect_err("unknown version");
    let info = common::assert_error(&err, Code::NotFound, "SKILL_NOT_FOUND");
    assert_eq!(info.metadata["skillVersion"], "9.9.9");

    let err = h.client.skill_execute(pb::SkillExecuteRequest::default()).await.expect_err("no skill id");
    let info = common::assert_error(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(info.metadata["field"], "skill_id");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_conformance_skill_needs_its_feature() {
    let mut h = common::start_with(domed::Config { conformance: false, ..Default::default() }).await;
    let err = h.client.skill_execute(common::script(json!([]))).await.expect_err("feature off");
    let info = common::assert_error(&err, Code::FailedPrecondition, "FEATURE_NOT_ENABLED");
    assert_eq!(info.metadata["feature"], "dome.conformance.v1");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn invalid_input_names_every_violation() {
    let mut h = common::start().await;
    let mut request = common::script(json!([
        { "progress": { "percent": 101 } },
        { "sleep": { "millis": 5 } },
        { "bogus": {} }
    ]));
    request.correlation_id = "bad-input".into();
    let err = h.client.skill_execute(request).await.expect_err("schema violations");
    let info = common::assert_error(&err, Code::InvalidArgument, "INVALID_SKILL_INPUT");
    assert_eq!(info.metadata["skillId"], CONFORMANCE_SKILL_ID);
    assert_eq!(info.metadata["correlationId"], "bad-input");
    let details = err.get_error_details();
    let violations = &details.bad_request().expect("BadRequest").field_violations;
    assert_eq!(info.metadata["violationCount"], violations.len().to_string());
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert!(fields.contains(&"input_json/steps/0/progress/percent"), "{fields:?}");
    assert!(fields.iter().any(|f| f.starts_with("input_json/steps/2")), "{fields:?}");
    assert!(!fields.iter().any(|f| f.starts_with("input_json/steps/1")), "the valid step is not named: {fields:?}");

    // Not JSON at all.
    let err = h
        .client
        .skill_execute(pb::SkillExecuteRequest {
            skill_id: CONFORMANCE_SKILL_ID.into(),
            input_json: "{not json".into(),
            ..Default::default()
        })
        .await
        .expect_err("not JSON");
    let info = common::assert_typed(&err, "INVALID_SKILL_INPUT");
    assert_eq!(info.metadata["violationCount"], "1");
    assert_eq!(err.get_error_details().bad_request().expect("BadRequest").field_violations[0].field, "input_json");

    // The root itself.
    let err = h
        .client
        .skill_execute(pb::SkillExecuteRequest {
            skill_id: CONFORMANCE_SKILL_ID.into(),
            input_json: "[]".into(),
            ..Default::default()
        })
        .await
        .expect_err("not an object");
    common::assert_typed(&err, "INVALID_SKILL_INPUT");
    assert_eq!(err.get_error_details().bad_request().expect("BadRequest").field_violations[0].field, "input_json");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn malformed_fields_are_invalid_argument() {
    let mut h = common::start().await;
    let cases: Vec<(pb::SkillExecuteRequest, &str)> = vec![
        (pb::SkillExecuteRequest { idempotency_key: "bad key".into(), ..common::script(json!([])) }, "idempotency_key"),
        (pb::SkillExecuteRequest { idempotency_key: "k".repeat(129), ..common::script(json!([])) }, "idempotency_key"),
        (
            pb::SkillExecuteRequest {
                labels: HashMap::from([("Upper".into(), "v".into())]),
                ..common::script(json!([]))
            },
            "labels",
        ),
        (
            pb::SkillExecuteRequest {
                labels: (0..33).map(|i| (format!("k{i}"), String::new())).collect(),
                ..common::script(json!([]))
            },
            "labels",
        ),
        (
            pb::SkillExecuteRequest {
                labels: HashMap::from([("k".into(), "v".repeat(257))]),
                ..common::script(json!([]))
            },
            "labels[k]",
        ),
        (pb::SkillExecuteRequest { run_id: "run with space".into(), ..common::script(json!([])) }, "run_id"),
    ];
    for (request, field) in cases {
        let err = h.client.skill_execute(request).await.expect_err("malformed");
        let info = common::assert_error(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(info.metadata["field"], field);
    }
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_input_over_max_input_bytes_is_limit_exceeded() {
    let mut h = common::start_with(common::limits(|l| l.max_input_bytes = 64)).await;
    let mut request = common::script(json!([{ "log": { "message": "x".repeat(100) } }]));
    request.correlation_id = "big".into();
    let err = h.client.skill_execute(request).await.expect_err("too large");
    let info = common::assert_error(&err, Code::ResourceExhausted, "LIMIT_EXCEEDED");
    assert_eq!(info.metadata["limit"], "max_input_bytes");
    assert_eq!(info.metadata["limitValue"], "64");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_original_job() {
    let mut h = common::start().await;
    let mut request = common::script(json!([{ "succeed": {} }]));
    request.idempotency_key = "key-1".into();
    request.labels = HashMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
    let first = h.client.skill_execute(request.clone()).await.expect("created").into_inner();
    assert!(first.created);
    let job = first.job.expect("job");
    assert_eq!(job.idempotency_key, "key-1");
    h.finished(&job.job_id).await;

    // The same request, with the input written differently: same canonical form.
    let mut same = request.clone();
    same.input_json = r#"{ "steps" : [ { "succeed" : { } } ] }"#.into();
    same.correlation_id = "retry".into();
    let second = h.client.skill_execute(same).await.expect("same job").into_inner();
    assert!(!second.created);
    assert_eq!(second.correlation_id, "retry");
    let again = second.job.expect("job");
    assert_eq!(again.job_id, job.job_id);
    assert_eq!(again.state(), JobState::Succeeded, "the original job in its current state");

    // Anything different is a conflict.
    let mut different = request.clone();
    different.base_ref = "other".into();
    let err = h.client.skill_execute(different).await.expect_err("conflict");
    let info = common::assert_error(&err, Code::AlreadyExists, "IDEMPOTENCY_KEY_CONFLICT");
    assert_eq!(info.metadata["idempotencyKey"], "key-1");
    assert_eq!(info.metadata["jobId"], job.job_id);
    let mut different = request;
    different.labels.insert("c".into(), "3".into());
    let err = h.client.skill_execute(different).await.expect_err("conflict");
    common::assert_typed(&err, "IDEMPOTENCY_KEY_CONFLICT");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_create_exactly_one_job() {
    let h = common::start().await;
    let mut request = common::script(json!([{ "park": {} }]));
    request.idempotency_key = "concurrent".into();
    let request = Arc::new(request);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let mut client = h.client.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(
            async move { client.skill_execute((*request).clone()).await.expect("ok").into_inner() },
        ));
    }
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let resp = t.await.expect("task");
        created += usize::from(resp.created);
        ids.insert(resp.job.expect("job").job_id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_full_queue_is_queue_full_with_retry_info() {
    let mut h = common::start_with(common::limits(|l| {
        l.max_running_jobs = 1;
        l.queue_capacity = 1;
    }))
    .await;
    let running = h.submit(json!([{ "park": {} }])).await;
    h.wait_state(&running.job_id, JobState::Running).await;
    let queued = h.submit(json!([])).await;
    let mut request = common::script(json!([]));
    request.correlation_id = "full".into();
    let err = h.client.skill_execute(request).await.expect_err("queue full");
    let info = common::assert_error(&err, Code::ResourceExhausted, "QUEUE_FULL");
    assert_eq!(info.metadata["queueCapacity"], "1");
    let retry = err.get_error_details().retry_info().cloned().expect("RetryInfo");
    assert!(retry.retry_delay.is_some());

    // Freeing the worker lets the queue drain and new jobs in.
    h.cancel(&running.job_id).await;
    assert_eq!(h.finished(&queued.job_id).await.state(), JobState::Succeeded);
    let next = h.submit(json!([])).await;
    assert_eq!(h.finished(&next.job_id).await.state(), JobState::Succeeded);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn retention_drops_the_oldest_terminal_job_and_then_limits() {
    let mut h = common::start_with(common::limits(|l| l.max_jobs_retained = 2)).await;
    let first = h.submit(json!([])).await;
    h.finished(&first.job_id).await;
    let parked = h.submit(json!([{ "park": {} }])).await;
    // A third job pushes out the oldest terminal one.
    let third = h.submit(json!([{ "park": {} }])).await;
    let err = h
        .client
        .get_job_status(pb::GetJobStatusRequest { job_id: first.job_id.clone(), ..Default::default() })
        .await
        .expect_err("dropped");
    common::assert_typed(&err, "JOB_NOT_FOUND");
    // Both retained jobs are live: nothing can be dropped.
    let err = h.client.skill_execute(common::script(json!([]))).await.expect_err("retention full");
    let info = common::assert_error(&err, Code::ResourceExhausted, "LIMIT_EXCEEDED");
    assert_eq!(info.metadata["limit"], "max_jobs_retained");
    assert_eq!(info.metadata["limitValue"], "2");
    h.cancel(&parked.job_id).await;
    h.cancel(&third.job_id).await;
    h.running.shutdown().await.expect("clean shutdown");
}
