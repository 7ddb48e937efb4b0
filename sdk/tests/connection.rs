//! The client's own connection: opened again after the server restarts
//! and after the runtime that drove it shut down, bounded by the connect
//! timeout when the peer never answers, and shared by concurrent calls.

use crate::common;

use std::time::Duration;

use dome_sdk::{Client, Error, RetryPolicy, pb};

#[tokio::test]
async fn a_client_reconnects_after_the_server_restarts() {
    let first = common::default_server().await;
    let addr = first.local_addr();
    let client = common::client(&first.url()).await;
    let job = common::script(&client, r#"[{"succeed":{}}]"#).send_and_wait(None).await.expect("runs");
    assert_eq!(job.state(), pb::JobState::Succeeded);
    first.shutdown().await.expect("stops");

    // While nothing listens, a call fails as a transport error naming the
    // endpoint.
    let down = client.get_job_status(job.job_id.clone()).retry_policy(RetryPolicy::never()).send().await;
    match down {
        Err(Error::Transport(e)) => assert_eq!(e.endpoint(), client.endpoint().as_str()),
        other => panic!("expected a transport error, got {other:?}"),
    }

    // A new server on the same address (its store is new): the same client
    // reaches it without being rebuilt.
    let second = common::server(domed::Config { listen: addr, ..domed::Config::default() }).await;
    let again = common::script(&client, r#"[{"succeed":{}}]"#).send_and_wait(None).await.expect("runs again");
    assert_eq!(again.state(), pb::JobState::Succeeded);
    second.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_peer_that_never_answers_is_cut_by_the_connect_timeout() {
    // A listener that accepts and then says nothing: the TLS handshake
    // waits for a reply that never comes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let tls = dome_sdk::TlsConfig::new().ca_certificate_pem(include_str!("fixtures/ca.pem"));
    let connect = Client::builder(format!("https://localhost:{}", addr.port()))
        .tls(tls)
        .connect_timeout(Duration::from_millis(200))
        .retry_policy(RetryPolicy::never())
        .connect();
    // The outer bound only turns a missing connect timeout into a failure
    // rather than a hang.
    let error = tokio::time::timeout(Duration::from_secs(30), connect)
        .await
        .expect("the connect timeout ends the wait")
        .expect_err("never answers");
    match &error {
        Error::Transport(e) => assert!(e.cause().contains("connect timeout"), "{error}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    silent.abort();
}

#[tokio::test]
async fn concurrent_calls_share_one_connection() {
    let server = common::default_server().await;
    let addr = server.local_addr();
    // Count the connections through a proxy that refuses none.
    let proxy = common::Proxy::start(addr, 0).await;
    let client = common::client(&proxy.url()).await;
    let calls = (0..16).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.skill_execute(dome_sdk::contract::CONFORMANCE_SKILL_ID, "{}").send().await })
    });
    for call in calls {
        let outcome = call.await.expect("the task runs");
        assert!(!matches!(outcome, Err(Error::Transport(_))), "{outcome:?}");
    }
    assert_eq!(proxy.accepted(), 1, "the connection made when connecting carries every call");
    server.shutdown().await.expect("stops");
}

#[test]
fn a_client_outlives_the_runtime_it_connected_on() {
    let serving = tokio::runtime::Runtime::new().expect("a runtime");
    let server = serving.block_on(common::default_server());
    let url = server.url();
    let client = {
        let first = tokio::runtime::Runtime::new().expect("a runtime");
        first.block_on(common::client(&url))
        // The runtime that drove the connection shuts down here.
    };
    let job = serving.block_on(async {
        let run = common::script(&client, r#"[{"succeed":{}}]"#).send_and_wait(None);
        tokio::time::timeout(Duration::from_secs(30), run).await.expect("does not hang on the dead connection")
    });
    assert_eq!(job.expect("runs on a new connection").state(), pb::JobState::Succeeded);
    serving.block_on(server.shutdown()).expect("stops");
}
