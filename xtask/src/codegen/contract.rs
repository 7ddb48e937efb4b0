//! The contract tables: facts declared by the proto's custom options
//! (error codes, retryability, metadata keys, SSOT mappings) and by the
//! conformance schema, emitted as Rust constants so that no crate restates
//! them by hand.

use std::fmt::Write as _;

use anyhow::{Context, Result, anyhow, bail};
use prost_reflect::{DescriptorPool, DynamicMessage, EnumDescriptor, Value};

use super::rust::format_rust;
use crate::descriptors::locate;

/// The contract's package.
pub const PACKAGE: &str = "dome.gateway.v1";

/// One `ErrorReason` value and its `(error)` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    /// The value name without prefix, e.g. `JOB_NOT_FOUND`.
    pub name: String,
    /// The enum number.
    pub number: i32,
    /// The `GrpcCode` value name without prefix, e.g. `NOT_FOUND`.
    pub code: String,
    /// The gRPC code number.
    pub code_number: i32,
    /// Whether a client may retry.
    pub retryable: bool,
    /// Metadata keys always present.
    pub metadata_keys: Vec<String>,
    /// Metadata keys present in some situations.
    pub optional_metadata_keys: Vec<String>,
    /// Whether a `BadRequest` detail is attached.
    pub bad_request: bool,
    /// The value's comment.
    pub doc: String,
}

/// One message's `(ssot)` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsotRow {
    /// Fully-qualified message name.
    pub message: String,
    /// The family value name without prefix (e.g. `WORK_QUEUE`), if mapped.
    pub family: Option<String>,
    /// The delta id, if a delta.
    pub delta: Option<String>,
    /// Why.
    pub rationale: String,
}

/// Reads the error domain and every `ErrorReason` row from the pool.
pub fn error_rows(pool: &DescriptorPool) -> Result<(String, Vec<ErrorRow>)> {
    let reason = pool
        .get_enum_by_name(&format!("{PACKAGE}.ErrorReason"))
        .context("the contract has no `ErrorReason` enum")?;
    let domain_ext = pool
        .get_extension_by_name(&format!("{PACKAGE}.error_domain"))
        .context("the contract has no `error_domain` option")?;
    let spec_ext =
        pool.get_extension_by_name(&format!("{PACKAGE}.error")).context("the contract has no `error` option")?;
    let grpc_code = pool.get_enum_by_name(&format!("{PACKAGE}.GrpcCode")).context("no `GrpcCode` enum")?;
    let domain = match reason.options().get_extension(&domain_ext).as_ref() {
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => bail!("`ErrorReason` has no `(error_domain)` option"),
    };
    let prefix = enum_prefix(&reason);
    let mut rows = Vec::new();
    for value in reason.values() {
        if value.number() == 0 {
            continue;
        }
        let opts = value.options();
        if !opts.has_extension(&spec_ext) {
            bail!("`{}` has no `(error)` option", value.name());
        }
        let spec = match opts.get_extension(&spec_ext).as_ref() {
            Value::Message(m) => m.clone(),
            other => bail!("`(error)` of `{}` is not a message: {other:?}", value.name()),
        };
        let code_number = enum_field(&spec, "code")?;
        let code_value =
            grpc_code.get_value(code_number).ok_or_else(|| anyhow!("unknown gRPC code {code_number}"))?;
        let code = code_value.name().trim_start_matches(&enum_prefix(&grpc_code)).to_string();
        if matches!(code_number, 0 | 1 | 4) {
            bail!("`{}` uses gRPC code {code}, which no error reason may use", value.name());
        }
        let file = value.parent_enum().parent_file();
        rows.push(ErrorRow {
            name: value.name().trim_start_matches(&prefix).to_string(),
            number: value.number(),
            code,
            code_number,
            retryable: bool_field(&spec, "retryable"),
            metadata_keys: strings_field(&spec, "metadata_keys"),
            optional_metadata_keys: strings_field(&spec, "optional_metadata_keys"),
            bad_request: bool_field(&spec, "bad_request"),
            doc: locate(file.file_descriptor_proto(), value.path()).leading_comments,
        });
    }
    Ok((domain, rows))
}

/// Reads the `(ssot)` option of every message of the contract's package,
/// sorted by message name. Messages without the option are omitted.
pub fn ssot_rows(pool: &DescriptorPool) -> Result<Vec<SsotRow>> {
    let ext = pool.get_extension_by_name(&format!("{PACKAGE}.ssot")).context("the contract has no `ssot` option")?;
    let family_enum = pool.get_enum_by_name(&format!("{PACKAGE}.SsotFamily")).context("no `SsotFamily` enum")?;
    let mut rows = Vec::new();
    for message in pool.all_messages().filter(|m| m.package_name() == PACKAGE) {
        let opts = message.options();
        if !opts.has_extension(&ext) {
            continue;
        }
        let Value::Message(m) = opts.get_extension(&ext).into_owned() else { continue };
        let family = m
            .get_field_by_name("family")
            .filter(|_| m.has_field_by_name("family"))
            .and_then(|v| v.as_enum_number())
            .and_then(|n| family_enum.get_value(n))
            .map(|v| v.name().trim_start_matches(&enum_prefix(&family_enum)).to_string());
        let delta = m
            .get_field_by_name("delta")
            .filter(|_| m.has_field_by_name("delta"))
            .and_then(|v| v.as_str().map(str::to_string));
        let rationale = m.get_field_by_name("rationale").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        rows.push(SsotRow { message: message.full_name().to_string(), family, delta, rationale });
    }
    rows.sort_by(|a, b| a.message.cmp(&b.message));
    Ok(rows)
}

