//! Random interleavings of submit, status, cancel, live-follow and
//! stream-and-resume calls across several jobs, some of them concurrent. Every answer is
//! checked against the model as it comes, and, once every job has ended,
//! against the job's complete log: each read's state must be the state
//! the log's prefix leads to, each streamed slice must be exactly that
//! slice of the log, and each cancel answer must agree with the one
//! cancel-requested event.

use std::sync::{Arc, Mutex};

use dome_sdk::pb::{self, JobState};
use futures_util::future::join_all;

use crate::arbitrary::{self, Op, Scenario};
use crate::case::{Case, CaseResult, Ctx, Stop, Submitted};
use crate::ensure;
use crate::model::{self, ReadHistory};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "scenario.interleavings",
            "under any interleaving of submit, status, cancel, live follows and resumed streams across jobs, every answer agrees with the model and with each job's final log",
            "dome.gateway.v1.GatewayService (every job RPC); events.proto; jobs.proto (JobState)",
            interleavings,
        )
        .checks(&["state.forward_only", "state.one_terminal", "status.last_sequence_covers_streamed", "execute.queued_on_return", "cancel.answer_state", "stream.replay_then_live", "stream.identical_subscribers"])
        .property(),
    ]
}

#[derive(Debug)]
struct Tracked {
    job: Submitted,
    reads: ReadHistory,
    slices: Vec<(u64, Vec<pb::JobEvent>)>,
    followers: Vec<tokio::task::JoinHandle<Result<Vec<pb::JobEvent>, crate::wire::RpcError>>>,
}

type Jobs = Arc<Mutex<Vec<Tracked>>>;

fn lock(jobs: &Jobs) -> Result<std::sync::MutexGuard<'_, Vec<Tracked>>, Stop> {
    jobs.lock().map_err(|_| Stop::Fail("the scenario's bookkeeping was poisoned by an earlier panic".into()))
}

async fn interleavings(ctx: Ctx) -> CaseResult {
    ctx.property(arbitrary::scenario, |s| s.to_string(), run).await
}

async fn run(ctx: Ctx, scenario: Scenario) -> CaseResult {
    let jobs: Jobs = Arc::default();
    for batch in &scenario.batches {
        let n = lock(&jobs)?.len();
        let calls = batch.iter().cloned().map(|op| {
            let (ctx, jobs) = (ctx.clone(), jobs.clone());
            async move { step(&ctx, &jobs, op, n).await }
        });
        for r in join_all(calls).await {
            r?;
        }
    }
    // End every job: cancel those that park (or all), then stream each to
    // its end and hold every earlier observation against the log.
    let count = lock(&jobs)?.len();
    for i in 0..count {
        let (parks, facts, before) = {
            let j = &lock(&jobs)?[i];
            (j.job.prediction.ending == model::Ending::Parks, j.job.facts.clone(), j.reads.state)
        };
        if scenario.cancel_all_at_end || parks {
            cancel(&ctx, &jobs, i, facts, before).await?;
        }
    }
    for i in 0..count {
        let job = lock(&jobs)?[i].job.clone();
        let (events, summary) = ctx.finish(&job).await.map_err(|e| label(e, i))?;
        let followers = std::mem::take(&mut lock(&jobs)?[i].followers);
        for (k, follower) in followers.into_iter().enumerate() {
            let followed = follower
                .await
                .map_err(|e| Stop::Fail(format!("job #{i}: follower #{k} failed: {e}")))?
                .map_err(|e| Stop::Fail(format!("job #{i}: follower #{k}: {e}")))?;
            ensure!(
                followed == events,
                "job #{i}: a subscriber following live saw\n{}\nbut the replay after the end is\n{}",
                model::render_log(&followed),
                model::render_log(&events)
            );
        }
        let guard = lock(&jobs)?;
        let tracked = &guard[i];
        tracked.reads.check_against(&summary).map_err(|v| label(v.into(), i))?;
        for (after, slice) in &tracked.slices {
            let from = *after as usize;
            let want = events.get(from..from + slice.len());
            ensure!(
                want == Some(&slice[..]),
                "job #{i}: streaming after {after} gave\n{}\nbut the log there holds\n{}",
                model::render_log(slice),
                model::render_log(want.unwrap_or_default())
            );
        }
    }
    Ok(())
}

fn label(stop: Stop, i: usize) -> Stop {
    match stop {
        Stop::Fail(m) => Stop::Fail(format!("job #{i}: {m}")),
        other => other,
    }
}

