//! Sealing: an ended job encoded once, with its short log in the same
//! buffer.
//!
//! A live job is a message that changes; once the job ends it never
//! changes again, so it is encoded once and every later read sends those
//! bytes. This is a speed and memory trick kept in one place: what a read
//! answers is the same message either way (pinned by the tests below).
//!
//! A long output is kept once: the job's terminal event carries it
//! already, so the sealed job keeps its encoding around the output and
//! shares the output's bytes with that event.

use std::collections::VecDeque;

use prost::Message;
use prost::bytes::Bytes;
use prost::encoding::{WireType, encode_key, encode_varint};

use dome_sdk::pb;

use super::job::allocated;

/// The job as reads answer it.
#[derive(Debug)]
pub(super) enum Snapshot {
    /// The message, while the job is live (boxed: it is large, and goes
    /// when the job ends).
    Live(Box<pb::Job>),
    /// The final job, encoded once when the job ended: it never changes
    /// again, so every later read sends these bytes.
    Sealed(Bytes),
    /// A sealed job whose output is shared with its terminal event: the
    /// encoding is `head`, `output`, `tail`.
    Split { head: Bytes, output: Bytes, tail: Bytes },
    /// The job left retention and holds nothing.
    Released,
}

impl Snapshot {
    /// The bytes the snapshot keeps for itself, as the allocator gives
    /// them (a shared output is the terminal event's, counted there; a
    /// live message by its encoded size).
    pub(super) fn retained_bytes(&self) -> u64 {
        let block = |b: &Bytes| allocated(b.len() as u64);
        match self {
            Snapshot::Live(job) => job.encoded_len() as u64,
            Snapshot::Sealed(sealed) => block(sealed),
            Snapshot::Split { head, tail, .. } => block(head) + block(tail),
            Snapshot::Released => 0,
        }
    }

    /// The job as it is now, encoded: the sealed bytes of an ended job
    /// (shared, not copied), a fresh encoding of a live one; `None` once
    /// the job has left retention.
    pub(super) fn encoded(&self) -> Option<Bytes> {
        match self {
            Snapshot::Live(job) => Some(Bytes::from(job.encode_to_vec())),
            Snapshot::Sealed(sealed) => Some(sealed.clone()),
            Snapshot::Split { head, output, tail } => {
                let mut buf = Vec::with_capacity(head.len() + output.len() + tail.len());
                buf.extend_from_slice(head);
                buf.extend_from_slice(output);
                buf.extend_from_slice(tail);
                Some(Bytes::from(buf))
            }
            Snapshot::Released => None,
        }
    }

    /// The live message; `None` once the job has ended.
    pub(super) fn live(&mut self) -> Option<&mut pb::Job> {
        match self {
            Snapshot::Live(job) => Some(job),
            _ => None,
        }
    }

    /// The correlation id of the call that submitted the job, while the
    /// job is live (nothing is appended to an ended job).
    pub(super) fn correlation_id(&self) -> Option<&str> {
        match self {
            Snapshot::Live(job) => Some(&job.correlation_id),
            _ => None,
        }
    }

    /// Encodes the ended job once and frees its message now, while it is
    /// still in the cache: a retained job then holds one buffer instead of
    /// a tree of strings and maps, so reads share it, the job takes a
    /// third of the memory, and eviction, long after, frees a few blocks
    /// instead of dozens. A short `log` (each event's encoded bytes) moves
    /// into the same buffer, after the job (streams still reading the old
    /// copies keep them alive). A sealed snapshot stays as it is.
    pub(super) fn seal<E: AsRef<Bytes> + AsMut<Bytes>>(&mut self, log: &mut VecDeque<E>) {
        let Snapshot::Live(job) = self else {
            return;
        };
        if let Some(split) = split_output(job, log.back().map(|e| e.as_ref())) {
            *self = split;
            return;
        }
        let Snapshot::Live(job) = self else {
            return;
        };
        if log.len() > SEALED_WITH_LOG {
            *self = Snapshot::Sealed(Bytes::from(job.encode_to_vec()));
            return;
        }
        let job_len = job.encoded_len();
        let mut buf = Vec::with_capacity(job_len + log.iter().map(|e| e.as_ref().len()).sum::<usize>());
        job.encode_raw(&mut buf);
        for event in log.iter() {
            buf.extend_from_slice(event.as_ref());
        }
        let all = Bytes::from(buf);
        let mut at = job_len;
        for event in log.iter_mut() {
            let message = event.as_mut();
            let len = message.len();
            *message = all.slice(at..at + len);
            at += len;
        }
        *self = Snapshot::Sealed(all.slice(..job_len));
    }
}

