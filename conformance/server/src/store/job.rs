//! One job: its state, its event log, and the only ways to change them.
//!
//! Every change of a job (state, outcome, events) happens under its own
//! lock through [`JobEntry::append`] and [`JobEntry::finish`], so a job
//! reaches exactly one terminal state whatever races with it.
//!
//! Every byte a job holds is counted, as it is taken and as it is freed,
//! in the job and in the store's ledger of retained bytes: its events
//! (each by the block the allocator gives it, its slot in the log and
//! the log's spare capacity: [`event_cost`]), its input until it starts, its record (the job message, or its sealed encoding) and the
//! decisions it recorded. A job's events are kept within
//! `max_event_bytes_retained_per_job`; the store keeps the ledger within
//! `max_retained_bytes` by evicting whole jobs ([`super::Store::relieve`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use dome_sdk::contract::CANCELLED_REASON_CODE;
use dome_sdk::pb::{self, JobState, TaskStatus, job_event::Payload};
use prost::bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::seal::Snapshot;
use super::trim::Trim;
use super::{Submission, lock, now};
use crate::config::{Limits, limit};
use crate::ids::new_id;
use crate::mutants::{Faults, Mutant};
use crate::reply::EventFields;
use crate::skills::SkillKind;

/// The bytes an allocation of `len` bytes really takes. Allocators hand
/// out blocks of fixed size classes, not the size asked for: this rounds
/// up as mimalloc's (and jemalloc's) classes do, to 16 bytes up to 64,
/// then to a quarter of the power of two below the size (an event of 176
/// bytes takes 192; an output of 1 MiB and a few bytes, 1.25 MiB).
pub(crate) fn allocated(len: u64) -> u64 {
    if len <= 64 {
        return len.div_ceil(16).max(1) * 16;
    }
    let step = (1u64 << (63 - (len - 1).leading_zeros())) / 4;
    len.div_ceil(step) * step
}

/// The bytes of one slot of a job's log.
const EVENT_SLOT: u64 = std::mem::size_of::<LoggedEvent>() as u64;

/// The header `bytes` allocates for an event's buffer once it is shared
/// (when a stream first reads it): the buffer's address, its capacity
/// and a count of references.
const SHARED_HEADER: u64 = 3 * std::mem::size_of::<usize>() as u64;

/// What the log spends on an event of `len` encoded bytes: its block as
/// the allocator rounds it, the header of that block once a stream shares
/// it, and its slot in the log. (Slots the log has room for but does not
/// use are counted apart, as the log's spare capacity.)
pub(crate) fn event_cost(len: usize) -> u64 {
    allocated(len as u64) + allocated(SHARED_HEADER) + EVENT_SLOT
}

/// What a job spends beyond its record, events, input and decisions: the
/// entry itself and its places in the index, the retention order and the
/// table of runs.
pub(crate) const JOB_OVERHEAD: u64 = 1024;

/// What a decision spends beyond its encoded bytes.
pub(crate) const DECISION_OVERHEAD: u64 = 256;

/// The policy reason code of a job whose output is larger than
/// `max_job_data_bytes`.
pub(crate) const OUTPUT_TOO_LARGE: &str = "EXEC.OUTPUT_TOO_LARGE";

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
    pub(super) idempotency_key: Arc<str>,
    pub(super) fingerprint: [u8; 32],
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
    /// Set once the job has left retention: it holds nothing any more,
    /// and every reader of it answers `JOB_NOT_FOUND`.
    released: AtomicBool,
    /// The store's count of the bytes every retained job holds.
    ledger: Arc<AtomicU64>,
    /// The store's requests to give freed memory back.
    trim: Arc<Trim>,
    faults: Faults,
    max_events: Option<u64>,
    max_event_bytes: Option<u64>,
    max_data_bytes: Option<u64>,
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

