//! A server's error status is checked against the contract's error model:
//! a well-formed one passes, and each flaw (code, reason, metadata, detail
//! messages) fails naming it.

use std::collections::HashMap;
use std::time::Duration;

use dome_conformance::wire::check_error;
use dome_sdk::contract;
use tonic_types::{ErrorDetails, StatusExt};

fn status(code: tonic::Code, reason: &str, md: &[(&str, &str)], bad: bool, retry: bool) -> tonic::Status {
    let mut d = ErrorDetails::with_error_info(
        reason,
        contract::ERROR_DOMAIN,
        md.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>(),
    );
    if bad {
        d.add_bad_request_violation("job_id", "must not be empty");
    }
    if retry {
        d.set_retry_info(Some(Duration::from_millis(100)));
    }
    tonic::Status::with_error_details(code, "m", d)
}

#[test]
fn a_well_formed_error_passes_and_each_flaw_is_named() {
    let ok = status(tonic::Code::NotFound, "JOB_NOT_FOUND", &[("correlationId", "c"), ("jobId", "j")], false, false);
    let seen = check_error(&ok, "JOB_NOT_FOUND", Some("c")).expect("well formed");
    assert_eq!(seen.metadata["jobId"], "j");

    let flaws = [
        (
            status(
                tonic::Code::InvalidArgument,
                "JOB_NOT_FOUND",
                &[("correlationId", "c"), ("jobId", "j")],
                false,
                false,
            ),
            "gRPC code",
        ),
        (status(tonic::Code::NotFound, "JOB_NOT_FOUND", &[("correlationId", "c")], false, false), "\"jobId\""),
        (status(tonic::Code::NotFound, "JOB_NOT_FOUND", &[("jobId", "j")], false, false), "correlationId"),
        (
            status(tonic::Code::NotFound, "JOB_NOT_FOUND", &[("correlationId", "x"), ("jobId", "j")], false, false),
            "echoes",
        ),
        (
            status(tonic::Code::NotFound, "JOB_NOT_FOUND", &[("correlationId", "c"), ("jobId", "j")], true, false),
            "BadRequest",
        ),
        (
            status(tonic::Code::NotFound, "JOB_NOT_FOUND", &[("correlationId", "c"), ("jobId", "j")], false, true),
            "RetryInfo",
        ),
        (
            status(tonic::Code::NotFound, "EXEC.NONZERO_EXIT", &[("correlationId", "c")], false, false),
            "policy reason code",
        ),
        (tonic::Status::not_found("no details"), "exactly one"),
    ];
    for (s, needle) in flaws {
        let err = check_error(&s, "JOB_NOT_FOUND", Some("c")).expect_err(needle);
        assert!(err.contains(needle), "expected {needle:?} in {err}");
    }
}

#[test]
fn retryable_and_bad_request_reasons() {
    let q = status(
        tonic::Code::ResourceExhausted,
        "QUEUE_FULL",
        &[("correlationId", "c"), ("queueCapacity", "1")],
        false,
        true,
    );
    assert!(check_error(&q, "QUEUE_FULL", None).expect("retryable").retry_delay.is_some());
    let no_retry = status(
        tonic::Code::ResourceExhausted,
        "QUEUE_FULL",
        &[("correlationId", "c"), ("queueCapacity", "1")],
        false,
        false,
    );
    assert!(check_error(&no_retry, "QUEUE_FULL", None).is_err());
    let ia = status(
        tonic::Code::InvalidArgument,
        "INVALID_ARGUMENT",
        &[("correlationId", "c"), ("field", "job_id")],
        true,
        false,
    );
    assert_eq!(check_error(&ia, "INVALID_ARGUMENT", None).expect("bad request").violations.len(), 1);
}
