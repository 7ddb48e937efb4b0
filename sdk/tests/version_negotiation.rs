//! Version negotiation: `Client::connect` calls `ListCapabilities` once,
//! stating `v1`, and refuses with a typed error a server that does not
//! serve `v1`, whether the server says so itself
//! (`UNSUPPORTED_API_VERSION`) or only lists other versions. Every call
//! carries the `dome-api-version` header.

use crate::common;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use dome_sdk::contract::{API_VERSION, CORRELATION_ID_KEY, ERROR_DOMAIN};
use dome_sdk::pb::gateway_service_server::GatewayService;
use dome_sdk::pb::*;
use dome_sdk::{API_VERSION_HEADER, ApiError, Client, Error};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// A server that serves only `versions`. When `strict`, it refuses a
/// stated version it does not serve with `UNSUPPORTED_API_VERSION`, as the
/// contract requires; otherwise it answers and lists its versions. It
/// records the `dome-api-version` header of every call.
#[derive(Clone)]
struct Versioned {
    versions: Vec<String>,
    strict: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// One call the server saw: the RPC and its `dome-api-version` header.
type Seen = (String, Option<String>);

impl Versioned {
    fn record<T>(&self, rpc: &str, request: &Request<T>) {
        let header = request.metadata().get(API_VERSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        self.seen.lock().expect("not poisoned").push((rpc.to_string(), header));
    }

    fn unsupported(&self, requested: &str) -> Status {
        let metadata = HashMap::from([
            (CORRELATION_ID_KEY.to_string(), "corr-test".to_string()),
            ("requestedVersion".to_string(), requested.to_string()),
            ("supportedVersions".to_string(), self.versions.join(",")),
        ]);
        let details = ErrorDetails::with_error_info("UNSUPPORTED_API_VERSION", ERROR_DOMAIN, metadata);
        Status::with_error_details(
            tonic::Code::FailedPrecondition,
            format!("version `{requested}` is not served"),
            details,
        )
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamJobEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl GatewayService for Versioned {
    async fn list_capabilities(
        &self,
        r: Request<ListCapabilitiesRequest>,
    ) -> Result<Response<ListCapabilitiesResponse>, Status> {
        self.record("ListCapabilities", &r);
        let r = r.into_inner();
        if self.strict && !r.api_version.is_empty() && !self.versions.contains(&r.api_version) {
            return Err(self.unsupported(&r.api_version));
        }
        Ok(Response::new(ListCapabilitiesResponse {
            correlation_id: r.correlation_id,
            server_version: "0.0.0".into(),
            api_versions: self.versions.clone(),
            limits: Some(ServerLimits::default()),
            ..Default::default()
        }))
    }
    async fn skill_execute(&self, r: Request<SkillExecuteRequest>) -> Result<Response<SkillExecuteResponse>, Status> {
        self.record("SkillExecute", &r);
        Err(Status::unimplemented("not in this test"))
    }
    async fn get_job_status(&self, r: Request<GetJobStatusRequest>) -> Result<Response<GetJobStatusResponse>, Status> {
        self.record("GetJobStatus", &r);
        let job_id = r.into_inner().job_id;
        Ok(Response::new(GetJobStatusResponse {
            job: Some(Job {
                job_id: job_id.clone(),
                task_id: job_id,
                state: JobState::Queued as i32,
                last_sequence: 1,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
    async fn cancel_job(&self, r: Request<CancelJobRequest>) -> Result<Response<CancelJobResponse>, Status> {
        self.record("CancelJob", &r);
        Err(Status::unimplemented("not in this test"))
    }
    type StreamJobEventsStream = EventStream;
    async fn stream_job_events(&self, r: Request<StreamJobEventsRequest>) -> Result<Response<EventStream>, Status> {
        self.record("StreamJobEvents", &r);
        Err(Status::unimplemented("not in this test"))
    }
    async fn get_gate_decision(
        &self,
        r: Request<GetGateDecisionRequest>,
    ) -> Result<Response<GetGateDecisionResponse>, Status> {
        self.record("GetGateDecision", &r);
        Err(Status::unimplemented("not in this test"))
    }
    async fn get_promotion_decision(
        &self,
        r: Request<GetPromotionDecisionRequest>,
    ) -> Result<Response<GetPromotionDecisionResponse>, Status> {
        self.record("GetPromotionDecision", &r);
        Err(Status::unimplemented("not in this test"))
    }
}

fn versioned(versions: &[&str], strict: bool) -> Versioned {
    Versioned { versions: versions.iter().map(|v| v.to_string()).collect(), strict, seen: Arc::default() }
}

#[tokio::test]
async fn a_server_listing_only_v2_is_refused() {
    let service = versioned(&["v2"], false);
    let (addr, _stop) = common::serve_gateway(service.clone()).await;
    let error = Client::connect(format!("http://{addr}")).await.expect_err("a v2-only server is refused");
    match error {
        Error::UnsupportedVersion { requested, supported } => {
            assert_eq!(requested, API_VERSION);
            assert_eq!(supported, vec!["v2".to_string()]);
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    let seen = service.seen.lock().expect("not poisoned").clone();
    assert_eq!(
        seen,
        vec![("ListCapabilities".to_string(), Some(API_VERSION.to_string()))],
        "one call, with the header"
    );
}

#[tokio::test]
async fn a_server_refusing_v1_yields_its_typed_error() {
    let (addr, _stop) = common::serve_gateway(versioned(&["v2", "v3"], true)).await;
    let error = Client::connect(format!("http://{addr}")).await.expect_err("the server refuses v1");
    match error {
        Error::Api(ApiError::UnsupportedApiVersion {
            requested_version, supported_versions, correlation_id, ..
        }) => {
            assert_eq!(requested_version, API_VERSION);
            assert_eq!(supported_versions, ["v2", "v3"], "a list, not the comma-joined text");
            assert_eq!(correlation_id, "corr-test");
        }
        other => panic!("expected UNSUPPORTED_API_VERSION, got {other:?}"),
    }
}

#[tokio::test]
async fn a_v1_server_is_accepted_and_every_call_states_the_version() {
    let service = versioned(&["v1", "v2"], true);
    let (addr, _stop) = common::serve_gateway(service.clone()).await;
    let client = Client::connect(format!("http://{addr}")).await.expect("a v1 server is accepted");
    assert_eq!(client.capabilities().api_versions, vec!["v1".to_string(), "v2".to_string()]);
    client.get_job_status("job-1").send().await.expect("the stub answers");
    let unimplemented = client.cancel_job("job-1").reason("").send().await.expect_err("the stub refuses");
    assert!(matches!(&unimplemented, Error::Status { code: dome_sdk::Code::Unimplemented, .. }), "{unimplemented:?}");
    let seen = service.seen.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|(_, header)| header.as_deref() == Some(API_VERSION)), "{seen:?}");
}
