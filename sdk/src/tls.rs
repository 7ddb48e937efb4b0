//! TLS settings of a client (rustls), in this crate's own terms.

use std::fmt;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::transport::Tls;

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

    /// The rustls configuration for `endpoint` (ring as the crypto
    /// provider, TLS 1.3, and 1.2 with the `tls12` feature, ALPN `h2`). Certificates and keys that do
    /// not parse are an [`Error::Config`] naming what is wrong.
    pub(crate) fn to_rustls(&self, endpoint: &Endpoint) -> Result<Tls, Error> {
        let config_error = |what: String| Error::Config(format!("tls configuration: {what}"));
        let mut roots = RootCertStore::empty();
        for (index, pem) in self.ca_pems.iter().enumerate() {
            let certificates = certificates(pem).map_err(|e| config_error(format!("CA certificate {index}: {e}")))?;
            for certificate in certificates {
                roots.add(certificate).map_err(|e| config_error(format!("CA certificate {index}: {e}")))?;
            }
        }
        #[cfg(feature = "tls-native-roots")]
        if self.native_roots {
            // Unreadable entries of the system store are skipped, as
            // every user of that store does; none at all is an error.
            let (added, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if added == 0 {
                return Err(config_error("no root certificate could be read from the operating system".into()));
            }
        }
        #[cfg(feature = "tls-webpki-roots")]
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((certificate, key)) => {
                let chain = certificates(certificate).map_err(|e| config_error(format!("client certificate: {e}")))?;
                let key =
                    PrivateKeyDer::from_pem_slice(key).map_err(|e| config_error(format!("client private key: {e}")))?;
                builder.with_client_auth_cert(chain, key).map_err(|e| config_error(format!("client identity: {e}")))?
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let name = self.domain.as_deref().unwrap_or(endpoint.host());
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| config_error(format!("`{name}` is not a valid server name")))?;
        Ok(Tls { config: Arc::new(config), server_name })
    }
}

/// The certificates of a PEM text; none at all is an error (a file of
/// something else reads as no certificate).
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates =
        CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| format!("bad PEM: {e}"))?;
    if certificates.is_empty() {
        return Err("no certificate in the PEM text".into());
    }
    Ok(certificates)
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
