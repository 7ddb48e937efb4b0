//! The catalogue: every case the suite runs, grouped by the part of the
//! contract it checks. Ids are stable (`group.name`); reports, filters and
//! known-failure lists refer to them.

mod cancel;
mod capabilities;
mod cursors;
mod decisions;
mod errors;
mod events;
mod health;
mod idempotency;
mod jobs;
mod retention;
mod scenario;
mod ssot;

use dome_sdk::pb;

use crate::case::{Case, Ctx, Stop};
use crate::script::{Script, Step};
use crate::wire::RpcError;

/// Every case, in catalogue order.
pub fn catalogue() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(capabilities::cases());
    all.extend(errors::cases());
    all.extend(cancel::cases());
    all.extend(events::cases());
    all.extend(cursors::cases());
    all.extend(idempotency::cases());
    all.extend(decisions::cases());
    all.extend(ssot::cases());
    all.extend(jobs::cases());
    all.extend(retention::cases());
    all.extend(health::cases());
    all.extend(scenario::cases());
    all
}

/// Expects `result` to be the error `reason`, well formed; returns what it
/// carried.
pub(crate) fn expect_error<T: std::fmt::Debug>(
    result: Result<T, RpcError>,
    reason: &str,
    correlation_id: Option<&str>,
    call: &str,
) -> Result<crate::wire::ErrorSeen, Stop> {
    match result {
        Ok(v) => Err(Stop::Fail(format!("{call} answered OK ({v:?}); expected the error {reason}"))),
        Err(RpcError::Timeout { .. }) => Err(Stop::Fail(format!("{call} timed out; expected the error {reason}"))),
        Err(RpcError::Status(s)) => {
            crate::wire::check_error(&s, reason, correlation_id).map_err(|m| Stop::Fail(format!("{call}: {m}")))
        }
    }
}

/// Opens `StreamJobEvents` expecting an error, whether the server fails
/// the call itself or the stream's first read.
pub(crate) async fn stream_error(ctx: &Ctx, job_id: &str, after: u64) -> Result<RpcError, Stop> {
    match ctx.wire.stream(job_id, after).await {
        Err(e) => Ok(e),
        Ok(mut s) => match s.next().await {
            Err(e) => Ok(e),
            Ok(Some(ev)) => Err(Stop::Fail(format!(
                "StreamJobEvents(after_sequence {after}) sent event #{} instead of failing",
                ev.sequence
            ))),
            Ok(None) => {
                Err(Stop::Fail(format!("StreamJobEvents(after_sequence {after}) closed with OK instead of failing")))
            }
        },
    }
}

/// Follows a job to its end (its stream from 0 closes only after the
/// terminal event), then reads it.
pub(crate) async fn await_end(ctx: &Ctx, job_id: &str) -> Result<pb::Job, Stop> {
    ctx.wire.collect(job_id, 0).await?;
    Ok(ctx.wire.status(job_id, "").await?.job.unwrap_or_default())
}

/// A script that logs once and parks.
pub(crate) fn parked(message: &str) -> Script {
    Script::new(vec![Step::Log { level: None, message: message.into() }, Step::Park])
}

/// Streams a job until its first log event (so that it is known to be
/// running the step after it), returning the events up to it.
pub(crate) async fn wait_for_log(ctx: &Ctx, job_id: &str) -> Result<Vec<pb::JobEvent>, Stop> {
    let mut stream = ctx.wire.stream(job_id, 0).await?;
    let mut events = Vec::new();
    loop {
        match stream.next().await? {
            Some(e) => {
                let is_log = matches!(e.payload, Some(pb::job_event::Payload::Log(_)));
                events.push(e);
                if is_log {
                    return Ok(events);
                }
            }
            None => {
                return Err(Stop::Fail(format!(
                    "the stream of {job_id} closed before the job's first log event:\n{}",
                    crate::model::render_log(&events)
                )));
            }
        }
    }
}
