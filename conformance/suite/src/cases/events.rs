//! Event ordering and resumption (`events.proto`, `StreamJobEvents` in
//! `service.proto`): gapless logs, identical concurrent subscribers,
//! resume from every cursor, live follow against replay, and streams
//! that may be dropped without touching the job.

use dome_sdk::pb::{self, JobState};
use futures_util::future::join_all;

use super::{parked, wait_for_log};
use crate::arbitrary;
use crate::case::{Case, CaseResult, Ctx};
use crate::ensure;
use crate::model;
use crate::script::{Script, Step};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "events.gapless_from_one",
            "every job's log, streamed from 0, is gapless from 1, starts QUEUED, holds the script's events in order and ends with one terminal event, after which the stream closes with OK",
            "dome.gateway.v1.JobEvent.sequence; dome.gateway.v1.GatewayService.StreamJobEvents",
            gapless,
        )
        .checks(&["log.gapless", "log.first_queued", "log.terminal_last", "stream.exactly_once_in_order", "stream.event_set", "event.id_unique", "event.job_id", "event.run_id", "event.time", "event.correlation_id", "event.payload_set", "event.terminal_outcome", "progress.percent_range", "ids.form", "state.forward_only", "state.unspecified_never_sent", "state.succeeded_pass", "state.failed_data", "script.steps_in_order", "script.step_events", "script.progress", "script.log", "script.artifact", "script.fail", "script.succeed", "script.default_success", "script.bulk", "outcome.task_id", "outcome.status", "outcome.output_json", "outcome.reason_code", "outcome.message", "outcome.transient", "outcome.artifacts", "outcome.attempt", "execute.correlation_stored", "ids.task_is_job", "job.create_time", "job.provenance_set", "provenance.input_contract", "provenance.tool_versions", "job.correlation_id", "execute.base_ref_head", "execute.highest_version", "job.version_resolved", "execute.no_key_new_job", "script.bulk_progress"])
        .property(),
        Case::new(
            "events.closes_after_terminal",
            "the stream closes with OK right after the terminal event, and at once, with no event, from a cursor at a terminal job's last_sequence",
            "dome.gateway.v1.GatewayService.StreamJobEvents; dome.gateway.v1.StreamJobEventsRequest.after_sequence",
            closes_after_terminal,
        )
        .checks(&["stream.closes_after_terminal", "cursor.at_terminal_head"]),
        Case::new(
            "events.concurrent_subscribers",
            "every concurrent subscriber of a job sees the identical sequence of events",
            "dome.gateway.v1.GatewayService.StreamJobEvents",
            concurrent_subscribers,
        )
        .checks(&["stream.identical_subscribers"]),
        Case::new(
            "events.resume_every_cursor",
            "StreamJobEvents after any cursor k yields exactly the events k+1..last; after the last of a terminal job it closes at once with no event",
            "dome.gateway.v1.StreamJobEventsRequest.after_sequence",
            resume_every_cursor,
        )
        .checks(&["cursor.exclusive", "stream.replay_then_live"]),
        Case::new(
            "events.live_follow_equals_replay",
            "the events a subscriber follows live are exactly those a replay from 0 returns after the job ended (same ids, sequences, payloads)",
            "dome.gateway.v1.GatewayService.StreamJobEvents; dome.gateway.v1.JobEvent.event_id",
            live_equals_replay,
        )
        .checks(&["event.id_stable", "stream.replay_then_live"]),
        Case::new(
            "events.drop_keeps_job",
            "dropping a stream never cancels the job; a resumed stream continues right after the last event seen",
            "dome.gateway.v1.GatewayService.StreamJobEvents",
            drop_keeps_job,
        )
        .checks(&["stream.drop_keeps_job"]),
        Case::new(
            "events.status_matches_log",
            "GetJobStatus of an ended job reads the terminal state, the terminal event's outcome and last_sequence equal to the log's length",
            "dome.gateway.v1.Job.last_sequence; dome.gateway.v1.Job.outcome",
            status_matches_log,
        )
        .checks(&["job.outcome_iff_terminal", "job.end_time", "job.last_sequence", "provenance.commands", "provenance.artifacts", "status.read_only"]),
    ]
}

