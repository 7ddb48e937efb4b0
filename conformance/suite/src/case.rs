//! What a case is (a stable id, the rule it checks, the proto element the
//! rule comes from, and an async body), the context a body runs in, and
//! the helpers bodies share: submitting scripts, streaming a job to its
//! end, and running a proptest property against the server.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dome_sdk::contract;
use dome_sdk::pb;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::model::{self, JobFacts, LogSummary, Prediction, Violation};
use crate::script::Script;
use crate::wire::{RpcError, Wire};

/// Why a case body stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A contract rule was broken: what was expected, what came.
    Fail(String),
    /// The case cannot run against this server, and why.
    Skip(String),
}

impl From<RpcError> for Stop {
    fn from(e: RpcError) -> Stop {
        Stop::Fail(format!("unexpected RPC failure: {e}"))
    }
}

impl From<Violation> for Stop {
    fn from(v: Violation) -> Stop {
        Stop::Fail(v.0)
    }
}

/// The result of a case body.
pub type CaseResult = Result<(), Stop>;

/// A boxed case body future.
pub type BoxFuture = Pin<Box<dyn Future<Output = CaseResult> + Send + 'static>>;

/// A case body.
pub type Body = Arc<dyn Fn(Ctx) -> BoxFuture + Send + Sync>;

/// Fails the case with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::case::Stop::Fail(format!($($arg)*)));
        }
    };
}

/// One case of the catalogue.
#[derive(Clone)]
pub struct Case {
    /// Stable snake_case id, `group.name`.
    pub id: String,
    /// The contract rule the case checks, in one line.
    pub rule: String,
    /// The proto element the rule comes from.
    pub proto: String,
    /// The ids of the contract rules the case checks (`[rule: ...]`
    /// markers of the proto, `dome_sdk::contract::RULES`).
    pub rules: Vec<String>,
    /// Whether the case needs the conformance profile.
    pub needs_conformance: bool,
    /// Whether the case must run alone (it fills the server's queue or
    /// workers, which would disturb cases running beside it).
    pub exclusive: bool,
    /// Whether the case is a proptest property (its `--cases` matter).
    pub property: bool,
    /// The body.
    pub body: Body,
}

impl Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("id", &self.id).field("rule", &self.rule).finish_non_exhaustive()
    }
}

impl Case {
    /// A case that needs the conformance profile.
    pub fn new<F, Fut>(id: &str, rule: &str, proto: &str, body: F) -> Case
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CaseResult> + Send + 'static,
    {
        Case {
            id: id.to_string(),
            rule: rule.to_string(),
            proto: proto.to_string(),
            rules: Vec::new(),
            needs_conformance: true,
            exclusive: false,
            property: false,
            body: Arc::new(move |ctx| Box::pin(body(ctx))),
        }
    }

    /// The contract rules the case checks, by id.
    pub fn checks(mut self, rules: &[&str]) -> Case {
        self.rules.extend(rules.iter().map(|r| r.to_string()));
        self
    }

    /// The case does not need the conformance profile.
    pub fn anywhere(mut self) -> Case {
        self.needs_conformance = false;
        self
    }

    /// The case must run alone.
    pub fn exclusive(mut self) -> Case {
        self.exclusive = true;
        self
    }

    /// The case is a property.
    pub fn property(mut self) -> Case {
        self.property = true;
        self
    }
}

/// Everything a case body gets.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The connection.
    pub wire: Wire,
    /// What `ListCapabilities` answered at the start of the run.
    pub caps: Arc<pb::ListCapabilitiesResponse>,
    /// The case id.
    pub case_id: String,
    /// The run's seed (printed; replays the run).
    pub seed: u64,
    /// Proptest cases per property.
    pub cases: u32,
    /// Jobs the case created, cancelled when the case ends so that no job
    /// outlives its case.
    pub jobs: Arc<Mutex<Vec<String>>>,
    /// Set when the case was abandoned (timed out), so that property
    /// runs on a blocking thread stop early.
    pub abandoned: Arc<AtomicBool>,
    /// Generated inputs a property has run against the server (shrinking
    /// steps included); zero for a case that is no property.
    pub scenarios: Arc<AtomicU64>,
    counter: Arc<AtomicU64>,
}

