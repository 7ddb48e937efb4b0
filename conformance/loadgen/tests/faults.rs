//! The load and fault scenarios, at bounded sizes, against the reference
//! server embedded in the test: nothing lost, reordered or duplicated, every
//! `QUEUE_FULL` waited out, cancels and retention as the contract says.

use std::time::Duration;

use dome_loadgen::faults;

fn limits() -> domed::Limits {
    domed::Limits {
        // A small queue and few workers, so that a burst of submissions
        // is refused with QUEUE_FULL and must be retried.
        queue_capacity: 8,
        max_running_jobs: 2,
        // A small lag window, so that slow readers are ended with
        // SUBSCRIBER_LAGGED and must resume.
        max_subscriber_lag_events: 64,
        ..domed::Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_reordered_or_duplicated_under_load() {
    let running = domed::start(domed::Config { limits: limits(), ..Default::default() })
        .await
        .expect("the reference server starts");
    // Smaller than the bench's quick plan (500 submissions, 100 readers):
    // 200 submissions, 64 at once, still flood a queue of 8, and 32
    // readers of one job still share its stream.
    let plan = faults::Plan { flood_jobs: 200, fanout_subscribers: 32, ..faults::Plan::test() };
    let report = faults::run(&running.url(), None, &plan).await.expect("every scenario holds");

    assert_eq!(report.flood.jobs, plan.flood_jobs);
    // 64 submissions at once against room for 10 jobs: most are refused.
    assert!(report.flood.queue_full > 0, "no QUEUE_FULL in {:?}", report.flood);

    assert_eq!(report.fanout.subscribers, plan.fanout_subscribers as u64);
    // QUEUED, RUNNING, the burst and the terminal event, at the least.
    assert!(report.fanout.events_per_subscriber >= plan.fanout_events + 3, "{:?}", report.fanout);

    let slow = &report.slow;
    assert_eq!(slow.subscribers, (2 * plan.slow_subscribers + plan.disconnecting_subscribers) as u64);
    assert!(slow.disconnects >= plan.disconnecting_subscribers as u64, "{slow:?}");
    assert!(slow.lagged > 0, "no slow reader was ended with SUBSCRIBER_LAGGED: {slow:?}");

    let cancel = &report.cancel;
    assert_eq!(cancel.jobs, plan.cancel_jobs as u64);
    // The jobs that sleep after their burst are always cancelled.
    assert!(cancel.cancelled >= plan.cancel_jobs as u64 / 2, "{cancel:?}");

    running.shutdown().await.expect("the server shuts down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_pushed_out_of_retention_are_gone() {
    let limits = domed::Limits { max_jobs_retained: 20, ..domed::Limits::default() };
    let running =
        domed::start(domed::Config { limits, ..Default::default() }).await.expect("the reference server starts");
    let report = faults::retention(&running.url(), Some(std::process::id()), 10, 2_000, 2, Duration::from_secs(60))
        .await
        .expect("the large jobs are dropped once newer jobs end");
    assert_eq!(report.max_jobs_retained, 20);
    // The memory figures are read (their values are reported by the bench,
    // not asserted here: this process holds the client too).
    assert_eq!(report.waves.len(), 2);
    assert!(report.rss_before_kib.is_some() && report.waves.iter().all(|w| w.after_kib.is_some()), "{report:?}");

    // A server that retains everything cannot run the scenario.
    let unlimited = domed::Limits { max_jobs_retained: 0, ..domed::Limits::default() };
    let other = domed::start(domed::Config { limits: unlimited, ..Default::default() })
        .await
        .expect("the reference server starts");
    let refused = faults::retention(&other.url(), None, 1, 10, 1, Duration::from_secs(10)).await;
    assert!(refused.is_err_and(|e| e.is_violation()));

    other.shutdown().await.expect("the server shuts down");
    running.shutdown().await.expect("the server shuts down");
}
