//! Where a client connects: a checked `http://` or `https://` URL.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::Error;

/// The address of a gateway: `http://host:port` or `https://host:port`.
///
/// Parsing checks what connecting needs (a scheme of `http` or `https`, a
/// host, nothing after the authority but an optional `/`), so that a
/// malformed endpoint is an [`Error::Config`] at once rather than a
/// connection failure later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Arc<str>,
    tls: bool,
}

impl Endpoint {
    /// Parses and checks `text`.
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let bad = |why: &str| Error::Config(format!("endpoint `{text}` {why}"));
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("has no scheme: write `http://host:port` (or `https://` for TLS)"))?;
        let tls = match scheme {
            "http" => false,
            "https" => true,
            _ => return Err(bad("has a scheme other than `http` or `https`")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("has no host"));
        }
        if authority.contains(['/', '?', '#', '@']) || authority.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("is not a bare `scheme://host:port` (no path, query, user or spaces)"));
        }
        let uri: tonic::transport::Uri = text.parse().map_err(|e| bad(&format!("is not a valid uri: {e}")))?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("has no host"));
        }
        Ok(Endpoint { url: Arc::from(authority_url(scheme, authority)), tls })
    }

    /// The URL, such as `http://127.0.0.1:50051`.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Whether the endpoint is `https://`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.url
    }
}

fn authority_url(scheme: &str, authority: &str) -> String {
    format!("{scheme}://{authority}")
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(text)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_endpoints_parse() {
        for (text, url, tls) in [
            ("http://127.0.0.1:50051", "http://127.0.0.1:50051", false),
            ("https://gateway.example:443/", "https://gateway.example:443", true),
            ("http://[::1]:7", "http://[::1]:7", false),
            ("http://localhost", "http://localhost", false),
        ] {
            let endpoint = Endpoint::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"));
            assert_eq!((endpoint.as_str(), endpoint.is_tls()), (url, tls));
        }
    }

    #[test]
    fn malformed_endpoints_are_config_errors_that_say_why() {
        for (text, why) in [
            ("127.0.0.1:50561", "has no scheme"),
            ("", "has no scheme"),
            ("not a uri at all", "has no scheme"),
            ("ftp://host:1", "other than `http`"),
            ("http://", "has no host"),
            ("http://[::1", "not a valid uri"),
            ("http://host:1/path", "no path"),
            ("http://user@host:1", "no path, query, user"),
            ("http://ho st:1", "no path, query, user"),
        ] {
            match Endpoint::parse(text) {
                Err(Error::Config(message)) => {
                    assert!(message.contains(why) && message.contains(&format!("`{text}`")), "`{text}`: {message}")
                }
                other => panic!("`{text}` gave {other:?}"),
            }
        }
    }
}
