//! SSOT alignment (`(ssot)` options in `options.proto`): every payload a
//! server sends that carries an SSOT family validates against that
//! family's schema once projected, using `dome-ssot`'s one projection.

use dome_sdk::pb;
use dome_ssot::Family;

use crate::arbitrary;
use crate::case::{Case, CaseResult, Ctx, Stop};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "ssot.payloads_validate",
            "every Job, JobOutcome, Provenance, JobEvent, GateDecision and PromotionDecision a server sends validates against its SSOT family once projected",
            "dome.gateway.v1.SsotMapping (the (ssot) option of each mapped message)",
            payloads_validate,
        )
        .checks(&["ssot.projections_validate"])
        .property(),
    ]
}

fn check(family: Family, value: serde_json::Value, what: &str) -> Result<(), Stop> {
    dome_ssot::validate(family, &value).map_err(|violations| {
        let listed: Vec<String> =
            violations.iter().map(|v| format!("{} ({}): {}", v.instance_path, v.schema_path, v.message)).collect();
        Stop::Fail(format!(
            "{what} does not validate against {}: {}\nprojected: {value}",
            family.name(),
            listed.join("; ")
        ))
    })
}

async fn payloads_validate(ctx: Ctx) -> CaseResult {
    ctx.property(
        arbitrary::finishing_script,
        |s| s.to_string(),
        |ctx, script| async move {
            let job = ctx.submit(&script).await?;
            check(Family::WorkQueue, dome_ssot::project_job(&job.job), "the job SkillExecute returned")?;
            let (events, _) = ctx.finish(&job).await?;
            for e in &events {
                let what = format!("event #{}", e.sequence);
                check(Family::EventEnvelope, dome_ssot::project_job_event(e), &what)?;
                match &e.payload {
                    Some(pb::job_event::Payload::GateDecisionRecorded(g)) => {
                        check(Family::GateDecision, dome_ssot::project_gate_decision(g), &what)?
                    }
                    Some(pb::job_event::Payload::PromotionDecisionRecorded(p)) => {
                        check(Family::PromotionDecision, dome_ssot::project_promotion_decision(p), &what)?
                    }
                    _ => {}
                }
            }
            let status = ctx.wire.status(&job.facts.job_id, "").await?.job.unwrap_or_default();
            check(Family::WorkQueue, dome_ssot::project_job(&status), "the ended job")?;
            if let Some(o) = &status.outcome {
                check(Family::TaskResult, dome_ssot::project_job_outcome(o), "the job's outcome")?;
            }
            if let Some(p) = &status.provenance {
                check(Family::RunManifest, dome_ssot::project_provenance(p), "the job's provenance")?;
            }
            Ok(())
        },
    )
    .await
}
