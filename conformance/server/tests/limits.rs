//! Request-size limits: a request over `max_request_bytes` is a typed
//! `LIMIT_EXCEEDED`, even though tonic refuses it before any handler runs.

use crate::common;

use dome_sdk::pb;
use serde_json::json;
use tonic::Code;

#[tokio::test]
async fn an_oversized_request_is_limit_exceeded() {
    let mut h = common::start_with(common::limits(|l| l.max_request_bytes = 1024)).await;
    let request = common::script(json!([{ "log": { "message": "x".repeat(2000) } }]));
    let err = h.client.skill_execute(request).await.expect_err("too large");
    let info = common::assert_error(&err, Code::ResourceExhausted, "LIMIT_EXCEEDED");
    assert_eq!(info.metadata["limit"], "max_request_bytes");
    assert_eq!(info.metadata["limitValue"], "1024");

    let err = h
        .client
        .get_job_status(pb::GetJobStatusRequest { job_id: "j".repeat(5000), ..Default::default() })
        .await
        .expect_err("too large");
    common::assert_typed(&err, "LIMIT_EXCEEDED");

    // StreamJobEvents has a route of its own; the limit holds there too.
    let err = match h
        .client
        .stream_job_events(pb::StreamJobEventsRequest { job_id: "j".repeat(5000), ..Default::default() })
        .await
    {
        Err(status) => status,
        Ok(stream) => common::drain(&mut stream.into_inner()).await.1.expect("too large"),
    };
    let info = common::assert_error(&err, Code::ResourceExhausted, "LIMIT_EXCEEDED");
    assert_eq!(info.metadata["limit"], "max_request_bytes");

    // A request within the limit still works afterwards.
    let job = h.submit(json!([])).await;
    assert_eq!(h.finished(&job.job_id).await.state(), pb::JobState::Succeeded);
    h.running.shutdown().await.expect("clean shutdown");
}
