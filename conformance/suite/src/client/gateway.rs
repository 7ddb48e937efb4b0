//! The scripted gateway of a client case: an in-process server of the
//! generated `GatewayService` trait that plays exactly what the case
//! scripts (errors, delays, dropped connections, cut and replaying event
//! streams) around a small, consistent model of one gateway, and records
//! every call it receives: method, headers, request and arrival time.
//!
//! A case judges the client by this record and by what the testee
//! reports, never by the gateway's own view of what should have happened.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use dome_sdk::contract;
use dome_sdk::pb::{self, gateway_service_server as server};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// The RPCs of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// `ListCapabilities`.
    ListCapabilities,
    /// `SkillExecute`.
    SkillExecute,
    /// `GetJobStatus`.
    GetJobStatus,
    /// `CancelJob`.
    CancelJob,
    /// `StreamJobEvents`.
    StreamJobEvents,
    /// `GetGateDecision`.
    GetGateDecision,
    /// `GetPromotionDecision`.
    GetPromotionDecision,
}

/// A request as the gateway received it.
#[derive(Debug, Clone)]
pub enum Received {
    /// `ListCapabilities`.
    ListCapabilities(pb::ListCapabilitiesRequest),
    /// `SkillExecute`.
    SkillExecute(pb::SkillExecuteRequest),
    /// `GetJobStatus`.
    GetJobStatus(pb::GetJobStatusRequest),
    /// `CancelJob`.
    CancelJob(pb::CancelJobRequest),
    /// `StreamJobEvents`.
    StreamJobEvents(pb::StreamJobEventsRequest),
    /// `GetGateDecision`.
    GetGateDecision(pb::GetGateDecisionRequest),
    /// `GetPromotionDecision`.
    GetPromotionDecision(pb::GetPromotionDecisionRequest),
}

impl Received {
    /// The request's `correlation_id`.
    pub fn correlation_id(&self) -> &str {
        match self {
            Received::ListCapabilities(r) => &r.correlation_id,
            Received::SkillExecute(r) => &r.correlation_id,
            Received::GetJobStatus(r) => &r.correlation_id,
            Received::CancelJob(r) => &r.correlation_id,
            Received::StreamJobEvents(r) => &r.correlation_id,
            Received::GetGateDecision(r) => &r.correlation_id,
            Received::GetPromotionDecision(r) => &r.correlation_id,
        }
    }
}

/// One call the gateway received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Which RPC.
    pub method: Method,
    /// The request headers (ASCII ones), lower-case names.
    pub headers: Vec<(String, String)>,
    /// The request.
    pub request: Received,
    /// When it arrived, since the gateway started.
    pub at: Duration,
}

impl Call {
    /// The value of a header, if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The details a scripted error carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Details {
    /// An `ErrorInfo` of the contract's domain with the reason and
    /// metadata, and a `RetryInfo` when a delay is set.
    Contract,
    /// No `grpc-status-details-bin` at all.
    None,
    /// These bytes as `grpc-status-details-bin` (not a `google.rpc.Status`).
    Garbage(Vec<u8>),
    /// Two `ErrorInfo`s: the scripted one, then one with this reason.
    TwoErrorInfos(String),
}

/// An error the gateway answers with.
#[derive(Debug, Clone)]
pub struct Scripted {
    /// The gRPC code.
    pub code: tonic::Code,
    /// The reason, without the `ERROR_REASON_` prefix.
    pub reason: String,
    /// The `ErrorInfo` metadata (`correlationId` is added).
    pub metadata: BTreeMap<String, String>,
    /// The `RetryInfo` delay.
    pub retry_delay: Option<Duration>,
    /// What the status details hold.
    pub details: Details,
}

impl Scripted {
    /// The contract's error `reason` with its own code, its metadata, and
    /// for a retryable reason a `RetryInfo` of `delay`.
    pub fn reason(reason: &str, metadata: &[(&str, &str)], delay: Duration) -> Scripted {
        let spec = contract::ERROR_REASONS.iter().find(|s| s.name == reason);
        Scripted {
            code: spec.map_or(tonic::Code::FailedPrecondition, |s| tonic::Code::from(s.code.as_i32())),
            reason: reason.to_string(),
            metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            retry_delay: spec.is_some_and(|s| s.retryable).then_some(delay),
            details: Details::Contract,
        }
    }

