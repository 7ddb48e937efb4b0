//! The quickstart example, run against the reference server: the code
//! newcomers copy works as written.

use crate::common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/quickstart.rs"]
mod example;

use dome_sdk::pb;

#[tokio::test]
async fn the_quickstart_runs_a_job_to_success() {
    let server = common::default_server().await;
    let (events, job) = example::run(&server.url()).await.expect("the quickstart runs");
    assert_eq!(job.state(), pb::JobState::Succeeded);
    let outcome = job.outcome.clone().expect("a terminal job has an outcome");
    assert_eq!(outcome.status(), pb::TaskStatus::Pass);
    assert_eq!(outcome.output_json, r#"{"answer":42}"#);
    assert_eq!(job.correlation_id, "quickstart", "the client's correlation id reached the job");
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=job.last_sequence).collect::<Vec<_>>(), "every event once, in order");
    assert!(dome_sdk::is_terminal_event(events.last().expect("at least one event")));
    server.shutdown().await.expect("the server stops");
}
