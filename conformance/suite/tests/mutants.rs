//! The mutation self-check: the suite must catch every deliberately broken
//! variant of the reference server, each by the case that names the broken
//! rule, and must pass the correct server on several seeds.

use std::time::Duration;

use dome_conformance::{Options, Report, RunOptions, Status, Target, embedded};

/// Which case must fail for each mutant: the case whose rule the mutant
/// breaks.
const EXPECTED: &[(&str, &str)] = &[
    ("wrong_status_code", "errors.job_not_found"),
    ("missing_error_info", "errors.job_not_found"),
    ("skipped_sequence", "events.gapless_from_one"),
    ("duplicated_event", "events.gapless_from_one"),
    ("events_out_of_order", "events.gapless_from_one"),
    ("no_terminal_event", "events.gapless_from_one"),
    ("cancel_ignored", "cancel.parked_job"),
    ("cancel_finished_errors", "cancel.finished_job"),
    ("duplicate_idempotent_job", "idempotency.duplicate_returns_one_job"),
    ("reject_as_error", "decisions.reject_is_ok"),
    ("resume_returns_whole_log", "events.resume_every_cursor"),
    ("stream_never_closes", "events.closes_after_terminal"),
    ("assigned_correlation_omitted", "errors.correlation_assigned"),
    ("live_head_closes", "cursors.every_position"),
    ("gate_decision_ignores_task", "jobs.shared_run"),
];

/// The suite against the reference server (as `mutant`, when one is
/// given), each case within `timeout` (and each read within a tenth of
/// it).
async fn run_against(
    mutant: Option<domed::Mutant>,
    filter: Option<&str>,
    seed: u64,
    cases: u32,
    timeout: Duration,
) -> Report {
    let config = domed::Config {
        limits: embedded::limits(),
        mutant,
        // A mutant that ignores cancels keeps its parked jobs through a
        // shutdown's whole grace: the run is over by then, so a short one.
        shutdown_grace: if mutant.is_some() { Duration::from_millis(200) } else { Duration::from_secs(5) },
        ..domed::Config::default()
    };
    let server = domed::start(config).await.expect("the reference server starts");
    let options = Options {
        target: Some(Target { address: server.url(), ..Target::default() }),
        mutant: None,
        run: RunOptions { cases, seed, filter: filter.map(String::from), jobs: 2, timeout, ..RunOptions::default() },
    };
    let report = dome_conformance::run(&options, |_, _, _| {}).await.expect("the suite runs");
    server.shutdown().await.expect("the reference server stops");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutant_is_caught_by_the_case_that_names_its_rule() {
    let ids: Vec<&str> = domed::Mutant::ALL.iter().map(|m| m.id()).collect();
    let table: Vec<&str> = EXPECTED.iter().map(|(m, _)| *m).collect();
    assert_eq!(table, ids, "the table must name every mutant of the reference server, in order");
    let catalogue: Vec<String> = dome_conformance::cases::catalogue().into_iter().map(|c| c.id).collect();
    // Each mutant has a server of its own, and the runs overlap: most of a
    // run is waiting on its server, not work.
    let mut runs = tokio::task::JoinSet::new();
    for (mutant, (_, case)) in domed::Mutant::ALL.iter().zip(EXPECTED) {
        assert!(catalogue.iter().any(|c| c == case), "{case} is no case id");
        let (mutant, case) = (*mutant, *case);
        runs.spawn(
            async move { (mutant, run_against(Some(mutant), Some(case), 11, 4, Duration::from_secs(20)).await) },
        );
    }
    let mut caught = 0;
    while let Some(done) = runs.join_next().await {
        let (mutant, report) = done.expect("a run does not panic");
        let (id, case) = EXPECTED.iter().find(|(id, _)| *id == mutant.id()).expect("every mutant is in the table");
        let result = report.cases.iter().find(|c| c.id == *case).unwrap_or_else(|| panic!("{case} did not run"));
        assert_eq!(
            result.status,
            Status::Fail,
            "mutant {id} ({}) must fail {case}, which {:?}",
            mutant.rule(),
            result.message
        );
        assert!(result.message.as_deref().is_some_and(|m| m.contains("replay:")), "a failure says how to replay it");
        caught += 1;
    }
    assert_eq!(caught, ids.len(), "mutation score {caught}/{}", ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_server_passes_on_several_seeds() {
    // The seed shapes only the properties' generated scenarios: the first
    // seed runs the whole catalogue, the others the properties alone.
    let properties: Vec<String> =
        dome_conformance::cases::catalogue().into_iter().filter(|c| c.property).map(|c| c.id).collect();
    assert!(properties.len() >= 5, "the catalogue's properties are found: {properties:?}");
    let properties = properties.join(",");
    // The runs overlap, so each read gets the 6 s a whole run against the
    // embedded server gives it, not the 2 s of the mutants' single cases.
    let mut runs = tokio::task::JoinSet::new();
    for (seed, filter) in [(1, None), (2, Some(properties.clone())), (3, Some(properties))] {
        runs.spawn(async move { (seed, run_against(None, filter.as_deref(), seed, 8, Duration::from_secs(60)).await) });
    }
    let mut seen = 0;
    while let Some(done) = runs.join_next().await {
        let (seed, report) = done.expect("a run does not panic");
        let failed: Vec<_> = report
            .cases
            .iter()
            .filter(|c| c.status.fails_run())
            .map(|c| format!("{}: {}", c.id, c.message.clone().unwrap_or_default()))
            .collect();
        assert!(failed.is_empty(), "seed {seed}: the reference server failed:\n{}", failed.join("\n"));
        assert!(report.success());
        let least = if seed == 1 { 35 } else { 5 };
        assert!(report.count(Status::Pass) >= least, "seed {seed}: only {} cases passed", report.count(Status::Pass));
        // Skips are reported with their reason, never as passes.
        for c in report.cases.iter().filter(|c| c.status == Status::Skip) {
            assert!(c.message.as_deref().is_some_and(|m| !m.is_empty()), "{} skipped without a reason", c.id);
        }
        seen += 1;
    }
    assert_eq!(seen, 3, "every seed ran");
}
