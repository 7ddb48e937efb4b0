//! Cancellation (`CancelJob` in `service.proto`, `JobState` in
//! `jobs.proto`, the cancel-requested event in `events.proto`): queued,
//! running, parked, finished, repeated and concurrent cancels, and a
//! property cancelling random scripts at random points.

use dome_sdk::pb::{self, JobState};
use futures_util::future::join_all;

use super::{parked, wait_for_log};
use crate::arbitrary;
use crate::case::{Case, CaseResult, Ctx, Stop, Submitted};
use crate::ensure;
use crate::model::{self, is_terminal};
use crate::script::{Script, Step};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "cancel.queued_job",
            "cancelling a QUEUED job takes effect (cancel_requested with previous_state QUEUED) and ends it CANCELLED at once, never started",
            "dome.gateway.v1.GatewayService.CancelJob",
            queued_job,
        )
        .checks(&["cancel.queued_never_starts", "cancel.takes_effect", "cancel_event.previous_state", "job.start_time", "outcome.attempt"])
        .exclusive(),
        Case::new(
            "cancel.running_job",
            "cancelling a RUNNING (sleeping) job wakes it at once and ends it CANCELLED, after one cancel_requested with previous_state RUNNING",
            "dome.gateway.v1.GatewayService.CancelJob",
            running_job,
        )
        .checks(&["cancel.wakes_parked", "cancel.takes_effect", "state.cancelling_stops_at_boundary", "cancel_event.previous_state", "script.sleep"]),
        Case::new(
            "cancel.parked_job",
            "cancelling a parked job takes effect once and its stream ends with the CANCELLED terminal event (outcome BLOCKED, EXEC.CANCELLED)",
            "dome.gateway.v1.GatewayService.CancelJob; dome.gateway.v1.JobState.JOB_STATE_CANCELLED",
            parked_job,
        )
        .checks(&["script.park", "state.cancelled_blocked", "cancel.reason_recorded"]),
        Case::new(
            "cancel.finished_job",
            "cancelling a terminal job is OK, answers cancel_requested false and changes nothing (state, last_sequence, log)",
            "dome.gateway.v1.GatewayService.CancelJob",
            finished_job,
        )
        .checks(&["cancel.repeat_changes_nothing", "cancel.answer_state"]),
        Case::new(
            "cancel.repeated",
            "repeated cancels of one job: only the first answers cancel_requested true; exactly one cancel_requested event",
            "dome.gateway.v1.CancelJobResponse.cancel_requested",
            repeated,
        )
        .checks(&["cancel.requested_once", "log.one_cancel_requested", "cancel.repeat_changes_nothing"]),
        Case::new(
            "cancel.concurrent",
            "concurrent cancels of one job: exactly one answers cancel_requested true and its correlation id is on the one cancel_requested event",
            "dome.gateway.v1.CancelJobResponse.cancel_requested; dome.gateway.v1.JobEvent.correlation_id",
            concurrent,
        )
        .checks(&["cancel.requested_once", "cancel.event_correlation", "log.one_cancel_requested"]),
        Case::new(
            "cancel.random_point",
            "a cancel at any point of any script leaves a log the model accepts: one terminal state, the script's events as a prefix, CANCELLED only after cancel_requested",
            "dome.gateway.v1.JobState; dome.gateway.v1.GatewayService.CancelJob",
            random_point,
        )
        .checks(&["cancel.best_effort", "cancel.answer_state", "state.one_terminal", "log.cancelling_state_optional", "event.correlation_id"])
        .property(),
    ]
}

async fn finish_cancelled(ctx: &Ctx, job: &Submitted) -> Result<Vec<pb::JobEvent>, Stop> {
    let (events, summary) = ctx.finish(job).await?;
    ensure!(
        summary.terminal == JobState::Cancelled,
        "the cancelled job ended {}:\n{}",
        summary.terminal.as_str_name(),
        model::render_log(&events)
    );
    ensure!(summary.cancel_requested_at.is_some(), "the cancelled job's log has no cancel_requested event");
    Ok(events)
}

