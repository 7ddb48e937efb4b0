//! The SDK's typed error enum, generated from `ErrorReason` and its
//! `(error)` options: one variant per reason, one typed field per metadata
//! key it promises, the `BadRequest` violations where it carries them and
//! the `RetryInfo` delay where it is retryable.
//!
//! Because the enum and its decoder are emitted from the proto, a reason
//! added to the contract appears in the SDK on the next `cargo xtask
//! codegen`, and the drift gate fails until it does.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use prost_reflect::DescriptorPool;

use super::contract::pascal;
use super::rust::format_rust;
use crate::facts::{ErrorRow, error_rows};

/// Field names every variant (or some variants) carry besides the
/// metadata keys; a metadata key whose snake_case form is one of them
/// would clash.
const RESERVED_FIELDS: &[&str] = &["correlation_id", "message", "violations", "retry_delay"];

/// `jobId` -> `job_id`; `resumeAfterSequence` -> `resume_after_sequence`.
pub fn snake_case(lower_camel: &str) -> String {
    let mut out = String::new();
    for ch in lower_camel.chars() {
        if ch.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// How a metadata key's value is typed in the SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Decimal,
    List,
}

impl Kind {
    fn of(row: &ErrorRow, key: &str) -> Kind {
        if row.decimal_metadata_keys.iter().any(|k| k == key) {
            Kind::Decimal
        } else if row.list_metadata_keys.iter().any(|k| k == key) {
            Kind::List
        } else {
            Kind::Text
        }
    }

    fn rust_type(self) -> &'static str {
        match self {
            Kind::Text => "String",
            Kind::Decimal => "u64",
            Kind::List => "Vec<String>",
        }
    }

    /// The decoder call for a required (`required`) or optional key.
    fn decode(self, required: bool) -> &'static str {
        match (self, required) {
            (Kind::Text, true) => "required",
            (Kind::Text, false) => "optional",
            (Kind::Decimal, true) => "required_u64",
            (Kind::Decimal, false) => "optional_u64",
            (Kind::List, true) => "required_list",
            (Kind::List, false) => "optional_list",
        }
    }

    /// An expression giving the wire text of `value` (a reference).
    fn wire(self, value: &str) -> String {
        match self {
            Kind::Text => format!("{value}.clone()"),
            Kind::Decimal => format!("{value}.to_string()"),
            Kind::List => format!("{value}.join(\",\")"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Text => "",
            Kind::Decimal => " (sent as decimal text)",
            Kind::List => " (sent comma-separated)",
        }
    }
}

/// `text` as `///` doc comment lines (one attribute per line, so that
/// prettyplease prints them as line comments).
fn doc(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "///\n".to_string() } else { format!("/// {l}\n") }).collect()
}

/// Checks what the Rust identifiers derived from the rows need: metadata
/// keys are lowerCamel ASCII identifiers, distinct once snake_cased, and
/// clash with no field the generator adds itself.
pub fn check_rows(rows: &[ErrorRow]) -> Result<()> {
    for row in rows {
        let mut seen = Vec::new();
        for key in row.metadata_keys.iter().chain(&row.optional_metadata_keys) {
            let valid = key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && key.chars().all(|c| c.is_ascii_alphanumeric());
            if !valid {
                bail!("metadata key `{key}` of `ERROR_REASON_{}` is not a lowerCamel identifier", row.name);
            }
            let field = snake_case(key);
            if RESERVED_FIELDS.contains(&field.as_str()) || key == "correlationId" {
                bail!(
                    "metadata key `{key}` of `ERROR_REASON_{}` clashes with the field `{field}` every error variant has; rename the key",
                    row.name
                );
            }
            if seen.contains(&field) {
                bail!("metadata key `{key}` of `ERROR_REASON_{}` is listed twice", row.name);
            }
            seen.push(field);
        }
        let declared = |key: &String| row.metadata_keys.contains(key) || row.optional_metadata_keys.contains(key);
        for key in row.decimal_metadata_keys.iter().chain(&row.list_metadata_keys) {
            if !declared(key) {
                bail!(
                    "typed metadata key `{key}` of `ERROR_REASON_{}` is not one of its metadata keys; add it to `metadata_keys` or `optional_metadata_keys`",
                    row.name
                );
            }
            if row.decimal_metadata_keys.contains(key) && row.list_metadata_keys.contains(key) {
                bail!("metadata key `{key}` of `ERROR_REASON_{}` is both decimal and a list", row.name);
            }
        }
    }
    Ok(())
}

