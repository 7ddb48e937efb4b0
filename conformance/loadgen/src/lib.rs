//! Load generator, fault scenarios and a bare tonic baseline for the dome
//! gateway v1 contract.
//!
//! Everything here talks to a server over real loopback sockets through the
//! generated client (`dome_sdk::pb::gateway_service_client`), so the same
//! code measures the reference `domed` and the [`baseline`] server, which
//! implements the generated `GatewayService` trait with no logic at all:
//! the ratio of the two shows what the reference server's own work costs.
//!
//! - [`bench`](mod@bench): unary throughput and latency, event-streaming throughput
//!   (one job with many subscribers, many jobs with one subscriber each).
//! - [`faults`]: bounded load and fault scenarios (a flooded queue, a wide
//!   fan-out, slow and disconnecting subscribers, cancels mid-burst) that
//!   check every event arrives exactly once and in order.
//! - [`hostile`]: attacks a caller can make within the limits (work that
//!   starves other calls, maximal retained jobs, unread streams, oversized
//!   strings, idle and silent connections, exhausted descriptors), each
//!   reporting what it cost the server.
//! - [`follow`]: the one subscriber used by both, which resumes after lag
//!   or a dropped stream and verifies the sequence it sees.
//! - [`rss`]: peak and current resident memory of a server process.
//!
//! Every phase is bounded: each loop has a cap on its iterations and each
//! wait a timeout.

pub mod baseline;
pub mod bench;
pub mod client;
mod error;
pub mod faults;
pub mod follow;
pub mod hostile;
pub mod rss;
pub mod stats;

pub use error::Error;

/// The conformance skill every phase runs.
pub const SCRIPT_SKILL: &str = "dome.conformance.script";

/// The input of a script that emits `count` progress events at once.
pub fn bulk_script(count: u64) -> String {
    format!(r#"{{"steps":[{{"bulk":{{"count":{count}}}}}]}}"#)
}

/// Runs `phase`, failing with a timeout error after `limit`: every phase
/// of the bench and every scenario is bounded in time as a whole, besides
/// the timeouts of its own calls and streams.
pub(crate) async fn within<T>(
    limit: std::time::Duration,
    what: &str,
    phase: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, phase).await.map_err(|_| Error::timeout(format!("{what} took over {limit:?}")))?
}