async fn queued_job(ctx: Ctx) -> CaseResult {
    let l = ctx.limits();
    if l.max_running_jobs == 0 {
        return Err(Stop::Skip("the server sets no max_running_jobs, so a job cannot be held QUEUED".into()));
    }
    if l.max_running_jobs > 2048 {
        return Err(Stop::Skip(format!(
            "holding {} workers takes more jobs than this suite submits (at most 2048)",
            l.max_running_jobs
        )));
    }
    let mut holders = Vec::new();
    for _ in 0..l.max_running_jobs {
        holders.push(ctx.submit(&parked("holding a worker")).await?);
    }
    for h in &holders {
        wait_for_log(&ctx, &h.facts.job_id).await?;
    }
    let mut job = ctx.submit(&Script::new(vec![Step::Progress { percent: 1, message: None }])).await?;
    let status = ctx.wire.status(&job.facts.job_id, "").await?;
    let state = status.job.map(|j| j.state).unwrap_or_default();
    ensure!(state == JobState::Queued as i32, "with every worker parked, the new job is {state}, expected QUEUED");
    let resp = ctx.cancel(&mut job.facts, Some(JobState::Queued)).await?;
    ensure!(resp.cancel_requested, "cancelling a QUEUED job answered cancel_requested: false");
    let j = resp.job.unwrap_or_default();
    ensure!(
        j.state == JobState::Cancelled as i32,
        "a QUEUED job ends CANCELLED at once, but CancelJob answered state {}",
        j.state
    );
    ensure!(j.start_time.is_none(), "a job cancelled before it started has a start_time");
    let events = finish_cancelled(&ctx, &job).await?;
    ensure!(
        !events.iter().any(|e| matches!(&e.payload, Some(pb::job_event::Payload::StateChanged(s)) if s.state == JobState::Running as i32)),
        "a job cancelled while QUEUED was RUNNING:\n{}",
        model::render_log(&events)
    );
    Ok(())
}

async fn running_job(ctx: Ctx) -> CaseResult {
    let script = Script::new(vec![
        Step::Log { level: None, message: "about to sleep".into() },
        Step::Sleep { millis: 10_000 },
        Step::Succeed { output: None },
    ]);
    let mut job = ctx.submit(&script).await?;
    wait_for_log(&ctx, &job.facts.job_id).await?;
    let started = std::time::Instant::now();
    let resp = ctx.cancel(&mut job.facts, Some(JobState::Running)).await?;
    ensure!(resp.cancel_requested, "cancelling a RUNNING job answered cancel_requested: false");
    let events = finish_cancelled(&ctx, &job).await?;
    let prev = events.iter().find_map(|e| match &e.payload {
        Some(pb::job_event::Payload::CancelRequested(c)) => Some(c.previous_state),
        _ => None,
    });
    ensure!(prev == Some(JobState::Running as i32), "cancel_requested.previous_state is {prev:?}, expected RUNNING");
    ensure!(
        started.elapsed() < std::time::Duration::from_millis(9_000),
        "the sleeping job took {} ms to end after the cancel; a sleep is woken at once",
        started.elapsed().as_millis()
    );
    Ok(())
}

async fn parked_job(ctx: Ctx) -> CaseResult {
    let mut job = ctx.submit(&parked("parking")).await?;
    wait_for_log(&ctx, &job.facts.job_id).await?;
    let resp = ctx.cancel(&mut job.facts, Some(JobState::Running)).await?;
    ensure!(resp.cancel_requested, "cancelling a parked job answered cancel_requested: false");
    let events = finish_cancelled(&ctx, &job).await?;
    // `Ctx::cancel` gives the reason "conformance"; the event records it.
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(pb::job_event::Payload::CancelRequested(c)) => Some(c.reason.as_str()),
            _ => None,
        })
        .collect();
    ensure!(
        reasons == ["conformance"],
        "the cancel-requested event records the reason {reasons:?}; CancelJob gave \"conformance\""
    );
    let last = events.last().cloned().unwrap_or_default();
    let status = ctx.wire.status(&job.facts.job_id, "").await?.job.unwrap_or_default();
    ensure!(
        status.state == JobState::Cancelled as i32 && status.last_sequence == last.sequence,
        "after the stream ended, GetJobStatus reads state {} last_sequence {}, expected CANCELLED and {}",
        status.state,
        status.last_sequence,
        last.sequence
    );
    Ok(())
}

async fn finished_job(ctx: Ctx) -> CaseResult {
    let job = ctx.submit(&Script::new(vec![Step::Progress { percent: 50, message: None }])).await?;
    let (events, summary) = ctx.finish(&job).await?;
    let mut facts = job.facts.clone();
    let resp = ctx.cancel(&mut facts, Some(summary.terminal)).await?;
    ensure!(
        !resp.cancel_requested,
        "cancelling a {} job answered cancel_requested: true",
        summary.terminal.as_str_name()
    );
    let j = resp.job.unwrap_or_default();
    ensure!(
        j.state == summary.terminal as i32 && j.last_sequence == events.len() as u64,
        "cancelling a terminal job changed it: state {} last_sequence {}, was {} and {}",
        j.state,
        j.last_sequence,
        summary.terminal.as_str_name(),
        events.len()
    );
    let again = ctx.wire.collect(&job.facts.job_id, 0).await?;
    ensure!(again == events, "the log changed after cancelling the terminal job:\n{}", model::render_log(&again));
    Ok(())
}