    fn status(&self, correlation_id: &str) -> Status {
        let message = format!("scripted {}", if self.reason.is_empty() { "error" } else { &self.reason });
        let mut metadata: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        metadata.insert("correlationId".into(), correlation_id.to_string());
        let info = |reason: &str| {
            tonic_types::ErrorDetail::from(tonic_types::ErrorInfo::new(
                reason,
                contract::ERROR_DOMAIN,
                metadata.clone(),
            ))
        };
        match &self.details {
            Details::None => Status::new(self.code, message),
            Details::Garbage(bytes) => Status::with_details(self.code, message, bytes.clone().into()),
            Details::Contract => {
                let mut details = ErrorDetails::with_error_info(&self.reason, contract::ERROR_DOMAIN, metadata);
                if let Some(delay) = self.retry_delay {
                    details.set_retry_info(Some(delay));
                }
                Status::with_error_details(self.code, message, details)
            }
            Details::TwoErrorInfos(second) => {
                Status::with_error_details_vec(self.code, message, vec![info(&self.reason), info(second)])
            }
        }
    }
}

/// What the gateway does with one call instead of answering normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answers with this error.
    Error(Scripted),
    /// Receives the request and drops the connection without answering
    /// (a `SkillExecute` is not acted on).
    Drop,
    /// Acts on the request (a `SkillExecute` creates its job), then drops
    /// the connection without answering.
    DropAfterCommit,
    /// Never answers (until the gateway stops).
    Hang,
}

/// How one `StreamJobEvents` call ends before the job's terminal event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The connection drops.
    Drop,
    /// `UNAVAILABLE` without details (a proxy's answer).
    Unavailable,
    /// `SUBSCRIBER_LAGGED` with `resumeAfterSequence`.
    Lagged,
    /// `SHUTTING_DOWN` with `resumeAfterSequence`.
    ShuttingDown,
}

/// How one `StreamJobEvents` call is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPlan {
    /// Events before the requested cursor sent again first (a replay the
    /// client must drop).
    pub replay: u64,
    /// New events sent after the replay before the cut.
    pub deliver: u64,
    /// How the call ends (unless the terminal event came first, after
    /// which it closes with OK).
    pub cut: Cut,
}

/// What the gateway plays.
#[derive(Debug, Clone)]
pub struct Script {
    /// The versions `ListCapabilities` lists.
    pub api_versions: Vec<String>,
    /// Per method, what its first calls get instead of a normal answer:
    /// the first call the first fault, and so on; later calls are normal.
    pub faults: BTreeMap<Method, VecDeque<Fault>>,
    /// How `StreamJobEvents` calls are served, in order (after faults);
    /// once used up, a call gets every event after its cursor and closes.
    pub streams: VecDeque<StreamPlan>,
    /// How many events a job has; the last is its terminal event.
    pub events: u64,
    /// Whether a job stays `RUNNING` (after two events) until cancelled.
    pub parked: bool,
    /// How long each normal answer is held back.
    pub delay: Duration,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            api_versions: vec![contract::API_VERSION.to_string()],
            faults: BTreeMap::new(),
            streams: VecDeque::new(),
            events: 5,
            parked: false,
            delay: Duration::ZERO,
        }
    }
}

impl Script {
    /// Adds faults for the next calls of `method`.
    pub fn fault(mut self, method: Method, faults: impl IntoIterator<Item = Fault>) -> Script {
        self.faults.entry(method).or_default().extend(faults);
        self
    }

    /// Adds plans for the next `StreamJobEvents` calls.
    pub fn streams(mut self, plans: impl IntoIterator<Item = StreamPlan>) -> Script {
        self.streams.extend(plans);
        self
    }
}

/// A job of the gateway's model.
#[derive(Debug, Clone)]
struct Job {
    job: pb::Job,
    log: Vec<pb::JobEvent>,
}

#[derive(Debug, Default)]
struct State {
    script: Option<Script>,
    calls: Vec<Call>,
    jobs: Vec<Job>,
}

/// The id form of the contract: a prefix and 32 lowercase hex digits.
pub fn id(prefix: &str, n: usize) -> String {
    format!("{prefix}-{n:032x}")
}

