//! The bundled reference `domed`: every `dome.gateway.v1` semantic on tonic.
//!
//! Run it as a binary (`cargo run -p domed -- --listen 127.0.0.1:50051`) or
//! embed it in a test:
//!
//! ```no_run
//! # async fn demo() -> Result<(), domed::Error> {
//! let running = domed::start(domed::Config::default()).await?;
//! println!("serving on {}", running.url());
//! running.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The server keeps everything in memory: jobs run on tokio workers behind
//! a bounded queue, every job keeps an append-only event log, and streams
//! read those logs from their own cursors, so a slow subscriber never
//! holds up the job or other subscribers. Besides the gateway it serves
//! `grpc.health.v1` and server reflection.

mod config;
mod conn;
mod errors;
mod guard;
mod idle;
mod ids;
#[cfg_attr(not(feature = "mutants"), allow(dead_code, unreachable_pub))]
mod mutants;
mod reply;
mod route;
mod script;
mod server;
mod service;
mod services;
mod skills;
mod store;
mod stream;
mod worker;

pub use config::{Config, Limits, TlsFiles};
#[cfg(feature = "mutants")]
pub use mutants::{Mutant, UnknownMutant};
pub use server::{Error, Running, start};
