//! The suite's view of the wire: the raw generated tonic client (never
//! the SDK's convenience layer, so that the suite judges exactly what the
//! server sends), a deadline on every call and every stream read, and the
//! checks every RPC error must pass (`errors.proto`).

use std::collections::HashMap;
use std::time::Duration;

use dome_sdk::contract::{self, ErrorReasonSpec};
use dome_sdk::pb::{self, gateway_service_client::GatewayServiceClient};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::{ErrorDetail, StatusExt};

use crate::error::Error;

/// Adds the bearer token (when one is configured) to every call.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    header: Option<AsciiMetadataValue>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

/// The generated client over one shared HTTP/2 channel.
pub type Client = GatewayServiceClient<InterceptedService<Channel, Auth>>;

/// Why an RPC did not answer as hoped: the server's status, or the
/// suite's own deadline.
#[derive(Debug)]
pub enum RpcError {
    /// The call failed with this status.
    Status(Box<tonic::Status>),
    /// The call (or the stream read) did not finish within the deadline.
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
    },
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Status(s) => f.write_str(&describe_status(s)),
            RpcError::Timeout { what, after } => {
                write!(f, "{what} did not answer within {} ms (the server hung or is too slow)", after.as_millis())
            }
        }
    }
}

/// The result of one call.
pub type Rpc<T> = Result<T, RpcError>;

/// Describes a status for a report: code, ErrorInfo reason and metadata,
/// and message.
pub fn describe_status(status: &tonic::Status) -> String {
    let mut out = format!("{:?}", status.code());
    for d in status.get_error_details_vec() {
        if let ErrorDetail::ErrorInfo(info) = d {
            let mut md: Vec<_> = info.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
            md.sort();
            out.push_str(&format!(" {} ({}) {{{}}}", info.reason, info.domain, md.join(", ")));
        }
    }
    out.push_str(&format!(": {:?}", status.message()));
    out
}

/// A connected client with the suite's deadlines.
#[derive(Clone, Debug)]
pub struct Wire {
    channel: Channel,
    client: Client,
    anonymous: Client,
    /// The deadline of each unary call and each stream read.
    pub rpc_timeout: Duration,
    /// How long a stream may stay open after its terminal event.
    pub close_grace: Duration,
    target: Target,
}

/// Where and how to connect.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `host:port`, or an `http://` or `https://` URL.
    pub address: String,
    /// PEM of the CA that signed the server's certificate (for `https://`).
    pub ca_cert_pem: Option<Vec<u8>>,
    /// The bearer token, when the server requires one.
    pub auth_token: Option<String>,
}

impl Wire {
    /// Connects to the target.
    pub async fn connect(target: &Target, rpc_timeout: Duration) -> Result<Wire, Error> {
        Wire::connect_with(target, rpc_timeout, None, None).await
    }

    /// A second connection to the same target, of its own (so that a
    /// stream left unread on it cannot hold up other calls), with the given
    /// HTTP/2 stream flow-control window, in bytes.
    pub async fn isolated(&self, stream_window: u32) -> Result<Wire, Error> {
        Wire::connect_with(&self.target, self.rpc_timeout, Some(stream_window), None).await
    }

    /// A second connection to the same target that accepts header lists
    /// (and so trailers) of at most `bytes`, as many default clients do.
    pub async fn with_header_limit(&self, bytes: u32) -> Result<Wire, Error> {
        Wire::connect_with(&self.target, self.rpc_timeout, None, Some(bytes)).await
    }

