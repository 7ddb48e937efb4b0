//! Scripts for the conformance skill `dome.conformance.script`: the steps
//! the suite asks a server to execute, their JSON form (as the skill's
//! input schema, `conformance_script.schema.json`, defines it) and a
//! readable rendering for failure reports.

use std::fmt;

use serde_json::{Map, Value, json};

/// The severity of a `log` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

impl Level {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// The status of a gate or promotion decision step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `APPROVE`.
    Approve,
    /// `REJECT`.
    Reject,
    /// `NEEDS_HUMAN`.
    NeedsHuman,
}

impl Decision {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "APPROVE",
            Decision::Reject => "REJECT",
            Decision::NeedsHuman => "NEEDS_HUMAN",
        }
    }
}

/// What the substrate is told after a gate decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Substrate {
    /// `PROMOTE`.
    Promote,
    /// `DENY`.
    Deny,
    /// `STOP`.
    Stop,
}

impl Substrate {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Substrate::Promote => "PROMOTE",
            Substrate::Deny => "DENY",
            Substrate::Stop => "STOP",
        }
    }
}

/// A W3C trace and span id pair, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// 32 lowercase hex digits.
    pub trace_id_hex: String,
    /// 16 lowercase hex digits.
    pub span_id_hex: String,
}

/// A `gate_decision` step.
#[derive(Debug, Clone, PartialEq)]
pub struct GateStep {
    /// The decision.
    pub status: Decision,
    /// Policy reason codes, in order.
    pub reason_codes: Vec<String>,
    /// What the substrate is told, when given.
    pub substrate_status: Option<Substrate>,
    /// Confidence 0 to 1, when given.
    pub confidence: Option<f64>,
    /// Risk score 0 to 100, when given.
    pub risk_score: Option<u32>,
    /// Notes, in order.
    pub notes: Vec<String>,
    /// The trace, when given.
    pub telemetry: Option<Telemetry>,
}

/// A `promotion_decision` step.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionStep {
    /// The decision.
    pub decision: Decision,
    /// Policy reason codes, in order.
    pub reason_codes: Vec<String>,
    /// Confidence 0 to 1, when given.
    pub confidence: Option<f64>,
    /// Risk score 0 to 100, when given.
    pub risk_score: Option<u32>,
    /// Notes, in order.
    pub notes: Vec<String>,
    /// The trace, when given.
    pub telemetry: Option<Telemetry>,
}

/// One step of a conformance script.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Emit one progress event.
    Progress {
        /// 0 to 100.
        percent: u32,
        /// Optional detail.
        message: Option<String>,
    },
    /// Emit one log event.
    Log {
        /// Severity, when given.
        level: Option<Level>,
        /// The line.
        message: String,
    },
    /// Record a gate decision and emit it.
    GateDecision(GateStep),
    /// Record a promotion decision and emit it.
    PromotionDecision(PromotionStep),
    /// Produce an artifact and emit it.
    Artifact {
        /// Unique within the job.
        name: String,
        /// Where it is.
        uri: String,
        /// 64 lowercase hex digits, when given.
        sha256: Option<String>,
    },
    /// Sleep, woken at once by a cancel.
    Sleep {
        /// At most 10000.
        millis: u64,
    },
    /// Wait until cancelled, then end `CANCELLED`.
    Park,
    /// End `FAILED` with a policy reason code.
    Fail {
        /// The policy reason code.
        reason_code: String,
        /// The message, when given.
        message: Option<String>,
        /// Whether transient, when given.
        transient: Option<bool>,
    },
    /// End `SUCCEEDED` with an output.
    Succeed {
        /// The output; `None` leaves the key out (output `null`).
        output: Option<Value>,
    },
    /// Emit `count` progress events at once.
    Bulk {
        /// 1 to 100000.
        count: u32,
    },
}

/// A script: the input of one conformance-skill job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    /// The steps, executed in order.
    pub steps: Vec<Step>,
}

impl Script {
    /// A script of the given steps. Artifact names are made unique (the
    /// contract requires a name to be unique within its job) by numbering
    /// them in order.
    pub fn new(steps: Vec<Step>) -> Script {
        let mut n = 0;
        let steps = steps
            .into_iter()
            .map(|step| match step {
                Step::Artifact { uri, sha256, .. } => {
                    n += 1;
                    Step::Artifact { name: format!("artifact-{n}"), uri, sha256 }
                }
                other => other,
            })
            .collect();
        Script { steps }
    }

