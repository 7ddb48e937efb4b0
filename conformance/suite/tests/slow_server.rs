//! No case relies on how fast a server starts, schedules or streams: the
//! whole catalogue passes against the reference server slowed down (every
//! job waits before it starts and before each step), on several seeds.

use std::time::Duration;

use dome_conformance::{Options, RunOptions, Status, Target, embedded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_passes_against_a_slow_server_on_many_seeds() {
    for (seed, delay_ms) in [(101, 3), (202, 7), (303, 15), (404, 1), (505, 25)] {
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
    }
}
