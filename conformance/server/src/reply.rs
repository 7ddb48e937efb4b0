//! The messages the server writes itself: the replies that carry a job,
//! written around the job's encoded bytes, and the events of a job's log,
//! written from borrowed fields.
//!
//! `SkillExecuteResponse`, `GetJobStatusResponse` and `CancelJobResponse`
//! share one layout: `correlation_id = 1`, `job = 2` and, but for the
//! read, a flag `= 3` (`created`, `cancel_requested`). The store hands out
//! a job already encoded (an ended job is encoded once and shared, see
//! [`crate::store::JobEntry::encoded`]), so a reply is written around those
//! bytes: no copy of the job into a message, no second encoding. The
//! generated trait gets the same reply decoded. An event is written once,
//! when it is appended, without copying the job's ids into a message
//! first. Tests pin the bytes to what the generated messages encode.

use dome_sdk::pb::{self, job_event::Payload};
use prost::Message;
use prost::bytes::{BufMut, Bytes};
use prost::encoding::{self, WireType};
use tonic::Status;

use crate::errors::ApiError;
use crate::mutants::Faults;

/// A message the server has encoded already, or writes itself.
pub(crate) trait Encoded: Send + 'static {
    /// Writes the message's encoding to `buf`.
    fn write(&self, buf: &mut impl BufMut);

    /// The message's encoding, as the client receives it.
    #[cfg(test)]
    fn to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.write(&mut buf);
        buf
    }
}

/// Decodes a message the server stored encoded; one that does not decode
/// (which the server never stores) is a typed `INTERNAL` under the call's
/// correlation id.
pub(crate) fn decode_stored<M: Message + Default>(
    bytes: Bytes,
    what: &str,
    correlation_id: &str,
    faults: Faults,
) -> Result<M, Status> {
    M::decode(bytes).map_err(|e| {
        ApiError::internal(format!("a stored {what} does not decode: {e}")).into_status(correlation_id, faults)
    })
}

impl Encoded for Bytes {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(self);
    }
}

/// A reply carrying a job.
#[derive(Debug, Clone)]
pub(crate) struct JobReply {
    /// The call's correlation id (field 1).
    pub(crate) correlation_id: String,
    /// The encoded job (field 2).
    pub(crate) job: Bytes,
    /// `created` or `cancel_requested` (field 3); always false in a read.
    pub(crate) flag: bool,
}

/// The field numbers the three replies share.
const CORRELATION_ID: u32 = 1;
const JOB: u32 = 2;
const FLAG: u32 = 3;

impl Encoded for JobReply {
    /// Writes the fields in number order, leaving out those at their
    /// default, as prost does: the bytes are the generated message's.
    fn write(&self, buf: &mut impl BufMut) {
        put_str(CORRELATION_ID, &self.correlation_id, buf);
        put_delimited(JOB, &self.job, buf);
        if self.flag {
            encoding::bool::encode(FLAG, &self.flag, buf);
        }
    }
}

/// The length of a string field, or 0 for an empty one (proto3 leaves
/// fields at their default out).
fn str_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        encoding::key_len(tag) + encoding::encoded_len_varint(value.len() as u64) + value.len()
    }
}

/// Writes a string field unless it is empty.
fn put_str(tag: u32, value: &str, buf: &mut impl BufMut) {
    if !value.is_empty() {
        put_delimited(tag, value.as_bytes(), buf);
    }
}

/// Writes a length-delimited field: a string, or a message encoded already.
fn put_delimited(tag: u32, bytes: &[u8], buf: &mut impl BufMut) {
    encoding::encode_key(tag, WireType::LengthDelimited, buf);
    encoding::encode_varint(bytes.len() as u64, buf);
    buf.put_slice(bytes);
}

/// One event of a job, as borrowed fields of a `JobEvent`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventFields<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) sequence: u64,
    pub(crate) job_id: &'a str,
    pub(crate) run_id: &'a str,
    pub(crate) time: &'a dome_sdk::pb::Timestamp,
    pub(crate) correlation_id: &'a str,
    pub(crate) payload: &'a Payload,
}

