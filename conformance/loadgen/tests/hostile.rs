//! The hostile clients' checks: the reference server passes them, and a
//! server that answers oversized requests with anything but a small typed
//! error (the bare baseline, which accepts them all) is caught.

use dome_loadgen::{baseline, hostile};

/// Oversized strings: every answer of the reference server is typed, its
/// details small, and the bytes it sends back far fewer than it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_strings_get_small_typed_errors() {
    let running = domed::start(domed::Config::default()).await.expect("the reference server starts");
    let report = hostile::oversized(&running.url(), 1_000_000).await.expect("every answer is a typed error");
    assert!(report.calls.len() >= 15, "every string field of every RPC: {:?}", report.calls);
    assert!(report.largest_details_bytes > 0 && report.largest_details_bytes < 8192, "{report:?}");
    assert!(report.bytes_in >= 15 * 1_000_000, "the strings went through the proxy: {report:?}");
    assert!(report.bytes_out < report.bytes_in / 100, "{report:?}");
    running.shutdown().await.expect("the server shuts down");

    let base = baseline::serve("127.0.0.1:0".parse().expect("a socket address")).await.expect("the baseline starts");
    let accepted = hostile::oversized(&format!("http://{}", base.local_addr()), 1_000_000).await;
    assert!(accepted.as_ref().is_err_and(|e| e.is_violation()), "{accepted:?}");
}
