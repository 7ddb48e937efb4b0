//! The contract tables: facts declared by the proto's custom options
//! (error codes, retryability, metadata keys, SSOT mappings) and by the
//! conformance schema, read by [`crate::facts`] and emitted as Rust
//! constants so that no crate restates them by hand.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use prost_reflect::DescriptorPool;

use super::rust::format_rust;
use crate::facts::{PACKAGE, error_rows, feature_rows, header_rows, ssot_rows, state_reason_rows};

/// `JOB_NOT_FOUND` -> `JobNotFound`: the Rust name prost gives an enum
/// value, and the variant name of the generated error enum.
pub(super) fn pascal(upper_snake: &str) -> String {
    upper_snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_string() + &c.as_str().to_ascii_lowercase()).unwrap_or_default()
        })
        .collect()
}

fn raw_str(s: &str) -> String {
    let mut hashes = String::from("#");
    while s.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{s}\"{hashes}")
}

fn str_list(items: &[String]) -> String {
    let quoted: Vec<_> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("&[{}]", quoted.join(", "))
}

/// Renders `contract.rs`.
pub(super) fn generate(pool: &DescriptorPool, conformance_schema: &str) -> Result<String> {
    let (domain, errors) = error_rows(pool)?;
    let ssot = ssot_rows(pool)?;
    let schema: serde_json::Value =
        serde_json::from_str(conformance_schema).context("the conformance schema is not valid JSON")?;
    let schema_str = |key: &str| -> Result<String> {
        schema
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .with_context(|| format!("conformance schema lacks `{key}`"))
    };
    let service = pool
        .services()
        .find(|s| s.package_name() == PACKAGE)
        .with_context(|| format!("no service in package `{PACKAGE}`"))?;
    let api_version = PACKAGE.rsplit('.').next().unwrap_or_default();

    let mut s = String::new();
    writeln!(s, "/// The protobuf package of the contract.\npub const PACKAGE: &str = {PACKAGE:?};")?;
    writeln!(
        s,
        "/// The API version this contract is (the package's last component).\npub const API_VERSION: &str = {api_version:?};"
    )?;
    writeln!(s, "/// The fully-qualified name of the service.\npub const SERVICE: &str = {:?};", service.full_name())?;
    writeln!(
        s,
        "/// The `google.rpc.ErrorInfo.domain` of every error (`ErrorReason`'s `(error_domain)` option).\npub const ERROR_DOMAIN: &str = {domain:?};"
    )?;
    writeln!(
        s,
        "/// The ErrorInfo metadata key every error carries.\npub const CORRELATION_ID_KEY: &str = \"correlationId\";"
    )?;
    for h in header_rows(pool)? {
        writeln!(
            s,
            "/// The request header that carries `{}` on any call (the field's `(header)` option).\npub const {}: &str = {:?};",
            h.field.strip_prefix(&format!("{PACKAGE}.")).unwrap_or(&h.field),
            h.constant,
            h.header
        )?;
    }
    let features = feature_rows(pool)?;
    for f in &features {
        writeln!(
            s,
            "/// The feature flag `{}` (a `(feature)` option): {}\npub const {}: &str = {:?};",
            f.name, f.meaning, f.constant, f.name
        )?;
    }
    writeln!(
        s,
        "/// A feature flag the contract defines, read from a `(feature)` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureFlagSpec {{
    /// The flag as servers list it in `ListCapabilitiesResponse.features`.
    pub name: &'static str,
    /// What a server that lists it does.
    pub meaning: &'static str,
}}
/// Every feature flag the contract defines, in declaration order.
pub const FEATURE_FLAGS: &[FeatureFlagSpec] = &["
    )?;
    for f in &features {
        writeln!(s, "FeatureFlagSpec {{ name: {}, meaning: {:?} }},", f.constant, f.meaning)?;
    }
    writeln!(s, "];")?;
    for r in state_reason_rows(pool)? {
        writeln!(
            s,
            "/// The POLICY reason code of every job that ends `{}` (`JobState`'s `(reason_code)` option).\npub const {}: &str = {:?};",
            r.state, r.constant, r.code
        )?;
    }
    writeln!(
        s,
        "/// The wire form of one `ErrorReason`, read from its `(error)` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorReasonSpec {{
    /// The enum value.
    pub reason: crate::pb::ErrorReason,
    /// `ErrorInfo.reason`: the value name without the `ERROR_REASON_` prefix.
    pub name: &'static str,
    /// The gRPC status code the error travels with.
    pub code: crate::Code,
    /// Whether a client may retry the identical request (a `RetryInfo` is attached).
    pub retryable: bool,
    /// Metadata keys always present besides `correlationId`.
    pub metadata_keys: &'static [&'static str],
    /// Metadata keys present only in the situation the reason's comment names.
    pub optional_metadata_keys: &'static [&'static str],
    /// Whether a `BadRequest` detail is attached.
    pub bad_request: bool,
    /// Metadata keys whose value is an unsigned decimal integer (read as `u64`).
    pub decimal_metadata_keys: &'static [&'static str],
    /// Metadata keys whose value is a comma-separated list (read as `Vec<String>`).
    pub list_metadata_keys: &'static [&'static str],
    /// The reason's comment in the proto.
    pub doc: &'static str,
}}"
    )?;
    writeln!(
        s,
        "/// Every `ErrorReason` but the zero value, in number order.\npub const ERROR_REASONS: &[ErrorReasonSpec] = &["
    )?;
    for e in &errors {
        writeln!(
            s,
            "ErrorReasonSpec {{ reason: crate::pb::ErrorReason::{}, name: {:?}, code: crate::Code::{}, retryable: {}, metadata_keys: {}, optional_metadata_keys: {}, bad_request: {}, decimal_metadata_keys: {}, list_metadata_keys: {}, doc: {} }},",
            pascal(&e.name),
            e.name,
            pascal(&e.code),
            e.retryable,
            str_list(&e.metadata_keys),
            str_list(&e.optional_metadata_keys),
            e.bad_request,
            str_list(&e.decimal_metadata_keys),
            str_list(&e.list_metadata_keys),
            raw_str(&e.doc),
        )?;
    }
    writeln!(s, "];")?;
    writeln!(
        s,
        "/// The SSOT standing of one message, read from its `(ssot)` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsotMappingSpec {{
    /// The fully-qualified message name.
    pub message: &'static str,
    /// The family the message projects onto, when it is mapped.
    pub family: Option<crate::pb::SsotFamily>,
    /// The delta id, when the message is a delta.
    pub delta: Option<&'static str>,
    /// Why.
    pub rationale: &'static str,
}}
/// Every message with an `(ssot)` option, by name.
pub const SSOT_MAPPINGS: &[SsotMappingSpec] = &["
    )?;
    for r in &ssot {
        let family =
            r.family.as_ref().map_or("None".to_string(), |f| format!("Some(crate::pb::SsotFamily::{})", pascal(f)));
        let delta = r.delta.as_ref().map_or("None".to_string(), |d| format!("Some({d:?})"));
        writeln!(
            s,
            "SsotMappingSpec {{ message: {:?}, family: {family}, delta: {delta}, rationale: {:?} }},",
            r.message, r.rationale
        )?;
    }
    writeln!(s, "];")?;
    writeln!(
        s,
        "/// One RPC of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcSpec {{
    /// The method name.
    pub name: &'static str,
    /// The HTTP/2 path (`/package.Service/Method`).
    pub path: &'static str,
    /// The request message's full name.
    pub request: &'static str,
    /// The response message's full name.
    pub response: &'static str,
    /// Whether the server streams responses.
    pub server_streaming: bool,
}}
/// Every RPC of the service, in declaration order.
pub const RPCS: &[RpcSpec] = &["
    )?;
    for m in service.methods() {
        writeln!(
            s,
            "RpcSpec {{ name: {:?}, path: {:?}, request: {:?}, response: {:?}, server_streaming: {} }},",
            m.name(),
            format!("/{}/{}", service.full_name(), m.name()),
            m.input().full_name(),
            m.output().full_name(),
            m.is_server_streaming()
        )?;
    }
    writeln!(s, "];")?;
    writeln!(
        s,
        "/// The conformance skill's id.\npub const CONFORMANCE_SKILL_ID: &str = {:?};",
        schema_str("x-dome-skill-id")?
    )?;
    writeln!(
        s,
        "/// The conformance skill's version.\npub const CONFORMANCE_SKILL_VERSION: &str = {:?};",
        schema_str("x-dome-skill-version")?
    )?;
    let conformance_feature = schema_str("x-dome-feature")?;
    let Some(flag) = features.iter().find(|f| f.name == conformance_feature) else {
        bail!(
            "the conformance schema's `x-dome-feature` {conformance_feature:?} is no `(feature)` option of the proto"
        );
    };
    writeln!(
        s,
        "/// The feature flag of the conformance profile (the schema's `x-dome-feature`).\npub const CONFORMANCE_FEATURE: &str = {};",
        flag.constant
    )?;
    writeln!(
        s,
        "/// The conformance skill's input JSON Schema, as in `conformance_script.schema.json`.\npub const CONFORMANCE_SCRIPT_SCHEMA: &str = {};",
        raw_str(conformance_schema)
    )?;
    let schema_name =
        crate::paths::CONFORMANCE_SCHEMA.trim_start_matches(crate::paths::PROTO_DIR).trim_start_matches('/');
    s.push_str(&super::rules::render(&super::rules::collect(pool, schema_name, conformance_schema)?)?);
    format_rust(&s)
}
