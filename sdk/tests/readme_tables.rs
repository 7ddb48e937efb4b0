//! The README maps every RPC to its call and every `ErrorReason` to its
//! variant. Both tables are checked against the descriptor set the crate
//! was generated from (`FILE_DESCRIPTOR_SET`), so a new RPC or reason fails
//! here until it is listed, and against the generated tables, so a row
//! names a call and a variant that exist.

use dome_sdk::contract::{ERROR_REASONS, RPCS};
use prost::Message;
use prost_types::FileDescriptorSet;

const README: &str = include_str!("../README.md");
const SERVICE: &str = "GatewayService";
const REASONS: &str = "ErrorReason";
const REASON_PREFIX: &str = "ERROR_REASON_";

/// The service's RPCs and the reasons (without the prefix and the
/// unspecified value), as the descriptor set states them.
fn from_descriptors() -> (Vec<String>, Vec<String>) {
    let set = FileDescriptorSet::decode(dome_sdk::FILE_DESCRIPTOR_SET).expect("the descriptor set decodes");
    let contract = set.file.iter().filter(|f| f.package() == "dome.gateway.v1");
    let mut rpcs = Vec::new();
    let mut reasons = Vec::new();
    for file in contract {
        for service in file.service.iter().filter(|s| s.name() == SERVICE) {
            rpcs.extend(service.method.iter().map(|m| m.name().to_string()));
        }
        for e in file.enum_type.iter().filter(|e| e.name() == REASONS) {
            reasons.extend(
                e.value
                    .iter()
                    .filter(|v| v.number() != 0)
                    .map(|v| v.name().strip_prefix(REASON_PREFIX).unwrap_or(v.name()).to_string()),
            );
        }
    }
    (rpcs, reasons)
}

/// `JOB_NOT_FOUND` -> `JobNotFound`.
fn pascal(upper: &str) -> String {
    upper
        .split('_')
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_string() + &chars.as_str().to_lowercase()).unwrap_or_default()
        })
        .collect()
}

/// `GetJobStatus` -> `get_job_status`.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The rows `readme` lacks: one per RPC (naming `client.<rpc>(`) and one
/// per reason (naming its `ApiError` variant).
fn missing_rows(readme: &str, rpcs: &[String], reasons: &[String]) -> Vec<String> {
    let rpc_rows = rpcs.iter().map(|rpc| (format!("| `{rpc}` |"), format!("`client.{}(", snake(rpc))));
    let missing_rpcs = rpc_rows.filter_map(|(head, call)| {
        let row = readme.lines().find(|l| l.starts_with(&head));
        (!row.is_some_and(|r| r.contains(&call))).then(|| format!("{head} {call}"))
    });
    let missing_reasons = reasons
        .iter()
        .map(|r| format!("| `{r}` | `ApiError::{}` |", pascal(r)))
        .filter(|row| !readme.lines().any(|l| l == row));
    missing_rpcs.chain(missing_reasons).collect()
}

#[test]
fn every_rpc_and_reason_of_the_descriptor_set_has_its_row() {
    let (rpcs, reasons) = from_descriptors();
    assert!(rpcs.len() >= 7 && reasons.len() >= 17, "the set holds the contract: {rpcs:?} {reasons:?}");
    assert_eq!(missing_rows(README, &rpcs, &reasons), Vec::<String>::new(), "rows missing from sdk/README.md");
}

#[test]
fn the_descriptor_set_and_the_generated_tables_agree() {
    // The call and the variant a row names are generated from these tables.
    let (rpcs, reasons) = from_descriptors();
    assert_eq!(rpcs, RPCS.iter().map(|r| r.name.to_string()).collect::<Vec<_>>());
    assert_eq!(reasons, ERROR_REASONS.iter().map(|r| r.name.to_string()).collect::<Vec<_>>());
}

#[test]
fn a_missing_or_wrong_row_is_reported() {
    let (rpcs, reasons) = from_descriptors();
    let broken = README
        .replace("| `CancelJob` |", "")
        .replace("| `QUEUE_FULL` | `ApiError::QueueFull` |", "")
        .replace("`client.get_job_status(", "`client.job_status(");
    assert_eq!(
        missing_rows(&broken, &rpcs, &reasons),
        [
            "| `GetJobStatus` | `client.get_job_status(",
            "| `CancelJob` | `client.cancel_job(",
            "| `QUEUE_FULL` | `ApiError::QueueFull` |"
        ]
    );
    let mut grown = rpcs.clone();
    grown.push("PauseJob".into());
    assert_eq!(missing_rows(README, &grown, &reasons), ["| `PauseJob` | `client.pause_job("]);
}
