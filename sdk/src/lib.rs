//! The thin Rust SDK of the dome gateway v1 contract (`dome.gateway.v1`).
//!
//! The messages and the client (and, behind the `server` feature, the
//! server trait) are generated from `proto/` by `cargo xtask codegen` and
//! committed, so using this crate needs neither protoc nor protox. On top
//! of them sits a thin hand-written layer:
//!
//! - [`Client`]: connects, negotiates the API version (refusing a server
//!   that does not serve [`contract::API_VERSION`]), sends the
//!   `dome-api-version` header, the bearer token and a correlation id on
//!   every call, and retries what the contract marks retryable
//!   ([`RetryPolicy`]). Every RPC is one method returning a request
//!   builder ([`calls`]): what the call requires as arguments, the rest as
//!   setters, `.timeout()`, `.retry_policy()`, `.correlation_id()`, then
//!   `send()`. The sdk README maps every RPC to its call and every
//!   `ErrorReason` to its variant.
//! - [`Error`] and [`ApiError`]: every failure, typed. [`ApiError`] has one
//!   variant per `ErrorReason` of the contract, generated from the proto,
//!   with the metadata each reason promises as typed fields.
//! - [`JobEventStream`]: a job's events, each exactly once and in order,
//!   across reconnects; [`EventCursor`] is its bookkeeping.
//! - [`pb`]: every message and enum of the service surface (with
//!   `Display` and `SystemTime` readers), and the generated tonic stubs.
//! - [`contract`]: the facts the proto's options declare (error reasons
//!   with their codes and retryability, SSOT mappings, the RPC list, the
//!   conformance profile), emitted by codegen.
//!
//! No tonic or prost type appears in this crate's own signatures (the
//! generated messages aside, and [`Client::raw`], the escape hatch):
//! [`Code`], [`Endpoint`] and `TlsConfig` are its own.
//!
//! Minimum supported Rust version: 1.88 (`rust-version`; see the README
//! for how it is checked).
//!
//! # Example
//!
//! Submit a job and follow its events until it ends (this is
//! `examples/quickstart.rs`, which a test runs against the reference
//! server):
//!
//! ```no_run
//! use dome_sdk::{Client, contract};
//!
//! # async fn run() -> Result<(), dome_sdk::Error> {
//! let client = Client::connect("http://127.0.0.1:50051").await?;
//! let input = r#"{"steps":[{"progress":{"percent":50}},{"succeed":{"output":42}}]}"#;
//! let submitted = client.skill_execute(contract::CONFORMANCE_SKILL_ID, input).send().await?;
//! let job_id = submitted.job.job_id;
//! let mut events = client.stream_job_events(job_id.clone()).send();
//! while let Some(event) = events.next_event().await {
//!     let event = event?;
//!     println!("#{} {:?}", event.sequence, event.payload);
//! }
//! let job = client.get_job_status(job_id).send().await?;
//! println!("ended {}", job.state());
//! # Ok(())
//! # }
//! ```

// `dead_code`: the option types only codegen reads are generated too but
// never used (nor public).
#[allow(missing_docs, unreachable_pub, clippy::all, rust_2018_idioms, dead_code)]
mod generated {
    pub(crate) mod dome {
        pub(crate) mod gateway {
            pub(crate) mod v1 {
                include!("generated/dome.gateway.v1.rs");
            }
        }
    }
    pub(crate) mod google {
        pub(crate) mod protobuf {
            include!("generated/google.protobuf.rs");
        }
    }
    pub(crate) mod contract {
        include!("generated/contract.rs");
    }
    pub(crate) mod errors {
        include!("generated/errors.rs");
    }
}

mod client;
mod code;
mod codegen;
mod endpoint;
mod error;
mod events;
#[cfg_attr(not(feature = "mutants"), allow(dead_code, unreachable_pub))]
mod mutants;
mod retry;
mod timestamp;
#[cfg(feature = "tls")]
mod tls;
pub mod transport;

pub use client::{CallHeaders, Client, ClientBuilder, RawClient};
pub use code::Code;
/// The request header that states the API version the client speaks.
pub use contract::API_VERSION_HEADER;
pub use endpoint::Endpoint;
pub use error::{ApiError, Error, FieldViolation, StatusKind, TransportError};
pub use events::{EventCursor, JobEventStream, Offer, is_terminal_event, is_terminal_state};
pub use retry::RetryPolicy;
pub use timestamp::TimestampOutOfRange;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;

/// Deliberately broken client behaviours, for proving the client
/// conformance suite catches each (feature `mutants`).
#[cfg(feature = "mutants")]
pub mod mutant {
    pub use crate::mutants::{Mutant, UnknownMutant, select};
}

/// The generated messages and enums of `dome.gateway.v1` (the types of the
/// proto options only codegen reads are left out), and the generated tonic
/// stubs.
pub mod pb {
    include!("generated/pb.rs");
}

/// One request builder per RPC, made by the [`Client`] method of the same
/// name; the replies of RPCs that answer more than one value. Generated
/// from the service by `cargo xtask codegen`.
pub mod calls {
    include!("generated/calls.rs");
}

/// The contract's declared facts, generated from the proto's options.
pub mod contract {
    pub use crate::generated::contract::*;
}

/// The README's examples, compiled as doctests so that they stay right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The encoded `FileDescriptorSet` of the contract (with source info and
/// imports) this crate was generated from, byte for byte the repository's
/// `golden/dome.gateway.v1.binpb`: what server reflection serves.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/dome.gateway.v1.binpb");
