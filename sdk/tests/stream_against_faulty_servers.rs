//! The event stream against servers that break the contract or go away:
//! a sequence jump is a typed error, never silence; replays inside one call
//! are dropped; a stream closed before its terminal event, or ended by
//! `SHUTTING_DOWN` or `SUBSCRIBER_LAGGED`, is resumed, and one ended by a
//! final error is not; dropping the stream ends the call on the server. A
//! scripted in-test server plays each case exactly.

use crate::common;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use std::time::Duration;

use dome_sdk::pb::gateway_service_server::GatewayService;
use dome_sdk::pb::*;
use dome_sdk::{Client, Error, RetryPolicy};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use Frame::Event;

const JOB: &str = "job-scripted";

/// What one `StreamJobEvents` call sends.
#[derive(Clone)]
enum Frame {
    /// The event with this sequence (a `state_changed`; terminal when set).
    Event(u64, bool),
    /// Keep the call open until the client goes away.
    Hold,
    /// End the call with the contract's error of this reason (with the
    /// metadata it needs and, if retryable, a `RetryInfo`).
    Fail(&'static str),
}

fn contract_error(reason: &str) -> Status {
    let spec = dome_sdk::contract::ERROR_REASONS.iter().find(|s| s.name == reason).expect("a reason of the contract");
    let mut metadata: std::collections::HashMap<String, String> =
        spec.metadata_keys.iter().map(|k| (k.to_string(), "2".to_string())).collect();
    metadata.insert(dome_sdk::contract::CORRELATION_ID_KEY.into(), "corr-scripted".into());
    metadata.insert("jobId".into(), JOB.into());
    metadata.insert("resumeAfterSequence".into(), "2".into());
    let mut details = tonic_types::ErrorDetails::with_error_info(reason, dome_sdk::contract::ERROR_DOMAIN, metadata);
    if spec.retryable {
        details.set_retry_info(Some(Duration::from_millis(1)));
    }
    <Status as tonic_types::StatusExt>::with_error_details(
        tonic::Code::from(spec.code.as_i32()),
        format!("scripted {reason}"),
        details,
    )
}

#[derive(Clone, Default)]
struct Scripted {
    /// One entry per call, in call order; a call beyond them gets nothing.
    calls: Arc<Mutex<VecDeque<Vec<Frame>>>>,
    /// The `after_sequence` of every call.
    cursors: Arc<Mutex<Vec<u64>>>,
    /// What `GetJobStatus` answers: state and last sequence.
    job: Arc<Mutex<(JobState, u64)>>,
    /// Fired when a held call's stream is dropped by the server.
    dropped: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

fn event(sequence: u64, terminal: bool) -> StreamJobEventsResponse {
    let state = if terminal { JobState::Succeeded } else { JobState::Running };
    StreamJobEventsResponse {
        event: Some(JobEvent {
            sequence,
            job_id: JOB.into(),
            payload: Some(job_event::Payload::StateChanged(JobStateChanged { state: state as i32, outcome: None })),
            ..Default::default()
        }),
    }
}

/// A response stream that signals when the server drops it.
struct Guarded {
    inner: tokio_stream::wrappers::ReceiverStream<Result<StreamJobEventsResponse, Status>>,
    on_drop: Option<oneshot::Sender<()>>,
    /// Held calls keep their sender, so that they end only when dropped.
    _keep_open: Option<mpsc::Sender<Result<StreamJobEventsResponse, Status>>>,
}

impl Stream for Guarded {
    type Item = Result<StreamJobEventsResponse, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(signal) = self.on_drop.take() {
            let _ = signal.send(());
        }
    }
}

#[tonic::async_trait]
impl GatewayService for Scripted {
    async fn list_capabilities(
        &self,
        _: Request<ListCapabilitiesRequest>,
    ) -> Result<Response<ListCapabilitiesResponse>, Status> {
        Ok(Response::new(ListCapabilitiesResponse {
            api_versions: vec!["v1".into()],
            limits: Some(ServerLimits::default()),
            ..Default::default()
        }))
    }
    async fn skill_execute(&self, _: Request<SkillExecuteRequest>) -> Result<Response<SkillExecuteResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn get_job_status(&self, _: Request<GetJobStatusRequest>) -> Result<Response<GetJobStatusResponse>, Status> {
        let (state, last_sequence) = *self.job.lock().expect("not poisoned");
        let job =
            Job { job_id: JOB.into(), task_id: JOB.into(), state: state as i32, last_sequence, ..Default::default() };
        Ok(Response::new(GetJobStatusResponse { job: Some(job), ..Default::default() }))
    }
    async fn cancel_job(&self, _: Request<CancelJobRequest>) -> Result<Response<CancelJobResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    type StreamJobEventsStream = Guarded;
    async fn stream_job_events(&self, r: Request<StreamJobEventsRequest>) -> Result<Response<Guarded>, Status> {
        self.cursors.lock().expect("not poisoned").push(r.get_ref().after_sequence);
        let frames = self.calls.lock().expect("not poisoned").pop_front().unwrap_or_default();
        let (tx, rx) = mpsc::channel(64);
        let mut on_drop = None;
        let mut keep_open = None;
        for frame in frames {
            match frame {
                Frame::Event(sequence, terminal) => {
                    tx.try_send(Ok(event(sequence, terminal))).expect("room for the script");
                }
                Frame::Fail(reason) => {
                    tx.try_send(Err(contract_error(reason))).expect("room for the script");
                }
                Frame::Hold => {
                    on_drop = self.dropped.lock().expect("not poisoned").take();
                    keep_open = Some(tx.clone());
                }
            }
        }
        Ok(Response::new(Guarded {
            inner: tokio_stream::wrappers::ReceiverStream::new(rx),
            on_drop,
            _keep_open: keep_open,
        }))
    }
    async fn get_gate_decision(
        &self,
        _: Request<GetGateDecisionRequest>,
    ) -> Result<Response<GetGateDecisionResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
    async fn get_promotion_decision(
        &self,
        _: Request<GetPromotionDecisionRequest>,
    ) -> Result<Response<GetPromotionDecisionResponse>, Status> {
        Err(Status::unimplemented("scripted"))
    }
}

async fn scripted(calls: Vec<Vec<Frame>>, job: (JobState, u64)) -> (Scripted, Client, oneshot::Sender<()>) {
    let service = Scripted::default();
    *service.calls.lock().expect("not poisoned") = calls.into();
    *service.job.lock().expect("not poisoned") = job;
    let (addr, stop) = common::serve_gateway(service.clone()).await;
    let policy = RetryPolicy::default()
        .max_attempts(4)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
        .multiplier(2.0)
        .deadline(Duration::from_secs(10));
    let client = Client::builder(format!("http://{addr}")).retry_policy(policy).connect().await.expect("connects");
    (service, client, stop)
}

/// Reads the stream to its end: the delivered sequences and the error
/// item, if any.
async fn read_all(client: &Client, after: u64) -> (Vec<u64>, Option<Error>) {
    let mut events = client.stream_job_events(JOB).after(after).send();
    let mut delivered = Vec::new();
    while let Some(item) = events.next_event().await {
        match item {
            Ok(event) => delivered.push(event.sequence),
            Err(error) => {
                assert!(events.next_event().await.is_none(), "nothing after the error");
                return (delivered, Some(error));
            }
        }
    }
    (delivered, None)
}

#[tokio::test]
async fn a_sequence_jump_is_a_typed_gap() {
    let (_, client, _stop) = scripted(
        vec![vec![Event(1, false), Event(2, false), Event(4, false), Event(5, true)]],
        (JobState::Succeeded, 5),
    )
    .await;
    let (delivered, error) = read_all(&client, 0).await;
    assert_eq!(delivered, vec![1, 2], "nothing after the gap is delivered");
    match error {
        Some(Error::SequenceGap { job_id, expected, received }) => {
            assert_eq!((job_id.as_str(), expected, received), (JOB, 3, 4))
        }
        other => panic!("expected a sequence gap, got {other:?}"),
    }
}

#[tokio::test]
async fn replays_are_dropped_and_nothing_follows_the_terminal_event() {
    let frames =
        vec![Event(1, false), Event(1, false), Event(2, false), Event(2, false), Event(3, true), Event(4, false)];
    let (_, client, _stop) = scripted(vec![frames], (JobState::Succeeded, 3)).await;
    let (delivered, error) = read_all(&client, 0).await;
    assert_eq!(delivered, vec![1, 2, 3]);
    assert!(error.is_none(), "{error:?}");
}

#[tokio::test]
async fn a_stream_closed_before_its_terminal_event_is_resumed() {
    // The first call ends cleanly after #2 although the job goes on; the
    // second replays #2 and finishes.
    let calls = vec![vec![Event(1, false), Event(2, false)], vec![Event(2, false), Event(3, false), Event(4, true)]];
    let (service, client, _stop) = scripted(calls, (JobState::Running, 3)).await;
    let (delivered, error) = read_all(&client, 0).await;
    assert_eq!(delivered, vec![1, 2, 3, 4]);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(*service.cursors.lock().expect("not poisoned"), vec![0, 2], "resumed after the last delivered event");
}

#[tokio::test]
async fn resumable_errors_mid_stream_are_resumed_from_the_last_delivered_event() {
    for reason in ["SHUTTING_DOWN", "SUBSCRIBER_LAGGED"] {
        let calls =
            vec![vec![Event(1, false), Event(2, false), Frame::Fail(reason)], vec![Event(3, false), Event(4, true)]];
        let (service, client, _stop) = scripted(calls, (JobState::Running, 2)).await;
        let (delivered, error) = read_all(&client, 0).await;
        assert_eq!(delivered, vec![1, 2, 3, 4], "after {reason}");
        assert!(error.is_none(), "{reason}: {error:?}");
        assert_eq!(*service.cursors.lock().expect("not poisoned"), vec![0, 2], "after {reason}");
    }
}

#[tokio::test]
async fn a_final_error_mid_stream_ends_it_without_reconnecting() {
    let calls = vec![vec![Event(1, false), Frame::Fail("JOB_NOT_FOUND")], vec![Event(2, true)]];
    let (service, client, _stop) = scripted(calls, (JobState::Running, 2)).await;
    let (delivered, error) = read_all(&client, 0).await;
    assert_eq!(delivered, vec![1]);
    assert!(matches!(error, Some(Error::Api(dome_sdk::ApiError::JobNotFound { .. }))), "{error:?}");
    assert_eq!(service.cursors.lock().expect("not poisoned").len(), 1, "no reconnect");
}

#[tokio::test]
async fn a_clean_end_on_a_finished_job_is_the_end() {
    // A cursor at the terminal event: the server closes at once, and the
    // job confirms there is nothing more.
    let (service, client, _stop) = scripted(vec![vec![]], (JobState::Succeeded, 7)).await;
    let (delivered, error) = read_all(&client, 7).await;
    assert!(delivered.is_empty() && error.is_none(), "{delivered:?} {error:?}");
    assert_eq!(service.cursors.lock().expect("not poisoned").len(), 1, "no reconnect");
}

#[tokio::test]
async fn a_server_that_keeps_closing_early_is_an_error_at_last() {
    // Every call closes without an event while the job claims more: the
    // stream gives up after its attempts, with an error rather than silence.
    let (service, client, _stop) = scripted(vec![], (JobState::Running, 5)).await;
    let (delivered, error) = read_all(&client, 0).await;
    assert!(delivered.is_empty());
    assert!(matches!(error, Some(Error::Protocol(_))), "{error:?}");
    assert_eq!(service.cursors.lock().expect("not poisoned").len(), 4, "one call per attempt");
}

#[tokio::test]
async fn dropping_the_stream_ends_the_call_on_the_server() {
    let (service, client, _stop) = scripted(vec![vec![Event(1, false), Frame::Hold]], (JobState::Running, 1)).await;
    let (signal, dropped) = oneshot::channel();
    *service.dropped.lock().expect("not poisoned") = Some(signal);
    let mut events = client.stream_job_events(JOB).after(0).send();
    assert_eq!(events.next_event().await.expect("an event").expect("no error").sequence, 1);
    drop(events);
    tokio::time::timeout(Duration::from_secs(10), dropped)
        .await
        .expect("the server saw the call end")
        .expect("the signal was sent");
}