/// The field numbers of `JobEvent` (and of `event` in its response).
mod event {
    pub(super) const IN_RESPONSE: u32 = 1;
    pub(super) const EVENT_ID: u32 = 1;
    pub(super) const SEQUENCE: u32 = 2;
    pub(super) const JOB_ID: u32 = 3;
    pub(super) const RUN_ID: u32 = 4;
    pub(super) const TIME: u32 = 5;
    pub(super) const CORRELATION_ID: u32 = 6;
}

impl EventFields<'_> {
    /// The encoded `StreamJobEventsResponse` carrying the event, sized
    /// exactly, in field order, as prost writes the generated message.
    pub(crate) fn encode(&self) -> Bytes {
        let sequence_len = if self.sequence == 0 {
            0
        } else {
            encoding::key_len(event::SEQUENCE) + encoding::encoded_len_varint(self.sequence)
        };
        let event_len = str_len(event::EVENT_ID, self.event_id)
            + sequence_len
            + str_len(event::JOB_ID, self.job_id)
            + str_len(event::RUN_ID, self.run_id)
            + encoding::message::encoded_len(event::TIME, self.time)
            + str_len(event::CORRELATION_ID, self.correlation_id)
            + self.payload.encoded_len();
        let mut buf = Vec::with_capacity(
            encoding::key_len(event::IN_RESPONSE) + encoding::encoded_len_varint(event_len as u64) + event_len,
        );
        encoding::encode_key(event::IN_RESPONSE, WireType::LengthDelimited, &mut buf);
        encoding::encode_varint(event_len as u64, &mut buf);
        put_str(event::EVENT_ID, self.event_id, &mut buf);
        if self.sequence != 0 {
            encoding::uint64::encode(event::SEQUENCE, &self.sequence, &mut buf);
        }
        put_str(event::JOB_ID, self.job_id, &mut buf);
        put_str(event::RUN_ID, self.run_id, &mut buf);
        encoding::message::encode(event::TIME, self.time, &mut buf);
        put_str(event::CORRELATION_ID, self.correlation_id, &mut buf);
        self.payload.encode(&mut buf);
        Bytes::from(buf)
    }
}

