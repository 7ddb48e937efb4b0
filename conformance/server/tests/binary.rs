//! The `domed` binary: prints where it listens, takes its token from the
//! environment, explains every flag, and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use dome_sdk::pb::{self, gateway_service_client::GatewayServiceClient};
use tonic::metadata::MetadataValue;

const BIN: &str = env!("CARGO_BIN_EXE_domed");

#[test]
fn help_explains_every_flag() {
    let out = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--auth-token",
        "DOMED_AUTH_TOKEN",
        "--tls-cert",
        "--tls-key",
        "--no-conformance",
        "--shutdown-grace-secs",
        "--max-concurrent-streams",
        "--max-request-bytes",
        "--max-input-bytes",
        "--queue-capacity",
        "--max-running-jobs",
        "--max-events-retained-per-job",
        "--max-jobs-retained",
        "--max-subscribers-per-job",
        "--idempotency-window-secs",
        "--max-subscriber-lag-events",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}:\n{help}");
    }
    let bad = Command::new(BIN).arg("--listen").arg("not-an-address").output().expect("runs");
    assert!(!bad.status.success(), "a malformed address is refused");
}

#[test]
fn serves_on_the_printed_address_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--queue-capacity", "7"])
        .env("DOMED_AUTH_TOKEN", "from-env")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("reads");
    let addr = line
        .trim()
        .strip_prefix("domed listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"), "{addr}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let caps = rt.block_on(async {
        let channel =
            tonic::transport::Endpoint::new(format!("http://{addr}")).expect("url").connect().await.expect("connects");
        let mut client = GatewayServiceClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", MetadataValue::from_static("Bearer from-env"));
            Ok(r)
        });
        client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("answers").into_inner()
    });
    assert!(caps.features.iter().any(|f| f == dome_sdk::contract::FEATURE_AUTH_BEARER));
    assert_eq!(caps.limits.expect("limits").queue_capacity, 7);
    // Closes the client's connection, which an idle runtime would keep.
    drop(rt);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert!(status.success(), "a graceful exit: {status:?}");
}
