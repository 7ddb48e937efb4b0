//! The skill catalogue: what `ListCapabilities` lists and how
//! `SkillExecute` finds a skill and checks its input.
//!
//! Two skills are offered: the conformance skill `dome.conformance.script`
//! (only with the conformance profile on), whose input schema is the
//! contract's own, and `dome.echo`, which ends its job with its input as
//! output.

use dome_sdk::contract::{
    CONFORMANCE_FEATURE, CONFORMANCE_SCRIPT_SCHEMA, CONFORMANCE_SKILL_ID, CONFORMANCE_SKILL_VERSION,
};
use dome_sdk::pb;
use serde_json::Value;

use crate::errors::{ApiError, MAX_VIOLATIONS};

/// The id of the echo skill.
pub(crate) const ECHO_SKILL_ID: &str = "dome.echo";
/// The version of the echo skill.
pub(crate) const ECHO_SKILL_VERSION: &str = "1.0.0";

/// The input schema of the echo skill.
const ECHO_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "dome.echo input",
  "description": "Any object with a message; the job succeeds with the input as its output.",
  "type": "object",
  "required": ["message"],
  "properties": {
    "message": { "type": "string", "maxLength": 65536 }
  }
}"#;

/// What runs when a job of a skill starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkillKind {
    /// `dome.conformance.script`.
    Script,
    /// `dome.echo`.
    Echo,
}

/// One skill with its compiled input validator.
pub(crate) struct SkillDef {
    /// How the skill is described on the wire.
    pub(crate) proto: pb::Skill,
    /// What runs.
    pub(crate) kind: SkillKind,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for SkillDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkillDef").field("proto", &self.proto).finish_non_exhaustive()
    }
}

/// Why the catalogue could not be built.
#[derive(Debug)]
pub(crate) struct CatalogueError(pub(crate) String);

/// Every skill the server knows, and which of them are enabled.
#[derive(Debug)]
pub(crate) struct Catalogue {
    skills: Vec<SkillDef>,
    conformance: bool,
}

impl Catalogue {
    /// Builds the catalogue; `conformance` enables the conformance profile.
    pub(crate) fn new(conformance: bool) -> Result<Self, CatalogueError> {
        let mut skills = vec![
            skill(
                CONFORMANCE_SKILL_ID,
                CONFORMANCE_SKILL_VERSION,
                "Runs a script of steps (progress, log, decisions, artifacts, sleeps, park, \
                 fail, succeed, bulk) in order, so that a conformance suite can drive the \
                 server deterministically.",
                CONFORMANCE_SCRIPT_SCHEMA,
                &[CONFORMANCE_FEATURE],
                SkillKind::Script,
            )?,
            skill(
                ECHO_SKILL_ID,
                ECHO_SKILL_VERSION,
                "Ends the job SUCCEEDED with its input as the output.",
                ECHO_SCHEMA,
                &[],
                SkillKind::Echo,
            )?,
        ];
        skills.sort_by(|a, b| {
            (a.proto.skill_id.as_str(), a.proto.version.as_str())
                .cmp(&(b.proto.skill_id.as_str(), b.proto.version.as_str()))
        });
        Ok(Self { skills, conformance })
    }

    /// The feature flags this catalogue enables.
    pub(crate) fn conformance(&self) -> bool {
        self.conformance
    }

    fn enabled(&self, skill: &SkillDef) -> bool {
        skill.proto.required_features.iter().all(|f| f != CONFORMANCE_FEATURE || self.conformance)
    }

    /// The skills offered, ascending by id then version.
    pub(crate) fn listed(&self) -> Vec<pb::Skill> {
        self.skills.iter().filter(|s| self.enabled(s)).map(|s| s.proto.clone()).collect()
    }

    /// The skill a request names: by id, and by version unless empty (then
    /// the highest offered).
    pub(crate) fn resolve(&self, skill_id: &str, version: &str) -> Result<&SkillDef, ApiError> {
        let mut candidates: Vec<&SkillDef> = self
            .skills
            .iter()
            .filter(|s| s.proto.skill_id == skill_id)
            .filter(|s| version.is_empty() || s.proto.version == version)
            .collect();
        candidates.sort_by_key(|s| semver_key(&s.proto.version));
        let Some(found) = candidates.last() else {
            return Err(ApiError::skill_not_found(skill_id, version));
        };
        if !self.enabled(found) {
            let missing = found.proto.required_features.first().map(String::as_str).unwrap_or(CONFORMANCE_FEATURE);
            return Err(ApiError::feature_not_enabled(missing));
        }
        Ok(found)
    }
}

impl SkillDef {
    /// Parses and validates an input, returning it parsed, or the
    /// `INVALID_SKILL_INPUT` error naming every violation.
    pub(crate) fn check_input(&self, input_json: &str) -> Result<Value, ApiError> {
        let value: Value = serde_json::from_str(input_json).map_err(|e| {
            ApiError::invalid_skill_input(
                &self.proto.skill_id,
                vec![("input_json".to_owned(), format!("not valid JSON: {e}"))],
            )
        })?;
        // The common case first: a valid input collects no errors.
        if self.validator.is_valid(&value) {
            return Ok(value);
        }
        let violations: Vec<(String, String)> = self
            .validator
            .iter_errors(&value)
            .take(MAX_VIOLATIONS)
            .map(|e| (format!("input_json{}", e.instance_path().as_str()), e.to_string()))
            .collect();
        if violations.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::invalid_skill_input(&self.proto.skill_id, violations))
        }
    }
}

