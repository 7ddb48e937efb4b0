//! The cursor of `StreamJobEvents` at every position relative to the
//! head and to the first retained event, on jobs that have not ended and
//! on ended ones (`StreamJobEventsRequest.after_sequence`). No case here
//! waits on a clock: a stream at the head of a live job is shown to
//! deliver exactly the next event once the suite makes one happen.

use dome_sdk::pb;
use proptest::prelude::*;

use super::{expect_error, stream_error, wait_for_log};
use crate::case::{Case, CaseResult, Ctx, Stop};
use crate::ensure;
use crate::script::{Script, Step};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "cursors.every_position",
            "on a live and then an ended job, a cursor below the head streams exactly the events after it, at the head of a live job waits for the next event, at the head of an ended job closes at once, past the head is CURSOR_AHEAD_OF_HEAD",
            "dome.gateway.v1.StreamJobEventsRequest.after_sequence",
            every_position,
        )
        .checks(&["cursor.exclusive", "cursor.at_live_head", "cursor.at_terminal_head", "cursor.ahead_of_head", "stream.replay_then_live"])
        .property(),
        Case::new(
            "cursors.first_retained",
            "once a job's first events left retention, a cursor at the first retained sequence minus one streams from the first retained event, one lower is CURSOR_EXPIRED",
            "dome.gateway.v1.StreamJobEventsRequest.after_sequence; dome.gateway.v1.ServerLimits.max_events_retained_per_job",
            first_retained,
        )
        .checks(&["cursor.expired", "limits.events_retained", "limits.replay_never_lags"]),
    ]
}

/// A cursor position relative to a job's head.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// 0: the whole log.
    Zero,
    /// Somewhere below the head, as a fraction of it (per 255).
    Below(u8),
    /// The head minus one.
    JustBelow,
    /// The head.
    Head,
    /// Past the head by this much.
    Ahead(u8),
}

fn cursor(p: Position, head: u64) -> u64 {
    match p {
        Position::Zero => 0,
        Position::Below(f) => head.saturating_sub(1) * u64::from(f) / 255,
        Position::JustBelow => head - 1,
        Position::Head => head,
        Position::Ahead(k) => head + u64::from(k.max(1)),
    }
}

fn positions() -> impl Strategy<Value = (u32, Vec<Position>)> {
    let position = prop_oneof![
        Just(Position::Zero),
        any::<u8>().prop_map(Position::Below),
        Just(Position::JustBelow),
        Just(Position::Head),
        (1u8..=5).prop_map(Position::Ahead),
    ];
    (0u32..24, proptest::collection::vec(position, 1..6))
}

fn render(v: &(u32, Vec<Position>)) -> String {
    format!("a job of {} bulk progress events, then parked; cursors {:?} on it live, then ended", v.0, v.1)
}

async fn every_position(ctx: Ctx) -> CaseResult {
    ctx.property(positions, render, check_positions).await
}