async fn gapless(ctx: Ctx) -> CaseResult {
    ctx.property(
        arbitrary::finishing_script,
        |s| s.to_string(),
        |ctx, script| async move {
            let job = ctx.submit(&script).await?;
            ctx.finish(&job).await?;
            Ok(())
        },
    )
    .await
}

async fn closes_after_terminal(ctx: Ctx) -> CaseResult {
    let job = ctx.submit(&Script::new(vec![Step::Progress { percent: 100, message: None }])).await?;
    // `finish` fails when the stream stays open after the terminal event.
    let (events, _) = ctx.finish(&job).await?;
    let last = events.len() as u64;
    let mut stream = ctx.wire.stream(&job.facts.job_id, last).await?;
    match tokio::time::timeout(ctx.wire.close_grace, stream.next()).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(e))) => Err(crate::case::Stop::Fail(format!(
            "StreamJobEvents after the terminal job's last_sequence {last} sent event #{}; it must close with no event",
            e.sequence
        ))),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(crate::case::Stop::Fail(format!(
            "StreamJobEvents after the terminal job's last_sequence {last} stayed open for {} ms; it must close at once",
            ctx.wire.close_grace.as_millis()
        ))),
    }
}

fn busy_script() -> Script {
    Script::new(vec![
        Step::Sleep { millis: 30 },
        Step::Bulk { count: 40 },
        Step::Log { level: None, message: "half way".into() },
        Step::Sleep { millis: 10 },
        Step::Artifact { name: String::new(), uri: "file:///out".into(), sha256: None },
        Step::Progress { percent: 100, message: Some("done".into()) },
        Step::Succeed { output: Some(serde_json::json!({"ok": true})) },
    ])
}

async fn concurrent_subscribers(ctx: Ctx) -> CaseResult {
    let job = ctx.submit(&busy_script()).await?;
    let logs = join_all((0..4).map(|_| ctx.finish(&job))).await;
    let mut first: Option<Vec<pb::JobEvent>> = None;
    for (i, log) in logs.into_iter().enumerate() {
        let (events, _) = log?;
        match &first {
            None => first = Some(events),
            Some(f) => ensure!(
                *f == events,
                "subscriber #{} saw a different sequence than subscriber #1:\n{}\n--- versus ---\n{}",
                i + 1,
                model::render_log(&events),
                model::render_log(f)
            ),
        }
    }
    Ok(())
}

async fn resume_every_cursor(ctx: Ctx) -> CaseResult {
    let job = ctx
        .submit(&Script::new(vec![
            Step::Bulk { count: 12 },
            Step::Log { level: None, message: "x".into() },
            Step::Fail { reason_code: "EXEC.NONZERO_EXIT".into(), message: None, transient: None },
        ]))
        .await?;
    let (events, _) = ctx.finish(&job).await?;
    for k in 0..=events.len() {
        let tail = ctx.wire.collect(&job.facts.job_id, k as u64).await?;
        ensure!(
            tail[..] == events[k..],
            "StreamJobEvents after {k} gave {} events starting at {:?}; expected exactly events {}..={}:\n{}",
            tail.len(),
            tail.first().map(|e| e.sequence),
            k + 1,
            events.len(),
            model::render_log(&tail)
        );
    }
    Ok(())
}

async fn live_equals_replay(ctx: Ctx) -> CaseResult {
    let job = ctx.submit(&busy_script()).await?;
    let (live, _) = ctx.finish(&job).await?;
    let replay = ctx.wire.collect(&job.facts.job_id, 0).await?;
    ensure!(
        live == replay,
        "the live stream and the replay differ:\nlive:\n{}\nreplay:\n{}",
        model::render_log(&live),
        model::render_log(&replay)
    );
    Ok(())
}

