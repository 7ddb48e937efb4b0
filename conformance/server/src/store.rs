//! Jobs, their event logs, the queue, the workers and the decisions
//! recorded for runs: the server's whole in-memory state.
//!
//! Locks: a submission holds the shard of its idempotency key (when it
//! has one) while it takes the retention order's lock and then, one at a
//! time, a shard of the index and of the runs; everything else takes a
//! job's lock, a shard, the order's lock or the queue's lock alone, or the
//! order's lock before a job's. Jobs pushed out of retention leave the
//! index, the keys and the runs after the submission's locks are released:
//! those are cold lookups, and no other submission waits for them. Every
//! change of a job (state, outcome, events) happens under its own lock
//! through [`JobEntry::append`] and [`JobEntry::finish`], so a job reaches
//! exactly one terminal state whatever races with it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use dome_sdk::pb::{self, JobState, TaskStatus, job_event::Payload};
use prost::Message;
use prost::bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

use crate::config::{Limits, limit};
use crate::errors::ApiError;
use crate::ids::new_id;
use crate::mutants::{Faults, Mutant};
use crate::reply::EventFields;
use crate::skills::{SkillKind, canonical_json};

/// The policy reason code of a cancelled job.
pub(crate) const CANCELLED_REASON_CODE: &str = "EXEC.CANCELLED";

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
    /// Jobs waiting for a worker, and the workers: a lock of its own, so
    /// that starting jobs never waits on the tables.
    queue: Mutex<Queue>,
    /// Jobs waiting for a worker (`QUEUED` and not yet started).
    queued: AtomicU64,
    /// Set once the server starts shutting down.
    shutdown: watch::Sender<bool>,
    /// Events freed by eviction since the allocator was last trimmed.
    freed_events: AtomicU64,
    /// Set while a trim runs.
    trimming: Arc<AtomicBool>,
}

/// How many shards a [`Sharded`] map has.
const SHARDS: usize = 16;

/// A map keyed by id in shards, each behind its own lock: calls whose keys
/// fall in different shards never wait on each other. Lookups by job id
/// (`GetJobStatus`, `CancelJob`, `StreamJobEvents`) and submissions take
/// one shard, never a lock every call shares.
///
/// Keys are shared with the job they came from (`Arc<str>`): entering a job
/// copies no string, and a lookup compares against the job's own, already
/// in the cache from hashing it.
///
/// Hashing is foldhash's (randomly seeded, as resistant to chosen keys as
/// hashbrown's own default) rather than SipHash: a submission hashes a
/// dozen keys, and SipHash was a measurable part of it.
#[derive(Debug)]
struct Sharded<V> {
    shards: [Mutex<HashMap<Arc<str>, V, Hasher>>; SHARDS],
    hasher: Hasher,
}

/// The hasher of the tables and of choosing their shards.
type Hasher = foldhash::quality::RandomState;

impl<V> Sharded<V> {
    fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::default()),
            hasher: Hasher::default(),
        }
    }

    /// The locked shard of `key`.
    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<Arc<str>, V, Hasher>> {
        use std::hash::BuildHasher;
        // The remainder is below SHARDS, so the cast cannot truncate.
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        lock(&self.shards[i])
    }
}

