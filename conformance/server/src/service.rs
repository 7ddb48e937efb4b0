//! The `dome.gateway.v1.GatewayService` implementation: request checks,
//! then a call into the store.
//!
//! Every call first runs [`Gateway::begin`]: the `dome-api-version` header,
//! the bearer token, shutdown, the correlation id and the request size, in
//! that order. Every error leaves through [`ApiError::into_status`] with
//! the call's correlation id.

use std::sync::Arc;

use dome_sdk::contract::{API_VERSION, API_VERSION_HEADER, CONFORMANCE_FEATURE, FEATURE_AUTH_BEARER};
use dome_sdk::pb::{self, DecisionStatus, gateway_service_server::GatewayService};
use dome_ssot::Family;
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::errors::ApiError;
use crate::ids::{self, check_idempotency_key, check_labels, check_required_id, check_run_id};
use crate::mutants::Mutant;
use crate::reply::JobReply;
use crate::skills::Catalogue;
use crate::store::{Store, Submission};
use crate::stream::{self, Decoded, EventStream};
use crate::worker::Workers;

/// The API versions served, ascending.
const API_VERSIONS: &[&str] = &[API_VERSION];

/// The gateway service.
#[derive(Debug, Clone)]
pub(crate) struct Gateway {
    pub(crate) store: Arc<Store>,
    pub(crate) workers: Arc<Workers>,
    pub(crate) catalogue: Arc<Catalogue>,
    /// The SHA-256 digest of the bearer token every call must carry, when
    /// one is required.
    pub(crate) auth_digest: Option<[u8; 32]>,
}

/// A checked call: its method and correlation id.
struct Call {
    rpc: &'static str,
    corr: String,
}

impl Gateway {
    fn fail(&self, call: &Call, e: ApiError) -> Status {
        tracing::info!(rpc = call.rpc, correlation_id = %call.corr, reason = ?e.reason(), "call failed");
        e.into_status(&call.corr, self.store.faults)
    }

    /// The checks every call passes before its own semantics.
    fn begin<T: Message>(&self, rpc: &'static str, request: &Request<T>, corr_field: &str) -> Result<Call, Status> {
        let (corr, corr_error) = match ids::correlation_id(corr_field) {
            Ok(c) => (c, None),
            Err((assigned, e)) => (assigned, Some(e)),
        };
        tracing::debug!(rpc, correlation_id = %corr, "call received");
        let call = Call { rpc, corr };
        let md = request.metadata();
        if let Some(v) = md.get(API_VERSION_HEADER) {
            let requested = v.to_str().unwrap_or("<not ascii>");
            if !API_VERSIONS.contains(&requested) {
                return Err(self.fail(&call, ApiError::unsupported_api_version(requested, API_VERSIONS)));
            }
        }
        if let Some(digest) = &self.auth_digest {
            let given = md.get("authorization").and_then(|v| bearer_token(v.as_bytes()));
            if !given.is_some_and(|g| token_matches(g, digest)) {
                return Err(self.fail(&call, ApiError::unauthenticated()));
            }
        }
        if self.store.shutting_down() {
            return Err(self.fail(&call, ApiError::shutting_down(None)));
        }
        if let Some(e) = corr_error {
            return Err(self.fail(&call, e));
        }
        let max = self.store.limits.max_request_bytes;
        if max != 0 && request.get_ref().encoded_len() as u64 > max {
            return Err(self.fail(&call, ApiError::limit_exceeded("max_request_bytes", max)));
        }
        Ok(call)
    }

    /// `StreamJobEvents`: the checks, then a stream of the job's encoded
    /// events (served as they are by [`crate::route`], or decoded for the
    /// generated trait). The methods below that answer with a job are
    /// served the same two ways.
    pub(crate) fn open_events(&self, request: Request<pb::StreamJobEventsRequest>) -> Result<EventStream, Status> {
        let call = self.begin("StreamJobEvents", &request, &request.get_ref().correlation_id)?;
        let req = request.into_inner();
        let stream = check_required_id("job_id", &req.job_id)
            .and_then(|()| self.store.job(&req.job_id))
            .and_then(|job| stream::open(self.store.clone(), job, req.after_sequence, call.corr.clone()))
            .map_err(|e| self.fail(&call, e))?;
        tracing::debug!(correlation_id = %call.corr, job_id = %req.job_id, after_sequence = req.after_sequence, "stream opened");
        Ok(stream)
    }

