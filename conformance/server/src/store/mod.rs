//! The server's whole in-memory state, and the contract's rules over it:
//! admission (idempotency keys, the queue's capacity, retention), cancels,
//! the decisions recorded for runs, and shutdown.
//!
//! The rooms beside this one: [`job`] (one job and the only ways to change
//! it), [`seal`] (an ended job encoded once), [`sharded`] (the tables'
//! shards) and [`trim`] (giving memory back through the program's hook).
//! The workers that run jobs sit outside the store, in [`crate::worker`].
//!
//! Locks: a submission holds the shard of its idempotency key (when it
//! has one) while it takes the retention order's lock and then, one at a
//! time, a shard of the index and of the runs; everything else takes a
//! job's lock, a shard, the order's lock or the queue's lock alone, or the
//! order's lock before a job's. Jobs pushed out of retention leave the
//! index, the keys and the runs after the submission's locks are released:
//! those are cold lookups, and no other submission waits for them.
//!
//! Memory is bounded in bytes as well as in counts: every job counts what
//! it holds in the store's ledger ([`job`]), and when the ledger passes
//! `max_retained_bytes` the oldest ended jobs leave retention
//! ([`Store::relieve`]), their decisions with them. A job that leaves is
//! released at once, under the order's lock: its events and record are
//! freed even while streams of it are still open (they end with
//! `JOB_NOT_FOUND`).

mod job;
mod seal;
mod sharded;
mod trim;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use dome_sdk::pb::{self, JobState, job_event::Payload};
use prost::Message;
use prost::bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

#[cfg(test)]
pub(crate) use self::job::OUTPUT_TOO_LARGE;
pub(crate) use self::job::{DECISION_OVERHEAD, Ending, JobEntry, LoggedEvent, Released};
use self::sharded::Sharded;
use self::trim::Trim;
use crate::config::{Limits, limit};
use crate::errors::ApiError;
use crate::ids::new_id;
use crate::mutants::{Faults, Mutant};
use crate::skills::{SkillKind, canonical_json};

/// Locks a mutex, riding over poisoning: every critical section leaves the
/// data consistent before anything in it could panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The wall-clock time now, as a protobuf timestamp.
pub(crate) fn now() -> dome_sdk::pb::Timestamp {
    dome_sdk::pb::Timestamp::from(SystemTime::now())
}

/// The total bound of what streams read ahead, unless the server sets
/// its own (`Config::max_stream_read_ahead_bytes`).
const DEFAULT_READ_AHEAD_BYTES: u64 = 64 * 1024 * 1024;

/// The server's state.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) limits: Limits,
    pub(crate) faults: Faults,
    /// Every retained job, oldest first.
    order: Mutex<VecDeque<Arc<JobEntry>>>,
    /// Every retained job by id.
    index: Sharded<Arc<JobEntry>>,
    /// The jobs idempotency keys name.
    idempotency: Sharded<Idempotent>,
    /// The runs with retained jobs.
    runs: Sharded<RunRecord>,
    /// The bytes every retained job holds, together.
    ledger: Arc<AtomicU64>,
    /// Numbers the decisions in the order they are recorded.
    decisions_recorded: AtomicU64,
    /// Jobs waiting for a worker (`QUEUED` and not yet started).
    queued: AtomicU64,
    /// Set once the server starts shutting down.
    shutdown: watch::Sender<bool>,
    /// Giving memory back after evictions.
    trim: Arc<Trim>,
    /// What every stream has read ahead of the transport, together.
    pub(crate) read_ahead: Arc<ReadAhead>,
}

/// The bytes of events all streams have read ahead of the transport, and
/// their total bound.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    used: AtomicU64,
    max: Option<u64>,
}

impl ReadAhead {
    /// Whether a stream may read one more event ahead: under the bound.
    /// (Several streams may pass the check at once, so the total can pass
    /// the bound by one event per thread reading.)
    pub(crate) fn room(&self) -> bool {
        self.max.is_none_or(|max| self.used.load(Ordering::Relaxed) < max)
    }

