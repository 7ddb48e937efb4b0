//! A correct server may retain few events per job: the cases that follow
//! a long job to its end resume where its retention begins, whether the
//! first events are gone before the stream opens or while it is read.

use std::time::Duration;

use dome_conformance::{Options, RunOptions, Status, Target, embedded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_case_passes_against_a_server_that_retains_64_events_a_job() {
    // 64 events against a job of 20,000: its first events are dropped
    // long before the case's stream from the start opens.
    let limits = domed::Limits { max_events_retained_per_job: 64, max_jobs_retained: 20, ..embedded::limits() };
    let server = domed::start(domed::Config { limits, ..domed::Config::default() }).await.expect("domed starts");
    let options = Options {
        target: Some(Target { address: server.url(), ..Target::default() }),
        mutant: None,
        run: RunOptions {
            filter: Some("retention.evicted_job".into()),
            jobs: 1,
            timeout: Duration::from_secs(60),
            ..RunOptions::default()
        },
    };
    let report = dome_conformance::run(&options, |_, _, _| {}).await.expect("the suite runs");
    server.shutdown().await.expect("domed stops");
    let case = report.cases.iter().find(|c| c.id == "retention.evicted_job").expect("the case ran");
    assert_eq!(case.status, Status::Pass, "{:?}", case.message);
}
