//! Connections: a client that connects and says nothing is closed after
//! the handshake timeout, and the server keeps serving others.

mod common;

use std::time::Duration;

use dome_sdk::pb;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let mut h =
        common::start_with(domed::Config { handshake_timeout: Duration::from_millis(200), ..Default::default() }).await;
    let mut silent = TcpStream::connect(h.running.local_addr()).await.expect("connects");
    let mut buf = [0u8; 64];
    // The server speaks first in HTTP/2 (its SETTINGS), then closes: read
    // until the end. The outer bound only keeps a broken server from
    // hanging the test.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the silent connection was still open after 30 s");
    // A connection that does speak is served as before.
    h.client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("served");
    h.running.shutdown().await.expect("clean shutdown");
}
