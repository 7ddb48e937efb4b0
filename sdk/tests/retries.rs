//! Retries: what the contract marks retryable (and transport failures) is
//! retried with backoff, honouring `RetryInfo` and the total deadline;
//! nothing else is; and a retried `SkillExecute` never creates a second
//! job.
//!
//! Faults are injected by a forwarder in front of the reference server: a
//! `GatewayService` that passes calls through and, as planned, answers
//! `UNAVAILABLE` without an `ErrorInfo` instead, either before forwarding
//! (the call never reached the server) or after (the server acted, the
//! answer was lost).

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dome_sdk::pb::gateway_service_client::GatewayServiceClient;
use dome_sdk::pb::gateway_service_server::{GatewayService, GatewayServiceServer};
use dome_sdk::pb::*;
use dome_sdk::{ApiError, Client, Error, RetryPolicy};
use tokio::sync::{Notify, oneshot};
use tokio_stream::Stream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use tonic_types::StatusExt as _;

/// What the forwarder does to the calls of one RPC.
#[derive(Clone, Copy, Default)]
struct Plan {
    /// Answer the first this many calls `UNAVAILABLE` without forwarding.
    refuse: usize,
    /// Forward the next this many calls, then answer `UNAVAILABLE`.
    lose: usize,
    /// Never answer once the refusals are spent.
    stall: bool,
}

#[derive(Default)]
struct Log {
    calls: HashMap<&'static str, usize>,
    /// Every `SkillExecute` the server answered: key, job, created.
    executed: Vec<(String, String, bool)>,
    /// Every typed error the server answered, by reason.
    errors: Vec<String>,
}

#[derive(Clone)]
struct Forwarder {
    upstream: GatewayServiceClient<Channel>,
    plans: Arc<HashMap<&'static str, Plan>>,
    log: Arc<Mutex<Log>>,
    error_seen: Arc<Notify>,
}

impl Forwarder {
    /// Counts the call and says whether to refuse it, lose its answer, or
    /// pass it through.
    fn admit(&self, rpc: &'static str) -> (bool, bool, bool) {
        let mut log = self.log.lock().expect("not poisoned");
        let n = log.calls.entry(rpc).or_default();
        *n += 1;
        let plan = self.plans.get(rpc).copied().unwrap_or_default();
        (*n <= plan.refuse, *n > plan.refuse && *n <= plan.refuse + plan.lose, plan.stall && *n > plan.refuse)
    }

    fn calls(&self, rpc: &str) -> usize {
        self.log.lock().expect("not poisoned").calls.get(rpc).copied().unwrap_or(0)
    }

