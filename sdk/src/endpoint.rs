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
    /// The host as the URL writes it (an IPv6 address in brackets).
    host: Arc<str>,
    port: u16,
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
        let uri: http::Uri = text.parse().map_err(|e| bad(&format!("is not a valid uri: {e}")))?;
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return Err(bad("has no host"));
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Endpoint { url: Arc::from(authority_url(scheme, authority)), tls, host: Arc::from(host), port })
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

    /// The host to connect to and to name in TLS: a name, an IPv4
    /// address, or an IPv6 address without its brackets.
    pub(crate) fn host(&self) -> &str {
        self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&self.host)
    }

    /// The port, 80 or 443 when the URL gives none.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` as the URL writes it, for the requests' `:authority`.
    pub(crate) fn authority(&self) -> &str {
        &self.url[self.url.find("://").map_or(0, |i| i + 3)..]
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
        for (text, url, tls, host, port) in [
            ("http://127.0.0.1:50051", "http://127.0.0.1:50051", false, "127.0.0.1", 50051),
            ("https://gateway.example:443/", "https://gateway.example:443", true, "gateway.example", 443),
            ("http://[::1]:7", "http://[::1]:7", false, "::1", 7),
            ("http://localhost", "http://localhost", false, "localhost", 80),
            ("https://localhost", "https://localhost", true, "localhost", 443),
        ] {
            let endpoint = Endpoint::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"));
            assert_eq!((endpoint.as_str(), endpoint.is_tls()), (url, tls));
            assert_eq!((endpoint.host(), endpoint.port()), (host, port), "{text}");
            assert_eq!(endpoint.authority(), &url[url.find("://").unwrap() + 3..]);
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
