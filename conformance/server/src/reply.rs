//! The replies that carry a job, written around the job's encoded bytes.
//!
//! `SkillExecuteResponse`, `GetJobStatusResponse` and `CancelJobResponse`
//! share one layout: `correlation_id = 1`, `job = 2` and, but for the
//! read, a flag `= 3` (`created`, `cancel_requested`). The store hands out
//! a job already encoded (an ended job is encoded once and shared, see
//! [`crate::store::JobData::encoded`]), so a reply is written around those
//! bytes: no copy of the job into a message, no second encoding. The
//! generated trait gets the same reply decoded. Tests pin the bytes to
//! what the generated messages encode.

use dome_sdk::pb;
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
        if !self.correlation_id.is_empty() {
            encoding::string::encode(CORRELATION_ID, &self.correlation_id, buf);
        }
        encoding::encode_key(JOB, WireType::LengthDelimited, buf);
        encoding::encode_varint(self.job.len() as u64, buf);
        buf.put_slice(&self.job);
        if self.flag {
            encoding::bool::encode(FLAG, &self.flag, buf);
        }
    }
}

impl JobReply {
    /// The job, decoded, for the generated trait; a job that does not
    /// decode (which the store never makes) is a typed `INTERNAL`.
    pub(crate) fn decode_job(&self, faults: Faults) -> Result<pb::Job, Status> {
        pb::Job::decode(self.job.clone()).map_err(|e| {
            ApiError::internal(format!("a stored job does not decode: {e}"))
                .into_status(&self.correlation_id, faults)
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn written(reply: &JobReply) -> Vec<u8> {
        let mut buf = Vec::new();
        reply.write(&mut buf);
        buf
    }

    fn job(job_id: String, state: i32, last_sequence: u64) -> pb::Job {
        pb::Job {
            job_id: job_id.clone(),
            task_id: job_id,
            state,
            last_sequence,
            provenance: Some(pb::Provenance {
                commands: vec!["log".to_owned()],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    proptest! {
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
            prop_assert_eq!(written(&reply), created.encode_to_vec());
            let cancelled = pb::CancelJobResponse { correlation_id: correlation_id.clone(), job: Some(job.clone()), cancel_requested: flag };
            prop_assert_eq!(written(&reply), cancelled.encode_to_vec());
            let read = JobReply { flag: false, ..reply };
            let status = pb::GetJobStatusResponse { correlation_id, job: Some(job.clone()) };
            prop_assert_eq!(written(&read), status.encode_to_vec());
            prop_assert_eq!(read.decode_job(Faults::default()).ok(), Some(job));
        }
    }

    /// Bytes that are not a job are a typed INTERNAL under the reply's
    /// correlation id.
    #[test]
    fn a_job_that_does_not_decode_is_a_typed_internal() {
        let reply = JobReply {
            correlation_id: "corr-1".to_owned(),
            job: Bytes::from_static(&[0xff, 0xff]),
            flag: false,
        };
        let status = reply.decode_job(Faults::default()).err();
        assert_eq!(
            status.as_ref().map(Status::code),
            Some(tonic::Code::Internal)
        );
        let info = status
            .as_ref()
            .and_then(tonic_types::StatusExt::get_details_error_info);
        assert_eq!(info.map(|i| i.reason), Some("INTERNAL".to_owned()));
    }
}
