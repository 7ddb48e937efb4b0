//! Bounded load and fault scenarios against a server of the contract.
//!
//! - Flood: many jobs through a bounded queue; `QUEUE_FULL` answers are
//!   waited out after their `RetryInfo` delay (with the same idempotency
//!   key) and counted; every job must be created once and succeed.
//! - Fan-out: many concurrent subscribers of one job emitting a burst;
//!   every one must see the identical, complete sequence.
//! - Slow and disconnecting subscribers: readers that pause (and so may be
//!   ended with `SUBSCRIBER_LAGGED`) or drop their stream mid-way, all
//!   resuming with `after_sequence`; they too must see the whole sequence.
//! - Cancel mid-burst: two clients cancel a job at once while its events
//!   stream; exactly one cancel takes effect, exactly one
//!   `cancel_requested` and one terminal event follow.
//! - Retention: memory before, during and after a wave of large jobs that
//!   are then pushed out of retention by small ones.
//!
//! Every check failure is an [`Error`] with [`Error::is_violation`] true.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dome_sdk::pb::{CancelJobRequest, GetJobStatusRequest, JobState, ListCapabilitiesRequest};
use serde::Serialize;
use tokio::time::Instant;
use tonic_types::StatusExt;

use crate::client::{Pool, submit};
use crate::follow::{FollowOptions, Followed, follow};
use crate::rss::{self, Sampler};
use crate::stats::per_second;
use crate::{Error, bulk_script, within};

/// The sizes of one run of the scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Connections the calls are spread over.
    pub connections: usize,
    /// Jobs pushed through the queue.
    pub flood_jobs: u64,
    /// Jobs in flight at once during the flood.
    pub flood_concurrency: usize,
    /// Subscribers of the fan-out job.
    pub fanout_subscribers: usize,
    /// Progress events of the fan-out job.
    pub fanout_events: u64,
    /// Slow readers of the slow-subscriber job.
    pub slow_subscribers: usize,
    /// Readers that drop their stream mid-way and resume.
    pub disconnecting_subscribers: usize,
    /// Progress events of the slow-subscriber job.
    pub slow_events: u64,
    /// Jobs cancelled mid-burst.
    pub cancel_jobs: usize,
    /// Progress events of each burst of a cancelled job.
    pub cancel_events: u64,
    /// How long any one scenario may take.
    pub timeout: Duration,
}

impl Plan {
    /// The sizes of `cargo xtask bench --load`.
    pub fn load() -> Self {
        Self {
            connections: 4,
            flood_jobs: 10_000,
            flood_concurrency: 256,
            fanout_subscribers: 1_000,
            fanout_events: 10_000,
            slow_subscribers: 8,
            disconnecting_subscribers: 32,
            slow_events: 10_000,
            cancel_jobs: 64,
            cancel_events: 2_000,
            timeout: Duration::from_secs(300),
        }
    }

