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
    /// Metadata keys whose value is an unsigned decimal integer.
    pub decimal_metadata_keys: Vec<String>,
    /// Metadata keys whose value is a comma-separated list.
    pub list_metadata_keys: Vec<String>,
    /// The value's comment.
    pub doc: String,
}

/// One message's `(ssot)` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsotRow {
    /// Fully-qualified message name.
    pub message: String,
    /// The family value name without prefix (e.g. `WORK_QUEUE`), if mapped;
    /// `None` for the zero value, which maps onto no family.
    pub family: Option<String>,
    /// The delta id, if a delta.
    pub delta: Option<String>,
    /// Why.
    pub rationale: String,
}

/// Reads the error domain and every `ErrorReason` row from the pool.
pub fn error_rows(pool: &DescriptorPool) -> Result<(String, Vec<ErrorRow>)> {
    let reason =
        pool.get_enum_by_name(&format!("{PACKAGE}.ErrorReason")).context("the contract has no `ErrorReason` enum")?;
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
        let code_value = grpc_code.get_value(code_number).ok_or_else(|| anyhow!("unknown gRPC code {code_number}"))?;
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
            decimal_metadata_keys: strings_field(&spec, "decimal_metadata_keys"),
            list_metadata_keys: strings_field(&spec, "list_metadata_keys"),
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
            .filter(|n| *n != 0)
            .and_then(|n| family_enum.get_value(n))
            .map(|v| v.name().trim_start_matches(&enum_prefix(&family_enum)).to_string());
        let delta = m
            .get_field_by_name("delta")
            .filter(|_| m.has_field_by_name("delta"))
            .and_then(|v| v.as_str().map(str::to_string));
        let rationale =
            m.get_field_by_name("rationale").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        rows.push(SsotRow { message: message.full_name().to_string(), family, delta, rationale });
    }
    rows.sort_by(|a, b| a.message.cmp(&b.message));
    Ok(rows)
}

/// A request header the contract names, from a field's `(header)` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRow {
    /// The field whose value the header carries, fully qualified.
    pub field: String,
    /// The constant the tables name it by: the field's name in upper snake
    /// case and `_HEADER` (`api_version` -> `API_VERSION_HEADER`).
    pub constant: String,
    /// The header name, lowercase.
    pub header: String,
}

/// A feature flag the contract defines, from a `(feature)` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRow {
    /// The flag, such as `dome.auth.bearer`.
    pub name: String,
    /// The constant the tables name it by: `FEATURE_` and the flag without
    /// the package's first component, in upper snake case
    /// (`dome.auth.bearer` -> `FEATURE_AUTH_BEARER`).
    pub constant: String,
    /// What a server that lists it does.
    pub meaning: String,
}

/// A POLICY reason code a `JobState` fixes, from its `(reason_code)` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateReasonRow {
    /// The state's value name without prefix, such as `CANCELLED`.
    pub state: String,
    /// The constant the tables name it by (`CANCELLED_REASON_CODE`).
    pub constant: String,
    /// The reason code, such as `EXEC.CANCELLED`.
    pub code: String,
}

/// Every field option `(header)` of the contract's package, in field
/// order of the messages sorted by name.
pub fn header_rows(pool: &DescriptorPool) -> Result<Vec<HeaderRow>> {
    let ext = extension(pool, "header")?;
    let mut rows = Vec::new();
    for field in package_messages(pool).flat_map(|m| m.fields().collect::<Vec<_>>()) {
        let Value::String(header) = field.options().get_extension(&ext).into_owned() else { continue };
        if header.is_empty() {
            continue;
        }
        if !header.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            bail!("`{}` names the header {header:?}: a header name is lowercase `[a-z0-9-]`", field.full_name());
        }
        let constant = format!("{}_HEADER", field.name().to_ascii_uppercase());
        rows.push(HeaderRow { field: field.full_name().to_string(), constant, header });
    }
    unique(rows.iter().map(|r| r.constant.as_str()), "header constant")?;
    Ok(rows)
}

/// Every `(feature)` option of the contract's package, in declaration
/// order.
pub fn feature_rows(pool: &DescriptorPool) -> Result<Vec<FeatureRow>> {
    let ext = extension(pool, "feature")?;
    let mut rows = Vec::new();
    for field in package_messages(pool).flat_map(|m| m.fields().collect::<Vec<_>>()) {
        let Value::List(flags) = field.options().get_extension(&ext).into_owned() else { continue };
        for flag in flags {
            let Value::Message(flag) = flag else { bail!("`(feature)` of `{}` is not a message", field.full_name()) };
            let name = flag.get_field_by_name("name").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let meaning =
                flag.get_field_by_name("meaning").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let first = PACKAGE.split('.').next().unwrap_or_default();
            let Some(rest) = name.strip_prefix(first).and_then(|r| r.strip_prefix('.')) else {
                bail!("the feature flag {name:?} of `{}` does not start with `{first}.`", field.full_name());
            };
            if !rest
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            {
                bail!("the feature flag {name:?} is not dotted lowercase `[a-z0-9]` words");
            }
            if meaning.trim().is_empty() {
                bail!("the feature flag {name:?} has no `meaning`");
            }
            let constant = format!("FEATURE_{}", rest.to_ascii_uppercase().replace('.', "_"));
            rows.push(FeatureRow { name, constant, meaning });
        }
    }
    unique(rows.iter().map(|r| r.name.as_str()), "feature flag")?;
    Ok(rows)
}

/// Every `(reason_code)` option on a value of `JobState`, in number order.
pub fn state_reason_rows(pool: &DescriptorPool) -> Result<Vec<StateReasonRow>> {
    let ext = extension(pool, "reason_code")?;
    let state = pool.get_enum_by_name(&format!("{PACKAGE}.JobState")).context("the contract has no `JobState` enum")?;
    let prefix = enum_prefix(&state);
    let mut rows = Vec::new();
    for value in state.values() {
        let Value::String(code) = value.options().get_extension(&ext).into_owned() else { continue };
        if code.is_empty() {
            continue;
        }
        if !is_policy_reason_code(&code) {
            bail!("`{}` has the reason code {code:?}, not of the form `^[A-Z]+(\\.[A-Z0-9_]+)+$`", value.name());
        }
        let name = value.name().trim_start_matches(&prefix).to_string();
        rows.push(StateReasonRow { constant: format!("{name}_REASON_CODE"), state: name, code });
    }
    Ok(rows)
}

/// Whether `code` has the form of a POLICY reason code:
/// `^[A-Z]+(\.[A-Z0-9_]+)+$`.
fn is_policy_reason_code(code: &str) -> bool {
    let mut parts = code.split('.');
    let head = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    !head.is_empty()
        && head.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
}

fn extension(pool: &DescriptorPool, name: &str) -> Result<prost_reflect::ExtensionDescriptor> {
    pool.get_extension_by_name(&format!("{PACKAGE}.{name}"))
        .with_context(|| format!("the contract has no `{name}` option"))
}

/// The messages of the contract's package, sorted by full name so that
/// what is read from them comes out in a stable order.
fn package_messages(pool: &DescriptorPool) -> impl Iterator<Item = MessageDescriptor> {
    let mut messages: Vec<_> = pool.all_messages().filter(|m| m.package_name() == PACKAGE).collect();
    messages.sort_by(|a, b| a.full_name().cmp(b.full_name()));
    messages.into_iter()
}

fn unique<'a>(names: impl Iterator<Item = &'a str>, what: &str) -> Result<()> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            bail!("the {what} `{name}` is declared twice");
        }
    }
    Ok(())
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
