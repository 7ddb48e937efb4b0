//! Every contract-valid message the strategies generate projects onto
//! JSON its family accepts (the same property `cargo xtask ssot` checks,
//! here with a small case count so that `cargo test` catches a regression).

use dome_ssot::{Family, arbitrary, project, validate, validate_object};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn jobs_fit_work_queue(job in arbitrary::job()) {
        let value = project::project_job(&job);
        prop_assert_eq!(validate(Family::WorkQueue, &value), Ok(()), "{:#}", value);
    }

    #[test]
    fn outcomes_fit_task_result(outcome in arbitrary::job_outcome()) {
        let value = project::project_job_outcome(&outcome);
        prop_assert_eq!(validate(Family::TaskResult, &value), Ok(()), "{:#}", value);
    }

    #[test]
    fn decisions_fit_their_families(gate in arbitrary::gate_decision(), promotion in arbitrary::promotion_decision()) {
        let value = project::project_gate_decision(&gate);
        prop_assert_eq!(validate(Family::GateDecision, &value), Ok(()), "{:#}", value);
        let value = project::project_promotion_decision(&promotion);
        prop_assert_eq!(validate(Family::PromotionDecision, &value), Ok(()), "{:#}", value);
        let value = project::project_telemetry_ref(&arbitrary_telemetry(&gate));
        prop_assert_eq!(validate_object(Family::GateDecision, "telemetry_ref", &value), Ok(()));
    }

    #[test]
    fn provenance_fits_run_manifest(provenance in arbitrary::provenance()) {
        let value = project::project_provenance(&provenance);
        prop_assert_eq!(validate(Family::RunManifest, &value), Ok(()), "{:#}", value);
    }

    #[test]
    fn events_fit_event_envelope(event in arbitrary::job_event()) {
        let value = project::project_job_event(&event);
        prop_assert_eq!(validate(Family::EventEnvelope, &value), Ok(()), "{:#}", value);
    }
}

fn arbitrary_telemetry(gate: &dome_sdk::pb::GateDecision) -> dome_sdk::pb::TelemetryRef {
    gate.telemetry_ref.clone().unwrap_or_default()
}