    /// `SkillExecute`: the checks, then the job submitted (or the one its
    /// idempotency key names), encoded.
    pub(crate) fn execute(&self, request: Request<pb::SkillExecuteRequest>) -> Result<JobReply, Status> {
        let call = self.begin("SkillExecute", &request, &request.get_ref().correlation_id)?;
        let req = request.into_inner();
        let submitted = (|| {
            if req.skill_id.is_empty() {
                return Err(ApiError::invalid_argument("skill_id", "is required"));
            }
            check_length("skill_id", &req.skill_id)?;
            check_length("skill_version", &req.skill_version)?;
            check_idempotency_key(&req.idempotency_key)?;
            check_labels(&req.labels)?;
            check_run_id(&req.run_id)?;
            if req.base_ref.len() > 1024 {
                return Err(ApiError::invalid_argument("base_ref", "must be at most 1024 bytes"));
            }
            let max_input = self.store.limits.max_input_bytes;
            if max_input != 0 && req.input_json.len() as u64 > max_input {
                return Err(ApiError::limit_exceeded("max_input_bytes", max_input));
            }
            let skill = self.catalogue.resolve(&req.skill_id, &req.skill_version)?;
            let input = skill.check_input(&req.input_json)?;
            self.workers.submit(Submission {
                correlation_id: call.corr.clone(),
                skill_id: skill.proto.skill_id.clone(),
                skill_version: skill.proto.version.clone(),
                requested_version: req.skill_version,
                kind: skill.kind,
                input,
                idempotency_key: req.idempotency_key,
                labels: req.labels,
                run_id: req.run_id,
                base_ref: req.base_ref,
            })
        })()
        .map_err(|e| self.fail(&call, e))?;
        let entry = &submitted.entry;
        tracing::info!(correlation_id = %call.corr, job_id = %entry.job_id, run_id = %entry.run_id, created = submitted.created, "job submitted");
        Ok(JobReply { correlation_id: call.corr, job: submitted.job, flag: submitted.created })
    }

    /// `GetJobStatus`: the checks, then the job as it is now, encoded.
    pub(crate) fn job_status(&self, request: Request<pb::GetJobStatusRequest>) -> Result<JobReply, Status> {
        let call = self.begin("GetJobStatus", &request, &request.get_ref().correlation_id)?;
        let req = request.get_ref();
        let job = check_required_id("job_id", &req.job_id)
            .and_then(|()| self.store.job(&req.job_id))
            .map_err(|e| self.fail(&call, e))?;
        let job = job.encoded().ok_or_else(|| self.fail(&call, ApiError::job_not_found(&req.job_id)))?;
        Ok(JobReply { correlation_id: call.corr, job, flag: false })
    }

    /// `CancelJob`: the checks, then the cancel; the job after it,
    /// encoded, and whether this call's cancel took effect.
    pub(crate) fn cancel(&self, request: Request<pb::CancelJobRequest>) -> Result<JobReply, Status> {
        let call = self.begin("CancelJob", &request, &request.get_ref().correlation_id)?;
        let req = request.get_ref();
        let entry = check_required_id("job_id", &req.job_id)
            .and_then(|()| {
                if req.reason.len() > 4 * 1024 || req.reason.chars().count() > 1024 {
                    Err(ApiError::invalid_argument("reason", "must be at most 1024 characters"))
                } else {
                    Ok(())
                }
            })
            .and_then(|()| self.store.job(&req.job_id))
            .map_err(|e| self.fail(&call, e))?;
        if self.store.faults.is(Mutant::CancelFinishedErrors) && entry.lock().terminal {
            return Err(self.fail(&call, ApiError::invalid_argument("job_id", "the job has already ended")));
        }
        let (job, cancel_requested) =
            self.store.cancel(&entry, &call.corr, &req.reason).map_err(|e| self.fail(&call, e))?;
        tracing::info!(correlation_id = %call.corr, job_id = %req.job_id, cancel_requested, "cancel");
        Ok(JobReply { correlation_id: call.corr, job, flag: cancel_requested })
    }

    fn features(&self) -> Vec<String> {
        let mut features = Vec::new();
        if self.catalogue.conformance() {
            features.push(CONFORMANCE_FEATURE.to_owned());
        }
        if self.auth_digest.is_some() {
            features.push(FEATURE_AUTH_BEARER.to_owned());
        }
        features.sort();
        features
    }
}