/// A job the case submitted.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// What the suite knows of it.
    pub facts: JobFacts,
    /// The job as `SkillExecute` returned it.
    pub job: pb::Job,
    /// The model's prediction for its script.
    pub prediction: Prediction,
}

/// Per-case seed: the run seed mixed with the case id, so that `--filter`
/// replays a case with the same inputs as the full run.
pub fn case_seed(seed: u64, id: &str) -> [u8; 32] {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    for b in id.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out
}

impl Ctx {
    /// A context for one case.
    pub fn new(wire: Wire, caps: Arc<pb::ListCapabilitiesResponse>, case_id: &str, seed: u64, cases: u32) -> Ctx {
        Ctx {
            wire,
            caps,
            case_id: case_id.to_string(),
            seed,
            cases,
            jobs: Arc::default(),
            abandoned: Arc::default(),
            scenarios: Arc::default(),
            counter: Arc::default(),
        }
    }

    /// A fresh correlation id naming the case, unique within the run.
    pub fn correlation(&self, what: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id: String = format!("{}:{what}:{n}:{:x}", self.case_id, self.seed)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._:-".contains(c) { c } else { '-' })
            .collect();
        id.truncate(128);
        id
    }

    /// The server's limits (all zero when it sent none).
    pub fn limits(&self) -> pb::ServerLimits {
        self.caps.limits.unwrap_or_default()
    }

    /// Whether the server advertises a feature flag.
    pub fn has_feature(&self, flag: &str) -> bool {
        self.caps.features.iter().any(|f| f == flag)
    }

    /// The request that runs `script` on the conformance skill.
    pub fn request(&self, script: &Script, correlation_id: &str) -> pb::SkillExecuteRequest {
        pb::SkillExecuteRequest {
            correlation_id: correlation_id.to_string(),
            skill_id: contract::CONFORMANCE_SKILL_ID.to_string(),
            skill_version: String::new(),
            input_json: script.to_input(),
            ..Default::default()
        }
    }

    /// Remembers a job for the end-of-case cancel.
    pub fn track(&self, job_id: &str) {
        if let Ok(mut jobs) = self.jobs.lock()
            && !jobs.iter().any(|j| j == job_id)
        {
            jobs.push(job_id.to_string());
        }
    }

