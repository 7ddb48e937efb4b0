//! TLS (rustls): a client trusting the server's CA connects over `https`
//! and runs a job; one that does not trust it is refused before any call;
//! settings that cannot work are configuration errors at once.
//! The certificates in `fixtures/` are test-only: a CA and a `localhost` /
//! `127.0.0.1` server certificate it signed, valid for a century.

use crate::common;

use std::path::PathBuf;

use dome_sdk::{Client, Error, TlsConfig, pb};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

async fn tls_server() -> domed::Running {
    let tls = domed::TlsFiles { cert_pem_path: fixture("server.pem"), key_pem_path: fixture("server-key.pem") };
    common::server(domed::Config { tls: Some(tls), ..domed::Config::default() }).await
}

#[tokio::test]
async fn a_client_trusting_the_ca_runs_a_job_over_tls() {
    let server = tls_server().await;
    assert!(server.url().starts_with("https://"));
    let ca = std::fs::read(fixture("ca.pem")).expect("the CA fixture");
    let tls = TlsConfig::new().ca_certificate_pem(ca).domain_name("localhost");
    let client = Client::builder(server.url()).tls(tls).connect().await.expect("connects over tls");
    let job = common::script(&client, "[]").send_and_wait(None).await.expect("runs");
    assert_eq!(job.state(), pb::JobState::Succeeded);
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_client_not_trusting_the_server_is_refused() {
    let server = tls_server().await;
    // A CA that did not sign the server's certificate: the server's own
    // certificate is not a CA.
    let other = std::fs::read(fixture("server.pem")).expect("a certificate");
    let tls = TlsConfig::new().ca_certificate_pem(other).domain_name("localhost");
    let policy = common::fast_retries().max_attempts(2);
    let error = Client::builder(server.url()).tls(tls).retry_policy(policy).connect().await.expect_err("untrusted");
    assert!(matches!(error, Error::Transport(_)), "a failed handshake is a transport failure: {error:?}");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn unusable_tls_settings_are_config_errors() {
    // An https endpoint that trusts nothing, TLS on a plain endpoint, and a
    // CA that is not PEM: each refused before any connection is tried.
    let nothing_trusted = Client::builder("https://127.0.0.1:1").connect().await.expect_err("trusts nothing");
    assert!(matches!(&nothing_trusted, Error::Config(m) if m.contains("nothing is trusted")), "{nothing_trusted:?}");
    let ca = std::fs::read(fixture("ca.pem")).expect("the CA fixture");
    let plain = Client::builder("http://127.0.0.1:1").tls(TlsConfig::new().ca_certificate_pem(ca)).connect().await;
    assert!(matches!(&plain, Err(Error::Config(m)) if m.contains("use https://")), "{plain:?}");
    let garbage = TlsConfig::new().ca_certificate_pem(b"not a certificate".to_vec());
    let error = Client::builder("https://127.0.0.1:1").tls(garbage).connect().await.expect_err("no certificate");
    assert!(matches!(&error, Error::Config(_) | Error::Transport(_)), "{error:?}");
}