struct Shared {
    state: Mutex<State>,
    started: Instant,
    stopping: watch::Receiver<bool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking handler cannot leave the record half-written in a way
        // that matters more than losing it: keep going with what is there.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record<T: Clone>(&self, method: Method, request: &Request<T>, wrap: fn(T) -> Received) -> Option<Fault> {
        let headers = request
            .metadata()
            .iter()
            .filter_map(|kv| match kv {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let call = Call { method, headers, request: wrap(request.get_ref().clone()), at: self.started.elapsed() };
        let mut state = self.lock();
        state.calls.push(call);
        state.script.as_mut().and_then(|s| s.faults.get_mut(&method)).and_then(VecDeque::pop_front)
    }

    async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        // A closed channel means the gateway is gone: stop as well.
        let _ = stopping.wait_for(|s| *s).await;
    }

    fn script<R>(&self, f: impl FnOnce(&mut Script) -> R) -> R {
        let mut state = self.lock();
        let script = state.script.get_or_insert_with(Script::default);
        f(script)
    }
}

/// The tonic service.
#[derive(Clone)]
struct Service {
    shared: Arc<Shared>,
}

/// Kills the connection a request came on.
fn kill<T>(request: &Request<T>) {
    if let Some(switch) = request.extensions().get::<KillSwitch>() {
        switch.kill();
    }
}

impl Service {
    /// Applies a fault that is not an error: drops the connection or hangs;
    /// either way there is no answer until the gateway stops.
    async fn no_answer<T, R>(&self, request: &Request<T>, fault: &Fault) -> Result<R, Status> {
        if matches!(fault, Fault::Drop | Fault::DropAfterCommit) {
            kill(request);
        }
        self.shared.stopped().await;
        Err(Status::unavailable("the scripted gateway stopped"))
    }

    /// Plays the scripted fault of a unary call, if any: an error ends the
    /// call with it; a dropped connection or a hang gives no answer.
    async fn admit<T>(&self, request: &Request<T>, fault: Option<Fault>, correlation_id: &str) -> Result<(), Status> {
        match fault {
            Some(Fault::Error(e)) => Err(e.status(correlation_id)),
            Some(other) => self.no_answer(request, &other).await,
            None => Ok(()),
        }
    }

    async fn pace(&self) {
        let delay = self.shared.script(|s| s.delay);
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shared.stopped() => {}
            }
        }
    }

    fn job(&self, job_id: &str, correlation_id: &str) -> Result<Job, Status> {
        let state = self.shared.lock();
        state.jobs.iter().find(|j| j.job.job_id == job_id).cloned().ok_or_else(|| {
            Scripted::reason("JOB_NOT_FOUND", &[("jobId", job_id)], Duration::ZERO).status(correlation_id)
        })
    }
}

fn event(job: &pb::Job, sequence: u64, payload: pb::job_event::Payload) -> pb::JobEvent {
    pb::JobEvent {
        event_id: id("evt", sequence as usize),
        sequence,
        job_id: job.job_id.clone(),
        run_id: job.run_id.clone(),
        correlation_id: job.correlation_id.clone(),
        payload: Some(payload),
        ..Default::default()
    }
}

fn state_changed(state: pb::JobState) -> pb::job_event::Payload {
    let outcome = matches!(state, pb::JobState::Succeeded | pb::JobState::Cancelled).then(pb::JobOutcome::default);
    pb::job_event::Payload::StateChanged(pb::JobStateChanged { state: state as i32, outcome })
}

/// A new job and its log: `events` events ending `SUCCEEDED`, or when
/// parked, `QUEUED` and `RUNNING` only.
fn new_job(n: usize, request: &pb::SkillExecuteRequest, events: u64, parked: bool) -> Job {
    let mut job = pb::Job {
        job_id: id("job", n),
        run_id: id("run", n),
        task_id: id("job", n),
        skill_id: request.skill_id.clone(),
        skill_version: "1.0.0".into(),
        correlation_id: request.correlation_id.clone(),
        idempotency_key: request.idempotency_key.clone(),
        ..Default::default()
    };
    let events = events.max(2);
    let mut log = vec![event(&job, 1, state_changed(pb::JobState::Queued))];
    if parked {
        log.push(event(&job, 2, state_changed(pb::JobState::Running)));
        job.state = pb::JobState::Running as i32;
    } else {
        for sequence in 2..events {
            let progress = pb::JobProgress { percent: (sequence * 100 / events) as u32, message: String::new() };
            log.push(event(&job, sequence, pb::job_event::Payload::Progress(progress)));
        }
        log.push(event(&job, events, state_changed(pb::JobState::Succeeded)));
        job.state = pb::JobState::Succeeded as i32;
        job.outcome = Some(pb::JobOutcome::default());
    }
    job.last_sequence = log.len() as u64;
    Job { job, log }
}