/// The queue of jobs and the workers taking jobs from it.
#[derive(Debug, Default)]
struct Queue {
    jobs: VecDeque<Arc<JobEntry>>,
    /// Worker tasks alive; each runs queued jobs one after another until
    /// the queue is empty (at most `max_running_jobs` of them).
    workers: u64,
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

/// One job and its event log.
#[derive(Debug)]
pub(crate) struct JobEntry {
    /// The job's id; shared with the index, whose key it is.
    pub(crate) job_id: Arc<str>,
    /// The job's run; shared with the table of runs.
    pub(crate) run_id: Arc<str>,
    pub(crate) kind: SkillKind,
    /// The key the job was submitted with (empty: none); shared with the
    /// table of keys.
    idempotency_key: Arc<str>,
    fingerprint: [u8; 32],
    data: Mutex<JobData>,
    /// The sequence of the latest event (every event a stream sends is
    /// checked against it for lag). Stored under the job's lock, so under
    /// that lock it is the log's last sequence.
    head_sequence: AtomicU64,
    /// Notified after appends, once the new head is stored.
    appended: Notify,
    /// Set by the effective cancel.
    cancel_flag: AtomicBool,
    /// Notified once the cancel flag is set: wakes parked and sleeping
    /// steps.
    cancelled: Notify,
    /// Open streams of this job.
    pub(crate) subscribers: AtomicU64,
    faults: Faults,
    max_events: Option<u64>,
}

/// One event of a job's log, kept as the encoded `StreamJobEventsResponse`
/// every stream of the job sends: encoded once when it is appended, then
/// shared by reference, however many subscribers read it.
#[derive(Debug, Clone)]
pub(crate) struct LoggedEvent {
    /// The event's sequence.
    pub(crate) sequence: u64,
    /// Whether it is the job's terminal state change.
    pub(crate) terminal: bool,
    /// The encoded `StreamJobEventsResponse` carrying it.
    pub(crate) message: Bytes,
}

/// The job as reads answer it.
#[derive(Debug)]
enum Snapshot {
    /// The message, while the job is live (boxed: it is large, and goes
    /// when the job ends).
    Live(Box<pb::Job>),
    /// The final job, encoded once when the job ended: it never changes
    /// again, so every later read sends these bytes.
    Sealed(Bytes),
}

/// The mutable part of a job.
#[derive(Debug)]
pub(crate) struct JobData {
    snapshot: Snapshot,
    /// The job's state (the live message carries it too).
    pub(crate) state: JobState,
    pub(crate) log: VecDeque<LoggedEvent>,
    /// The sequence of `log[0]` (of the next event when the log is empty).
    pub(crate) first_retained: u64,
    next_sequence: u64,
    pub(crate) terminal: bool,
    artifacts: Vec<pb::Artifact>,
    /// The checked input, until the job starts: the worker frees it when
    /// the job ends, while it is still warm, rather than eviction freeing
    /// it long after.
    input: Option<Value>,
}

impl JobData {
    /// The job as it is now, encoded: the sealed bytes of an ended job
    /// (shared, not copied), a fresh encoding of a live one.
    pub(crate) fn encoded(&self) -> Bytes {
        match &self.snapshot {
            Snapshot::Live(job) => Bytes::from(job.encode_to_vec()),
            Snapshot::Sealed(sealed) => sealed.clone(),
        }
    }

    /// The live message; `None` once the job has ended.
    fn live(&mut self) -> Option<&mut pb::Job> {
        match &mut self.snapshot {
            Snapshot::Live(job) => Some(job),
            Snapshot::Sealed(_) => None,
        }
    }

    /// The correlation id of the call that submitted the job, while the
    /// job is live (nothing is appended to an ended job).
    pub(crate) fn correlation_id(&self) -> Option<&str> {
        match &self.snapshot {
            Snapshot::Live(job) => Some(&job.correlation_id),
            Snapshot::Sealed(_) => None,
        }
    }

    /// Moves the job to `state`.
    fn set_state(&mut self, state: JobState) {
        self.state = state;
        if let Some(job) = self.live() {
            job.state = state as i32;
        }
    }

    /// Encodes the ended job once and frees its message now, while it is
    /// still in the cache: a retained job then holds one buffer instead of
    /// a tree of strings and maps, so reads share it, the job takes a
    /// third of the memory, and eviction, long after, frees a few blocks
    /// instead of dozens. A short log moves into the same buffer, after
    /// the job (streams still reading the old copies keep them alive).
    fn seal(&mut self) {
        self.artifacts = Vec::new();
        let Snapshot::Live(job) = &self.snapshot else {
            return;
        };
        if self.log.len() > SEALED_WITH_LOG {
            self.snapshot = Snapshot::Sealed(Bytes::from(job.encode_to_vec()));
            return;
        }
        let job_len = job.encoded_len();
        let mut buf = Vec::with_capacity(job_len + self.log.iter().map(|e| e.message.len()).sum::<usize>());
        job.encode_raw(&mut buf);
        for event in &self.log {
            buf.extend_from_slice(&event.message);
        }
        let all = Bytes::from(buf);
        let mut at = job_len;
        for event in &mut self.log {
            let len = event.message.len();
            event.message = all.slice(at..at + len);
            at += len;
        }
        self.snapshot = Snapshot::Sealed(all.slice(..job_len));
    }
}

/// The longest log sealed into one buffer with its job: the short logs of
/// most jobs, whose events would otherwise each be a block of their own to
/// free on eviction; a long log is left as it is rather than copied.
const SEALED_WITH_LOG: usize = 16;

/// How a skill ended, as the worker reports it.
#[derive(Debug)]
pub(crate) enum Ending {
    /// `SUCCEEDED` with this output.
    Succeeded(Value),
    /// `FAILED` with a policy reason code.
    Failed {
        reason_code: String,
        message: String,
        transient: bool,
    },
    /// `CANCELLED`.
    Cancelled,
}

impl JobEntry {
    /// Locks the job.
    pub(crate) fn lock(&self) -> MutexGuard<'_, JobData> {
        lock(&self.data)
    }

