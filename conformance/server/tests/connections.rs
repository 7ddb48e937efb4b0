//! Connections: a client that connects and says nothing is closed after
//! the handshake timeout, and the server keeps serving others.

use crate::common;

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

/// A connection that has spoken HTTP/2 but has no call open is closed
/// after the idle timeout, whatever PINGs it might answer.
#[tokio::test]
async fn a_connection_with_no_call_open_is_closed_after_the_idle_timeout() {
    use tokio::io::AsyncWriteExt;
    let h = common::start_with(domed::Config { idle_timeout: Duration::from_millis(300), ..Default::default() }).await;
    let mut idle = TcpStream::connect(h.running.local_addr()).await.expect("connects");
    // The client preface and an empty SETTINGS frame: a handshake, then
    // no call.
    idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.expect("writes");
    let mut buf = [0u8; 256];
    // The keepalive (30 s, then 10 s for the answer) would close it only
    // after the outer bound, which keeps a broken server from hanging the
    // test.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was still open after 30 s");
    h.running.shutdown().await.expect("clean shutdown");
}