/// The mutable part of a job.
#[derive(Debug)]
pub(crate) struct JobData {
    pub(super) snapshot: Snapshot,
    /// The job's state (the live message carries it too).
    pub(crate) state: JobState,
    pub(crate) log: VecDeque<LoggedEvent>,
    /// The sequence of `log[0]` (of the next event when the log is empty).
    pub(crate) first_retained: u64,
    next_sequence: u64,
    pub(crate) terminal: bool,
    pub(super) artifacts: Vec<pb::Artifact>,
    /// The checked input as canonical JSON text, until the job starts
    /// (text, not a parsed tree: a queued job holds its input in about as
    /// many bytes as the client sent).
    input: Option<Box<str>>,
    /// The bytes this job holds, as counted in the store's ledger.
    pub(crate) bytes: u64,
    /// The bytes the job held when it left retention with streams still
    /// open on it: what they pinned is freed only as the last of them goes,
    /// when these bytes are counted as freed once more (see `Drop`).
    pinned_at_release: u64,
    /// The bytes of the retained events (part of `bytes`).
    log_bytes: u64,
    /// The bytes of the log's block beyond its events' slots (its capacity
    /// past its length, and the block's rounding; part of `bytes`, not of
    /// `log_bytes`).
    spare_bytes: u64,
    /// The bytes of the record (the live message or its sealed encoding,
    /// with [`JOB_OVERHEAD`]; part of `bytes`).
    record_bytes: u64,
    /// The gate decision this job recorded last, with its place in the
    /// order of all recorded decisions.
    pub(crate) gate: Option<(u64, pb::GateDecision)>,
    /// The promotion decision this job recorded last, with its place.
    pub(crate) promotion: Option<(u64, pb::PromotionDecision)>,
}

/// What a job held when it left retention, to be freed once no lock is
/// held.
#[derive(Debug)]
pub(crate) struct Released {
    _log: VecDeque<LoggedEvent>,
    _snapshot: Snapshot,
    /// The bytes it held.
    pub(crate) bytes: u64,
}

impl AsRef<Bytes> for LoggedEvent {
    fn as_ref(&self) -> &Bytes {
        &self.message
    }
}

impl AsMut<Bytes> for LoggedEvent {
    fn as_mut(&mut self) -> &mut Bytes {
        &mut self.message
    }
}

impl JobData {
    /// The job as it is now, encoded: the sealed bytes of an ended job
    /// (shared, not copied), a fresh encoding of a live one; `None` once
    /// the job has left retention.
    pub(crate) fn encoded(&self) -> Option<Bytes> {
        self.snapshot.encoded()
    }

    /// The live message; `None` once the job has ended.
    pub(super) fn live(&mut self) -> Option<&mut pb::Job> {
        self.snapshot.live()
    }

    /// The correlation id of the call that submitted the job, while the
    /// job is live (nothing is appended to an ended job).
    pub(crate) fn correlation_id(&self) -> Option<&str> {
        self.snapshot.correlation_id()
    }

    /// Seals the ended job (see [`Snapshot::seal`]) and frees its list
    /// of artifacts.
    pub(super) fn seal(&mut self) {
        self.artifacts = Vec::new();
        self.snapshot.seal(&mut self.log);
    }

    /// Moves the job to `state`.
    pub(super) fn set_state(&mut self, state: JobState) {
        self.state = state;
        if let Some(job) = self.live() {
            job.state = state as i32;
        }
    }
}

