//! The client: connecting and negotiating the API version, running every
//! call with the contract's retry rules, resuming event streams, and the
//! conveniences built on them (`execute_and_wait`, cancellation).
//!
//! The per-RPC request builders are generated (`calls.rs`); what they
//! call into is here.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;

use crate::Code;
use crate::calls::{ListCapabilitiesReply, SkillExecute, StreamJobEvents};
use crate::contract::{API_VERSION, API_VERSION_HEADER};
use crate::endpoint::Endpoint;
use crate::error::{ApiError, Error, StatusKind};
use crate::events::{EventCursor, JobEventStream, Offer, is_terminal_event, is_terminal_state};
use crate::mutants::{self, Mutant};
use crate::pb;
use crate::pb::gateway_service_client::GatewayServiceClient;
use crate::retry::{RetryPolicy, jitter_unit, random_u64};
#[cfg(feature = "tls")]
use crate::tls::TlsConfig;
use crate::transport::Connection;

/// How many events a [`JobEventStream`] buffers ahead of its reader. A
/// reader slower than the job makes the server end the stream with
/// `SUBSCRIBER_LAGGED`, which the stream resumes from.
const EVENT_BUFFER: usize = 64;

/// The generated tonic client on a [`Client`]'s connection, as returned by
/// [`Client::raw`]: for calls made by hand, with tonic's own types.
pub type RawClient = GatewayServiceClient<InterceptedService<Connection, CallHeaders>>;

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

impl std::fmt::Debug for CallHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("CallHeaders")
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The options of one call, set on its request builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
}

/// Configures and connects a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: String,
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    auth_token: Option<String>,
    #[cfg(feature = "tls")]
    tls: Option<TlsConfig>,
    retry: RetryPolicy,
    correlation_id: Option<String>,
}

