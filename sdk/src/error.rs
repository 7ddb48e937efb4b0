//! The SDK's errors: the contract's typed errors ([`ApiError`], generated
//! from `ErrorReason`), and everything else a call can end with.
//!
//! A failed call is decoded once, from its gRPC status: the `ErrorInfo`
//! (reason, domain, metadata), the `BadRequest` violations and the
//! `RetryInfo` delay. Decoding never panics: a status without an
//! `ErrorInfo`, with undecodable details, from a foreign domain, with an
//! unknown reason, without a metadata key its reason promises or with a
//! typed one that does not parse becomes [`Error::Status`], which says
//! which of these it was and keeps the code and message.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Code;
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
///
/// `Display` is one line that says what happened; the cause of a
/// [`Error::DeadlineExceeded`] is its [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with one of the contract's typed errors.
    Api(ApiError),
    /// The server (or something between it and the client) answered with a
    /// status this SDK cannot decode to an [`ApiError`]; the kind says why.
    /// A new reason added to the contract after this SDK was built lands
    /// here too: treat it by its code.
    Status {
        /// Why the status is not an [`ApiError`].
        kind: StatusKind,
        /// The status code.
        code: Code,
        /// The status message.
        message: String,
    },
    /// The connection could not be made or broke during the call.
    Transport(TransportError),
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
    /// The call ran out of time: its total deadline (see
    /// [`crate::RetryPolicy::deadline`]) passed, or its last attempt
    /// outlived the per-attempt timeout with no retry left.
    DeadlineExceeded {
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last attempt that failed rather than timed
        /// out, if one did; also the error's `source()`.
        last: Option<Box<Error>>,
    },
    /// [`crate::Client::wait_for_job`] (or a call built on it) reached its
    /// limit before the job ended; the job goes on.
    WaitLimit {
        /// The job waited for.
        job_id: String,
        /// The limit that passed.
        limit: Duration,
    },
    /// A response broke the contract in a way no status reports (a field
    /// the contract always sets was missing).
    Protocol(String),
    /// The client was configured with something unusable (an endpoint that
    /// is not an `http://` or `https://` URL, a token that is not a valid
    /// header value, a TLS certificate that does not parse). Never retried.
    Config(String),
}

/// A connection that could not be made or broke during a call: the
/// endpoint and what the operating system or the transport said.
#[derive(Debug, Clone)]
pub struct TransportError {
    endpoint: Arc<str>,
    code: Code,
    cause: String,
}

impl TransportError {
    /// The endpoint the client was talking to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The status code the transport reported (`UNAVAILABLE` for a
    /// refused or broken connection).
    pub fn code(&self) -> Code {
        self.code
    }

    /// What failed, innermost cause last (`tcp connect error: Connection
    /// refused (os error 111)`).
    pub fn cause(&self) -> &str {
        &self.cause
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot reach `{}`: {}", self.endpoint, self.cause)
    }
}

impl std::error::Error for TransportError {}

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
    /// A typed metadata value (a decimal number) does not parse.
    MalformedMetadata {
        /// The reason.
        reason: String,
        /// The key.
        key: String,
        /// The value as received.
        value: String,
    },
}

