//! What the integration tests share: an in-process server on an ephemeral
//! port, a generated client over a real socket, and checks of typed errors.

#![allow(dead_code, unreachable_pub)]

use dome_sdk::contract::{CORRELATION_ID_KEY, ERROR_DOMAIN, ERROR_REASONS};
use dome_sdk::pb::{self, JobState, gateway_service_client::GatewayServiceClient, job_event::Payload};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::{ErrorInfo, StatusExt};

/// A running server and a client connected to it.
pub struct Harness {
    pub running: domed::Running,
    pub client: GatewayServiceClient<Channel>,
}

/// Starts a server with `config` and connects a client.
pub async fn start_with(config: domed::Config) -> Harness {
    let running = domed::start(config).await.expect("server starts");
    let channel = tonic::transport::Endpoint::from_shared(running.url()).expect("a url").connect().await;
    let client = GatewayServiceClient::new(channel.expect("client connects"));
    Harness { running, client }
}

/// Starts a server with the default configuration.
pub async fn start() -> Harness {
    start_with(domed::Config::default()).await
}

/// Limits with every field as given by `f` applied to the defaults.
pub fn limits(f: impl FnOnce(&mut domed::Limits)) -> domed::Config {
    let mut config = domed::Config::default();
    f(&mut config.limits);
    config
}

/// A `SkillExecute` request running the conformance script `steps`.
pub fn script(steps: Value) -> pb::SkillExecuteRequest {
    pb::SkillExecuteRequest {
        skill_id: dome_sdk::contract::CONFORMANCE_SKILL_ID.to_owned(),
        input_json: json!({ "steps": steps }).to_string(),
        ..Default::default()
    }
}

/// The state an event changes to, if it is a `state_changed` event.
pub fn state_of(event: &pb::JobEvent) -> Option<JobState> {
    match &event.payload {
        Some(Payload::StateChanged(s)) => JobState::try_from(s.state).ok(),
        _ => None,
    }
}

impl Harness {
    /// Submits a request and returns the job.
    pub async fn submit_request(&mut self, request: pb::SkillExecuteRequest) -> pb::Job {
        self.client
            .skill_execute(request)
            .await
            .expect("SkillExecute succeeds")
            .into_inner()
            .job
            .expect("the response carries the job")
    }

    /// Submits a conformance script and returns the job.
    pub async fn submit(&mut self, steps: Value) -> pb::Job {
        self.submit_request(script(steps)).await
    }

    /// Opens a stream of a job's events after `after`.
    pub async fn open(
        &mut self,
        job_id: &str,
        after: u64,
    ) -> Result<tonic::Streaming<pb::StreamJobEventsResponse>, Status> {
        self.client
            .stream_job_events(pb::StreamJobEventsRequest {
                job_id: job_id.to_owned(),
                after_sequence: after,
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every event of a stream after `after`, until it closes; the error
    /// ends it, if any.
    pub async fn events(&mut self, job_id: &str, after: u64) -> (Vec<pb::JobEvent>, Option<Status>) {
        let mut stream = match self.open(job_id, after).await {
            Ok(s) => s,
            Err(e) => return (Vec::new(), Some(e)),
        };
        drain(&mut stream).await
    }

    /// Every event of a job after `after`; the stream must close OK.
    pub async fn all_events(&mut self, job_id: &str, after: u64) -> Vec<pb::JobEvent> {
        let (events, error) = self.events(job_id, after).await;
        assert!(error.is_none(), "stream of {job_id} ended with {error:?}");
        events
    }

    /// Waits (by streaming) until the job has reached `state`.
    pub async fn wait_state(&mut self, job_id: &str, state: JobState) {
        let mut stream = self.open(job_id, 0).await.expect("stream opens");
        while let Some(msg) = stream.message().await.expect("stream stays healthy") {
            if msg.event.as_ref().and_then(state_of) == Some(state) {
                return;
            }
        }
        panic!("job {job_id} ended without reaching {state:?}");
    }

    /// Waits until the job is terminal and returns it.
    pub async fn finished(&mut self, job_id: &str) -> pb::Job {
        let events = self.all_events(job_id, 0).await;
        assert!(events.last().is_some_and(dome_sdk::is_terminal_event), "the stream ends with the terminal event");
        self.status(job_id).await
    }

    /// Waits until the job is terminal by following only the tail of its
    /// log (so it works whatever the retention), and returns it.
    pub async fn wait_terminal(&mut self, job_id: &str) -> pb::Job {
        loop {
            let job = self.status(job_id).await;
            if job.outcome.is_some() {
                return job;
            }
            // Wait for the next event after the head just read; the cursor
            // can only be refused if retention moved on, then read again.
            if let Ok(mut stream) = self.open(job_id, job.last_sequence).await {
                let _ = stream.message().await;
            }
        }
    }

    /// Reads a job.
    pub async fn status(&mut self, job_id: &str) -> pb::Job {
        self.client
            .get_job_status(pb::GetJobStatusRequest { job_id: job_id.to_owned(), ..Default::default() })
            .await
            .expect("GetJobStatus succeeds")
            .into_inner()
            .job
            .expect("the response carries the job")
    }

    /// Cancels a job.
    pub async fn cancel(&mut self, job_id: &str) -> pb::CancelJobResponse {
        self.client
            .cancel_job(pb::CancelJobRequest { job_id: job_id.to_owned(), ..Default::default() })
            .await
            .expect("CancelJob succeeds")
            .into_inner()
    }
}

/// Reads a stream to its end.
pub async fn drain(stream: &mut tonic::Streaming<pb::StreamJobEventsResponse>) -> (Vec<pb::JobEvent>, Option<Status>) {
    let mut events = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(msg)) => events.push(msg.event.expect("every message carries an event")),
            Ok(None) => return (events, None),
            Err(e) => return (events, Some(e)),
        }
    }
}