fn skill(
    id: &str,
    version: &str,
    description: &str,
    schema: &str,
    features: &[&str],
    kind: SkillKind,
) -> Result<SkillDef, CatalogueError> {
    let schema_value: Value =
        serde_json::from_str(schema).map_err(|e| CatalogueError(format!("schema of skill `{id}` is not JSON: {e}")))?;
    let validator = jsonschema::validator_for(&schema_value)
        .map_err(|e| CatalogueError(format!("schema of skill `{id}` does not compile: {e}")))?;
    Ok(SkillDef {
        proto: pb::Skill {
            skill_id: id.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            input_schema_json: canonical_json(&schema_value),
            required_features: features.iter().map(|f| (*f).to_owned()).collect(),
        },
        kind,
        validator,
    })
}

/// Orders versions numerically by their dotted components.
fn semver_key(version: &str) -> Vec<u64> {
    version.split(['.', '-', '+']).map(|part| part.parse::<u64>().unwrap_or(0)).collect()
}

/// The canonical text of a JSON value: keys sorted, no insignificant
/// whitespace.
///
/// `serde_json`'s map is a `BTreeMap` (the `preserve_order` feature is
/// off in this workspace), so every object of a parsed value already
/// iterates in key order and its compact text is canonical; the unit test
/// below fails should that feature ever be switched on.
///
/// A number is compared by value: a float with an integer value (`1.0`,
/// `1e2`) is written as that integer (`1`, `100`) when it fits 64 bits;
/// other floats in the shortest form that reads back as the same double.
pub(crate) fn canonical_json(value: &Value) -> String {
    // Written straight into a string rather than through `Display`'s
    // formatter; writing a `Value` to memory cannot fail, and should it
    // ever, `Display` gives the same text. Most inputs hold no integral
    // float, and are written without a copy.
    let integral_floats = has_integral_float(value);
    let normalized;
    let value = if integral_floats {
        normalized = integral_floats_as_integers(value);
        &normalized
    } else {
        value
    };
    serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
}

/// A float whose value is an integer that fits `i64` or `u64`, as that integer.
fn as_integer(n: &serde_json::Number) -> Option<Value> {
    let f = n.as_f64().filter(|_| n.is_f64())?;
    if f.fract() != 0.0 || !f.is_finite() {
        return None;
    }
    if f >= -(2f64.powi(63)) && f < 2f64.powi(63) {
        Some(Value::from(f as i64))
    } else if f >= 0.0 && f < 2f64.powi(64) {
        Some(Value::from(f as u64))
    } else {
        None
    }
}

fn has_integral_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => as_integer(n).is_some(),
        Value::Array(items) => items.iter().any(has_integral_float),
        Value::Object(map) => map.values().any(has_integral_float),
        _ => false,
    }
}

fn integral_floats_as_integers(value: &Value) -> Value {
    match value {
        Value::Number(n) => as_integer(n).unwrap_or_else(|| value.clone()),
        Value::Array(items) => Value::Array(items.iter().map(integral_floats_as_integers).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), integral_floats_as_integers(v))).collect())
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let value: Value = serde_json::from_str(r#"{ "b": [1, {"d": 2, "c": 3}], "a": null }"#).unwrap_or(Value::Null);
        assert_eq!(canonical_json(&value), r#"{"a":null,"b":[1,{"c":3,"d":2}]}"#);
    }

    #[test]
    fn canonical_json_writes_numbers_by_value() {
        let canon = |text: &str| canonical_json(&serde_json::from_str(text).unwrap_or(Value::Null));
        for (a, b) in [("1", "1.0"), ("1", "1e0"), ("1", "10e-1"), ("100", "1e2"), ("-3", "-3.0"), ("[1.5]", "[15e-1]")]
        {
            assert_eq!(canon(a), canon(b), "{a} and {b} have one value");
        }
        assert_eq!(canon(r#"{"x":[1.0,1e2,0.25]}"#), r#"{"x":[1,100,0.25]}"#);
        assert_ne!(canon("1"), canon("1.5"));
        assert_eq!(canon("9007199254740993"), "9007199254740993");
    }

    #[test]
    fn the_catalogue_hides_the_conformance_skill_without_the_profile() {
        let on = Catalogue::new(true).ok();
        let off = Catalogue::new(false).ok();
        let ids = |c: Option<Catalogue>| -> Vec<String> {
            c.map(|c| c.listed().into_iter().map(|s| s.skill_id).collect()).unwrap_or_default()
        };
        assert_eq!(ids(on), vec![CONFORMANCE_SKILL_ID.to_owned(), ECHO_SKILL_ID.to_owned()]);
        assert_eq!(ids(off), vec![ECHO_SKILL_ID.to_owned()]);
    }
}