/// The longest skill id, skill version or API version accepted, in bytes:
/// the names the server offers are far shorter, and a longer one is
/// refused before it is looked up or echoed.
const MAX_NAME_BYTES: usize = 128;

/// Checks that a name field is at most [`MAX_NAME_BYTES`] long.
fn check_length(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_NAME_BYTES {
        return Err(ApiError::invalid_argument(field, format!("must be at most {MAX_NAME_BYTES} bytes")));
    }
    Ok(())
}

/// The token of an `authorization` header value `Bearer TOKEN`: the
/// scheme in any case (RFC 7235 makes it case-insensitive), one or more
/// spaces, then a token that is not empty.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii_start();
    (!token.is_empty()).then_some(token)
}

/// The digest a configured token is compared by.
pub(crate) fn token_digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// Whether `given` is the token of `digest`. The digests are compared,
/// byte for byte with no early exit, so neither the time taken nor its
/// dependence on the length tells a caller how close its guess was.
fn token_matches(given: &[u8], digest: &[u8; 32]) -> bool {
    let given = token_digest(given);
    given.iter().zip(digest).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[tonic::async_trait]
impl GatewayService for Gateway {
    async fn list_capabilities(
        &self,
        request: Request<pb::ListCapabilitiesRequest>,
    ) -> Result<Response<pb::ListCapabilitiesResponse>, Status> {
        let call = self.begin("ListCapabilities", &request, &request.get_ref().correlation_id)?;
        let req = request.into_inner();
        check_length("api_version", &req.api_version).map_err(|e| self.fail(&call, e))?;
        if !req.api_version.is_empty() && !API_VERSIONS.contains(&req.api_version.as_str()) {
            return Err(self.fail(&call, ApiError::unsupported_api_version(&req.api_version, API_VERSIONS)));
        }
        Ok(Response::new(pb::ListCapabilitiesResponse {
            correlation_id: call.corr,
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            api_versions: API_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
            ssot_schema_versions: Family::ALL
                .iter()
                .map(|f| pb::SsotSchemaVersion {
                    family: f.to_pb() as i32,
                    version: dome_ssot::schema_version(*f).to_owned(),
                })
                .collect(),
            features: self.features(),
            skills: self.catalogue.listed(),
            limits: Some(self.store.limits.to_proto()),
        }))
    }

    async fn skill_execute(
        &self,
        request: Request<pb::SkillExecuteRequest>,
    ) -> Result<Response<pb::SkillExecuteResponse>, Status> {
        let reply = self.execute(request)?;
        Ok(Response::new(pb::SkillExecuteResponse {
            job: Some(reply.decode_job(self.store.faults)?),
            correlation_id: reply.correlation_id,
            created: reply.flag,
        }))
    }

    async fn get_job_status(
        &self,
        request: Request<pb::GetJobStatusRequest>,
    ) -> Result<Response<pb::GetJobStatusResponse>, Status> {
        let reply = self.job_status(request)?;
        Ok(Response::new(pb::GetJobStatusResponse {
            job: Some(reply.decode_job(self.store.faults)?),
            correlation_id: reply.correlation_id,
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let reply = self.cancel(request)?;
        Ok(Response::new(pb::CancelJobResponse {
            job: Some(reply.decode_job(self.store.faults)?),
            correlation_id: reply.correlation_id,
            cancel_requested: reply.flag,
        }))
    }

    type StreamJobEventsStream = Decoded;

    async fn stream_job_events(
        &self,
        request: Request<pb::StreamJobEventsRequest>,
    ) -> Result<Response<Self::StreamJobEventsStream>, Status> {
        let stream = self.open_events(request)?;
        Ok(Response::new(Decoded::new(stream, self.store.faults)))
    }

    async fn get_gate_decision(
        &self,
        request: Request<pb::GetGateDecisionRequest>,
    ) -> Result<Response<pb::GetGateDecisionResponse>, Status> {
        let call = self.begin("GetGateDecision", &request, &request.get_ref().correlation_id)?;
        let req = request.into_inner();
        let decision = check_required_id("run_id", &req.run_id)
            .and_then(|()| if req.task_id.is_empty() { Ok(()) } else { check_required_id("task_id", &req.task_id) })
            .and_then(|()| {
                let task =
                    if self.store.faults.is(Mutant::GateDecisionIgnoresTask) { "" } else { req.task_id.as_str() };
                self.store
                    .gate_decision(&req.run_id, task)
                    .ok_or_else(|| ApiError::decision_not_found(&req.run_id, "gate", &req.task_id))
            })
            .map_err(|e| self.fail(&call, e))?;
        if self.store.faults.is(Mutant::RejectAsError) && decision.status == DecisionStatus::Reject as i32 {
            return Err(self.fail(&call, ApiError::decision_not_found(&req.run_id, "gate", &req.task_id)));
        }
        Ok(Response::new(pb::GetGateDecisionResponse { correlation_id: call.corr, decision: Some(decision) }))
    }

    async fn get_promotion_decision(
        &self,
        request: Request<pb::GetPromotionDecisionRequest>,
    ) -> Result<Response<pb::GetPromotionDecisionResponse>, Status> {
        let call = self.begin("GetPromotionDecision", &request, &request.get_ref().correlation_id)?;
        let req = request.into_inner();
        let decision = check_required_id("run_id", &req.run_id)
            .and_then(|()| {
                self.store
                    .promotion_decision(&req.run_id)
                    .ok_or_else(|| ApiError::decision_not_found(&req.run_id, "promotion", ""))
            })
            .map_err(|e| self.fail(&call, e))?;
        Ok(Response::new(pb::GetPromotionDecisionResponse { correlation_id: call.corr, decision: Some(decision) }))
    }
}

#[cfg(test)]
mod tests {
    use dome_sdk::contract::CONFORMANCE_SKILL_ID;
    use tokio_stream::StreamExt;

    use super::*;
    use crate::config::Limits;
    use crate::mutants::Faults;
    use crate::reply::Encoded as _;

    fn request<T>(message: T) -> Request<T> {
        Request::new(message)
    }

    fn gateway(conformance: bool) -> Result<Gateway, String> {
        let store = Arc::new(Store::new(Limits::default(), Faults::default(), None));
        Ok(Gateway {
            workers: Workers::new(store.clone()),
            store,
            catalogue: Arc::new(Catalogue::new(conformance).map_err(|e| e.0)?),
            auth_digest: None,
        })
    }

    /// The generated trait's `stream_job_events` (decoded messages) and the
    /// encoded route send the same events, byte for byte once encoded.
    #[tokio::test]
    async fn the_generated_trait_streams_the_encoded_events_decoded() -> Result<(), Box<dyn std::error::Error>> {
        let gateway = gateway(true)?;
        let submitted = gateway
            .skill_execute(request(pb::SkillExecuteRequest {
                skill_id: CONFORMANCE_SKILL_ID.to_owned(),
                input_json: r#"{"steps":[{"bulk":{"count":5}},{"log":{"message":"done"}}]}"#.to_owned(),
                ..Default::default()
            }))
            .await?
            .into_inner();
        let job_id = submitted.job.ok_or("no job in the response")?.job_id;
        let open = || request(pb::StreamJobEventsRequest { job_id: job_id.clone(), ..Default::default() });
        let decoded: Vec<pb::StreamJobEventsResponse> =
            gateway.stream_job_events(open()).await?.into_inner().collect::<Result<_, _>>().await?;
        let encoded: Vec<prost::bytes::Bytes> = gateway.open_events(open())?.collect::<Result<_, _>>().await?;
        let sequences: Vec<u64> = decoded.iter().filter_map(|m| m.event.as_ref()).map(|e| e.sequence).collect();
        // QUEUED, RUNNING, 5 progress events, the log, SUCCEEDED.
        assert_eq!(sequences, (1..=9).collect::<Vec<u64>>());
        let reencoded: Vec<Vec<u8>> = decoded.iter().map(Message::encode_to_vec).collect();
        assert_eq!(reencoded, encoded.iter().map(|b| b.to_vec()).collect::<Vec<_>>());
        Ok(())
    }

    /// The three methods that answer with a job send the same bytes on
    /// both paths: for a live job (encoded when read) and for an ended
    /// one (sealed once, with its whole outcome and provenance).
    #[tokio::test]
    async fn the_generated_trait_answers_jobs_as_the_encoded_route_does() -> Result<(), Box<dyn std::error::Error>> {
        let gateway = gateway(true)?;
        let submit = || {
            request(pb::SkillExecuteRequest {
                skill_id: CONFORMANCE_SKILL_ID.to_owned(),
                input_json: r#"{"steps":[{"log":{"message":"one"}},{"park":{}}]}"#.to_owned(),
                idempotency_key: "same-key".to_owned(),
                correlation_id: "corr-same".to_owned(),
                ..Default::default()
            })
        };
        let created = gateway.execute(submit())?;
        assert!(created.flag, "the first call creates the job");
        let job = pb::Job::decode(created.job.clone())?;
        let entry = gateway.store.job(&job.job_id).map_err(|e| format!("{:?}", e.reason()))?;
        // Parked: live until cancelled.
        entry.appended_after(2).await;
        let read =
            || request(pb::GetJobStatusRequest { job_id: job.job_id.clone(), correlation_id: "corr-read".to_owned() });
        let routed = gateway.job_status(read())?;
        let decoded = gateway.get_job_status(read()).await?.into_inner();
        assert_eq!(routed.to_vec(), decoded.encode_to_vec(), "a live job reads the same both ways");

        let cancel = || {
            request(pb::CancelJobRequest {
                job_id: job.job_id.clone(),
                correlation_id: "corr-cancel".to_owned(),
                reason: "done".to_owned(),
            })
        };
        let routed = gateway.cancel(cancel())?;
        assert!(routed.flag, "the first cancel takes effect");
        entry.terminal().await;
        let decoded = gateway.cancel_job(cancel()).await?.into_inner();
        assert!(!decoded.cancel_requested, "the job had ended");
        assert_eq!(gateway.cancel(cancel())?.to_vec(), decoded.encode_to_vec());

        let ended = gateway.get_job_status(read()).await?.into_inner();
        assert_eq!(
            gateway.job_status(read())?.to_vec(),
            ended.encode_to_vec(),
            "a sealed job reads the same both ways"
        );
        let sealed = ended.job.ok_or("no job in the response")?;
        assert_eq!(sealed.state, pb::JobState::Cancelled as i32);
        assert!(sealed.end_time.is_some() && sealed.outcome.is_some(), "the sealed job keeps its ending");
        let commands = sealed.provenance.as_ref().map(|p| p.commands.clone()).unwrap_or_default();
        assert_eq!(commands, ["log", "park"], "the sealed job keeps its provenance");

        let retried = gateway.skill_execute(submit()).await?.into_inner();
        assert!(!retried.created, "the retry names the same job");
        assert_eq!(gateway.execute(submit())?.to_vec(), retried.encode_to_vec());
        assert_eq!(retried.job, Some(sealed));
        Ok(())
    }

    /// A stream of a job that is not there fails the same typed way on
    /// both paths.
    #[tokio::test]
    async fn both_paths_refuse_an_unknown_job_with_the_typed_error() -> Result<(), Box<dyn std::error::Error>> {
        let gateway = gateway(false)?;
        let open = || request(pb::StreamJobEventsRequest { job_id: "job-0123".to_owned(), ..Default::default() });
        let trait_error = gateway.stream_job_events(open()).await.err().ok_or("the trait path opened a stream")?;
        let route_error = gateway.open_events(open()).err().ok_or("the route path opened a stream")?;
        for status in [trait_error, route_error] {
            assert_eq!(status.code(), tonic::Code::NotFound);
            let info = tonic_types::StatusExt::get_details_error_info(&status).ok_or("no ErrorInfo")?;
            assert_eq!(info.reason, "JOB_NOT_FOUND");
        }
        Ok(())
    }

    /// The scheme is matched in any case, the token exactly, and an empty
    /// token never.
    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_exact() {
        let digest = token_digest(b"s3cret");
        let accepts = |header: &str| bearer_token(header.as_bytes()).is_some_and(|t| token_matches(t, &digest));
        for good in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret"] {
            assert!(accepts(good), "{good:?} is accepted");
        }
        for bad in
            ["Bearer S3cret", "Bearer s3cret2", "Bearer ", "Bearer", "Basic s3cret", "s3cret", "Bearers3cret", ""]
        {
            assert!(!accepts(bad), "{bad:?} is refused");
        }
        assert_eq!(bearer_token(b"Bearer "), None, "an empty token is no token");
    }
}