async fn repeated(ctx: Ctx) -> CaseResult {
    let mut job = ctx.submit(&parked("parking")).await?;
    wait_for_log(&ctx, &job.facts.job_id).await?;
    let mut known = Some(JobState::Running);
    for i in 0..3 {
        let resp = ctx.cancel(&mut job.facts, known).await?;
        ensure!(
            resp.cancel_requested == (i == 0),
            "cancel #{} answered cancel_requested: {}",
            i + 1,
            resp.cancel_requested
        );
        known = resp.job.map(|j| JobState::try_from(j.state).unwrap_or_default());
    }
    finish_cancelled(&ctx, &job).await?;
    let resp = ctx.cancel(&mut job.facts, Some(JobState::Cancelled)).await?;
    ensure!(!resp.cancel_requested, "a cancel after the job ended answered cancel_requested: true");
    Ok(())
}

async fn concurrent(ctx: Ctx) -> CaseResult {
    let mut job = ctx.submit(&parked("parking")).await?;
    wait_for_log(&ctx, &job.facts.job_id).await?;
    let calls = (0..8).map(|_| {
        let ctx = ctx.clone();
        let job_id = job.facts.job_id.clone();
        async move {
            let corr = ctx.correlation("concurrent");
            let r = ctx.wire.cancel(&job_id, &corr, "concurrent").await;
            (corr, r)
        }
    });
    let answers = join_all(calls).await;
    job.facts.cancel_attempted = true;
    for (corr, r) in answers {
        let resp = r?;
        model::check_cancel_answer(&resp, None, &pb_facts(&job.facts), "a concurrent CancelJob")?;
        if resp.cancel_requested {
            job.facts.effective_cancels.push(corr);
        }
    }
    ensure!(
        job.facts.effective_cancels.len() == 1,
        "{} of 8 concurrent cancels answered cancel_requested: true; exactly one may",
        job.facts.effective_cancels.len()
    );
    finish_cancelled(&ctx, &job).await?;
    Ok(())
}

/// The facts without the cancels seen so far, for checking one answer of
/// a concurrent burst on its own.
fn pb_facts(f: &model::JobFacts) -> model::JobFacts {
    model::JobFacts { effective_cancels: vec![], ..f.clone() }
}

async fn random_point(ctx: Ctx) -> CaseResult {
    ctx.property(
        arbitrary::cancel_point,
        |(s, k)| format!("cancel after event {k} of:\n{s}"),
        |ctx, (script, k)| async move {
            let mut job = ctx.submit(&script).await?;
            let mut stream = ctx.wire.stream(&job.facts.job_id, 0).await?;
            // Never wait for an event the script cannot emit without a cancel:
            // a parked job stops after QUEUED, RUNNING and its emissions.
            let emitted = job.prediction.emissions.len() + 2;
            let reachable = if job.prediction.ending == model::Ending::Parks { emitted } else { emitted + 1 };
            let mut seen = Vec::new();
            while seen.len() < (k as usize).min(reachable) {
                match stream.next().await? {
                    Some(e) => seen.push(e),
                    None => break,
                }
            }
            drop(stream);
            // A terminal event already streamed fixes the state the cancel
            // must leave alone.
            let before = seen.last().filter(|e| dome_sdk::is_terminal_event(e)).and_then(|e| match &e.payload {
                Some(pb::job_event::Payload::StateChanged(s)) => JobState::try_from(s.state).ok(),
                _ => None,
            });
            let resp = ctx.cancel(&mut job.facts, before).await?;
            let state = JobState::try_from(resp.job.map(|j| j.state).unwrap_or_default()).unwrap_or_default();
            let (events, summary) = ctx.finish(&job).await?;
            ensure!(events.starts_with(&seen), "the events streamed before the cancel are not a prefix of the log");
            if resp.cancel_requested {
                ensure!(summary.cancel_requested_at.is_some(), "the effective cancel left no cancel_requested event");
            } else {
                ensure!(
                    is_terminal(state) || state == JobState::Cancelling,
                    "CancelJob answered cancel_requested: false for a {} job",
                    state.as_str_name()
                );
            }
            Ok(())
        },
    )
    .await
}
