//! Hostile clients: each scenario is one attack a caller can make with
//! requests the limits allow, and reports what it cost the server.
//!
//! - [`starvation`]: the largest `bulk` jobs the limits accept, as many
//!   as may run at once, and `ListCapabilities` probed while they run.
//!   The jobs are left running: whoever started the server then times
//!   its shutdown against the grace.
//! - [`budget`]: every retained job at its largest, for every skill,
//!   until the server's total byte budget is passed; then pushed out of
//!   retention by small jobs.
//! - [`unread`]: streams that never read, open on large jobs that are
//!   then pushed out of retention; memory while they are held and after
//!   they close.
//! - [`oversized`]: a 4 MB string in every string field of every RPC,
//!   through a proxy that counts the bytes each way.
//! - [`connections`]: silent, half-sent-preface and idle HTTP/2
//!   connections, and how long the server holds each.
//! - [`descriptors`]: more connections than the server has descriptors
//!   for (run it under a low `RLIMIT_NOFILE`), and its CPU meanwhile.
//!
//! Every scenario is bounded in time and returns a violation (not a
//! figure) when the server breaks the contract under it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dome_sdk::pb::{
    CancelJobRequest, GetGateDecisionRequest, GetJobStatusRequest, GetPromotionDecisionRequest, JobState,
    ListCapabilitiesRequest, ServerLimits, SkillExecuteRequest, StreamJobEventsRequest,
};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tonic_types::StatusExt;

use crate::client::{Client, Pool, submit_to};
use crate::faults::{finish, run_jobs};
use crate::rss::{self, Sampler};
use crate::stats::{Latencies, Summary};
use crate::{Error, SCRIPT_SKILL, bulk_script, within};

/// The echo skill of the reference server.
pub const ECHO_SKILL: &str = "dome.echo";

/// The most events one `bulk` step appends (the script schema's maximum).
const BULK_MAX: u64 = 100_000;

/// The most steps of one script (the script schema's `maxItems`).
pub const STEPS_MAX: u64 = 1_000;

/// How long a whole scenario may take.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(600);

async fn limits(client: &mut Client) -> Result<ServerLimits, Error> {
    Ok(client
        .list_capabilities(ListCapabilitiesRequest::default())
        .await
        .map_err(|s| Error::rpc("ListCapabilities", s))?
        .into_inner()
        .limits
        .unwrap_or_default())
}

/// The largest input the server accepts: its `max_input_bytes`, or 1 MiB
/// when it has none.
fn max_input(limits: &ServerLimits) -> usize {
    match limits.max_input_bytes {
        0 => 1 << 20,
        n => usize::try_from(n).unwrap_or(usize::MAX).min(64 << 20),
    }
}