    /// Counts `bytes` read ahead.
    pub(crate) fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts `bytes` handed to the transport (or dropped).
    pub(crate) fn sub(&self, bytes: usize) {
        self.used.fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    /// The bytes read ahead now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Idempotent {
    job: Arc<JobEntry>,
    created: Instant,
}

/// A run with retained jobs: how many, and those of them that recorded
/// a decision (each job keeps its own decisions, which leave with it).
#[derive(Debug, Default)]
struct RunRecord {
    jobs: usize,
    deciders: Vec<Arc<JobEntry>>,
}

/// A job `SkillExecute` answers with: the new one, or the one its
/// idempotency key names.
#[derive(Debug)]
pub(crate) struct Submitted {
    /// The job.
    pub(crate) entry: Arc<JobEntry>,
    /// The job as the call found or made it, encoded.
    pub(crate) job: Bytes,
    /// Whether the call created it.
    pub(crate) created: bool,
}

/// What `SkillExecute` asks for, once checked.
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) correlation_id: String,
    pub(crate) skill_id: String,
    pub(crate) skill_version: String,
    pub(crate) requested_version: String,
    pub(crate) kind: SkillKind,
    pub(crate) input: Value,
    pub(crate) idempotency_key: String,
    pub(crate) labels: HashMap<String, String>,
    pub(crate) run_id: String,
    pub(crate) base_ref: String,
}

#[cfg(test)]
impl Submission {
    /// A `dome.conformance.script` job of `input`, with no idempotency key,
    /// labels or run: what the unit tests of the runner and the streams
    /// submit.
    pub(crate) fn script(input: Value) -> Self {
        Submission {
            correlation_id: "corr-test".to_owned(),
            skill_id: "dome.conformance.script".to_owned(),
            skill_version: "1.0.0".to_owned(),
            requested_version: String::new(),
            kind: SkillKind::Script,
            input,
            idempotency_key: String::new(),
            labels: HashMap::new(),
            run_id: String::new(),
            base_ref: String::new(),
        }
    }
}

impl Submission {
    /// The digest of everything that makes two requests "the same" for an
    /// idempotency key.
    fn fingerprint(&self, canonical_input: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(self.skill_id.as_bytes());
        field(self.requested_version.as_bytes());
        field(canonical_input.as_bytes());
        field(self.run_id.as_bytes());
        field(self.base_ref.as_bytes());
        let mut labels: Vec<(&String, &String)> = self.labels.iter().collect();
        labels.sort();
        for (k, v) in labels {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        h.finalize().into()
    }
}

impl Store {
    /// An empty store; `memory_trim` returns free memory to the system
    /// after evictions (see [`trim`]).
    pub(crate) fn new(limits: Limits, faults: Faults, memory_trim: Option<fn()>) -> Self {
        Self {
            limits,
            faults,
            order: Mutex::default(),
            index: Sharded::new(),
            idempotency: Sharded::new(),
            runs: Sharded::new(),
            ledger: Arc::new(AtomicU64::new(0)),
            decisions_recorded: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            shutdown: watch::Sender::new(false),
            trim: Arc::new(Trim::new(memory_trim)),
            read_ahead: Arc::new(ReadAhead { used: AtomicU64::new(0), max: Some(DEFAULT_READ_AHEAD_BYTES) }),
        }
    }

    /// The store with `max` as the total bound of what streams read ahead
    /// (`None`: no total bound).
    pub(crate) fn with_read_ahead(mut self, max: Option<u64>) -> Self {
        self.read_ahead = Arc::new(ReadAhead { used: AtomicU64::new(0), max });
        self
    }

    /// The store with `trim` as its way to give memory back (tests trim
    /// after a few bytes, through a hook of their own).
    #[cfg(test)]
    fn with_trim(mut self, trim: Trim) -> Self {
        self.trim = Arc::new(trim);
        self
    }

    /// A receiver of the shutdown flag.
    pub(crate) fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Whether the server is shutting down.
    pub(crate) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A retained job.
    pub(crate) fn job(&self, job_id: &str) -> Result<Arc<JobEntry>, ApiError> {
        let found = self.index.shard(job_id).get(job_id).filter(|j| !j.is_released()).cloned();
        found.ok_or_else(|| ApiError::job_not_found(job_id))
    }

    /// The bytes every retained job holds, together.
    pub(crate) fn retained_bytes(&self) -> u64 {
        self.ledger.load(Ordering::Relaxed)
    }

