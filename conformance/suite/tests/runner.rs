//! How a run picks and seeds its cases: each case's seed depends on the
//! run's seed and the case id, `--filter` takes substrings and globs, and
//! the known-failures list keeps each reason.

use dome_conformance::case::case_seed;
use dome_conformance::runner::{matches, parse_expected_failures};

#[test]
fn case_seeds_depend_on_seed_and_id() {
    assert_eq!(case_seed(1, "a.b"), case_seed(1, "a.b"));
    assert_ne!(case_seed(1, "a.b"), case_seed(2, "a.b"));
    assert_ne!(case_seed(1, "a.b"), case_seed(1, "a.c"));
}

#[test]
fn filters_are_substrings_or_globs() {
    assert!(matches(None, "errors.job_not_found"));
    assert!(matches(Some("job_not"), "errors.job_not_found"));
    assert!(matches(Some("cancel.*"), "cancel.parked_job"));
    assert!(!matches(Some("cancel.*"), "errors.cancel"));
    assert!(matches(Some("x, events.*_cursor"), "events.resume_every_cursor"));
    assert!(!matches(Some("events.*_cursor"), "events.resume_every_cursor_x"));
}

#[test]
fn known_failures_keep_their_reasons() {
    let list = parse_expected_failures("# header\nerrors.internal # not provokable\n\n  cancel.queued_job\n");
    assert_eq!(list.len(), 2);
    assert_eq!(list["errors.internal"], "not provokable");
    assert_eq!(list["cancel.queued_job"], "");
}
