//! The one place RPC errors are built.
//!
//! Each error starts from the contract's `ErrorReason`; its gRPC code, its
//! retryability and whether it carries a `BadRequest` are read from
//! [`dome_sdk::contract::ERROR_REASONS`], never restated here. The
//! constructors below take exactly the metadata each reason's comment
//! lists, so a call site cannot forget a key.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use dome_sdk::contract::{CORRELATION_ID_KEY, ERROR_DOMAIN, ERROR_REASONS, ErrorReasonSpec};
use dome_sdk::pb::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::mutants::{Faults, Mutant};

/// The most bytes of one client-supplied string an error echoes.
pub(crate) const MAX_ECHO_BYTES: usize = 96;
/// The most bytes of an error's message, before its correlation id.
pub(crate) const MAX_MESSAGE_BYTES: usize = 384;
/// The most violations a `BadRequest` lists.
pub(crate) const MAX_VIOLATIONS: usize = 8;
/// The most bytes of a violation's description.
const MAX_DESCRIPTION_BYTES: usize = 160;

/// `s`, or its longest prefix (on a character boundary) that leaves room
/// for a final `…` within `max` bytes.
pub(crate) fn truncated(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned([&s[..end], MARK].concat())
}

/// A client-supplied string as errors echo it.
fn echo(s: &str) -> Cow<'_, str> {
    truncated(s, MAX_ECHO_BYTES)
}

/// A typed RPC error before the call's correlation id is attached.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    reason: ErrorReason,
    message: String,
    metadata: Vec<(&'static str, String)>,
    violations: Vec<(String, String)>,
}

