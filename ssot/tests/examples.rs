//! The committed examples under `ssot/examples/` validate against their
//! family schemas, and copies broken in a targeted way do not.

use dome_ssot::{Family, schema_text, validate};
use serde_json::{Value, json};

fn example(family: Family) -> Value {
    let path = format!("{}/examples/{}.example.json", env!("CARGO_MANIFEST_DIR"), family.name());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read `{path}`: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("`{path}` is not JSON: {e}"))
}

fn schema(family: Family) -> Value {
    serde_json::from_str(schema_text(family)).unwrap()
}

/// Sets the value at a JSON Pointer that exists in the example.
fn set(value: &mut Value, pointer: &str, to: Value) {
    *value.pointer_mut(pointer).unwrap_or_else(|| panic!("no `{pointer}` in the example")) = to;
}

#[test]
fn every_example_validates() {
    for family in Family::ALL {
        assert_eq!(validate(family, &example(family)), Ok(()), "{family} example");
    }
}

/// One mutation per family that breaks a constraint the facts state, and
/// the schema keyword expected to catch it.
#[test]
fn targeted_breakage_is_rejected_where_it_is() {
    let cases: &[(Family, &str, Value, &str)] = &[
        (Family::WorkQueue, "/max_workers", json!(0), "/max_workers"),
        (Family::WorkQueue, "/tasks/0/status", json!("FAILED"), "/tasks/0/status"),
        (Family::WorkQueue, "/run_id", json!(""), "/run_id"),
        (Family::TaskResult, "/status", json!("DONE"), "/status"),
        (Family::TaskResult, "/reason_code", json!("exec.nonzero_exit"), "/reason_code"),
        (Family::TaskResult, "/attempt", json!(0), "/attempt"),
        (
            Family::GateDecision,
            "/telemetry_ref/trace_id_hex",
            json!("4BF92F3577B34DA6A3CE929D0E0E4736"),
            "/telemetry_ref/trace_id_hex",
        ),
        (Family::GateDecision, "/reason_codes/0", json!("VERIFY"), "/reason_codes/0"),
        (Family::GateDecision, "/substrate_status", json!("APPROVE"), "/substrate_status"),
        (Family::GateDecision, "/risk_score", json!(101), "/risk_score"),
        (Family::PromotionDecision, "/confidence", json!(1.5), "/confidence"),
        (
            Family::PromotionDecision,
            "/gate_decision_ref/telemetry_ref/span_id_hex",
            json!("00f067aa"),
            "/gate_decision_ref/telemetry_ref/span_id_hex",
        ),
        (Family::RunManifest, "/inputs/pre_contract_sha256", json!("9f86d081"), "/inputs/pre_contract_sha256"),
        (Family::RunManifest, "/artifacts/report", json!(7), "/artifacts/report"),
        (Family::RunManifest, "/runtime/tool_versions", json!("domed 0.1.0"), "/runtime/tool_versions"),
        (Family::EventEnvelope, "/event_id", json!("evt-8E2F"), "/event_id"),
        (Family::EventEnvelope, "/sequence", json!(0), "/sequence"),
        (Family::EventEnvelope, "/payload", json!("state_changed"), "/payload"),
    ];
    for (family, pointer, to, expected_at) in cases {
        let mut broken = example(*family);
        set(&mut broken, pointer, to.clone());
        let errors = validate(*family, &broken).expect_err(&format!("{family} accepted {pointer} = {to}"));
        assert!(
            errors.iter().any(|e| e.instance_path == *expected_at),
            "{family}: expected a violation at `{expected_at}`, got {errors:?}"
        );
    }
}

/// Removing any required property fails; so does an unknown property
/// where the family allows no other properties (and only there).
#[test]
fn required_and_closed_properties_are_enforced() {
    for family in Family::ALL {
        let schema = schema(family);
        let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(!required.is_empty(), "{family} requires nothing");
        for key in &required {
            let mut broken = example(family);
            broken.as_object_mut().unwrap().remove(*key);
            let errors = validate(family, &broken).expect_err(&format!("{family} accepted a copy without `{key}`"));
            assert!(errors.iter().any(|e| e.message.contains(key)), "{family} without {key}: {errors:?}");
        }
        let mut extended = example(family);
        extended.as_object_mut().unwrap().insert("unexpected_field".into(), json!(1));
        let closed = schema["additionalProperties"] == json!(false);
        // task.result is the one family that allows additional properties.
        assert_eq!(closed, family != Family::TaskResult, "{family}");
        assert_eq!(validate(family, &extended).is_err(), closed, "{family} with an unknown property");
    }
}