    /// The bounded sizes of `cargo test -p dome-loadgen`.
    pub fn test() -> Self {
        Self {
            connections: 2,
            flood_jobs: 500,
            flood_concurrency: 64,
            fanout_subscribers: 100,
            fanout_events: 1_000,
            slow_subscribers: 4,
            disconnecting_subscribers: 8,
            slow_events: 1_000,
            cancel_jobs: 16,
            cancel_events: 500,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What the scenarios saw.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The sizes used.
    pub plan: Plan,
    /// The flood.
    pub flood: FloodReport,
    /// The fan-out.
    pub fanout: FanoutReport,
    /// The slow and disconnecting subscribers.
    pub slow: FanoutReport,
    /// The cancels mid-burst.
    pub cancel: CancelReport,
}

/// What the flood saw.
#[derive(Debug, Clone, Serialize)]
pub struct FloodReport {
    /// Jobs created (each exactly once, all distinct).
    pub jobs: u64,
    /// `QUEUE_FULL` answers waited out and retried.
    pub queue_full: u64,
    /// Events verified over all jobs.
    pub events: u64,
    /// Seconds it took.
    pub elapsed_s: f64,
    /// Jobs through per second.
    pub jobs_per_s: f64,
    /// The server's largest resident size, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// What a fan-out scenario saw.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    /// Subscribers, every one of which saw the identical, complete
    /// sequence.
    pub subscribers: u64,
    /// The job's events (its last sequence).
    pub events_per_subscriber: u64,
    /// Streams ended with `SUBSCRIBER_LAGGED` and resumed.
    pub lagged: u64,
    /// Streams dropped on purpose and resumed.
    pub disconnects: u64,
    /// Seconds it took.
    pub elapsed_s: f64,
    /// Delivered events per second.
    pub events_per_s: f64,
    /// The server's largest resident size, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// What the cancels mid-burst saw.
#[derive(Debug, Clone, Serialize)]
pub struct CancelReport {
    /// Jobs cancelled while streaming.
    pub jobs: u64,
    /// Of those, the ones that ended `CANCELLED`.
    pub cancelled: u64,
    /// The ones that finished first (allowed: cancel is best effort).
    pub finished_first: u64,
}

/// What the retention scenario saw.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    /// The server's `max_jobs_retained`.
    pub max_jobs_retained: u64,
    /// Large jobs run per wave.
    pub jobs: u64,
    /// Progress events of each.
    pub events_per_job: u64,
    /// Resident size with only small jobs retained, in KiB.
    pub rss_before_kib: Option<u64>,
    /// Per wave: the largest resident size while its large jobs were
    /// retained, and the resident size once small jobs had pushed them
    /// out, in KiB.
    pub waves: Vec<Wave>,
    /// Whether the resident size came back near where it was after the
    /// last wave: within 16 MiB or half of the rise, whichever is larger.
    pub rss_returned: Option<bool>,
    /// Whether memory stayed bounded: no wave peaked more than 16 MiB or
    /// 10% above the first (memory freed by one wave serves the next).
    pub rss_bounded: Option<bool>,
}

/// The memory of one wave of the retention scenario, in KiB.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Wave {
    /// The largest resident size while the wave's jobs were retained.
    pub peak_kib: Option<u64>,
    /// The resident size once they were pushed out, as it settles
    /// ([`crate::rss::settled`]).
    pub after_kib: Option<u64>,
}

/// Runs the flood, fan-out, slow-subscriber and cancel scenarios.
pub async fn run(target: &str, pid: Option<u32>, plan: &Plan) -> Result<Report, Error> {
    let pool = Pool::connect(target, plan.connections).await?;
    let limit = plan.timeout;
    let flood = within(limit, "the flood", flood(&pool, pid, plan)).await?;
    let wide = fanout(&pool, pid, plan.fanout_subscribers, 0, plan.fanout_events, limit);
    let wide = within(limit, "the fan-out", wide).await?;
    let slow = fanout(&pool, pid, plan.slow_subscribers, plan.disconnecting_subscribers, plan.slow_events, limit);
    let slow = within(limit, "the slow subscribers", slow).await?;
    let cancel = within(limit, "the cancels", cancel_mid_burst(&pool, plan)).await?;
    Ok(Report { plan: plan.clone(), flood, fanout: wide, slow, cancel })
}

/// Pushes `plan.flood_jobs` jobs through the queue with
/// `plan.flood_concurrency` in flight, each followed to its end.
pub async fn flood(pool: &Pool, pid: Option<u32>, plan: &Plan) -> Result<FloodReport, Error> {
    let sampler = pid.map(Sampler::start);
    let started = Instant::now();
    let deadline = started + plan.timeout;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let next = Arc::new(AtomicU64::new(0));
    // A short sleep makes each job hold a worker for a moment, so that the
    // queue really fills.
    let input = r#"{"steps":[{"sleep":{"millis":1}},{"progress":{"percent":100}}]}"#;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..plan.flood_concurrency.max(1) {
        let (mut client, next, run_id, total, timeout) =
            (pool.get(w), next.clone(), run_id.clone(), plan.flood_jobs, plan.timeout);
        workers.spawn(async move {
            let (mut ids, mut queue_full, mut events) = (Vec::new(), 0u64, 0u64);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let submitted = submit(&mut client, input, &format!("flood-{run_id}-{n}"), deadline).await?;
                if !submitted.created {
                    return Err(Error::violation(format!(
                        "job {n} of the flood was not created by its first accepted call"
                    )));
                }
                queue_full += u64::from(submitted.queue_full);
                let f = follow(client.clone(), &submitted.job.job_id, FollowOptions { timeout, ..Default::default() })
                    .await?;
                expect_complete(&f, &submitted.job.job_id, Some(JobState::Succeeded))?;
                events += f.events;
                ids.push(submitted.job.job_id);
            }
            Ok::<_, Error>((ids, queue_full, events))
        });
    }
    let (mut ids, mut queue_full, mut events) = (HashSet::new(), 0, 0);
    while let Some(joined) = workers.join_next().await {
        let (i, q, e) = joined.map_err(|e| Error::violation(format!("a flood worker panicked: {e}")))??;
        ids.extend(i);
        queue_full += q;
        events += e;
    }
    if ids.len() as u64 != plan.flood_jobs {
        return Err(Error::violation(format!(
            "{} distinct jobs created for {} submissions",
            ids.len(),
            plan.flood_jobs
        )));
    }
    let elapsed = started.elapsed();
    Ok(FloodReport {
        jobs: ids.len() as u64,
        queue_full,
        events,
        elapsed_s: elapsed.as_secs_f64(),
        jobs_per_s: per_second(ids.len() as u64, elapsed),
        peak_rss_kib: finish(sampler).await,
    })
}

