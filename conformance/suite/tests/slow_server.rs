//! No case relies on how fast a server starts, schedules or streams: the
//! whole catalogue passes against the reference server slowed down (every
//! job waits before it starts and before each step), on several seeds.

use std::time::Duration;

use dome_conformance::{Options, Report, RunOptions, Status, Target, embedded};

/// The whole catalogue against a server that waits `delay_ms` before each
/// job's start and each step.
async fn run_slowed(seed: u64, delay_ms: u64) -> Report {
    let config = domed::Config {
        limits: embedded::limits(),
        step_delay: Duration::from_millis(delay_ms),
        ..domed::Config::default()
    };
    let server = domed::start(config).await.expect("the reference server starts");
    let options = Options {
        target: Some(Target { address: server.url(), ..Target::default() }),
        mutant: None,
        run: RunOptions { cases: 4, seed, jobs: 2, timeout: Duration::from_secs(60), ..RunOptions::default() },
    };
    let report = dome_conformance::run(&options, |_, _, _| {}).await.expect("the suite runs");
    server.shutdown().await.expect("the reference server stops");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_passes_against_a_slow_server_on_many_seeds() {
    // Each seed has a server of its own, and the runs overlap: a slowed
    // run spends its time waiting on its server's delays, which is what
    // the test is about, not on the machine.
    let mut runs = tokio::task::JoinSet::new();
    // From a millisecond, the scheduler's own grain, to 25 ms, longer than
    // most of a case's round trips.
    for (seed, delay_ms) in [(101, 1), (202, 7), (303, 25)] {
        runs.spawn(async move { (seed, delay_ms, run_slowed(seed, delay_ms).await) });
    }
    let mut seen = 0;
    while let Some(done) = runs.join_next().await {
        let (seed, delay_ms, report) = done.expect("a run does not panic");
        let failed: Vec<String> = report
            .cases
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("{}: {}", c.id, c.message.clone().unwrap_or_default()))
            .collect();
        assert!(
            failed.is_empty(),
            "seed {seed}, a {delay_ms} ms delay per start and step: the suite failed\n{}",
            failed.join("\n")
        );
        assert!(
            report.cases.iter().filter(|c| c.status == Status::Pass).count() >= 45,
            "seed {seed}: too few cases passed"
        );
        seen += 1;
    }
    assert_eq!(seen, 3, "every seed ran");
}