    async fn pass<Req, Resp, F, Fut>(
        &self,
        rpc: &'static str,
        request: Request<Req>,
        call: F,
    ) -> Result<Response<Resp>, Status>
    where
        F: FnOnce(GatewayServiceClient<Channel>, Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<Response<Resp>, Status>>,
    {
        let (refuse, lose, stall) = self.admit(rpc);
        if stall {
            std::future::pending::<()>().await;
        }
        if refuse {
            return Err(Status::unavailable("injected: refused before the server"));
        }
        let mut forwarded = Request::new(request.into_inner());
        forwarded
            .metadata_mut()
            .insert(dome_sdk::API_VERSION_HEADER, dome_sdk::contract::API_VERSION.parse().expect("ascii"));
        let result = call(self.upstream.clone(), forwarded).await;
        if let Err(status) = &result
            && let Some(info) = status.get_details_error_info()
        {
            self.log.lock().expect("not poisoned").errors.push(info.reason);
            self.error_seen.notify_waiters();
        }
        if lose {
            return Err(Status::unavailable("injected: answer lost after the server acted"));
        }
        result
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamJobEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl GatewayService for Forwarder {
    async fn list_capabilities(
        &self,
        r: Request<ListCapabilitiesRequest>,
    ) -> Result<Response<ListCapabilitiesResponse>, Status> {
        self.pass("ListCapabilities", r, |mut c, r| async move { c.list_capabilities(r).await }).await
    }
    async fn skill_execute(&self, r: Request<SkillExecuteRequest>) -> Result<Response<SkillExecuteResponse>, Status> {
        let key = r.get_ref().idempotency_key.clone();
        let log = self.log.clone();
        self.pass("SkillExecute", r, |mut c, r| async move {
            let response = c.skill_execute(r).await?;
            let job_id = response.get_ref().job.as_ref().map(|j| j.job_id.clone()).unwrap_or_default();
            log.lock().expect("not poisoned").executed.push((key, job_id, response.get_ref().created));
            Ok(response)
        })
        .await
    }
    async fn get_job_status(&self, r: Request<GetJobStatusRequest>) -> Result<Response<GetJobStatusResponse>, Status> {
        self.pass("GetJobStatus", r, |mut c, r| async move { c.get_job_status(r).await }).await
    }
    async fn cancel_job(&self, r: Request<CancelJobRequest>) -> Result<Response<CancelJobResponse>, Status> {
        self.pass("CancelJob", r, |mut c, r| async move { c.cancel_job(r).await }).await
    }
    type StreamJobEventsStream = EventStream;
    async fn stream_job_events(&self, r: Request<StreamJobEventsRequest>) -> Result<Response<EventStream>, Status> {
        let response = self.pass("StreamJobEvents", r, |mut c, r| async move { c.stream_job_events(r).await }).await?;
        Ok(Response::new(Box::pin(response.into_inner()) as EventStream))
    }
    async fn get_gate_decision(
        &self,
        r: Request<GetGateDecisionRequest>,
    ) -> Result<Response<GetGateDecisionResponse>, Status> {
        self.pass("GetGateDecision", r, |mut c, r| async move { c.get_gate_decision(r).await }).await
    }
    async fn get_promotion_decision(
        &self,
        r: Request<GetPromotionDecisionRequest>,
    ) -> Result<Response<GetPromotionDecisionResponse>, Status> {
        self.pass("GetPromotionDecision", r, |mut c, r| async move { c.get_promotion_decision(r).await }).await
    }
}

/// Starts a forwarder to `upstream` with `plans`; returns it, its URL and
/// the sender that stops it.
async fn forwarder(upstream: &str, plans: &[(&'static str, Plan)]) -> (Forwarder, String, oneshot::Sender<()>) {
    let forwarder = Forwarder {
        upstream: GatewayServiceClient::new(
            tonic::transport::Endpoint::from_shared(upstream.to_string())
                .expect("a url")
                .connect()
                .await
                .expect("reaches the server"),
        ),
        plans: Arc::new(plans.iter().copied().collect()),
        log: Arc::default(),
        error_seen: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr: SocketAddr = listener.local_addr().expect("has an address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming_shutdown(
        GatewayServiceServer::new(forwarder.clone()),
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        async {
            let _ = stopped.await;
        },
    ));
    (forwarder, format!("http://{addr}"), stop)
}

#[tokio::test]
async fn a_lost_submission_is_retried_without_a_second_job() {
    let server = common::default_server().await;
    let plans = [
        ("ListCapabilities", Plan { refuse: 2, ..Plan::default() }),
        ("SkillExecute", Plan { refuse: 1, lose: 2, ..Plan::default() }),
    ];
    let (fwd, url, _stop) = forwarder(&server.url(), &plans).await;

    let client = common::client(&url).await;
    assert_eq!(fwd.calls("ListCapabilities"), 3, "two refusals, then success");

    let response = common::script(&client, "[]").send().await.expect("succeeds after retries");
    assert_eq!(fwd.calls("SkillExecute"), 4, "one refusal, two lost answers, then success");
    let executed = fwd.log.lock().expect("not poisoned").executed.clone();
    assert_eq!(executed.len(), 3, "the server saw three attempts: {executed:?}");
    let (key, job_id, _) = &executed[0];
    let groups: Vec<usize> = key.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "the client made the key UUID-shaped: {key}");
    assert_eq!(key.as_bytes()[14], b'4', "a UUIDv4: {key}");
    assert!(
        executed.iter().all(|(k, j, _)| k == key && j == job_id),
        "every attempt names one key and one job: {executed:?}"
    );
    let created: Vec<bool> = executed.iter().map(|(_, _, c)| *c).collect();
    assert_eq!(created, vec![true, false, false], "only the first attempt created the job");
    let job = response.job;
    assert_eq!(&job.job_id, job_id);
    assert!(!response.created, "the answer that arrived is the replay of the first job");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn the_callers_idempotency_key_is_kept_across_retries() {
    let server = common::default_server().await;
    let (fwd, url, _stop) = forwarder(&server.url(), &[("SkillExecute", Plan { lose: 1, ..Plan::default() })]).await;
    let client = common::client(&url).await;
    let response =
        common::script(&client, "[]").idempotency_key("caller-key-1").send().await.expect("succeeds after a retry");
    assert_eq!(response.job.idempotency_key, "caller-key-1");
    let executed = fwd.log.lock().expect("not poisoned").executed.clone();
    assert_eq!(
        executed.iter().map(|(k, _, c)| (k.as_str(), *c)).collect::<Vec<_>>(),
        vec![("caller-key-1", true), ("caller-key-1", false)]
    );
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_non_retryable_error_is_returned_at_once() {
    let server = common::default_server().await;
    let (fwd, url, _stop) = forwarder(&server.url(), &[]).await;
    let client = common::client(&url).await;
    let error = client.get_job_status(format!("job-{}", "0".repeat(32))).send().await.expect_err("no such job");
    assert!(matches!(error, Error::Api(ApiError::JobNotFound { .. })), "{error:?}");
    assert_eq!(fwd.calls("GetJobStatus"), 1, "JOB_NOT_FOUND is not retryable");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_at_the_deadline() {
    let server = common::default_server().await;
    let (fwd, url, _stop) =
        forwarder(&server.url(), &[("GetJobStatus", Plan { refuse: usize::MAX, ..Plan::default() })]).await;

    // Bounded by attempts.
    let policy = common::fast_retries().max_attempts(3).no_deadline();
    let client = Client::builder(url.clone()).retry_policy(policy).connect().await.expect("connects");
    let error = client.get_job_status("job-x").send().await.expect_err("always unavailable");
    assert!(matches!(&error, Error::Transport(s) if s.code() == dome_sdk::Code::Unavailable), "{error:?}");
    assert_eq!(fwd.calls("GetJobStatus"), 3);

    // Bounded by the deadline: many attempts allowed, little time.
    let deadline = Duration::from_millis(300);
    let policy = RetryPolicy::default()
        .max_attempts(1_000)
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(40))
        .multiplier(2.0)
        .deadline(deadline);
    let client = Client::builder(url).retry_policy(policy).connect().await.expect("connects");
    let before = fwd.calls("GetJobStatus");
    let started = Instant::now();
    let error = client.get_job_status("job-x").send().await.expect_err("always unavailable");
    let elapsed = started.elapsed();
    let attempts = fwd.calls("GetJobStatus") - before;
    // The last error, or the deadline when it fell during an attempt.
    assert!(matches!(error, Error::Transport(_) | Error::DeadlineExceeded { .. }), "{error:?}");
    // Without the deadline, 1 000 attempts would take about 40 s; the bound
    // leaves a loaded machine seconds of slack and still tells them apart.
    assert!(elapsed < deadline + Duration::from_secs(5), "took {elapsed:?}, deadline {deadline:?}");
    assert!((1..1_000).contains(&attempts), "{attempts} attempts within the deadline");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn queue_full_is_retried_after_the_servers_delay() {
    let limits = domed::Limits { queue_capacity: 1, max_running_jobs: 1, ..domed::Limits::default() };
    let server = common::server(domed::Config { limits, ..domed::Config::default() }).await;
    let (fwd, url, _stop) = forwarder(&server.url(), &[]).await;
    let client = common::client(&url).await;
    let running = common::script(&client, r#"[{"park":{}}]"#).send().await.expect("runs").job;
    let queued = common::script(&client, r#"[{"park":{}}]"#).send().await.expect("queues").job;

    let notified = fwd.error_seen.notified();
    let submitter = client.clone();
    let third = tokio::spawn(async move {
        let started = Instant::now();
        let result = common::script(&submitter, "[]").send().await;
        (result, started.elapsed())
    });
    // Once the server has said QUEUE_FULL, make room.
    notified.await;
    assert_eq!(fwd.log.lock().expect("not poisoned").errors.first().map(String::as_str), Some("QUEUE_FULL"));
    client.cancel_and_wait(running.job_id, "room", None).await.expect("cancels");
    client.cancel_and_wait(queued.job_id, "room", None).await.expect("cancels");

    let (result, elapsed) = third.await.expect("joins");
    let response = result.expect("succeeds once there is room");
    assert!(response.created);
    // The reference server asks for 500 ms; the client waited at least that.
    assert!(elapsed >= Duration::from_millis(500), "retried after {elapsed:?}, before the RetryInfo delay");
    let executed = fwd.log.lock().expect("not poisoned").executed.clone();
    assert_eq!(executed.iter().filter(|(_, j, _)| *j == response.job.job_id).count(), 1);
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn closed_connections_are_retried_on_a_new_one() {
    let server = common::default_server().await;
    // The proxy closes its first two connections as soon as it accepts them.
    let proxy = common::Proxy::start(server.local_addr(), 2).await;
    let client = common::client(&proxy.url()).await;
    assert_eq!(proxy.accepted(), 3, "two closed connections, then one that works");
    let job = common::script(&client, "[]").send_and_wait(None).await.expect("runs over the third connection");
    assert_eq!(job.state(), JobState::Succeeded);
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn an_attempt_that_never_answers_is_retried_until_the_attempts_run_out() {
    let server = common::default_server().await;
    let (fwd, url, _stop) =
        forwarder(&server.url(), &[("GetJobStatus", Plan { stall: true, ..Plan::default() })]).await;
    let timeout = Duration::from_millis(100);
    let policy = common::fast_retries().max_attempts(3);
    let client = Client::builder(url).retry_policy(policy).request_timeout(timeout).connect().await.expect("connects");
    let started = Instant::now();
    let error = client.get_job_status("job-x").send().await.expect_err("never answered");
    let elapsed = started.elapsed();
    assert!(matches!(error, Error::DeadlineExceeded { attempts: 3, last: None }), "{error:?}");
    assert_eq!(error.code(), Some(dome_sdk::Code::DeadlineExceeded));
    assert_eq!(error.to_string(), "deadline exceeded after 3 attempts, each of which timed out");
    // Each stalled attempt would never end without the timeout; the upper
    // bound only has to tell "ended" from "hung" on a loaded machine.
    assert!(elapsed >= timeout * 3 && elapsed < timeout * 3 + Duration::from_secs(10), "took {elapsed:?}");
    assert_eq!(fwd.calls("GetJobStatus"), 3, "a timed-out attempt is retried: the call is idempotent");

    // A call's own timeout and policy win over the client's; a total
    // deadline shorter than the attempts ends the call at the deadline.
    let before = fwd.calls("GetJobStatus");
    let error = client
        .get_job_status("job-x")
        .timeout(Duration::from_millis(50))
        .retry_policy(RetryPolicy::default().max_attempts(100).deadline(Duration::from_millis(400)))
        .send()
        .await
        .expect_err("never answered");
    let attempts = fwd.calls("GetJobStatus") - before;
    assert!(matches!(error, Error::DeadlineExceeded { .. }), "{error:?}");
    assert!((2..100).contains(&attempts), "{attempts} attempts of 50 ms within 400 ms");
    server.shutdown().await.expect("stops");
}

#[tokio::test]
async fn the_last_cause_is_kept_when_time_runs_out() {
    let server = common::default_server().await;
    // Refused once (a transport failure), then stalled until the deadline.
    let plan = Plan { refuse: 1, stall: true, ..Plan::default() };
    let (_fwd, url, _stop) = forwarder(&server.url(), &[("GetJobStatus", plan)]).await;
    let client = common::client(&url).await;
    let error = client
        .get_job_status("job-x")
        .timeout(Duration::from_millis(100))
        .retry_policy(common::fast_retries().max_attempts(3))
        .send()
        .await
        .expect_err("never answered");
    match &error {
        Error::DeadlineExceeded { attempts: 3, last: Some(last) } => {
            assert!(matches!(**last, Error::Transport(_)), "{last:?}");
        }
        other => panic!("expected the deadline with the refusal as its cause, got {other:?}"),
    }
    let source = std::error::Error::source(&error).expect("the last cause is the source");
    assert!(source.to_string().starts_with("cannot reach `http://"), "{source}");
    server.shutdown().await.expect("stops");
}
