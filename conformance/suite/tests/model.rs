//! The contract's model judges a job's event log, its reads and its
//! cancel answers: a log that honours the script's prediction passes, and
//! each broken rule fails naming what it broke.

use dome_conformance::model::{Ending, JobFacts, Phase, ReadHistory, check_cancel_answer, check_log, predict};
use dome_conformance::script::{Script, Step};
use dome_sdk::contract::CANCELLED_REASON_CODE;
use dome_sdk::pb::{
    self, JobCancelRequested, JobEvent, JobOutcome, JobProgress, JobState, JobStateChanged, TaskStatus,
    job_event::Payload,
};
use serde_json::Value;

fn facts() -> JobFacts {
    JobFacts {
        job_id: "job-1".into(),
        run_id: "run-1".into(),
        correlation_id: "c-1".into(),
        effective_cancels: vec![],
        cancel_attempted: false,
    }
}

fn ev(seq: u64, payload: Payload) -> JobEvent {
    JobEvent {
        event_id: format!("evt-{seq:032x}"),
        sequence: seq,
        job_id: "job-1".into(),
        run_id: "run-1".into(),
        time: Some(dome_sdk::pb::Timestamp::default()),
        correlation_id: "c-1".into(),
        payload: Some(payload),
    }
}

fn state(s: JobState, outcome: Option<JobOutcome>) -> Payload {
    Payload::StateChanged(JobStateChanged { state: s as i32, outcome })
}

fn outcome(status: TaskStatus, output: &str, reason: &str) -> JobOutcome {
    JobOutcome {
        task_id: "job-1".into(),
        status: status as i32,
        output_json: output.into(),
        reason_code: reason.into(),
        attempt: 1,
        ..Default::default()
    }
}

fn progress(p: u32) -> Payload {
    Payload::Progress(JobProgress { percent: p, message: String::new() })
}

fn good_log() -> Vec<JobEvent> {
    vec![
        ev(1, state(JobState::Queued, None)),
        ev(2, state(JobState::Running, None)),
        ev(3, progress(40)),
        ev(4, state(JobState::Succeeded, Some(outcome(TaskStatus::Pass, "7", "")))),
    ]
}

fn script() -> Script {
    Script::new(vec![
        Step::Progress { percent: 40, message: None },
        Step::Succeed { output: Some(serde_json::json!(7)) },
    ])
}

#[test]
fn prediction_stops_at_the_ending_step() {
    let p = predict(&Script::new(vec![
        Step::Bulk { count: 2 },
        Step::Fail { reason_code: "EXEC.X".into(), message: None, transient: None },
        Step::Progress { percent: 1, message: None },
    ]));
    assert_eq!(p.emissions.len(), 2);
    assert_eq!(p.ending, Ending::Fails { reason_code: "EXEC.X".into(), message: None, transient: false });
    assert_eq!(predict(&Script::default()).ending, Ending::Succeeds(Value::Null));
    assert_eq!(predict(&Script::new(vec![Step::Park, Step::Succeed { output: None }])).ending, Ending::Parks);
}

#[test]
fn a_conforming_log_is_accepted() {
    let summary = check_log(&good_log(), &predict(&script()), &facts()).expect("conforming log");
    assert_eq!(summary.terminal, JobState::Succeeded);
    assert_eq!(summary.emitted, 1);
    assert_eq!(summary.phase_after[2], Phase::Running);
}

#[test]
fn each_broken_rule_is_named() {
    let pred = predict(&script());
    type Mutation = Box<dyn Fn(&mut Vec<JobEvent>)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|l| l[2].sequence = 4), "gapless"),
        (Box::new(|l| l.swap(1, 2)), "sequence"),
        (
            Box::new(|l| {
                l.pop();
            }),
            "without the terminal event",
        ),
        (
            Box::new(|l| {
                let e = l[2].clone();
                l.insert(3, e);
            }),
            "sequence 3 where 4",
        ),
        (Box::new(|l| l[0].payload = Some(state(JobState::Running, None))), "first event"),
        (Box::new(|l| l[2].payload = Some(progress(41))), "percent 41"),
        (
            Box::new(|l| l[3].payload = Some(state(JobState::Succeeded, Some(outcome(TaskStatus::Pass, "8", ""))))),
            "output 8",
        ),
        (Box::new(|l| l[3].payload = Some(state(JobState::Succeeded, None))), "outcome"),
        (Box::new(|l| l[1].event_id = l[0].event_id.clone()), "already used"),
        (Box::new(|l| l[1].correlation_id = "other".into()), "correlation_id"),
        (
            Box::new(|l| {
                let mut e = ev(5, progress(1));
                e.sequence = 5;
                l.push(e);
            }),
            "after the terminal",
        ),
    ];
    for (mutate, needle) in cases {
        let mut log = good_log();
        mutate(&mut log);
        let err = check_log(&log, &pred, &facts()).expect_err(needle);
        assert!(err.0.contains(needle), "expected {needle:?} in {err}");
    }
}