impl JobReply {
    /// The job, decoded, for the generated trait; a job that does not
    /// decode (which the store never makes) is a typed `INTERNAL`.
    pub(crate) fn decode_job(&self, faults: Faults) -> Result<pb::Job, Status> {
        decode_stored(self.job.clone(), "job", &self.correlation_id, faults)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn job(job_id: String, state: i32, last_sequence: u64) -> pb::Job {
        pb::Job {
            job_id: job_id.clone(),
            task_id: job_id,
            state,
            last_sequence,
            provenance: Some(pb::Provenance { commands: vec!["log".to_owned()], ..Default::default() }),
            ..Default::default()
        }
    }

    /// One payload of every kind, each with its fields set.
    fn payloads() -> Vec<Payload> {
        vec![
            Payload::StateChanged(pb::JobStateChanged {
                state: pb::JobState::Succeeded as i32,
                outcome: Some(pb::JobOutcome {
                    task_id: "job-1".to_owned(),
                    output_json: "{}".to_owned(),
                    attempt: 1,
                    ..Default::default()
                }),
            }),
            Payload::StateChanged(pb::JobStateChanged::default()),
            Payload::Progress(pb::JobProgress { percent: 50, message: "half".to_owned() }),
            Payload::Log(pb::JobLog { message: "a line".to_owned(), ..Default::default() }),
            Payload::CancelRequested(pb::JobCancelRequested {
                reason: "stop".to_owned(),
                previous_state: pb::JobState::Running as i32,
            }),
            Payload::GateDecisionRecorded(pb::GateDecision { run_id: "run-1".to_owned(), ..Default::default() }),
            Payload::PromotionDecisionRecorded(pb::PromotionDecision::default()),
            Payload::ArtifactProduced(pb::Artifact {
                name: "out".to_owned(),
                uri: "file:///out".to_owned(),
                ..Default::default()
            }),
        ]
        .into_iter()
        // No wildcard: a new kind of payload does not compile here until
        // it is added above.
        .inspect(|p| match p {
            Payload::StateChanged(_)
            | Payload::Progress(_)
            | Payload::Log(_)
            | Payload::CancelRequested(_)
            | Payload::GateDecisionRecorded(_)
            | Payload::PromotionDecisionRecorded(_)
            | Payload::ArtifactProduced(_) => {}
        })
        .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// An event written from borrowed fields is byte for byte the
        /// generated message's encoding, for every kind of payload and
        /// whatever the ids, sequence and time (empty ids and a zero
        /// sequence included, which proto3 leaves out).
        #[test]
        fn events_are_the_generated_messages_bytes(
            event_id in "[a-z0-9-]{0,40}",
            sequence in prop_oneof![Just(0u64), any::<u64>()],
            job_id in "[a-z0-9-]{0,40}",
            run_id in "[a-z0-9-]{0,40}",
            seconds in any::<i64>(),
            nanos in 0i32..1_000_000_000,
            correlation_id in "[a-z0-9-]{0,40}",
        ) {
            let time = dome_sdk::pb::Timestamp { seconds, nanos };
            for payload in payloads() {
                let written = EventFields {
                    event_id: &event_id,
                    sequence,
                    job_id: &job_id,
                    run_id: &run_id,
                    time: &time,
                    correlation_id: &correlation_id,
                    payload: &payload,
                }
                .encode();
                let generated = pb::StreamJobEventsResponse {
                    event: Some(pb::JobEvent {
                        event_id: event_id.clone(),
                        sequence,
                        job_id: job_id.clone(),
                        run_id: run_id.clone(),
                        time: Some(time),
                        correlation_id: correlation_id.clone(),
                        payload: Some(payload),
                    }),
                };
                prop_assert_eq!(written.to_vec(), generated.encode_to_vec());
            }
        }

        /// Each of the three replies is byte for byte the generated
        /// message's encoding, whatever the correlation id, job and flag.
        #[test]
        fn replies_are_the_generated_messages_bytes(
            correlation_id in "[a-z0-9-]{0,40}",
            job_id in "[a-z0-9-]{0,40}",
            state in 0i32..8,
            last_sequence in any::<u64>(),
            flag in any::<bool>(),
        ) {
            let job = job(job_id, state, last_sequence);
            let reply = JobReply { correlation_id: correlation_id.clone(), job: Bytes::from(job.encode_to_vec()), flag };
            let created = pb::SkillExecuteResponse { correlation_id: correlation_id.clone(), job: Some(job.clone()), created: flag };
            prop_assert_eq!(reply.to_vec(), created.encode_to_vec());
            let cancelled = pb::CancelJobResponse { correlation_id: correlation_id.clone(), job: Some(job.clone()), cancel_requested: flag };
            prop_assert_eq!(reply.to_vec(), cancelled.encode_to_vec());
            let read = JobReply { flag: false, ..reply };
            let status = pb::GetJobStatusResponse { correlation_id, job: Some(job.clone()) };
            prop_assert_eq!(read.to_vec(), status.encode_to_vec());
            prop_assert_eq!(read.decode_job(Faults::default()).ok(), Some(job));
        }
    }

    /// Bytes that are not a job are a typed INTERNAL under the reply's
    /// correlation id.
    #[test]
    fn a_job_that_does_not_decode_is_a_typed_internal() {
        let reply =
            JobReply { correlation_id: "corr-1".to_owned(), job: Bytes::from_static(&[0xff, 0xff]), flag: false };
        let status = reply.decode_job(Faults::default()).err();
        assert_eq!(status.as_ref().map(Status::code), Some(tonic::Code::Internal));
        let info = status.as_ref().and_then(tonic_types::StatusExt::get_details_error_info);
        assert_eq!(info.map(|i| i.reason), Some("INTERNAL".to_owned()));
    }
}