    /// Whether the retained bytes are past `max_retained_bytes`.
    fn over_budget(&self) -> bool {
        limit(self.limits.max_retained_bytes).is_some_and(|max| self.retained_bytes() > max)
    }

    /// Brings the retained bytes back within `max_retained_bytes`: first
    /// by evicting the oldest ended jobs, then, when none is left, by
    /// dropping the oldest events of `appending`, the live job whose
    /// appends took the server past it. Called by the workers after each
    /// step (and each chunk of a `bulk` step).
    pub(crate) fn relieve(&self, appending: &JobEntry) {
        if !self.over_budget() {
            return;
        }
        let mut released = Vec::new();
        {
            let mut order = lock(&self.order);
            self.evict_while(&mut order, &mut released, || self.over_budget());
        }
        self.forget_all(released);
        if self.over_budget() {
            appending.shed_events(|| self.over_budget());
        }
    }

    /// Moves the oldest ended jobs out of `order` while `over()` holds,
    /// releasing each at once. Returns false when `over()` still holds
    /// and no ended job is left.
    fn evict_while(
        &self,
        order: &mut VecDeque<Arc<JobEntry>>,
        released: &mut Vec<(Arc<JobEntry>, Released)>,
        over: impl Fn() -> bool,
    ) -> bool {
        let mut from = 0;
        while over() {
            let Some(pos) = order.iter().skip(from).position(|j| j.lock().terminal) else {
                return false;
            };
            from += pos;
            if let Some(gone) = order.remove(from)
                && let Some(held) = gone.release()
            {
                released.push((gone, held));
            }
        }
        true
    }

    /// Removes released jobs from the other tables and frees what they
    /// held; called with no lock held.
    fn forget_all(&self, released: Vec<(Arc<JobEntry>, Released)>) {
        for (gone, held) in released {
            self.forget(&gone);
            self.trim.note_freed(held.bytes);
        }
    }

    /// Creates a job, or finds the one its idempotency key names. Returns
    /// the job and whether it was created; a created job is `QUEUED`, for
    /// the caller to hand to the workers.
    ///
    /// The new job is built, and jobs pushed out of retention leave the
    /// tables and are freed, outside the locks the admission holds, so
    /// concurrent calls wait on each other as little as possible.
    pub(crate) fn submit(&self, sub: Submission) -> Result<Submitted, ApiError> {
        let canonical_input = canonical_json(&sub.input);
        if let Some(max) = limit(self.limits.max_job_data_bytes)
            && canonical_input.len() as u64 > max
        {
            return Err(ApiError::limit_exceeded("max_job_data_bytes", max));
        }
        let fingerprint = sub.fingerprint(&canonical_input);
        let (entry, job) = JobEntry::create(
            sub,
            fingerprint,
            canonical_input,
            &self.limits,
            self.faults,
            self.ledger.clone(),
            self.trim.clone(),
        );
        let mut evicted = Vec::new();
        let result = self.admit(&entry, &mut evicted);
        // The evicted jobs are freed here, with no lock held.
        self.forget_all(evicted);
        Ok(match result? {
            Some(existing) => Submitted {
                job: existing.encoded().ok_or_else(|| ApiError::job_not_found(&existing.job_id))?,
                entry: existing,
                created: false,
            },
            None => Submitted { entry, job, created: true },
        })
    }