#[test]
fn cancellation_rules() {
    let parked = predict(&Script::new(vec![Step::Park]));
    let mut f = facts();
    f.cancel_attempted = true;
    f.effective_cancels = vec!["cancel-1".into()];
    let mut cancel = ev(
        3,
        Payload::CancelRequested(JobCancelRequested {
            reason: String::new(),
            previous_state: JobState::Running as i32,
        }),
    );
    cancel.correlation_id = "cancel-1".into();
    let blocked = outcome(TaskStatus::Blocked, "", CANCELLED_REASON_CODE);
    let log = vec![
        ev(1, state(JobState::Queued, None)),
        ev(2, state(JobState::Running, None)),
        cancel.clone(),
        ev(4, state(JobState::Cancelled, Some(blocked.clone()))),
    ];
    let summary = check_log(&log, &parked, &f).expect("cancelled parked job");
    assert_eq!(summary.cancel_requested_at, Some(3));

    // A second cancel_requested event.
    let mut twice = log.clone();
    let mut again = cancel.clone();
    again.sequence = 4;
    again.event_id = format!("evt-{:032x}", 99);
    twice.insert(3, again);
    twice[4].sequence = 5;
    assert!(check_log(&twice, &parked, &f).unwrap_err().0.contains("second cancel_requested"));

    // Cancelled without a cancel_requested event.
    let skipped = vec![log[0].clone(), log[1].clone(), ev(3, state(JobState::Cancelled, Some(blocked)))];
    assert!(check_log(&skipped, &parked, &f).is_err());

    // A parked job that ends any other way.
    let wrong = vec![
        log[0].clone(),
        log[1].clone(),
        ev(3, state(JobState::Succeeded, Some(outcome(TaskStatus::Pass, "null", "")))),
    ];
    assert!(check_log(&wrong, &parked, &facts()).is_err());

    // A cancel answered true with no event in the log.
    assert!(check_log(&good_log(), &predict(&script()), &f).unwrap_err().0.contains("no cancel_requested"));
}

#[test]
fn reads_only_move_forward_and_match_the_log() {
    let mut h = ReadHistory::default();
    h.read(JobState::Queued, 1, "r1").expect("first read");
    h.read(JobState::Running, 2, "r2").expect("forward");
    assert!(h.clone().read(JobState::Queued, 2, "r3").is_err());
    assert!(h.clone().read(JobState::Running, 1, "r3").is_err());
    h.streamed(4);
    assert!(h.clone().read(JobState::Succeeded, 3, "r3").is_err());
    let summary = check_log(&good_log(), &predict(&script()), &facts()).expect("log");
    h.check_against(&summary).expect("reads match the log");
    // A read that overlapped a later-recorded one is not ordered against it.
    let mut c = ReadHistory::default();
    let began = c.begin();
    c.read(JobState::Cancelled, 3, "cancel").expect("cancel answer");
    c.read_since(JobState::Queued, 1, began, "concurrent status").expect("overlapping read");
    assert!(c.read(JobState::Queued, 3, "later status").is_err());
    h.reads.push((JobState::Succeeded, 2, 99));
    assert!(h.check_against(&summary).is_err());
}

#[test]
fn cancel_answers() {
    let job = pb::Job {
        job_id: "job-1".into(),
        task_id: "job-1".into(),
        run_id: "run-1".into(),
        state: JobState::Cancelled as i32,
        create_time: Some(Default::default()),
        end_time: Some(Default::default()),
        outcome: Some(outcome(TaskStatus::Blocked, "", CANCELLED_REASON_CODE)),
        provenance: Some(pb::Provenance {
            run_id: "run-1".into(),
            base_ref: "HEAD".into(),
            input_contract: "skill:s@1.0.0".into(),
            input_sha256: "0".repeat(64),
            tool_versions: [("domed".to_string(), "0.1.0".to_string())].into(),
            ..Default::default()
        }),
        skill_id: "s".into(),
        skill_version: "1.0.0".into(),
        last_sequence: 3,
        correlation_id: "c-1".into(),
        ..Default::default()
    };
    let yes = pb::CancelJobResponse { correlation_id: "x".into(), job: Some(job.clone()), cancel_requested: true };
    check_cancel_answer(&yes, Some(JobState::Queued), &facts(), "c").expect("effective cancel");
    assert!(check_cancel_answer(&yes, Some(JobState::Succeeded), &facts(), "c").is_err());
    let mut running = job.clone();
    running.state = JobState::Running as i32;
    running.outcome = None;
    running.end_time = None;
    let no = pb::CancelJobResponse { correlation_id: "x".into(), job: Some(running), cancel_requested: false };
    assert!(check_cancel_answer(&no, None, &facts(), "c").is_err());
}
