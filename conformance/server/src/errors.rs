//! The one place RPC errors are built.
//!
//! Each error starts from the contract's `ErrorReason`; its gRPC code, its
//! retryability and whether it carries a `BadRequest` are read from
//! [`dome_sdk::contract::ERROR_REASONS`], never restated here. The
//! constructors below take exactly the metadata each reason's comment
//! lists, so a call site cannot forget a key.

use std::collections::HashMap;
use std::time::Duration;

use dome_sdk::contract::{CORRELATION_ID_KEY, ERROR_DOMAIN, ERROR_REASONS, ErrorReasonSpec};
use dome_sdk::pb::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::mutants::{Faults, Mutant};

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
        Self {
            reason,
            message: message.into(),
            metadata: Vec::new(),
            violations: Vec::new(),
        }
    }

    fn meta(mut self, key: &'static str, value: impl ToString) -> Self {
        self.metadata.push((key, value.to_string()));
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
        let mut e = Self::new(
            ErrorReason::InvalidArgument,
            format!("invalid argument `{field}`: {problem}"),
        )
        .meta("field", field);
        e.violations.push((field.to_owned(), problem));
        e
    }

    /// `INVALID_SKILL_INPUT` with one violation per `(field path, problem)`.
    pub(crate) fn invalid_skill_input(skill_id: &str, violations: Vec<(String, String)>) -> Self {
        let count = violations.len();
        let mut e = Self::new(
            ErrorReason::InvalidSkillInput,
            format!("the input of skill `{skill_id}` is invalid: {count} violation(s)"),
        )
        .meta("skillId", skill_id)
        .meta("violationCount", count);
        e.violations = violations;
        e
    }

    /// `SKILL_NOT_FOUND`.
    pub(crate) fn skill_not_found(skill_id: &str, skill_version: &str) -> Self {
        let message = if skill_version.is_empty() {
            format!("no skill `{skill_id}` is offered")
        } else {
            format!("no skill `{skill_id}` version `{skill_version}` is offered")
        };
        Self::new(ErrorReason::SkillNotFound, message)
            .meta("skillId", skill_id)
            .meta("skillVersion", skill_version)
    }

    /// `JOB_NOT_FOUND`.
    pub(crate) fn job_not_found(job_id: &str) -> Self {
        Self::new(ErrorReason::JobNotFound, format!("no job `{job_id}` is known")).meta("jobId", job_id)
    }

    /// `DECISION_NOT_FOUND`; `kind` is `gate` or `promotion`.
    pub(crate) fn decision_not_found(run_id: &str, kind: &str, task_id: &str) -> Self {
        let message = if task_id.is_empty() {
            format!("no {kind} decision is recorded for run `{run_id}`")
        } else {
            format!("no {kind} decision is recorded for run `{run_id}` task `{task_id}`")
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
            format!("idempotency key `{key}` belongs to job `{job_id}` with a different request"),
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
            format!(
                "cursor {after} of job `{job_id}` has expired: the first retained sequence is {first_retained}"
            ),
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
            format!("api version `{requested}` is not served (served: {supported})"),
        )
        .meta("requestedVersion", requested)
        .meta("supportedVersions", supported)
    }

    /// `FEATURE_NOT_ENABLED`.
    pub(crate) fn feature_not_enabled(feature: &str) -> Self {
        Self::new(
            ErrorReason::FeatureNotEnabled,
            format!("feature `{feature}` is not enabled on this server"),
        )
        .meta("feature", feature)
    }

    /// `QUEUE_FULL`.
    pub(crate) fn queue_full(capacity: u64) -> Self {
        Self::new(
            ErrorReason::QueueFull,
            format!("the job queue is full (capacity {capacity})"),
        )
        .meta("queueCapacity", capacity)
    }

    /// `LIMIT_EXCEEDED`; `limit` is the `ServerLimits` field name.
    pub(crate) fn limit_exceeded(limit: &str, value: u64) -> Self {
        Self::new(
            ErrorReason::LimitExceeded,
            format!("limit `{limit}` ({value}) exceeded"),
        )
        .meta("limit", limit)
        .meta("limitValue", value)
    }

    /// `UNAUTHENTICATED`.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            ErrorReason::Unauthenticated,
            "the call carries no valid bearer token",
        )
    }

    /// `SHUTTING_DOWN`, on a stream of `job_id` after `resume_after` when
    /// given.
    pub(crate) fn shutting_down(stream: Option<(&str, u64)>) -> Self {
        match stream {
            None => Self::new(ErrorReason::ShuttingDown, "the server is shutting down"),
            Some((job_id, resume_after)) => Self::new(
                ErrorReason::ShuttingDown,
                format!(
                    "the server is shutting down; resume job `{job_id}` after sequence {resume_after}"
                ),
            )
            .meta("jobId", job_id)
            .meta("resumeAfterSequence", resume_after),
        }
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
        let mut code = spec.code;
        if faults.is(Mutant::WrongStatusCode) && self.reason == ErrorReason::JobNotFound {
            code = Code::InvalidArgument;
        }
        let mut message = self.message;
        message.push_str(&format!(" [correlation id {correlation_id}]"));
        if faults.is(Mutant::MissingErrorInfo) {
            return Status::new(code, message);
        }
        let mut metadata: HashMap<String, String> = self
            .metadata
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        metadata.insert(CORRELATION_ID_KEY.to_owned(), correlation_id.to_owned());
        let mut details = ErrorDetails::with_error_info(spec.name, ERROR_DOMAIN, metadata);
        if spec.bad_request {
            let violations: Vec<FieldViolation> = self
                .violations
                .into_iter()
                .map(|(field, description)| FieldViolation::new(field, description))
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
            assert_eq!(status.code(), spec.code);
            let details = status.get_error_details();
            let info = details.error_info().expect("ErrorInfo");
            assert_eq!(info.reason, spec.name);
            assert_eq!(info.domain, ERROR_DOMAIN);
            assert_eq!(info.metadata.get(CORRELATION_ID_KEY).map(String::as_str), Some("corr-1"));
            assert_eq!(details.bad_request().is_some(), spec.bad_request, "{}", spec.name);
            assert_eq!(details.retry_info().is_some(), spec.retryable, "{}", spec.name);
        }
    }
}