async fn check_positions(ctx: Ctx, (bulk, positions): (u32, Vec<Position>)) -> CaseResult {
    let mut steps = Vec::new();
    if bulk > 0 {
        steps.push(Step::Bulk { count: bulk });
    }
    steps.push(Step::Log { level: None, message: "at the head".into() });
    steps.push(Step::Park);
    let mut job = ctx.submit(&Script::new(steps)).await?;
    let job_id = job.facts.job_id.clone();
    // Parked after its log event: the head stays put until the cancel.
    let live = wait_for_log(&ctx, &job_id).await?;
    let head = live.len() as u64;
    let read = ctx.wire.status(&job_id, "").await?.job.unwrap_or_default();
    ensure!(
        read.last_sequence == head,
        "the parked job reads last_sequence {}, but its log holds {head} events",
        read.last_sequence
    );
    let mut at_head = Vec::new();
    for &p in &positions {
        let after = cursor(p, head);
        if after < head {
            let mut s = ctx.wire.stream(&job_id, after).await?;
            let mut got = Vec::new();
            while (got.len() as u64) < head - after {
                match s.next().await? {
                    Some(e) => got.push(e),
                    None => {
                        return Err(Stop::Fail(format!(
                            "streaming the live job after {after} closed after {} events",
                            got.len()
                        )));
                    }
                }
            }
            ensure!(
                got[..] == live[after as usize..],
                "streaming the live job after {after} gave sequences {:?}; expected exactly {}..={head}",
                got.iter().map(|e| e.sequence).collect::<Vec<_>>(),
                after + 1
            );
        } else if after == head {
            // Waits for the next event, which only the cancel below makes
            // happen; it is the same event whether the request reaches the
            // server before or after the cancel.
            let wire = ctx.wire.clone();
            let id = job_id.clone();
            at_head.push(tokio::spawn(async move { wire.first_event_after(&id, after).await }));
        } else {
            ahead(&ctx, &job_id, after, head).await?;
        }
    }
    // The next event: each stream opened at the head delivers exactly it.
    ctx.cancel(&mut job.facts, Some(pb::JobState::Running)).await?;
    let (log, _) = ctx.finish(&job).await?;
    for first in at_head {
        let next = first.await.map_err(|e| Stop::Fail(format!("a stream at the head failed: {e}")))??;
        ensure!(
            next.as_ref() == log.get(head as usize),
            "a stream opened at the live head {head} delivered {:?} first; expected event {} once it was appended",
            next.map(|e| e.sequence),
            head + 1
        );
    }
    // The same positions on the ended job.
    let last = log.len() as u64;
    for &p in &positions {
        let after = cursor(p, last);
        if after <= last {
            let tail = ctx.wire.collect(&job_id, after).await?;
            ensure!(
                tail[..] == log[after as usize..],
                "streaming the ended job after {after} gave {} events; expected exactly {}..={last} and then the close",
                tail.len(),
                after + 1
            );
        } else {
            ahead(&ctx, &job_id, after, last).await?;
        }
    }
    Ok(())
}

async fn ahead(ctx: &Ctx, job_id: &str, after: u64, head: u64) -> CaseResult {
    let e = stream_error(ctx, job_id, after).await?;
    let seen = expect_error::<()>(
        Err(e),
        "CURSOR_AHEAD_OF_HEAD",
        None,
        &format!("StreamJobEvents after {after}, past the head {head}"),
    )?;
    let last = seen.metadata.get("lastSequence").map(String::as_str).unwrap_or("");
    ensure!(last == head.to_string(), "CURSOR_AHEAD_OF_HEAD names lastSequence {last:?}; the head is {head}");
    Ok(())
}

async fn first_retained(ctx: Ctx) -> CaseResult {
    let retained = ctx.limits().max_events_retained_per_job;
    if retained == 0 {
        return Err(Stop::Skip(
            "the server advertises no max_events_retained_per_job, so every event stays retained".into(),
        ));
    }
    if retained > 20_000 {
        return Err(Stop::Skip(format!(
            "max_events_retained_per_job is {retained}; overflowing it takes more events than this suite emits in one case (at most 20000)"
        )));
    }
    let job = ctx.submit(&Script::new(vec![Step::Bulk { count: (retained + 20) as u32 }])).await?;
    let job_id = job.facts.job_id.clone();
    // The job ends; its last sequence is fixed from then on.
    let end = super::errors::await_end(&ctx, &job_id).await?;
    let e = stream_error(&ctx, &job_id, 0).await?;
    let seen = expect_error::<()>(
        Err(e),
        "CURSOR_EXPIRED",
        None,
        "StreamJobEvents from 0 after the first events left retention",
    )?;
    let first: u64 = seen.metadata.get("firstRetainedSequence").and_then(|v| v.parse().ok()).unwrap_or(0);
    ensure!(first >= 2 && first <= end, "firstRetainedSequence {first} is not within 2..={end}");
    // One below the edge is expired, the edge itself is valid.
    if first >= 3 {
        let e = stream_error(&ctx, &job_id, first - 2).await?;
        expect_error::<()>(
            Err(e),
            "CURSOR_EXPIRED",
            None,
            &format!("StreamJobEvents after {}, two below the first retained {first}", first - 2),
        )?;
    }
    let tail = ctx.wire.collect(&job_id, first - 1).await?;
    ensure!(
        tail.first().map(|e| e.sequence) == Some(first) && tail.len() as u64 == end - first + 1,
        "streaming after firstRetainedSequence - 1 = {} gave {} events from {:?}; expected {first}..={end}, every retained event (a replay never lags)",
        first - 1,
        tail.len(),
        tail.first().map(|e| e.sequence)
    );
    let tail = ctx.wire.collect(&job_id, first).await?;
    ensure!(
        tail.first().map(|e| e.sequence) == Some(first + 1),
        "streaming after {first} did not start at {}",
        first + 1
    );
    Ok(())
}
