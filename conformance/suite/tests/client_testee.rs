//! The client mode's own failure handling: a testee that cannot start,
//! crashes, hangs, writes garbage or speaks another protocol version ends
//! as a clear error or a failed case that says what was seen, never as a
//! hang of the runner; a profile the testee does not declare is a skip.

use std::time::Duration;

use dome_conformance::client::protocol::{self, Hello};
use dome_conformance::client::{self, ClientOptions};
use dome_conformance::{RunOptions, Status};

fn options(command: &[&str], filter: Option<&str>) -> ClientOptions {
    ClientOptions {
        command: command.iter().map(|s| s.to_string()).collect(),
        run: RunOptions {
            cases: 2,
            seed: 5,
            filter: filter.map(String::from),
            // Reads from the testee get a quarter of this, at least 1 s.
            timeout: Duration::from_secs(4),
            ..RunOptions::default()
        },
    }
}

async fn run_error(command: &[&str]) -> String {
    match client::run(&options(command, None), |_, _, _| {}).await {
        Ok(report) => panic!("a run with `{command:?}` must fail to start, it reported {:?}", report.cases.first()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_testee_that_cannot_start_is_an_error() {
    let e = run_error(&["/nonexistent/dome-testee"]).await;
    assert!(e.contains("cannot start the testee `/nonexistent/dome-testee`"), "{e}");
}

#[tokio::test]
async fn a_testee_that_exits_at_once_is_an_error_naming_the_exit() {
    let e = run_error(&["true"]).await;
    assert!(e.contains("stdout closed while waiting for its greeting"), "{e}");
}

#[tokio::test]
async fn a_garbage_greeting_is_an_error_quoting_it() {
    let e = run_error(&["echo", "garbage"]).await;
    assert!(e.contains("its greeting \"garbage\" is broken"), "{e}");
}

#[tokio::test]
async fn another_protocol_version_is_an_error_naming_both() {
    let hello = protocol::to_json(&Hello { protocol_version: 2, name: "future".into(), ..Hello::default() }, "Hello");
    let e = run_error(&["echo", &hello]).await;
    assert!(e.contains("speaks testee protocol version 2, this runner speaks version 1"), "{e}");
}

#[tokio::test]
async fn a_silent_testee_is_an_error_after_the_read_timeout() {
    let e = run_error(&["sleep", "30"]).await;
    assert!(e.contains("no answer within 1s while waiting for its greeting"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_testee_that_answers_garbage_fails_its_cases_with_what_it_wrote() {
    // Greets properly, then echoes each command back, which is no reply:
    // `connect` gets `{"id":"1","connect":{...}}` as its answer, which
    // decodes as a `Reply` without an outcome.
    let hello = protocol::to_json(
        &Hello { protocol_version: 1, name: "echo".into(), profiles: vec!["core".into()], ..Hello::default() },
        "Hello",
    );
    let script = format!("echo '{hello}'; exec cat");
    let report = client::run(
        &options(&["sh", "-c", &script], Some("client.retry.non_retryable,client.stream.drops_replays")),
        |_, _, _| {},
    )
    .await
    .expect("the run starts");
    let failed = report.cases.iter().find(|c| c.id == "client.retry.non_retryable").expect("ran");
    assert_eq!(failed.status, Status::Fail);
    let message = failed.message.as_deref().unwrap_or_default();
    assert!(message.contains("testee `echo`: its reply to `connect` sets no outcome"), "{message}");
    // The stream profile is not declared: skipped, with the reason.
    let skipped = report.cases.iter().find(|c| c.id == "client.stream.drops_replays").expect("ran");
    assert_eq!(skipped.status, Status::Skip);
    assert_eq!(skipped.message.as_deref(), Some("the testee does not implement the `stream` profile"));
}
