//! The client mutation self-check: the client mode must catch every
//! deliberately broken variant of the Rust SDK (`dome-sdk` feature
//! `mutants`, run by `dome-testee --mutant NAME`), each by the case that
//! names the broken rule.

use std::time::Duration;

use dome_conformance::client::{self, ClientOptions};
use dome_conformance::{RunOptions, Status};
use dome_sdk::mutant::Mutant;

/// Which case must fail for each mutant: the case whose requirement the
/// mutant breaks.
const EXPECTED: &[(&str, &str)] = &[
    ("retry_non_retryable", "client.retry.non_retryable"),
    ("ignore_retry_info", "client.retry.waits_retry_info"),
    ("fresh_idempotency_key", "client.idempotency.retry_after_drop"),
    ("resume_from_zero", "client.stream.resume_after_cut"),
    ("no_dedupe", "client.stream.drops_replays"),
    ("drop_metadata", "client.errors.typed_decoding"),
    ("swallow_cursor_expired", "client.stream.cursor_expired"),
];

fn options(command: Vec<String>, filter: &str) -> ClientOptions {
    ClientOptions {
        command,
        run: RunOptions {
            cases: 4,
            seed: 11,
            filter: Some(filter.to_string()),
            timeout: Duration::from_secs(30),
            ..RunOptions::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_mutant_is_caught_by_the_case_that_names_its_rule() {
    let ids: Vec<&str> = Mutant::ALL.iter().map(|m| m.id()).collect();
    let table: Vec<&str> = EXPECTED.iter().map(|(m, _)| *m).collect();
    assert_eq!(table, ids, "the table must name every client mutant of the SDK, in order");
    let catalogue: Vec<String> = client::catalogue().into_iter().map(|c| c.id).collect();
    let testee = env!("CARGO_BIN_EXE_dome-testee").to_string();
    let mut caught = 0;
    for (mutant, (id, case)) in Mutant::ALL.iter().zip(EXPECTED) {
        assert!(catalogue.iter().any(|c| c == case), "{case} is no client case id");
        let command = vec![testee.clone(), "--mutant".into(), id.to_string()];
        let report = client::run(&options(command, case), |_, _, _| {}).await.expect("the client suite runs");
        let result = report.cases.iter().find(|c| c.id == *case).unwrap_or_else(|| panic!("{case} did not run"));
        assert_eq!(
            result.status,
            Status::Fail,
            "client mutant {id} ({}) must fail {case}, which {:?}",
            mutant.rule(),
            result.message
        );
        let message = result.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("replay: cargo xtask conformance --client"),
            "a failure says how to replay it: {message}"
        );
        caught += 1;
    }
    assert_eq!(caught, ids.len(), "client mutation score {caught}/{}", ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_passes_every_client_case_on_several_seeds() {
    let testee = env!("CARGO_BIN_EXE_dome-testee").to_string();
    for seed in [1, 2] {
        let mut options = options(vec![testee.clone()], "client.");
        options.run.seed = seed;
        options.run.filter = None;
        options.run.cases = 8;
        let report = client::run(&options, |_, _, _| {}).await.expect("the client suite runs");
        let failed: Vec<_> = report
            .cases
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| format!("{} {:?}: {}", c.id, c.status, c.message.clone().unwrap_or_default()))
            .collect();
        assert!(failed.is_empty(), "seed {seed}: the Rust SDK did not pass:\n{}", failed.join("\n"));
        assert_eq!(report.cases.len(), client::catalogue().len());
        assert_eq!(report.server_version, format!("dome-sdk-rust {}", env!("CARGO_PKG_VERSION")));
    }
}
