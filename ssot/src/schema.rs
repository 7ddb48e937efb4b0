//! The six embedded family schemas and their validators.
//!
//! The schemas are compiled once per process, on first use, into
//! `jsonschema` validators: one for each family's root, and one for each
//! object the family defines under `$defs` (such as `gate.decision`'s
//! `telemetry_ref`), so that a message that projects onto a part of a
//! family (`TelemetryRef`, `GateDecisionRef`) can be checked on its own.

use std::fmt;
use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Value, json};

/// One of dome's SSOT families that the gateway contract touches.
///
/// The variants follow the contract's `SsotFamily` enum, in its number
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `work.queue`: a queue of tasks of one run (a job as an invocation).
    WorkQueue,
    /// `task.result`: the status and result of one task.
    TaskResult,
    /// `gate.decision`: a policy-plane gate decision.
    GateDecision,
    /// `promotion.decision`: a policy-plane promotion decision.
    PromotionDecision,
    /// `run.manifest`: the provenance of a run.
    RunManifest,
    /// `event.envelope`: one event of an event log.
    EventEnvelope,
}

/// The schema text of each family, in [`Family::ALL`] order.
const SCHEMAS: [&str; 6] = [
    include_str!("../schemas/work.queue.schema.json"),
    include_str!("../schemas/task.result.schema.json"),
    include_str!("../schemas/gate.decision.schema.json"),
    include_str!("../schemas/promotion.decision.schema.json"),
    include_str!("../schemas/run.manifest.schema.json"),
    include_str!("../schemas/event.envelope.schema.json"),
];

/// The schema keyword that carries a family's schema version.
const VERSION_KEYWORD: &str = "x-dome-schema-version";

impl Family {
    /// Every family, in the contract's `SsotFamily` number order.
    pub const ALL: [Family; 6] = [
        Family::WorkQueue,
        Family::TaskResult,
        Family::GateDecision,
        Family::PromotionDecision,
        Family::RunManifest,
        Family::EventEnvelope,
    ];

    /// The family's dotted name, as in dome's `ssot/schemas` (`work.queue`).
    pub const fn name(self) -> &'static str {
        match self {
            Family::WorkQueue => "work.queue",
            Family::TaskResult => "task.result",
            Family::GateDecision => "gate.decision",
            Family::PromotionDecision => "promotion.decision",
            Family::RunManifest => "run.manifest",
            Family::EventEnvelope => "event.envelope",
        }
    }

    /// The family with the dotted name `name`.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The family a contract `SsotFamily` value names; `None` for the zero
    /// value (which maps nothing).
    pub fn from_pb(family: dome_sdk::pb::SsotFamily) -> Option<Family> {
        use dome_sdk::pb::SsotFamily as F;
        match family {
            F::Unspecified => None,
            F::WorkQueue => Some(Family::WorkQueue),
            F::TaskResult => Some(Family::TaskResult),
            F::GateDecision => Some(Family::GateDecision),
            F::PromotionDecision => Some(Family::PromotionDecision),
            F::RunManifest => Some(Family::RunManifest),
            F::EventEnvelope => Some(Family::EventEnvelope),
        }
    }

    /// The contract's `SsotFamily` value for this family.
    pub const fn to_pb(self) -> dome_sdk::pb::SsotFamily {
        use dome_sdk::pb::SsotFamily as F;
        match self {
            Family::WorkQueue => F::WorkQueue,
            Family::TaskResult => F::TaskResult,
            Family::GateDecision => F::GateDecision,
            Family::PromotionDecision => F::PromotionDecision,
            Family::RunManifest => F::RunManifest,
            Family::EventEnvelope => F::EventEnvelope,
        }
    }

    /// The family's schema file name (`work.queue.schema.json`).
    pub fn file_name(self) -> String {
        format!("{}.schema.json", self.name())
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One way an instance fails its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The JSON Pointer of the offending value in the instance (`""` for
    /// the root).
    pub instance_path: String,
    /// The JSON Pointer of the schema keyword that failed.
    pub schema_path: String,
    /// What is wrong, as `jsonschema` words it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.instance_path.is_empty() { "/" } else { &self.instance_path };
        write!(f, "at `{at}`: {} (schema `{}`)", self.message, self.schema_path)
    }
}

impl std::error::Error for Violation {}

/// The embedded schema text of `family`, exactly as in
/// `ssot/schemas/<family>.schema.json`.
pub fn schema_text(family: Family) -> &'static str {
    SCHEMAS[family.index()]
}

