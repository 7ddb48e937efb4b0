//! Graceful shutdown: open streams end with `SHUTTING_DOWN` carrying where
//! to resume, running jobs are cancelled, the listener closes.

use crate::common;

use std::time::Duration;

use dome_sdk::pb::JobState;
use serde_json::json;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_end_with_shutting_down_and_jobs_are_cancelled() {
    let mut h =
        common::start_with(domed::Config { shutdown_grace: Duration::from_secs(5), ..Default::default() }).await;
    let job = h.submit(json!([{ "progress": { "percent": 1 } }, { "park": {} }])).await;
    let mut stream = h.open(&job.job_id, 0).await.expect("stream");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(stream.message().await.expect("ok").expect("event").event.expect("event"));
    }
    assert_eq!(seen.iter().filter_map(common::state_of).next_back(), Some(JobState::Running));
    let addr = h.running.local_addr();
    let shutdown = tokio::spawn(h.running.shutdown());
    let (rest, error) = common::drain(&mut stream).await;
    let error = error.expect("the stream ends with an error");
    let info = common::assert_error(&error, Code::Unavailable, "SHUTTING_DOWN");
    assert_eq!(info.metadata["jobId"], job.job_id);
    let resume: u64 = info.metadata["resumeAfterSequence"].parse().expect("decimal");
    let last_seen = rest.last().or(seen.last()).expect("events").sequence;
    assert_eq!(resume, last_seen);
    shutdown.await.expect("task").expect("clean shutdown");
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "nothing listens any more");
}

#[tokio::test]
async fn a_server_shutting_down_refuses_new_work() {
    let mut h =
        common::start_with(domed::Config { shutdown_grace: Duration::from_secs(5), ..Default::default() }).await;
    let job = h.submit(json!([{ "park": {} }])).await;
    h.wait_state(&job.job_id, JobState::Running).await;
    let mut client = h.client.clone();
    let done = tokio::spawn(h.running.shutdown());
    // Either the call lands while shutting down (typed SHUTTING_DOWN) or
    // after the listener closed (a transport error): never a new job.
    match client.skill_execute(common::script(json!([]))).await {
        Ok(resp) => panic!("a job was created during shutdown: {resp:?}"),
        Err(e) => {
            if tonic_types::StatusExt::get_error_details(&e).error_info().is_some() {
                common::assert_error(&e, Code::Unavailable, "SHUTTING_DOWN");
            }
            // Otherwise the transport refused the call (the listener or the
            // connection had closed): also no new job.
        }
    }
    done.await.expect("task").expect("clean shutdown");
}
