//! The client catalogue: each case a requirement of the client
//! specification (`docs/client-spec.md` is rendered from these), checked
//! by scripting the gateway and watching what the testee's SDK does.

use std::collections::BTreeMap;
use std::time::Duration;

use dome_sdk::{contract, pb};
use proptest::prelude::*;

use super::gateway::{Call, Cut, Details, Fault, Gateway, Method, Received, Script, Scripted, StreamPlan};
use super::protocol::{self, ErrorKind, command::Action};
use super::testee::{Answer, Testee, describe};
use super::{CaseResult, ClientCase, ClientCtx};
use crate::case::{Stop, case_seed, run_property};
use crate::ensure;

/// The token every case connects with.
const TOKEN: &str = "conformance-token";
/// The `RetryInfo` delay of retryable errors in cases that do not time it.
const SHORT: Duration = Duration::from_millis(10);
/// The `RetryInfo` delay the timing case checks.
const RETRY_INFO_DELAY: Duration = Duration::from_millis(300);

/// The attempts every case allows the testee (`RetrySettings.max_attempts`):
/// a client may give up once this many calls in a row failed, so no case
/// schedules more failures in a row than one fewer.
const MAX_ATTEMPTS: u32 = 4;

/// Every client case, in catalogue order.
pub fn catalogue() -> Vec<ClientCase> {
    vec![
        ClientCase::new(
            "client.headers.every_call",
            "C-HEADERS",
            "core",
            "every call carries the `dome-api-version` header, `authorization: Bearer <token>` when a token is configured, and the configured correlation id in the request's `correlation_id`",
            "dome.gateway.v1.GatewayService",
            headers_every_call,
        ),
        ClientCase::new(
            "client.version.refuses_unserved",
            "C-VERSION",
            "core",
            "connecting to a gateway whose `ListCapabilities.api_versions` lacks the client's version fails with an unsupported-version error, and no other call is made",
            "dome.gateway.v1.ListCapabilitiesResponse.api_versions",
            version_refuses_unserved,
        ),
        ClientCase::new(
            "client.retry.queue_full",
            "C-RETRY-QUEUE-FULL",
            "core",
            "`QUEUE_FULL` is retried until the submission succeeds, every attempt with the same idempotency key",
            "dome.gateway.v1.ErrorReason.ERROR_REASON_QUEUE_FULL",
            retry_queue_full,
        ),
        ClientCase::new(
            "client.retry.shutting_down",
            "C-RETRY-SHUTTING-DOWN",
            "core",
            "`SHUTTING_DOWN` is retried until the call succeeds",
            "dome.gateway.v1.ErrorReason.ERROR_REASON_SHUTTING_DOWN",
            retry_shutting_down,
        ),
        ClientCase::new(
            "client.retry.subscriber_lagged",
            "C-RETRY-LAGGED",
            "stream",
            "`SUBSCRIBER_LAGGED` on opening an event stream is retried, and every event still reaches the application once",
            "dome.gateway.v1.ErrorReason.ERROR_REASON_SUBSCRIBER_LAGGED",
            retry_subscriber_lagged,
        ),
        ClientCase::new(
            "client.retry.non_retryable",
            "C-NO-RETRY",
            "core",
            "an error whose reason is not `(error).retryable` is never retried: it reaches the application after one attempt",
            "dome.gateway.v1.ErrorReasonOptions.retryable",
            retry_non_retryable,
        ),
        ClientCase::new(
            "client.retry.waits_retry_info",
            "C-RETRY-INFO",
            "core",
            "a retry never starts before the `RetryInfo` delay of the error it answers has passed",
            "google.rpc.RetryInfo",
            retry_waits_retry_info,
        ),
        ClientCase::new(
            "client.retry.stops_at_deadline",
            "C-RETRY-DEADLINE",
            "core",
            "a retry whose `RetryInfo` delay would end past the call's deadline is not made: the call fails instead",
            "google.rpc.RetryInfo",
            retry_stops_at_deadline,
        ),
        ClientCase::new(
            "client.idempotency.retry_after_drop",
            "C-IDEMPOTENT-RETRY",
            "core",
            "a submission whose connection dropped after the gateway received it is retried with the same idempotency key, so exactly one job exists and the application gets it",
            "dome.gateway.v1.SkillExecuteRequest.idempotency_key",
            idempotency_retry_after_drop,
        ),
        ClientCase::new(
            "client.stream.resume_after_cut",
            "C-RESUME",
            "stream",
            "an event stream cut before its terminal event is reopened with `after_sequence` equal to the last sequence delivered to the application",
            "dome.gateway.v1.StreamJobEventsRequest.after_sequence",
            stream_resume_after_cut,
        ),
        ClientCase::new(
            "client.stream.drops_replays",
            "C-DEDUPE",
            "stream",
            "events a reconnect replays are dropped: the application sees each sequence once, in order",
            "dome.gateway.v1.JobEvent.sequence",
            stream_drops_replays,
        ),
        ClientCase::new(
            "client.stream.connection_drop",
            "C-RESUME-DROP",
            "stream",
            "an event stream whose connection drops is resumed on a new connection, from no earlier than the last sequence delivered",
            "dome.gateway.v1.GatewayService.StreamJobEvents",
            stream_connection_drop,
        ),
        ClientCase::new(
            "client.stream.lagged_mid_stream",
            "C-RESUME-LAGGED",
            "stream",
            "an event stream ended by `SUBSCRIBER_LAGGED` resumes after `resumeAfterSequence`, hiding nothing from the application",
            "dome.gateway.v1.ErrorReason.ERROR_REASON_SUBSCRIBER_LAGGED",
            |ctx| stream_resume_on(ctx, Cut::Lagged),
        ),
        ClientCase::new(
            "client.stream.shutting_down_mid_stream",
            "C-RESUME-SHUTDOWN",
            "stream",
            "an event stream ended by `SHUTTING_DOWN` resumes after `resumeAfterSequence`, hiding nothing from the application",
            "dome.gateway.v1.ErrorReason.ERROR_REASON_SHUTTING_DOWN",
            |ctx| stream_resume_on(ctx, Cut::ShuttingDown),
        ),
        ClientCase::new(
            "client.stream.cursor_expired",
            "C-GAP",
            "stream",
            "`CURSOR_EXPIRED` reaches the application as that typed error and is not retried: a gap is never hidden",
            "dome.gateway.v1.ErrorReason.ERROR_REASON_CURSOR_EXPIRED",
            stream_cursor_expired,
        ),
        ClientCase::new(
            "client.errors.typed_decoding",
            "C-DECODE",
            "core",
            "a `google.rpc.Status` with an `ErrorInfo` of the contract reaches the application as its typed reason with its gRPC code, every metadata key, whether it is retryable and its `RetryInfo` delay",
            "dome.gateway.v1.ErrorReason",
            errors_typed_decoding,
        ),
        ClientCase::new(
            "client.errors.unknown_reason",
            "C-UNKNOWN-REASON",
            "core",
            "an `ErrorInfo` reason the client does not know is reported by its gRPC code as an undecoded status, not retried, and the client keeps working",
            "dome.gateway.v1.ErrorReason",
            errors_unknown_reason,
        ),
        ClientCase::new(
            "client.errors.no_details",
            "C-NO-DETAILS",
            "core",
            "a status without details is reported by its gRPC code, and the client keeps working",
            "google.rpc.Status",
            |ctx| errors_malformed(ctx, Details::None),
        ),
        ClientCase::new(
            "client.errors.garbage_details",
            "C-GARBAGE-DETAILS",
            "core",
            "a status whose details do not decode is reported by its gRPC code, never a crash, and the client keeps working",
            "google.rpc.Status",
            |ctx| errors_malformed(ctx, Details::Garbage(b"\xff\x00 not a google.rpc.Status \x12".to_vec())),
        ),
        ClientCase::new(
            "client.errors.two_error_infos",
            "C-TWO-ERROR-INFOS",
            "core",
            "a status with two `ErrorInfo`s is reported by its gRPC code, with one of the two reasons if any, never a crash",
            "google.rpc.ErrorInfo",
            errors_two_error_infos,
        ),
        ClientCase::new(
            "client.deadline.slow_server",
            "C-DEADLINE",
            "core",
            "a call the gateway does not answer within the client's time limit fails with a deadline error instead of waiting",
            "dome.gateway.v1.GatewayService",
            deadline_slow_server,
        ),
        ClientCase::new(
            "client.wait.execute_and_wait",
            "C-EXECUTE-AND-WAIT",
            "wait",
            "execute-and-wait submits once and returns the job in its terminal state",
            "dome.gateway.v1.GatewayService.SkillExecute",
            wait_execute_and_wait,
        ),
        ClientCase::new(
            "client.wait.cancel_and_wait",
            "C-CANCEL-AND-WAIT",
            "wait",
            "cancel-and-wait cancels the job and returns it in its terminal state",
            "dome.gateway.v1.GatewayService.CancelJob",
            wait_cancel_and_wait,
        ),
        ClientCase::new(
            "client.decisions.read",
            "C-DECISIONS",
            "decisions",
            "the gate and promotion decisions of a run are read and returned as the gateway sent them",
            "dome.gateway.v1.GatewayService.GetGateDecision",
            decisions_read,
        ),
        ClientCase::new(
            "client.property.submit_faults",
            "C-SUBMIT-ONCE",
            "core",
            "under any schedule of retryable failures and dropped connections before success, one submission creates exactly one job, with one idempotency key on every attempt",
            "dome.gateway.v1.SkillExecuteRequest.idempotency_key",
            property_submit_faults,
        )
        .property(),
        ClientCase::new(
            "client.property.stream_faults",
            "C-EXACTLY-ONCE",
            "stream",
            "under any schedule of cuts, dropped connections and replays, the application sees the sequences `1..=terminal` exactly once, in order, and every reconnect resumes from the last delivered sequence",
            "dome.gateway.v1.JobEvent.sequence",
            property_stream_faults,
        )
        .property(),
    ]
}

