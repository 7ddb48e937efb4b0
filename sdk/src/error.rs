//! The SDK's errors: the contract's typed errors ([`ApiError`], generated
//! from `ErrorReason`), and everything else a call can end with.
//!
//! A failed call is decoded once, from its `tonic::Status`, with
//! [`tonic_types::StatusExt`]: the `ErrorInfo` (reason, domain, metadata),
//! the `BadRequest` violations and the `RetryInfo` delay. Decoding never
//! panics: a status without an `ErrorInfo`, with undecodable details, from
//! a foreign domain, with an unknown reason or without a metadata key its
//! reason promises becomes [`Error::Status`], which says which of these it
//! was and keeps the raw status.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tonic_types::StatusExt as _;

use crate::contract::ERROR_DOMAIN;

pub use crate::generated::errors::ApiError;

/// One field violation of a `google.rpc.BadRequest` detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The path of the offending field (for skill input, `input_json`
    /// followed by the JSON Pointer of the offending value).
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// Everything a call of this SDK can fail with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with one of the contract's typed errors.
    Api(ApiError),
    /// The server (or something between it and the client) answered with a
    /// status this SDK cannot decode to an [`ApiError`]; the kind says why.
    /// A new reason added to the contract after this SDK was built lands
    /// here too: treat it by its gRPC code.
    Status {
        /// Why the status is not an [`ApiError`].
        kind: StatusKind,
        /// The status as received.
        status: tonic::Status,
    },
    /// The connection could not be made or broke during the call: a status
    /// the transport produced locally, or `UNAVAILABLE` without an
    /// `ErrorInfo` (which is how a refused connection, or a proxy without a
    /// route to a server, reports itself).
    Transport(tonic::Status),
    /// The server does not serve the API version this SDK speaks
    /// ([`crate::contract::API_VERSION`]); found while connecting.
    UnsupportedVersion {
        /// The version this SDK asked for.
        requested: String,
        /// The versions the server says it serves.
        supported: Vec<String>,
    },
    /// An event stream skipped sequences it cannot deliver: the event after
    /// the last one delivered is gone. Never silent.
    SequenceGap {
        /// The job whose stream has the gap.
        job_id: String,
        /// The sequence that should have come next.
        expected: u64,
        /// The sequence that came instead.
        received: u64,
    },
    /// The call's total deadline (see [`crate::RetryPolicy::deadline`], or
    /// the per-attempt timeout) passed before it could succeed.
    DeadlineExceeded {
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last attempt, if one failed before the deadline.
        last: Option<Box<Error>>,
    },
    /// A response broke the contract in a way no status reports (a field
    /// the contract always sets was missing).
    Protocol(String),
    /// The client was configured with something unusable (an endpoint that
    /// is not a URI, a token that is not a valid header value).
    Config(String),
}

/// Why a status could not be decoded to an [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusKind {
    /// The status carries no `google.rpc.ErrorInfo`.
    NoErrorInfo,
    /// The `grpc-status-details-bin` trailer could not be decoded.
    UndecodableDetails(String),
    /// The `ErrorInfo` belongs to another domain than
    /// [`crate::contract::ERROR_DOMAIN`].
    ForeignDomain(String),
    /// The reason is not one this SDK knows (added to the contract later,
    /// or not of the contract at all).
    UnknownReason(String),
    /// The reason is known but a metadata key it always carries is absent.
    MissingMetadata {
        /// The reason.
        reason: String,
        /// The absent key.
        key: String,
    },
}

impl Error {
    /// Decodes a status received from a call (never panics, whatever the
    /// status holds).
    pub fn from_status(status: tonic::Status) -> Self {
        let details = match status.check_error_details() {
            Ok(details) => details,
            Err(e) => return Error::Status { kind: StatusKind::UndecodableDetails(e.to_string()), status },
        };
        let Some(info) = details.error_info() else {
            // A status tonic made itself from a broken connection carries
            // the underlying error as its source (one received from a peer
            // never does), except a refused connection, which tonic reports
            // as a bare `UNAVAILABLE`.
            if std::error::Error::source(&status).is_some() || status.code() == tonic::Code::Unavailable {
                return Error::Transport(status);
            }
            return Error::Status { kind: StatusKind::NoErrorInfo, status };
        };
        if info.domain != ERROR_DOMAIN {
            return Error::Status { kind: StatusKind::ForeignDomain(info.domain.clone()), status };
        }
        let violations = details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| FieldViolation { field: v.field.clone(), description: v.description.clone() })
                    .collect()
            })
            .unwrap_or_default();
        let none = HashMap::new();
        let dropped = crate::mutants::is(crate::mutants::Mutant::DropMetadata);
        let input = Details {
            reason: &info.reason,
            metadata: if dropped { &none } else { &info.metadata },
            message: status.message(),
            violations,
            retry_delay: details.retry_info().and_then(|r| r.retry_delay),
        };
        match ApiError::decode(&input) {
            Ok(Some(api)) => Error::Api(api),
            Ok(None) => Error::Status { kind: StatusKind::UnknownReason(info.reason.clone()), status },
            Err(MissingKey(key)) => Error::Status {
                kind: StatusKind::MissingMetadata { reason: info.reason.clone(), key: key.to_string() },
                status,
            },
        }
    }

    /// The contract's typed error, when this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The gRPC code of the failure, when it has one.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Error::Api(e) => Some(e.code()),
            Error::Status { status, .. } | Error::Transport(status) => Some(status.code()),
            Error::DeadlineExceeded { .. } => Some(tonic::Code::DeadlineExceeded),
            _ => None,
        }
    }

    /// Whether retrying the identical request may succeed: an [`ApiError`]
    /// the contract marks retryable, or a transport failure (`UNAVAILABLE`
    /// without an `ErrorInfo`, or a connection refused, reset or closed
    /// before an answer came). A transport failure leaves unknown whether
    /// the server acted on the request; [`crate::Client`] retries it only
    /// because every call it retries is idempotent (`SkillExecute` through
    /// its idempotency key).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => e.is_retryable(),
            Error::Transport(_) => true,
            _ => false,
        }
    }

    /// Whether an event stream that ended with this error can be resumed
    /// from its last delivered sequence: any retryable error, any transport
    /// failure, and a stream broken by `UNKNOWN` or `INTERNAL` without an
    /// `ErrorInfo` (how an HTTP/2 stream reset mid-way shows). Reading
    /// events again is always safe, so a stream resumes more than a unary
    /// call retries.
    pub fn is_resumable(&self) -> bool {
        match self {
            Error::Status { kind: StatusKind::NoErrorInfo, status } => {
                matches!(status.code(), tonic::Code::Unknown | tonic::Code::Internal)
            }
            _ => self.is_retryable(),
        }
    }

    /// How long the server asked the client to wait (`RetryInfo`), if it
    /// did.
    pub fn retry_delay(&self) -> Option<Duration> {
        self.api().and_then(ApiError::retry_delay)
    }

    /// The correlation id of the failed call, when the server sent one.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => Some(e.correlation_id()),
            Error::DeadlineExceeded { last: Some(last), .. } => last.correlation_id(),
            _ => None,
        }
    }
}