#[tonic::async_trait]
impl server::GatewayService for Service {
    async fn list_capabilities(
        &self,
        request: Request<pb::ListCapabilitiesRequest>,
    ) -> Result<Response<pb::ListCapabilitiesResponse>, Status> {
        let fault = self.shared.record(Method::ListCapabilities, &request, Received::ListCapabilities);
        let correlation_id = request.get_ref().correlation_id.clone();
        match fault {
            Some(Fault::Error(e)) => return Err(e.status(&correlation_id)),
            Some(other) => return self.no_answer(&request, &other).await,
            None => {}
        }
        self.pace().await;
        let api_versions = self.shared.script(|s| s.api_versions.clone());
        Ok(Response::new(pb::ListCapabilitiesResponse {
            correlation_id,
            api_versions,
            server_version: "scripted-gateway".into(),
            // The contract always sets the limits; the client cases never
            // come near them.
            limits: Some(pb::ServerLimits {
                max_request_bytes: 4 << 20,
                max_input_bytes: 1 << 20,
                queue_capacity: 64,
                max_running_jobs: 4,
                max_events_retained_per_job: 4096,
                max_jobs_retained: 1024,
                max_subscribers_per_job: 16,
                max_subscriber_lag_events: 1024,
                idempotency_window_seconds: 86_400,
                max_event_bytes_retained_per_job: 16 << 20,
                max_job_data_bytes: 2 << 20,
                max_retained_bytes: 1 << 30,
            }),
            ..Default::default()
        }))
    }

    async fn skill_execute(
        &self,
        request: Request<pb::SkillExecuteRequest>,
    ) -> Result<Response<pb::SkillExecuteResponse>, Status> {
        let fault = self.shared.record(Method::SkillExecute, &request, Received::SkillExecute);
        let req = request.get_ref().clone();
        match &fault {
            Some(Fault::Error(e)) => return Err(e.status(&req.correlation_id)),
            Some(Fault::Drop | Fault::Hang) => {
                return self.no_answer(&request, fault.as_ref().unwrap_or(&Fault::Hang)).await;
            }
            _ => {}
        }
        let (events, parked) = self.shared.script(|s| (s.events, s.parked));
        let (job, created) = {
            let mut state = self.shared.lock();
            let existing = (!req.idempotency_key.is_empty())
                .then(|| state.jobs.iter().find(|j| j.job.idempotency_key == req.idempotency_key))
                .flatten();
            match existing {
                Some(job) => (job.job.clone(), false),
                None => {
                    let job = new_job(state.jobs.len() + 1, &req, events, parked);
                    state.jobs.push(job.clone());
                    (job.job, true)
                }
            }
        };
        if let Some(fault @ Fault::DropAfterCommit) = &fault {
            return self.no_answer(&request, fault).await;
        }
        self.pace().await;
        Ok(Response::new(pb::SkillExecuteResponse { correlation_id: req.correlation_id, job: Some(job), created }))
    }