/// How a skill ended, as the worker reports it.
#[derive(Debug)]
pub(crate) enum Ending {
    /// `SUCCEEDED` with this output, as canonical JSON text.
    Succeeded(String),
    /// `FAILED` with a policy reason code.
    Failed { reason_code: String, message: String, transient: bool },
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
        until(&self.appended, || self.head() > sequence || self.is_released()).await;
    }

    /// Whether the job has left retention.
    pub(crate) fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// Counts `n` more bytes held by the job.
    pub(super) fn charge(&self, data: &mut JobData, n: u64) {
        data.bytes += n;
        self.ledger.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` bytes the job no longer holds.
    pub(super) fn refund(&self, data: &mut JobData, n: u64) {
        let n = n.min(data.bytes);
        data.bytes -= n;
        self.ledger.fetch_sub(n, Ordering::Relaxed);
    }

    /// Drops the oldest retained event (never the last one); false when
    /// only one is left.
    fn drop_oldest(&self, data: &mut JobData) -> bool {
        if data.log.len() <= 1 {
            return false;
        }
        if let Some(gone) = data.log.pop_front() {
            let cost = event_cost(gone.message.len());
            data.log_bytes -= cost;
            self.refund(data, cost);
        }
        // The slot stays, as spare capacity.
        self.count_spare(data);
        data.first_retained = data.log.front().map_or(data.next_sequence, |e| e.sequence);
        true
    }

    /// Counts the log's block beyond the slots of its events: a `VecDeque`
    /// grows by doubling, so up to half of it can be spare, and the block
    /// is rounded up to its size class as any other.
    fn count_spare(&self, data: &mut JobData) {
        let block = match data.log.capacity() as u64 {
            0 => 0,
            slots => allocated(slots * EVENT_SLOT),
        };
        let spare = block.saturating_sub(data.log.len() as u64 * EVENT_SLOT);
        if spare > data.spare_bytes {
            self.charge(data, spare - data.spare_bytes);
        } else {
            self.refund(data, data.spare_bytes - spare);
        }
        data.spare_bytes = spare;
    }

    /// Gives the spare capacity of an ended job's log back: nothing is
    /// appended to it any more, and it may stay retained for long. The
    /// events move to a block of their size (`shrink_to_fit` may keep the
    /// block it had: mimalloc shrinks a block by less than half in place).
    fn shrink_log(&self, data: &mut JobData) {
        if data.log.capacity() > data.log.len() {
            let mut exact = VecDeque::with_capacity(data.log.len());
            exact.extend(data.log.drain(..));
            data.log = exact;
        }
        self.count_spare(data);
    }

    /// Drops the job's oldest events while `over()` holds and more than
    /// one is left: how a live job gives way when the retained bytes of
    /// the whole server are at their budget and no ended job is left to
    /// evict. Returns the bytes freed.
    pub(super) fn shed_events(&self, over: impl Fn() -> bool) -> u64 {
        let mut data = self.lock();
        let before = data.log_bytes;
        while over() && self.drop_oldest(&mut data) {}
        before - data.log_bytes
    }

    /// Takes the job out of retention: from now on it holds nothing and
    /// its readers answer `JOB_NOT_FOUND`. Returns what it held, for the
    /// caller to free once it holds no lock; `None` if it was released
    /// already.
    pub(super) fn release(&self) -> Option<Released> {
        let mut data = self.lock();
        if self.released.swap(true, Ordering::AcqRel) {
            return None;
        }
        let bytes = data.bytes;
        self.refund(&mut data, bytes);
        if self.subscribers.load(Ordering::SeqCst) > 0 {
            data.pinned_at_release = bytes;
        }
        data.log_bytes = 0;
        data.spare_bytes = 0;
        data.record_bytes = 0;
        data.gate = None;
        data.promotion = None;
        data.input = None;
        let released = Released {
            _log: std::mem::take(&mut data.log),
            _snapshot: std::mem::replace(&mut data.snapshot, Snapshot::Released),
            bytes,
        };
        // Streams waiting for the next event wake, see the release and
        // end with JOB_NOT_FOUND.
        self.appended.notify_waiters();
        Some(released)
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
    pub(crate) fn append_unannounced(
        &self,
        data: &mut JobData,
        correlation_id: &str,
        payload: &Payload,
    ) -> Option<u64> {
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
        let cost = event_cost(message.len());
        data.log.push_back(LoggedEvent { sequence, terminal, message });
        data.log_bytes += cost;
        self.charge(data, cost);
        self.count_spare(data);
        if let Some(max) = self.max_events {
            while data.log.len() as u64 > max && self.drop_oldest(data) {}
        }
        if let Some(max) = self.max_event_bytes {
            while data.log_bytes > max && self.drop_oldest(data) {}
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
    pub(super) fn append_own(&self, data: &mut JobData, payload: &Payload) -> Option<u64> {
        let corr = data.correlation_id()?.to_owned();
        self.append(data, &corr, payload)
    }

    /// Ends the job; false (and nothing changes) when it had ended already.
    pub(crate) fn finish(&self, data: &mut JobData, ending: Ending) -> bool {
        if data.terminal {
            return false;
        }
        let ending = match ending {
            Ending::Succeeded(output) if self.max_data_bytes.is_some_and(|max| output.len() as u64 > max) => {
                Ending::Failed {
                    reason_code: OUTPUT_TOO_LARGE.to_owned(),
                    message: format!(
                        "the output is {} bytes, more than max_job_data_bytes ({})",
                        output.len(),
                        self.max_data_bytes.unwrap_or_default()
                    ),
                    transient: false,
                }
            }
            other => other,
        };
        let (state, status, output_json, reason_code, message, transient) = match ending {
            Ending::Succeeded(output) => {
                (JobState::Succeeded, TaskStatus::Pass, output, String::new(), String::new(), false)
            }
            Ending::Failed { reason_code, message, transient } => {
                (JobState::Failed, TaskStatus::Fail, String::new(), reason_code, message, transient)
            }
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
        self.drop_input(data);
        data.set_state(state);
        if let Some(job) = data.live() {
            job.end_time = Some(now());
        }
        // The event is written from the outcome, which then moves into the
        // job: it is built once, never copied.
        let changed = Payload::StateChanged(pb::JobStateChanged { state: state as i32, outcome: Some(outcome) });
        self.append_own(data, &changed);
        if let (Some(job), Payload::StateChanged(changed)) = (data.live(), changed) {
            job.outcome = changed.outcome;
        }
        data.terminal = true;
        data.seal();
        self.shrink_log(data);
        let (before, after) = (data.record_bytes, data.snapshot.retained_bytes() + JOB_OVERHEAD);
        data.record_bytes = after;
        self.refund(data, before);
        self.charge(data, after);
        true
    }

    /// Records that a step ran, in the provenance (an ended job's
    /// provenance is final).
    pub(crate) fn add_command(&self, command: String) {
        let mut data = self.lock();
        if !data.terminal
            && let Some(job) = data.live()
        {
            job.provenance.get_or_insert_with(Default::default).commands.push(command);
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

    /// Takes the job's input to run it, as canonical JSON text (`null`
    /// once taken).
    pub(crate) fn take_input(&self) -> Box<str> {
        let mut data = self.lock();
        let input = data.input.take();
        if let Some(input) = &input {
            self.refund(&mut data, allocated(input.len() as u64));
        }
        input.unwrap_or_else(|| "null".into())
    }

    /// Frees the input of a job that will not run it.
    fn drop_input(&self, data: &mut JobData) {
        if let Some(input) = data.input.take() {
            self.refund(data, allocated(input.len() as u64));
        }
    }

    /// The job as it is now, encoded; `None` once it has left retention.
    pub(crate) fn encoded(&self) -> Option<Bytes> {
        self.lock().encoded()
    }

    /// Waits until the job is terminal.
    pub(crate) async fn terminal(&self) {
        until(&self.appended, || self.lock().terminal).await;
    }

    /// Marks a queued job `RUNNING` and appends the change; false when it
    /// is no longer queued (cancelled while queued: already ended).
    pub(crate) fn start(&self) -> bool {
        let mut data = self.lock();
        if data.state != JobState::Queued {
            return false;
        }
        data.set_state(JobState::Running);
        if let Some(job) = data.live() {
            job.start_time = Some(now());
        }
        self.append_own(&mut data, &state_changed(JobState::Running));
        true
    }

    /// Sets the cancel flag and wakes the steps waiting on it.
    pub(super) fn flag_cancel(&self) {
        self.cancel_flag.store(true, Ordering::Release);
        self.cancelled.notify_waiters();
    }

    /// A new `QUEUED` job with its first event, not yet entered anywhere,
    /// and its encoding as `SkillExecute` answers it.
    pub(super) fn create(
        sub: Submission,
        fingerprint: [u8; 32],
        canonical_input: String,
        limits: &Limits,
        faults: Faults,
        ledger: Arc<AtomicU64>,
        trim: Arc<Trim>,
    ) -> (Arc<JobEntry>, Bytes) {
        let job_id = new_id("job-");
        let run_id = if sub.run_id.is_empty() { new_id("run-") } else { sub.run_id };
        let base_ref = if sub.base_ref.is_empty() { "HEAD".to_owned() } else { sub.base_ref };
        let input_sha256 = hex::encode(Sha256::digest(canonical_input.as_bytes()));
        let input: Box<str> = canonical_input.into_boxed_str();
        // The entry's own copies, which the tables share as their keys.
        let (entry_job_id, entry_run_id, entry_key): (Arc<str>, Arc<str>, Arc<str>) =
            (Arc::from(job_id.as_str()), Arc::from(run_id.as_str()), Arc::from(sub.idempotency_key.as_str()));
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
                tool_versions: HashMap::from([("domed".to_owned(), env!("CARGO_PKG_VERSION").to_owned())]),
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
                input: None,
                bytes: 0,
                pinned_at_release: 0,
                log_bytes: 0,
                spare_bytes: 0,
                record_bytes: 0,
                gate: None,
                promotion: None,
            }),
            head_sequence: AtomicU64::new(0),
            appended: Notify::new(),
            cancel_flag: AtomicBool::new(false),
            cancelled: Notify::new(),
            subscribers: AtomicU64::new(0),
            released: AtomicBool::new(false),
            ledger,
            trim,
            faults,
            max_events: limit(limits.max_events_retained_per_job),
            max_event_bytes: limit(limits.max_event_bytes_retained_per_job),
            max_data_bytes: limit(limits.max_job_data_bytes),
        });
        let encoded = {
            let mut data = entry.lock();
            let record = data.snapshot.retained_bytes() + JOB_OVERHEAD;
            data.record_bytes = record;
            entry.charge(&mut data, record + allocated(input.len() as u64));
            data.input = Some(input);
            entry.append_own(&mut data, &state_changed(JobState::Queued));
            data.encoded().unwrap_or_default()
        };
        (entry, encoded)
    }
}

impl Drop for JobEntry {
    /// A job that never entered retention (its admission failed) gives
    /// back what it counted; a released one counted nothing any more.
    ///
    /// A job released while streams were open on it is dropped with the
    /// last of them: what they held (events read ahead, the transport's
    /// buffers) is freed only now, after the eviction's own request to
    /// give memory back, so the bytes the job held are counted as freed
    /// again, and the allocator is asked again past the threshold.
    fn drop(&mut self) {
        let data = self.data.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.ledger.fetch_sub(data.bytes, Ordering::Relaxed);
        if data.pinned_at_release > 0 {
            self.trim.note_freed(data.pinned_at_release);
        }
    }
}

/// The event of a change to a non-terminal `state`.
pub(super) fn state_changed(state: JobState) -> Payload {
    Payload::StateChanged(pb::JobStateChanged { state: state as i32, outcome: None })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use dome_sdk::pb::{self, job_event::Payload};

    use super::{EVENT_SLOT, Ending, JobEntry, allocated, event_cost};
    use crate::config::Limits;
    use crate::mutants::Faults;
    use crate::store::Submission;
    use crate::store::trim::Trim;

    /// Blocks are counted as the allocator hands them out: small ones to
    /// 16 bytes, larger ones to a quarter of the power of two below them.
    #[test]
    fn allocations_are_counted_by_their_size_class() {
        let cases = [(0, 16), (1, 16), (64, 64), (65, 80), (128, 128), (129, 160), (176, 192), (1 << 20, 1 << 20)];
        for (len, class) in cases {
            assert_eq!(allocated(len), class, "an allocation of {len} bytes");
        }
        assert_eq!(allocated((1 << 20) + 200), (1 << 20) + (1 << 18), "a 1 MiB output and its event's fields");
        assert!(event_cost(176) >= 192 + EVENT_SLOT, "an event's block and its slot");
    }

    /// A live job counts its log's spare slots (the log doubles as it
    /// grows); once the job ends its log is shrunk to its events, and the
    /// job and the ledger count exactly what it holds.
    #[test]
    fn a_log_counts_its_spare_capacity_until_it_is_shrunk_at_the_end() {
        let ledger = Arc::new(AtomicU64::new(0));
        let trim = Arc::new(Trim::new(None));
        let sub = Submission::script(serde_json::json!({ "steps": [] }));
        let (job, _) = JobEntry::create(
            sub,
            [0; 32],
            "{}".to_owned(),
            &Limits::default(),
            Faults::default(),
            ledger.clone(),
            trim,
        );
        assert!(job.start());
        drop(job.take_input());
        let mut data = job.lock();
        // Past a power of two: the log has just doubled, so nearly half of
        // it is spare.
        for i in 0..1_030u32 {
            let progress = Payload::Progress(pb::JobProgress { percent: i % 100, message: String::new() });
            job.append_unannounced(&mut data, "corr-test", &progress);
        }
        let slots = data.log.len() as u64 * EVENT_SLOT;
        let spare = allocated(data.log.capacity() as u64 * EVENT_SLOT) - slots;
        assert!(spare >= 900 * EVENT_SLOT, "{spare} bytes spare");
        assert_eq!(data.spare_bytes, spare);
        let events: u64 = data.log.iter().map(|e| event_cost(e.message.len())).sum();
        assert_eq!(data.log_bytes, events);
        assert_eq!(data.bytes, data.record_bytes + events + spare);
        assert_eq!(ledger.load(Ordering::Relaxed), data.bytes);

        assert!(job.finish(&mut data, Ending::Succeeded("null".to_owned())));
        assert_eq!(data.log.capacity(), data.log.len(), "an ended job's log holds no spare slot");
        let slots = data.log.len() as u64 * EVENT_SLOT;
        assert_eq!(data.spare_bytes, allocated(slots) - slots, "only the block's rounding is left");
        let events: u64 = data.log.iter().map(|e| event_cost(e.message.len())).sum();
        assert_eq!(data.bytes, data.record_bytes + events + data.spare_bytes);
        assert_eq!(ledger.load(Ordering::Relaxed), data.bytes);
    }
}
