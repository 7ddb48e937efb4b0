//! The conformance suite of the dome gateway v1 contract
//! (`dome.gateway.v1`): it tells any server, by address, whether it
//! honours the contract.
//!
//! A run first reads `ListCapabilities` and the conformance-profile flag,
//! then runs the catalogue ([`cases::catalogue`]): cases with stable ids,
//! each naming the contract rule it checks and the proto element the rule
//! comes from. Many cases are proptest properties: random scripts for the
//! conformance skill ([`script`], [`arbitrary`]) and random interleavings
//! of calls, every observation judged by a plain model of the contract
//! ([`model`]). A failing property is shrunk to a minimal scenario and
//! reported with the seed that replays it. Everything goes over the raw
//! generated tonic client ([`wire`]), with a deadline on every call.
//!
//! Run it with `cargo xtask conformance` (see `--help`); with no
//! `--target` it starts the bundled reference server in-process
//! ([`embedded`]).

pub mod arbitrary;
pub mod case;
pub mod cases;
pub mod client;
pub mod embedded;
mod error;
pub mod matrix;
pub mod model;
pub mod report;
pub mod runner;
pub mod script;
pub mod wire;

#[allow(missing_docs, unreachable_pub, clippy::all, rust_2018_idioms)]
mod generated {
    pub(crate) mod testee {
        include!("generated/dome.conformance.testee.v1.rs");
    }
}

use std::time::Duration;

pub use error::Error;
pub use runner::{CaseReport, Report, RunOptions, Status};
pub use wire::Target;

/// Everything one run needs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The server to check; `None` starts the reference server in-process.
    pub target: Option<Target>,
    /// With no target: the mutant to embed (feature `mutants`).
    pub mutant: Option<String>,
    /// The shape of the run.
    pub run: RunOptions,
}

impl Options {
    /// The deadline of each RPC and stream read: a tenth of the case
    /// timeout, between 1 and 10 seconds.
    pub fn rpc_timeout(&self) -> Duration {
        (self.run.timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(10))
    }
}

/// Runs the suite as `options` say, calling `progress` as each case ends.
/// With no target, the reference server is started before and shut down
/// after.
pub async fn run(options: &Options, progress: impl FnMut(&CaseReport, usize, usize)) -> Result<Report, Error> {
    let rpc_timeout = options.rpc_timeout();
    match &options.target {
        Some(target) => {
            let wire = wire::Wire::connect(target, rpc_timeout).await?;
            runner::run(&wire, &target.address, cases::catalogue(), &options.run, progress).await
        }
        None => {
            let server = embedded::start(options.mutant.as_deref()).await?;
            let url = server.url();
            let name = match &options.mutant {
                Some(m) => format!("embedded reference server as mutant {m} ({url})"),
                None => format!("embedded reference server ({url})"),
            };
            let target = Target { address: url, ..Target::default() };
            let result = match wire::Wire::connect(&target, rpc_timeout).await {
                Ok(wire) => runner::run(&wire, &name, cases::catalogue(), &options.run, progress).await,
                Err(e) => Err(e),
            };
            // A server that fails to stop cleanly does not change the verdict.
            let _ = server.shutdown().await;
            result
        }
    }
}
