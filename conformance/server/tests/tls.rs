//! TLS from PEM files: the server speaks TLS and a client that trusts the
//! issuing CA calls it. The fixtures are a throwaway CA and a `localhost`
//! certificate made for this test only.

use std::path::PathBuf;

use dome_sdk::pb::{self, gateway_service_client::GatewayServiceClient};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[tokio::test]
async fn serves_tls_from_pem_files() {
    let config = domed::Config {
        tls: Some(domed::TlsFiles {
            cert_pem_path: fixture("localhost.cert.pem"),
            key_pem_path: fixture("localhost.key.pem"),
        }),
        ..Default::default()
    };
    let running = domed::start(config).await.expect("starts with TLS");
    assert!(running.url().starts_with("https://"));
    let ca = std::fs::read(fixture("ca.cert.pem")).expect("CA fixture");
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost");
    let channel = Endpoint::new(running.url())
        .expect("url")
        .tls_config(tls)
        .expect("tls config")
        .connect()
        .await
        .expect("TLS handshake");
    let caps = GatewayServiceClient::new(channel)
        .list_capabilities(pb::ListCapabilitiesRequest { correlation_id: "tls".into(), ..Default::default() })
        .await
        .expect("answers over TLS")
        .into_inner();
    assert_eq!(caps.correlation_id, "tls");

    // A plaintext client gets no answer from a TLS server.
    let plain = Endpoint::new(format!("http://{}", running.local_addr())).expect("url").connect().await;
    if let Ok(channel) = plain {
        let err = GatewayServiceClient::new(channel).list_capabilities(pb::ListCapabilitiesRequest::default()).await;
        assert!(err.is_err(), "plaintext is refused");
    }
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_missing_certificate_file_is_a_start_error() {
    let config = domed::Config {
        tls: Some(domed::TlsFiles { cert_pem_path: fixture("absent.pem"), key_pem_path: fixture("localhost.key.pem") }),
        ..Default::default()
    };
    let err = domed::start(config).await.expect_err("no such file");
    assert!(err.to_string().contains("absent.pem"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}
