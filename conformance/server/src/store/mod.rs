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

mod job;
mod seal;
mod sharded;
mod trim;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use dome_sdk::pb::{self, JobState, job_event::Payload};
use prost::bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub(crate) use self::job::{Ending, JobEntry, LoggedEvent};
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
pub(crate) fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now())
}

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
    /// The decisions of runs with retained jobs.
    runs: Sharded<RunRecord>,
    /// Jobs waiting for a worker (`QUEUED` and not yet started).
    queued: AtomicU64,
    /// Set once the server starts shutting down.
    shutdown: watch::Sender<bool>,
    /// Giving memory back after evictions.
    trim: Trim,
}

#[derive(Debug)]
struct Idempotent {
    job: Arc<JobEntry>,
    created: Instant,
}

/// A run with retained jobs: how many, and its decisions, kept while any
/// job of it is.
#[derive(Debug, Default)]
struct RunRecord {
    jobs: usize,
    /// Boxed: most runs record none, and a run's record sits inline in
    /// the table, which holds one record per retained run.
    decisions: Option<Box<Decisions>>,
}

/// The decisions recorded for one run.
#[derive(Debug, Default)]
struct Decisions {
    gate_last: Option<pb::GateDecision>,
    gate_by_task: HashMap<String, pb::GateDecision>,
    promotion_last: Option<pb::PromotionDecision>,
}

impl RunRecord {
    fn decisions(&mut self) -> &mut Decisions {
        self.decisions.get_or_insert_default()
    }
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
            queued: AtomicU64::new(0),
            shutdown: watch::Sender::new(false),
            trim: Trim::new(memory_trim),
        }
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
        let found = self.index.shard(job_id).get(job_id).cloned();
        found.ok_or_else(|| ApiError::job_not_found(job_id))
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
        let fingerprint = sub.fingerprint(&canonical_input);
        let (entry, job) = JobEntry::create(sub, fingerprint, &canonical_input, &self.limits, self.faults);
        let mut evicted = Vec::new();
        let result = self.admit(&entry, &mut evicted);
        for gone in &evicted {
            self.forget(gone);
            self.trim.note_freed(gone.lock().log.len() as u64);
        }
        // The evicted jobs are freed here, with no lock held.
        drop(evicted);
        Ok(match result? {
            Some(existing) => Submitted { job: existing.encoded(), entry: existing, created: false },
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
        evicted: &mut Vec<Arc<JobEntry>>,
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
                .filter(|e| window.is_zero() || e.created.elapsed() < window)
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

    /// Appends `entry` to the retention order, first moving the oldest
    /// ended jobs to `evicted` while the order is full.
    fn retain(&self, entry: &Arc<JobEntry>, evicted: &mut Vec<Arc<JobEntry>>) -> Result<(), ApiError> {
        let mut order = lock(&self.order);
        if let Some(max) = limit(self.limits.max_jobs_retained) {
            while order.len() as u64 >= max {
                let Some(pos) = order.iter().position(|j| j.lock().terminal) else {
                    return Err(ApiError::limit_exceeded("max_jobs_retained", max));
                };
                evicted.extend(order.remove(pos));
            }
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
            run.jobs = run.jobs.saturating_sub(1);
            if run.jobs == 0 {
                runs.remove(&entry.run_id);
            }
        }
    }

    /// Cancels a job: returns it after the call, encoded, and whether this
    /// call's cancel took effect.
    pub(crate) fn cancel(&self, entry: &JobEntry, correlation_id: &str, reason: &str) -> (Bytes, bool) {
        let mut data = entry.lock();
        let state = data.state;
        if !matches!(state, JobState::Queued | JobState::Running) || self.faults.is(Mutant::CancelIgnored) {
            return (data.encoded(), self.faults.is(Mutant::CancelIgnored));
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
        (data.encoded(), true)
    }

    /// Records a gate decision for its run (and task).
    pub(crate) fn record_gate(&self, decision: pb::GateDecision) {
        let mut runs = self.runs.shard(&decision.run_id);
        let decisions = runs.entry(Arc::from(decision.run_id.as_str())).or_default().decisions();
        decisions.gate_by_task.insert(decision.task_id.clone(), decision.clone());
        decisions.gate_last = Some(decision);
    }

    /// Records a promotion decision for its run.
    pub(crate) fn record_promotion(&self, decision: pb::PromotionDecision) {
        let run_id: Arc<str> = Arc::from(decision.run_id.as_str());
        self.runs.shard(&run_id).entry(run_id.clone()).or_default().decisions().promotion_last = Some(decision);
    }

    /// The gate decision of a run (and task, when not empty).
    pub(crate) fn gate_decision(&self, run_id: &str, task_id: &str) -> Option<pb::GateDecision> {
        let runs = self.runs.shard(run_id);
        let decisions = runs.get(run_id)?.decisions.as_deref()?;
        if task_id.is_empty() { decisions.gate_last.clone() } else { decisions.gate_by_task.get(task_id).cloned() }
    }

    /// The promotion decision recorded last for a run.
    pub(crate) fn promotion_decision(&self, run_id: &str) -> Option<pb::PromotionDecision> {
        self.runs.shard(run_id).get(run_id)?.decisions.as_deref()?.promotion_last.clone()
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
            self.cancel(&job, &corr, "the server is shutting down");
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
        store.cancel(&entry, "corr-test", "ended by the test");
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
}