/// The shortest output shared with the terminal event rather than kept a
/// second time in the sealed job.
const SHARED_OUTPUT_AT: usize = 1024;

/// The sealed job with its output shared with `terminal`, the encoded
/// terminal event, when the output is long enough to be worth it.
///
/// prost writes a message's fields in number order, leaving out those at
/// their default, so the job's encoding is: the fields before `outcome`,
/// the outcome (its fields before `output_json`, the output, the fields
/// after it), then the fields after `outcome`. The terminal event ends
/// with the same outcome (its payload is the last field of the event), so
/// the output's bytes sit in it right before the outcome's last fields.
fn split_output(job: &mut pb::Job, terminal: Option<&Bytes>) -> Option<Snapshot> {
    let terminal = terminal?;
    let output_len = job.outcome.as_ref()?.output_json.len();
    if output_len < SHARED_OUTPUT_AT {
        return None;
    }
    let mut outcome = job.outcome.take()?;
    let output = std::mem::take(&mut outcome.output_json);
    let outcome_after = pb::JobOutcome {
        reason_code: std::mem::take(&mut outcome.reason_code),
        message: std::mem::take(&mut outcome.message),
        transient: outcome.transient,
        attempt: outcome.attempt,
        artifacts: std::mem::take(&mut outcome.artifacts),
        ..Default::default()
    };
    outcome.transient = false;
    outcome.attempt = 0;
    let job_after = pb::Job {
        provenance: job.provenance.take(),
        last_sequence: job.last_sequence,
        correlation_id: std::mem::take(&mut job.correlation_id),
        labels: std::mem::take(&mut job.labels),
        idempotency_key: std::mem::take(&mut job.idempotency_key),
        ..Default::default()
    };
    job.last_sequence = 0;
    // `job` now holds the fields before `outcome` (1 to 9), `outcome` the
    // fields before `output_json` (1 and 2).
    let (before_len, after_len) = (outcome.encoded_len(), outcome_after.encoded_len());
    let output_field = output_len + prost::encoding::encoded_len_varint(output_len as u64) + 1;
    let mut head = Vec::new();
    job.encode_raw(&mut head);
    encode_key(10, WireType::LengthDelimited, &mut head);
    encode_varint((before_len + output_field + after_len) as u64, &mut head);
    outcome.encode_raw(&mut head);
    encode_key(3, WireType::LengthDelimited, &mut head);
    encode_varint(output_len as u64, &mut head);
    let mut tail = Vec::new();
    outcome_after.encode_raw(&mut tail);
    job_after.encode_raw(&mut tail);
    let end = terminal.len().checked_sub(after_len)?;
    let shared = terminal.slice(end.checked_sub(output_len)?..end);
    if shared[..] != *output.as_bytes() {
        // Not where the layout puts it: keep the job whole instead.
        restore(job, outcome, output, outcome_after, job_after);
        return None;
    }
    Some(Snapshot::Split { head: Bytes::from(head), output: shared, tail: Bytes::from(tail) })
}

