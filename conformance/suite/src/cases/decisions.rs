//! Decisions (`decisions.proto`): what a job records is returned as
//! recorded, and a `REJECT` is data in an OK response, never an error.

use dome_sdk::pb;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::arbitrary;
use crate::case::{Case, CaseResult, Ctx, Stop};
use crate::ensure;
use crate::model;
use crate::script::{Decision, GateStep, PromotionStep, Script, Step, Telemetry};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "decisions.reject_is_ok",
            "a recorded REJECT gate or promotion decision is read with OK, its reason codes as data",
            "dome.gateway.v1.GatewayService.GetGateDecision; dome.gateway.v1.GatewayService.GetPromotionDecision",
            reject_is_ok,
        )
        .checks(&["decisions.gate_reject_is_ok", "decisions.promotion_reject_is_ok", "errors.policy_codes_are_data"]),
        Case::new(
            "decisions.returned_as_recorded",
            "the gate decision of a run's task, the run's last gate decision and its last promotion decision are returned exactly as the job recorded them",
            "dome.gateway.v1.GetGateDecisionRequest.task_id; dome.gateway.v1.GetPromotionDecisionResponse.decision",
            returned_as_recorded,
        )
        .checks(&["decisions.as_recorded", "decisions.gate_by_task", "decisions.gate_last_in_run", "decisions.promotion_last", "script.gate_decision", "script.promotion_decision"])
        .property(),
    ]
}

async fn reject_is_ok(ctx: Ctx) -> CaseResult {
    let telemetry = Some(Telemetry {
        trace_id_hex: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id_hex: "b7ad6b7169203331".into(),
    });
    let gate = GateStep {
        status: Decision::Reject,
        reason_codes: vec!["VERIFY.TEST_FAILURE".into(), "POLICY.NEEDS_HUMAN".into()],
        substrate_status: None,
        confidence: Some(0.75),
        risk_score: Some(80),
        notes: vec!["2 tests failed".into()],
        telemetry: telemetry.clone(),
    };
    let promotion = PromotionStep {
        decision: Decision::Reject,
        reason_codes: vec!["VERIFY.TEST_FAILURE".into()],
        confidence: Some(0.5),
        risk_score: Some(90),
        notes: vec![],
        telemetry,
    };
    let job = ctx
        .submit(&Script::new(vec![Step::GateDecision(gate.clone()), Step::PromotionDecision(promotion.clone())]))
        .await?;
    ctx.finish(&job).await?;
    check_reads(&ctx, &job.facts, Some(&gate), Some(&promotion)).await
}

async fn check_reads(
    ctx: &Ctx,
    facts: &model::JobFacts,
    gate: Option<&GateStep>,
    promotion: Option<&PromotionStep>,
) -> CaseResult {
    for task in [String::new(), facts.job_id.clone()] {
        let corr = ctx.correlation("gate");
        let r = ctx
            .wire
            .gate(pb::GetGateDecisionRequest {
                correlation_id: corr.clone(),
                run_id: facts.run_id.clone(),
                task_id: task.clone(),
            })
            .await;
        let what = format!("GetGateDecision(task {task:?})");
        match (gate, r) {
            (Some(want), Ok(resp)) => {
                ensure!(resp.correlation_id == corr, "{what} echoed correlation_id {:?}", resp.correlation_id);
                let Some(got) = resp.decision else {
                    return Err(Stop::Fail(format!("{what} answered without a decision")));
                };
                model::check_gate(&got, want, facts, &what)?;
                ensure!(got.record_time.is_some(), "{what}: record_time is unset");
            }
            (Some(_), Err(e)) => return Err(Stop::Fail(format!("{what} of a recorded decision failed: {e}"))),
            (None, r) => {
                super::expect_error(r, "DECISION_NOT_FOUND", Some(&corr), &what)?;
            }
        }
    }
    let corr = ctx.correlation("promotion");
    let r = ctx
        .wire
        .promotion(pb::GetPromotionDecisionRequest { correlation_id: corr.clone(), run_id: facts.run_id.clone() })
        .await;
    match (promotion, r) {
        (Some(want), Ok(resp)) => {
            let Some(got) = resp.decision else {
                return Err(Stop::Fail("GetPromotionDecision answered without a decision".into()));
            };
            model::check_promotion(&got, want, facts, "GetPromotionDecision")?;
        }
        (Some(_), Err(e)) => {
            return Err(Stop::Fail(format!("GetPromotionDecision of a recorded decision failed: {e}")));
        }
        (None, r) => {
            super::expect_error(r, "DECISION_NOT_FOUND", Some(&corr), "GetPromotionDecision")?;
        }
    }
    Ok(())
}

fn decision_script() -> impl Strategy<Value = Script> {
    vec(
        prop_oneof![
            arbitrary::gate_step().prop_map(Step::GateDecision),
            arbitrary::promotion_step().prop_map(Step::PromotionDecision),
            arbitrary::plain_step(),
        ],
        0..6,
    )
    .prop_map(Script::new)
}

async fn returned_as_recorded(ctx: Ctx) -> CaseResult {
    ctx.property(
        decision_script,
        |s| s.to_string(),
        |ctx, script| async move {
            let job = ctx.submit(&script).await?;
            ctx.finish(&job).await?;
            let gate =
                script.steps.iter().rev().find_map(|s| if let Step::GateDecision(g) = s { Some(g) } else { None });
            let promotion =
                script.steps.iter().rev().find_map(|s| if let Step::PromotionDecision(p) = s { Some(p) } else { None });
            check_reads(&ctx, &job.facts, gate, promotion).await
        },
    )
    .await
}
