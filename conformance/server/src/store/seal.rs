//! Sealing: an ended job encoded once, with its short log in the same
//! buffer.
//!
//! A live job is a message that changes; once the job ends it never
//! changes again, so it is encoded once and every later read sends those
//! bytes. This is a speed and memory trick kept in one place: what a read
//! answers is the same message either way (pinned by the tests below).

use std::collections::VecDeque;

use prost::Message;
use prost::bytes::Bytes;

use dome_sdk::pb;

/// The job as reads answer it.
#[derive(Debug)]
pub(super) enum Snapshot {
    /// The message, while the job is live (boxed: it is large, and goes
    /// when the job ends).
    Live(Box<pb::Job>),
    /// The final job, encoded once when the job ended: it never changes
    /// again, so every later read sends these bytes.
    Sealed(Bytes),
}

impl Snapshot {
    /// The job as it is now, encoded: the sealed bytes of an ended job
    /// (shared, not copied), a fresh encoding of a live one.
    pub(super) fn encoded(&self) -> Bytes {
        match self {
            Snapshot::Live(job) => Bytes::from(job.encode_to_vec()),
            Snapshot::Sealed(sealed) => sealed.clone(),
        }
    }

    /// The live message; `None` once the job has ended.
    pub(super) fn live(&mut self) -> Option<&mut pb::Job> {
        match self {
            Snapshot::Live(job) => Some(job),
            Snapshot::Sealed(_) => None,
        }
    }

    /// The correlation id of the call that submitted the job, while the
    /// job is live (nothing is appended to an ended job).
    pub(super) fn correlation_id(&self) -> Option<&str> {
        match self {
            Snapshot::Live(job) => Some(&job.correlation_id),
            Snapshot::Sealed(_) => None,
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
        store.cancel(&entry, "corr-test", "done");
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
}