/// The `UPPER_SNAKE_` prefix of an enum's values (`ErrorReason` ->
/// `ERROR_REASON_`).
pub fn enum_prefix(e: &EnumDescriptor) -> String {
    let mut out = String::new();
    for (i, ch) in e.name().chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out.push('_');
    out
}

fn enum_field(m: &DynamicMessage, name: &str) -> Result<i32> {
    m.get_field_by_name(name).and_then(|v| v.as_enum_number()).ok_or_else(|| anyhow!("`{name}` is not an enum field"))
}

fn bool_field(m: &DynamicMessage, name: &str) -> bool {
    m.get_field_by_name(name).and_then(|v| v.as_bool()).unwrap_or(false)
}

fn strings_field(m: &DynamicMessage, name: &str) -> Vec<String> {
    m.get_field_by_name(name)
        .and_then(|v| v.as_list().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()))
        .unwrap_or_default()
}

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
        schema.get(key).and_then(|v| v.as_str()).map(str::to_string).with_context(|| format!("conformance schema lacks `{key}`"))
    };
    let service = pool
        .services()
        .find(|s| s.package_name() == PACKAGE)
        .with_context(|| format!("no service in package `{PACKAGE}`"))?;
    let api_version = PACKAGE.rsplit('.').next().unwrap_or_default();

    let mut s = String::new();
    writeln!(s, "/// The protobuf package of the contract.\npub const PACKAGE: &str = {PACKAGE:?};")?;
    writeln!(s, "/// The API version this contract is (the package's last component).\npub const API_VERSION: &str = {api_version:?};")?;
    writeln!(s, "/// The fully-qualified name of the service.\npub const SERVICE: &str = {:?};", service.full_name())?;
    writeln!(s, "/// The `google.rpc.ErrorInfo.domain` of every error (`ErrorReason`'s `(error_domain)` option).\npub const ERROR_DOMAIN: &str = {domain:?};")?;
    writeln!(s, "/// The ErrorInfo metadata key every error carries.\npub const CORRELATION_ID_KEY: &str = \"correlationId\";")?;
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
    pub code: tonic::Code,
    /// Whether a client may retry the identical request (a `RetryInfo` is attached).
    pub retryable: bool,
    /// Metadata keys always present besides `correlationId`.
    pub metadata_keys: &'static [&'static str],
    /// Metadata keys present only in the situation the reason's comment names.
    pub optional_metadata_keys: &'static [&'static str],
    /// Whether a `BadRequest` detail is attached.
    pub bad_request: bool,
    /// The reason's comment in the proto.
    pub doc: &'static str,
}}"
    )?;
    writeln!(s, "/// Every `ErrorReason` but the zero value, in number order.\npub const ERROR_REASONS: &[ErrorReasonSpec] = &[")?;
    for e in &errors {
        writeln!(
            s,
            "ErrorReasonSpec {{ reason: crate::pb::ErrorReason::{}, name: {:?}, code: tonic::Code::{}, retryable: {}, metadata_keys: {}, optional_metadata_keys: {}, bad_request: {}, doc: {} }},",
            pascal(&e.name),
            e.name,
            pascal(&e.code),
            e.retryable,
            str_list(&e.metadata_keys),
            str_list(&e.optional_metadata_keys),
            e.bad_request,
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
        let family = r.family.as_ref().map_or("None".to_string(), |f| format!("Some(crate::pb::SsotFamily::{})", pascal(f)));
        let delta = r.delta.as_ref().map_or("None".to_string(), |d| format!("Some({d:?})"));
        writeln!(s, "SsotMappingSpec {{ message: {:?}, family: {family}, delta: {delta}, rationale: {:?} }},", r.message, r.rationale)?;
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
    writeln!(s, "/// The conformance skill's id.\npub const CONFORMANCE_SKILL_ID: &str = {:?};", schema_str("x-dome-skill-id")?)?;
    writeln!(s, "/// The conformance skill's version.\npub const CONFORMANCE_SKILL_VERSION: &str = {:?};", schema_str("x-dome-skill-version")?)?;
    writeln!(s, "/// The feature flag of the conformance profile.\npub const CONFORMANCE_FEATURE: &str = {:?};", schema_str("x-dome-feature")?)?;
    writeln!(
        s,
        "/// The conformance skill's input JSON Schema, as in `conformance_script.schema.json`.\npub const CONFORMANCE_SCRIPT_SCHEMA: &str = {};",
        raw_str(conformance_schema)
    )?;
    format_rust(&s)
}