async fn cancel(ctx: &Ctx, jobs: &Jobs, i: usize, mut facts: model::JobFacts, before: Option<JobState>) -> CaseResult {
    let corr = ctx.correlation("cancel");
    {
        lock(jobs)?[i].job.facts.cancel_attempted = true;
    }
    facts.cancel_attempted = true;
    let began = lock(jobs)?[i].reads.begin();
    let resp = ctx.wire.cancel(&facts.job_id, &corr, "scenario").await?;
    let mut guard = lock(jobs)?;
    let tracked = &mut guard[i];
    let state = model::check_cancel_answer(&resp, before, &tracked.job.facts, &format!("job #{i}: CancelJob"))?;
    if resp.cancel_requested {
        tracked.job.facts.effective_cancels.push(corr);
    }
    let last = resp.job.map(|j| j.last_sequence).unwrap_or_default();
    tracked.reads.read_since(state, last, began, &format!("job #{i}: CancelJob's job"))?;
    Ok(())
}

async fn step(ctx: &Ctx, jobs: &Jobs, op: Op, n: usize) -> CaseResult {
    match op {
        Op::Submit(script) => {
            let job = ctx.submit(&script).await?;
            let mut reads = ReadHistory::default();
            reads.read(JobState::Queued, job.job.last_sequence, "SkillExecute's job")?;
            lock(jobs)?.push(Tracked { job, reads, slices: vec![], followers: vec![] });
            Ok(())
        }
        _ if n == 0 => Ok(()),
        Op::Status(j) => {
            let i = j % n;
            let (facts, began) = {
                let g = lock(jobs)?;
                (g[i].job.facts.clone(), g[i].reads.begin())
            };
            let resp = ctx.wire.status(&facts.job_id, "").await?;
            let Some(job) = resp.job else {
                return Err(Stop::Fail(format!("job #{i}: GetJobStatus answered without a job")));
            };
            let what = format!("job #{i}: GetJobStatus");
            let state = model::check_job_shape(&job, &facts, &what)?;
            lock(jobs)?[i].reads.read_since(state, job.last_sequence, began, &what)?;
            Ok(())
        }
        Op::Follow(j) => {
            let i = j % n;
            let job_id = lock(jobs)?[i].job.facts.job_id.clone();
            let wire = ctx.wire.clone();
            let follower = tokio::spawn(async move { wire.follow(&job_id, 0).await });
            lock(jobs)?[i].followers.push(follower);
            Ok(())
        }
        Op::Cancel(j) => {
            let i = j % n;
            let (facts, before) = {
                let g = lock(jobs)?;
                (g[i].job.facts.clone(), g[i].reads.state)
            };
            cancel(ctx, jobs, i, facts, before).await
        }
        Op::Slice { job: j, cursor_per_255, take } => {
            let i = j % n;
            let (facts, began) = {
                let g = lock(jobs)?;
                (g[i].job.facts.clone(), g[i].reads.begin())
            };
            let head = ctx.wire.status(&facts.job_id, "").await?.job.unwrap_or_default();
            let what = format!("job #{i}: GetJobStatus");
            let state = model::check_job_shape(&head, &facts, &what)?;
            lock(jobs)?[i].reads.read_since(state, head.last_sequence, began, &what)?;
            let last = head.last_sequence;
            let after = last * u64::from(cursor_per_255) / 255;
            let want = u64::from(take).min(last - after) as usize;
            if want == 0 {
                // Nothing to read yet: a stream at the head of a job that
                // has not ended would wait for an event no call of the
                // scenario may ever cause (a server may hold the stream's
                // headers until then), so none is opened.
                return Ok(());
            }
            let mut stream = ctx.wire.stream(&facts.job_id, after).await?;
            let mut slice = Vec::new();
            while slice.len() < want {
                match stream.next().await? {
                    Some(e) => slice.push(e),
                    None => {
                        return Err(Stop::Fail(format!(
                            "job #{i}: streaming after {after} closed after {} events, but last_sequence was {last}",
                            slice.len()
                        )));
                    }
                }
            }
            drop(stream);
            for (k, e) in slice.iter().enumerate() {
                ensure!(
                    e.sequence == after + 1 + k as u64,
                    "job #{i}: streaming after {after}, event {} has sequence {}, expected {}",
                    k + 1,
                    e.sequence,
                    after + 1 + k as u64
                );
            }
            let mut g = lock(jobs)?;
            g[i].reads.streamed(after + want as u64);
            g[i].slices.push((after, slice));
            Ok(())
        }
    }
}
