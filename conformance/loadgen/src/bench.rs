//! Throughput and latency phases, run the same way against any server.
//!
//! - Unary: many workers, each submitting a job (`SkillExecute`) and then
//!   reading it (`GetJobStatus`), for a fixed time or number of pairs.
//! - Reads: many workers reading a few existing jobs (`GetJobStatus`
//!   only), which tells the cost of a call apart from the cost of a job.
//! - Fan-out: one job emitting `events` progress events at once
//!   (`{"steps":[{"bulk":{"count":N}}]}`), followed by `subscribers`
//!   concurrent streams.
//! - Many jobs: `jobs` such jobs at once, each followed by one stream.
//!
//! Every stream is checked by [`crate::follow`], so a fast but wrong
//! server cannot score.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dome_sdk::pb::{GetJobStatusRequest, JobState};
use prost::Message;
use serde::Serialize;
use tokio::time::Instant;

use crate::client::{Pool, submit};
use crate::follow::{FollowOptions, follow};
use crate::rss::Sampler;
use crate::stats::{Latencies, Summary, per_second};
use crate::{Error, bulk_script, within};

/// The sizes of one bench run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Connections the calls are spread over.
    pub connections: usize,
    /// Concurrent unary workers.
    pub unary_concurrency: usize,
    /// How long the timed unary phase runs.
    pub unary_duration: Duration,
    /// The most submit-and-read pairs of the timed unary phase.
    pub unary_max_pairs: u64,
    /// Pairs run before timing starts.
    pub unary_warmup_pairs: u64,
    /// Subscribers of the fan-out job.
    pub fanout_subscribers: usize,
    /// Progress events of the fan-out job.
    pub fanout_events: u64,
    /// Jobs of the many-jobs phase.
    pub many_jobs: usize,
    /// Progress events of each of them.
    pub many_jobs_events: u64,
    /// How long any one phase may take in all.
    pub phase_timeout: Duration,
}

impl Plan {
    /// The sizes of `cargo xtask bench`.
    pub fn full() -> Self {
        Self {
            connections: 4,
            unary_concurrency: 64,
            unary_duration: Duration::from_secs(5),
            unary_max_pairs: 1_000_000,
            unary_warmup_pairs: 2_000,
            fanout_subscribers: 200,
            fanout_events: 5_000,
            many_jobs: 200,
            many_jobs_events: 2_000,
            phase_timeout: Duration::from_secs(120),
        }
    }

    /// The sizes of `cargo xtask bench --quick` (and of tests).
    pub fn quick() -> Self {
        Self {
            connections: 2,
            unary_concurrency: 32,
            unary_duration: Duration::from_secs(2),
            unary_max_pairs: 200_000,
            unary_warmup_pairs: 500,
            fanout_subscribers: 100,
            fanout_events: 2_000,
            many_jobs: 50,
            many_jobs_events: 1_000,
            phase_timeout: Duration::from_secs(60),
        }
    }
}

/// Everything one bench run measured against one server.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The sizes used.
    pub plan: Plan,
    /// The unary phase.
    pub unary: UnaryReport,
    /// The read-only phase.
    pub reads: ReadReport,
    /// The fan-out phase.
    pub fanout: StreamReport,
    /// The many-jobs phase.
    pub many_jobs: StreamReport,
}

/// What the unary phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct UnaryReport {
    /// Submit-and-read pairs completed.
    pub pairs: u64,
    /// Calls completed (two per pair).
    pub calls: u64,
    /// The mean encoded size of the responses, in bytes (the baseline
    /// answers with messages of the reference server's size).
    pub mean_response_bytes: f64,
    /// Seconds the timed phase took.
    pub elapsed_s: f64,
    /// Completed calls per second.
    pub calls_per_s: f64,
    /// `SkillExecute` latency (queue-full retries included).
    pub skill_execute: Summary,
    /// `GetJobStatus` latency.
    pub get_job_status: Summary,
    /// `QUEUE_FULL` answers waited out.
    pub queue_full: u64,
    /// The server's largest resident size during the phase, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// What the read-only phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct ReadReport {
    /// Calls completed.
    pub calls: u64,
    /// Seconds the phase took.
    pub elapsed_s: f64,
    /// Completed calls per second.
    pub calls_per_s: f64,
    /// `GetJobStatus` latency.
    pub get_job_status: Summary,
    /// The server's largest resident size during the phase, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// What a streaming phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// Jobs streamed.
    pub jobs: u64,
    /// Subscribers in all.
    pub subscribers: u64,
    /// Distinct events delivered, summed over subscribers.
    pub events: u64,
    /// Encoded bytes delivered.
    pub bytes: u64,
    /// Seconds from the first submission to the last terminal event.
    pub elapsed_s: f64,
    /// Delivered events per second.
    pub events_per_s: f64,
    /// Streams ended with `SUBSCRIBER_LAGGED` and resumed.
    pub lagged: u64,
    /// The server's largest resident size during the phase, in KiB.
    pub peak_rss_kib: Option<u64>,
}

