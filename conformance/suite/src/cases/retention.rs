//! Retention: what a job that leaves retention takes with it, and what a
//! stream still open on it gets.

use dome_sdk::pb;

use super::expect_error;
use crate::case::{Case, CaseResult, Ctx, Stop};
use crate::ensure;
use crate::script::{Decision, GateStep, Script, Step};
use crate::wire::RpcError;

/// The most jobs this case submits to push one out of retention.
const MAX_JOBS_TO_EVICT: u64 = 5_000;

/// The flow-control window of the stalled stream: small, so that most of
/// the job's events are still in the server when the job leaves.
const WINDOW: u32 = 64 * 1024;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "retention.evicted_job",
            "a job pushed out of retention takes its decision with it, and a stream still open on it ends with JOB_NOT_FOUND (or after the terminal event), never with a silent close",
            "dome.gateway.v1.GatewayService.StreamJobEvents; dome.gateway.v1.GetGateDecisionRequest.task_id",
            evicted_job,
        )
        .checks(&["stream.evicted_job_not_found", "decisions.retained_with_job"])
        .exclusive(),
    ]
}

async fn evicted_job(ctx: Ctx) -> CaseResult {
    let max_jobs = ctx.limits().max_jobs_retained;
    if max_jobs == 0 {
        return Err(Stop::Skip("the server advertises no max_jobs_retained, so no job can be pushed out".into()));
    }
    if max_jobs > MAX_JOBS_TO_EVICT {
        return Err(Stop::Skip(format!(
            "max_jobs_retained is {max_jobs}; pushing a job out takes more jobs than this case submits (at most {MAX_JOBS_TO_EVICT})"
        )));
    }
    let gate = GateStep {
        status: Decision::Approve,
        reason_codes: vec![],
        substrate_status: None,
        confidence: None,
        risk_score: None,
        notes: vec![],
        telemetry: None,
    };
    let job = ctx.submit(&Script::new(vec![Step::GateDecision(gate), Step::Bulk { count: 20_000 }])).await?;
    let (job_id, run_id) = (job.facts.job_id.clone(), job.facts.run_id.clone());
    let read_gate = || pb::GetGateDecisionRequest {
        correlation_id: ctx.correlation("gate"),
        run_id: run_id.clone(),
        task_id: job_id.clone(),
    };
    let end = follow_to_end(&ctx, &job_id).await?;
    ctx.wire.gate(read_gate()).await.map_err(|e| Stop::Fail(format!("the recorded gate decision: {e}")))?;

    // A stream that reads one event and then stalls behind a small window.
    let stalled_wire =
        ctx.wire.isolated(WINDOW).await.map_err(|e| Stop::Fail(format!("a second connection failed: {e}")))?;
    let after = match super::stream_error(&ctx, &job_id, 0).await {
        // Every event is retained: the stream from 0 sent one.
        Err(Stop::Fail(_)) => 0,
        Ok(RpcError::Status(s)) => {
            let seen = crate::wire::check_error(&s, "CURSOR_EXPIRED", None).map_err(Stop::Fail)?;
            seen.metadata.get("firstRetainedSequence").and_then(|v| v.parse::<u64>().ok()).unwrap_or(1) - 1
        }
        Ok(e) => return Err(Stop::Fail(format!("StreamJobEvents from 0: {e}"))),
        Err(other) => return Err(other),
    };
    let mut stalled = stalled_wire.stream(&job_id, after).await?;
    let first = stalled.next().await?.ok_or_else(|| Stop::Fail("the stream closed before its first event".into()))?;

    // Every job retained before these is pushed out by them.
    let mut last = String::new();
    for _ in 0..max_jobs {
        let request = ctx.request(&Script::new(vec![]), &ctx.correlation("filler"));
        // `ctx.execute` waits out QUEUE_FULL, which a slow server answers
        // while the previous fillers still wait for a worker.
        let answered = match ctx.execute(request.clone()).await {
            Ok(r) => r,
            // Every retained job was live: wait for the last one to end.
            Err(RpcError::Status(s)) if crate::wire::check_error(&s, "LIMIT_EXCEEDED", None).is_ok() => {
                super::await_end(&ctx, &last).await?;
                ctx.execute(request).await?
            }
            Err(e) => return Err(e.into()),
        };
        last = answered.job.map(|j| j.job_id).unwrap_or_default();
    }
    super::await_end(&ctx, &last).await?;
    expect_error(
        ctx.wire.status(&job_id, "").await,
        "JOB_NOT_FOUND",
        None,
        &format!("GetJobStatus of a job after {max_jobs} newer jobs ended"),
    )?;
    expect_error(
        ctx.wire.gate(read_gate()).await,
        "DECISION_NOT_FOUND",
        None,
        "GetGateDecision of the task of a job no longer retained",
    )?;

    // The stalled stream: what the server had sent, then JOB_NOT_FOUND,
    // or every event through the terminal one.
    let mut seen = first.sequence;
    loop {
        match stalled.next().await {
            Ok(Some(event)) => {
                ensure!(event.sequence > seen, "event #{} came after #{seen}", event.sequence);
                seen = event.sequence;
            }
            Ok(None) => {
                ensure!(
                    seen == end.last_sequence,
                    "the stream of the job pushed out of retention closed with OK after event #{seen}, before the terminal event #{}: a silent end",
                    end.last_sequence
                );
                return Ok(());
            }
            Err(e) => {
                let seen_error = expect_error::<()>(
                    Err(e),
                    "JOB_NOT_FOUND",
                    None,
                    "the stream of a job pushed out of retention while it was open",
                )?;
                let named = seen_error.metadata.get("jobId").map(String::as_str).unwrap_or("");
                ensure!(named == job_id, "JOB_NOT_FOUND names jobId {named:?}; the stream's job is {job_id:?}");
                return Ok(());
            }
        }
    }
}

/// Follows a job to its end, resuming after `SUBSCRIBER_LAGGED` (a long
/// `bulk` step may outrun a follower) or after `CURSOR_EXPIRED` (a server
/// that retains fewer events than the step appends may have dropped the
/// first ones before the stream opens, or while it is resumed), then reads
/// it.
async fn follow_to_end(ctx: &Ctx, job_id: &str) -> Result<pb::Job, Stop> {
    // Where to resume after an error the follower expects, or why not.
    let resume = |s: &tonic::Status, after: u64| -> Result<u64, Stop> {
        let number = |seen: &crate::wire::ErrorSeen, key: &str| {
            seen.metadata.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(after)
        };
        if let Ok(seen) = crate::wire::check_error(s, "SUBSCRIBER_LAGGED", None) {
            return Ok(number(&seen, "resumeAfterSequence"));
        }
        let seen = crate::wire::check_error(s, "CURSOR_EXPIRED", None)
            .map_err(|m| Stop::Fail(format!("following the job: {m}")))?;
        Ok(number(&seen, "firstRetainedSequence").saturating_sub(1))
    };
    let mut after = 0;
    'streams: loop {
        let mut stream = match ctx.wire.stream(job_id, after).await {
            Ok(stream) => stream,
            Err(RpcError::Status(s)) => {
                after = resume(&s, after)?;
                continue 'streams;
            }
            Err(e) => return Err(e.into()),
        };
        loop {
            match stream.next().await {
                Ok(Some(event)) => after = event.sequence,
                Ok(None) => break 'streams,
                Err(RpcError::Status(s)) => {
                    after = resume(&s, after)?;
                    continue 'streams;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ctx.wire.status(job_id, "").await?.job.unwrap_or_default())
}