impl ClientBuilder {
    /// A builder for the server at `endpoint` (`http://host:port`, or
    /// `https://host:port` with the `tls` feature), with the default
    /// [`RetryPolicy`] and no timeouts beyond its deadline. The endpoint is
    /// checked when connecting: a malformed one is [`Error::Config`].
    pub fn new(endpoint: impl Into<String>) -> Self {
        ClientBuilder {
            endpoint: endpoint.into(),
            connect_timeout: None,
            request_timeout: None,
            auth_token: None,
            #[cfg(feature = "tls")]
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
    /// server as `grpc-timeout`); a call's own `.timeout()` overrides it.
    /// An attempt that times out is retried like a lost connection, within
    /// the retry policy's deadline, which bounds the whole call.
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

    /// The TLS settings of an `https://` endpoint: at least the CA
    /// certificate to trust (or a root store feature).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// How failed calls are retried (a call's own `.retry_policy()`
    /// overrides it).
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
    /// Fails with [`Error::Config`] at once, never retried, for a
    /// malformed endpoint or unusable settings; with
    /// [`Error::Transport`] (naming the endpoint and the cause) when the
    /// server cannot be reached within the retry policy; with
    /// [`Error::UnsupportedVersion`] when the server lists other versions
    /// only, or with the server's own `UNSUPPORTED_API_VERSION` as
    /// [`Error::Api`].
    pub async fn connect(self) -> Result<Client, Error> {
        let endpoint = Endpoint::parse(&self.endpoint)?;
        #[cfg(feature = "tls")]
        let tls = if endpoint.is_tls() {
            let tls = self.tls.clone().unwrap_or_else(default_tls);
            if !tls.trusts_something() {
                return Err(Error::Config(format!(
                    "endpoint `{endpoint}` is https but nothing is trusted: give `TlsConfig::ca_certificate_pem` \
                     (or enable the `tls-native-roots` or `tls-webpki-roots` feature)"
                )));
            }
            Some(tls.to_rustls(&endpoint)?)
        } else if self.tls.is_some() {
            return Err(Error::Config(format!("tls is configured but endpoint `{endpoint}` is http: use https://")));
        } else {
            None
        };
        #[cfg(not(feature = "tls"))]
        if endpoint.is_tls() {
            return Err(Error::Config(format!(
                "endpoint `{endpoint}` is https, which needs the `tls` feature of dome-sdk"
            )));
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
        let connection = Connection::new(
            endpoint.clone(),
            self.connect_timeout,
            #[cfg(feature = "tls")]
            tls,
        );
        let service = InterceptedService::new(connection, CallHeaders { authorization });
        let mut client = Client {
            inner: GatewayServiceClient::new(service.clone()),
            grpc: tonic::client::Grpc::new(service),
            endpoint,
            retry: self.retry,
            request_timeout: self.request_timeout,
            correlation_id: self.correlation_id.map(Arc::from),
            capabilities: None,
        };
        // The version first: a server that does not speak this contract's
        // version is reported as such, whatever else its answer lacks.
        let call = client.list_capabilities();
        let response =
            client.unary::<_, pb::ListCapabilitiesResponse>(call.request, call.options, LIST_CAPABILITIES_PATH).await?;
        if !response.api_versions.iter().any(|v| v == API_VERSION) {
            return Err(Error::UnsupportedVersion {
                requested: API_VERSION.to_string(),
                supported: response.api_versions,
            });
        }
        client.capabilities = Some(Arc::new(ListCapabilitiesReply::from_response(response)?));
        Ok(client)
    }
}

/// The trust of an `https://` endpoint given no [`TlsConfig`]: the root
/// stores the enabled features provide, else nothing.
#[cfg(feature = "tls")]
fn default_tls() -> TlsConfig {
    #[allow(unused_mut)]
    let mut tls = TlsConfig::new();
    #[cfg(feature = "tls-native-roots")]
    {
        tls = tls.with_native_roots();
    }
    #[cfg(feature = "tls-webpki-roots")]
    {
        tls = tls.with_webpki_roots();
    }
    tls
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("ClientBuilder");
        s.field("endpoint", &self.endpoint)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            // Never print the token.
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<redacted>"));
        #[cfg(feature = "tls")]
        s.field("tls", &self.tls);
        s.field("retry", &self.retry).field("correlation_id", &self.correlation_id).finish()
    }
}

/// A connected client of a dome gateway (cheap to clone; clones share the
/// connection).
///
/// Every RPC is one method returning a request builder: set what the call
/// needs, then `send()` (see the crate documentation for the list). Every
/// call sends the `dome-api-version` header and the client's correlation
/// id (unless the call sets its own), and is retried as its
/// [`RetryPolicy`] and the contract allow: only errors the contract marks
/// retryable, transport failures ([`Error::is_retryable`]) and attempts
/// that timed out, all safe because every call is idempotent:
/// `SkillExecute` through its idempotency key, which the client creates
/// (random, UUIDv4-shaped) when the call sets none, so that a retry can
/// never create a second job.
#[derive(Clone)]
pub struct Client {
    inner: RawClient,
    /// What the unary calls go through: the same connection and headers
    /// as `inner`, carrying messages already encoded.
    grpc: tonic::client::Grpc<InterceptedService<Connection, CallHeaders>>,
    endpoint: Endpoint,
    retry: RetryPolicy,
    request_timeout: Option<Duration>,
    correlation_id: Option<Arc<str>>,
    /// Set once connected; `None` only during the first call.
    capabilities: Option<Arc<ListCapabilitiesReply>>,
}

impl std::fmt::Debug for Client {
    /// Short: where it is connected and how it calls, not what the server
    /// offers (the skills' schemas are long).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("server_version", &self.capabilities.as_ref().map(|c| c.server_version.as_str()))
            .field("correlation_id", &self.correlation_id)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Requests the client fills in before sending: the correlation id
/// (generated for every request message) and, per RPC, what the client
/// sets itself ([`Fill`]).
pub(crate) trait Correlated {
    fn correlation_id_mut(&mut self) -> &mut String;
}

/// What the client sets on a request of one RPC before sending it.
pub(crate) trait Fill {
    fn fill(&mut self) {}

    /// What changes between attempts of one call: nothing, unless a
    /// client mutant breaks that rule.
    fn fill_attempt(&mut self) {}
}

impl Fill for pb::ListCapabilitiesRequest {
    /// The client states the version it speaks.
    fn fill(&mut self) {
        if self.api_version.is_empty() {
            self.api_version = API_VERSION.to_string();
        }
    }
}

impl Fill for pb::SkillExecuteRequest {
    /// Without an idempotency key a retry could create a second job.
    fn fill(&mut self) {
        if self.idempotency_key.is_empty() {
            self.idempotency_key = fresh_idempotency_key();
        }
    }

    fn fill_attempt(&mut self) {
        if mutants::is(Mutant::FreshIdempotencyKey) {
            self.idempotency_key = fresh_idempotency_key();
        }
    }
}

impl Fill for pb::GetJobStatusRequest {}
impl Fill for pb::CancelJobRequest {}
impl Fill for pb::StreamJobEventsRequest {}
impl Fill for pb::GetGateDecisionRequest {}
impl Fill for pb::GetPromotionDecisionRequest {}

/// A fresh idempotency key: 122 random bits in the form of a UUIDv4.
fn fresh_idempotency_key() -> String {
    let (high, low) = (random_u64(), random_u64());
    // Version 4 in the high nibble of the third group, variant `10` in
    // the top bits of the fourth.
    let high = (high & !0xf000) | 0x4000;
    let low = (low & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

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

    /// The endpoint this client is connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// What the server said it offers when the client connected.
    pub fn capabilities(&self) -> &ListCapabilitiesReply {
        match &self.capabilities {
            Some(capabilities) => capabilities,
            // Only `connect` holds a client without them, and it never
            // asks.
            None => unreachable_capabilities(),
        }
    }

    /// A client sharing this one's connection whose calls carry the
    /// correlation id `id` (unless a call sets its own).
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
    /// version and authorization headers), for calls made by hand. Its
    /// signatures are tonic's: the one place this crate shows them.
    pub fn raw(&self) -> RawClient {
        self.inner.clone()
    }

    /// Submits `skill_id` with `input_json`, follows the job and returns it
    /// once it is terminal (`SUCCEEDED`, `FAILED` or `CANCELLED`; a failed
    /// job is a successful call, its outcome says why). `limit` bounds the
    /// wait (see [`Client::wait_for_job`]); for the call's other options,
    /// use [`SkillExecute::send_and_wait`].
    pub async fn execute_and_wait(
        &self,
        skill_id: impl Into<String>,
        input_json: impl Into<String>,
        limit: Option<Duration>,
    ) -> Result<pb::Job, Error> {
        self.skill_execute(skill_id, input_json).send_and_wait(limit).await
    }

    /// Waits until `job_id` is terminal and returns it, following its
    /// events rather than polling. Each call it makes honours the retry
    /// policy; with `limit`, the whole wait ends after it with
    /// [`Error::WaitLimit`] (the job goes on: waiting never cancels it).
    pub async fn wait_for_job(&self, job_id: impl Into<String>, limit: Option<Duration>) -> Result<pb::Job, Error> {
        let job_id = job_id.into();
        match limit {
            None => self.wait_unbounded(&job_id).await,
            Some(limit) => match tokio::time::timeout(limit, self.wait_unbounded(&job_id)).await {
                Ok(result) => result,
                Err(_) => Err(Error::WaitLimit { job_id, limit }),
            },
        }
    }

    async fn wait_unbounded(&self, job_id: &str) -> Result<pb::Job, Error> {
        let mut expired = 0;
        loop {
            let job = self.get_job_status(job_id).send().await?;
            if is_terminal_state(job.state) {
                return Ok(job);
            }
            let mut events = self.stream_job_events(job_id).after(job.last_sequence).send();
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

    /// Cancels `job_id` (recording `reason`) and waits until it is
    /// terminal (`CANCELLED`, or `SUCCEEDED`/`FAILED` when it finished
    /// first), at most `limit` when given.
    pub async fn cancel_and_wait(
        &self,
        job_id: impl Into<String>,
        reason: impl Into<String>,
        limit: Option<Duration>,
    ) -> Result<pb::Job, Error> {
        let job_id = job_id.into();
        self.cancel_job(job_id.clone()).reason(reason).send().await?;
        self.wait_for_job(job_id, limit).await
    }

    /// Runs one unary call to the method at `path` with the retry policy:
    /// fills in what the client sets, bounds each attempt by the timeout
    /// and the total deadline, retries what is retryable (and attempts
    /// that timed out) after the backoff.
    pub(crate) async fn unary<Req, Resp>(
        &self,
        mut request: Req,
        options: CallOptions,
        path: &'static str,
    ) -> Result<Resp, Error>
    where
        Req: Correlated + Fill + Clone + prost::Message,
        Resp: prost::Message + Default,
    {
        self.correlate(&mut request);
        request.fill();
        let mut next_attempt = || {
            let mut this_attempt = request.clone();
            this_attempt.fill_attempt();
            Bytes::from(this_attempt.encode_to_vec())
        };
        let response = self.unary_encoded(path, &options, &mut next_attempt).await?;
        // As tonic's prost codec reports a message that does not decode.
        Resp::decode(response)
            .map_err(|e| Error::from_status(tonic::Status::internal(e.to_string()), self.endpoint.shared()))
    }

    /// The retry loop of [`Client::unary`], on encoded messages
    /// (`next_attempt` encodes the request of each attempt): one copy of
    /// it, and of tonic's call machinery, serves every RPC, rather than
    /// one per request and response type.
    async fn unary_encoded(
        &self,
        path: &'static str,
        options: &CallOptions,
        next_attempt: &mut (dyn FnMut() -> Bytes + Send),
    ) -> Result<Bytes, Error> {
        let retry = options.retry.as_ref().unwrap_or(&self.retry);
        let per_attempt = options.timeout.or(self.request_timeout);
        // A deadline too far to represent is no deadline.
        let deadline = retry.deadline.and_then(|d| Instant::now().checked_add(d));
        let mut attempts = 0;
        // The last error of an attempt that failed rather than timed out.
        let mut last: Option<Error> = None;
        loop {
            attempts += 1;
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let timeout = match (per_attempt, remaining) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut attempt = tonic::Request::new(next_attempt());
            if let Some(timeout) = timeout {
                attempt.set_timeout(timeout);
            }
            let future = send_encoded(self.grpc.clone(), path, attempt);
            let outcome = match timeout {
                Some(timeout) => tokio::time::timeout(timeout, future).await.ok(),
                None => Some(future.await),
            };
            // `None`: the attempt timed out (here, or by the server
            // enforcing the `grpc-timeout` it was sent).
            let error = match outcome {
                Some(Ok(response)) => return Ok(response.into_inner()),
                Some(Err(status)) => match Error::from_status(status, self.endpoint.shared()) {
                    Error::Status { kind: StatusKind::NoErrorInfo, code: Code::DeadlineExceeded, .. } => None,
                    error => Some(error),
                },
                None => None,
            };
            let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
            let server_delay = match &error {
                None if out_of_time || attempts >= retry.max_attempts => {
                    return Err(Error::DeadlineExceeded { attempts, last: last.map(Box::new) });
                }
                None => None,
                Some(error)
                    if !(error.is_retryable() || mutants::is(Mutant::RetryNonRetryable))
                        || attempts >= retry.max_attempts
                        || out_of_time =>
                {
                    return Err(error.clone());
                }
                Some(error) => error.retry_delay().filter(|_| !mutants::is(Mutant::IgnoreRetryInfo)),
            };
            let delay = retry.delay(attempts, server_delay, jitter_unit());
            if deadline.is_some_and(|d| Instant::now().checked_add(delay).is_none_or(|end| end >= d)) {
                return Err(match error {
                    Some(error) => error,
                    None => Error::DeadlineExceeded { attempts, last: last.map(Box::new) },
                });
            }
            tokio::time::sleep(delay).await;
            if error.is_some() {
                last = error;
            }
        }
    }

    /// Sets the client's correlation id on a request that has none.
    fn correlate(&self, request: &mut impl Correlated) {
        if let Some(id) = &self.correlation_id
            && request.correlation_id_mut().is_empty()
        {
            *request.correlation_id_mut() = id.to_string();
        }
    }

    /// Opens one `StreamJobEvents` call after `after`.
    async fn open_events(
        &self,
        request: &pb::StreamJobEventsRequest,
        after: u64,
    ) -> Result<tonic::Streaming<pb::StreamJobEventsResponse>, Error> {
        let request = pb::StreamJobEventsRequest { after_sequence: after, ..request.clone() };
        let mut inner = self.inner.clone();
        match inner.stream_job_events(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(Error::from_status(status, self.endpoint.shared())),
        }
    }
}

/// The path of `ListCapabilities`, which connecting calls.
const LIST_CAPABILITIES_PATH: &str = "/dome.gateway.v1.GatewayService/ListCapabilities";

/// One attempt of a unary call with an encoded request.
async fn send_encoded(
    mut grpc: tonic::client::Grpc<InterceptedService<Connection, CallHeaders>>,
    path: &'static str,
    request: tonic::Request<Bytes>,
) -> Result<tonic::Response<Bytes>, tonic::Status> {
    // The connection is always ready; it connects in `call`.
    grpc.ready().await.map_err(|e| tonic::Status::unknown(format!("service was not ready: {e}")))?;
    grpc.unary(request, http::uri::PathAndQuery::from_static(path), EncodedCodec).await
}

/// A tonic codec of messages encoded and decoded by the caller.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl tonic::codec::Codec for EncodedCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = EncodedCodec;
    type Decoder = EncodedCodec;

    fn encoder(&mut self) -> EncodedCodec {
        EncodedCodec
    }

    fn decoder(&mut self) -> EncodedCodec {
        EncodedCodec
    }
}

impl tonic::codec::Encoder for EncodedCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl tonic::codec::Decoder for EncodedCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cold]
fn unreachable_capabilities() -> ! {
    unreachable!("a connected client always holds the server's capabilities")
}

impl SkillExecute<'_> {
    /// Sends the call, then waits as [`Client::wait_for_job`] does (at
    /// most `limit` when given) and returns the terminal job.
    pub async fn send_and_wait(self, limit: Option<Duration>) -> Result<pb::Job, Error> {
        let client = self.client;
        let submitted = self.send().await?;
        client.wait_for_job(submitted.job.job_id, limit).await
    }
}

impl StreamJobEvents<'_> {
    /// Starts after sequence `after` (0, the default, for every event):
    /// the same as [`StreamJobEvents::after_sequence`].
    pub fn after(self, after: u64) -> Self {
        self.after_sequence(after)
    }

    /// Follows the job's events: each exactly once, in order, until the
    /// terminal event, reconnecting after transport failures and
    /// resumable errors (see [`JobEventStream`]). The stream is driven by
    /// a task on the current Tokio runtime; called outside one, it yields
    /// a single [`Error::Config`]. The call's retry policy bounds how many
    /// reconnects in a row may fail; `.timeout()` does not apply to a
    /// stream, which lasts as long as the job.
    pub fn send(self) -> JobEventStream {
        let mut request = self.request;
        self.client.correlate(&mut request);
        request.fill();
        let after = request.after_sequence;
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let retry = self.options.retry.unwrap_or_else(|| self.client.retry.clone());
                crate::transport::spawn(&runtime, follow(self.client.clone(), request, retry, tx));
            }
            Err(_) => {
                let error = Error::Config("a job's event stream needs a tokio runtime".into());
                // The channel is empty and its reader alive: this cannot fail.
                let _ = tx.try_send(Err(error));
            }
        }
        JobEventStream::new(rx, after)
    }
}

