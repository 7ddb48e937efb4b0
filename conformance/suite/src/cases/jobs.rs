//! What a job keeps of its request (`SkillExecuteRequest`, `Job`,
//! `Provenance`): every value a request sets is read back; jobs that share
//! a run keep logs and decisions of their own; and the canonical form of
//! JSON compares numbers by value.

use std::collections::HashSet;

use dome_sdk::pb;

use crate::case::{Case, CaseResult, Ctx, Stop, Submitted};
use crate::ensure;
use crate::model::{self, JobFacts};
use crate::script::{Decision, GateStep, Script, Step};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "jobs.values_read_back",
            "the labels, idempotency key, base_ref and run_id a request sets are read back on the job, its provenance and its events",
            "dome.gateway.v1.SkillExecuteRequest; dome.gateway.v1.Job",
            values_read_back,
        )
        .checks(&[
            "execute.labels_stored",
            "job.labels",
            "job.idempotency_key",
            "execute.base_ref_recorded",
            "execute.run_joined",
            "execute.new_run",
            "job.id_unique",
            "ids.task_is_job",
        ]),
        Case::new(
            "jobs.shared_run",
            "three jobs of one run keep logs of their own (sequences from 1, no shared event) and decisions of their own: the gate decision by task is that task's, the run's is the one recorded last",
            "events.proto (one log per job); dome.gateway.v1.GetGateDecisionRequest.task_id",
            shared_run,
        )
        .checks(&[
            "log.per_job",
            "execute.run_joined",
            "decisions.gate_by_task",
            "decisions.gate_last_in_run",
            "decisions.gate_record_time",
            "decisions.promotion_record_time",
        ]),
        Case::new(
            "jobs.canonical_numbers",
            "numbers compare by value in canonical JSON: an output of 1.0 or 1e2 is written 1 or 100, inputs that differ only so hash alike and are one request for an idempotency key",
            "dome.gateway.v1.SkillExecuteRequest.input_json; dome.gateway.v1.JobOutcome.output_json",
            canonical_numbers,
        )
        .checks(&["json.canonical_numbers", "outcome.output_json", "provenance.input_sha256", "json.canonical_form"]),
    ]
}

fn job_of(resp: pb::SkillExecuteResponse) -> Result<pb::Job, Stop> {
    resp.job.ok_or_else(|| Stop::Fail("SkillExecute answered without a job".into()))
}

/// Submits `req` and follows the job to its end, checking its log against
/// the model; returns the job as `GetJobStatus` reads it then, and its log.
async fn run_to_end(
    ctx: &Ctx,
    req: pb::SkillExecuteRequest,
    script: &Script,
) -> Result<(pb::Job, Vec<pb::JobEvent>), Stop> {
    let job = job_of(ctx.execute(req.clone()).await?)?;
    let facts = JobFacts {
        job_id: job.job_id.clone(),
        run_id: job.run_id.clone(),
        correlation_id: req.correlation_id.clone(),
        effective_cancels: vec![],
        cancel_attempted: false,
    };
    let submitted = Submitted { facts: facts.clone(), job: job.clone(), prediction: model::predict(script) };
    let (events, _) = ctx.finish(&submitted).await?;
    let read = ctx.wire.status(&job.job_id, "").await?.job.unwrap_or_default();
    model::check_job_shape(&read, &facts, "GetJobStatus")?;
    Ok((read, events))
}