/// The version of `family`'s schema (its `x-dome-schema-version`), what a
/// server reports in `ListCapabilitiesResponse.ssot_schema_versions` and
/// writes into the `version` fields its projections fill in.
pub fn schema_version(family: Family) -> &'static str {
    &compiled().versions[family.index()]
}

/// Validates `instance` against `family`'s schema; on failure returns
/// every violation found.
pub fn validate(family: Family, instance: &Value) -> Result<(), Vec<Violation>> {
    match &compiled().roots[family.index()] {
        Ok(validator) => check(validator, instance),
        Err(problem) => Err(vec![problem.clone()]),
    }
}

/// Validates `instance` against the object `object` that `family` defines
/// under `$defs` (for example `telemetry_ref` of [`Family::GateDecision`]).
///
/// A family without such an object is a violation at the root, so that a
/// message mapped onto a family it cannot be part of fails.
pub fn validate_object(family: Family, object: &str, instance: &Value) -> Result<(), Vec<Violation>> {
    let found = compiled().objects.iter().find(|o| o.family == family && o.name == object);
    match found {
        Some(Object { validator: Ok(validator), .. }) => check(validator, instance),
        Some(Object { validator: Err(problem), .. }) => Err(vec![problem.clone()]),
        None => Err(vec![Violation {
            instance_path: String::new(),
            schema_path: "/$defs".into(),
            message: format!("family `{family}` defines no object `{object}`"),
        }]),
    }
}

/// Every problem compiling the embedded schemas, empty when there is none:
/// a family's schema that is not JSON or does not compile, or an object
/// under a family's `$defs` that does not compile. [`validate`] and
/// [`validate_object`] answer every instance of what a problem concerns
/// with that problem.
pub fn compile_problems() -> Vec<Violation> {
    let compiled = compiled();
    let roots = compiled.roots.iter().filter_map(|root| root.as_ref().err());
    let objects = compiled.objects.iter().filter_map(|object| object.validator.as_ref().err());
    roots.chain(objects).cloned().collect()
}

fn check(validator: &Validator, instance: &Value) -> Result<(), Vec<Violation>> {
    // The yes-or-no walk stops at the first mismatch and builds no error;
    // the full list is gathered only for an instance that fails.
    if validator.is_valid(instance) {
        return Ok(());
    }
    let violations: Vec<Violation> = validator
        .iter_errors(instance)
        .map(|e| Violation {
            instance_path: e.instance_path().to_string(),
            schema_path: e.schema_path().to_string(),
            message: e.to_string(),
        })
        .collect();
    if violations.is_empty() { Ok(()) } else { Err(violations) }
}

/// A `$defs` object of a family and its validator.
struct Object {
    family: Family,
    name: String,
    validator: Result<Validator, Violation>,
}

/// Everything compiled from the embedded schemas.
struct Compiled {
    roots: Vec<Result<Validator, Violation>>,
    objects: Vec<Object>,
    versions: [String; 6],
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let mut roots = Vec::new();
        let mut objects = Vec::new();
        let mut versions: [String; 6] = Default::default();
        for family in Family::ALL {
            let schema: Value = match serde_json::from_str(schema_text(family)) {
                Ok(schema) => schema,
                Err(e) => {
                    roots.push(Err(broken(family, &format!("is not JSON: {e}"))));
                    continue;
                }
            };
            versions[family.index()] =
                schema.get(VERSION_KEYWORD).and_then(Value::as_str).unwrap_or_default().to_string();
            roots.push(
                jsonschema::draft202012::new(&schema).map_err(|e| broken(family, &format!("does not compile: {e}"))),
            );
            let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
            for name in defs.keys() {
                // A schema whose root is the object, with the family's
                // definitions beside it so that its `$ref`s resolve.
                let part = json!({
                    "$schema": schema.get("$schema").cloned().unwrap_or(Value::Null),
                    "$defs": Value::Object(defs.clone()),
                    "$ref": format!("#/$defs/{name}"),
                });
                objects.push(Object {
                    family,
                    name: name.clone(),
                    validator: jsonschema::draft202012::new(&part)
                        .map_err(|e| broken(family, &format!("object `{name}` does not compile: {e}"))),
                });
            }
        }
        Compiled { roots, objects, versions }
    })
}

fn broken(family: Family, what: &str) -> Violation {
    Violation {
        instance_path: String::new(),
        schema_path: String::new(),
        message: format!("the embedded `{}` schema {what}", family.file_name()),
    }
}
