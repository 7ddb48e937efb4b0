//! The testee protocol is language-neutral: what a testee in another
//! language writes, following the proto3 JSON mapping from the `.proto`
//! alone, decodes; what the runner writes is that mapping. The lines here
//! are the exchange `docs/handoff.md` shows.

use dome_conformance::client::protocol::{self, Command, ErrorKind, StreamEvents, command::Action, reply::Outcome};
use dome_sdk::pb;

#[test]
fn a_greeting_as_any_language_writes_it_decodes() {
    let hello = protocol::hello(
        r#"{"protocolVersion": 1, "name": "dome-sdk-python", "version": "0.3.1", "profiles": ["core", "stream"]}"#,
    )
    .unwrap();
    assert_eq!((hello.protocol_version, hello.name.as_str()), (1, "dome-sdk-python"));
    assert_eq!(hello.profiles, ["core", "stream"]);
    assert_eq!(protocol::check_version(&hello), Ok(()));
    // The mapping also accepts the proto field names, and ignores fields
    // it does not know (a newer testee).
    let hello = protocol::hello(r#"{"protocol_version": 1, "name": "x", "futureField": true}"#).unwrap();
    assert_eq!(hello.protocol_version, 1);
}

#[test]
fn replies_as_any_language_writes_them_decode() {
    let done = protocol::reply(r#"{"id": "1", "done": {}}"#).unwrap();
    assert_eq!(done.id, 1);
    assert!(matches!(done.outcome, Some(Outcome::Done(_))));
    assert!(protocol::is_final(&done));

    let executed = protocol::reply(
        r#"{"id": "2", "done": {"executed": {"correlationId": "c", "created": true, "job": {"jobId": "job-1", "state": "JOB_STATE_QUEUED", "createTime": "2026-01-02T03:04:05Z", "lastSequence": "0"}}}}"#,
    )
    .unwrap();
    let Some(Outcome::Done(done)) = executed.outcome else { panic!("not done: {executed:?}") };
    let job = done.executed.unwrap().job.unwrap();
    assert_eq!((job.job_id.as_str(), job.state()), ("job-1", pb::JobState::Queued));
    assert_eq!(job.create_time.unwrap().seconds, 1_767_323_045);

    // 64-bit integers may come as JSON numbers too.
    let event = protocol::reply(r#"{"id": 3, "event": {"sequence": 3, "jobId": "job-1", "stateChanged": {"state": "JOB_STATE_SUCCEEDED", "outcome": {}}}}"#).unwrap();
    assert!(!protocol::is_final(&event));
    let Some(Outcome::Event(event)) = event.outcome else { panic!("not an event") };
    assert_eq!(event.sequence, 3);
    assert!(dome_sdk::is_terminal_event(&event));

    let error = protocol::reply(
        r#"{"id": "4", "error": {"kind": "ERROR_KIND_API", "reason": "QUEUE_FULL", "code": "RESOURCE_EXHAUSTED", "metadata": {"queueCapacity": "64", "correlationId": "c"}, "retryable": true, "retryDelayMs": 20, "message": "queue full"}}"#,
    )
    .unwrap();
    let Some(Outcome::Error(error)) = error.outcome else { panic!("not an error") };
    assert_eq!(error.kind(), ErrorKind::Api);
    assert_eq!(
        (error.reason.as_str(), error.code.as_str(), error.retry_delay_ms),
        ("QUEUE_FULL", "RESOURCE_EXHAUSTED", 20)
    );
    assert_eq!(error.metadata["queueCapacity"], "64");

    let unsupported = protocol::reply(r#"{"id": "5", "unsupported": "no decisions in this SDK"}"#).unwrap();
    assert!(matches!(unsupported.outcome, Some(Outcome::Unsupported(ref why)) if why == "no decisions in this SDK"));
}

#[test]
fn broken_lines_are_errors_that_say_what_is_wrong() {
    for (line, want) in [
        ("garbage", "not a `dome.conformance.testee.v1.Reply`"),
        (r#"{"id": "x"}"#, "not a `dome.conformance.testee.v1.Reply`"),
        (r#"{"id": "1", "done": []}"#, "not a `dome.conformance.testee.v1.Reply`"),
        (r#"{"id": "1", "done": {}} {"id": "2"}"#, "trailing characters"),
    ] {
        let e = protocol::reply(line).unwrap_err();
        assert!(e.contains(want), "{line}: {e}");
    }
    // An enum value this runner does not know (a newer testee) is ignored
    // like an unknown field: the kind is unspecified, which no case
    // accepts as the kind it expects.
    let newer =
        protocol::reply(r#"{"id": "1", "error": {"kind": "ERROR_KIND_FROM_LATER", "code": "INTERNAL"}}"#).unwrap();
    let Some(Outcome::Error(error)) = newer.outcome else { panic!("not an error") };
    assert_eq!((error.kind(), error.code.as_str()), (ErrorKind::Unspecified, "INTERNAL"));
}

#[test]
fn commands_are_written_in_the_proto3_json_mapping() {
    let command = Command {
        id: 7,
        action: Some(Action::StreamEvents(StreamEvents { job_id: "job-1".into(), after_sequence: 3 })),
    };
    assert_eq!(protocol::command_line(&command), r#"{"id":"7","streamEvents":{"jobId":"job-1","afterSequence":"3"}}"#);
    let connect = Command {
        id: 1,
        action: Some(Action::Connect(protocol::Connect {
            endpoint: "http://127.0.0.1:50051".into(),
            auth_token: "t".into(),
            retry: Some(protocol::RetrySettings {
                max_attempts: 4,
                initial_backoff_ms: 10,
                max_backoff_ms: 40,
                deadline_ms: 10_000,
            }),
            ..Default::default()
        })),
    };
    assert_eq!(
        protocol::command_line(&connect),
        r#"{"id":"1","connect":{"endpoint":"http://127.0.0.1:50051","authToken":"t","retry":{"maxAttempts":4,"initialBackoffMs":10,"maxBackoffMs":40,"deadlineMs":10000}}}"#
    );
    let shutdown = Command { id: 9, action: Some(Action::Shutdown(protocol::Shutdown {})) };
    assert_eq!(protocol::command_line(&shutdown), r#"{"id":"9","shutdown":{}}"#);
    // What the runner writes, it reads back.
    let back: Command = protocol::from_json(&protocol::command_line(&command), "Command").unwrap();
    assert_eq!(back, command);
}

#[test]
fn the_exchange_in_the_handoff_is_the_protocol() {
    let handoff = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/handoff.md")).unwrap();
    let start = handoff.find("A minimal exchange").expect("the handoff shows an exchange");
    let block =
        handoff[start..].split("```text\n").nth(1).and_then(|b| b.split("```").next()).expect("in a text block");
    let mut greeted = false;
    let mut lines = 0;
    for line in block.lines() {
        let (side, json) = line.split_at(2);
        match side {
            "< " if !greeted => {
                let hello = protocol::hello(json).unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(protocol::check_version(&hello), Ok(()));
                greeted = true;
            }
            "< " => {
                let reply = protocol::reply(json).unwrap_or_else(|e| panic!("{line}: {e}"));
                // Compared as JSON values: map keys have no order.
                let value = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
                assert_eq!(
                    value(&protocol::to_json(&reply, "Reply")),
                    value(json),
                    "the runner reads {line} as the same reply"
                );
            }
            "> " => {
                let command: Command = protocol::from_json(json, "Command").unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(protocol::command_line(&command), json, "the runner writes {line} exactly so");
            }
            _ => panic!("a line of the exchange is neither `< ` nor `> `: {line}"),
        }
        lines += 1;
    }
    assert!(greeted && lines >= 8, "the exchange has a greeting and commands: {block}");
}
