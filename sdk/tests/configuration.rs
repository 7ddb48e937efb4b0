//! A client configured with something unusable fails with a typed error
//! (never a panic), a server that cannot be reached fails connecting with
//! a transport error once the retry policy gives up, a stream opened
//! outside a runtime is an error item, and the token never shows in debug
//! output.

use std::time::Duration;

use dome_sdk::{Client, Error, RetryPolicy};

#[tokio::test]
async fn unusable_settings_are_config_errors() {
    for endpoint in ["", "not a uri at all", "http://[::1"] {
        let error = Client::connect(endpoint).await.expect_err("refused");
        assert!(matches!(error, Error::Config(_)), "`{endpoint}` gave {error:?}");
        assert!(error.to_string().starts_with("invalid client configuration"), "{error}");
    }
    let error = Client::builder("http://127.0.0.1:1").auth_token("line\nbreak").connect().await.expect_err("refused");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_after_the_retries() {
    // A port nothing listens on: bind one, then free it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let policy = RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
        .multiplier(2.0)
        .deadline(Duration::from_secs(10));
    let error = Client::builder(format!("http://{addr}")).retry_policy(policy).connect().await.expect_err("refused");
    assert!(matches!(&error, Error::Transport(t) if t.code() == dome_sdk::Code::Unavailable), "{error:?}");
    assert!(error.is_retryable(), "a refused connection is worth retrying later");
    // One line naming the endpoint and what the OS said, said once.
    let shown = error.to_string();
    assert!(shown.starts_with(&format!("cannot reach `http://{addr}`: ")), "{shown}");
    assert!(shown.contains("Connection refused") && shown.contains("os error"), "the OS error: {shown}");
    assert!(!shown.contains('\n'), "{shown}");
    assert!(std::error::Error::source(&error).is_none(), "nothing below to repeat: {shown}");
}

#[tokio::test]
async fn an_endpoint_without_a_scheme_is_a_config_error_at_once() {
    // A generous policy: were the error retried, the call would take long.
    let policy = RetryPolicy::default().max_attempts(50).initial_backoff(Duration::from_secs(1));
    let error = Client::builder("127.0.0.1:50561").retry_policy(policy).connect().await.expect_err("refused");
    match &error {
        Error::Config(message) => assert!(message.contains("has no scheme"), "{message}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        "invalid client configuration: endpoint `127.0.0.1:50561` has no scheme: write `http://host:port` (or `https://` for TLS)"
    );
}

#[tokio::test]
async fn a_client_prints_short() {
    let server = domed::start(domed::Config::default()).await.expect("starts");
    let client = Client::builder(server.url()).correlation_id("c-1").connect().await.expect("connects");
    let shown = format!("{client:?}");
    assert!(shown.len() < 400, "{} bytes: {shown}", shown.len());
    assert!(shown.contains(&server.url()) && shown.contains("c-1"), "{shown}");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn the_builder_never_shows_the_token() {
    let builder = Client::builder("http://127.0.0.1:1").auth_token("s3cret-token");
    let shown = format!("{builder:?}");
    assert!(!shown.contains("s3cret-token") && shown.contains("<redacted>"), "{shown}");
}

#[test]
fn a_stream_outside_a_runtime_is_an_error_not_a_panic() {
    // A client needs a runtime to connect; the stream is then opened from
    // plain synchronous code.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (client, server) = runtime.block_on(async {
        let server = domed::start(domed::Config::default()).await.expect("starts");
        (Client::connect(server.url()).await.expect("connects"), server)
    });
    let mut events = client.stream_job_events("job-x").after(0).send();
    let first = runtime.block_on(events.next_event());
    assert!(matches!(first, Some(Err(Error::Config(_)))), "{first:?}");
    assert!(runtime.block_on(events.next_event()).is_none());
    runtime.block_on(server.shutdown()).expect("stops");
}