async fn values_read_back(ctx: Ctx) -> CaseResult {
    let script = Script::new(vec![Step::Log { level: None, message: "read back".into() }]);
    let first = ctx.submit(&script).await?;
    let mut req = ctx.request(&script, &ctx.correlation("values"));
    req.labels =
        [("team".to_string(), "conformance".to_string()), ("case.id".to_string(), "values-1".to_string())].into();
    req.idempotency_key = format!("values-{}-{:x}", &first.facts.job_id[4..16], ctx.seed);
    req.base_ref = "refs/heads/conformance".into();
    req.run_id = first.facts.run_id.clone();
    let (job, events) = run_to_end(&ctx, req.clone(), &script).await?;
    ensure!(job.labels == req.labels, "the job's labels are {:?}; the request set {:?}", job.labels, req.labels);
    ensure!(
        job.idempotency_key == req.idempotency_key,
        "the job's idempotency_key is {:?}; the request set {:?}",
        job.idempotency_key,
        req.idempotency_key
    );
    ensure!(
        first.job.idempotency_key.is_empty(),
        "a job submitted without a key reads idempotency_key {:?}",
        first.job.idempotency_key
    );
    let base_ref = job.provenance.as_ref().map(|p| p.base_ref.as_str()).unwrap_or("");
    ensure!(base_ref == req.base_ref, "provenance.base_ref is {base_ref:?}; the request set {:?}", req.base_ref);
    ensure!(job.run_id == req.run_id, "the job's run_id is {:?}; the request joined {:?}", job.run_id, req.run_id);
    ensure!(events.iter().all(|e| e.run_id == req.run_id), "an event of the job does not carry the run it joined");
    ensure!(job.job_id != first.facts.job_id, "two submissions share the job id {}", job.job_id);
    ensure!(job.task_id == job.job_id, "task_id {:?} is not the job id {:?}", job.task_id, job.job_id);
    // Without a run_id, each job starts a run of its own.
    let second = ctx.submit(&script).await?;
    ensure!(
        second.facts.run_id != first.facts.run_id,
        "two jobs submitted without a run_id share the run {}",
        first.facts.run_id
    );
    for j in [&first, &second] {
        ctx.finish(j).await?;
    }
    Ok(())
}

fn gate(status: Decision, code: &str) -> Step {
    Step::GateDecision(GateStep {
        status,
        reason_codes: vec![code.to_string()],
        substrate_status: None,
        confidence: None,
        risk_score: None,
        notes: vec![],
        telemetry: None,
    })
}

async fn shared_run(ctx: Ctx) -> CaseResult {
    let statuses = [
        (Decision::Approve, "POLICY.OK"),
        (Decision::Reject, "VERIFY.TEST_FAILURE"),
        (Decision::NeedsHuman, "POLICY.NEEDS_HUMAN"),
    ];
    let mut run_id = String::new();
    let mut jobs = Vec::new();
    let mut seen_ids = HashSet::new();
    for (status, code) in statuses {
        let script = Script::new(vec![Step::Bulk { count: 3 }, gate(status, code)]);
        let mut req = ctx.request(&script, &ctx.correlation("shared"));
        req.run_id = run_id.clone();
        let (job, events) = run_to_end(&ctx, req, &script).await?;
        if run_id.is_empty() {
            run_id = job.run_id.clone();
        }
        ensure!(job.run_id == run_id, "a job that joined the run {run_id} reads run {}", job.run_id);
        // One log per job: it starts at 1 and shares no event with the
        // other jobs of the run.
        ensure!(
            events.first().map(|e| e.sequence) == Some(1),
            "the log of {} does not start at sequence 1",
            job.job_id
        );
        for e in &events {
            ensure!(e.job_id == job.job_id, "the log of {} holds an event of {}", job.job_id, e.job_id);
            ensure!(
                seen_ids.insert(e.event_id.clone()),
                "the event id {} appears in the logs of two jobs of one run",
                e.event_id
            );
        }
        jobs.push((job.job_id.clone(), code));
    }
    for (job_id, code) in &jobs {
        let r = ctx
            .wire
            .gate(pb::GetGateDecisionRequest {
                correlation_id: String::new(),
                run_id: run_id.clone(),
                task_id: job_id.clone(),
            })
            .await?;
        let d = r.decision.unwrap_or_default();
        ensure!(
            d.task_id == *job_id && d.reason_codes == [code.to_string()],
            "GetGateDecision(run, task {job_id}) answered the decision of task {} with {:?}; the task recorded {code}",
            d.task_id,
            d.reason_codes
        );
        ensure!(d.record_time.is_some(), "the gate decision of {job_id} has no record_time");
    }
    let last = ctx
        .wire
        .gate(pb::GetGateDecisionRequest {
            correlation_id: String::new(),
            run_id: run_id.clone(),
            task_id: String::new(),
        })
        .await?;
    let d = last.decision.unwrap_or_default();
    let (last_job, _) = &jobs[jobs.len() - 1];
    ensure!(
        d.task_id == *last_job,
        "GetGateDecision of the run answered task {}'s decision; {last_job} recorded last",
        d.task_id
    );
    // A promotion decision in the shared run carries its record time too.
    let script = Script::new(vec![Step::PromotionDecision(crate::script::PromotionStep {
        decision: Decision::Approve,
        reason_codes: vec![],
        confidence: None,
        risk_score: None,
        notes: vec![],
        telemetry: None,
    })]);
    let mut req = ctx.request(&script, &ctx.correlation("shared"));
    req.run_id = run_id.clone();
    run_to_end(&ctx, req, &script).await?;
    let p = ctx.wire.promotion(pb::GetPromotionDecisionRequest { correlation_id: String::new(), run_id }).await?;
    ensure!(p.decision.and_then(|d| d.record_time).is_some(), "the promotion decision has no record_time");
    Ok(())
}

