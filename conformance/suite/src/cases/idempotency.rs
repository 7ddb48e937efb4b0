//! Idempotent submission (`SkillExecuteRequest.idempotency_key` in
//! `jobs.proto`): duplicates, sequential or concurrent, return one job;
//! inputs are compared in canonical form. Conflicting reuse is checked by
//! `errors.idempotency_key_conflict`.

use futures_util::future::join_all;

use crate::case::{Case, CaseResult, Ctx};
use crate::ensure;
use crate::script::{Script, Step};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "idempotency.duplicate_returns_one_job",
            "a repeated SkillExecute with the same idempotency key and request returns the original job (created false) and creates nothing",
            "dome.gateway.v1.SkillExecuteRequest.idempotency_key; dome.gateway.v1.SkillExecuteResponse.created",
            duplicate,
        )
        .checks(&["idempotency.same_request_same_job", "execute.created_flag"]),
        Case::new(
            "idempotency.concurrent_duplicates",
            "concurrent duplicates of one idempotent SkillExecute create exactly one job, which every call returns",
            "dome.gateway.v1.SkillExecuteRequest.idempotency_key",
            concurrent,
        )
        .checks(&["idempotency.concurrent_one_job"]),
        Case::new(
            "idempotency.canonical_input",
            "two inputs with the same canonical JSON (key order, whitespace) are the same request for an idempotency key",
            "dome.gateway.v1.SkillExecuteRequest.input_json",
            canonical,
        )
        .checks(&["json.canonical_form"]),
    ]
}

fn key(ctx: &Ctx, what: &str) -> String {
    ctx.correlation(&format!("idem-{what}"))
}

fn script() -> Script {
    Script::new(vec![
        Step::Progress { percent: 50, message: Some("half".into()) },
        Step::Succeed { output: Some(serde_json::json!({"b": 1, "a": [1, 2]})) },
    ])
}

async fn duplicate(ctx: Ctx) -> CaseResult {
    let mut req = ctx.request(&script(), &ctx.correlation("first"));
    req.idempotency_key = key(&ctx, "dup");
    req.labels.insert("suite".into(), "conformance".into());
    let first = ctx.execute(req.clone()).await?;
    ensure!(first.created, "the first call with a new idempotency key answered created: false");
    let job = first.job.unwrap_or_default();
    ensure!(job.labels == req.labels, "the job's labels are {:?}, the request sent {:?}", job.labels, req.labels);
    ensure!(
        job.idempotency_key == req.idempotency_key,
        "the job's idempotency_key is {:?}, the request sent {:?}",
        job.idempotency_key,
        req.idempotency_key
    );
    for i in 0..2 {
        req.correlation_id = ctx.correlation("again");
        let again = ctx.execute(req.clone()).await?;
        let j = again.job.unwrap_or_default();
        ensure!(!again.created, "repeat #{} of an idempotent SkillExecute answered created: true", i + 1);
        ensure!(j.job_id == job.job_id, "repeat #{} returned job {}, the original is {}", i + 1, j.job_id, job.job_id);
        ensure!(
            again.correlation_id == req.correlation_id,
            "the repeat echoed correlation_id {:?}, it sent {:?}",
            again.correlation_id,
            req.correlation_id
        );
    }
    Ok(())
}

async fn concurrent(ctx: Ctx) -> CaseResult {
    let mut req = ctx.request(&script(), &ctx.correlation("burst"));
    req.idempotency_key = key(&ctx, "burst");
    let answers = join_all((0..8).map(|_| ctx.execute(req.clone()))).await;
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for a in answers {
        let a = a?;
        created += usize::from(a.created);
        ids.insert(a.job.map(|j| j.job_id).unwrap_or_default());
    }
    ensure!(created == 1, "{created} of 8 concurrent duplicates answered created: true; exactly one may");
    ensure!(ids.len() == 1, "8 concurrent duplicates returned {} different jobs: {ids:?}", ids.len());
    Ok(())
}

async fn canonical(ctx: Ctx) -> CaseResult {
    let mut req = ctx.request(&script(), &ctx.correlation("canon"));
    req.idempotency_key = key(&ctx, "canon");
    let first = ctx.execute(req.clone()).await?.job.unwrap_or_default();
    // The same JSON with keys in another order and other whitespace.
    let reordered = r#"{ "steps" : [ {"progress": {"percent": 50, "message": "half"}},
        {"succeed": {"output": {"b": 1, "a": [1, 2]}}} ] }"#;
    let same: serde_json::Value = serde_json::from_str(reordered).unwrap_or_default();
    ensure!(same == script().to_json(), "the suite's reordered input is not the same JSON (a bug in the suite)");
    req.input_json = reordered.into();
    let again = ctx.execute(req).await?;
    ensure!(
        !again.created && again.job.map(|j| j.job_id).unwrap_or_default() == first.job_id,
        "the same input, formatted differently, was treated as a different request"
    );
    Ok(())
}
