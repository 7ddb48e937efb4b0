//! The subscriber's checks catch a server that breaks the event rules, and
//! pass the reference server and the baseline.

use std::time::Duration;

use dome_loadgen::client::Pool;
use dome_loadgen::{baseline, bench};

async fn fanout_against(url: &str, timeout: Duration) -> Result<bench::StreamReport, dome_loadgen::Error> {
    let pool = Pool::connect(url, 2).await?;
    bench::fanout(&pool, None, 4, 50, timeout).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_event_sequence_is_a_violation() {
    use domed::Mutant;
    for mutant in [Mutant::SkippedSequence, Mutant::DuplicatedEvent, Mutant::EventsOutOfOrder, Mutant::NoTerminalEvent]
    {
        let running = domed::start(domed::Config { mutant: Some(mutant), ..Default::default() })
            .await
            .expect("the reference server starts");
        let result = fanout_against(&running.url(), Duration::from_secs(20)).await;
        assert!(result.as_ref().is_err_and(|e| e.is_violation()), "mutant {} passed: {result:?}", mutant.id());
        running.shutdown().await.expect("the server shuts down");
    }
    // A stream that never closes is caught by the timeout instead.
    let running = domed::start(domed::Config { mutant: Some(Mutant::StreamNeverCloses), ..Default::default() })
        .await
        .expect("the reference server starts");
    let result = fanout_against(&running.url(), Duration::from_secs(2)).await;
    assert!(result.as_ref().is_err_and(|e| !e.is_violation()), "{result:?}");
    running.shutdown().await.expect("the server shuts down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_runs_against_both_servers_with_the_same_events() {
    let plan = bench::Plan {
        connections: 2,
        unary_concurrency: 4,
        unary_duration: Duration::from_secs(5),
        unary_max_pairs: 100,
        unary_warmup_pairs: 10,
        fanout_subscribers: 8,
        fanout_events: 200,
        many_jobs: 8,
        many_jobs_events: 100,
        phase_timeout: Duration::from_secs(30),
    };
    let reference = domed::start(domed::Config::default()).await.expect("the reference server starts");
    let base = baseline::serve("127.0.0.1:0".parse().expect("a socket address")).await.expect("the baseline starts");

    let ours = bench::run(&reference.url(), None, &plan).await.expect("the bench runs against domed");
    let theirs = bench::run(&format!("http://{}", base.local_addr()), Some(std::process::id()), &plan)
        .await
        .expect("the bench runs against the baseline");

    for report in [&ours, &theirs] {
        assert_eq!(report.unary.pairs, 100);
        assert_eq!(report.unary.calls, 200);
        assert_eq!(report.reads.calls, 100);
        assert_eq!(report.fanout.subscribers, 8);
        assert_eq!(report.many_jobs.subscribers, 8);
    }
    // The baseline streams exactly as many events per job as the reference
    // server, so their throughputs compare like with like.
    assert_eq!(ours.fanout.events, theirs.fanout.events);
    assert_eq!(ours.many_jobs.events, theirs.many_jobs.events);
    // And answers unary calls with messages within a tenth of the size.
    let (a, b) = (ours.unary.mean_response_bytes, theirs.unary.mean_response_bytes);
    assert!((a - b).abs() <= a / 10.0, "domed {a} bytes, baseline {b} bytes");
    assert!(theirs.unary.peak_rss_kib.is_some_and(|kib| kib > 0));

    base.shutdown().await.expect("the baseline stops");
    reference.shutdown().await.expect("the server shuts down");
}