    async fn get_job_status(
        &self,
        request: Request<pb::GetJobStatusRequest>,
    ) -> Result<Response<pb::GetJobStatusResponse>, Status> {
        let fault = self.shared.record(Method::GetJobStatus, &request, Received::GetJobStatus);
        let req = request.get_ref().clone();
        self.admit(&request, fault, &req.correlation_id).await?;
        self.pace().await;
        let job = self.job(&req.job_id, &req.correlation_id)?;
        Ok(Response::new(pb::GetJobStatusResponse { correlation_id: req.correlation_id, job: Some(job.job) }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let fault = self.shared.record(Method::CancelJob, &request, Received::CancelJob);
        let req = request.get_ref().clone();
        self.admit(&request, fault, &req.correlation_id).await?;
        self.pace().await;
        self.job(&req.job_id, &req.correlation_id)?;
        let mut state = self.shared.lock();
        let Some(job) = state.jobs.iter_mut().find(|j| j.job.job_id == req.job_id) else {
            return Err(Status::internal("the job vanished"));
        };
        let live = !dome_sdk::is_terminal_state(job.job.state);
        if live {
            let cancel = pb::JobCancelRequested { reason: req.reason.clone(), ..Default::default() };
            let next = job.log.len() as u64 + 1;
            let cancelled = event(&job.job, next, pb::job_event::Payload::CancelRequested(cancel));
            let ended = event(&job.job, next + 1, state_changed(pb::JobState::Cancelled));
            job.log.extend([cancelled, ended]);
            job.job.state = pb::JobState::Cancelled as i32;
            job.job.outcome = Some(pb::JobOutcome::default());
            job.job.last_sequence = job.log.len() as u64;
        }
        Ok(Response::new(pb::CancelJobResponse {
            correlation_id: req.correlation_id,
            job: Some(job.job.clone()),
            cancel_requested: live,
        }))
    }

    type StreamJobEventsStream = tokio_stream::wrappers::ReceiverStream<Result<pb::StreamJobEventsResponse, Status>>;

    async fn stream_job_events(
        &self,
        request: Request<pb::StreamJobEventsRequest>,
    ) -> Result<Response<Self::StreamJobEventsStream>, Status> {
        let fault = self.shared.record(Method::StreamJobEvents, &request, Received::StreamJobEvents);
        let req = request.get_ref().clone();
        self.admit(&request, fault, &req.correlation_id).await?;
        let job = self.job(&req.job_id, &req.correlation_id)?;
        let head = job.log.len() as u64;
        if req.after_sequence > head {
            let (after, last) = (req.after_sequence.to_string(), head.to_string());
            let metadata =
                [("jobId", req.job_id.as_str()), ("afterSequence", after.as_str()), ("lastSequence", last.as_str())];
            return Err(Scripted::reason("CURSOR_AHEAD_OF_HEAD", &metadata, Duration::ZERO).status(&req.correlation_id));
        }
        let plan = self.shared.script(|s| s.streams.pop_front());
        let switch = request.extensions().get::<KillSwitch>().cloned();
        let (tx, rx) = mpsc::channel(64);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let after = req.after_sequence;
            let (from, count) = match plan {
                Some(p) => (after + 1 - p.replay.min(after), p.replay.min(after) + p.deliver),
                None => (after + 1, u64::MAX),
            };
            let mut last = after;
            for sequence in (from..=head).take(count.min(head) as usize) {
                let event = job.log[sequence as usize - 1].clone();
                if tx.send(Ok(pb::StreamJobEventsResponse { event: Some(event) })).await.is_err() {
                    return;
                }
                last = last.max(sequence);
            }
            if last >= head && job.log.last().is_none_or(dome_sdk::is_terminal_event) {
                return; // Closes with OK after the terminal event.
            }
            let cut = match plan {
                Some(p) => p.cut,
                // A parked job: hold the stream open until the gateway stops.
                None => {
                    shared.stopped().await;
                    return;
                }
            };
            let resume = last.to_string();
            let metadata = [("jobId", req.job_id.as_str()), ("resumeAfterSequence", resume.as_str())];
            let status = match cut {
                Cut::Drop => {
                    if let Some(switch) = switch {
                        switch.kill();
                    }
                    shared.stopped().await;
                    return;
                }
                Cut::Unavailable => Status::unavailable("scripted cut"),
                Cut::Lagged => {
                    Scripted::reason("SUBSCRIBER_LAGGED", &metadata, Duration::ZERO).status(&req.correlation_id)
                }
                Cut::ShuttingDown => {
                    Scripted::reason("SHUTTING_DOWN", &metadata, Duration::ZERO).status(&req.correlation_id)
                }
            };
            let _ = tx.send(Err(status)).await;
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn get_gate_decision(
        &self,
        request: Request<pb::GetGateDecisionRequest>,
    ) -> Result<Response<pb::GetGateDecisionResponse>, Status> {
        let fault = self.shared.record(Method::GetGateDecision, &request, Received::GetGateDecision);
        let req = request.get_ref().clone();
        self.admit(&request, fault, &req.correlation_id).await?;
        self.pace().await;
        let decision = pb::GateDecision {
            version: "1".into(),
            run_id: req.run_id.clone(),
            task_id: req.task_id.clone(),
            reason_codes: vec!["SCRIPTED".into()],
            ..Default::default()
        };
        Ok(Response::new(pb::GetGateDecisionResponse { correlation_id: req.correlation_id, decision: Some(decision) }))
    }

    async fn get_promotion_decision(
        &self,
        request: Request<pb::GetPromotionDecisionRequest>,
    ) -> Result<Response<pb::GetPromotionDecisionResponse>, Status> {
        let fault = self.shared.record(Method::GetPromotionDecision, &request, Received::GetPromotionDecision);
        let req = request.get_ref().clone();
        self.admit(&request, fault, &req.correlation_id).await?;
        self.pace().await;
        let decision = pb::PromotionDecision {
            version: "1".into(),
            run_id: req.run_id.clone(),
            reason_codes: vec!["SCRIPTED".into()],
            ..Default::default()
        };
        Ok(Response::new(pb::GetPromotionDecisionResponse {
            correlation_id: req.correlation_id,
            decision: Some(decision),
        }))
    }
}

/// A running scripted gateway; stopped when dropped.
pub struct Gateway {
    shared: Arc<Shared>,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    stopping: watch::Sender<bool>,
    serve: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Gateway {
    /// Starts a gateway playing `script` on `127.0.0.1`, on a free port.
    pub async fn start(script: Script) -> io::Result<Gateway> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stopping, stopping_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State { script: Some(script), ..State::default() }),
            started: Instant::now(),
            stopping: stopping_rx,
        });
        let service = server::GatewayServiceServer::new(Service { shared: shared.clone() });
        let incoming = futures_util::stream::unfold(listener, |listener| async move {
            let next = listener.accept().await.map(|(stream, _)| {
                let _ = stream.set_nodelay(true);
                Killable::new(stream)
            });
            Some((next, listener))
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = tokio::spawn(tonic::transport::Server::builder().serve_with_incoming_shutdown(
            service,
            incoming,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Gateway { shared, url, stop: Some(stop), stopping, serve: Some(serve) })
    }

    /// The URL a client connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every call received so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// The calls of one method so far.
    pub fn calls_of(&self, method: Method) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// How many jobs the gateway created.
    pub fn jobs_created(&self) -> usize {
        self.shared.lock().jobs.len()
    }

    /// The full log of the job with `job_id`.
    pub fn log(&self, job_id: &str) -> Vec<pb::JobEvent> {
        self.shared.lock().jobs.iter().find(|j| j.job.job_id == job_id).map(|j| j.log.clone()).unwrap_or_default()
    }

    /// Creates a job without a call (for cases that start from a job).
    pub fn seed_job(&self) -> pb::Job {
        let (events, parked) = self.shared.script(|s| (s.events, s.parked));
        let mut state = self.shared.lock();
        let request = pb::SkillExecuteRequest { skill_id: contract::CONFORMANCE_SKILL_ID.into(), ..Default::default() };
        let job = new_job(state.jobs.len() + 1, &request, events, parked);
        state.jobs.push(job.clone());
        job.job
    }

    /// Stops serving and releases every held call; waits (bounded) for
    /// the server to end.
    pub async fn stop(mut self) {
        self.signal();
        if let Some(serve) = self.serve.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), serve).await;
        }
    }