/// One job of `events` progress events followed by `plain` ordinary
/// subscribers, `disconnecting` ones that drop their stream every seventh
/// of the way and resume, and (when `disconnecting` is not zero) as many
/// slow readers as `plain`. All must see the identical, complete sequence.
pub async fn fanout(
    pool: &Pool,
    pid: Option<u32>,
    plain: usize,
    disconnecting: usize,
    events: u64,
    timeout: Duration,
) -> Result<FanoutReport, Error> {
    let sampler = pid.map(Sampler::start);
    let started = Instant::now();
    let mut client = pool.get(0);
    // The job waits a moment before its burst so that most subscribers are
    // attached when it comes (those that are not get the same sequence
    // replayed from retention, which is checked just the same).
    let input = format!(r#"{{"steps":[{{"sleep":{{"millis":200}}}},{{"bulk":{{"count":{events}}}}}]}}"#);
    let key = format!("fanout-{}", uuid::Uuid::new_v4().simple());
    let job_id = submit(&mut client, &input, &key, started + timeout).await?.job.job_id;
    let slow = if disconnecting > 0 { plain } else { 0 };
    let mut followers = tokio::task::JoinSet::new();
    for s in 0..plain + slow + disconnecting {
        let mut options = FollowOptions { timeout, ..Default::default() };
        if s >= plain && s < plain + slow {
            options.slow = Some((16, Duration::from_millis(1)));
        } else if s >= plain + slow {
            options.disconnect_after = Some((events / 7).max(1));
        }
        let (client, job_id) = (pool.get(s), job_id.clone());
        followers.spawn(async move { follow(client, &job_id, options).await });
    }
    let (mut digest, mut lagged, mut disconnects, mut delivered, mut last) = (None, 0, 0, 0, 0);
    while let Some(joined) = followers.join_next().await {
        let f = joined.map_err(|e| Error::violation(format!("a subscriber panicked: {e}")))??;
        expect_complete(&f, &job_id, Some(JobState::Succeeded))?;
        if *digest.get_or_insert(f.digest) != f.digest {
            return Err(Error::violation(format!("subscribers of job `{job_id}` saw different sequences")));
        }
        lagged += u64::from(f.lagged);
        disconnects += u64::from(f.disconnects);
        delivered += f.events;
        last = f.last_sequence;
    }
    let elapsed = started.elapsed();
    Ok(FanoutReport {
        subscribers: (plain + slow + disconnecting) as u64,
        events_per_subscriber: last,
        lagged,
        disconnects,
        elapsed_s: elapsed.as_secs_f64(),
        events_per_s: per_second(delivered, elapsed),
        peak_rss_kib: finish(sampler).await,
    })
}

/// Cancels `plan.cancel_jobs` jobs from two clients at once once their
/// subscriber has seen half of the first burst. Half of the jobs sleep
/// after the burst (so the cancel must win and end them `CANCELLED`); the
/// other half run a second burst instead (so the cancel races the end).
pub async fn cancel_mid_burst(pool: &Pool, plan: &Plan) -> Result<CancelReport, Error> {
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let n = plan.cancel_events;
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..plan.cancel_jobs {
        let must_cancel = j % 2 == 0;
        let middle = if must_cancel {
            r#"{"sleep":{"millis":10000}}"#.to_owned()
        } else {
            format!(r#"{{"bulk":{{"count":{n}}}}}"#)
        };
        let input = format!(r#"{{"steps":[{{"bulk":{{"count":{n}}}}},{middle}]}}"#);
        let (mut client, other, key, timeout) =
            (pool.get(j), pool.get(j + 1), format!("cancel-{run_id}-{j}"), plan.timeout);
        tasks.spawn(async move {
            let job_id = submit(&mut client, &input, &key, started + timeout).await?.job.job_id;
            let (notify, mut halfway) = tokio::sync::mpsc::channel(1);
            let options = FollowOptions { timeout, notify_after: Some(((n / 2).max(1), notify)), ..Default::default() };
            let follower = tokio::spawn({
                let (client, job_id) = (client.clone(), job_id.clone());
                async move { follow(client, &job_id, options).await }
            });
            let follower = {
                let job_id = job_id.clone();
                async move {
                    follower.await.map_err(|e| Error::violation(format!("a subscriber of `{job_id}` panicked: {e}")))?
                }
            };
            let cancels = async {
                if halfway.recv().await.is_none() {
                    return Ok::<_, Error>(None);
                }
                let cancel = |mut c: crate::client::Client, job_id: String| async move {
                    c.cancel_job(CancelJobRequest { job_id, reason: "load test".to_owned(), ..Default::default() })
                        .await
                        .map(|r| r.into_inner().cancel_requested)
                        .map_err(|s| Error::rpc("CancelJob", s))
                };
                let (a, b) = tokio::join!(cancel(client.clone(), job_id.clone()), cancel(other, job_id.clone()));
                Ok(Some(u32::from(a?) + u32::from(b?)))
            };
            let (followed, effective) = tokio::join!(follower, cancels);
            let (followed, effective) = (followed?, effective?);
            let effective = effective.unwrap_or(0);
            if effective > 1 {
                return Err(Error::violation(format!("{effective} cancels of job `{job_id}` took effect")));
            }
            let expected = if must_cancel { Some(JobState::Cancelled) } else { None };
            expect_complete(&followed, &job_id, expected)?;
            if followed.cancel_requested != effective {
                return Err(Error::violation(format!(
                    "job `{job_id}`: {effective} effective cancels but {} cancel_requested events",
                    followed.cancel_requested
                )));
            }
            // Cancelling a terminal job is OK and changes nothing.
            let again = client
                .cancel_job(CancelJobRequest { job_id: job_id.clone(), ..Default::default() })
                .await
                .map_err(|s| Error::rpc("CancelJob", s))?
                .into_inner();
            if again.cancel_requested {
                return Err(Error::violation(format!("a cancel of terminal job `{job_id}` took effect")));
            }
            Ok::<_, Error>(followed.terminal)
        });
    }
    let mut report = CancelReport { jobs: 0, cancelled: 0, finished_first: 0 };
    while let Some(joined) = tasks.join_next().await {
        let terminal = joined.map_err(|e| Error::violation(format!("a cancel task panicked: {e}")))??;
        report.jobs += 1;
        if terminal == JobState::Cancelled {
            report.cancelled += 1;
        } else {
            report.finished_first += 1;
        }
    }
    Ok(report)
}

/// Runs `waves` waves of `jobs` large jobs (`events` progress events
/// each), each wave then pushed out of retention by small jobs, reading the
/// resident size of `pid` before, during and after each. The large jobs
/// must be gone (`JOB_NOT_FOUND`) after each push. The server must have a
/// `max_jobs_retained` limit of at most 10,000.
pub async fn retention(
    target: &str,
    pid: Option<u32>,
    jobs: u64,
    events: u64,
    waves_count: u32,
    timeout: Duration,
) -> Result<RetentionReport, Error> {
    within(timeout, "the retention scenario", retention_inner(target, pid, jobs, events, waves_count, timeout)).await
}

async fn retention_inner(
    target: &str,
    pid: Option<u32>,
    jobs: u64,
    events: u64,
    waves_count: u32,
    timeout: Duration,
) -> Result<RetentionReport, Error> {
    let pool = Pool::connect(target, 2).await?;
    let deadline = Instant::now() + timeout;
    let limits = pool
        .get(0)
        .list_capabilities(ListCapabilitiesRequest::default())
        .await
        .map_err(|s| Error::rpc("ListCapabilities", s))?
        .into_inner()
        .limits
        .unwrap_or_default();
    let retained = limits.max_jobs_retained;
    if retained == 0 || retained > 10_000 {
        return Err(Error::violation(format!(
            "the retention scenario needs 1 to 10000 max_jobs_retained, the server has {retained}"
        )));
    }
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let small = r#"{"steps":[]}"#;
    // Fill retention with small jobs first, so that "before" and "after"
    // hold the same number of jobs and differ only by the large ones.
    run_jobs(&pool, &format!("fill-{run_id}"), small, retained, 32, deadline).await?;
    let rss_before_kib = pid.and_then(rss::read).map(|m| m.rss_kib);
    let mut waves = Vec::new();
    for wave in 0..waves_count.max(1) {
        let sampler = pid.map(Sampler::start);
        let large_prefix = format!("large-{run_id}-{wave}");
        let large = run_jobs(&pool, &large_prefix, &bulk_script(events), jobs, 8, deadline).await?;
        let peak_kib = finish(sampler).await;
        run_jobs(&pool, &format!("push-{run_id}-{wave}"), small, retained, 32, deadline).await?;
        // The large jobs are the oldest terminal ones, so they must be gone.
        for job_id in large.iter().take(8) {
            let request = GetJobStatusRequest { job_id: job_id.clone(), ..Default::default() };
            match pool.get(0).get_job_status(request).await {
                Err(status) if status.get_details_error_info().is_some_and(|i| i.reason == "JOB_NOT_FOUND") => {}
                Ok(_) => {
                    return Err(Error::violation(format!(
                        "job `{job_id}` still retained after {retained} newer jobs ended"
                    )));
                }
                Err(status) => return Err(Error::rpc("GetJobStatus", status)),
            }
        }
        let after_kib = match pid {
            Some(pid) => rss::settled(pid).await,
            None => None,
        };
        waves.push(Wave { peak_kib, after_kib });
    }
    let first_peak = waves.first().and_then(|w| w.peak_kib);
    let rss_returned = match (rss_before_kib, first_peak, waves.last().and_then(|w| w.after_kib)) {
        (Some(before), Some(peak), Some(after)) => {
            let slack = (16 * 1024).max(peak.saturating_sub(before) / 2);
            Some(after <= before + slack)
        }
        _ => None,
    };
    let rss_bounded = first_peak.map(|first| {
        let slack = (16 * 1024).max(first / 10);
        waves.iter().all(|w| w.peak_kib.is_none_or(|p| p <= first + slack))
    });
    Ok(RetentionReport {
        max_jobs_retained: retained,
        jobs,
        events_per_job: events,
        rss_before_kib,
        waves,
        rss_returned,
        rss_bounded,
    })
}

/// Submits `count` jobs of `input` with `concurrency` in flight and follows
/// each to its successful end; returns their ids in submission order.
pub(crate) async fn run_jobs(
    pool: &Pool,
    prefix: &str,
    input: &str,
    count: u64,
    concurrency: usize,
    deadline: Instant,
) -> Result<Vec<String>, Error> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency.max(1) {
        let (mut client, next, prefix, input) = (pool.get(w), next.clone(), prefix.to_owned(), input.to_owned());
        workers.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let job_id = submit(&mut client, &input, &format!("{prefix}-{n}"), deadline).await?.job.job_id;
                let timeout = deadline.saturating_duration_since(Instant::now());
                let f = follow(client.clone(), &job_id, FollowOptions { timeout, ..Default::default() }).await?;
                expect_complete(&f, &job_id, Some(JobState::Succeeded))?;
                ids.push((n, job_id));
            }
            Ok::<_, Error>(ids)
        });
    }
    let mut ids = Vec::new();
    while let Some(joined) = workers.join_next().await {
        ids.extend(joined.map_err(|e| Error::violation(format!("a worker panicked: {e}")))??);
    }
    ids.sort_unstable();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// Checks that a follow saw every event from the first, and the expected
/// terminal state when one is expected.
fn expect_complete(f: &Followed, job_id: &str, terminal: Option<JobState>) -> Result<(), Error> {
    if f.events != f.last_sequence {
        return Err(Error::violation(format!(
            "job `{job_id}`: {} distinct events seen for a last sequence of {}",
            f.events, f.last_sequence
        )));
    }
    if let Some(expected) = terminal
        && f.terminal != expected
    {
        return Err(Error::violation(format!("job `{job_id}` ended {:?}, expected {expected:?}", f.terminal)));
    }
    Ok(())
}

pub(crate) async fn finish(sampler: Option<Sampler>) -> Option<u64> {
    match sampler {
        Some(s) => Some(s.finish().await),
        None => None,
    }
}