    async fn connect_with(
        target: &Target,
        rpc_timeout: Duration,
        window: Option<u32>,
        max_header_list: Option<u32>,
    ) -> Result<Wire, Error> {
        let url =
            if target.address.contains("://") { target.address.clone() } else { format!("http://{}", target.address) };
        let mut endpoint = Channel::from_shared(url.clone())
            .map_err(|e| Error::connect(&url, e))?
            .connect_timeout(rpc_timeout)
            .timeout(rpc_timeout.max(Duration::from_secs(1)) * 4)
            .initial_stream_window_size(window)
            .initial_connection_window_size(window.map(|w| w.saturating_mul(4)));
        if let Some(bytes) = max_header_list {
            endpoint = endpoint.http2_max_header_list_size(bytes);
        }
        if url.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new();
            if let Some(pem) = &target.ca_cert_pem {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(|e| Error::connect(&url, e))?;
        }
        let channel = tokio::time::timeout(rpc_timeout, endpoint.connect())
            .await
            .map_err(|_| Error::connect_timeout(&url, rpc_timeout))?
            .map_err(|e| Error::connect(&url, e))?;
        let header = match &target.auth_token {
            Some(t) => Some(MetadataValue::try_from(format!("Bearer {t}")).map_err(Error::bad_token)?),
            None => None,
        };
        let client = GatewayServiceClient::with_interceptor(channel.clone(), Auth { header })
            .max_decoding_message_size(64 * 1024 * 1024);
        let anonymous = GatewayServiceClient::with_interceptor(channel.clone(), Auth::default());
        Ok(Wire {
            channel,
            client,
            anonymous,
            rpc_timeout,
            close_grace: rpc_timeout.min(Duration::from_secs(3)),
            target: target.clone(),
        })
    }

