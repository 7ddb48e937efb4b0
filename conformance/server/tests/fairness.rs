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
    let mut jobs = Vec::new();
    for _ in 0..64 {
        let job = h.submit_request(common::script(json!([{ "bulk": { "count": BULK } }, { "park": {} }]))).await;
        jobs.push(job.job_id);
    }
    let caps = h
        .client
        .list_capabilities(pb::ListCapabilitiesRequest::default())
        .await
        .expect("ListCapabilities is answered")
        .into_inner();
    assert!(caps.limits.is_some());
    // The latest sequence of each job only grows: read after the answer,
    // it bounds what the job had appended when the call was answered.
    let mut heads = Vec::new();
    for job_id in &jobs {
        let job = h
            .client
            .get_job_status(pb::GetJobStatusRequest { job_id: job_id.clone(), ..Default::default() })
            .await
            .expect("GetJobStatus")
            .into_inner()
            .job
            .expect("a job");
        heads.push(job.last_sequence);
    }
    // QUEUED and RUNNING come before the bulk's events.
    let finished = heads.iter().filter(|h| **h >= BULK + 2).count();
    assert_eq!(finished, 0, "jobs had finished their bulk step before the call was answered: {heads:?}");
    for job_id in jobs {
        h.client.cancel_job(pb::CancelJobRequest { job_id, ..Default::default() }).await.expect("CancelJob");
    }
    h.running.shutdown().await.expect("shutdown");
}