/// Runs every phase against `target`, sampling the memory of `pid` (the
/// server process) when given.
pub async fn run(target: &str, pid: Option<u32>, plan: &Plan) -> Result<Report, Error> {
    let pool = Pool::connect(target, plan.connections).await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let limit = plan.phase_timeout;
    let warmup = unary(&pool, &run_id, plan, plan.unary_warmup_pairs, Duration::from_secs(30), None);
    within(limit, "the warm-up", warmup).await?;
    let unary =
        within(limit, "the unary phase", unary(&pool, &run_id, plan, plan.unary_max_pairs, plan.unary_duration, pid))
            .await?;
    let reads = within(limit, "the read-only phase", reads(&pool, &run_id, plan, pid)).await?;
    let fanout = fanout(&pool, pid, plan.fanout_subscribers, plan.fanout_events, limit);
    let fanout = within(limit, "the fan-out phase", fanout).await?;
    let many_jobs = many_jobs(&pool, pid, plan.many_jobs, plan.many_jobs_events, limit);
    let many_jobs = within(limit, "the many-jobs phase", many_jobs).await?;
    Ok(Report { plan: plan.clone(), unary, reads, fanout, many_jobs })
}

/// The unary phase: submit-and-read pairs until `max_pairs` or `duration`.
pub async fn unary(
    pool: &Pool,
    run_id: &str,
    plan: &Plan,
    max_pairs: u64,
    duration: Duration,
    pid: Option<u32>,
) -> Result<UnaryReport, Error> {
    let sampler = pid.map(Sampler::start);
    let started = Instant::now();
    let deadline = started + duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..plan.unary_concurrency.max(1) {
        let mut client = pool.get(w);
        let next = next.clone();
        let run_id = run_id.to_owned();
        let timeout = plan.phase_timeout;
        workers.spawn(async move {
            let mut submit_lat = Latencies::default();
            let mut read_lat = Latencies::default();
            let (mut queue_full, mut bytes) = (0u64, 0u64);
            let input = r#"{"steps":[{"log":{"message":"bench"}}]}"#;
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= max_pairs {
                    break;
                }
                let key = format!("bench-{run_id}-{n}");
                let t = Instant::now();
                let submitted = submit(&mut client, input, &key, started + timeout).await?;
                submit_lat.record(t.elapsed());
                queue_full += u64::from(submitted.queue_full);
                bytes += submitted.response_bytes;
                let t = Instant::now();
                let read = client
                    .get_job_status(GetJobStatusRequest { job_id: submitted.job.job_id, ..Default::default() })
                    .await
                    .map_err(|s| Error::rpc("GetJobStatus", s))?;
                read_lat.record(t.elapsed());
                bytes += read.get_ref().encoded_len() as u64;
            }
            Ok::<_, Error>((submit_lat, read_lat, queue_full, bytes))
        });
    }
    let mut submit_lat = Latencies::default();
    let mut read_lat = Latencies::default();
    let (mut queue_full, mut bytes) = (0, 0);
    while let Some(joined) = workers.join_next().await {
        let (s, r, q, b) = joined.map_err(|e| Error::violation(format!("a unary worker panicked: {e}")))??;
        submit_lat.merge(s);
        read_lat.merge(r);
        queue_full += q;
        bytes += b;
    }
    let elapsed = started.elapsed();
    let (skill_execute, get_job_status) = (submit_lat.summary(), read_lat.summary());
    let calls = skill_execute.count + get_job_status.count;
    let peak_rss_kib = match sampler {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    Ok(UnaryReport {
        pairs: get_job_status.count,
        calls,
        mean_response_bytes: if calls > 0 { bytes as f64 / calls as f64 } else { 0.0 },
        elapsed_s: elapsed.as_secs_f64(),
        calls_per_s: per_second(calls, elapsed),
        skill_execute,
        get_job_status,
        queue_full,
        peak_rss_kib,
    })
}