    fn signal(&mut self) {
        let _ = self.stopping.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.signal();
        if let Some(serve) = self.serve.take() {
            serve.abort();
        }
    }
}

/// Breaks one connection on demand: reads and writes fail from then on,
/// so the server drops it and the client sees it broken.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<SwitchState>);

#[derive(Debug, Default)]
struct SwitchState {
    killed: AtomicBool,
    reader: Mutex<Option<Waker>>,
}

impl KillSwitch {
    fn kill(&self) {
        self.0.killed.store(true, Ordering::SeqCst);
        if let Some(waker) = self.0.reader.lock().ok().and_then(|mut w| w.take()) {
            waker.wake();
        }
    }

    fn killed(&self) -> bool {
        self.0.killed.load(Ordering::SeqCst)
    }
}

/// A TCP connection with a [`KillSwitch`], which tonic hands to every
/// request on it (as its connect info).
struct Killable {
    stream: TcpStream,
    switch: KillSwitch,
}

impl Killable {
    fn new(stream: TcpStream) -> Killable {
        Killable { stream, switch: KillSwitch::default() }
    }
}

impl tonic::transport::server::Connected for Killable {
    type ConnectInfo = KillSwitch;

    fn connect_info(&self) -> KillSwitch {
        self.switch.clone()
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection dropped by the script")
}

impl AsyncRead for Killable {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.switch.killed() {
            return Poll::Ready(Err(broken()));
        }
        if let Ok(mut reader) = self.switch.0.reader.lock() {
            *reader = Some(cx.waker().clone());
        }
        // Killed between the check and storing the waker: nobody wakes us.
        if self.switch.killed() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Killable {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.switch.killed() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.switch.killed() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
