//! The embedded family schemas: each compiles, with every object it
//! defines, and carries its version; the families' names match the
//! contract's enum; an object a family does not define is a violation.

use dome_ssot::{Family, compile_problems, schema_text, schema_version, validate_object};
use serde_json::{Value, json};

#[test]
fn every_schema_compiles_with_its_objects() {
    // Each family's root and each object under its `$defs`.
    let problems = compile_problems();
    assert!(problems.is_empty(), "the embedded schemas do not compile: {problems:?}");
    for family in Family::ALL {
        assert_eq!(schema_version(family), "1.0.0", "{family} has no schema version");
        let schema: Value = serde_json::from_str(schema_text(family)).unwrap();
        assert_eq!(schema["title"], family.name());
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    }
}

#[test]
fn family_names_round_trip_through_the_contract_enum() {
    for family in Family::ALL {
        assert_eq!(Family::from_name(family.name()), Some(family));
        assert_eq!(Family::from_pb(family.to_pb()), Some(family));
        // The contract's value names end with the family's dotted name
        // in upper snake case (`SSOT_FAMILY_WORK_QUEUE`).
        let upper = family.name().replace('.', "_").to_uppercase();
        assert!(family.to_pb().as_str_name().ends_with(&upper), "{family}");
    }
    assert_eq!(Family::from_pb(dome_sdk::pb::SsotFamily::Unspecified), None);
    assert_eq!(Family::from_name("work_queue"), None);
}

#[test]
fn an_object_a_family_does_not_define_is_a_violation() {
    let value = json!({ "trace_id_hex": "0".repeat(32), "span_id_hex": "0".repeat(16) });
    assert_eq!(validate_object(Family::GateDecision, "telemetry_ref", &value), Ok(()));
    assert_eq!(validate_object(Family::PromotionDecision, "telemetry_ref", &value), Ok(()));
    let errors = validate_object(Family::TaskResult, "telemetry_ref", &value).unwrap_err();
    assert!(errors[0].message.contains("defines no object `telemetry_ref`"), "{errors:?}");
    let bad = json!({ "trace_id_hex": "0".repeat(31), "span_id_hex": "0".repeat(16) });
    let errors = validate_object(Family::GateDecision, "telemetry_ref", &bad).unwrap_err();
    assert_eq!(errors[0].instance_path, "/trace_id_hex", "{errors:?}");
}