/// A script of as many maximal `bulk` steps as the schema and
/// `max_input` bytes allow: the most work one request may ask for.
pub fn maximal_bulk_script(max_input: usize) -> (String, u64) {
    let step = format!(r#"{{"bulk":{{"count":{BULK_MAX}}}}}"#);
    let mut out = String::from(r#"{"steps":["#);
    let mut steps = 0;
    while steps < STEPS_MAX && out.len() + step.len() + 3 <= max_input {
        if steps > 0 {
            out.push(',');
        }
        out.push_str(&step);
        steps += 1;
    }
    out.push_str("]}");
    (out, steps)
}

/// `{"<key>":"yyy..."}` padded to exactly `size` bytes (at least the
/// object around an empty string).
fn padded(prefix: &str, size: usize, suffix: &str) -> String {
    let fixed = prefix.len() + suffix.len() + 2;
    format!("{prefix}\"{}\"{suffix}", "y".repeat(size.saturating_sub(fixed)))
}

/// The largest input of each skill of the reference server, and the
/// events it makes the job retain.
pub fn maximal_input(skill: &str, max_input: usize) -> String {
    if skill == ECHO_SKILL {
        // The output is the input: both at the limit.
        padded(r#"{"message":"echo","pad":"#, max_input, "}")
    } else {
        // The most events a step appends, then an output as large as the
        // rest of the input allows.
        padded(&format!(r#"{{"steps":[{{"bulk":{{"count":{BULK_MAX}}}}},{{"succeed":{{"output":"#), max_input, "}}]}")
    }
}

/// Polls `job_id` until it ends (its events are not read, so that no
/// stream of the scenario's own holds memory on the server).
async fn await_end(client: &mut Client, job_id: &str, deadline: Instant) -> Result<JobState, Error> {
    loop {
        let request = GetJobStatusRequest { job_id: job_id.to_owned(), ..Default::default() };
        let job = client
            .get_job_status(request)
            .await
            .map_err(|s| Error::rpc("GetJobStatus", s))?
            .into_inner()
            .job
            .ok_or_else(|| Error::violation("GetJobStatus answered without a job"))?;
        let state = JobState::try_from(job.state).unwrap_or(JobState::Unspecified);
        if matches!(state, JobState::Succeeded | JobState::Failed | JobState::Cancelled) {
            return Ok(state);
        }
        if Instant::now() >= deadline {
            return Err(Error::timeout(format!("job `{job_id}` did not end")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `count` jobs of `input` to their successful end, 8 at a time,
/// without reading their events; returns their ids in submission order.
async fn run_unread(
    pool: &Pool,
    prefix: &str,
    skill: &'static str,
    input: &str,
    count: u64,
    deadline: Instant,
) -> Result<Vec<String>, Error> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (mut client, next, input, prefix) = (pool.get(w), next.clone(), input.to_owned(), prefix.to_owned());
        workers.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, Error>(ids);
                }
                let job_id =
                    submit_to(&mut client, skill, &input, &format!("{prefix}-{n}"), deadline).await?.job.job_id;
                let state = await_end(&mut client, &job_id, deadline).await?;
                if state != JobState::Succeeded {
                    return Err(Error::violation(format!("job `{job_id}` of `{skill}` ended {state:?}")));
                }
                ids.push((n, job_id));
            }
        });
    }
    let mut ids = Vec::new();
    while let Some(joined) = workers.join_next().await {
        ids.extend(joined.map_err(|e| Error::violation(format!("a worker panicked: {e}")))??);
    }
    ids.sort_unstable();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// Whether `job_id` is gone (`JOB_NOT_FOUND`).
async fn is_gone(client: &mut Client, job_id: &str) -> Result<bool, Error> {
    let request = GetJobStatusRequest { job_id: job_id.to_owned(), ..Default::default() };
    match client.get_job_status(request).await {
        Ok(_) => Ok(false),
        Err(s) if s.get_details_error_info().is_some_and(|i| i.reason == "JOB_NOT_FOUND") => Ok(true),
        Err(s) => Err(Error::rpc("GetJobStatus", s)),
    }
}

/// The resident size of `pid` once it settles, in KiB.
async fn settled(pid: Option<u32>) -> Option<u64> {
    match pid {
        Some(pid) => rss::settled(pid).await,
        None => None,
    }
}

// ---------------------------------------------------------------------------
// Starvation

/// What the starvation probe saw.
#[derive(Debug, Clone, Serialize)]
pub struct StarvationReport {
    /// Jobs running during the probe.
    pub jobs: u64,
    /// `bulk` steps of each (of 100,000 events each).
    pub steps_per_job: u64,
    /// The size of each job's input, in bytes.
    pub input_bytes: u64,
    /// `ListCapabilities` latencies while they ran, one call at a time.
    pub probe: Summary,
    /// Seconds the probe ran.
    pub probe_s: f64,
    /// Events the jobs appended while the probe ran (they were running).
    pub events_during_probe: u64,
}

/// Starts `jobs` jobs of as many maximal `bulk` steps as the input limit
/// allows, waits until every one runs, then calls `ListCapabilities`
/// every `every` for `probe`. The jobs are left running.
pub async fn starvation(target: &str, jobs: u64, probe: Duration, every: Duration) -> Result<StarvationReport, Error> {
    within(SCENARIO_TIMEOUT, "the starvation probe", async {
        let pool = Pool::connect(target, 2).await?;
        let mut prober = Pool::connect(target, 1).await?.get(0);
        let (input, steps) = maximal_bulk_script(max_input(&limits(&mut prober).await?));
        let deadline = Instant::now() + SCENARIO_TIMEOUT;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let mut ids = Vec::new();
        for j in 0..jobs {
            let mut client = pool.get(j as usize);
            ids.push(
                submit_to(&mut client, SCRIPT_SKILL, &input, &format!("starve-{run_id}-{j}"), deadline)
                    .await?
                    .job
                    .job_id,
            );
        }
        let appended = |client: Client, ids: Vec<String>| async move {
            let mut total = 0u64;
            let mut running = 0u64;
            for job_id in ids {
                let job = client
                    .clone()
                    .get_job_status(GetJobStatusRequest { job_id, ..Default::default() })
                    .await
                    .map_err(|s| Error::rpc("GetJobStatus", s))?
                    .into_inner()
                    .job
                    .unwrap_or_default();
                total += job.last_sequence;
                running += u64::from(job.state == JobState::Running as i32);
            }
            Ok::<_, Error>((total, running))
        };
        // Every job runs before the probe starts.
        loop {
            let (_, running) = appended(pool.get(0), ids.clone()).await?;
            if running == jobs {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(format!("only {running} of {jobs} jobs started")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (before, _) = appended(pool.get(0), ids.clone()).await?;
        let mut latencies = Latencies::default();
        let started = Instant::now();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while started.elapsed() < probe {
            tick.tick().await;
            let call = Instant::now();
            let answered =
                tokio::time::timeout(probe * 10, prober.list_capabilities(ListCapabilitiesRequest::default()))
                    .await
                    .map_err(|_| Error::timeout("ListCapabilities during the starvation probe"))?;
            answered.map_err(|s| Error::rpc("ListCapabilities", s))?;
            latencies.record(call.elapsed());
        }
        let probe_s = started.elapsed().as_secs_f64();
        let (after, running) = appended(pool.get(0), ids).await?;
        if running != jobs {
            return Err(Error::violation(format!("{} of {jobs} jobs stopped during the probe", jobs - running)));
        }
        Ok(StarvationReport {
            jobs,
            steps_per_job: steps,
            input_bytes: input.len() as u64,
            probe: latencies.summary(),
            probe_s,
            events_during_probe: after.saturating_sub(before),
        })
    })
    .await
}

// ---------------------------------------------------------------------------
// Byte budgets

/// What the byte-budget scenario saw.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetReport {
    /// The server's `max_retained_bytes`.
    pub max_retained_bytes: u64,
    /// The resident size of the fresh server, in KiB.
    pub idle_kib: Option<u64>,
    /// One entry per skill.
    pub skills: Vec<SkillBudget>,
}

/// One skill's maximal jobs against the total budget.
#[derive(Debug, Clone, Serialize)]
pub struct SkillBudget {
    /// The skill.
    pub skill_id: String,
    /// Maximal jobs run (about three times what the budget holds).
    pub jobs: u64,
    /// The input of each, in bytes.
    pub input_bytes: u64,
    /// The largest resident size while they ran, in KiB.
    pub peak_kib: Option<u64>,
    /// The resident size once small jobs had pushed them out, in KiB.
    pub after_kib: Option<u64>,
}

/// For each skill of the reference server, runs maximal jobs until about
/// three times the server's total byte budget has been submitted, reading
/// the resident size meanwhile; then pushes them out with small jobs.
pub async fn budget(target: &str, pid: Option<u32>) -> Result<BudgetReport, Error> {
    within(SCENARIO_TIMEOUT, "the byte-budget scenario", async {
        let pool = Pool::connect(target, 4).await?;
        let limits = limits(&mut pool.get(0)).await?;
        let total = limits.max_retained_bytes;
        let retained = limits.max_jobs_retained;
        if total == 0 || total > 4 << 30 || retained == 0 || retained > 10_000 {
            return Err(Error::violation(format!(
                "the scenario needs max_retained_bytes of at most 4 GiB and 1 to 10000 max_jobs_retained; \
                 the server has {total} and {retained}"
            )));
        }
        let idle_kib = settled(pid).await;
        let max_input = max_input(&limits);
        let deadline = Instant::now() + SCENARIO_TIMEOUT;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let mut skills = Vec::new();
        for skill in [ECHO_SKILL, SCRIPT_SKILL] {
            let input = maximal_input(skill, max_input);
            // What a job holds: its output (the size of the input, here)
            // and, for the script, 100,000 events of some 60 bytes.
            let per_job = input.len() as u64 + if skill == SCRIPT_SKILL { BULK_MAX * 60 } else { 0 };
            let jobs = (3 * total).div_ceil(per_job);
            let sampler = pid.map(Sampler::start);
            let ids = run_unread(&pool, &format!("max-{run_id}-{skill}"), skill, &input, jobs, deadline).await?;
            let first = ids.first().cloned();
            let peak_kib = finish(sampler).await;
            let small = r#"{"steps":[]}"#;
            run_jobs(&pool, &format!("push-{run_id}-{skill}"), small, retained, 32, deadline).await?;
            if let Some(job_id) = first
                && !is_gone(&mut pool.get(0), &job_id).await?
            {
                return Err(Error::violation(format!(
                    "maximal job `{job_id}` still retained after {retained} newer ones"
                )));
            }
            let after_kib = settled(pid).await;
            skills.push(SkillBudget {
                skill_id: skill.to_owned(),
                jobs,
                input_bytes: input.len() as u64,
                peak_kib,
                after_kib,
            });
        }
        Ok(BudgetReport { max_retained_bytes: total, idle_kib, skills })
    })
    .await
}

// ---------------------------------------------------------------------------
// Unread streams

/// What the unread-streams scenario saw.
#[derive(Debug, Clone, Serialize)]
pub struct UnreadReport {
    /// Large jobs (100,000 events each).
    pub jobs: u64,
    /// Streams opened on them that never read.
    pub streams: u64,
    /// Retention full of small jobs, before the large ones, in KiB.
    pub before_kib: Option<u64>,
    /// With the streams open on the retained large jobs.
    pub held_kib: Option<u64>,
    /// With the streams still open, the jobs pushed out of retention.
    pub held_evicted_kib: Option<u64>,
    /// Once every stream was closed.
    pub closed_kib: Option<u64>,
    /// How a held stream of an evicted job ended when finally read.
    pub end_of_evicted_stream: String,
}

/// Runs `jobs` large jobs, opens `streams` streams on them that never
/// read, pushes the jobs out of retention, then closes the streams,
/// reading the resident size at each point.
pub async fn unread(target: &str, pid: Option<u32>, jobs: u64, streams: u64) -> Result<UnreadReport, Error> {
    within(SCENARIO_TIMEOUT, "the unread-streams scenario", async {
        let pool = Pool::connect(target, 4).await?;
        // The streams on connections of their own, spread under any cap
        // per connection: unread, they fill their connection's window,
        // and a call on it would wait behind them.
        let (readers, alone) = (Pool::connect(target, 8).await?, Pool::connect(target, 1).await?);
        let retained = limits(&mut pool.get(0)).await?.max_jobs_retained;
        if retained == 0 || retained > 10_000 {
            return Err(Error::violation(format!("the scenario needs 1 to 10000 max_jobs_retained, not {retained}")));
        }
        let deadline = Instant::now() + SCENARIO_TIMEOUT;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let small = r#"{"steps":[]}"#;
        run_jobs(&pool, &format!("fill-{run_id}"), small, retained, 32, deadline).await?;
        let before_kib = settled(pid).await;
        let large =
            run_unread(&pool, &format!("large-{run_id}"), SCRIPT_SKILL, &bulk_script(BULK_MAX), jobs, deadline).await?;
        let mut held = Vec::new();
        for s in 0..streams {
            let job_id = large[s as usize % large.len()].clone();
            // From the middle: the oldest events of a job this large have
            // left its byte budget already.
            let request = StreamJobEventsRequest { job_id, after_sequence: BULK_MAX / 2, ..Default::default() };
            // The first stream has a connection of its own, so that it can
            // be read to its end below.
            let mut client = if s == 0 { alone.get(0) } else { readers.get(s as usize) };
            let stream =
                client.stream_job_events(request).await.map_err(|s| Error::rpc("StreamJobEvents", s))?.into_inner();
            held.push(stream);
        }
        let held_kib = settled(pid).await;
        run_jobs(&pool, &format!("push-{run_id}"), small, retained, 32, deadline).await?;
        for job_id in &large {
            if !is_gone(&mut pool.get(0), job_id).await? {
                return Err(Error::violation(format!("job `{job_id}` still retained after {retained} newer ones")));
            }
        }
        let held_evicted_kib = settled(pid).await;
        // One held stream read to its end: what it had read ahead, then
        // the typed end of an evicted job.
        let mut first = held.swap_remove(0);
        let end = loop {
            match tokio::time::timeout(Duration::from_secs(30), first.message()).await {
                Err(_) => break "no end within 30 s".to_owned(),
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) => break "a silent end".to_owned(),
                Ok(Err(status)) => {
                    break status
                        .get_details_error_info()
                        .map_or_else(|| format!("{:?} without a reason", status.code()), |i| i.reason);
                }
            }
        };
        if end != "JOB_NOT_FOUND" {
            return Err(Error::violation(format!("a stream of an evicted job ended with {end}, not JOB_NOT_FOUND")));
        }
        drop(first);
        drop(held);
        let closed_kib = settled(pid).await;
        Ok(UnreadReport {
            jobs,
            streams,
            before_kib,
            held_kib,
            held_evicted_kib,
            closed_kib,
            end_of_evicted_stream: end,
        })
    })
    .await
}

// ---------------------------------------------------------------------------
// Oversized strings

/// What the oversized-strings scenario saw.
#[derive(Debug, Clone, Serialize)]
pub struct OversizedReport {
    /// The size of each oversized string, in bytes.
    pub string_bytes: u64,
    /// One entry per call.
    pub calls: Vec<OversizedCall>,
    /// The largest `grpc-status-details-bin` seen, base64-encoded as it
    /// travels, in bytes.
    pub largest_details_bytes: u64,
    /// Bytes the client sent, over all calls.
    pub bytes_in: u64,
    /// Bytes the server sent back.
    pub bytes_out: u64,
}

/// One call with an oversized field.
#[derive(Debug, Clone, Serialize)]
pub struct OversizedCall {
    /// The RPC and the field.
    pub call: String,
    /// The reason of the typed error, or what came instead.
    pub reason: String,
    /// Its `grpc-status-details-bin`, base64-encoded, in bytes.
    pub details_bytes: u64,
}

/// A loopback proxy to `target` counting the bytes each way.
struct Counting {
    url: String,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Counting {
    async fn start(target: &str) -> Result<Self, Error> {
        let upstream = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| Error::io("binding the proxy", e))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| Error::io("the proxy's address", e))?);
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let task = tokio::spawn({
            let (up, down) = (up.clone(), down.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let (upstream, up, down) = (upstream.clone(), up.clone(), down.clone());
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                        // The copy ends with either side; what it moved is
                        // counted either way.
                        let counted = CountedCopy { up: &up, down: &down };
                        counted.run(&mut client, &mut server).await;
                    });
                }
            }
        });
        Ok(Self { url, up, down, task })
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways between a client and a server, counting as it goes.
struct CountedCopy<'a> {
    up: &'a AtomicU64,
    down: &'a AtomicU64,
}

impl CountedCopy<'_> {
    async fn run(self, client: &mut TcpStream, server: &mut TcpStream) {
        let (mut cr, mut cw) = client.split();
        let (mut sr, mut sw) = server.split();
        tokio::join!(pipe(&mut cr, &mut sw, self.up), pipe(&mut sr, &mut cw, self.down));
    }
}

/// Copies `from` to `to` until either ends, adding what it moved to `n`.
async fn pipe(from: &mut (impl AsyncReadExt + Unpin), to: &mut (impl AsyncWriteExt + Unpin), n: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                n.fetch_add(k as u64, Ordering::Relaxed);
                if to.write_all(&buf[..k]).await.is_err() {
                    break;
                }
            }
        }
    }
    // The other side may be gone already.
    let _ = to.shutdown().await;
}

