//! TLS settings of a client (rustls), in this crate's own terms.

use std::fmt;

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// How a client authenticates the server, and itself, over TLS
/// (`https://` endpoints; the `tls` feature, on by default).
///
/// With no CA certificate and no root store, an `https://` client trusts
/// nothing: give the CA that signed the server's certificate
/// ([`TlsConfig::ca_certificate_pem`]), or enable the `tls-native-roots`
/// or `tls-webpki-roots` feature and call the matching method.
#[derive(Clone, Default)]
pub struct TlsConfig {
    ca_pems: Vec<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    domain: Option<String>,
    native_roots: bool,
    webpki_roots: bool,
}

impl TlsConfig {
    /// Trusts nothing yet.
    pub fn new() -> Self {
        TlsConfig::default()
    }

    /// Trusts the CA certificate(s) in `pem` (PEM text, one or more
    /// certificates).
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Presents this client certificate chain and private key (both PEM)
    /// to a server that asks for one (mutual TLS).
    pub fn identity_pem(mut self, certificate_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// The name the server's certificate must carry, when it differs from
    /// the endpoint's host.
    pub fn domain_name(mut self, name: impl Into<String>) -> Self {
        self.domain = Some(name.into());
        self
    }

    /// Also trusts the operating system's root certificates.
    #[cfg(feature = "tls-native-roots")]
    pub fn with_native_roots(mut self) -> Self {
        self.native_roots = true;
        self
    }

    /// Also trusts the Mozilla root certificates compiled into the binary.
    #[cfg(feature = "tls-webpki-roots")]
    pub fn with_webpki_roots(mut self) -> Self {
        self.webpki_roots = true;
        self
    }

    /// Whether anything is trusted at all.
    pub(crate) fn trusts_something(&self) -> bool {
        !self.ca_pems.is_empty() || self.native_roots || self.webpki_roots
    }

    pub(crate) fn to_tonic(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        for pem in &self.ca_pems {
            config = config.ca_certificate(Certificate::from_pem(pem));
        }
        if let Some((certificate, key)) = &self.identity {
            config = config.identity(Identity::from_pem(certificate, key));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        #[cfg(feature = "tls-native-roots")]
        if self.native_roots {
            config = config.with_native_roots();
        }
        #[cfg(feature = "tls-webpki-roots")]
        if self.webpki_roots {
            config = config.with_webpki_roots();
        }
        config
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Certificates are long and the key is secret: say what is set.
        f.debug_struct("TlsConfig")
            .field("ca_certificates", &self.ca_pems.len())
            .field("identity", &self.identity.as_ref().map(|_| "<set>"))
            .field("domain", &self.domain)
            .field("native_roots", &self.native_roots)
            .field("webpki_roots", &self.webpki_roots)
            .finish()
    }
}