    /// The sequence of the latest event.
    pub(crate) fn head(&self) -> u64 {
        self.head_sequence.load(Ordering::Acquire)
    }

    /// Waits until the head is past `sequence` (an event after it was
    /// appended).
    pub(crate) async fn appended_after(&self, sequence: u64) {
        until(&self.appended, || self.head() > sequence).await;
    }

    /// Whether an effective cancel has been requested.
    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel_flag.load(Ordering::Acquire)
    }

    /// Waits until an effective cancel has been requested.
    pub(crate) async fn cancel_requested_wait(&self) {
        until(&self.cancelled, || self.cancel_requested()).await;
    }

    /// Appends an event caused by the call `correlation_id`; nothing is
    /// appended after the terminal event.
    pub(crate) fn append(&self, data: &mut JobData, correlation_id: &str, payload: &Payload) -> Option<u64> {
        let sequence = self.append_unannounced(data, correlation_id, payload)?;
        self.announce(data);
        Some(sequence)
    }

    /// Wakes those waiting for the job's events. Called with the job
    /// locked (the guard's data is the proof): nobody can read the events
    /// before the lock is released, so announcing a run of appends once is
    /// the same to them as announcing each.
    pub(crate) fn announce(&self, _locked: &JobData) {
        self.appended.notify_waiters();
    }

    /// [`JobEntry::append`] without waking anyone: the caller calls
    /// [`JobEntry::announce`] before it releases the job's lock.
    pub(crate) fn append_unannounced(&self, data: &mut JobData, correlation_id: &str, payload: &Payload) -> Option<u64> {
        if data.terminal {
            return None;
        }
        let mut sequence = data.next_sequence;
        if self.faults.is(Mutant::SkippedSequence) && sequence == 3 {
            sequence = 4;
        }
        data.next_sequence = sequence + 1;
        let terminal = matches!(payload, Payload::StateChanged(s) if dome_sdk::is_terminal_state(s.state));
        let message = EventFields {
            event_id: &new_id("evt-"),
            sequence,
            job_id: &self.job_id,
            run_id: &self.run_id,
            time: &now(),
            correlation_id,
            payload,
        }
        .encode();
        data.log.push_back(LoggedEvent {
            sequence,
            terminal,
            message,
        });
        if let Some(max) = self.max_events {
            while data.log.len() as u64 > max {
                data.log.pop_front();
            }
        }
        data.first_retained = data.log.front().map_or(data.next_sequence, |e| e.sequence);
        if let Some(job) = data.live() {
            job.last_sequence = sequence;
        }
        self.head_sequence.store(sequence, Ordering::Release);
        Some(sequence)
    }

    /// Appends one event under the job's own correlation id.
    pub(crate) fn emit(&self, payload: Payload) -> Option<u64> {
        self.append_own(&mut self.lock(), &payload)
    }

    /// [`JobEntry::append`] under the job's own correlation id (the one
    /// of the call that submitted it), with the job locked.
    fn append_own(&self, data: &mut JobData, payload: &Payload) -> Option<u64> {
        let corr = data.correlation_id()?.to_owned();
        self.append(data, &corr, payload)
    }

    /// Ends the job; false (and nothing changes) when it had ended already.
    pub(crate) fn finish(&self, data: &mut JobData, ending: Ending) -> bool {
        if data.terminal {
            return false;
        }
        let (state, status, output_json, reason_code, message, transient) = match ending {
            Ending::Succeeded(output) => (
                JobState::Succeeded,
                TaskStatus::Pass,
                canonical_json(&output),
                String::new(),
                String::new(),
                false,
            ),
            Ending::Failed {
                reason_code,
                message,
                transient,
            } => (JobState::Failed, TaskStatus::Fail, String::new(), reason_code, message, transient),
            Ending::Cancelled => (
                JobState::Cancelled,
                TaskStatus::Blocked,
                String::new(),
                CANCELLED_REASON_CODE.to_owned(),
                "the job was cancelled".to_owned(),
                false,
            ),
        };
        let outcome = pb::JobOutcome {
            task_id: self.job_id.to_string(),
            status: status as i32,
            output_json,
            reason_code,
            message,
            transient,
            attempt: 1,
            artifacts: std::mem::take(&mut data.artifacts),
        };
        // A job cancelled while queued never ran: its input goes now.
        data.input = None;
        data.set_state(state);
        if let Some(job) = data.live() {
            job.end_time = Some(now());
        }
        // The event is written from the outcome, which then moves into the
        // job: it is built once, never copied.
        let changed = Payload::StateChanged(pb::JobStateChanged {
            state: state as i32,
            outcome: Some(outcome),
        });
        self.append_own(data, &changed);
        if let (Some(job), Payload::StateChanged(changed)) = (data.live(), changed) {
            job.outcome = changed.outcome;
        }
        data.terminal = true;
        data.seal();
        true
    }

    /// Records that a step ran, in the provenance (an ended job's
    /// provenance is final).
    pub(crate) fn add_command(&self, command: String) {
        let mut data = self.lock();
        if !data.terminal
            && let Some(job) = data.live()
        {
            job.provenance
                .get_or_insert_with(Default::default)
                .commands
                .push(command);
        }
    }

    /// Records an artifact and emits its event.
    pub(crate) fn add_artifact(&self, artifact: pb::Artifact) {
        let mut data = self.lock();
        if data.terminal {
            return;
        }
        if let Some(job) = data.live() {
            job.provenance
                .get_or_insert_with(Default::default)
                .artifacts
                .insert(artifact.name.clone(), artifact.uri.clone());
        }
        data.artifacts.retain(|a| a.name != artifact.name);
        data.artifacts.push(artifact.clone());
        self.append_own(&mut data, &Payload::ArtifactProduced(artifact));
    }

    /// Takes the job's input to run it (`null` once taken).
    pub(crate) fn take_input(&self) -> Value {
        self.lock().input.take().unwrap_or(Value::Null)
    }

    /// The job as it is now, encoded.
    pub(crate) fn encoded(&self) -> Bytes {
        self.lock().encoded()
    }

    /// Waits until the job is terminal.
    pub(crate) async fn terminal(&self) {
        until(&self.appended, || self.lock().terminal).await;
    }
}

