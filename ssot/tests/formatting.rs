//! The projections' text for values JSON has no type for: timestamps as
//! RFC 3339 in UTC (never a panic, whatever the numbers), and enum numbers
//! the proto does not define as `UNKNOWN_<n>`.

use dome_sdk::pb::{Job, JobEvent, JobOutcome, JobStateChanged, Timestamp, job_event::Payload};
use dome_ssot::{format_timestamp, project_job, project_job_event, project_job_outcome};

fn ts(seconds: i64, nanos: i32) -> String {
    format_timestamp(&Timestamp { seconds, nanos })
}

#[test]
fn timestamps_format_as_rfc3339_utc() {
    assert_eq!(ts(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(ts(1_772_011_800, 125_000_000), "2026-02-25T09:30:00.125Z");
    assert_eq!(ts(1_772_011_800, 125_000), "2026-02-25T09:30:00.000125Z");
    assert_eq!(ts(1_772_011_800, 1), "2026-02-25T09:30:00.000000001Z");
    // Leap day, end of a century that is a leap year, and the day after.
    assert_eq!(ts(951_782_400, 0), "2000-02-29T00:00:00Z");
    assert_eq!(ts(978_307_200 - 1, 0), "2000-12-31T23:59:59Z");
    // The bounds of a valid Timestamp.
    assert_eq!(ts(-62_135_596_800, 0), "0001-01-01T00:00:00Z");
    assert_eq!(ts(253_402_300_799, 999_999_999), "9999-12-31T23:59:59.999999999Z");
    // Before the epoch, and nanos carried into the seconds.
    assert_eq!(ts(-1, 0), "1969-12-31T23:59:59Z");
    assert_eq!(ts(0, -1), "1969-12-31T23:59:59.999999999Z");
    assert_eq!(ts(0, 1_500_000_000), "1970-01-01T00:00:01.500Z");
}

#[test]
fn timestamps_never_panic_at_the_extremes() {
    for (s, n) in [(i64::MIN, i32::MIN), (i64::MAX, i32::MAX), (i64::MIN, 0), (i64::MAX, 0)] {
        let text = ts(s, n);
        assert!(text.ends_with('Z'), "{text}");
    }
    assert!(ts(i64::MIN, 0).starts_with('-'));
}

#[test]
fn enum_numbers_the_proto_does_not_define_are_named_unknown() {
    // The job's state as the `work.queue` task status, the outcome's
    // status as the `task.result` status, a state change's state.
    let job = Job { state: 42, ..Job::default() };
    assert_eq!(project_job(&job)["tasks"][0]["status"], "UNKNOWN_42");
    let outcome = JobOutcome { status: -3, ..JobOutcome::default() };
    assert_eq!(project_job_outcome(&outcome)["status"], "UNKNOWN_-3");
    let changed = Payload::StateChanged(JobStateChanged { state: 0, outcome: None });
    let event = JobEvent { payload: Some(changed), ..JobEvent::default() };
    assert_eq!(project_job_event(&event)["payload"]["state"], "UNSPECIFIED");
}
