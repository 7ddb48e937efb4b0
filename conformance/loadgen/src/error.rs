//! The error type of the load generator.

use std::fmt;

/// Why a load phase or a scenario could not run or did not hold.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Connect { target: String, source: tonic::transport::Error },
    Rpc { what: &'static str, status: Box<tonic::Status> },
    Timeout { what: String },
    Violation { what: String },
    Io { what: String, source: std::io::Error },
    Usage { what: String },
}

impl Error {
    pub(crate) fn connect(target: &str, source: tonic::transport::Error) -> Self {
        Self { kind: Kind::Connect { target: target.to_owned(), source } }
    }

    pub(crate) fn rpc(what: &'static str, status: tonic::Status) -> Self {
        Self { kind: Kind::Rpc { what, status: Box::new(status) } }
    }

    pub(crate) fn timeout(what: impl Into<String>) -> Self {
        Self { kind: Kind::Timeout { what: what.into() } }
    }

    pub(crate) fn violation(what: impl Into<String>) -> Self {
        Self { kind: Kind::Violation { what: what.into() } }
    }

    /// A scenario asked for without what it needs.
    pub fn usage(what: impl Into<String>) -> Self {
        Self { kind: Kind::Usage { what: what.into() } }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self { kind: Kind::Io { what: what.into(), source } }
    }

    /// True when a contract invariant (loss, reorder, duplicate, a wrong
    /// terminal state) was broken, as opposed to the phase failing to run.
    pub fn is_violation(&self) -> bool {
        matches!(self.kind, Kind::Violation { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Connect { target, .. } => write!(f, "cannot connect to `{target}`"),
            Kind::Rpc { what, status } => {
                write!(f, "{what} failed with {:?}: {}", status.code(), status.message())
            }
            Kind::Timeout { what } => write!(f, "timed out: {what}"),
            Kind::Violation { what } => write!(f, "contract violated: {what}"),
            Kind::Io { what, .. } | Kind::Usage { what } => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Connect { source, .. } => Some(source),
            Kind::Rpc { status, .. } => Some(status.as_ref()),
            Kind::Io { source, .. } => Some(source),
            Kind::Timeout { .. } | Kind::Violation { .. } | Kind::Usage { .. } => None,
        }
    }
}

impl Error {
    /// A report that could not be written as JSON.
    pub fn from_json(source: serde_json::Error) -> Self {
        Self::io("cannot write the report as JSON", std::io::Error::other(source))
    }
}