impl Store {
    /// An empty store.
    pub(crate) fn new(limits: Limits, faults: Faults) -> Self {
        Self {
            limits,
            faults,
            order: Mutex::default(),
            index: Sharded::new(),
            idempotency: Sharded::new(),
            runs: Sharded::new(),
            queue: Mutex::new(Queue::default()),
            queued: AtomicU64::new(0),
            shutdown: watch::Sender::new(false),
            freed_events: AtomicU64::new(0),
            trimming: Arc::new(AtomicBool::new(false)),
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
    /// the job and whether it was created.
    ///
    /// The new job is built, and jobs pushed out of retention leave the
    /// tables and are freed, outside the locks the admission holds, so
    /// concurrent calls wait on each other as little as possible.
    pub(crate) fn submit(self: &Arc<Self>, sub: Submission) -> Result<Submitted, ApiError> {
        let canonical_input = canonical_json(&sub.input);
        let fingerprint = sub.fingerprint(&canonical_input);
        let (entry, job) = self.new_job(sub, fingerprint, &canonical_input);
        let mut evicted = Vec::new();
        let result = self.admit(&entry, &mut evicted);
        for gone in &evicted {
            self.forget(gone);
            self.note_freed(gone.lock().log.len() as u64);
        }
        // The evicted jobs are freed here, with no lock held.
        drop(evicted);
        match result? {
            Some(existing) => Ok(Submitted {
                job: existing.encoded(),
                entry: existing,
                created: false,
            }),
            None => {
                self.enqueue(entry.clone());
                Ok(Submitted {
                    entry,
                    job,
                    created: true,
                })
            }
        }
    }

    /// Queues an admitted job, and starts a worker for it when fewer than
    /// `max_running_jobs` are alive. A worker runs jobs one after another
    /// while the queue holds any, so a busy server starts no task per job,
    /// and a job never waits for another task to notice it.
    fn enqueue(self: &Arc<Self>, entry: Arc<JobEntry>) {
        let mut queue = lock(&self.queue);
        queue.jobs.push_back(entry);
        if limit(self.limits.max_running_jobs).is_some_and(|max| queue.workers >= max) {
            return;
        }
        queue.workers += 1;
        drop(queue);
        tokio::spawn(self.clone().work());
    }

    /// One worker: runs queued jobs until there are none left to start.
    async fn work(self: Arc<Self>) {
        while let Some(job) = self.next_to_start() {
            crate::script::execute(self.clone(), job).await;
        }
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
        if self
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| (q < cap).then_some(q + 1))
            .is_err()
        {
            return Err(ApiError::queue_full(cap));
        }
        if let Err(e) = self.retain(entry, evicted) {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(e);
        }
        self.index
            .shard(&entry.job_id)
            .insert(Arc::clone(&entry.job_id), entry.clone());
        self.runs
            .shard(&entry.run_id)
            .entry(Arc::clone(&entry.run_id))
            .or_default()
            .jobs += 1;
        if let Some(keys) = keys.as_mut() {
            keys.insert(
                Arc::clone(&entry.idempotency_key),
                Idempotent {
                    job: entry.clone(),
                    created: Instant::now(),
                },
            );
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

    /// A new `QUEUED` job with its first event, not yet entered anywhere,
    /// and its encoding as `SkillExecute` answers it.
    fn new_job(&self, sub: Submission, fingerprint: [u8; 32], canonical_input: &str) -> (Arc<JobEntry>, Bytes) {
        let job_id = new_id("job-");
        let run_id = if sub.run_id.is_empty() {
            new_id("run-")
        } else {
            sub.run_id
        };
        let base_ref = if sub.base_ref.is_empty() {
            "HEAD".to_owned()
        } else {
            sub.base_ref
        };
        let input_sha256 = hex::encode(Sha256::digest(canonical_input.as_bytes()));
        // The entry's own copies, which the tables share as their keys.
        let (entry_job_id, entry_run_id, entry_key): (Arc<str>, Arc<str>, Arc<str>) = (
            Arc::from(job_id.as_str()),
            Arc::from(run_id.as_str()),
            Arc::from(sub.idempotency_key.as_str()),
        );
        let job = pb::Job {
            task_id: job_id.clone(),
            job_id,
            state: JobState::Queued as i32,
            create_time: Some(now()),
            start_time: None,
            end_time: None,
            outcome: None,
            provenance: Some(pb::Provenance {
                run_id: run_id.clone(),
                base_ref,
                input_contract: ["skill:", &sub.skill_id, "@", &sub.skill_version].concat(),
                input_sha256,
                commands: Vec::new(),
                artifacts: HashMap::new(),
                tool_versions: HashMap::from([(
                    "domed".to_owned(),
                    env!("CARGO_PKG_VERSION").to_owned(),
                )]),
                policy_ref: String::new(),
            }),
            skill_id: sub.skill_id,
            skill_version: sub.skill_version,
            last_sequence: 0,
            correlation_id: sub.correlation_id,
            labels: sub.labels,
            idempotency_key: sub.idempotency_key,
            run_id,
        };
        let entry = Arc::new(JobEntry {
            job_id: entry_job_id,
            run_id: entry_run_id,
            kind: sub.kind,
            idempotency_key: entry_key,
            fingerprint,
            data: Mutex::new(JobData {
                snapshot: Snapshot::Live(Box::new(job)),
                state: JobState::Queued,
                // Room for the events of the shortest run (queued, running,
                // one step, the end) without growing.
                log: VecDeque::with_capacity(4),
                first_retained: 1,
                next_sequence: 1,
                terminal: false,
                artifacts: Vec::new(),
                input: Some(sub.input),
            }),
            head_sequence: AtomicU64::new(0),
            appended: Notify::new(),
            cancel_flag: AtomicBool::new(false),
            cancelled: Notify::new(),
            subscribers: AtomicU64::new(0),
            faults: self.faults,
            max_events: limit(self.limits.max_events_retained_per_job),
        });
        let encoded = {
            let mut data = entry.lock();
            entry.append_own(&mut data, &state_changed(JobState::Queued));
            data.encoded()
        };
        (entry, encoded)
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
        entry.cancel_flag.store(true, Ordering::Release);
        entry.cancelled.notify_waiters();
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
        decisions
            .gate_by_task
            .insert(decision.task_id.clone(), decision.clone());
        decisions.gate_last = Some(decision);
    }

    /// Records a promotion decision for its run.
    pub(crate) fn record_promotion(&self, decision: pb::PromotionDecision) {
        let run_id: Arc<str> = Arc::from(decision.run_id.as_str());
        self.runs
            .shard(&run_id)
            .entry(run_id.clone())
            .or_default()
            .decisions()
            .promotion_last = Some(decision);
    }

    /// The gate decision of a run (and task, when not empty).
    pub(crate) fn gate_decision(&self, run_id: &str, task_id: &str) -> Option<pb::GateDecision> {
        let runs = self.runs.shard(run_id);
        let decisions = runs.get(run_id)?.decisions.as_deref()?;
        if task_id.is_empty() {
            decisions.gate_last.clone()
        } else {
            decisions.gate_by_task.get(task_id).cloned()
        }
    }

    /// The promotion decision recorded last for a run.
    pub(crate) fn promotion_decision(&self, run_id: &str) -> Option<pb::PromotionDecision> {
        self.runs
            .shard(run_id)
            .get(run_id)?
            .decisions
            .as_deref()?
            .promotion_last
            .clone()
    }

    /// Takes the next queued job and marks it `RUNNING`; `None` (and the
    /// calling worker stops) when none is left to start, or the server is
    /// shutting down.
    fn next_to_start(&self) -> Option<Arc<JobEntry>> {
        loop {
            let entry = {
                let mut queue = lock(&self.queue);
                match queue.jobs.pop_front() {
                    Some(entry) if !self.shutting_down() => entry,
                    _ => {
                        queue.workers -= 1;
                        return None;
                    }
                }
            };
            let mut data = entry.lock();
            if data.state != JobState::Queued {
                // Cancelled while queued: already ended.
                continue;
            }
            data.set_state(JobState::Running);
            if let Some(job) = data.live() {
                job.start_time = Some(now());
            }
            entry.append_own(&mut data, &state_changed(JobState::Running));
            drop(data);
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Some(entry);
        }
    }

    /// Counts events freed by eviction; past a threshold, trims the
    /// allocator on a blocking thread (one trim at a time).
    fn note_freed(&self, events: u64) {
        let freed = self.freed_events.fetch_add(events, Ordering::Relaxed) + events;
        if freed < TRIM_AFTER_FREED_EVENTS || self.trimming.swap(true, Ordering::AcqRel) {
            return;
        }
        self.freed_events.store(0, Ordering::Relaxed);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.trimming.store(false, Ordering::Release);
            return;
        };
        let trimming = self.trimming.clone();
        runtime.spawn_blocking(move || {
            trim_allocator();
            trimming.store(false, Ordering::Release);
        });
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

/// The event of a change to a non-terminal `state`.
fn state_changed(state: JobState) -> Payload {
    Payload::StateChanged(pb::JobStateChanged {
        state: state as i32,
        outcome: None,
    })
}

/// Waits until `holds()`, checked again after each notification of
/// `notify`. The waiter registers before it checks, so a notification
/// between the check and the wait is never missed.
async fn until(notify: &Notify, holds: impl Fn() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if holds() {
            return;
        }
        notified.await;
    }
}

/// Events freed by evictions after which the allocator is asked to give
/// free memory back to the system.
const TRIM_AFTER_FREED_EVENTS: u64 = 50_000;

/// Returns the allocator's free memory to the system: allocators keep
/// freed memory for reuse, so without this the resident size of a server
/// that evicted large jobs would stay at its high-water mark.
///
/// The `domed` binary allocates with mimalloc; a program embedding the
/// server may keep the system allocator. Both are asked: the one not in
/// use has nothing to give back and returns at once.
fn trim_allocator() {
    // SAFETY: mi_collect only walks mimalloc's own structures, and takes
    // no pointer from the caller.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes the
    // allocator's locks and has no preconditions on the caller.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn submission(key: &str) -> Submission {
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

    async fn submit_and_finish(store: &Arc<Store>, key: &str) -> Result<Arc<JobEntry>, ApiError> {
        let submitted = store.submit(submission(key))?;
        assert!(submitted.created, "a fresh submission creates its job");
        let entry = store.job(&submitted.entry.job_id)?;
        entry.terminal().await;
        Ok(entry)
    }

    /// Ending a job seals it: the job encoded once, and its short log
    /// moved into the same buffer right after it, every event's bytes
    /// unchanged.
    #[tokio::test]
    async fn an_ended_job_is_sealed_with_its_log_in_one_buffer() -> Result<(), ApiError> {
        let store = Arc::new(Store::new(Limits::default(), Faults::default()));
        let parked = Submission {
            skill_id: "dome.conformance.script".to_owned(),
            kind: SkillKind::Script,
            input: serde_json::json!({ "steps": [{ "log": { "message": "one" } }, { "park": {} }] }),
            ..submission("")
        };
        let entry = store.submit(parked)?.entry;
        entry.appended_after(2).await;
        let live: Vec<Bytes> = entry.lock().log.iter().map(|e| e.message.clone()).collect();
        store.cancel(&entry, "corr-test", "done");
        entry.terminal().await;
        let data = entry.lock();
        let Snapshot::Sealed(sealed) = &data.snapshot else {
            panic!("an ended job is sealed");
        };
        let job = pb::Job::decode(sealed.clone()).map_err(|e| ApiError::internal(e.to_string()))?;
        assert_eq!(job.state, JobState::Cancelled as i32);
        assert_eq!(job.last_sequence, entry.head());
        let after: Vec<&Bytes> = data.log.iter().map(|e| &e.message).collect();
        assert_eq!(after[..live.len()], live.iter().collect::<Vec<_>>()[..], "the events are the same bytes");
        // One buffer: the job, then each event right after the one before.
        let mut next = sealed.as_ptr_range().end;
        for message in after {
            assert_eq!(message.as_ptr(), next, "the log follows the job in its buffer");
            next = message.as_ptr_range().end;
        }
        Ok(())
    }

    /// Evicting a job whose idempotency key has since been reused (its
    /// window passed) leaves the key naming the newer job.
    #[tokio::test]
    async fn eviction_keeps_a_key_that_names_a_newer_job() -> Result<(), ApiError> {
        let limits = Limits {
            idempotency_window: Duration::from_nanos(1),
            max_jobs_retained: 2,
            ..Limits::default()
        };
        let store = Arc::new(Store::new(limits, Faults::default()));
        let older = submit_and_finish(&store, "reused-key").await?;
        let newer = submit_and_finish(&store, "reused-key").await?;
        assert!(
            !Arc::ptr_eq(&older, &newer),
            "the window passed, so the key made a new job"
        );
        // A third job pushes the oldest, `older`, out of retention.
        submit_and_finish(&store, "").await?;
        assert!(store.job(&older.job_id).is_err(), "the oldest job was evicted");
        let named = store
            .idempotency
            .shard("reused-key")
            .get("reused-key")
            .map(|e| e.job.clone());
        assert!(
            named.is_some_and(|job| Arc::ptr_eq(&job, &newer)),
            "the key still names the newer job"
        );
        Ok(())
    }

    /// Evicting the job a key names frees the key.
    #[tokio::test]
    async fn eviction_frees_the_key_of_the_evicted_job() -> Result<(), ApiError> {
        let limits = Limits {
            max_jobs_retained: 1,
            ..Limits::default()
        };
        let store = Arc::new(Store::new(limits, Faults::default()));
        submit_and_finish(&store, "only-key").await?;
        submit_and_finish(&store, "").await?;
        assert!(!store.idempotency.shard("only-key").contains_key("only-key"));
        Ok(())
    }
}