impl Error {
    /// Decodes a status received from a call to `endpoint` (never panics,
    /// whatever the status holds).
    pub(crate) fn from_status(status: tonic::Status, endpoint: &Arc<str>) -> Self {
        let code = Code::of(status.code());
        let details = match details::decode(status.details()) {
            Ok(details) => details,
            Err(e) => {
                return Error::Status {
                    kind: StatusKind::UndecodableDetails(e.to_string()),
                    code,
                    message: status.message().to_string(),
                };
            }
        };
        let Some(info) = &details.error_info else {
            // A status the connection made itself (`transport.rs`) carries
            // its cause as its source, which one received from a peer never
            // does; a bare `UNAVAILABLE` from a peer (a proxy with no route
            // to the gateway) means the same: the gateway was not reached.
            if std::error::Error::source(&status).is_some() || code == Code::Unavailable {
                return Error::Transport(TransportError { endpoint: endpoint.clone(), code, cause: causes(&status) });
            }
            return Error::Status { kind: StatusKind::NoErrorInfo, code, message: status.message().to_string() };
        };
        let status_of = |kind| Error::Status { kind, code, message: status.message().to_string() };
        if info.domain != ERROR_DOMAIN {
            return status_of(StatusKind::ForeignDomain(info.domain.clone()));
        }
        let violations = details
            .violations
            .iter()
            .flatten()
            .map(|(field, description)| FieldViolation { field: field.clone(), description: description.clone() })
            .collect();
        let none = HashMap::new();
        let dropped = crate::mutants::is(crate::mutants::Mutant::DropMetadata);
        let input = Details {
            reason: &info.reason,
            metadata: if dropped { &none } else { &info.metadata },
            message: status.message(),
            violations,
            retry_delay: details.retry_delay,
        };
        match ApiError::decode(&input) {
            Ok(Some(api)) => Error::Api(api),
            Ok(None) => status_of(StatusKind::UnknownReason(info.reason.clone())),
            Err(BadMetadata::Missing(key)) => {
                status_of(StatusKind::MissingMetadata { reason: info.reason.clone(), key: key.to_string() })
            }
            Err(BadMetadata::Malformed { key, value }) => {
                status_of(StatusKind::MalformedMetadata { reason: info.reason.clone(), key: key.to_string(), value })
            }
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
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Api(e) => Some(e.code()),
            Error::Status { code, .. } => Some(*code),
            Error::Transport(e) => Some(e.code()),
            Error::DeadlineExceeded { .. } => Some(Code::DeadlineExceeded),
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
            Error::Status { kind: StatusKind::NoErrorInfo, code, .. } => {
                matches!(code, Code::Unknown | Code::Internal)
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

impl fmt::Display for ApiError {
    /// `JOB_NOT_FOUND: no job `x` is known (correlation id c)`: the
    /// reason, the server's message (which holds every dynamic value, so
    /// the metadata is not repeated) and the correlation id to report,
    /// once: not again when the server's message already names it (the
    /// reference server ends its messages with `[correlation id c]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.correlation_id();
        if id.is_empty() || self.message().contains(&format!("correlation id {id}")) {
            write!(f, "{}: {}", self.reason_name(), self.message())
        } else {
            write!(f, "{}: {} (correlation id {id})", self.reason_name(), self.message())
        }
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
            StatusKind::MalformedMetadata { reason, key, value } => {
                write!(f, "reason `{reason}` with metadata `{key}` = {value:?}, not of its declared type")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => e.fmt(f),
            Error::Status { kind, code, message } => write!(f, "{code}: {message} ({kind})"),
            Error::Transport(e) => e.fmt(f),
            Error::UnsupportedVersion { requested, supported } => {
                write!(f, "the server does not serve api version `{requested}` (it serves: {})", supported.join(", "))
            }
            Error::SequenceGap { job_id, expected, received } => {
                write!(f, "event stream of job `{job_id}` skipped from sequence {expected} to {received}")
            }
            Error::DeadlineExceeded { attempts, last } => {
                let s = if *attempts == 1 { "" } else { "s" };
                match last {
                    Some(_) => write!(f, "deadline exceeded after {attempts} attempt{s}"),
                    None => write!(f, "deadline exceeded after {attempts} attempt{s}, each of which timed out"),
                }
            }
            Error::WaitLimit { job_id, limit } => write!(f, "job `{job_id}` did not end within {limit:?}"),
            Error::Protocol(m) => write!(f, "protocol violation: {m}"),
            Error::Config(m) => write!(f, "invalid client configuration: {m}"),
        }
    }
}

impl std::error::Error for Error {
    /// Only [`Error::DeadlineExceeded`] has a source, its last cause:
    /// every other variant says all it knows in its `Display`.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::DeadlineExceeded { last: Some(last), .. } => Some(last.as_ref()),
            _ => None,
        }
    }
}

/// The causes of a status the transport made, outermost first, each said
/// once (an error's text often repeats its source's).
fn causes(status: &tonic::Status) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut push = |text: String| {
        let text = text.trim().to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    };
    push(status.message().to_string());
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        push(error.to_string());
        source = error.source();
    }
    if parts.is_empty() { "the connection failed".to_string() } else { parts.join(": ") }
}

/// A promised metadata key that is absent or not of its declared type;
/// what the generated decoder returns.
#[derive(Debug)]
pub(crate) enum BadMetadata {
    Missing(&'static str),
    Malformed { key: &'static str, value: String },
}

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

    pub(crate) fn required(&self, key: &'static str) -> Result<String, BadMetadata> {
        self.metadata.get(key).cloned().ok_or(BadMetadata::Missing(key))
    }

    pub(crate) fn optional(&self, key: &'static str) -> Result<Option<String>, BadMetadata> {
        Ok(self.metadata.get(key).cloned())
    }

    pub(crate) fn required_u64(&self, key: &'static str) -> Result<u64, BadMetadata> {
        decimal(key, &self.required(key)?)
    }

    pub(crate) fn optional_u64(&self, key: &'static str) -> Result<Option<u64>, BadMetadata> {
        self.optional(key)?.map(|value| decimal(key, &value)).transpose()
    }

    pub(crate) fn required_list(&self, key: &'static str) -> Result<Vec<String>, BadMetadata> {
        Ok(list(&self.required(key)?))
    }

    // For the generated decoder, once a reason declares an optional list.
    #[allow(dead_code)]
    pub(crate) fn optional_list(&self, key: &'static str) -> Result<Option<Vec<String>>, BadMetadata> {
        Ok(self.optional(key)?.map(|value| list(&value)))
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

fn decimal(key: &'static str, value: &str) -> Result<u64, BadMetadata> {
    // `u64::from_str` accepts a leading `+`, which is not decimal text.
    match value.parse() {
        Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(BadMetadata::Malformed { key, value: value.to_string() }),
    }
}

/// A comma-separated list; the empty text is the empty list.
fn list(value: &str) -> Vec<String> {
    if value.is_empty() { Vec::new() } else { value.split(',').map(str::to_string).collect() }
}

mod details;
#[cfg(test)]
mod tests;