async fn canonical_numbers(ctx: Ctx) -> CaseResult {
    let key = format!("numbers-{:x}", ctx.seed);
    let mut hashes = Vec::new();
    // Inputs differing only in how a number is spelt: one request.
    for (i, spelling) in ["1", "1.0", "1e0", "10e-1"].iter().enumerate() {
        let input = format!(r#"{{"steps":[{{"succeed":{{"output":{{"n":{spelling},"m":[1e2,0.25]}}}}}}]}}"#);
        let mut req = ctx.request(&Script::default(), &ctx.correlation("numbers"));
        req.input_json = input.clone();
        req.idempotency_key = key.clone();
        let resp = ctx.execute(req).await?;
        ensure!(
            resp.created == (i == 0),
            "SkillExecute with input {input} and a reused key answered created {}; the inputs differ only in how 1 is written, so they are one request",
            resp.created
        );
        let job = job_of(resp)?;
        hashes.push(job.provenance.map(|p| p.input_sha256).unwrap_or_default());
    }
    ensure!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "inputs with one canonical form have different input_sha256 values: {hashes:?}"
    );
    // The output is written canonically: integers by value, keys sorted.
    let mut req = ctx.request(&Script::default(), &ctx.correlation("numbers"));
    req.input_json = r#"{"steps":[{"succeed":{"output":{"n":1.0,"m":[1e2,0.25,-3.0]}}}]}"#.into();
    let job = job_of(ctx.execute(req).await?)?;
    let end = crate::cases::await_end(&ctx, &job.job_id).await?;
    let outcome = end.outcome.unwrap_or_default();
    let want = r#"{"m":[100,0.25,-3],"n":1}"#;
    ensure!(
        outcome.output_json == want,
        "output_json is {:?}; the canonical form of the output is {want}",
        outcome.output_json
    );
    let other = r#"{"steps":[{"succeed":{"output":{"n":2,"m":[1e2,0.25]}}}]}"#.to_string();
    let mut req = ctx.request(&Script::default(), &ctx.correlation("numbers"));
    req.input_json = other;
    let job = job_of(ctx.execute(req).await?)?;
    let hash = job.provenance.map(|p| p.input_sha256).unwrap_or_default();
    ensure!(hash != hashes[0], "inputs with different values share input_sha256 {hash}");
    ensure!(model::is_terminal(pb::JobState::try_from(end.state).unwrap_or_default()), "the job did not end");
    Ok(())
}
