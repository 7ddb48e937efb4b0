//! The bare tonic baseline: the generated `GatewayService` trait with no
//! logic behind it.
//!
//! It answers `SkillExecute` with a job of the same shape and size as the
//! reference server's new job (ids, timestamps, provenance with a
//! SHA-256), `GetJobStatus` and `CancelJob` with one shaped like a
//! finished one-step job, keeps no state, and streams for any job the
//! same number and kind of events a `bulk` script of the reference server
//! emits: `QUEUED`, `RUNNING`, `count` progress events, `SUCCEEDED`. The
//! count travels inside the job id (the first 16 of its 32 hex digits), so
//! no job table is needed. Whatever the reference server does beyond this
//! (validation, the queue, the event log, fan-out) is what the bench's
//! ratio measures.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::SystemTime;

use dome_sdk::pb::gateway_service_server::{GatewayService, GatewayServiceServer};
use dome_sdk::pb::{
    CancelJobRequest, CancelJobResponse, GetGateDecisionRequest, GetGateDecisionResponse, GetJobStatusRequest,
    GetJobStatusResponse, GetPromotionDecisionRequest, GetPromotionDecisionResponse, Job, JobEvent, JobOutcome,
    JobProgress, JobState, JobStateChanged, ListCapabilitiesRequest, ListCapabilitiesResponse, Provenance,
    SkillExecuteRequest, SkillExecuteResponse, StreamJobEventsRequest, StreamJobEventsResponse, TaskStatus,
    job_event::Payload,
};
use tokio::net::TcpListener;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::Error;

/// The stateless baseline service.
#[derive(Debug, Default, Clone, Copy)]
pub struct Baseline;

/// A baseline server listening on a loopback port.
#[derive(Debug)]
pub struct Serving {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Serving {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server stops on its own (it never does unless the
    /// transport fails).
    pub async fn wait(self) -> Result<(), Error> {
        let Serving { stop, task, .. } = self;
        // Keeping the sender alive keeps the server serving.
        let result = join(task).await;
        drop(stop);
        result
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) -> Result<(), Error> {
        let Serving { stop, task, .. } = self;
        // The server may have stopped already; then there is no one to tell.
        let _ = stop.send(());
        join(task).await
    }
}

async fn join(task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>) -> Result<(), Error> {
    match task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::io("baseline server failed", std::io::Error::other(e))),
        Err(e) => Err(Error::io("baseline server task failed", std::io::Error::other(e))),
    }
}