/// Runs `future` until it ends or the stream's reader is gone (`None`).
async fn unless_closed<T, F: Future<Output = T>>(
    tx: &mpsc::Sender<Result<pb::JobEvent, Error>>,
    future: F,
) -> Option<T> {
    let mut future = pin!(future);
    let mut closed = pin!(tx.closed());
    poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        if closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Sends `item` unless the reader is gone; false when it is.
async fn send(tx: &mpsc::Sender<Result<pb::JobEvent, Error>>, item: Result<pb::JobEvent, Error>) -> bool {
    tx.send(item).await.is_ok()
}

/// Drives one [`JobEventStream`]: opens `StreamJobEvents` from the cursor,
/// delivers what the cursor accepts, and on a resumable failure backs off
/// and reopens from the last delivered sequence.
async fn follow(
    client: Client,
    request: pb::StreamJobEventsRequest,
    retry: RetryPolicy,
    tx: mpsc::Sender<Result<pb::JobEvent, Error>>,
) {
    let job_id = request.job_id.clone();
    let mut cursor = EventCursor::new(request.after_sequence);
    // Failed reconnects in a row; a delivered event resets it.
    let mut failures = 0u32;
    loop {
        let Some(ended) = unless_closed(&tx, read_stream(&client, &request, &mut cursor, &mut failures, &tx)).await
        else {
            return;
        };
        let error = match ended {
            Ended::Done => return,
            Ended::Failed(error) => error,
            Ended::ClosedEarly => {
                // The server closed the stream without error before the
                // terminal event. That is right only when nothing is left:
                // the job is terminal and its last event is delivered.
                match client.get_job_status(job_id.clone()).send().await {
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
        if !resumable || failures >= retry.max_attempts {
            if mutants::is(Mutant::SwallowCursorExpired) && matches!(error, Error::Api(ApiError::CursorExpired { .. }))
            {
                return;
            }
            send(&tx, Err(error)).await;
            return;
        }
        let delay = retry.delay(failures, error.retry_delay(), jitter_unit());
        if unless_closed(&tx, tokio::time::sleep(delay)).await.is_none() {
            return;
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
    request: &pb::StreamJobEventsRequest,
    cursor: &mut EventCursor,
    failures: &mut u32,
    tx: &mpsc::Sender<Result<pb::JobEvent, Error>>,
) -> Ended {
    let after = if mutants::is(Mutant::ResumeFromZero) { 0 } else { cursor.after_sequence() };
    let mut stream = match client.open_events(request, after).await {
        Ok(stream) => stream,
        Err(error) => return Ended::Failed(error),
    };
    loop {
        let message = match stream.message().await {
            Ok(None) => return Ended::ClosedEarly,
            Err(status) => return Ended::Failed(Error::from_status(status, client.endpoint.shared())),
            Ok(Some(message)) => message,
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
                let job_id = request.job_id.clone();
                send(tx, Err(Error::SequenceGap { job_id, expected, received })).await;
                return Ended::Done;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_uuid_v4_shaped_and_distinct() {
        let keys: Vec<String> = (0..1000).map(|_| fresh_idempotency_key()).collect();
        for key in &keys {
            let groups: Vec<&str> = key.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{key}");
            assert!(key.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{key}");
            assert!(groups[2].starts_with('4'), "version 4: {key}");
            assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'), "variant 10: {key}");
        }
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
    }
}