    /// Whether a step of the script parks the job (before any step that
    /// ends it), so that only a cancel ends it.
    pub fn parks(&self) -> bool {
        for step in &self.steps {
            match step {
                Step::Park => return true,
                Step::Fail { .. } | Step::Succeed { .. } => return false,
                _ => {}
            }
        }
        false
    }

    /// The script as the JSON value the skill takes.
    pub fn to_json(&self) -> Value {
        json!({ "steps": self.steps.iter().map(step_json).collect::<Vec<_>>() })
    }

    /// The script as compact JSON text, the `input_json` of a request.
    pub fn to_input(&self) -> String {
        self.to_json().to_string()
    }
}

fn telemetry_json(t: &Telemetry) -> Value {
    json!({ "trace_id_hex": t.trace_id_hex, "span_id_hex": t.span_id_hex })
}

fn step_json(step: &Step) -> Value {
    let mut body = Map::new();
    let kind = match step {
        Step::Progress { percent, message } => {
            body.insert("percent".into(), json!(percent));
            if let Some(m) = message {
                body.insert("message".into(), json!(m));
            }
            "progress"
        }
        Step::Log { level, message } => {
            if let Some(l) = level {
                body.insert("level".into(), json!(l.as_str()));
            }
            body.insert("message".into(), json!(message));
            "log"
        }
        Step::GateDecision(g) => {
            body.insert("status".into(), json!(g.status.as_str()));
            body.insert("reason_codes".into(), json!(g.reason_codes));
            if let Some(s) = g.substrate_status {
                body.insert("substrate_status".into(), json!(s.as_str()));
            }
            if let Some(c) = g.confidence {
                body.insert("confidence".into(), json!(c));
            }
            if let Some(r) = g.risk_score {
                body.insert("risk_score".into(), json!(r));
            }
            body.insert("notes".into(), json!(g.notes));
            if let Some(t) = &g.telemetry {
                body.insert("telemetry_ref".into(), telemetry_json(t));
            }
            "gate_decision"
        }
        Step::PromotionDecision(p) => {
            body.insert("decision".into(), json!(p.decision.as_str()));
            body.insert("reason_codes".into(), json!(p.reason_codes));
            if let Some(c) = p.confidence {
                body.insert("confidence".into(), json!(c));
            }
            if let Some(r) = p.risk_score {
                body.insert("risk_score".into(), json!(r));
            }
            body.insert("notes".into(), json!(p.notes));
            if let Some(t) = &p.telemetry {
                body.insert("telemetry_ref".into(), telemetry_json(t));
            }
            "promotion_decision"
        }
        Step::Artifact { name, uri, sha256 } => {
            body.insert("name".into(), json!(name));
            body.insert("uri".into(), json!(uri));
            if let Some(s) = sha256 {
                body.insert("sha256".into(), json!(s));
            }
            "artifact"
        }
        Step::Sleep { millis } => {
            body.insert("millis".into(), json!(millis));
            "sleep"
        }
        Step::Park => "park",
        Step::Fail { reason_code, message, transient } => {
            body.insert("reason_code".into(), json!(reason_code));
            if let Some(m) = message {
                body.insert("message".into(), json!(m));
            }
            if let Some(t) = transient {
                body.insert("transient".into(), json!(t));
            }
            "fail"
        }
        Step::Succeed { output } => {
            if let Some(o) = output {
                body.insert("output".into(), o.clone());
            }
            "succeed"
        }
        Step::Bulk { count } => {
            body.insert("count".into(), json!(count));
            "bulk"
        }
    };
    let mut step = Map::new();
    step.insert(kind.into(), Value::Object(body));
    Value::Object(step)
}

impl fmt::Display for Script {
    /// One step per line, numbered, each as its JSON form: readable in a
    /// failure report and pasteable into a request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return write!(f, "(no steps)");
        }
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{:>3}. {}", i + 1, step_json(step))?;
        }
        Ok(())
    }
}