/// The read-only phase: `GetJobStatus` of a few existing jobs, for
/// `plan.unary_duration` (at most `plan.unary_max_pairs` calls).
pub async fn reads(pool: &Pool, run_id: &str, plan: &Plan, pid: Option<u32>) -> Result<ReadReport, Error> {
    let deadline = Instant::now() + plan.phase_timeout;
    let input = r#"{"steps":[{"log":{"message":"bench"}}]}"#;
    let mut job_ids = Vec::new();
    for j in 0..16 {
        let mut client = pool.get(j);
        job_ids.push(submit(&mut client, input, &format!("reads-{run_id}-{j}"), deadline).await?.job.job_id);
    }
    let job_ids = Arc::new(job_ids);
    let sampler = pid.map(Sampler::start);
    let started = Instant::now();
    let stop_at = started + plan.unary_duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..plan.unary_concurrency.max(1) {
        let (mut client, next, job_ids, max) = (pool.get(w), next.clone(), job_ids.clone(), plan.unary_max_pairs);
        workers.spawn(async move {
            let mut latencies = Latencies::default();
            while Instant::now() < stop_at {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= max {
                    break;
                }
                let job_id = job_ids[n as usize % job_ids.len()].clone();
                let t = Instant::now();
                client
                    .get_job_status(GetJobStatusRequest { job_id, ..Default::default() })
                    .await
                    .map_err(|s| Error::rpc("GetJobStatus", s))?;
                latencies.record(t.elapsed());
            }
            Ok::<_, Error>(latencies)
        });
    }
    let mut latencies = Latencies::default();
    while let Some(joined) = workers.join_next().await {
        latencies.merge(joined.map_err(|e| Error::violation(format!("a read worker panicked: {e}")))??);
    }
    let elapsed = started.elapsed();
    let get_job_status = latencies.summary();
    let peak_rss_kib = match sampler {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    Ok(ReadReport {
        calls: get_job_status.count,
        elapsed_s: elapsed.as_secs_f64(),
        calls_per_s: per_second(get_job_status.count, elapsed),
        get_job_status,
        peak_rss_kib,
    })
}

/// The fan-out phase: one job of `events` progress events, `subscribers`
/// concurrent streams, all of which must see the identical sequence.
pub async fn fanout(
    pool: &Pool,
    pid: Option<u32>,
    subscribers: usize,
    events: u64,
    timeout: Duration,
) -> Result<StreamReport, Error> {
    let sampler = pid.map(Sampler::start);
    let started = Instant::now();
    let mut client = pool.get(0);
    let key = format!("fanout-{}", uuid::Uuid::new_v4().simple());
    let job = submit(&mut client, &bulk_script(events), &key, started + timeout).await?.job;
    let mut followers = tokio::task::JoinSet::new();
    for s in 0..subscribers.max(1) {
        let client = pool.get(s);
        let job_id = job.job_id.clone();
        followers
            .spawn(async move { follow(client, &job_id, FollowOptions { timeout, ..FollowOptions::default() }).await });
    }
    let mut report = StreamReport::empty(1);
    let mut digest = None;
    while let Some(joined) = followers.join_next().await {
        let f = joined.map_err(|e| Error::violation(format!("a subscriber panicked: {e}")))??;
        if *digest.get_or_insert(f.digest) != f.digest {
            return Err(Error::violation(format!("subscribers of job `{}` saw different sequences", job.job_id)));
        }
        report.add(&f);
    }
    report.finish(started.elapsed(), sampler).await;
    Ok(report)
}

/// The many-jobs phase: `jobs` jobs of `events` progress events each, all
/// submitted at once, each followed by one stream.
pub async fn many_jobs(
    pool: &Pool,
    pid: Option<u32>,
    jobs: usize,
    events: u64,
    timeout: Duration,
) -> Result<StreamReport, Error> {
    let sampler = pid.map(Sampler::start);
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let input = bulk_script(events);
    let mut tasks = tokio::task::JoinSet::new();
    for j in 0..jobs.max(1) {
        let mut client = pool.get(j);
        let key = format!("many-{run_id}-{j}");
        let input = input.clone();
        tasks.spawn(async move {
            let job = submit(&mut client, &input, &key, started + timeout).await?.job;
            follow(client, &job.job_id, FollowOptions { timeout, ..FollowOptions::default() }).await
        });
    }
    let mut report = StreamReport::empty(jobs.max(1) as u64);
    while let Some(joined) = tasks.join_next().await {
        let f = joined.map_err(|e| Error::violation(format!("a subscriber panicked: {e}")))??;
        if f.terminal != JobState::Succeeded {
            return Err(Error::violation(format!("a bulk job ended {:?}", f.terminal)));
        }
        report.add(&f);
    }
    report.finish(started.elapsed(), sampler).await;
    Ok(report)
}

impl StreamReport {
    fn empty(jobs: u64) -> Self {
        Self {
            jobs,
            subscribers: 0,
            events: 0,
            bytes: 0,
            elapsed_s: 0.0,
            events_per_s: 0.0,
            lagged: 0,
            peak_rss_kib: None,
        }
    }

    fn add(&mut self, f: &crate::follow::Followed) {
        self.subscribers += 1;
        self.events += f.events;
        self.bytes += f.bytes;
        self.lagged += u64::from(f.lagged);
    }

    async fn finish(&mut self, elapsed: Duration, sampler: Option<Sampler>) {
        self.elapsed_s = elapsed.as_secs_f64();
        self.events_per_s = per_second(self.events, elapsed);
        if let Some(s) = sampler {
            self.peak_rss_kib = Some(s.finish().await);
        }
    }
}
