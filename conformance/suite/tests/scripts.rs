//! The conformance skill's scripts: their JSON form and rendering, and the
//! generated ones valid against the published schema, parking or finishing
//! as their strategy promises.

use dome_conformance::arbitrary::{any_script, finishing_script, parking_script};
use dome_conformance::script::{Script, Step};
use proptest::prop_assert;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

#[test]
fn json_form_matches_the_schema_shape() {
    let script = Script::new(vec![
        Step::Progress { percent: 10, message: None },
        Step::Artifact { name: "x".into(), uri: "file:///a".into(), sha256: None },
        Step::Artifact { name: "x".into(), uri: "file:///b".into(), sha256: None },
        Step::Park,
    ]);
    assert_eq!(
        script.to_json(),
        json!({"steps": [
            {"progress": {"percent": 10}},
            {"artifact": {"name": "artifact-1", "uri": "file:///a"}},
            {"artifact": {"name": "artifact-2", "uri": "file:///b"}},
            {"park": {}}
        ]})
    );
    assert!(script.parks());
    assert!(!Script::new(vec![Step::Succeed { output: None }, Step::Park]).parks());
}

#[test]
fn rendering_numbers_each_step() {
    let script = Script::new(vec![Step::Sleep { millis: 5 }, Step::Bulk { count: 3 }]);
    assert_eq!(script.to_string(), "  1. {\"sleep\":{\"millis\":5}}\n  2. {\"bulk\":{\"count\":3}}");
    assert_eq!(Script::default().to_string(), "(no steps)");
}

#[test]
fn generated_scripts_validate_against_the_published_schema() {
    let schema: Value = serde_json::from_str(dome_sdk::contract::CONFORMANCE_SCRIPT_SCHEMA).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    runner
        .run(&any_script(), |script| {
            let input = script.to_json();
            let errors: Vec<String> = validator.iter_errors(&input).map(|e| e.to_string()).collect();
            prop_assert!(errors.is_empty(), "script {input} is invalid: {errors:?}");
            Ok(())
        })
        .expect("every generated script is valid input");
}

#[test]
fn parking_scripts_park_and_finishing_scripts_do_not() {
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    runner
        .run(&(parking_script(), finishing_script()), |(p, f)| {
            prop_assert!(p.parks(), "expected {p} to park");
            prop_assert!(!f.parks(), "expected {f} not to park");
            Ok(())
        })
        .expect("scripts park as built");
}
