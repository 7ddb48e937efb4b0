//! Where things live in the repository: every path a gate reads or a
//! generator writes, relative to the repository root and `/`-separated,
//! named once so that no module takes its paths from another command's
//! module.

use std::path::{Path, PathBuf};

/// The root of the workspace this xtask was built from.
///
/// Taken from the compile-time manifest directory, so `cargo xtask` works
/// from any working directory of the checkout.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The proto tree.
pub const PROTO_DIR: &str = "proto";
/// The conformance skill's input schema, part of the contract.
pub const CONFORMANCE_SCHEMA: &str = "proto/dome/gateway/v1/conformance_script.schema.json";
/// The delta register of the SSOT mapping.
pub const DELTAS: &str = "ssot/deltas.json";

/// The committed descriptor set.
pub const DESCRIPTOR_SET: &str = "golden/dome.gateway.v1.binpb";
/// The descriptor set of the v1 freeze: the default baseline of the
/// breaking gate. Codegen never writes it; only `cargo xtask breaking
/// --freeze` does, and only when the current tree is compatible with it,
/// so that regenerating can never launder a breaking change.
pub const FROZEN_DESCRIPTOR_SET: &str = "golden/frozen/dome.gateway.v1.binpb";
/// The codegen manifest: versions and hashes of inputs and outputs.
pub const MANIFEST: &str = "golden/codegen-manifest.json";
/// Where the SDK's generated Rust lives.
pub const GENERATED_DIR: &str = "sdk/src/generated";

/// The proto directory of the testee protocol (relative to [`PROTO_DIR`]):
/// compiled apart from the gateway contract, so that it is neither in the
/// contract's descriptor set nor in the SDK.
pub const TESTEE_PROTO_DIR: &str = "dome/conformance/testee/";
/// The testee protocol's descriptor set (with its imports), which the
/// suite reads for the proto3 JSON mapping.
pub const TESTEE_DESCRIPTOR_SET: &str = "golden/dome.conformance.testee.v1.binpb";
/// Where the testee protocol's generated Rust lives.
pub const TESTEE_GENERATED_DIR: &str = "conformance/suite/src/generated";

/// The generated API reference.
pub const API: &str = "docs/api.md";
/// The generated proto surface matrix.
pub const SURFACE_MATRIX: &str = "docs/surface-matrix.md";
/// The generated contract delta register.
pub const DELTA_REGISTER: &str = "docs/delta-register.md";
