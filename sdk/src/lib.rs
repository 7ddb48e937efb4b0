//! The thin Rust SDK of the dome gateway v1 contract (`dome.gateway.v1`).
//!
//! The messages and the client (and, behind the `server` feature, the
//! server trait) are generated from `proto/` by `cargo xtask codegen` and
//! committed, so using this crate needs neither protoc nor protox.
//!
//! - [`pb`]: every message, enum and the generated tonic client
//!   ([`pb::gateway_service_client::GatewayServiceClient`]).
//! - [`contract`]: the facts the proto's options declare (error reasons
//!   with their gRPC codes and retryability, SSOT mappings, the RPC list,
//!   the conformance profile), emitted by codegen.

#[allow(missing_docs, unreachable_pub, clippy::all, rust_2018_idioms)]
mod generated {
    pub(crate) mod dome {
        pub(crate) mod gateway {
            pub(crate) mod v1 {
                include!("generated/dome.gateway.v1.rs");
            }
        }
    }
    pub(crate) mod contract {
        include!("generated/contract.rs");
    }
}

/// The generated messages, enums and tonic stubs of `dome.gateway.v1`.
pub mod pb {
    pub use crate::generated::dome::gateway::v1::*;
}

/// The contract's declared facts, generated from the proto's options.
pub mod contract {
    pub use crate::generated::contract::*;
}

/// The encoded `FileDescriptorSet` of the contract (with source info and
/// imports), as frozen in `golden/`: what server reflection serves.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("../../golden/dome.gateway.v1.binpb");