// Sends a string of `size` bytes in every string field of every RPC,
/// one field at a time, through a counting proxy; each answer must be a
/// typed error.
pub async fn oversized(target: &str, size: usize) -> Result<OversizedReport, Error> {
    within(SCENARIO_TIMEOUT, "the oversized-strings scenario", async {
        let proxy = Counting::start(target).await?;
        let mut client = Pool::connect(&proxy.url, 1).await?.get(0).max_encoding_message_size(64 << 20);
        // Multibyte, so that a server cutting it must cut on a character.
        let huge = "é".repeat(size / 2);
        let h = || huge.clone();
        let mut calls = Vec::new();
        let mut record = |call: &str, result: Result<(), tonic::Status>| {
            let (reason, details_bytes) = match result {
                Ok(()) => ("OK (accepted)".to_owned(), 0),
                Err(status) => (
                    status
                        .get_details_error_info()
                        .map_or_else(|| format!("{:?} untyped", status.code()), |i| i.reason),
                    (status.details().len() as u64).div_ceil(3) * 4,
                ),
            };
            calls.push(OversizedCall { call: call.to_owned(), reason, details_bytes });
        };
        let caps = |r: ListCapabilitiesRequest| {
            let mut c = client.clone();
            async move { c.list_capabilities(r).await.map(drop) }
        };
        record(
            "ListCapabilities.api_version",
            caps(ListCapabilitiesRequest { api_version: h(), ..Default::default() }).await,
        );
        record(
            "ListCapabilities.correlation_id",
            caps(ListCapabilitiesRequest { correlation_id: h(), ..Default::default() }).await,
        );
        let execute = |r: SkillExecuteRequest| {
            let mut c = client.clone();
            async move { c.skill_execute(r).await.map(drop) }
        };
        let base = || SkillExecuteRequest {
            skill_id: ECHO_SKILL.to_owned(),
            input_json: r#"{"message":"m"}"#.to_owned(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        record("SkillExecute.skill_id", execute(SkillExecuteRequest { skill_id: h(), ..base() }).await);
        record("SkillExecute.skill_version", execute(SkillExecuteRequest { skill_version: h(), ..base() }).await);
        record("SkillExecute.run_id", execute(SkillExecuteRequest { run_id: h(), ..base() }).await);
        record("SkillExecute.base_ref", execute(SkillExecuteRequest { base_ref: h(), ..base() }).await);
        let labels = [("k".to_owned(), h())].into();
        record("SkillExecute.labels (a value)", execute(SkillExecuteRequest { labels, ..base() }).await);
        record("SkillExecute.idempotency_key", execute(SkillExecuteRequest { idempotency_key: h(), ..base() }).await);
        record("SkillExecute.correlation_id", execute(SkillExecuteRequest { correlation_id: h(), ..base() }).await);
        let invalid = serde_json::json!({ "steps": [{ "progress": { "percent": huge } }] }).to_string();
        let script = SkillExecuteRequest { skill_id: SCRIPT_SKILL.to_owned(), input_json: invalid, ..base() };
        record("SkillExecute.input_json (invalid, value quoted nowhere)", execute(script).await);
        let status = |job_id: String, correlation_id: String| {
            let mut c = client.clone();
            async move { c.get_job_status(GetJobStatusRequest { job_id, correlation_id }).await.map(drop) }
        };
        record("GetJobStatus.job_id", status(h(), String::new()).await);
        record("GetJobStatus.correlation_id", status("x".to_owned(), h()).await);
        let cancel = |job_id: String, reason: String| {
            let mut c = client.clone();
            async move { c.cancel_job(CancelJobRequest { job_id, reason, ..Default::default() }).await.map(drop) }
        };
        record("CancelJob.job_id", cancel(h(), String::new()).await);
        record("CancelJob.reason", cancel("x".to_owned(), h()).await);
        let gate = |r: GetGateDecisionRequest| {
            let mut c = client.clone();
            async move { c.get_gate_decision(r).await.map(drop) }
        };
        record("GetGateDecision.run_id", gate(GetGateDecisionRequest { run_id: h(), ..Default::default() }).await);
        record(
            "GetGateDecision.task_id",
            gate(GetGateDecisionRequest { run_id: "r".into(), task_id: h(), ..Default::default() }).await,
        );
        let promotion = GetPromotionDecisionRequest { run_id: h(), ..Default::default() };
        record("GetPromotionDecision.run_id", client.get_promotion_decision(promotion).await.map(drop));
        let stream = StreamJobEventsRequest { job_id: h(), ..Default::default() };
        let first = match client.stream_job_events(stream).await {
            Ok(response) => response.into_inner().message().await.map(drop),
            Err(status) => Err(status),
        };
        record("StreamJobEvents.job_id", first);
        let largest_details_bytes = calls.iter().map(|c| c.details_bytes).max().unwrap_or(0);
        if let Some(untyped) = calls.iter().find(|c| c.reason.contains("untyped") || c.reason.starts_with("OK")) {
            return Err(Error::violation(format!("{} with a {size}-byte string: {}", untyped.call, untyped.reason)));
        }
        drop(client);
        Ok(OversizedReport {
            string_bytes: huge.len() as u64,
            calls,
            largest_details_bytes,
            bytes_in: proxy.up.load(Ordering::Relaxed),
            bytes_out: proxy.down.load(Ordering::Relaxed),
        })
    })
    .await
}

// ---------------------------------------------------------------------------
// Connections

/// The HTTP/2 client preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the connections scenario saw.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    /// The server's handshake timeout, as told, in seconds.
    pub handshake_timeout_s: f64,
    /// The server's idle timeout, as told, in seconds.
    pub idle_timeout_s: f64,
    /// One entry per kind of connection.
    pub kinds: Vec<ConnectionKind>,
}

