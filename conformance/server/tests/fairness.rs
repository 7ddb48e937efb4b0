//! Fair scheduling: jobs appending as fast as they can never hold the
//! runtime's threads, so other calls are answered while they run.

use crate::common;

use dome_sdk::pb;
use serde_json::json;

/// The events each job's `bulk` step appends (the most a step may).
const BULK: u64 = 100_000;

/// On a runtime with two threads, 64 jobs of maximal `bulk` steps are
/// started, then `ListCapabilities` is called. It is answered while they
/// run: read after the answer, no job has appended its whole `bulk` yet.
/// A job that kept its thread until its step ended would have let the
/// call through only after at least one job had finished its step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_while_64_bulk_jobs_run() {
    let mut h = common::start().await;
    let mut submits = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let mut client = h.client.clone();
        submits.spawn(async move {
            let request = common::script(json!([{ "bulk": { "count": BULK } }, { "park": {} }]));
            client.skill_execute(request).await.expect("SkillExecute").into_inner().job.expect("a job").job_id
        });
    }
    let jobs = submits.join_all().await;
    let caps = h
        .client
        .list_capabilities(pb::ListCapabilitiesRequest::default())
        .await
        .expect("ListCapabilities is answered")
        .into_inner();
    assert!(caps.limits.is_some());
    // The latest sequence of each job only grows: read after the answer,
    // it bounds what the job had appended when the call was answered.
    // Read side by side: one after another, each would wait its turn
    // behind the bulk jobs on the two threads, and the reads alone would
    // take seconds on a debug build.
    let mut reads = tokio::task::JoinSet::new();
    for job_id in jobs.clone() {
        let mut client = h.client.clone();
        reads.spawn(async move {
            let request = pb::GetJobStatusRequest { job_id, ..Default::default() };
            let job = client.get_job_status(request).await.expect("GetJobStatus").into_inner().job;
            job.expect("a job").last_sequence
        });
    }
    let heads = reads.join_all().await;
    assert_eq!(heads.len(), 64, "every job was read");
    // QUEUED and RUNNING come before the bulk's events.
    let finished = heads.iter().filter(|h| **h >= BULK + 2).count();
    assert_eq!(finished, 0, "jobs had finished their bulk step before the call was answered: {heads:?}");
    let mut cancels = tokio::task::JoinSet::new();
    for job_id in jobs {
        let mut client = h.client.clone();
        cancels.spawn(async move {
            client.cancel_job(pb::CancelJobRequest { job_id, ..Default::default() }).await.expect("CancelJob");
        });
    }
    cancels.join_all().await;
    h.running.shutdown().await.expect("shutdown");
}