impl ApiError {
    /// A metadata value of the error parsed as a decimal number (the
    /// contract's sequences, counts and limits), when the key is present
    /// and holds one.
    pub fn metadata_u64(&self, key: &str) -> Option<u64> {
        self.metadata().into_iter().find(|(k, _)| *k == key).and_then(|(_, v)| v?.parse().ok())
    }

    /// `resumeAfterSequence`, where the error carries it (a stream ended by
    /// `SUBSCRIBER_LAGGED` or `SHUTTING_DOWN`).
    pub fn resume_after_sequence(&self) -> Option<u64> {
        self.metadata_u64("resumeAfterSequence")
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Error::from_status(status)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.reason_name(), self.message())?;
        for (key, value) in self.metadata() {
            if let Some(value) = value {
                write!(f, ", {key}={value:?}")?;
            }
        }
        write!(f, " (correlation id `{}`)", self.correlation_id())
    }
}

impl std::error::Error for ApiError {}

impl fmt::Display for StatusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusKind::NoErrorInfo => write!(f, "no error info"),
            StatusKind::UndecodableDetails(e) => write!(f, "undecodable status details: {e}"),
            StatusKind::ForeignDomain(d) => write!(f, "error info of foreign domain `{d}`"),
            StatusKind::UnknownReason(r) => write!(f, "unknown reason `{r}`"),
            StatusKind::MissingMetadata { reason, key } => {
                write!(f, "reason `{reason}` without its metadata key `{key}`")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => write!(f, "server error {e}"),
            Error::Status { kind, status } => {
                write!(f, "server status {:?} ({kind}): {}", status.code(), status.message())
            }
            Error::Transport(status) => write!(f, "transport failure: {}", status.message()),
            Error::UnsupportedVersion { requested, supported } => {
                write!(f, "the server does not serve api version `{requested}` (it serves: {})", supported.join(", "))
            }
            Error::SequenceGap { job_id, expected, received } => {
                write!(f, "event stream of job `{job_id}` skipped from sequence {expected} to {received}")
            }
            Error::DeadlineExceeded { attempts, last } => {
                write!(f, "deadline exceeded after {attempts} attempt(s)")?;
                if let Some(last) = last {
                    write!(f, "; last error: {last}")?;
                }
                Ok(())
            }
            Error::Protocol(m) => write!(f, "protocol violation: {m}"),
            Error::Config(m) => write!(f, "invalid client configuration: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Api(e) => Some(e),
            Error::Status { status, .. } | Error::Transport(status) => Some(status),
            Error::DeadlineExceeded { last: Some(last), .. } => Some(last.as_ref()),
            _ => None,
        }
    }
}

/// Whether tonic made `status` because the call's own `grpc-timeout` ran
/// out on the client side (before any answer).
pub(crate) fn is_local_timeout(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// A promised metadata key that is absent; what the generated decoder
/// returns.
#[derive(Debug)]
pub(crate) struct MissingKey(pub(crate) &'static str);

/// The parts of a status the generated decoder reads.
pub(crate) struct Details<'a> {
    reason: &'a str,
    metadata: &'a HashMap<String, String>,
    message: &'a str,
    violations: Vec<FieldViolation>,
    retry_delay: Option<Duration>,
}

impl Details<'_> {
    pub(crate) fn reason(&self) -> &str {
        self.reason
    }

    pub(crate) fn required(&self, key: &'static str) -> Result<String, MissingKey> {
        self.metadata.get(key).cloned().ok_or(MissingKey(key))
    }

    pub(crate) fn optional(&self, key: &'static str) -> Option<String> {
        self.metadata.get(key).cloned()
    }

    pub(crate) fn message(&self) -> &str {
        self.message
    }

    pub(crate) fn violations(&self) -> Vec<FieldViolation> {
        self.violations.clone()
    }

    pub(crate) fn retry_delay(&self) -> Option<Duration> {
        self.retry_delay
    }
}