/// Binds `listen` and serves the baseline with the same transport settings
/// as the reference server's defaults (HTTP/2 stream limit, TCP_NODELAY).
pub async fn serve(listen: SocketAddr) -> Result<Serving, Error> {
    let listener = TcpListener::bind(listen).await.map_err(|e| Error::io(format!("cannot bind `{listen}`"), e))?;
    let addr = listener.local_addr().map_err(|e| Error::io("cannot read the bound address", e))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Without TCP_NODELAY small responses wait for delayed ACKs (tens of
    // milliseconds each); the reference server sets it too.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let task =
        tokio::spawn(tonic::transport::Server::builder().max_concurrent_streams(1024).serve_with_incoming_shutdown(
            GatewayServiceServer::new(Baseline),
            incoming,
            async {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            },
        ));
    Ok(Serving { addr, stop, task })
}

/// Reads the `count` of a `{"steps":[{"bulk":{"count":N}}]}` script; 0 for
/// any other input.
pub fn bulk_count(input_json: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(input_json)
        .ok()
        .and_then(|v| v.pointer("/steps/0/bulk/count").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

/// A job id that carries `count` (the bulk count of its script) in its
/// first 16 hex digits, then 16 random ones.
pub fn job_id_for(count: u64) -> String {
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    format!("job-{count:016x}{random:016x}")
}

/// The bulk count a job id of [`job_id_for`] carries; 0 for any other id.
pub fn count_of(job_id: &str) -> u64 {
    job_id.get(4..20).and_then(|hex| u64::from_str_radix(hex, 16).ok()).unwrap_or(0)
}

/// The same id for the same event on every stream, as the contract
/// requires: the job's random half and the sequence.
fn event_id(job_id: &str, sequence: u64) -> String {
    format!("evt-{}{sequence:016x}", job_id.get(20..).unwrap_or(""))
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn now() -> dome_sdk::pb::Timestamp {
    dome_sdk::pb::Timestamp::from(SystemTime::now())
}

fn correlation(given: &str) -> String {
    if given.is_empty() { new_id("corr") } else { given.to_owned() }
}

/// A job of the reference server's shape, as right after submission.
fn job(job_id: &str, correlation_id: &str, skill_id: &str, idempotency_key: &str) -> Job {
    let run_id = new_id("run");
    Job {
        job_id: job_id.to_owned(),
        run_id: run_id.clone(),
        task_id: job_id.to_owned(),
        skill_id: skill_id.to_owned(),
        skill_version: "1.0.0".to_owned(),
        state: JobState::Queued as i32,
        create_time: Some(now()),
        start_time: None,
        end_time: None,
        outcome: None,
        provenance: Some(Provenance {
            run_id,
            base_ref: "HEAD".to_owned(),
            input_contract: format!("skill:{skill_id}@1.0.0"),
            input_sha256: "0".repeat(64),
            commands: Vec::new(),
            artifacts: Default::default(),
            tool_versions: [("domed".to_owned(), "0.1.0".to_owned())].into_iter().collect(),
            policy_ref: String::new(),
        }),
        last_sequence: 1,
        correlation_id: correlation_id.to_owned(),
        labels: Default::default(),
        idempotency_key: idempotency_key.to_owned(),
    }
}

/// A job of the reference server's shape once a one-step script has run:
/// what reads and cancels of a finished job answer. The baseline keeps no
/// state, so the idempotency key and labels of the submission are absent.
fn finished_job(job_id: &str, correlation_id: &str) -> Job {
    let mut job = job(job_id, correlation_id, crate::SCRIPT_SKILL, "");
    job.state = JobState::Succeeded as i32;
    job.start_time = Some(now());
    job.end_time = Some(now());
    job.outcome = Some(JobOutcome {
        task_id: job_id.to_owned(),
        status: TaskStatus::Pass as i32,
        output_json: "null".to_owned(),
        attempt: 1,
        ..Default::default()
    });
    if let Some(provenance) = job.provenance.as_mut() {
        provenance.commands.push("log".to_owned());
    }
    job.last_sequence = 4;
    job
}

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamJobEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl GatewayService for Baseline {
    async fn list_capabilities(
        &self,
        request: Request<ListCapabilitiesRequest>,
    ) -> Result<Response<ListCapabilitiesResponse>, Status> {
        Ok(Response::new(ListCapabilitiesResponse {
            correlation_id: correlation(&request.get_ref().correlation_id),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            api_versions: vec!["v1".to_owned()],
            ..Default::default()
        }))
    }

    async fn skill_execute(
        &self,
        request: Request<SkillExecuteRequest>,
    ) -> Result<Response<SkillExecuteResponse>, Status> {
        let r = request.into_inner();
        let correlation_id = correlation(&r.correlation_id);
        let job_id = job_id_for(bulk_count(&r.input_json));
        let job = job(&job_id, &correlation_id, &r.skill_id, &r.idempotency_key);
        Ok(Response::new(SkillExecuteResponse { correlation_id, job: Some(job), created: true }))
    }

    async fn get_job_status(
        &self,
        request: Request<GetJobStatusRequest>,
    ) -> Result<Response<GetJobStatusResponse>, Status> {
        let r = request.into_inner();
        let correlation_id = correlation(&r.correlation_id);
        let job = finished_job(&r.job_id, &correlation_id);
        Ok(Response::new(GetJobStatusResponse { correlation_id, job: Some(job) }))
    }

    async fn cancel_job(&self, request: Request<CancelJobRequest>) -> Result<Response<CancelJobResponse>, Status> {
        let r = request.into_inner();
        let correlation_id = correlation(&r.correlation_id);
        let job = finished_job(&r.job_id, &correlation_id);
        Ok(Response::new(CancelJobResponse { correlation_id, job: Some(job), cancel_requested: false }))
    }

    type StreamJobEventsStream = EventStream;

    async fn stream_job_events(
        &self,
        request: Request<StreamJobEventsRequest>,
    ) -> Result<Response<Self::StreamJobEventsStream>, Status> {
        let r = request.into_inner();
        let count = count_of(&r.job_id);
        let total = count + 3;
        let run_id = new_id("run");
        let correlation_id = correlation(&r.correlation_id);
        let job_id = r.job_id;
        let events = (r.after_sequence + 1..=total).map(move |sequence| {
            let payload = if sequence == 1 || sequence == 2 || sequence == total {
                let (state, outcome) = match sequence {
                    1 => (JobState::Queued, None),
                    2 if total > 2 => (JobState::Running, None),
                    _ => (
                        JobState::Succeeded,
                        Some(JobOutcome {
                            task_id: job_id.clone(),
                            status: TaskStatus::Pass as i32,
                            output_json: "null".to_owned(),
                            attempt: 1,
                            ..Default::default()
                        }),
                    ),
                };
                Payload::StateChanged(JobStateChanged { state: state as i32, outcome })
            } else {
                let done = (sequence - 2) * 100 / count.max(1);
                Payload::Progress(JobProgress { percent: done.min(100) as u32, message: String::new() })
            };
            Ok(StreamJobEventsResponse {
                event: Some(JobEvent {
                    event_id: event_id(&job_id, sequence),
                    sequence,
                    job_id: job_id.clone(),
                    run_id: run_id.clone(),
                    time: Some(now()),
                    correlation_id: correlation_id.clone(),
                    payload: Some(payload),
                }),
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(events))))
    }

    async fn get_gate_decision(
        &self,
        request: Request<GetGateDecisionRequest>,
    ) -> Result<Response<GetGateDecisionResponse>, Status> {
        let correlation_id = correlation(&request.get_ref().correlation_id);
        Ok(Response::new(GetGateDecisionResponse { correlation_id, ..Default::default() }))
    }

    async fn get_promotion_decision(
        &self,
        request: Request<GetPromotionDecisionRequest>,
    ) -> Result<Response<GetPromotionDecisionResponse>, Status> {
        let correlation_id = correlation(&request.get_ref().correlation_id);
        Ok(Response::new(GetPromotionDecisionResponse { correlation_id, ..Default::default() }))
    }
}
