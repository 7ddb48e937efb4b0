//! The client: connecting and negotiating the API version, every RPC with
//! the contract's retry rules, resuming event streams, and the
//! conveniences built on them (`execute_and_wait`, cancellation).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::StreamExt as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::contract::{API_VERSION, API_VERSION_HEADER};
use crate::error::{ApiError, Error, StatusKind, is_local_timeout};
use crate::events::{EventCursor, JobEventStream, Offer, is_terminal_event, is_terminal_state};
use crate::mutants::{self, Mutant};
use crate::pb;
use crate::pb::gateway_service_client::GatewayServiceClient;
use crate::retry::{RetryPolicy, jitter_unit};

/// How many events a [`JobEventStream`] buffers ahead of its reader. A
/// reader slower than the job makes the server end the stream with
/// `SUBSCRIBER_LAGGED`, which the stream resumes from.
const EVENT_BUFFER: usize = 64;

/// The generated tonic client on a [`Client`]'s connection, as returned by
/// [`Client::raw`].
pub type RawClient = GatewayServiceClient<InterceptedService<Channel, CallHeaders>>;
type Inner = RawClient;

/// The interceptor that adds the headers every call of a [`Client`]
/// carries: `dome-api-version` and, when a token is set, `authorization`.
#[derive(Clone)]
pub struct CallHeaders {
    authorization: Option<MetadataValue<Ascii>>,
}

impl Interceptor for CallHeaders {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let metadata = request.metadata_mut();
        metadata.insert(API_VERSION_HEADER, MetadataValue::from_static(API_VERSION));
        if let Some(token) = &self.authorization {
            metadata.insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// Configures and connects a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: String,
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    auth_token: Option<String>,
    tls: Option<ClientTlsConfig>,
    retry: RetryPolicy,
    correlation_id: Option<String>,
}

impl ClientBuilder {
    /// A builder for the server at `endpoint` (such as
    /// `http://127.0.0.1:50051`), with the default [`RetryPolicy`] and no
    /// timeouts beyond its deadline.
    pub fn new(endpoint: impl Into<String>) -> Self {
        ClientBuilder {
            endpoint: endpoint.into(),
            connect_timeout: None,
            request_timeout: None,
            auth_token: None,
            tls: None,
            retry: RetryPolicy::default(),
            correlation_id: None,
        }
    }

    /// How long establishing a connection may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long one attempt of a unary call may take (also sent to the
    /// server as `grpc-timeout`). The retry policy's deadline bounds the
    /// whole call.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// The bearer token sent as `authorization: Bearer <token>` on every
    /// call, for a server run with authentication.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Connects over TLS (rustls) with this configuration: at least the
    /// CA certificate to trust (`ClientTlsConfig::ca_certificate`) and,
    /// when it differs from the endpoint's host, the domain name.
    pub fn tls(mut self, config: ClientTlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// How failed calls are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The correlation id sent on every call that does not set its own.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Connects, calls `ListCapabilities` once (with the retry policy) and
    /// checks that the server serves [`API_VERSION`].
    ///
    /// Fails with [`Error::UnsupportedVersion`] when the server lists
    /// other versions only, or with the server's own
    /// `UNSUPPORTED_API_VERSION` as [`Error::Api`].
    pub async fn connect(self) -> Result<Client, Error> {
        let mut endpoint = Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| Error::Config(format!("endpoint `{}` is not a valid uri: {e}", self.endpoint)))?;
        if let Some(timeout) = self.connect_timeout {
            endpoint = endpoint.connect_timeout(timeout);
        }
        if let Some(tls) = self.tls {
            endpoint = endpoint.tls_config(tls).map_err(|e| Error::Config(format!("tls configuration: {e}")))?;
        }
        let authorization = match &self.auth_token {
            None => None,
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| Error::Config("the auth token is not a valid header value".into()))?,
            ),
        };
        // Lazily: a refused connection then fails the first call with
        // `UNAVAILABLE`, which the retry policy handles like any other.
        let channel = endpoint.connect_lazy();
        let inner = GatewayServiceClient::with_interceptor(channel, CallHeaders { authorization });
        let mut client = Client {
            inner,
            retry: self.retry,
            request_timeout: self.request_timeout,
            correlation_id: self.correlation_id.map(Arc::from),
            capabilities: Arc::new(pb::ListCapabilitiesResponse::default()),
        };
        let capabilities = client.list_capabilities().await?;
        if !capabilities.api_versions.iter().any(|v| v == API_VERSION) {
            return Err(Error::UnsupportedVersion {
                requested: API_VERSION.to_string(),
                supported: capabilities.api_versions,
            });
        }
        client.capabilities = Arc::new(capabilities);
        Ok(client)
    }
}

