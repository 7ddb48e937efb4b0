//! The suite's library error: an opaque type over a private kind, with
//! lowercase messages and the source kept.

use std::fmt;
use std::time::Duration;

/// Why the suite could not run (as opposed to a case failing, which is a
/// result, not an error).
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Connect { url: String, source: Box<dyn std::error::Error + Send + Sync> },
    ConnectTimeout { url: String, after: Duration },
    BadToken(Box<dyn std::error::Error + Send + Sync>),
    Capabilities(String),
    Io { path: String, source: std::io::Error },
    Usage(String),
    Embedded(String),
}

impl Error {
    pub(crate) fn connect(url: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error { kind: Kind::Connect { url: url.to_string(), source: Box::new(e) } }
    }
    pub(crate) fn connect_timeout(url: &str, after: Duration) -> Error {
        Error { kind: Kind::ConnectTimeout { url: url.to_string(), after } }
    }
    pub(crate) fn bad_token(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error { kind: Kind::BadToken(Box::new(e)) }
    }
    pub(crate) fn capabilities(what: String) -> Error {
        Error { kind: Kind::Capabilities(what) }
    }
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error { kind: Kind::Io { path: path.display().to_string(), source } }
    }
    pub(crate) fn usage(what: impl Into<String>) -> Error {
        Error { kind: Kind::Usage(what.into()) }
    }
    pub(crate) fn embedded(what: impl Into<String>) -> Error {
        Error { kind: Kind::Embedded(what.into()) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Connect { url, .. } => write!(f, "cannot connect to `{url}`"),
            Kind::ConnectTimeout { url, after } => {
                write!(f, "connecting to `{url}` took longer than {} ms", after.as_millis())
            }
            Kind::BadToken(_) => write!(f, "the auth token is not a valid header value"),
            Kind::Capabilities(what) => write!(f, "ListCapabilities failed, so nothing can be checked: {what}"),
            Kind::Io { path, .. } => write!(f, "cannot read or write `{path}`"),
            Kind::Usage(what) => f.write_str(what),
            Kind::Embedded(what) => write!(f, "cannot start the embedded reference server: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Connect { source, .. } | Kind::BadToken(source) => Some(source.as_ref()),
            Kind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