/// A gateway and a connected testee.
struct Session {
    gateway: Gateway,
    testee: Testee,
}

/// The `connect` command every case sends, with small retry delays so
/// that runs stay quick.
fn connect(gateway: &Gateway, ctx: &ClientCtx) -> protocol::Connect {
    protocol::Connect {
        endpoint: gateway.url().to_string(),
        auth_token: TOKEN.into(),
        correlation_id: correlation(ctx),
        retry: Some(protocol::RetrySettings {
            max_attempts: MAX_ATTEMPTS,
            initial_backoff_ms: 10,
            max_backoff_ms: 40,
            deadline_ms: 10_000,
        }),
        ..Default::default()
    }
}

fn correlation(ctx: &ClientCtx) -> String {
    format!("{}:{:x}", ctx.case_id, ctx.seed)
}

impl Session {
    /// Starts the gateway and the testee, without connecting.
    async fn start(ctx: &ClientCtx, script: Script) -> Result<Session, Stop> {
        let gateway =
            Gateway::start(script).await.map_err(|e| Stop::Fail(format!("cannot start the scripted gateway: {e}")))?;
        let testee = Testee::start(&ctx.command, ctx.read_timeout).await?;
        Ok(Session { gateway, testee })
    }

    /// Starts the gateway and the testee and connects with `settings`.
    async fn open_with(
        ctx: &ClientCtx,
        script: Script,
        settings: impl FnOnce(&mut protocol::Connect),
    ) -> Result<Session, Stop> {
        let mut session = Session::start(ctx, script).await?;
        let mut connect = connect(&session.gateway, ctx);
        settings(&mut connect);
        let answer = session.testee.call(Action::Connect(connect)).await?;
        answer.done("connect")?;
        Ok(session)
    }