/// A connected client of a dome gateway (cheap to clone; clones share the
/// connection).
///
/// Every call sends the `dome-api-version` header and the client's
/// correlation id (unless the request carries its own), and is retried as
/// its [`RetryPolicy`] and the contract allow: only errors the contract
/// marks retryable and transport failures ([`Error::is_retryable`]), and
/// `SkillExecute` only with an idempotency key (which the client creates,
/// a UUIDv4, when the request has none, so that a retry can never create
/// a second job).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Inner,
    retry: RetryPolicy,
    request_timeout: Option<Duration>,
    correlation_id: Option<Arc<str>>,
    capabilities: Arc<pb::ListCapabilitiesResponse>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            // Never print the token.
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.is_some())
            .field("retry", &self.retry)
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

impl std::fmt::Debug for CallHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("CallHeaders")
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Request messages, all of which carry an optional correlation id.
trait Correlated {
    fn correlation_id_mut(&mut self) -> &mut String;
}

macro_rules! correlated {
    ($($t:ty),*) => {$(
        impl Correlated for $t {
            fn correlation_id_mut(&mut self) -> &mut String {
                &mut self.correlation_id
            }
        }
    )*};
}

correlated!(
    pb::ListCapabilitiesRequest,
    pb::SkillExecuteRequest,
    pb::GetJobStatusRequest,
    pb::CancelJobRequest,
    pb::StreamJobEventsRequest,
    pb::GetGateDecisionRequest,
    pb::GetPromotionDecisionRequest
);

impl Client {
    /// Connects to `endpoint` with the default settings; see
    /// [`ClientBuilder::connect`].
    pub async fn connect(endpoint: impl Into<String>) -> Result<Client, Error> {
        ClientBuilder::new(endpoint).connect().await
    }