/// Renders `errors.rs`.
pub fn generate(pool: &DescriptorPool) -> Result<String> {
    let (domain, rows) = error_rows(pool)?;
    check_rows(&rows)?;
    let mut s = String::new();

    writeln!(
        s,
        "{}#[derive(Debug, Clone, PartialEq, Eq)]\n#[non_exhaustive]\npub enum ApiError {{",
        doc(&format!(
            "A typed RPC error of the contract: one variant per `ErrorReason` of domain `{domain}`, \
             with the `ErrorInfo` metadata the reason promises as typed fields."
        ))
    )?;
    for row in &rows {
        writeln!(s, "{}{} {{", doc(&row.doc), pascal(&row.name))?;
        writeln!(s, "/// The `correlationId` of the failed call.\ncorrelation_id: String,")?;
        for key in &row.metadata_keys {
            let kind = Kind::of(row, key);
            writeln!(
                s,
                "{}{}: {},",
                doc(&format!("The `{key}` metadata value{}.", kind.describe())),
                snake_case(key),
                kind.rust_type()
            )?;
        }
        for key in &row.optional_metadata_keys {
            let kind = Kind::of(row, key);
            writeln!(
                s,
                "{}{}: Option<{}>,",
                doc(&format!(
                    "The `{key}` metadata value{}, present only in the situation the reason describes.",
                    kind.describe()
                )),
                snake_case(key),
                kind.rust_type()
            )?;
        }
        if row.bad_request {
            writeln!(
                s,
                "/// The field violations of the `google.rpc.BadRequest` detail.\nviolations: Vec<crate::error::FieldViolation>,"
            )?;
        }
        if row.retryable {
            writeln!(
                s,
                "/// The delay of the `google.rpc.RetryInfo` detail: how long to wait before retrying.\nretry_delay: Option<std::time::Duration>,"
            )?;
        }
        writeln!(s, "/// The status message, for people; decide by the variant, never by it.\nmessage: String,\n}},")?;
    }
    writeln!(s, "}}")?;

    writeln!(s, "impl ApiError {{")?;
    // reason()
    writeln!(
        s,
        "/// The `ErrorReason` of the error.\npub fn reason(&self) -> crate::pb::ErrorReason {{ match self {{"
    )?;
    for row in &rows {
        writeln!(s, "Self::{0} {{ .. }} => crate::pb::ErrorReason::{0},", pascal(&row.name))?;
    }
    writeln!(s, "}} }}")?;
    // reason_name()
    writeln!(
        s,
        "/// `ErrorInfo.reason`: the reason's name without the `ERROR_REASON_` prefix.\npub fn reason_name(&self) -> &'static str {{ match self {{"
    )?;
    for row in &rows {
        writeln!(s, "Self::{} {{ .. }} => {:?},", pascal(&row.name), row.name)?;
    }
    writeln!(s, "}} }}")?;
    // code()
    writeln!(
        s,
        "/// The gRPC status code the contract sends the error with.\npub fn code(&self) -> crate::Code {{ match self {{"
    )?;
    for row in &rows {
        writeln!(s, "Self::{} {{ .. }} => crate::Code::{},", pascal(&row.name), pascal(&row.code))?;
    }
    writeln!(s, "}} }}")?;
    // is_retryable()
    writeln!(
        s,
        "/// Whether the contract lets a client retry the identical request (the reason's `(error).retryable`).\n\
         pub fn is_retryable(&self) -> bool {{ match self {{"
    )?;
    for row in &rows {
        writeln!(s, "Self::{} {{ .. }} => {},", pascal(&row.name), row.retryable)?;
    }
    writeln!(s, "}} }}")?;
    // correlation_id(), message()
    for (method, doc) in
        [("correlation_id", "The `correlationId` of the failed call."), ("message", "The status message, for people.")]
    {
        writeln!(s, "/// {doc}\npub fn {method}(&self) -> &str {{ match self {{")?;
        for row in &rows {
            writeln!(s, "Self::{} {{ {method}, .. }} => {method},", pascal(&row.name))?;
        }
        writeln!(s, "}} }}")?;
    }
    // violations()
    writeln!(
        s,
        "/// The `BadRequest` field violations; empty for a reason without them.\n\
         pub fn violations(&self) -> &[crate::error::FieldViolation] {{ match self {{"
    )?;
    for row in rows.iter().filter(|r| r.bad_request) {
        writeln!(s, "Self::{} {{ violations, .. }} => violations,", pascal(&row.name))?;
    }
    writeln!(s, "_ => &[],\n}} }}")?;
    // retry_delay()
    writeln!(
        s,
        "/// The `RetryInfo` delay; `None` for a reason that is not retryable.\n\
         pub fn retry_delay(&self) -> Option<std::time::Duration> {{ match self {{"
    )?;
    for row in rows.iter().filter(|r| r.retryable) {
        writeln!(s, "Self::{} {{ retry_delay, .. }} => *retry_delay,", pascal(&row.name))?;
    }
    writeln!(s, "_ => None,\n}} }}")?;
    // metadata()
    writeln!(
        s,
        "/// Every metadata key the reason declares (always present, then optional), with its value as sent on the wire.\n\
         pub fn metadata(&self) -> Vec<(&'static str, Option<String>)> {{ match self {{"
    )?;
    for row in &rows {
        let fields: Vec<_> =
            row.metadata_keys.iter().chain(&row.optional_metadata_keys).map(|k| snake_case(k)).collect();
        let pattern = if fields.is_empty() { "..".to_string() } else { format!("{}, ..", fields.join(", ")) };
        let items: Vec<_> = row
            .metadata_keys
            .iter()
            .map(|k| format!("({k:?}, Some({}))", Kind::of(row, k).wire(&snake_case(k))))
            .chain(
                row.optional_metadata_keys
                    .iter()
                    .map(|k| format!("({k:?}, {}.as_ref().map(|v| {}))", snake_case(k), Kind::of(row, k).wire("v"))),
            )
            .collect();
        writeln!(s, "Self::{} {{ {pattern} }} => vec![{}],", pascal(&row.name), items.join(", "))?;
    }
    writeln!(s, "}} }}")?;
    // decode()
    writeln!(
        s,
        "/// Builds the variant named by `details.reason()`. `Ok(None)` for a reason this SDK does not know; \
         `Err` names a promised metadata key that is missing or malformed.\n\
         pub(crate) fn decode(details: &crate::error::Details<'_>) -> Result<Option<Self>, crate::error::BadMetadata> {{\n\
         Ok(Some(match details.reason() {{"
    )?;
    for row in &rows {
        let mut fields = vec!["correlation_id: details.required(crate::contract::CORRELATION_ID_KEY)?".to_string()];
        fields.extend(
            row.metadata_keys
                .iter()
                .map(|k| format!("{}: details.{}({k:?})?", snake_case(k), Kind::of(row, k).decode(true))),
        );
        fields.extend(
            row.optional_metadata_keys
                .iter()
                .map(|k| format!("{}: details.{}({k:?})?", snake_case(k), Kind::of(row, k).decode(false))),
        );
        if row.bad_request {
            fields.push("violations: details.violations()".into());
        }
        if row.retryable {
            fields.push("retry_delay: details.retry_delay()".into());
        }
        fields.push("message: details.message().to_string()".into());
        writeln!(s, "{:?} => Self::{} {{ {} }},", row.name, pascal(&row.name), fields.join(", "))?;
    }
    writeln!(s, "_ => return Ok(None),\n}}))\n}}\n}}")?;
    format_rust(&s)
}