    async fn open(ctx: &ClientCtx, script: Script) -> Result<Session, Stop> {
        Session::open_with(ctx, script, |_| {}).await
    }

    async fn call(&mut self, action: Action) -> Result<Answer, Stop> {
        self.testee.call(action).await
    }

    /// Shuts the testee down, then stops the gateway; returns every call
    /// the gateway received (none can come later: the testee has exited).
    async fn close(self) -> Result<Vec<Call>, Stop> {
        let Session { gateway, testee } = self;
        let finished = testee.finish().await;
        let calls = gateway.calls();
        gateway.stop().await;
        finished?;
        Ok(calls)
    }
}

fn execute() -> Action {
    Action::Execute(protocol::Execute {
        request: Some(pb::SkillExecuteRequest {
            skill_id: contract::CONFORMANCE_SKILL_ID.into(),
            input_json: r#"{"steps":[{"succeed":{}}]}"#.into(),
            ..Default::default()
        }),
    })
}

fn get_status(job_id: &str) -> Action {
    Action::GetStatus(protocol::JobRef { job_id: job_id.into() })
}

fn stream(job_id: &str, after: u64) -> Action {
    Action::StreamEvents(protocol::StreamEvents { job_id: job_id.into(), after_sequence: after })
}

fn of(calls: &[Call], method: Method) -> Vec<&Call> {
    calls.iter().filter(|c| c.method == method).collect()
}

fn keys(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|c| match &c.request {
            Received::SkillExecute(r) => Some(r.idempotency_key.clone()),
            _ => None,
        })
        .collect()
}

fn afters(calls: &[Call]) -> Vec<u64> {
    calls
        .iter()
        .filter_map(|c| match &c.request {
            Received::StreamJobEvents(r) => Some(r.after_sequence),
            _ => None,
        })
        .collect()
}