async fn drop_keeps_job(ctx: Ctx) -> CaseResult {
    let mut job = ctx
        .submit(&Script::new(vec![
            Step::Progress { percent: 10, message: None },
            Step::Log { level: None, message: "parking".into() },
            Step::Park,
        ]))
        .await?;
    let seen = wait_for_log(&ctx, &job.facts.job_id).await?;
    // The stream is dropped here; the job must stay as it was.
    let status = ctx.wire.status(&job.facts.job_id, "").await?.job.unwrap_or_default();
    ensure!(
        status.state == JobState::Running as i32,
        "after its only stream was dropped the parked job is {}, expected still RUNNING",
        status.state
    );
    let mut resumed = ctx.wire.stream(&job.facts.job_id, seen.len() as u64 - 1).await?;
    let next = resumed.next().await?;
    ensure!(
        next.as_ref() == seen.last(),
        "resuming after {} gave {:?}, expected the last event seen again",
        seen.len() - 1,
        next.map(|e| e.sequence)
    );
    ctx.cancel(&mut job.facts, Some(JobState::Running)).await?;
    let mut rest = Vec::new();
    while let Some(e) = resumed.next().await? {
        rest.push(e);
    }
    let (events, _) = ctx.finish(&job).await?;
    ensure!(
        events[seen.len()..] == rest[..],
        "the resumed stream's events differ from the log's tail:\n{}",
        model::render_log(&rest)
    );
    Ok(())
}

async fn status_matches_log(ctx: Ctx) -> CaseResult {
    for script in [
        busy_script(),
        Script::new(vec![Step::Fail {
            reason_code: "VERIFY.TEST_FAILURE".into(),
            message: Some("1 failed".into()),
            transient: None,
        }]),
        parked("parking"),
    ] {
        let mut job = ctx.submit(&script).await?;
        if script.parks() {
            wait_for_log(&ctx, &job.facts.job_id).await?;
            ctx.cancel(&mut job.facts, Some(JobState::Running)).await?;
        }
        let (events, summary) = ctx.finish(&job).await?;
        let j = ctx.wire.status(&job.facts.job_id, "").await?.job.unwrap_or_default();
        model::check_job_shape(&j, &job.facts, "GetJobStatus")?;
        if summary.terminal != JobState::Cancelled {
            // One command per executed step: every step up to the one
            // that ended the job.
            let executed = script
                .steps
                .iter()
                .position(|s| matches!(s, Step::Succeed { .. } | Step::Fail { .. }))
                .map_or(script.steps.len(), |i| i + 1);
            let commands = j.provenance.as_ref().map_or(0, |p| p.commands.len());
            ensure!(
                commands == executed,
                "provenance.commands has {commands} entries; the job executed {executed} steps (one entry per executed step)"
            );
        }
        let produced: std::collections::HashMap<String, String> =
            j.outcome.iter().flat_map(|o| o.artifacts.iter().map(|a| (a.name.clone(), a.uri.clone()))).collect();
        let recorded = j.provenance.as_ref().map(|p| p.artifacts.clone()).unwrap_or_default();
        ensure!(recorded == produced, "provenance.artifacts {recorded:?}, but the job produced {produced:?}");
        let terminal_outcome = match events.last().and_then(|e| e.payload.clone()) {
            Some(pb::job_event::Payload::StateChanged(s)) => s.outcome,
            _ => None,
        };
        ensure!(
            j.state == summary.terminal as i32
                && j.last_sequence == events.len() as u64
                && j.outcome == terminal_outcome,
            "GetJobStatus reads state {} last_sequence {} outcome {:?}; the log ends {} at {} with outcome {:?}",
            j.state,
            j.last_sequence,
            j.outcome,
            summary.terminal.as_str_name(),
            events.len(),
            terminal_outcome
        );
    }
    Ok(())
}