    /// The connection itself, without credentials: for the services beside
    /// the gateway (health, reflection), which stay open.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    async fn deadline<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Rpc<T> {
        match tokio::time::timeout(self.rpc_timeout, fut).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(RpcError::Status(Box::new(s))),
            Err(_) => Err(RpcError::Timeout { what: what.to_string(), after: self.rpc_timeout }),
        }
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.set_timeout(self.rpc_timeout);
        r
    }

    /// Calls `path`, a method the contract does not define, with an empty
    /// message, as a client built for another contract would.
    pub async fn call_unknown(&self, path: &'static str) -> Rpc<()> {
        let mut grpc = tonic::client::Grpc::new(self.channel());
        let request = self.request(pb::ListCapabilitiesRequest::default());
        let call = async move {
            grpc.ready().await.map_err(|e| tonic::Status::unavailable(format!("the connection failed: {e}")))?;
            let codec = tonic_prost::ProstCodec::<pb::ListCapabilitiesRequest, pb::ListCapabilitiesResponse>::default();
            grpc.unary(request, tonic::codegen::http::uri::PathAndQuery::from_static(path), codec)
                .await
                .map(|r| r.map(|_| ()))
        };
        self.deadline("a call of an unknown method", call).await
    }

    /// `ListCapabilities`.
    pub async fn capabilities(&self, req: pb::ListCapabilitiesRequest) -> Rpc<pb::ListCapabilitiesResponse> {
        let mut c = self.client.clone();
        self.deadline("ListCapabilities", c.list_capabilities(self.request(req))).await
    }

    /// `ListCapabilities` with extra request headers.
    pub async fn capabilities_with_headers(
        &self,
        req: pb::ListCapabilitiesRequest,
        headers: &[(&'static str, &str)],
        anonymous: bool,
    ) -> Rpc<pb::ListCapabilitiesResponse> {
        let mut c = if anonymous { self.anonymous.clone() } else { self.client.clone() };
        let mut r = self.request(req);
        for (k, v) in headers {
            if let Ok(v) = MetadataValue::try_from(*v) {
                r.metadata_mut().insert(*k, v);
            }
        }
        self.deadline("ListCapabilities", c.list_capabilities(r)).await
    }

    /// `SkillExecute`.
    pub async fn execute(&self, req: pb::SkillExecuteRequest) -> Rpc<pb::SkillExecuteResponse> {
        let mut c = self.client.clone();
        self.deadline("SkillExecute", c.skill_execute(self.request(req))).await
    }

    /// `GetJobStatus`.
    pub async fn status(&self, job_id: &str, correlation_id: &str) -> Rpc<pb::GetJobStatusResponse> {
        let mut c = self.client.clone();
        let req = pb::GetJobStatusRequest { correlation_id: correlation_id.into(), job_id: job_id.into() };
        self.deadline("GetJobStatus", c.get_job_status(self.request(req))).await
    }

    /// `GetJobStatus` with extra request headers.
    pub async fn status_with_headers(
        &self,
        job_id: &str,
        correlation_id: &str,
        headers: &[(&'static str, &str)],
    ) -> Rpc<pb::GetJobStatusResponse> {
        let mut c = self.client.clone();
        let mut r =
            self.request(pb::GetJobStatusRequest { correlation_id: correlation_id.into(), job_id: job_id.into() });
        for (k, v) in headers {
            if let Ok(v) = MetadataValue::try_from(*v) {
                r.metadata_mut().insert(*k, v);
            }
        }
        self.deadline("GetJobStatus", c.get_job_status(r)).await
    }

    /// `CancelJob`.
    pub async fn cancel(&self, job_id: &str, correlation_id: &str, reason: &str) -> Rpc<pb::CancelJobResponse> {
        let mut c = self.client.clone();
        let req = pb::CancelJobRequest {
            correlation_id: correlation_id.into(),
            job_id: job_id.into(),
            reason: reason.into(),
        };
        self.deadline("CancelJob", c.cancel_job(self.request(req))).await
    }

    /// `GetGateDecision`.
    pub async fn gate(&self, req: pb::GetGateDecisionRequest) -> Rpc<pb::GetGateDecisionResponse> {
        let mut c = self.client.clone();
        self.deadline("GetGateDecision", c.get_gate_decision(self.request(req))).await
    }

    /// `GetPromotionDecision`.
    pub async fn promotion(&self, req: pb::GetPromotionDecisionRequest) -> Rpc<pb::GetPromotionDecisionResponse> {
        let mut c = self.client.clone();
        self.deadline("GetPromotionDecision", c.get_promotion_decision(self.request(req))).await
    }

    /// Opens `StreamJobEvents` after `after_sequence`. The call itself has
    /// a deadline; each read has its own (see [`EventStream::next`]).
    pub async fn stream(&self, job_id: &str, after_sequence: u64) -> Rpc<EventStream> {
        self.stream_with_correlation(job_id, after_sequence, "").await
    }

    /// [`Wire::stream`] under a correlation id (empty: the server assigns
    /// one).
    pub async fn stream_with_correlation(
        &self,
        job_id: &str,
        after_sequence: u64,
        correlation_id: &str,
    ) -> Rpc<EventStream> {
        let mut c = self.client.clone();
        let req =
            pb::StreamJobEventsRequest { correlation_id: correlation_id.into(), job_id: job_id.into(), after_sequence };
        // No grpc-timeout on the stream itself: it may rightly stay open
        // as long as the job runs; each read is bounded instead.
        let inner = self.deadline("StreamJobEvents", c.stream_job_events(tonic::Request::new(req))).await?;
        Ok(EventStream { inner, read_timeout: self.rpc_timeout, job_id: job_id.to_string() })
    }

    /// The bound of a wait on something the contract promises but does not
    /// time (a parked job's next event, a job's end): the whole budget of
    /// a case, ten times the deadline of one call.
    pub fn patience(&self) -> Duration {
        self.rpc_timeout * 10
    }

    /// Opens `StreamJobEvents` after `after_sequence` and waits for its
    /// first event (`None` when it closes first) as long as a case may
    /// last: for a cursor at the head of a job that has not ended, where
    /// the next event comes only when something makes it happen, and a
    /// server may send the stream's headers only with it.
    pub async fn first_event_after(&self, job_id: &str, after_sequence: u64) -> Rpc<Option<pb::JobEvent>> {
        let mut c = self.client.clone();
        let req = pb::StreamJobEventsRequest { correlation_id: String::new(), job_id: job_id.into(), after_sequence };
        let wait = async {
            let mut inner = c.stream_job_events(tonic::Request::new(req)).await?.into_inner();
            inner.message().await
        };
        match tokio::time::timeout(self.patience(), wait).await {
            Ok(Ok(m)) => Ok(m.map(|m| m.event.unwrap_or_default())),
            Ok(Err(s)) => Err(RpcError::Status(Box::new(s))),
            Err(_) => Err(RpcError::Timeout {
                what: format!("the first event of StreamJobEvents({job_id}) after {after_sequence}"),
                after: self.patience(),
            }),
        }
    }

    /// Follows a job from `after_sequence` to its end, waiting for each
    /// event as long as a case may last (a follower of a parked job waits
    /// until the job is cancelled, however long that takes); checks that
    /// the stream closes promptly after the terminal event.
    pub async fn follow(&self, job_id: &str, after_sequence: u64) -> Rpc<Vec<pb::JobEvent>> {
        let wire = Wire { rpc_timeout: self.patience(), ..self.clone() };
        wire.collect(job_id, after_sequence).await
    }

    /// Streams after `after_sequence` until the stream closes, checking
    /// that it closes promptly after a terminal event.
    pub async fn collect(&self, job_id: &str, after_sequence: u64) -> Rpc<Vec<pb::JobEvent>> {
        let mut stream = self.stream(job_id, after_sequence).await?;
        let mut events = Vec::new();
        loop {
            let terminal_seen = events.last().is_some_and(dome_sdk::is_terminal_event);
            let next = if terminal_seen {
                match tokio::time::timeout(self.close_grace, stream.inner.message()).await {
                    Ok(Ok(m)) => m.map(|m| m.event.unwrap_or_default()),
                    Ok(Err(s)) => return Err(RpcError::Status(Box::new(s))),
                    Err(_) => {
                        return Err(RpcError::Timeout {
                            what: format!(
                                "StreamJobEvents of {job_id} stayed open after its terminal event (sequence {}) instead of closing with OK; it",
                                events.last().map(|e: &pb::JobEvent| e.sequence).unwrap_or(0)
                            ),
                            after: self.close_grace,
                        });
                    }
                }
            } else {
                stream.next().await?
            };
            match next {
                Some(e) => {
                    events.push(e);
                    if events.len() > 1_000_000 {
                        return Err(RpcError::Timeout {
                            what: format!(
                                "StreamJobEvents of {job_id} sent over a million events and never closed; it"
                            ),
                            after: self.rpc_timeout,
                        });
                    }
                }
                None => return Ok(events),
            }
        }
    }
}

/// An open `StreamJobEvents` call.
#[derive(Debug)]
pub struct EventStream {
    inner: tonic::Streaming<pb::StreamJobEventsResponse>,
    read_timeout: Duration,
    job_id: String,
}

impl EventStream {
    /// The next event, `None` when the stream closed with OK. A message
    /// without an event is returned as a default event, which the model
    /// rejects with a clear message.
    pub async fn next(&mut self) -> Rpc<Option<pb::JobEvent>> {
        match tokio::time::timeout(self.read_timeout, self.inner.message()).await {
            Ok(Ok(m)) => Ok(m.map(|m| m.event.unwrap_or_default())),
            Ok(Err(s)) => Err(RpcError::Status(Box::new(s))),
            Err(_) => Err(RpcError::Timeout {
                what: format!("the next event of StreamJobEvents({})", self.job_id),
                after: self.read_timeout,
            }),
        }
    }
}

/// What a well-formed RPC error carried.
#[derive(Debug, Clone)]
pub struct ErrorSeen {
    /// The reason's row of the contract table.
    pub spec: &'static ErrorReasonSpec,
    /// The ErrorInfo metadata.
    pub metadata: HashMap<String, String>,
    /// The BadRequest field violations (field, description).
    pub violations: Vec<(String, String)>,
    /// The RetryInfo delay, if any.
    pub retry_delay: Option<Duration>,
}

/// The contract row of an error reason name (as sent in ErrorInfo).
pub fn spec_of(name: &str) -> Option<&'static ErrorReasonSpec> {
    contract::ERROR_REASONS.iter().find(|s| s.name == name)
}

/// Checks that `status` is the error `want` exactly as `errors.proto`
/// prescribes: the reason's gRPC code; exactly one ErrorInfo with the
/// reason, the domain, `correlationId` (equal to `correlation_id` when
/// the request set one) and every required metadata key; a BadRequest
/// exactly when the reason declares one; a RetryInfo exactly when it is
/// retryable.
pub fn check_error(status: &tonic::Status, want: &str, correlation_id: Option<&str>) -> Result<ErrorSeen, String> {
    let Some(spec) = spec_of(want) else {
        return Err(format!("the contract has no error reason {want:?}"));
    };
    let seen = describe_status(status);
    let details = status
        .check_error_details_vec()
        .map_err(|e| format!("expected {want}; the status details do not decode ({e}): {seen}"))?;
    let infos: Vec<_> =
        details.iter().filter_map(|d| if let ErrorDetail::ErrorInfo(i) = d { Some(i) } else { None }).collect();
    let [info] = infos.as_slice() else {
        return Err(format!("expected {want} with exactly one google.rpc.ErrorInfo, got {}: {seen}", infos.len()));
    };
    if info.reason != spec.name {
        let policy = info.reason.contains('.');
        return Err(format!(
            "expected ErrorInfo.reason {want}, got {:?}{}: {seen}",
            info.reason,
            if policy { " (a policy reason code, which is data and never an RPC error)" } else { "" }
        ));
    }
    if status.code() as i32 != spec.code.as_i32() {
        return Err(format!("{want} must travel with gRPC code {}, got {:?}: {seen}", spec.code, status.code()));
    }
    if info.domain != contract::ERROR_DOMAIN {
        return Err(format!("expected ErrorInfo.domain {:?}, got {:?}: {seen}", contract::ERROR_DOMAIN, info.domain));
    }
    match info.metadata.get(contract::CORRELATION_ID_KEY) {
        None => return Err(format!("{want} lacks the {} metadata key: {seen}", contract::CORRELATION_ID_KEY)),
        Some(got) => {
            if let Some(c) = correlation_id
                && got != c
            {
                return Err(format!("{want} echoes correlationId {got:?}, the request sent {c:?}: {seen}"));
            }
        }
    }
    for key in spec.metadata_keys {
        if !info.metadata.contains_key(*key) {
            return Err(format!("{want} lacks the required metadata key {key:?}: {seen}"));
        }
    }
    let bad: Vec<_> =
        details.iter().filter_map(|d| if let ErrorDetail::BadRequest(b) = d { Some(b) } else { None }).collect();
    if spec.bad_request == bad.is_empty() {
        return Err(format!(
            "{want} must {}carry a google.rpc.BadRequest: {seen}",
            if spec.bad_request { "" } else { "not " }
        ));
    }
    let violations: Vec<(String, String)> =
        bad.iter().flat_map(|b| b.field_violations.iter().map(|v| (v.field.clone(), v.description.clone()))).collect();
    if spec.bad_request && (violations.is_empty() || violations.iter().any(|(f, d)| f.is_empty() || d.is_empty())) {
        return Err(format!(
            "{want}'s BadRequest must name each problem (field and description), got {violations:?}: {seen}"
        ));
    }
    let retry: Vec<_> =
        details.iter().filter_map(|d| if let ErrorDetail::RetryInfo(r) = d { Some(r) } else { None }).collect();
    if spec.retryable == retry.is_empty() {
        return Err(format!(
            "{want} is {}retryable, so it must {}carry a google.rpc.RetryInfo: {seen}",
            if spec.retryable { "" } else { "not " },
            if spec.retryable { "" } else { "not " }
        ));
    }
    let retry_delay = retry.first().and_then(|r| r.retry_delay);
    if spec.retryable && retry_delay.is_none() {
        return Err(format!("{want}'s RetryInfo must give the delay to wait: {seen}"));
    }
    Ok(ErrorSeen { spec, metadata: info.metadata.clone(), violations, retry_delay })
}