fn sequences(events: &[pb::JobEvent]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

/// The job a successful execute returned.
fn executed_job(answer: &Answer) -> Result<pb::Job, Stop> {
    let done = answer.done("execute")?;
    done.executed
        .as_ref()
        .and_then(|r| r.job.clone())
        .ok_or_else(|| Stop::Fail("execute succeeded without `done.executed.job`".into()))
}

/// Checks that the submissions carried one non-empty idempotency key.
fn one_key(calls: &[Call]) -> CaseResult {
    let keys = keys(calls);
    ensure!(!keys.is_empty(), "the gateway received no SkillExecute");
    ensure!(!keys[0].is_empty(), "the submission carried no idempotency key, so a retry could create a second job");
    ensure!(
        keys.iter().all(|k| *k == keys[0]),
        "the attempts of one submission carried different idempotency keys: {keys:?}"
    );
    Ok(())
}

/// Checks the error's kind, reason and code.
fn expect_error(
    answer: &Answer,
    what: &str,
    kind: ErrorKind,
    reason: &str,
    code: tonic::Code,
) -> Result<protocol::ClientError, Stop> {
    let error = answer.error(what)?;
    let code = protocol::code_name(code);
    ensure!(
        error.kind() == kind && error.reason == reason && error.code == code,
        "{what}: expected {} with reason {reason:?} and code {code}, the testee reported {}",
        kind.as_str_name(),
        describe(error)
    );
    Ok(error.clone())
}

/// Checks that a stream delivered `1..=n` once, in order.
fn exactly_once(answer: &Answer, n: u64) -> CaseResult {
    answer.done("streamEvents")?;
    let seen = sequences(&answer.events);
    let want: Vec<u64> = (1..=n).collect();
    ensure!(seen == want, "the application saw the sequences {seen:?}, expected {want:?} exactly once, in order");
    Ok(())
}

async fn headers_every_call(ctx: ClientCtx) -> CaseResult {
    let mut s = Session::open(&ctx, Script::default()).await?;
    let job = executed_job(&s.call(execute()).await?)?;
    s.call(get_status(&job.job_id)).await?.done("getStatus")?;
    s.call(Action::Cancel(protocol::Cancel { job_id: job.job_id.clone(), reason: "conformance".into() }))
        .await?
        .done("cancel")?;
    let calls = s.close().await?;
    let want_auth = format!("Bearer {TOKEN}");
    let want_corr = correlation(&ctx);
    for call in &calls {
        let version = call.header(contract::API_VERSION_HEADER);
        ensure!(
            version == Some(contract::API_VERSION),
            "{:?} carried `{}: {version:?}`, expected {:?}",
            call.method,
            contract::API_VERSION_HEADER,
            contract::API_VERSION
        );
        let auth = call.header("authorization");
        ensure!(
            auth == Some(want_auth.as_str()),
            "{:?} carried `authorization: {auth:?}`, expected {want_auth:?}",
            call.method
        );
        let corr = call.request.correlation_id();
        ensure!(
            corr == want_corr,
            "{:?} carried correlation_id {corr:?}, expected the configured {want_corr:?}",
            call.method
        );
    }
    for method in [Method::SkillExecute, Method::GetJobStatus, Method::CancelJob] {
        ensure!(!of(&calls, method).is_empty(), "the gateway never received {method:?}");
    }
    Ok(())
}

async fn version_refuses_unserved(ctx: ClientCtx) -> CaseResult {
    let script = Script { api_versions: vec!["v0-unserved".into()], ..Script::default() };
    let mut s = Session::start(&ctx, script).await?;
    let connect = connect(&s.gateway, &ctx);
    let answer = s.call(Action::Connect(connect)).await?;
    let error = answer.error("connect to a gateway serving only `v0-unserved`")?.clone();
    ensure!(
        error.kind() == ErrorKind::UnsupportedVersion,
        "connect failed as {}, expected ERROR_KIND_UNSUPPORTED_VERSION",
        describe(&error)
    );
    let calls = s.close().await?;
    let other: Vec<_> = calls.iter().filter(|c| c.method != Method::ListCapabilities).map(|c| c.method).collect();
    ensure!(other.is_empty(), "after the version was refused the client still called {other:?}");
    Ok(())
}

fn queue_full(delay: Duration) -> Fault {
    Fault::Error(Scripted::reason("QUEUE_FULL", &[("queueCapacity", "64")], delay))
}

fn shutting_down() -> Fault {
    Fault::Error(Scripted::reason("SHUTTING_DOWN", &[], SHORT))
}

async fn retry_queue_full(ctx: ClientCtx) -> CaseResult {
    let faults = [queue_full(SHORT), queue_full(SHORT)];
    one_job_after_retries(&ctx, faults, 3, "two QUEUE_FULL, then success").await
}

/// Submits once through `faults` on SkillExecute and checks that the
/// client made `calls` attempts under one idempotency key and got the one
/// job the gateway created.
async fn one_job_after_retries(
    ctx: &ClientCtx,
    faults: impl IntoIterator<Item = Fault>,
    calls: usize,
    why: &str,
) -> CaseResult {
    let script = Script::default().fault(Method::SkillExecute, faults);
    let mut s = Session::open(ctx, script).await?;
    let job = executed_job(&s.call(execute()).await?)?;
    let created = s.gateway.jobs_created();
    let seen = s.close().await?;
    let n = of(&seen, Method::SkillExecute).len();
    ensure!(n == calls, "the gateway received {n} SkillExecute calls, expected {calls} ({why})");
    one_key(&seen)?;
    ensure!(created == 1, "{created} jobs were created for one submission, expected 1");
    ensure!(
        job.job_id == super::gateway::id("job", 1),
        "the application got job {:?}, not the one created",
        job.job_id
    );
    Ok(())
}

async fn retry_shutting_down(ctx: ClientCtx) -> CaseResult {
    let script = Script::default().fault(Method::GetJobStatus, [shutting_down(), shutting_down()]);
    let mut s = Session::open(&ctx, script).await?;
    let job = s.gateway.seed_job();
    let answer = s.call(get_status(&job.job_id)).await?;
    let got = answer.done("getStatus")?.job.clone().unwrap_or_default();
    ensure!(got.job_id == job.job_id, "getStatus returned job {:?}, expected {:?}", got.job_id, job.job_id);
    let calls = s.close().await?;
    let n = of(&calls, Method::GetJobStatus).len();
    ensure!(n == 3, "the gateway received {n} GetJobStatus calls, expected 3 (two SHUTTING_DOWN, then success)");
    Ok(())
}

async fn retry_subscriber_lagged(ctx: ClientCtx) -> CaseResult {
    let lagged = || {
        Fault::Error(Scripted::reason("SUBSCRIBER_LAGGED", &[("jobId", "job"), ("resumeAfterSequence", "0")], SHORT))
    };
    let script = Script::default().fault(Method::StreamJobEvents, [lagged(), lagged()]);
    let mut s = Session::open(&ctx, script).await?;
    let job = s.gateway.seed_job();
    let answer = s.call(stream(&job.job_id, 0)).await?;
    exactly_once(&answer, job.last_sequence)?;
    let calls = s.close().await?;
    let n = of(&calls, Method::StreamJobEvents).len();
    ensure!(
        n == 3,
        "the gateway received {n} StreamJobEvents calls, expected 3 (two SUBSCRIBER_LAGGED, then the stream)"
    );
    Ok(())
}

async fn retry_non_retryable(ctx: ClientCtx) -> CaseResult {
    let fault = Scripted::reason("SKILL_NOT_FOUND", &[("skillId", "conformance"), ("skillVersion", "")], SHORT);
    let script = Script::default().fault(Method::SkillExecute, [Fault::Error(fault)]);
    let mut s = Session::open(&ctx, script).await?;
    let answer = s.call(execute()).await?;
    let error = expect_error(&answer, "execute", ErrorKind::Api, "SKILL_NOT_FOUND", tonic::Code::NotFound)?;
    ensure!(!error.retryable, "the testee reported SKILL_NOT_FOUND as retryable");
    let calls = s.close().await?;
    let n = of(&calls, Method::SkillExecute).len();
    ensure!(n == 1, "SKILL_NOT_FOUND is not retryable, yet the gateway received {n} SkillExecute calls");
    Ok(())
}

async fn retry_waits_retry_info(ctx: ClientCtx) -> CaseResult {
    let script = Script::default().fault(Method::SkillExecute, [queue_full(RETRY_INFO_DELAY)]);
    let mut s = Session::open(&ctx, script).await?;
    executed_job(&s.call(execute()).await?)?;
    let calls = s.close().await?;
    let attempts = of(&calls, Method::SkillExecute);
    ensure!(attempts.len() == 2, "the gateway received {} SkillExecute calls, expected 2", attempts.len());
    let gap = attempts[1].at.saturating_sub(attempts[0].at);
    ensure!(
        gap >= RETRY_INFO_DELAY,
        "the retry arrived {} ms after the first attempt, before the RetryInfo delay of {} ms",
        gap.as_millis(),
        RETRY_INFO_DELAY.as_millis()
    );
    Ok(())
}

async fn retry_stops_at_deadline(ctx: ClientCtx) -> CaseResult {
    let script = Script::default().fault(Method::SkillExecute, [queue_full(Duration::from_secs(5))]);
    let mut s = Session::open_with(&ctx, script, |c| {
        if let Some(retry) = c.retry.as_mut() {
            retry.deadline_ms = 300;
        }
    })
    .await?;
    let answer = s.call(execute()).await?;
    let error = answer.error("execute whose only retry would end past the deadline")?.clone();
    let calls = s.close().await?;
    let n = of(&calls, Method::SkillExecute).len();
    ensure!(
        n == 1,
        "the RetryInfo delay (5 s) ends past the deadline (300 ms), yet the gateway received {n} SkillExecute calls"
    );
    let fine =
        (error.kind() == ErrorKind::Api && error.reason == "QUEUE_FULL") || error.kind() == ErrorKind::DeadlineExceeded;
    ensure!(fine, "the call failed as {}, expected QUEUE_FULL or a deadline error", describe(&error));
    Ok(())
}

async fn idempotency_retry_after_drop(ctx: ClientCtx) -> CaseResult {
    one_job_after_retries(&ctx, [Fault::DropAfterCommit], 2, "one dropped, one retry").await
}

fn plan(replay: u64, deliver: u64, cut: Cut) -> StreamPlan {
    StreamPlan { replay, deliver, cut }
}

async fn stream_with(ctx: &ClientCtx, script: Script) -> Result<(Answer, pb::Job, Vec<Call>), Stop> {
    let mut s = Session::open(ctx, script).await?;
    let job = s.gateway.seed_job();
    let answer = s.call(stream(&job.job_id, 0)).await?;
    let calls = s.close().await?;
    Ok((answer, job, calls))
}

async fn stream_resume_after_cut(ctx: ClientCtx) -> CaseResult {
    let script = Script { events: 6, ..Script::default() }.streams([plan(0, 3, Cut::Unavailable)]);
    let (answer, job, calls) = stream_with(&ctx, script).await?;
    exactly_once(&answer, job.last_sequence)?;
    let afters = afters(&calls);
    ensure!(
        afters == [0, 3],
        "the stream was opened with after_sequence {afters:?}, expected [0, 3] (cut after sequence 3)"
    );
    Ok(())
}

async fn stream_drops_replays(ctx: ClientCtx) -> CaseResult {
    let script =
        Script { events: 7, ..Script::default() }.streams([plan(0, 3, Cut::Unavailable), plan(3, 2, Cut::Unavailable)]);
    let (answer, job, _) = stream_with(&ctx, script).await?;
    exactly_once(&answer, job.last_sequence)
}

async fn stream_connection_drop(ctx: ClientCtx) -> CaseResult {
    let script = Script { events: 6, ..Script::default() }.streams([plan(0, 2, Cut::Drop)]);
    let (answer, job, calls) = stream_with(&ctx, script).await?;
    exactly_once(&answer, job.last_sequence)?;
    let afters = afters(&calls);
    // Events in flight when the connection dropped may never have arrived:
    // resuming from earlier than 2 is right, from later is not.
    ensure!(
        afters.len() == 2 && afters[1] <= 2,
        "the stream was opened with after_sequence {afters:?}, expected [0, at most 2]"
    );
    Ok(())
}

async fn stream_resume_on(ctx: ClientCtx, cut: Cut) -> CaseResult {
    let script = Script { events: 6, ..Script::default() }.streams([plan(0, 2, cut)]);
    let (answer, job, calls) = stream_with(&ctx, script).await?;
    exactly_once(&answer, job.last_sequence)?;
    let afters = afters(&calls);
    ensure!(
        afters == [0, 2],
        "the stream was opened with after_sequence {afters:?}, expected [0, 2] (resumeAfterSequence 2)"
    );
    Ok(())
}

async fn stream_cursor_expired(ctx: ClientCtx) -> CaseResult {
    let metadata = [("jobId", "job"), ("afterSequence", "0"), ("firstRetainedSequence", "3")];
    let script = Script::default()
        .fault(Method::StreamJobEvents, [Fault::Error(Scripted::reason("CURSOR_EXPIRED", &metadata, SHORT))]);
    let mut s = Session::open(&ctx, script).await?;
    let job = s.gateway.seed_job();
    let answer = s.call(stream(&job.job_id, 0)).await?;
    let calls = s.close().await?;
    ensure!(
        answer.events.is_empty(),
        "events reached the application across an expired cursor: {:?}",
        sequences(&answer.events)
    );
    let error = expect_error(
        &answer,
        "streamEvents from an expired cursor",
        ErrorKind::Api,
        "CURSOR_EXPIRED",
        tonic::Code::FailedPrecondition,
    )?;
    ensure!(
        error.metadata.get("firstRetainedSequence").map(String::as_str) == Some("3"),
        "CURSOR_EXPIRED reached the application without its metadata: {}",
        describe(&error)
    );
    let n = of(&calls, Method::StreamJobEvents).len();
    ensure!(n == 1, "CURSOR_EXPIRED is not retryable, yet the gateway received {n} StreamJobEvents calls");
    Ok(())
}

async fn errors_typed_decoding(ctx: ClientCtx) -> CaseResult {
    let denied = Scripted::reason("PERMISSION_DENIED", &[("permission", "jobs.read")], SHORT);
    let script = Script::default()
        .fault(Method::GetJobStatus, [Fault::Error(denied)])
        .fault(Method::SkillExecute, (0..4).map(|_| queue_full(Duration::from_millis(20))));
    let mut s = Session::open(&ctx, script).await?;
    let answer = s.call(get_status("job-unread")).await?;
    let error = expect_error(&answer, "getStatus", ErrorKind::Api, "PERMISSION_DENIED", tonic::Code::PermissionDenied)?;
    let corr = correlation(&ctx);
    let want: BTreeMap<&str, &str> = [("permission", "jobs.read"), ("correlationId", corr.as_str())].into();
    for (key, value) in &want {
        ensure!(
            error.metadata.get(*key).map(String::as_str) == Some(*value),
            "PERMISSION_DENIED reached the application without metadata {key}={value:?}: {}",
            describe(&error)
        );
    }
    ensure!(!error.retryable, "PERMISSION_DENIED was reported retryable");
    // Four QUEUE_FULL answers use up the four attempts: the last one
    // reaches the application.
    let answer = s.call(execute()).await?;
    let error = expect_error(&answer, "execute", ErrorKind::Api, "QUEUE_FULL", tonic::Code::ResourceExhausted)?;
    ensure!(error.retryable, "QUEUE_FULL was reported as not retryable");
    ensure!(
        error.retry_delay_ms == 20,
        "QUEUE_FULL's RetryInfo delay of 20 ms was reported as {} ms",
        error.retry_delay_ms
    );
    ensure!(
        error.metadata.get("queueCapacity").map(String::as_str) == Some("64"),
        "QUEUE_FULL reached the application without queueCapacity: {}",
        describe(&error)
    );
    s.close().await?;
    Ok(())
}

/// After a failure the SDK could not decode, the client still works.
async fn still_works(s: &mut Session) -> CaseResult {
    let job = s.gateway.seed_job();
    let answer = s.call(get_status(&job.job_id)).await?;
    answer.done("getStatus after the undecodable error").map(|_| ())
}

async fn errors_unknown_reason(ctx: ClientCtx) -> CaseResult {
    let unknown = Scripted {
        code: tonic::Code::FailedPrecondition,
        reason: "REASON_FROM_A_LATER_VERSION".into(),
        metadata: [("hint".to_string(), "x".to_string())].into(),
        retry_delay: None,
        details: Details::Contract,
    };
    let script = Script::default().fault(Method::GetJobStatus, [Fault::Error(unknown)]);
    let mut s = Session::open(&ctx, script).await?;
    let answer = s.call(get_status("job-x")).await?;
    let error = answer.error("getStatus answered with an unknown reason")?.clone();
    ensure!(
        error.kind() == ErrorKind::Status && error.code == "FAILED_PRECONDITION",
        "an unknown reason must be reported as ERROR_KIND_STATUS with its code FAILED_PRECONDITION, the testee reported {}",
        describe(&error)
    );
    still_works(&mut s).await?;
    let calls = s.close().await?;
    let n = of(&calls, Method::GetJobStatus).len();
    ensure!(n == 2, "the gateway received {n} GetJobStatus calls, expected 2 (the unknown reason is not retried)");
    Ok(())
}

async fn errors_malformed(ctx: ClientCtx, details: Details) -> CaseResult {
    let fault = Scripted {
        code: tonic::Code::Internal,
        reason: String::new(),
        metadata: BTreeMap::new(),
        retry_delay: None,
        details,
    };
    let script = Script::default().fault(Method::GetJobStatus, [Fault::Error(fault)]);
    let mut s = Session::open(&ctx, script).await?;
    let answer = s.call(get_status("job-x")).await?;
    let error = answer.error("getStatus answered INTERNAL with malformed details")?.clone();
    ensure!(
        error.kind() == ErrorKind::Status && error.code == "INTERNAL" && !error.retryable,
        "expected ERROR_KIND_STATUS with code INTERNAL, not retryable; the testee reported {}",
        describe(&error)
    );
    still_works(&mut s).await?;
    let calls = s.close().await?;
    let n = of(&calls, Method::GetJobStatus).len();
    ensure!(n == 2, "the gateway received {n} GetJobStatus calls, expected 2 (INTERNAL is not retried)");
    Ok(())
}

async fn errors_two_error_infos(ctx: ClientCtx) -> CaseResult {
    let mut fault = Scripted::reason("FEATURE_NOT_ENABLED", &[("feature", "x")], SHORT);
    fault.details = Details::TwoErrorInfos("PERMISSION_DENIED".into());
    let script = Script::default().fault(Method::GetJobStatus, [Fault::Error(fault)]);
    let mut s = Session::open(&ctx, script).await?;
    let answer = s.call(get_status("job-x")).await?;
    let error = answer.error("getStatus answered with two ErrorInfos")?.clone();
    ensure!(
        error.code == "FAILED_PRECONDITION",
        "the status's code FAILED_PRECONDITION was reported as {}",
        describe(&error)
    );
    ensure!(
        ["", "FEATURE_NOT_ENABLED", "PERMISSION_DENIED"].contains(&error.reason.as_str()),
        "the reported reason is neither of the two ErrorInfos: {}",
        describe(&error)
    );
    ensure!(!error.retryable, "neither reason is retryable, yet the testee reported {}", describe(&error));
    still_works(&mut s).await?;
    s.close().await?;
    Ok(())
}

async fn deadline_slow_server(ctx: ClientCtx) -> CaseResult {
    let script = Script::default().fault(Method::GetJobStatus, [Fault::Hang, Fault::Hang, Fault::Hang, Fault::Hang]);
    let mut s = Session::open_with(&ctx, script, |c| {
        c.request_timeout_ms = 200;
        if let Some(retry) = c.retry.as_mut() {
            retry.deadline_ms = 1_000;
        }
    })
    .await?;
    let answer = s.call(get_status("job-slow")).await?;
    let error = answer.error("getStatus on a gateway that never answers")?.clone();
    ensure!(
        error.kind() == ErrorKind::DeadlineExceeded || error.code == "DEADLINE_EXCEEDED",
        "expected a deadline error, the testee reported {}",
        describe(&error)
    );
    s.close().await?;
    Ok(())
}

async fn wait_execute_and_wait(ctx: ClientCtx) -> CaseResult {
    let mut s = Session::open(&ctx, Script::default()).await?;
    let Action::Execute(request) = execute() else { unreachable!("execute() builds an execute") };
    let answer = s.call(Action::ExecuteAndWait(request)).await?;
    let job = answer.done("executeAndWait")?.job.clone().unwrap_or_default();
    let created = s.gateway.jobs_created();
    s.close().await?;
    ensure!(
        job.state() == pb::JobState::Succeeded,
        "executeAndWait returned the job {}, expected it terminal (SUCCEEDED)",
        job.state().as_str_name()
    );
    ensure!(created == 1, "{created} jobs were created, expected 1");
    Ok(())
}

async fn wait_cancel_and_wait(ctx: ClientCtx) -> CaseResult {
    let mut s = Session::open(&ctx, Script { parked: true, ..Script::default() }).await?;
    let parked = s.gateway.seed_job();
    let answer = s
        .call(Action::CancelAndWait(protocol::Cancel { job_id: parked.job_id.clone(), reason: "conformance".into() }))
        .await?;
    let job = answer.done("cancelAndWait")?.job.clone().unwrap_or_default();
    let calls = s.close().await?;
    ensure!(
        job.state() == pb::JobState::Cancelled,
        "cancelAndWait returned the job {}, expected CANCELLED",
        job.state().as_str_name()
    );
    let cancels = of(&calls, Method::CancelJob);
    ensure!(!cancels.is_empty(), "cancelAndWait never called CancelJob");
    for call in cancels {
        if let Received::CancelJob(r) = &call.request {
            ensure!(r.job_id == parked.job_id, "CancelJob named job {:?}, expected {:?}", r.job_id, parked.job_id);
        }
    }
    Ok(())
}

async fn decisions_read(ctx: ClientCtx) -> CaseResult {
    let mut s = Session::open(&ctx, Script::default()).await?;
    let gate = s
        .call(Action::GetGateDecision(protocol::DecisionRef { run_id: "run-a".into(), task_id: "job-a".into() }))
        .await?;
    let gate = gate.done("getGateDecision")?.gate_decision.clone().unwrap_or_default();
    let promotion = s
        .call(Action::GetPromotionDecision(protocol::DecisionRef { run_id: "run-a".into(), task_id: String::new() }))
        .await?;
    let promotion = promotion.done("getPromotionDecision")?.promotion_decision.clone().unwrap_or_default();
    s.close().await?;
    ensure!(
        gate.run_id == "run-a" && gate.task_id == "job-a" && gate.reason_codes == ["SCRIPTED"],
        "getGateDecision returned {gate:?}, not the decision the gateway sent"
    );
    ensure!(
        promotion.run_id == "run-a" && promotion.reason_codes == ["SCRIPTED"],
        "getPromotionDecision returned {promotion:?}, not the decision the gateway sent"
    );
    Ok(())
}

/// One failure of a submission before it succeeds.
#[derive(Debug, Clone, Copy)]
enum SubmitFault {
    QueueFull,
    ShuttingDown,
    Unavailable,
    Drop,
    DropAfterCommit,
}

impl SubmitFault {
    fn fault(self) -> Fault {
        match self {
            SubmitFault::QueueFull => queue_full(SHORT),
            SubmitFault::ShuttingDown => shutting_down(),
            SubmitFault::Unavailable => Fault::Error(Scripted {
                code: tonic::Code::Unavailable,
                reason: String::new(),
                metadata: BTreeMap::new(),
                retry_delay: None,
                details: Details::None,
            }),
            SubmitFault::Drop => Fault::Drop,
            SubmitFault::DropAfterCommit => Fault::DropAfterCommit,
        }
    }
}

fn seed_of(ctx: &ClientCtx) -> [u8; 32] {
    case_seed(ctx.seed, &ctx.case_id)
}

async fn property_submit_faults(ctx: ClientCtx) -> CaseResult {
    let strategy = || {
        let fault = prop_oneof![
            Just(SubmitFault::QueueFull),
            Just(SubmitFault::ShuttingDown),
            Just(SubmitFault::Unavailable),
            Just(SubmitFault::Drop),
            Just(SubmitFault::DropAfterCommit),
        ];
        // At most `MAX_ATTEMPTS - 1` failures: the attempts the connect
        // settings allow always reach the success.
        proptest::collection::vec(fault, 0..=(MAX_ATTEMPTS as usize - 1))
    };
    let render: fn(&Vec<SubmitFault>) -> String = |faults| format!("SkillExecute faults before success: {faults:?}");
    run_property(
        ctx.clone(),
        seed_of(&ctx),
        ctx.cases,
        ctx.abandoned.clone(),
        ctx.scenarios.clone(),
        strategy,
        render,
        |ctx: ClientCtx, faults: Vec<SubmitFault>| async move {
            let script = Script::default().fault(Method::SkillExecute, faults.iter().map(|f| f.fault()));
            let mut s = Session::open(&ctx, script).await?;
            let job = executed_job(&s.call(execute()).await?)?;
            let created = s.gateway.jobs_created();
            let calls = s.close().await?;
            let n = of(&calls, Method::SkillExecute).len();
            ensure!(
                n == faults.len() + 1,
                "the gateway received {n} SkillExecute calls, expected {}",
                faults.len() + 1
            );
            one_key(&calls)?;
            ensure!(created == 1, "{created} jobs were created for one submission, expected 1");
            ensure!(
                job.job_id == super::gateway::id("job", 1),
                "the application got job {:?}, not the one created",
                job.job_id
            );
            Ok(())
        },
    )
    .await
}

/// A stream fault schedule: the job's length and the plan of each call.
#[derive(Debug, Clone)]
struct StreamSchedule {
    events: u64,
    plans: Vec<StreamPlan>,
}

async fn property_stream_faults(ctx: ClientCtx) -> CaseResult {
    let strategy = || {
        let cut = prop_oneof![Just(Cut::Drop), Just(Cut::Unavailable), Just(Cut::Lagged), Just(Cut::ShuttingDown)];
        let plan = (0u64..=3, 1u64..=3, cut).prop_map(|(replay, deliver, cut)| StreamPlan { replay, deliver, cut });
        // A dropped connection may lose the events it carried, so each cut
        // may be a failed call with nothing delivered: at most
        // `MAX_ATTEMPTS - 1` of them, and the next call must succeed.
        let cuts = 0..=(MAX_ATTEMPTS as usize - 1);
        (3u64..=12, proptest::collection::vec(plan, cuts)).prop_map(|(events, plans)| StreamSchedule { events, plans })
    };
    let render: fn(&StreamSchedule) -> String = |s| {
        let plans: Vec<String> =
            s.plans.iter().map(|p| format!("replay {} deliver {} then {:?}", p.replay, p.deliver, p.cut)).collect();
        format!("a job of {} events; the stream calls: [{}]", s.events, plans.join("; "))
    };
    run_property(ctx.clone(), seed_of(&ctx), ctx.cases, ctx.abandoned.clone(), ctx.scenarios.clone(), strategy, render, |ctx: ClientCtx, schedule: StreamSchedule| async move {
        let script = Script { events: schedule.events, ..Script::default() }.streams(schedule.plans.clone());
        let mut s = Session::open(&ctx, script).await?;
        let job = s.gateway.seed_job();
        let answer = s.call(stream(&job.job_id, 0)).await?;
        let created = s.gateway.jobs_created();
        let calls = s.close().await?;
        exactly_once(&answer, job.last_sequence)?;
        ensure!(created == 1, "{created} jobs exist, expected 1");
        // What call i delivered bounds where call i + 1 resumes: exactly
        // there after a status (every event before it arrived), no later
        // after a dropped connection (events in flight may be lost).
        let afters = afters(&calls);
        for (i, pair) in afters.windows(2).enumerate() {
            let (before, after) = (pair[0], pair[1]);
            let Some(plan) = schedule.plans.get(i) else { break };
            let delivered = (before + plan.deliver).min(schedule.events);
            let right = if plan.cut == Cut::Drop { (before..=delivered).contains(&after) } else { after == delivered };
            ensure!(
                right,
                "call {} resumed after sequence {after}; call {} (after {before}) delivered up to {delivered} then {:?} (calls: {afters:?})",
                i + 2,
                i + 1,
                plan.cut
            );
        }
        Ok(())
    })
    .await
}