impl ApiError {
    fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), metadata: Vec::new(), violations: Vec::new() }
    }

    /// Adds a metadata entry; a value longer than [`MAX_ECHO_BYTES`] is
    /// cut as the message's echo of it is.
    fn meta(mut self, key: &'static str, value: impl ToString) -> Self {
        let value = value.to_string();
        self.metadata.push((key, echo(&value).into_owned()));
        self
    }

    /// The same error under another reason (tests build the reasons the
    /// server never raises this way).
    #[cfg(test)]
    fn with_reason(mut self, reason: ErrorReason) -> Self {
        self.reason = reason;
        self.metadata.clear();
        self.violations.clear();
        self
    }

    /// The reason of the error.
    pub(crate) fn reason(&self) -> ErrorReason {
        self.reason
    }

    /// `INVALID_ARGUMENT`: `field` is malformed as `problem` says.
    pub(crate) fn invalid_argument(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        let mut e =
            Self::new(ErrorReason::InvalidArgument, format!("invalid argument `{}`: {}", echo(field), echo(&problem)))
                .meta("field", field);
        e.violations.push((field.to_owned(), problem));
        e
    }

    /// `INVALID_SKILL_INPUT` with one violation per `(field path, problem)`.
    ///
    /// The caller lists at most [`MAX_VIOLATIONS`]; any beyond are dropped.
    pub(crate) fn invalid_skill_input(skill_id: &str, mut violations: Vec<(String, String)>) -> Self {
        violations.truncate(MAX_VIOLATIONS);
        let count = violations.len();
        let mut e = Self::new(
            ErrorReason::InvalidSkillInput,
            format!("the input of skill `{}` is invalid: {count} violation(s)", echo(skill_id)),
        )
        .meta("skillId", skill_id)
        .meta("violationCount", count);
        e.violations = violations;
        e
    }

    /// `SKILL_NOT_FOUND`.
    pub(crate) fn skill_not_found(skill_id: &str, skill_version: &str) -> Self {
        let message = if skill_version.is_empty() {
            format!("no skill `{}` is offered", echo(skill_id))
        } else {
            format!("no skill `{}` version `{}` is offered", echo(skill_id), echo(skill_version))
        };
        Self::new(ErrorReason::SkillNotFound, message).meta("skillId", skill_id).meta("skillVersion", skill_version)
    }

    /// `JOB_NOT_FOUND`.
    pub(crate) fn job_not_found(job_id: &str) -> Self {
        Self::new(ErrorReason::JobNotFound, format!("no job `{}` is known", echo(job_id))).meta("jobId", job_id)
    }

    /// `DECISION_NOT_FOUND`; `kind` is `gate` or `promotion`.
    pub(crate) fn decision_not_found(run_id: &str, kind: &str, task_id: &str) -> Self {
        let message = if task_id.is_empty() {
            format!("no {kind} decision is recorded for run `{}`", echo(run_id))
        } else {
            format!("no {kind} decision is recorded for run `{}` task `{}`", echo(run_id), echo(task_id))
        };
        Self::new(ErrorReason::DecisionNotFound, message)
            .meta("runId", run_id)
            .meta("decisionKind", kind)
            .meta("taskId", task_id)
    }

    /// `IDEMPOTENCY_KEY_CONFLICT`.
    pub(crate) fn idempotency_key_conflict(key: &str, job_id: &str) -> Self {
        Self::new(
            ErrorReason::IdempotencyKeyConflict,
            format!("idempotency key `{}` belongs to job `{job_id}` with a different request", echo(key)),
        )
        .meta("idempotencyKey", key)
        .meta("jobId", job_id)
    }

    /// `CURSOR_AHEAD_OF_HEAD`.
    pub(crate) fn cursor_ahead(job_id: &str, after: u64, last: u64) -> Self {
        Self::new(
            ErrorReason::CursorAheadOfHead,
            format!("cursor {after} is ahead of job `{job_id}`'s last sequence {last}"),
        )
        .meta("jobId", job_id)
        .meta("afterSequence", after)
        .meta("lastSequence", last)
    }

    /// `CURSOR_EXPIRED`.
    pub(crate) fn cursor_expired(job_id: &str, after: u64, first_retained: u64) -> Self {
        Self::new(
            ErrorReason::CursorExpired,
            format!("cursor {after} of job `{job_id}` has expired: the first retained sequence is {first_retained}"),
        )
        .meta("jobId", job_id)
        .meta("afterSequence", after)
        .meta("firstRetainedSequence", first_retained)
    }

    /// `SUBSCRIBER_LAGGED`.
    pub(crate) fn subscriber_lagged(job_id: &str, resume_after: u64) -> Self {
        Self::new(
            ErrorReason::SubscriberLagged,
            format!("subscriber of job `{job_id}` fell behind; resume after sequence {resume_after}"),
        )
        .meta("jobId", job_id)
        .meta("resumeAfterSequence", resume_after)
    }

    /// `UNSUPPORTED_API_VERSION`.
    pub(crate) fn unsupported_api_version(requested: &str, supported: &[&str]) -> Self {
        let supported = supported.join(",");
        Self::new(
            ErrorReason::UnsupportedApiVersion,
            format!("api version `{}` is not served (served: {supported})", echo(requested)),
        )
        .meta("requestedVersion", requested)
        .meta("supportedVersions", supported)
    }

    /// `FEATURE_NOT_ENABLED`.
    pub(crate) fn feature_not_enabled(feature: &str) -> Self {
        Self::new(ErrorReason::FeatureNotEnabled, format!("feature `{feature}` is not enabled on this server"))
            .meta("feature", feature)
    }

    /// `QUEUE_FULL`.
    pub(crate) fn queue_full(capacity: u64) -> Self {
        Self::new(ErrorReason::QueueFull, format!("the job queue is full (capacity {capacity})"))
            .meta("queueCapacity", capacity)
    }

    /// `LIMIT_EXCEEDED`; `limit` is the `ServerLimits` field name.
    pub(crate) fn limit_exceeded(limit: &str, value: u64) -> Self {
        Self::new(ErrorReason::LimitExceeded, format!("limit `{limit}` ({value}) exceeded"))
            .meta("limit", limit)
            .meta("limitValue", value)
    }

    /// `UNAUTHENTICATED`.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(ErrorReason::Unauthenticated, "the call carries no valid bearer token")
    }

    /// `SHUTTING_DOWN`, on a stream of `job_id` after `resume_after` when
    /// given.
    pub(crate) fn shutting_down(stream: Option<(&str, u64)>) -> Self {
        match stream {
            None => Self::new(ErrorReason::ShuttingDown, "the server is shutting down"),
            Some((job_id, resume_after)) => Self::new(
                ErrorReason::ShuttingDown,
                format!("the server is shutting down; resume job `{job_id}` after sequence {resume_after}"),
            )
            .meta("jobId", job_id)
            .meta("resumeAfterSequence", resume_after),
        }
    }

    /// `UNIMPLEMENTED`: nothing is served at `method`, the path called.
    pub(crate) fn unimplemented(method: &str) -> Self {
        Self::new(ErrorReason::Unimplemented, format!("`{}` is not implemented by this server", echo(method)))
            .meta("method", method)
    }

    /// `INTERNAL`.
    pub(crate) fn internal(what: impl Into<String>) -> Self {
        Self::new(ErrorReason::Internal, what)
    }

    /// The wire form of the error, for the call with `correlation_id`.
    pub(crate) fn into_status(self, correlation_id: &str, faults: Faults) -> Status {
        let Some(spec) = spec_of(self.reason) else {
            // Every reason the server builds is in the table; the zero value
            // never is. Fall back to a typed INTERNAL rather than panic.
            return Self::internal(format!("unknown error reason {:?}", self.reason))
                .into_status(correlation_id, faults);
        };
        let mut code = Code::from(spec.code.as_i32());
        if faults.is(Mutant::WrongStatusCode) && self.reason == ErrorReason::JobNotFound {
            code = Code::InvalidArgument;
        }
        let mut message = truncated(&self.message, MAX_MESSAGE_BYTES).into_owned();
        message.push_str(&format!(" [correlation id {correlation_id}]"));
        if faults.is(Mutant::MissingErrorInfo) {
            return Status::new(code, message);
        }
        let mut metadata: HashMap<String, String> = self.metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if !(faults.is(Mutant::AssignedCorrelationOmitted) && correlation_id.starts_with("corr-")) {
            metadata.insert(CORRELATION_ID_KEY.to_owned(), correlation_id.to_owned());
        }
        let mut details = ErrorDetails::with_error_info(spec.name, ERROR_DOMAIN, metadata);
        if spec.bad_request {
            let violations: Vec<FieldViolation> = self
                .violations
                .iter()
                .take(MAX_VIOLATIONS)
                .map(|(field, description)| {
                    FieldViolation::new(echo(field), truncated(description, MAX_DESCRIPTION_BYTES))
                })
                .collect();
            details.set_bad_request(violations);
        }
        if spec.retryable {
            details.set_retry_info(Some(retry_delay(self.reason)));
        }
        Status::with_error_details(code, message, details)
    }
}