    /// Sends `req`, retrying `QUEUE_FULL` (after its `RetryInfo` delay, a
    /// few times, because cases running beside this one share the queue).
    pub async fn execute(&self, req: pb::SkillExecuteRequest) -> Result<pb::SkillExecuteResponse, RpcError> {
        let mut tries = 0;
        loop {
            match self.wire.execute(req.clone()).await {
                Err(RpcError::Status(s)) if tries < 20 && crate::wire::check_error(&s, "QUEUE_FULL", None).is_ok() => {
                    tries += 1;
                    let delay = crate::wire::check_error(&s, "QUEUE_FULL", None)
                        .ok()
                        .and_then(|e| e.retry_delay)
                        .unwrap_or(Duration::from_millis(50))
                        .min(Duration::from_secs(1));
                    tokio::time::sleep(delay).await;
                }
                Ok(r) => {
                    if let Some(j) = &r.job {
                        self.track(&j.job_id);
                    }
                    return Ok(r);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Submits `script` and checks the answer: the job is created,
    /// `QUEUED`, echoes the correlation id and runs the conformance skill.
    pub async fn submit(&self, script: &Script) -> Result<Submitted, Stop> {
        let corr = self.correlation("submit");
        let resp = self.execute(self.request(script, &corr)).await?;
        let Some(job) = resp.job.clone() else { return Err(Stop::Fail("SkillExecute answered without a job".into())) };
        let facts = JobFacts {
            job_id: job.job_id.clone(),
            run_id: job.run_id.clone(),
            correlation_id: corr.clone(),
            effective_cancels: vec![],
            cancel_attempted: false,
        };
        ensure!(
            resp.correlation_id == corr,
            "SkillExecute echoed correlation_id {:?}, the request sent {corr:?}",
            resp.correlation_id
        );
        ensure!(resp.created, "SkillExecute without an idempotency key answered created: false");
        ensure!(
            model::is_prefixed_id(&job.job_id, "job-"),
            "job_id {:?} is not `job-` and 32 lowercase hex digits",
            job.job_id
        );
        ensure!(
            model::is_prefixed_id(&job.run_id, "run-"),
            "run_id {:?} is not `run-` and 32 lowercase hex digits",
            job.run_id
        );
        let state = model::check_job_shape(&job, &facts, "SkillExecute's job")?;
        let base_ref = job.provenance.as_ref().map(|p| p.base_ref.as_str()).unwrap_or("");
        ensure!(base_ref == "HEAD", "provenance.base_ref is {base_ref:?}; a request without one runs against HEAD");
        ensure!(
            state == pb::JobState::Queued,
            "SkillExecute returned the job {}, the contract says QUEUED on return",
            state.as_str_name()
        );
        ensure!(
            job.skill_id == contract::CONFORMANCE_SKILL_ID && job.skill_version == contract::CONFORMANCE_SKILL_VERSION,
            "the job runs {}@{}, expected {}@{} (the highest version offered)",
            job.skill_id,
            job.skill_version,
            contract::CONFORMANCE_SKILL_ID,
            contract::CONFORMANCE_SKILL_VERSION
        );
        Ok(Submitted { facts, job, prediction: model::predict(script) })
    }

    /// Streams the job from cursor 0 until the stream closes and checks
    /// the whole log against the model.
    pub async fn finish(&self, job: &Submitted) -> Result<(Vec<pb::JobEvent>, LogSummary), Stop> {
        let events = self.wire.collect(&job.facts.job_id, 0).await?;
        let summary = model::check_log(&events, &job.prediction, &job.facts)
            .map_err(|v| Stop::Fail(format!("{v}\nthe log:\n{}", model::render_log(&events))))?;
        Ok((events, summary))
    }

    /// Cancels a job, recording an effective cancel in `facts`.
    pub async fn cancel(
        &self,
        facts: &mut JobFacts,
        before: Option<pb::JobState>,
    ) -> Result<pb::CancelJobResponse, Stop> {
        let corr = self.correlation("cancel");
        facts.cancel_attempted = true;
        let resp = self.wire.cancel(&facts.job_id, &corr, "conformance").await?;
        ensure!(
            resp.correlation_id == corr,
            "CancelJob echoed correlation_id {:?}, the request sent {corr:?}",
            resp.correlation_id
        );
        model::check_cancel_answer(&resp, before, facts, "CancelJob")?;
        if resp.cancel_requested {
            facts.effective_cancels.push(corr);
        }
        Ok(resp)
    }

    /// Streams until the event with sequence `n` has arrived (the stream
    /// stays open afterwards and is dropped), returning the events.
    pub async fn wait_for_sequence(&self, job_id: &str, n: u64) -> Result<Vec<pb::JobEvent>, Stop> {
        let mut stream = self.wire.stream(job_id, 0).await?;
        let mut events = Vec::new();
        while events.len() < n as usize {
            match stream.next().await? {
                Some(e) => events.push(e),
                None => {
                    return Err(Stop::Fail(format!(
                        "the stream of {job_id} closed after {} events, before event {n}:\n{}",
                        events.len(),
                        model::render_log(&events)
                    )));
                }
            }
        }
        Ok(events)
    }

    /// Runs a proptest property: `cases` inputs drawn from the strategy
    /// `make` builds (on the property's own thread, since strategies need
    /// not be `Send`) with
    /// the case's seed, each checked by `body` against the server; a
    /// failure is shrunk and reported with its minimal input, rendered by
    /// `render`, and the seed that replays it.
    pub async fn property<M, S, F, Fut>(&self, make: M, render: fn(&S::Value) -> String, body: F) -> CaseResult
    where
        M: FnOnce() -> S + Send + 'static,
        S: Strategy,
        S::Value: Debug + 'static,
        F: Fn(Ctx, S::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CaseResult> + Send + 'static,
    {
        let seed = case_seed(self.seed, &self.case_id);
        run_property(self.clone(), seed, self.cases, self.abandoned.clone(), self.scenarios.clone(), make, render, body)
            .await
    }
}

/// Runs a proptest property for a case of either mode: `cases` inputs
/// drawn from the strategy `make` builds (on the property's own thread,
/// since strategies need not be `Send`) with `seed`, each checked by
/// `body`; a failure is shrunk and reported with its minimal input,
/// rendered by `render`. Setting `abandoned` stops it early; `scenarios`
/// counts the inputs run (shrinking steps included).
#[allow(clippy::too_many_arguments)]
pub async fn run_property<C, M, S, F, Fut>(
    ctx: C,
    seed: [u8; 32],
    cases: u32,
    abandoned: Arc<AtomicBool>,
    scenarios: Arc<AtomicU64>,
    make: M,
    render: fn(&S::Value) -> String,
    body: F,
) -> CaseResult
where
    C: Clone + Send + 'static,
    M: FnOnce() -> S + Send + 'static,
    S: Strategy,
    S::Value: Debug + 'static,
    F: Fn(C, S::Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CaseResult> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let config = Config {
        cases: cases.max(1),
        failure_persistence: None,
        max_shrink_iters: 200,
        max_shrink_time: 60_000,
        max_global_rejects: 10_000,
        ..Config::default()
    };
    let skipped: Arc<Mutex<Option<String>>> = Arc::default();
    let skip_slot = skipped.clone();
    let result = tokio::task::spawn_blocking(move || {
        let strategy = make();
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let outcome = runner.run(&strategy, |value| {
            if abandoned.load(Ordering::Relaxed) {
                return Err(TestCaseError::fail("abandoned: the case timed out"));
            }
            scenarios.fetch_add(1, Ordering::Relaxed);
            match handle.block_on(body(ctx.clone(), value)) {
                Ok(()) => Ok(()),
                Err(Stop::Fail(m)) => Err(TestCaseError::fail(m)),
                Err(Stop::Skip(m)) => {
                    if let Ok(mut s) = skip_slot.lock() {
                        s.get_or_insert(m);
                    }
                    Ok(())
                }
            }
        });
        match outcome {
            Ok(()) => Ok(()),
            Err(TestError::Abort(reason)) => Err(Stop::Fail(format!("the property was aborted: {reason}"))),
            Err(TestError::Fail(reason, value)) => {
                Err(Stop::Fail(format!("{reason}\nminimal failing input (shrunk):\n{}", render(&value))))
            }
        }
    })
    .await
    .map_err(|e| Stop::Fail(format!("the property's thread failed: {e}")))?;
    if let Some(reason) = skipped.lock().ok().and_then(|s| s.clone()) {
        return Err(Stop::Skip(reason));
    }
    result
}

/// Cancels every job a case created, so that no case leaves a parked job
/// behind, then makes sure each one ended: returns the jobs that did not
/// reach a terminal state (their streams did not close). Cancel errors are
/// ignored here: the cases judge cancellation themselves.
pub async fn cleanup(ctx: &Ctx) -> Vec<String> {
    let jobs = ctx.jobs.lock().map(|j| j.clone()).unwrap_or_default();
    for job in &jobs {
        let _ = ctx.wire.cancel(job, &ctx.correlation("cleanup"), "end of conformance case").await;
    }
    let mut stuck = Vec::new();
    for job in jobs {
        if !ended(ctx, &job).await {
            stuck.push(job);
        }
    }
    stuck
}

/// Whether a job reaches its end: a terminal read, a stream from near
/// its head that closes with OK (which happens only after the terminal
/// event), or `JOB_NOT_FOUND` (only ended jobs leave retention).
async fn ended(ctx: &Ctx, job_id: &str) -> bool {
    for _ in 0..3 {
        let resp = match ctx.wire.status(job_id, "").await {
            Ok(resp) => resp,
            // Only ended jobs leave retention.
            Err(RpcError::Status(s)) => return crate::wire::check_error(&s, "JOB_NOT_FOUND", None).is_ok(),
            Err(RpcError::Timeout { .. }) => return false,
        };
        let job = resp.job.unwrap_or_default();
        if model::is_terminal(pb::JobState::try_from(job.state).unwrap_or_default()) {
            return true;
        }
        match ctx.wire.collect(job_id, job.last_sequence.saturating_sub(1)).await {
            Ok(_) => return true,
            // The cursor may have left retention meanwhile: read again.
            Err(RpcError::Status(_)) => continue,
            Err(RpcError::Timeout { .. }) => return false,
        }
    }
    false
}