    /// Enters a new job into the tables, or finds the job its idempotency
    /// key already names (and `entry` is not entered). Jobs pushed out of
    /// retention to make room are moved to `evicted`, to leave the other
    /// tables once the locks are released ([`Store::forget`]).
    fn admit(
        &self,
        entry: &Arc<JobEntry>,
        evicted: &mut Vec<(Arc<JobEntry>, Released)>,
    ) -> Result<Option<Arc<JobEntry>>, ApiError> {
        let idempotency_key: &str = &entry.idempotency_key;
        // The key's shard stays locked until the job is entered, so two
        // calls with one key cannot both create a job.
        let mut keys = (!idempotency_key.is_empty()).then(|| self.idempotency.shard(idempotency_key));
        if let Some(keys) = &keys
            && !self.faults.is(Mutant::DuplicateIdempotentJob)
        {
            let window = self.limits.idempotency_window;
            let live = keys
                .get(idempotency_key)
                .filter(|e| (window.is_zero() || e.created.elapsed() < window) && !e.job.is_released())
                .map(|e| e.job.clone());
            if let Some(job) = live {
                if job.fingerprint == entry.fingerprint {
                    return Ok(Some(job));
                }
                return Err(ApiError::idempotency_key_conflict(idempotency_key, &job.job_id));
            }
        }
        // A place in the queue is taken before the job is retained; it is
        // counted from now on, and a cancel while queued gives it back.
        let cap = limit(self.limits.queue_capacity).unwrap_or(u64::MAX);
        if self.queued.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| (q < cap).then_some(q + 1)).is_err() {
            return Err(ApiError::queue_full(cap));
        }
        if let Err(e) = self.retain(entry, evicted) {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(e);
        }
        self.index.shard(&entry.job_id).insert(Arc::clone(&entry.job_id), entry.clone());
        self.runs.shard(&entry.run_id).entry(Arc::clone(&entry.run_id)).or_default().jobs += 1;
        if let Some(keys) = keys.as_mut() {
            keys.insert(Arc::clone(&entry.idempotency_key), Idempotent { job: entry.clone(), created: Instant::now() });
        }
        Ok(None)
    }

    /// Appends `entry` to the retention order, first evicting the oldest
    /// ended jobs (released, and moved to `evicted`) while the order is
    /// full or the retained bytes, the new job's included, are past their
    /// budget.
    fn retain(&self, entry: &Arc<JobEntry>, evicted: &mut Vec<(Arc<JobEntry>, Released)>) -> Result<(), ApiError> {
        let mut order = lock(&self.order);
        if let Some(max) = limit(self.limits.max_jobs_retained) {
            while order.len() as u64 >= max {
                let Some(pos) = order.iter().position(|j| j.lock().terminal) else {
                    return Err(ApiError::limit_exceeded("max_jobs_retained", max));
                };
                if let Some(gone) = order.remove(pos)
                    && let Some(held) = gone.release()
                {
                    evicted.push((gone, held));
                }
            }
        }
        if !self.evict_while(&mut order, evicted, || self.over_budget()) {
            return Err(ApiError::limit_exceeded("max_retained_bytes", self.limits.max_retained_bytes));
        }
        order.push_back(entry.clone());
        Ok(())
    }

    /// Removes a job pushed out of retention from the index, the keys and
    /// its run; called with no lock held.
    fn forget(&self, entry: &Arc<JobEntry>) {
        self.index.shard(&entry.job_id).remove(&entry.job_id);
        // Removed by key, not by a scan of every key. A key that names
        // another job by now (its window passed and it was reused) goes
        // back.
        let key: &str = &entry.idempotency_key;
        if !key.is_empty() {
            let mut keys = self.idempotency.shard(key);
            if let Some((key, kept)) = keys.remove_entry(key)
                && !Arc::ptr_eq(&kept.job, entry)
            {
                keys.insert(key, kept);
            }
        }
        let mut runs = self.runs.shard(&entry.run_id);
        if let Some(run) = runs.get_mut(&entry.run_id) {
            run.deciders.retain(|j| !Arc::ptr_eq(j, entry));
            run.jobs = run.jobs.saturating_sub(1);
            if run.jobs == 0 {
                runs.remove(&entry.run_id);
            }
        }
    }

