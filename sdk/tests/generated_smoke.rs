//! Smoke test of the generated code: a tiny in-test server implementing
//! the generated `GatewayService` trait, called through the generated
//! client over a real socket, once per RPC. It proves the committed code
//! compiles, encodes and routes every one of the seven RPCs.

use std::pin::Pin;

use dome_sdk::contract::RPCS;
use dome_sdk::pb::gateway_service_client::GatewayServiceClient;
use dome_sdk::pb::gateway_service_server::{GatewayService, GatewayServiceServer};
use dome_sdk::pb::*;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Answers every RPC with a response derived from the request, so that the
/// test can see the request arrived intact.
struct Echo;

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamJobEventsResponse, Status>> + Send>>;

fn job(id: &str) -> Job {
    Job { job_id: id.into(), task_id: id.into(), state: JobState::Queued as i32, last_sequence: 1, ..Job::default() }
}

#[tonic::async_trait]
impl GatewayService for Echo {
    async fn list_capabilities(
        &self,
        r: Request<ListCapabilitiesRequest>,
    ) -> Result<Response<ListCapabilitiesResponse>, Status> {
        let r = r.into_inner();
        Ok(Response::new(ListCapabilitiesResponse {
            correlation_id: r.correlation_id,
            api_versions: vec![r.api_version],
            ..Default::default()
        }))
    }
    async fn skill_execute(&self, r: Request<SkillExecuteRequest>) -> Result<Response<SkillExecuteResponse>, Status> {
        let r = r.into_inner();
        Ok(Response::new(SkillExecuteResponse {
            correlation_id: r.correlation_id,
            job: Some(job(&r.skill_id)),
            created: true,
        }))
    }
    async fn get_job_status(&self, r: Request<GetJobStatusRequest>) -> Result<Response<GetJobStatusResponse>, Status> {
        let r = r.into_inner();
        Ok(Response::new(GetJobStatusResponse { correlation_id: r.correlation_id, job: Some(job(&r.job_id)) }))
    }
    async fn cancel_job(&self, r: Request<CancelJobRequest>) -> Result<Response<CancelJobResponse>, Status> {
        let r = r.into_inner();
        Ok(Response::new(CancelJobResponse {
            correlation_id: r.correlation_id,
            job: Some(job(&r.job_id)),
            cancel_requested: true,
        }))
    }
    type StreamJobEventsStream = EventStream;
    async fn stream_job_events(&self, r: Request<StreamJobEventsRequest>) -> Result<Response<EventStream>, Status> {
        let r = r.into_inner();
        let events: Vec<_> = (r.after_sequence + 1..=r.after_sequence + 3)
            .map(|sequence| {
                Ok(StreamJobEventsResponse {
                    event: Some(JobEvent { sequence, job_id: r.job_id.clone(), ..Default::default() }),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(events))))
    }
    async fn get_gate_decision(
        &self,
        r: Request<GetGateDecisionRequest>,
    ) -> Result<Response<GetGateDecisionResponse>, Status> {
        let r = r.into_inner();
        let decision = GateDecision { run_id: r.run_id, status: DecisionStatus::Reject as i32, ..Default::default() };
        Ok(Response::new(GetGateDecisionResponse { correlation_id: r.correlation_id, decision: Some(decision) }))
    }
    async fn get_promotion_decision(
        &self,
        r: Request<GetPromotionDecisionRequest>,
    ) -> Result<Response<GetPromotionDecisionResponse>, Status> {
        let r = r.into_inner();
        let decision =
            PromotionDecision { run_id: r.run_id, decision: DecisionStatus::Approve as i32, ..Default::default() };
        Ok(Response::new(GetPromotionDecisionResponse { correlation_id: r.correlation_id, decision: Some(decision) }))
    }
}

#[tokio::test]
async fn every_rpc_round_trips_through_the_generated_client() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tonic::transport::Server::builder().serve_with_incoming_shutdown(
        GatewayServiceServer::new(Echo),
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        async {
            let _ = stopped.await;
        },
    ));
    let mut client = GatewayServiceClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap(),
    );
    let mut called = Vec::new();

    let caps = client
        .list_capabilities(ListCapabilitiesRequest { correlation_id: "c-1".into(), api_version: "v1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((caps.correlation_id.as_str(), caps.api_versions), ("c-1", vec!["v1".to_string()]));
    called.push("ListCapabilities");

    let exec = client
        .skill_execute(SkillExecuteRequest { correlation_id: "c-2".into(), skill_id: "s".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exec.job.unwrap().job_id, "s");
    assert!(exec.created);
    called.push("SkillExecute");

    let status =
        client.get_job_status(GetJobStatusRequest { job_id: "j-1".into(), ..Default::default() }).await.unwrap();
    assert_eq!(status.into_inner().job.unwrap().state(), JobState::Queued);
    called.push("GetJobStatus");

    let cancel = client.cancel_job(CancelJobRequest { job_id: "j-2".into(), ..Default::default() }).await.unwrap();
    assert!(cancel.into_inner().cancel_requested);
    called.push("CancelJob");

    let mut stream = client
        .stream_job_events(StreamJobEventsRequest { job_id: "j-3".into(), after_sequence: 5, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut sequences = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        let event = message.event.unwrap();
        assert_eq!(event.job_id, "j-3");
        sequences.push(event.sequence);
    }
    assert_eq!(sequences, vec![6, 7, 8]);
    called.push("StreamJobEvents");

    let gate =
        client.get_gate_decision(GetGateDecisionRequest { run_id: "r-1".into(), ..Default::default() }).await.unwrap();
    assert_eq!(gate.into_inner().decision.unwrap().status(), DecisionStatus::Reject);
    called.push("GetGateDecision");

    let promo = client
        .get_promotion_decision(GetPromotionDecisionRequest { run_id: "r-2".into(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(promo.into_inner().decision.unwrap().run_id, "r-2");
    called.push("GetPromotionDecision");

    // Every RPC the contract declares was called, and no other.
    let declared: Vec<_> = RPCS.iter().map(|r| r.name).collect();
    assert_eq!(called, declared);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