/// Connections of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionKind {
    /// What they do.
    pub kind: String,
    /// How many were opened.
    pub connections: u64,
    /// The timeout that applies to them, in seconds.
    pub timeout_s: f64,
    /// How long the server held the longest held one, in seconds.
    pub longest_held_s: f64,
    /// Those still open a second past their timeout.
    pub held_past_timeout: u64,
}

/// What a connection does once open.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Sends nothing.
    Silent,
    /// Sends half the preface, then nothing.
    HalfPreface,
    /// A whole preface and SETTINGS, answers the server's SETTINGS and
    /// PINGs, and opens no call.
    IdleHttp2,
}

/// How long the server kept one connection open, at most `limit`.
async fn held(target: &str, behaviour: Behaviour, limit: Duration) -> Result<Duration, Error> {
    let mut socket = TcpStream::connect(target).await.map_err(|e| Error::io(format!("connecting to {target}"), e))?;
    let opened = Instant::now();
    match behaviour {
        Behaviour::Silent => {}
        Behaviour::HalfPreface => {
            socket.write_all(&PREFACE[..12]).await.map_err(|e| Error::io("writing half a preface", e))?;
        }
        Behaviour::IdleHttp2 => {
            socket.write_all(PREFACE).await.map_err(|e| Error::io("writing the preface", e))?;
            socket.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.map_err(|e| Error::io("writing SETTINGS", e))?;
        }
    }
    let answer = matches!(behaviour, Behaviour::IdleHttp2);
    let read_frames = async {
        let mut header = [0u8; 9];
        loop {
            if socket.read_exact(&mut header).await.is_err() {
                return;
            }
            let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
            let mut payload = vec![0u8; len.min(1 << 24)];
            if socket.read_exact(&mut payload).await.is_err() {
                return;
            }
            let (kind, flags) = (header[3], header[4]);
            let reply = match (kind, flags & 1) {
                (4, 0) if answer => Some(vec![0, 0, 0, 4, 1, 0, 0, 0, 0]),
                (6, 0) if answer => Some([&[0, 0, 8, 6, 1, 0, 0, 0, 0][..], &payload].concat()),
                _ => None,
            };
            if let Some(reply) = reply
                && socket.write_all(&reply).await.is_err()
            {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(limit, read_frames).await;
    Ok(opened.elapsed())
}

/// Opens `each` connections of every kind at once and waits for the
/// server to close them; none should outlive its timeout by a second.
pub async fn connections(
    target: &str,
    each: u64,
    handshake: Duration,
    idle: Duration,
) -> Result<ConnectionsReport, Error> {
    let addr = target.trim_start_matches("http://").to_owned();
    let kinds = [
        ("silent (no preface)", Behaviour::Silent, handshake),
        ("half a preface, then silent", Behaviour::HalfPreface, idle.max(handshake)),
        ("HTTP/2, PINGs answered, no call", Behaviour::IdleHttp2, idle),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for (k, (_, behaviour, timeout)) in kinds.iter().enumerate() {
        for _ in 0..each {
            let (addr, behaviour, limit) = (addr.clone(), *behaviour, *timeout + Duration::from_secs(5));
            tasks.spawn(async move { (k, held(&addr, behaviour, limit).await) });
        }
    }
    let mut longest = [Duration::ZERO; 3];
    let mut past = [0u64; 3];
    while let Some(joined) = tasks.join_next().await {
        let (k, held) = joined.map_err(|e| Error::violation(format!("a connection task panicked: {e}")))?;
        let held = held?;
        longest[k] = longest[k].max(held);
        past[k] += u64::from(held > kinds[k].2 + Duration::from_secs(1));
    }
    Ok(ConnectionsReport {
        handshake_timeout_s: handshake.as_secs_f64(),
        idle_timeout_s: idle.as_secs_f64(),
        kinds: kinds
            .iter()
            .enumerate()
            .map(|(k, (kind, _, timeout))| ConnectionKind {
                kind: (*kind).to_owned(),
                connections: each,
                timeout_s: timeout.as_secs_f64(),
                longest_held_s: longest[k].as_secs_f64(),
                held_past_timeout: past[k],
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------
// Descriptors exhausted

/// What the descriptor-exhaustion scenario saw.
#[derive(Debug, Clone, Serialize)]
pub struct DescriptorsReport {
    /// The server's limit on open files.
    pub fd_limit: Option<u64>,
    /// Connections opened (more than the server can accept).
    pub connections: u64,
    /// The server's open descriptors meanwhile.
    pub fds_open: Option<u64>,
    /// The server's CPU over the window, in percent of one CPU.
    pub cpu_percent: Option<f64>,
    /// Seconds the CPU was read over.
    pub window_s: f64,
    /// Seconds from closing the connections until the server answered a
    /// call on a new one (`None`: not within 60 s).
    pub recovered_after_s: Option<f64>,
}

/// `utime + stime` of `pid`, in clock ticks (100 a second on Linux).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The `Max open files` soft limit of `pid`.
pub fn fd_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Opens `connections` silent connections, more than the server (run
/// with a low `RLIMIT_NOFILE`) has descriptors for, and reads its CPU over
/// `window`; then closes them and checks it answers again.
pub async fn descriptors(
    target: &str,
    pid: u32,
    connections: u64,
    window: Duration,
) -> Result<DescriptorsReport, Error> {
    within(SCENARIO_TIMEOUT, "the descriptor scenario", async {
        let addr = target.trim_start_matches("http://").to_owned();
        let mut sockets = Vec::new();
        for _ in 0..connections {
            // A connect that does not complete at once meets a full
            // backlog (its SYN is dropped and retried for a minute): the
            // server accepts no more, and enough are open.
            match tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(&addr)).await {
                Ok(Ok(s)) => sockets.push(s),
                Ok(Err(_)) | Err(_) => break,
            }
        }
        // A moment for the server to accept what it can and hit the limit.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let fds_open = std::fs::read_dir(format!("/proc/{pid}/fd")).ok().map(|d| d.count() as u64);
        let before = cpu_ticks(pid);
        let started = Instant::now();
        tokio::time::sleep(window).await;
        let elapsed = started.elapsed();
        let cpu_percent = match (before, cpu_ticks(pid)) {
            (Some(a), Some(b)) => Some((b - a) as f64 / 100.0 / elapsed.as_secs_f64() * 100.0),
            _ => None,
        };
        let opened = sockets.len() as u64;
        drop(sockets);
        let closed = Instant::now();
        let recovered_after_s = async {
            while closed.elapsed() < Duration::from_secs(60) {
                if let Ok(pool) = Pool::connect(target, 1).await
                    && limits(&mut pool.get(0)).await.is_ok()
                {
                    return Some(closed.elapsed().as_secs_f64());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None
        }
        .await;
        Ok(DescriptorsReport {
            fd_limit: fd_limit(pid),
            connections: opened,
            fds_open,
            cpu_percent,
            window_s: elapsed.as_secs_f64(),
            recovered_after_s,
        })
    })
    .await
}