    /// Cancels a job: returns it after the call, encoded, and whether this
    /// call's cancel took effect.
    pub(crate) fn cancel(
        &self,
        entry: &JobEntry,
        correlation_id: &str,
        reason: &str,
    ) -> Result<(Bytes, bool), ApiError> {
        let mut data = entry.lock();
        let state = data.state;
        if !matches!(state, JobState::Queued | JobState::Running) || self.faults.is(Mutant::CancelIgnored) {
            let job = data.encoded().ok_or_else(|| ApiError::job_not_found(&entry.job_id))?;
            return Ok((job, self.faults.is(Mutant::CancelIgnored)));
        }
        data.set_state(JobState::Cancelling);
        entry.append(
            &mut data,
            correlation_id,
            &Payload::CancelRequested(pb::JobCancelRequested {
                reason: reason.to_owned(),
                previous_state: state as i32,
            }),
        );
        entry.flag_cancel();
        if state == JobState::Queued {
            // Never started: it ends at once, and leaves the queue's count.
            entry.finish(&mut data, Ending::Cancelled);
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
        Ok((data.encoded().unwrap_or_default(), true))
    }

    /// Records a gate decision of `job`, which keeps it (and counts its
    /// bytes) until it leaves retention.
    pub(crate) fn record_gate(&self, job: &Arc<JobEntry>, decision: pb::GateDecision) {
        let order = self.decisions_recorded.fetch_add(1, Ordering::Relaxed);
        let cost = decision.encoded_len() as u64 + DECISION_OVERHEAD;
        let first = {
            let mut data = job.lock();
            let first = data.gate.is_none() && data.promotion.is_none();
            if let Some((_, old)) = data.gate.replace((order, decision)) {
                job.refund(&mut data, old.encoded_len() as u64 + DECISION_OVERHEAD);
            }
            job.charge(&mut data, cost);
            first
        };
        if first {
            self.note_decider(job);
        }
    }

    /// Records a promotion decision of `job`, kept as a gate decision is.
    pub(crate) fn record_promotion(&self, job: &Arc<JobEntry>, decision: pb::PromotionDecision) {
        let order = self.decisions_recorded.fetch_add(1, Ordering::Relaxed);
        let cost = decision.encoded_len() as u64 + DECISION_OVERHEAD;
        let first = {
            let mut data = job.lock();
            let first = data.gate.is_none() && data.promotion.is_none();
            if let Some((_, old)) = data.promotion.replace((order, decision)) {
                job.refund(&mut data, old.encoded_len() as u64 + DECISION_OVERHEAD);
            }
            job.charge(&mut data, cost);
            first
        };
        if first {
            self.note_decider(job);
        }
    }

    /// Lists `job` among the jobs of its run that recorded a decision.
    fn note_decider(&self, job: &Arc<JobEntry>) {
        if let Some(run) = self.runs.shard(&job.run_id).get_mut(&job.run_id) {
            run.deciders.push(job.clone());
        }
    }

    /// The latest decision `pick` finds among the run's retained jobs
    /// (only the job `task_id` when it is not empty).
    fn latest<D>(&self, run_id: &str, task_id: &str, pick: impl Fn(&job::JobData) -> Option<(u64, D)>) -> Option<D> {
        let deciders: Vec<Arc<JobEntry>> = self.runs.shard(run_id).get(run_id)?.deciders.clone();
        deciders
            .iter()
            .filter(|j| task_id.is_empty() || *j.job_id == *task_id)
            .filter_map(|j| pick(&j.lock()))
            .max_by_key(|(order, _)| *order)
            .map(|(_, d)| d)
    }

    /// The gate decision of a run (and task, when not empty).
    pub(crate) fn gate_decision(&self, run_id: &str, task_id: &str) -> Option<pb::GateDecision> {
        self.latest(run_id, task_id, |data| data.gate.clone())
    }

    /// The promotion decision recorded last for a run.
    pub(crate) fn promotion_decision(&self, run_id: &str) -> Option<pb::PromotionDecision> {
        self.latest(run_id, "", |data| data.promotion.clone())
    }

    /// Counts a queued job leaving the queue to start.
    pub(crate) fn left_queue(&self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    /// Starts shutting down: new calls and open streams see it, every job
    /// not yet terminal is cancelled. Returns the jobs to wait for.
    pub(crate) fn begin_shutdown(&self) -> Vec<Arc<JobEntry>> {
        self.shutdown.send_replace(true);
        let jobs: Vec<Arc<JobEntry>> = lock(&self.order).iter().cloned().collect();
        let corr = new_id("corr-");
        let mut open = Vec::new();
        for job in jobs {
            // A job released meanwhile has ended: nothing to cancel.
            let _ = self.cancel(&job, &corr, "the server is shutting down");
            if !job.lock().terminal {
                open.push(job);
            }
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    pub(crate) fn submission(key: &str) -> Submission {
        Submission {
            correlation_id: "corr-test".to_owned(),
            skill_id: "dome.echo".to_owned(),
            skill_version: "1.0.0".to_owned(),
            requested_version: String::new(),
            kind: SkillKind::Echo,
            input: serde_json::json!({ "message": "hi" }),
            idempotency_key: key.to_owned(),
            labels: HashMap::new(),
            run_id: String::new(),
            base_ref: String::new(),
        }
    }

    /// Submits a job and ends it by a cancel while it is still queued (no
    /// worker runs in these tests).
    fn submit_and_end(store: &Store, key: &str) -> Result<Arc<JobEntry>, ApiError> {
        let submitted = store.submit(submission(key))?;
        assert!(submitted.created, "a fresh submission creates its job");
        let entry = store.job(&submitted.entry.job_id)?;
        store.cancel(&entry, "corr-test", "ended by the test")?;
        assert!(entry.lock().terminal, "a queued job ends at its cancel");
        Ok(entry)
    }

    /// Evicting a job whose idempotency key has since been reused (its
    /// window passed) leaves the key naming the newer job.
    #[test]
    fn eviction_keeps_a_key_that_names_a_newer_job() -> Result<(), ApiError> {
        let limits = Limits { idempotency_window: Duration::from_nanos(1), max_jobs_retained: 2, ..Limits::default() };
        let store = Store::new(limits, Faults::default(), None);
        let older = submit_and_end(&store, "reused-key")?;
        let newer = submit_and_end(&store, "reused-key")?;
        assert!(!Arc::ptr_eq(&older, &newer), "the window passed, so the key made a new job");
        // A third job pushes the oldest, `older`, out of retention.
        submit_and_end(&store, "")?;
        assert!(store.job(&older.job_id).is_err(), "the oldest job was evicted");
        let named = store.idempotency.shard("reused-key").get("reused-key").map(|e| e.job.clone());
        assert!(named.is_some_and(|job| Arc::ptr_eq(&job, &newer)), "the key still names the newer job");
        Ok(())
    }

    /// Evicting the job a key names frees the key.
    #[test]
    fn eviction_frees_the_key_of_the_evicted_job() -> Result<(), ApiError> {
        let limits = Limits { max_jobs_retained: 1, ..Limits::default() };
        let store = Store::new(limits, Faults::default(), None);
        submit_and_end(&store, "only-key")?;
        submit_and_end(&store, "")?;
        assert!(!store.idempotency.shard("only-key").contains_key("only-key"));
        Ok(())
    }

    /// A job that appends events as a worker would, in one call.
    fn append_progress(entry: &JobEntry, count: u64) {
        let mut data = entry.lock();
        for i in 0..count {
            entry.append_unannounced(
                &mut data,
                "corr-test",
                &Payload::Progress(pb::JobProgress { percent: (i % 100) as u32, message: String::new() }),
            );
        }
        entry.announce(&data);
    }

    /// The sum of what every retained job says it holds.
    fn counted(store: &Store) -> u64 {
        lock(&store.order).iter().map(|j| j.lock().bytes).sum()
    }

    /// A job's events are kept within `max_event_bytes_retained_per_job`:
    /// the oldest go, the first retained sequence moves past them, and the
    /// store's ledger follows what the job holds.
    #[test]
    fn a_jobs_events_are_kept_within_their_byte_budget() -> Result<(), ApiError> {
        let limits = Limits { max_event_bytes_retained_per_job: 64 * 1024, ..Limits::default() };
        let store = Store::new(limits, Faults::default(), None);
        let entry = store.submit(submission(""))?.entry;
        append_progress(&entry, 5_000);
        let data = entry.lock();
        let log_bytes: u64 = data.log.iter().map(|e| job::event_cost(e.message.len())).sum();
        assert!(log_bytes <= 64 * 1024, "{log_bytes} bytes of events retained");
        assert!(data.first_retained > 1, "the oldest events were dropped");
        assert_eq!(data.log.back().map(|e| e.sequence), Some(entry.head()), "the newest event is kept");
        drop(data);
        assert_eq!(store.retained_bytes(), counted(&store), "the ledger is the sum of what jobs hold");
        Ok(())
    }

    /// Past `max_retained_bytes`, the oldest ended jobs leave first, with
    /// their decisions; the ledger stays the sum of what the retained jobs
    /// hold, and stays within the budget.
    #[test]
    fn the_oldest_ended_jobs_leave_when_the_retained_bytes_pass_the_budget() -> Result<(), ApiError> {
        let budget = 512 * 1024;
        let store = Store::new(Limits { max_retained_bytes: budget, ..Limits::default() }, Faults::default(), None);
        let first = submit_and_end(&store, "")?;
        store.record_gate(
            &first,
            pb::GateDecision {
                run_id: first.run_id.to_string(),
                task_id: first.job_id.to_string(),
                ..Default::default()
            },
        );
        assert!(store.gate_decision(&first.run_id, &first.job_id).is_some(), "recorded");
        let mut ended = vec![first.clone()];
        for _ in 0..40 {
            let entry = store.submit(submission(""))?.entry;
            append_progress(&entry, 100);
            store.cancel(&entry, "corr-test", "ended by the test")?;
            store.relieve(&entry);
            ended.push(entry);
            assert!(store.retained_bytes() <= budget, "{} bytes retained", store.retained_bytes());
            assert_eq!(store.retained_bytes(), counted(&store));
        }
        assert!(store.job(&first.job_id).is_err(), "the oldest job left retention");
        assert!(first.is_released() && first.encoded().is_none(), "and holds nothing");
        assert_eq!(first.lock().bytes, 0);
        assert!(store.gate_decision(&first.run_id, &first.job_id).is_none(), "its decision left with it");
        assert!(store.gate_decision(&first.run_id, "").is_none(), "and is no longer the run's last");
        let newest = ended.last().map(|j| j.job_id.clone()).unwrap_or_default();
        assert!(store.job(&newest).is_ok(), "the newest job is retained");
        Ok(())
    }

    /// A job whose decision was recorded last leaves: the run's last
    /// decision is then the one its retained jobs recorded last.
    #[test]
    fn a_runs_last_decision_is_the_last_of_its_retained_jobs() -> Result<(), ApiError> {
        let store = Store::new(Limits { max_jobs_retained: 2, ..Limits::default() }, Faults::default(), None);
        let in_run = || Submission { run_id: "run-shared".to_owned(), ..submission("") };
        let older = store.submit(in_run())?.entry;
        let newer = store.submit(in_run())?.entry;
        let gate = |job: &Arc<JobEntry>| pb::GateDecision {
            run_id: "run-shared".to_owned(),
            task_id: job.job_id.to_string(),
            ..Default::default()
        };
        store.record_gate(&newer, gate(&newer));
        store.record_gate(&older, gate(&older));
        let last = store.gate_decision("run-shared", "").map(|d| d.task_id);
        assert_eq!(last.as_deref(), Some(&*older.job_id), "recorded last");
        store.cancel(&older, "corr-test", "ended")?;
        store.submit(submission(""))?;
        assert!(older.is_released(), "the older job left");
        let last = store.gate_decision("run-shared", "").map(|d| d.task_id);
        assert_eq!(last.as_deref(), Some(&*newer.job_id), "the retained job's decision is the run's last now");
        Ok(())
    }

    /// When only live jobs hold the retained bytes, a new job is refused
    /// with the limit named, and a live job appending sheds its own oldest
    /// events to stay within the budget.
    #[test]
    fn live_jobs_over_the_budget_refuse_new_jobs_and_shed_their_oldest_events() -> Result<(), ApiError> {
        let budget = 256 * 1024;
        let store = Store::new(Limits { max_retained_bytes: budget, ..Limits::default() }, Faults::default(), None);
        let live = store.submit(submission(""))?.entry;
        append_progress(&live, 3_000);
        assert!(store.retained_bytes() > budget, "the live job alone is past the budget");
        let refused = store.submit(submission("")).err().map(|e| e.reason());
        assert_eq!(refused, Some(dome_sdk::pb::ErrorReason::LimitExceeded));
        store.relieve(&live);
        assert!(store.retained_bytes() <= budget, "{} bytes retained", store.retained_bytes());
        assert!(live.lock().first_retained > 1, "it shed its oldest events");
        assert!(!live.is_released(), "a live job is never evicted");
        assert_eq!(store.retained_bytes(), counted(&store));
        Ok(())
    }

    /// An input over `max_job_data_bytes` is refused before a job exists;
    /// an output over it ends the job FAILED with its reason code.
    #[test]
    fn job_data_over_its_budget_is_refused_or_fails_the_job() -> Result<(), ApiError> {
        let store = Store::new(Limits { max_job_data_bytes: 64, ..Limits::default() }, Faults::default(), None);
        let big = Submission { input: serde_json::json!({ "message": "x".repeat(100) }), ..submission("") };
        let refused = store.submit(big).err().map(|e| e.reason());
        assert_eq!(refused, Some(dome_sdk::pb::ErrorReason::LimitExceeded));
        assert_eq!(store.retained_bytes(), 0, "a refused job holds nothing");
        let entry = store.submit(submission(""))?.entry;
        assert!(entry.start());
        let mut data = entry.lock();
        entry.finish(&mut data, Ending::Succeeded(format!("\"{}\"", "y".repeat(100))));
        let job = pb::Job::decode(data.encoded().unwrap_or_default()).map_err(|e| ApiError::internal(e.to_string()))?;
        let outcome = job.outcome.unwrap_or_default();
        assert_eq!(job.state, JobState::Failed as i32);
        assert_eq!(outcome.reason_code, OUTPUT_TOO_LARGE);
        assert!(outcome.output_json.is_empty());
        Ok(())
    }

    /// Calls of [`counting_trim`].
    static TRIMS: AtomicU64 = AtomicU64::new(0);
    /// Notified by each call of [`counting_trim`].
    static TRIMMED: std::sync::LazyLock<tokio::sync::Notify> = std::sync::LazyLock::new(tokio::sync::Notify::new);

    /// A trim hook that counts its calls.
    fn counting_trim() {
        TRIMS.fetch_add(1, Ordering::SeqCst);
        TRIMMED.notify_one();
    }

    /// Waits for the next call of [`counting_trim`] (at most 10 s).
    async fn next_trim() -> Result<u64, ApiError> {
        tokio::time::timeout(Duration::from_secs(10), TRIMMED.notified())
            .await
            .map_err(|_| ApiError::internal("no trim within 10 s"))?;
        Ok(TRIMS.load(Ordering::SeqCst))
    }

    /// A job evicted while a stream is open on it asks for a trim when it
    /// leaves, and again when its last stream goes: what the stream held
    /// is freed only then, and would otherwise stay with the allocator.
    #[tokio::test]
    async fn a_job_evicted_under_a_stream_asks_for_a_trim_again_when_the_stream_goes() -> Result<(), ApiError> {
        let limits = Limits { max_jobs_retained: 1, ..Limits::default() };
        let store = Arc::new(
            Store::new(limits, Faults::default(), None).with_trim(Trim::with_threshold(Some(counting_trim), 1)),
        );
        let first = submit_and_end(&store, "")?;
        let stream = crate::stream::open(store.clone(), first.clone(), 0, "corr-test".to_owned())?;
        drop(first);
        // A second job pushes the first out of retention.
        submit_and_end(&store, "")?;
        assert_eq!(next_trim().await?, 1, "the eviction asked for a trim");
        drop(stream);
        assert_eq!(next_trim().await?, 2, "the last stream of the evicted job asked again");
        Ok(())
    }

    /// Every byte counted is given back: once every job has left, the
    /// ledger is zero.
    #[test]
    fn the_ledger_returns_to_zero_when_every_job_has_left() -> Result<(), ApiError> {
        let store = Store::new(Limits { max_jobs_retained: 1, ..Limits::default() }, Faults::default(), None);
        let mut jobs = Vec::new();
        for _ in 0..5 {
            let entry = submit_and_end(&store, "")?;
            append_progress(&entry, 10);
            jobs.push(entry);
        }
        let last = jobs.pop().ok_or_else(|| ApiError::internal("no job"))?;
        let held = last.lock().bytes;
        assert!(held > 0);
        assert_eq!(store.retained_bytes(), held, "only the retained job is counted");
        let released = lock(&store.order).pop_front().and_then(|j| j.release());
        assert_eq!(released.map(|r| r.bytes), Some(held));
        assert_eq!(store.retained_bytes(), 0);
        Ok(())
    }
}