/// Puts a job taken apart by [`split_output`] back together.
fn restore(job: &mut pb::Job, mut outcome: pb::JobOutcome, output: String, after: pb::JobOutcome, job_after: pb::Job) {
    outcome.output_json = output;
    outcome.reason_code = after.reason_code;
    outcome.message = after.message;
    outcome.transient = after.transient;
    outcome.attempt = after.attempt;
    outcome.artifacts = after.artifacts;
    job.outcome = Some(outcome);
    job.provenance = job_after.provenance;
    job.last_sequence = job_after.last_sequence;
    job.correlation_id = job_after.correlation_id;
    job.labels = job_after.labels;
    job.idempotency_key = job_after.idempotency_key;
}

/// The longest log sealed into one buffer with its job: the short logs of
/// most jobs, whose events would otherwise each be a block of their own to
/// free on eviction; a long log is left as it is rather than copied.
const SEALED_WITH_LOG: usize = 16;

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::errors::ApiError;
    use crate::mutants::Faults;
    use crate::store::Store;
    use crate::store::tests::submission;

    /// Ending a job seals it: the job encoded once, and its short log
    /// moved into the same buffer right after it, every event's bytes
    /// unchanged.
    #[test]
    fn an_ended_job_is_sealed_with_its_log_in_one_buffer() -> Result<(), ApiError> {
        let store = Store::new(crate::config::Limits::default(), Faults::default(), None);
        let entry = store.submit(submission(""))?.entry;
        let live: Vec<Bytes> = entry.lock().log.iter().map(|e| e.message.clone()).collect();
        store.cancel(&entry, "corr-test", "done")?;
        let data = entry.lock();
        let Snapshot::Sealed(sealed) = &data.snapshot else {
            panic!("an ended job is sealed");
        };
        let job = pb::Job::decode(sealed.clone()).map_err(|e| ApiError::internal(e.to_string()))?;
        assert_eq!(job.state, pb::JobState::Cancelled as i32);
        assert_eq!(job.last_sequence, entry.head());
        let after: Vec<&Bytes> = data.log.iter().map(|e| &e.message).collect();
        assert_eq!(after.len(), 3, "queued, cancel requested, cancelled");
        assert_eq!(after[..live.len()], live.iter().collect::<Vec<_>>()[..], "the events are the same bytes");
        // One buffer: the job, then each event right after the one before.
        let mut next = sealed.as_ptr_range().end;
        for message in after {
            assert_eq!(message.as_ptr(), next, "the log follows the job in its buffer");
            next = message.as_ptr_range().end;
        }
        Ok(())
    }

    /// A long output is kept once: the sealed job shares its bytes with
    /// the terminal event, and still reads as the very bytes prost writes
    /// for the whole job.
    #[test]
    fn a_long_output_is_shared_with_the_terminal_event() -> Result<(), ApiError> {
        let store = Store::new(crate::config::Limits::default(), Faults::default(), None);
        let entry = store.submit(submission(""))?.entry;
        assert!(entry.start());
        let output = format!("{{\"message\":\"{}\"}}", "z".repeat(10_000));
        let mut data = entry.lock();
        entry.finish(&mut data, crate::store::Ending::Succeeded(output.clone()));
        let Snapshot::Split { output: shared, .. } = &data.snapshot else {
            panic!("a long output is shared");
        };
        let terminal = data.log.back().map(|e| e.message.as_ptr_range()).unwrap_or(std::ptr::null()..std::ptr::null());
        assert!(terminal.contains(&shared.as_ptr()), "the output's bytes are the terminal event's");
        assert_eq!(&shared[..], output.as_bytes());
        let encoded = data.encoded().unwrap_or_default();
        let job = pb::Job::decode(encoded.clone()).map_err(|e| ApiError::internal(e.to_string()))?;
        assert_eq!(job.outcome.as_ref().map(|o| o.output_json.as_str()), Some(output.as_str()));
        assert_eq!(job.encode_to_vec(), encoded.to_vec(), "the bytes prost writes for the job");
        assert!(
            data.bytes < 2 * output.len() as u64,
            "{} bytes counted for a {}-byte output",
            data.bytes,
            output.len()
        );
        Ok(())
    }
}