/// The contract's row for `reason`.
fn spec_of(reason: ErrorReason) -> Option<&'static ErrorReasonSpec> {
    ERROR_REASONS.iter().find(|s| s.reason == reason)
}

/// How long this server asks a client to wait before retrying: a server
/// policy, so it lives here rather than in the contract.
fn retry_delay(reason: ErrorReason) -> Duration {
    match reason {
        // The subscriber can resume at once: the events are retained.
        ErrorReason::SubscriberLagged => Duration::from_millis(0),
        ErrorReason::QueueFull => Duration::from_millis(500),
        _ => Duration::from_secs(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every reason, built through its constructor.
    fn one_of_each() -> Vec<ApiError> {
        vec![
            ApiError::invalid_argument("job_id", "is required"),
            ApiError::invalid_skill_input("s", vec![("input_json".into(), "bad".into())]),
            ApiError::skill_not_found("s", ""),
            ApiError::job_not_found("j"),
            ApiError::decision_not_found("r", "gate", ""),
            ApiError::idempotency_key_conflict("k", "j"),
            ApiError::cursor_ahead("j", 5, 4),
            ApiError::cursor_expired("j", 0, 9),
            ApiError::subscriber_lagged("j", 3),
            ApiError::unsupported_api_version("v2", &["v1"]),
            ApiError::feature_not_enabled("f"),
            ApiError::queue_full(1),
            ApiError::limit_exceeded("max_input_bytes", 1),
            ApiError::unauthenticated(),
            ApiError::invalid_argument("x", "y").with_reason(ErrorReason::PermissionDenied).meta("permission", "p"),
            ApiError::shutting_down(None),
            ApiError::internal("broken"),
            ApiError::unimplemented("/x.Y/Z"),
        ]
    }

    #[test]
    fn every_reason_has_a_constructor_with_exactly_its_metadata() {
        let errors = one_of_each();
        let reasons: Vec<ErrorReason> = errors.iter().map(|e| e.reason).collect();
        let contract: Vec<ErrorReason> = ERROR_REASONS.iter().map(|s| s.reason).collect();
        assert_eq!(reasons, contract, "one constructor per reason, in number order");
        for e in errors {
            let spec = spec_of(e.reason).expect("in the table");
            let mut keys: Vec<&str> = e.metadata.iter().map(|(k, _)| *k).collect();
            keys.sort_unstable();
            let mut expected: Vec<&str> = spec.metadata_keys.to_vec();
            expected.sort_unstable();
            assert_eq!(keys, expected, "metadata of {}", spec.name);
        }
        let stream_end = ApiError::shutting_down(Some(("j", 7)));
        let keys: Vec<&str> = stream_end.metadata.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["jobId", "resumeAfterSequence"]);
    }

    #[test]
    fn the_wire_form_follows_the_contract_table() {
        for e in one_of_each() {
            let spec = spec_of(e.reason).expect("in the table");
            let status = e.into_status("corr-1", Faults::default());
            assert_eq!(status.code() as i32, spec.code.as_i32());
            let details = status.get_error_details();
            let info = details.error_info().expect("ErrorInfo");
            assert_eq!(info.reason, spec.name);
            assert_eq!(info.domain, ERROR_DOMAIN);
            assert_eq!(info.metadata.get(CORRELATION_ID_KEY).map(String::as_str), Some("corr-1"));
            assert_eq!(details.bad_request().is_some(), spec.bad_request, "{}", spec.name);
            assert_eq!(details.retry_info().is_some(), spec.retryable, "{}", spec.name);
        }
    }

    /// One error of every reason with every client string 4 MB long (and
    /// multibyte, so cutting lands inside characters), and a hundred
    /// violations of 64 KB each.
    fn oversized() -> Vec<ApiError> {
        let huge = "é".repeat(2 * 1024 * 1024);
        let long = "é".repeat(32 * 1024);
        let many: Vec<(String, String)> = (0..100).map(|_| (long.clone(), long.clone())).collect();
        vec![
            ApiError::invalid_argument(&huge, huge.clone()),
            ApiError::invalid_skill_input(&huge, many),
            ApiError::skill_not_found(&huge, &huge),
            ApiError::job_not_found(&huge),
            ApiError::decision_not_found(&huge, "gate", &huge),
            ApiError::idempotency_key_conflict(&huge, &huge),
            ApiError::unsupported_api_version(&huge, &["v1"]),
            ApiError::feature_not_enabled(&huge),
            ApiError::limit_exceeded(&huge, u64::MAX),
            ApiError::shutting_down(Some((&huge, u64::MAX))),
            ApiError::internal(huge.clone()),
            ApiError::unimplemented(&huge),
        ]
    }

    /// Whatever the client sent, the trailers of an error fit an 8 KiB
    /// header list: the details under 8 KiB once base64-encoded, the
    /// message bounded, and the echoes cut the same way in the message
    /// and the metadata.
    #[test]
    fn an_error_fits_in_eight_kib_whatever_the_request() {
        for e in oversized() {
            let reason = e.reason;
            let status = e.into_status(&"c".repeat(128), Faults::default());
            let http = status.clone().into_http::<()>();
            let details = http.headers().get("grpc-status-details-bin").map_or(0, |v| v.len());
            let all: usize = http.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
            assert!(details < 8 * 1024, "{reason:?}: details of {details} bytes");
            assert!(all < 8 * 1024, "{reason:?}: trailers of {all} bytes");
            assert!(
                status.message().len() <= MAX_MESSAGE_BYTES + 200,
                "{reason:?}: message of {} bytes",
                status.message().len()
            );
            let details = status.get_error_details();
            let info = details.error_info().expect("ErrorInfo");
            for (key, value) in info.metadata.iter().filter(|(k, _)| *k != CORRELATION_ID_KEY) {
                assert!(value.len() <= MAX_ECHO_BYTES, "{reason:?}: metadata {key} of {} bytes", value.len());
            }
            if let Some(bad) = details.bad_request() {
                assert!(
                    bad.field_violations.len() <= MAX_VIOLATIONS,
                    "{reason:?}: {} violations",
                    bad.field_violations.len()
                );
            }
        }
    }

    #[test]
    fn truncation_cuts_on_a_character_boundary_and_marks_the_cut() {
        assert_eq!(truncated("short", 10), "short");
        assert_eq!(truncated("abcdefghij", 10), "abcdefghij");
        assert_eq!(truncated("abcdefghijk", 10), "abcdefg…");
        // "é" is two bytes: the cut never splits one.
        let cut = truncated("éééééé", 8);
        assert_eq!(cut, "éé…");
        assert!(cut.len() <= 8);
    }
}
