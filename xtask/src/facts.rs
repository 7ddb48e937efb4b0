//! Facts read from the compiled contract: the error reasons with their
//! `(error)` options, the `(ssot)` standing of every message, the service
//! surface, and the delta register that names what each delta introduces.
//!
//! Both the generators (`codegen`) and the gates (`ssot`) read the
//! contract through this module, so neither depends on the other and each
//! fact is read one way.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use prost_reflect::{DescriptorPool, DynamicMessage, EnumDescriptor, Kind, MessageDescriptor, Value};
use serde::Deserialize;

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

/// Every message of the contract's package reachable from a request or
/// response of a service of the package, in breadth-first discovery
/// order (RPCs in declaration order, fields in number order). Map entries
/// are walked through but not listed; messages of other packages
/// (`google.protobuf.Timestamp`) are not listed.
pub fn surface(pool: &DescriptorPool) -> Vec<MessageDescriptor> {
    let mut queue = VecDeque::new();
    for service in pool.services().filter(|s| s.package_name() == PACKAGE) {
        for method in service.methods() {
            queue.push_back(method.input());
            queue.push_back(method.output());
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    while let Some(message) = queue.pop_front() {
        if message.package_name() != PACKAGE || !seen.insert(message.full_name().to_string()) {
            continue;
        }
        if !message.is_map_entry() {
            out.push(message.clone());
        }
        for field in message.fields() {
            if let Kind::Message(child) = field.kind() {
                queue.push_back(child);
            }
        }
    }
    out
}

/// What a register element names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// A message, by full name.
    Message(String),
    /// A field or oneof of a message.
    Field,
    /// An enum.
    Enum,
    /// A value of an enum.
    EnumValue,
    /// A service.
    Service,
    /// A method of a service.
    Method,
}

/// Resolves a register element (relative to the package) in the pool.
pub fn resolve(pool: &DescriptorPool, element: &str) -> Option<Element> {
    let full = format!("{PACKAGE}.{element}");
    if pool.get_message_by_name(&full).is_some() {
        return Some(Element::Message(full));
    }
    if pool.get_enum_by_name(&full).is_some() {
        return Some(Element::Enum);
    }
    if pool.get_service_by_name(&full).is_some() {
        return Some(Element::Service);
    }
    let (parent, member) = full.rsplit_once('.')?;
    if let Some(message) = pool.get_message_by_name(parent) {
        let oneof = message.oneofs().any(|o| o.name() == member);
        return (message.get_field_by_name(member).is_some() || oneof).then_some(Element::Field);
    }
    if let Some(e) = pool.get_enum_by_name(parent) {
        return e.get_value_by_name(member).map(|_| Element::EnumValue);
    }
    if let Some(service) = pool.get_service_by_name(parent) {
        return service.methods().any(|m| m.name() == member).then_some(Element::Method);
    }
    None
}

/// The delta register, `ssot/deltas.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// What the register is.
    pub description: String,
    /// One row per delta id, in the order the register lists them.
    pub deltas: Vec<DeltaRow>,
}

/// One delta of the register.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaRow {
    /// The id the `(ssot)` options use, such as `D-CAPABILITIES`.
    pub id: String,
    /// A short title.
    pub title: String,
    /// `new` (no family covers it) or `extends` (it adds to `families`).
    pub change: String,
    /// The dotted names of the families the delta extends.
    pub families: Vec<String>,
    /// Why the delta exists.
    pub rationale: String,
    /// The contract elements the delta introduces, relative to the
    /// package: `Message`, `Message.field`, `Message.oneof`, `Enum`,
    /// `Enum.VALUE`, `Service`, `Service.Method`.
    pub introduces: Vec<String>,
}

/// Reads and parses a delta register.
pub fn read_register(path: &Path) -> Result<Register> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("`{}` is not a valid delta register", path.display()))
}