/// Asserts that `status` is the typed error `reason` as the contract
/// says it travels, and returns its `ErrorInfo`.
pub fn assert_typed(status: &Status, reason: &str) -> ErrorInfo {
    let spec = ERROR_REASONS
        .iter()
        .find(|s| s.name == reason)
        .unwrap_or_else(|| panic!("{reason} is a contract error reason"));
    assert_eq!(status.code() as i32, spec.code.as_i32(), "code of {reason}: {status:?}");
    let details = status.check_error_details().expect("details decode");
    let info = details.error_info().cloned().unwrap_or_else(|| panic!("{reason} carries ErrorInfo: {status:?}"));
    assert_eq!(info.reason, reason);
    assert_eq!(info.domain, ERROR_DOMAIN);
    assert!(info.metadata.contains_key(CORRELATION_ID_KEY), "correlationId in {:?}", info.metadata);
    for key in spec.metadata_keys {
        assert!(info.metadata.contains_key(*key), "{reason} metadata has `{key}`: {:?}", info.metadata);
    }
    for key in info.metadata.keys() {
        let known = key == CORRELATION_ID_KEY
            || spec.metadata_keys.contains(&key.as_str())
            || spec.optional_metadata_keys.contains(&key.as_str());
        assert!(known, "{reason} metadata key `{key}` is one the contract lists");
    }
    assert_eq!(details.bad_request().is_some(), spec.bad_request, "BadRequest on {reason}");
    assert_eq!(details.retry_info().is_some(), spec.retryable, "RetryInfo on {reason}");
    info
}

/// Asserts `status` is the typed error with the literal gRPC `code`.
pub fn assert_error(status: &Status, code: Code, reason: &str) -> ErrorInfo {
    assert_eq!(status.code(), code, "{status:?}");
    assert_typed(status, reason)
}

/// A codec that sends and receives raw message bytes, so that tests can
/// put anything on the wire, malformed messages included.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// The encoder of [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

/// The decoder of [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let n = prost::bytes::Buf::remaining(src);
        Ok(Some(prost::bytes::Buf::copy_to_bytes(src, n).to_vec()))
    }
}

/// Calls the unary method at `path` with raw request bytes.
pub async fn raw_unary(channel: Channel, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unknown(e.to_string()))?;
    grpc.unary(tonic::Request::new(body), tonic::codegen::http::uri::PathAndQuery::from_static(path), RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Calls the server-streaming method at `path` with raw request bytes and
/// reads the stream to its end: the raw messages, or the status that
/// failed the call or ended the stream.
pub async fn raw_server_streaming(channel: Channel, path: &'static str, body: Vec<u8>) -> Result<Vec<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unknown(e.to_string()))?;
    let mut stream = grpc
        .server_streaming(
            tonic::Request::new(body),
            tonic::codegen::http::uri::PathAndQuery::from_static(path),
            RawCodec,
        )
        .await?
        .into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await? {
        messages.push(message);
    }
    Ok(messages)
}
