//! The README maps every RPC to its call and every `ErrorReason` to its
//! variant; this keeps both tables complete as the contract grows.

use dome_sdk::contract::{ERROR_REASONS, RPCS};

const README: &str = include_str!("../README.md");

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

fn missing_rows(readme: &str) -> Vec<String> {
    let rpcs = RPCS.iter().map(|rpc| format!("| `{}` |", rpc.name));
    let reasons = ERROR_REASONS.iter().map(|r| format!("| `{}` | `ApiError::{}` |", r.name, pascal(r.name)));
    rpcs.chain(reasons).filter(|row| !readme.contains(row.as_str())).collect()
}

#[test]
fn every_rpc_and_reason_has_its_row() {
    assert_eq!(missing_rows(README), Vec::<String>::new(), "rows missing from sdk/README.md");
}

#[test]
fn a_missing_row_is_reported() {
    let without = README.replace("| `CancelJob` |", "").replace("| `QUEUE_FULL` | `ApiError::QueueFull` |", "");
    assert_eq!(missing_rows(&without), ["| `CancelJob` |", "| `QUEUE_FULL` | `ApiError::QueueFull` |"]);
}