    /// A builder, for timeouts, authentication, TLS, retries and a
    /// correlation id.
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(endpoint)
    }

    /// What the server said it offers when the client connected.
    pub fn capabilities(&self) -> &pb::ListCapabilitiesResponse {
        &self.capabilities
    }

    /// A client sharing this one's connection whose calls carry the
    /// correlation id `id` (unless a request sets its own).
    pub fn with_correlation_id(&self, id: impl Into<String>) -> Client {
        Client { correlation_id: Some(Arc::from(id.into())), ..self.clone() }
    }

    /// The correlation id this client sends, if one was set.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The retry policy of this client.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The generated tonic client on this client's connection (with the
    /// version and authorization headers), for calls made by hand.
    pub fn raw(&self) -> RawClient {
        self.inner.clone()
    }

    /// `ListCapabilities`, stating [`API_VERSION`].
    pub async fn list_capabilities(&self) -> Result<pb::ListCapabilitiesResponse, Error> {
        let request = pb::ListCapabilitiesRequest { api_version: API_VERSION.to_string(), ..Default::default() };
        self.unary(request, |mut c, r| async move { c.list_capabilities(r).await }).await
    }

    /// `SkillExecute`: submits a job. When the request has no idempotency
    /// key the client sets a fresh UUIDv4 one, so that a retry returns the
    /// job the first attempt created instead of creating a second.
    pub async fn skill_execute(&self, mut request: pb::SkillExecuteRequest) -> Result<pb::SkillExecuteResponse, Error> {
        if request.idempotency_key.is_empty() {
            request.idempotency_key = uuid::Uuid::new_v4().to_string();
        }
        self.unary(request, |mut c, mut r| async move {
            if mutants::is(Mutant::FreshIdempotencyKey) {
                r.get_mut().idempotency_key = uuid::Uuid::new_v4().to_string();
            }
            c.skill_execute(r).await
        })
        .await
    }

    /// `GetJobStatus`: the job as it is now.
    pub async fn get_job_status(&self, job_id: impl Into<String>) -> Result<pb::Job, Error> {
        let request = pb::GetJobStatusRequest { job_id: job_id.into(), ..Default::default() };
        let response = self.unary(request, |mut c, r| async move { c.get_job_status(r).await }).await?;
        response.job.ok_or_else(|| Error::Protocol("`GetJobStatusResponse.job` is unset".into()))
    }

    /// `CancelJob`: requests cancellation (idempotent, so retried freely).
    /// `reason` is recorded in the cancel-requested event.
    pub async fn cancel_job(
        &self,
        job_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<pb::CancelJobResponse, Error> {
        let request = pb::CancelJobRequest { job_id: job_id.into(), reason: reason.into(), ..Default::default() };
        self.unary(request, |mut c, r| async move { c.cancel_job(r).await }).await
    }

    /// `GetGateDecision`: the gate decision recorded for `run_id` (and
    /// `task_id`; empty for the one recorded last in the run).
    pub async fn get_gate_decision(
        &self,
        run_id: impl Into<String>,
        task_id: impl Into<String>,
    ) -> Result<pb::GateDecision, Error> {
        let request =
            pb::GetGateDecisionRequest { run_id: run_id.into(), task_id: task_id.into(), ..Default::default() };
        let response = self.unary(request, |mut c, r| async move { c.get_gate_decision(r).await }).await?;
        response.decision.ok_or_else(|| Error::Protocol("`GetGateDecisionResponse.decision` is unset".into()))
    }

    /// `GetPromotionDecision`: the promotion decision recorded last for
    /// `run_id`.
    pub async fn get_promotion_decision(&self, run_id: impl Into<String>) -> Result<pb::PromotionDecision, Error> {
        let request = pb::GetPromotionDecisionRequest { run_id: run_id.into(), ..Default::default() };
        let response = self.unary(request, |mut c, r| async move { c.get_promotion_decision(r).await }).await?;
        response.decision.ok_or_else(|| Error::Protocol("`GetPromotionDecisionResponse.decision` is unset".into()))
    }

    /// Follows the events of `job_id` after sequence `after` (0 for all):
    /// each exactly once, in order, until the terminal event, reconnecting
    /// after transport failures and resumable errors. See
    /// [`JobEventStream`]. The stream is driven by a task on the current
    /// Tokio runtime; called outside one, it yields a single
    /// [`Error::Config`].
    pub fn stream_job_events(&self, job_id: impl Into<String>, after: u64) -> JobEventStream {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(follow(self.clone(), job_id.into(), after, tx));
            }
            Err(_) => {
                let error = Error::Config("`stream_job_events` needs a tokio runtime".into());
                // The channel is empty and its reader alive: this cannot fail.
                let _ = tx.try_send(Err(error));
            }
        }
        JobEventStream::new(rx)
    }

    /// Submits a job, follows it and returns it once it is terminal
    /// (`SUCCEEDED`, `FAILED` or `CANCELLED`; a failed job is a successful
    /// call, its outcome says why). Waits as [`Client::wait_for_job`] does.
    pub async fn execute_and_wait(&self, request: pb::SkillExecuteRequest) -> Result<pb::Job, Error> {
        let response = self.skill_execute(request).await?;
        let job = response.job.ok_or_else(|| Error::Protocol("`SkillExecuteResponse.job` is unset".into()))?;
        self.wait_for_job(job.job_id).await
    }

    /// Waits until `job_id` is terminal and returns it, following its
    /// events rather than polling. Each call it makes honours the retry
    /// policy's deadline, but the wait itself lasts as long as the job: to
    /// bound it, wrap it in `tokio::time::timeout` (dropping the future
    /// stops following; it never cancels the job).
    pub async fn wait_for_job(&self, job_id: impl Into<String>) -> Result<pb::Job, Error> {
        let job_id = job_id.into();
        let mut expired = 0;
        loop {
            let job = self.get_job_status(job_id.clone()).await?;
            if is_terminal_state(job.state) {
                return Ok(job);
            }
            let mut events = self.stream_job_events(job_id.clone(), job.last_sequence);
            while let Some(item) = events.next_event().await {
                match item {
                    Ok(event) if is_terminal_event(&event) => break,
                    Ok(_) => {}
                    // The events we were about to read are gone, but the
                    // job's state is not: read it again and follow on.
                    Err(Error::Api(ApiError::CursorExpired { .. })) if expired < self.retry.max_attempts => {
                        expired += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Cancels `job_id` and waits until it is terminal (`CANCELLED`, or
    /// `SUCCEEDED`/`FAILED` when it finished first).
    pub async fn cancel_and_wait(
        &self,
        job_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<pb::Job, Error> {
        let job_id = job_id.into();
        self.cancel_job(job_id.clone(), reason).await?;
        self.wait_for_job(job_id).await
    }

    /// Runs one unary call with the retry policy: sets the correlation id,
    /// bounds each attempt by the request timeout and the total deadline,
    /// retries what is retryable after the backoff.
    async fn unary<Req, Resp, F, Fut>(&self, mut request: Req, mut call: F) -> Result<Resp, Error>
    where
        Req: Correlated + Clone,
        F: FnMut(Inner, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        if let Some(id) = &self.correlation_id
            && request.correlation_id_mut().is_empty()
        {
            *request.correlation_id_mut() = id.to_string();
        }
        // A deadline too far to represent is no deadline.
        let deadline = self.retry.deadline.and_then(|d| Instant::now().checked_add(d));
        let mut attempts = 0;
        let mut last: Option<Error> = None;
        loop {
            attempts += 1;
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let timeout = match (self.request_timeout, remaining) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut attempt = tonic::Request::new(request.clone());
            if let Some(timeout) = timeout {
                attempt.set_timeout(timeout);
            }
            let future = call(self.inner.clone(), attempt);
            let result = match timeout {
                Some(timeout) => match tokio::time::timeout(timeout, future).await {
                    Ok(result) => result,
                    Err(_) => return Err(Error::DeadlineExceeded { attempts, last: last.map(Box::new) }),
                },
                None => future.await,
            };
            let error = match result {
                Ok(response) => return Ok(response.into_inner()),
                // The channel enforces the `grpc-timeout` it sends.
                Err(status) if is_local_timeout(&status) => {
                    return Err(Error::DeadlineExceeded { attempts, last: last.map(Box::new) });
                }
                Err(status) => Error::from_status(status),
            };
            if let Error::Status { kind: StatusKind::NoErrorInfo, status } = &error
                && status.code() == tonic::Code::DeadlineExceeded
            {
                return Err(Error::DeadlineExceeded { attempts, last: last.map(Box::new) });
            }
            let retryable = error.is_retryable() || mutants::is(Mutant::RetryNonRetryable);
            if !retryable || attempts >= self.retry.max_attempts {
                return Err(error);
            }
            let server_delay = error.retry_delay().filter(|_| !mutants::is(Mutant::IgnoreRetryInfo));
            let delay = self.retry.delay(attempts, server_delay, jitter_unit());
            if deadline.is_some_and(|d| Instant::now().checked_add(delay).is_none_or(|end| end >= d)) {
                return Err(error);
            }
            tokio::time::sleep(delay).await;
            last = Some(error);
        }
    }

    /// Opens one `StreamJobEvents` call after `after`.
    async fn open_events(
        &self,
        job_id: &str,
        after: u64,
    ) -> Result<tonic::Streaming<pb::StreamJobEventsResponse>, Error> {
        let mut request =
            pb::StreamJobEventsRequest { job_id: job_id.to_string(), after_sequence: after, ..Default::default() };
        if let Some(id) = &self.correlation_id {
            request.correlation_id = id.to_string();
        }
        let mut inner = self.inner.clone();
        match inner.stream_job_events(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(Error::from_status(status)),
        }
    }
}

/// Sends `item` unless the reader is gone; false when it is.
async fn send(tx: &mpsc::Sender<Result<pb::JobEvent, Error>>, item: Result<pb::JobEvent, Error>) -> bool {
    tx.send(item).await.is_ok()
}

/// Drives one [`JobEventStream`]: opens `StreamJobEvents` from the cursor,
/// delivers what the cursor accepts, and on a resumable failure backs off
/// and reopens from the last delivered sequence.
async fn follow(client: Client, job_id: String, after: u64, tx: mpsc::Sender<Result<pb::JobEvent, Error>>) {
    let mut cursor = EventCursor::new(after);
    // Failed reconnects in a row; a delivered event resets it.
    let mut failures = 0u32;
    loop {
        let ended = tokio::select! {
            _ = tx.closed() => return,
            ended = read_stream(&client, &job_id, &mut cursor, &mut failures, &tx) => ended,
        };
        let error = match ended {
            Ended::Done => return,
            Ended::Failed(error) => error,
            Ended::ClosedEarly => {
                // The server closed the stream without error before the
                // terminal event. That is right only when nothing is left:
                // the job is terminal and its last event is delivered.
                match client.get_job_status(job_id.clone()).await {
                    Ok(job) if is_terminal_state(job.state) && job.last_sequence <= cursor.after_sequence() => return,
                    Ok(_) => {
                        Error::Protocol(format!("the event stream of job `{job_id}` closed before its terminal event"))
                    }
                    Err(error) => error,
                }
            }
        };
        failures += 1;
        let resumable = error.is_resumable() || matches!(error, Error::Protocol(_));
        if !resumable || failures >= client.retry.max_attempts {
            if mutants::is(Mutant::SwallowCursorExpired) && matches!(error, Error::Api(ApiError::CursorExpired { .. }))
            {
                return;
            }
            send(&tx, Err(error)).await;
            return;
        }
        let delay = client.retry.delay(failures, error.retry_delay(), jitter_unit());
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// How one `StreamJobEvents` call ended.
enum Ended {
    /// The terminal event was delivered, a gap was reported, or the
    /// reader is gone: the stream is over.
    Done,
    /// The call failed; the caller decides whether to resume.
    Failed(Error),
    /// The server closed the call cleanly before the terminal event.
    ClosedEarly,
}

async fn read_stream(
    client: &Client,
    job_id: &str,
    cursor: &mut EventCursor,
    failures: &mut u32,
    tx: &mpsc::Sender<Result<pb::JobEvent, Error>>,
) -> Ended {
    let after = if mutants::is(Mutant::ResumeFromZero) { 0 } else { cursor.after_sequence() };
    let mut stream = match client.open_events(job_id, after).await {
        Ok(stream) => stream,
        Err(error) => return Ended::Failed(error),
    };
    loop {
        let message = match stream.next().await {
            None => return Ended::ClosedEarly,
            Some(Err(status)) => return Ended::Failed(Error::from_status(status)),
            Some(Ok(message)) => message,
        };
        let Some(event) = message.event else {
            return Ended::Failed(Error::Protocol("`StreamJobEventsResponse.event` is unset".into()));
        };
        match cursor.offer(event.sequence, is_terminal_event(&event)) {
            Offer::Deliver => {
                *failures = 0;
                let finished = cursor.is_finished();
                if !send(tx, Ok(event)).await || finished {
                    return Ended::Done;
                }
            }
            Offer::Duplicate if mutants::is(Mutant::NoDedupe) => {
                if !send(tx, Ok(event)).await {
                    return Ended::Done;
                }
            }
            Offer::Duplicate => {}
            Offer::Finished => return Ended::Done,
            Offer::Gap { expected, received } => {
                send(tx, Err(Error::SequenceGap { job_id: job_id.to_string(), expected, received })).await;
                return Ended::Done;
            }
        }
    }
}
