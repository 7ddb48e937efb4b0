//! The one projection from gateway messages to SSOT family JSON.
//!
//! Each function turns one generated message of `dome.gateway.v1` into the
//! JSON object of the family its `(ssot)` option names, following the
//! meanings the proto comments give the fields. [`crate::SUBJECTS`] lists
//! them, and `docs/surface-matrix.md` shows each with its family.
//!
//! Rules that hold throughout:
//! - An optional family field is omitted when its message field is unset
//!   (empty string, empty list, zero enum, absent message or `optional`).
//! - A required family field is always written from its message field,
//!   even when that field is invalid (empty, zero enum, absent), so that an
//!   invalid message projects onto invalid JSON and validation names the
//!   problem: the projections never repair, never guess and never panic.
//! - Enum values are written by their name without the enum's prefix
//!   (`JOB_STATE_QUEUED` -> `QUEUED`); a number the enum does not define is
//!   written as `UNKNOWN_<n>`.
//! - Timestamps are RFC 3339 text in UTC ([`format_timestamp`]).
//! - Fields the gateway adds (deltas) travel where the family allows more
//!   properties (`task.result`, `run.manifest` objects, the
//!   `event.envelope` payload) and are dropped where it does not.

use dome_sdk::pb::Timestamp;
use dome_sdk::pb::{
    Artifact, DecisionStatus, GateDecision, GateDecisionRef, Job, JobEvent, JobOutcome, JobState, LogLevel,
    PromotionDecision, Provenance, SubstrateStatus, TaskStatus, TelemetryRef, job_event::Payload,
};
use serde_json::{Map, Value, json};

use crate::schema::{Family, schema_version};

/// The `max_workers` of a job's work queue: a job is one task, run by one
/// worker.
const JOB_MAX_WORKERS: u64 = 1;

/// `Job` -> `work.queue`: the job as a one-task work queue of its run.
///
/// - `artifact_kind` is `work.queue`; `version` is the family's
///   [`schema_version`]; `max_workers` is 1.
/// - `run_id` is the job's; `base_ref` is its provenance's (required, so
///   written even when absent: an absent provenance leaves it out and the
///   projection fails validation).
/// - `policy_ref` (queue and task) is the provenance's, when set.
/// - The one task: `task_id` is the job's task id; `goal` is the job's
///   input contract, `skill:<skill_id>@<skill_version>`; `status` maps the
///   job state: `QUEUED` -> `QUEUED`; `RUNNING` and `CANCELLING` (still
///   executing until its next step boundary) -> `RUNNING`; `SUCCEEDED` and
///   `FAILED` (finished; the task result says how) -> `DONE`; `CANCELLED`
///   (stopped before it could finish, as its `task.result` status
///   `BLOCKED` says) -> `BLOCKED`.
pub fn project_job(job: &Job) -> Value {
    let provenance = job.provenance.as_ref();
    let policy_ref = provenance.map(|p| p.policy_ref.as_str()).filter(|s| !s.is_empty());
    let mut task = Map::new();
    task.insert("task_id".into(), json!(job.task_id));
    task.insert("goal".into(), json!(format!("skill:{}@{}", job.skill_id, job.skill_version)));
    task.insert("status".into(), json!(work_queue_status(job.state)));
    if let Some(policy_ref) = policy_ref {
        task.insert("policy_ref".into(), json!(policy_ref));
    }
    let mut queue = Map::new();
    queue.insert("artifact_kind".into(), json!(Family::WorkQueue.name()));
    queue.insert("version".into(), json!(schema_version(Family::WorkQueue)));
    queue.insert("run_id".into(), json!(job.run_id));
    if let Some(p) = provenance {
        queue.insert("base_ref".into(), json!(p.base_ref));
    }
    queue.insert("max_workers".into(), json!(JOB_MAX_WORKERS));
    queue.insert("tasks".into(), Value::Array(vec![Value::Object(task)]));
    if let Some(policy_ref) = policy_ref {
        queue.insert("policy_ref".into(), json!(policy_ref));
    }
    Value::Object(queue)
}

/// The `work.queue` task status of a job state (see [`project_job`]).
fn work_queue_status(state: i32) -> String {
    match JobState::try_from(state) {
        Ok(JobState::Queued) => "QUEUED".into(),
        Ok(JobState::Running | JobState::Cancelling) => "RUNNING".into(),
        Ok(JobState::Succeeded | JobState::Failed) => "DONE".into(),
        Ok(JobState::Cancelled) => "BLOCKED".into(),
        Ok(JobState::Unspecified) => "UNSPECIFIED".into(),
        Err(_) => unknown(state),
    }
}

/// `JobOutcome` -> `task.result`.
///
/// - `artifact_kind` is `task.result`; `task_id` and `status` are the
///   outcome's.
/// - `notes` is the outcome's message, `reason_code` its policy reason
///   code, `attempt` its attempt: each when set.
/// - `transient` is written on `FAIL` (where the proto defines it),
///   whether true or false.
/// - Gateway additions, which `task.result` allows: `output_json` (the
///   canonical output text, on `PASS`, when set) and `artifacts` (each as
///   [`project_artifact`], when any).
pub fn project_job_outcome(outcome: &JobOutcome) -> Value {
    let mut out = Map::new();
    out.insert("artifact_kind".into(), json!(Family::TaskResult.name()));
    out.insert("task_id".into(), json!(outcome.task_id));
    out.insert("status".into(), json!(task_status(outcome.status)));
    if !outcome.message.is_empty() {
        out.insert("notes".into(), json!(outcome.message));
    }
    if outcome.attempt > 0 {
        out.insert("attempt".into(), json!(outcome.attempt));
    }
    if !outcome.reason_code.is_empty() {
        out.insert("reason_code".into(), json!(outcome.reason_code));
    }
    if outcome.status == TaskStatus::Fail as i32 {
        out.insert("transient".into(), json!(outcome.transient));
    }
    if !outcome.output_json.is_empty() {
        out.insert("output_json".into(), json!(outcome.output_json));
    }
    if !outcome.artifacts.is_empty() {
        out.insert("artifacts".into(), Value::Array(outcome.artifacts.iter().map(project_artifact).collect()));
    }
    Value::Object(out)
}

fn task_status(status: i32) -> String {
    match TaskStatus::try_from(status) {
        Ok(s) => strip(s.as_str_name(), "TASK_STATUS_"),
        Err(_) => unknown(status),
    }
}

/// `Artifact` -> `{name, uri, sha256}` (`sha256` when known): the entry
/// the gateway adds to `task.result` and to event payloads. In
/// `run.manifest` artifacts are a name-to-URI map instead (see
/// [`project_provenance`]).
pub fn project_artifact(artifact: &Artifact) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(artifact.name));
    out.insert("uri".into(), json!(artifact.uri));
    if !artifact.sha256.is_empty() {
        out.insert("sha256".into(), json!(artifact.sha256));
    }
    Value::Object(out)
}

/// `TelemetryRef` -> the `telemetry_ref` object of `gate.decision` (and of
/// `promotion.decision`'s `gate_decision_ref`).
pub fn project_telemetry_ref(telemetry: &TelemetryRef) -> Value {
    json!({ "trace_id_hex": telemetry.trace_id_hex, "span_id_hex": telemetry.span_id_hex })
}

/// `GateDecision` -> `gate.decision`.
///
/// Every family field comes from the field of the same name; the optional
/// ones (`substrate_status`, `confidence`, `risk_score`, `notes`) only when
/// set. `record_time` is not part of the family and is dropped (the family
/// allows no other properties).
pub fn project_gate_decision(decision: &GateDecision) -> Value {
    let mut out = Map::new();
    out.insert("version".into(), json!(decision.version));
    out.insert("run_id".into(), json!(decision.run_id));
    out.insert("task_id".into(), json!(decision.task_id));
    out.insert("status".into(), json!(decision_status(decision.status)));
    out.insert("reason_codes".into(), json!(decision.reason_codes));
    if let Some(telemetry) = &decision.telemetry_ref {
        out.insert("telemetry_ref".into(), project_telemetry_ref(telemetry));
    }
    if decision.substrate_status != SubstrateStatus::Unspecified as i32 {
        let name = match SubstrateStatus::try_from(decision.substrate_status) {
            Ok(s) => strip(s.as_str_name(), "SUBSTRATE_STATUS_"),
            Err(_) => unknown(decision.substrate_status),
        };
        out.insert("substrate_status".into(), json!(name));
    }
    if let Some(confidence) = decision.confidence {
        out.insert("confidence".into(), number(confidence));
    }
    if let Some(risk_score) = decision.risk_score {
        out.insert("risk_score".into(), json!(risk_score));
    }
    if !decision.notes.is_empty() {
        out.insert("notes".into(), json!(decision.notes));
    }
    Value::Object(out)
}

/// `GateDecisionRef` -> the `gate_decision_ref` object of
/// `promotion.decision`.
pub fn project_gate_decision_ref(reference: &GateDecisionRef) -> Value {
    let mut out = Map::new();
    out.insert("task_id".into(), json!(reference.task_id));
    if let Some(telemetry) = &reference.telemetry_ref {
        out.insert("telemetry_ref".into(), project_telemetry_ref(telemetry));
    }
    Value::Object(out)
}

/// `PromotionDecision` -> `promotion.decision`.
///
/// Every family field is required and comes from the field of the same
/// name (`notes` is written even when empty). `record_time` is not part of
/// the family and is dropped.
pub fn project_promotion_decision(decision: &PromotionDecision) -> Value {
    let mut out = Map::new();
    out.insert("version".into(), json!(decision.version));
    out.insert("run_id".into(), json!(decision.run_id));
    out.insert("decision".into(), json!(decision_status(decision.decision)));
    out.insert("reason_codes".into(), json!(decision.reason_codes));
    out.insert("confidence".into(), number(decision.confidence));
    out.insert("risk_score".into(), json!(decision.risk_score));
    out.insert("notes".into(), json!(decision.notes));
    if let Some(reference) = &decision.gate_decision_ref {
        out.insert("gate_decision_ref".into(), project_gate_decision_ref(reference));
    }
    Value::Object(out)
}

fn decision_status(status: i32) -> String {
    match DecisionStatus::try_from(status) {
        Ok(s) => strip(s.as_str_name(), "DECISION_STATUS_"),
        Err(_) => unknown(status),
    }
}

/// `Provenance` -> `run.manifest`.
///
/// - `version` is the family's [`schema_version`]; `run_id`, `commands`
///   and `artifacts` (name -> URI) are the provenance's.
/// - `inputs`: `pre_contract_path` is the input contract
///   (`skill:<skill_id>@<version>`), `pre_contract_sha256` the SHA-256 of
///   the canonical input.
/// - `runtime`: `tool_versions` is the provenance's.
/// - `refs`: `base_ref` and `policy_ref`, each when set; absent when
///   neither is.
pub fn project_provenance(provenance: &Provenance) -> Value {
    let string_map = |m: &std::collections::HashMap<String, String>| -> Value {
        Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    };
    let mut refs = Map::new();
    if !provenance.base_ref.is_empty() {
        refs.insert("base_ref".into(), json!(provenance.base_ref));
    }
    if !provenance.policy_ref.is_empty() {
        refs.insert("policy_ref".into(), json!(provenance.policy_ref));
    }
    let mut out = Map::new();
    out.insert("version".into(), json!(schema_version(Family::RunManifest)));
    out.insert("run_id".into(), json!(provenance.run_id));
    out.insert(
        "inputs".into(),
        json!({
            "pre_contract_path": provenance.input_contract,
            "pre_contract_sha256": provenance.input_sha256,
        }),
    );
    out.insert("commands".into(), json!(provenance.commands));
    out.insert("artifacts".into(), string_map(&provenance.artifacts));
    out.insert("runtime".into(), json!({ "tool_versions": string_map(&provenance.tool_versions) }));
    if !refs.is_empty() {
        out.insert("refs".into(), Value::Object(refs));
    }
    Value::Object(out)
}

/// The `event.envelope` topic of an event: `job.` followed by the name of
/// the payload field that is set (`job.state_changed`); `None` when no
/// payload is set (an invalid event).
pub fn event_topic(event: &JobEvent) -> Option<&'static str> {
    Some(match event.payload.as_ref()? {
        Payload::StateChanged(_) => "job.state_changed",
        Payload::Progress(_) => "job.progress",
        Payload::Log(_) => "job.log",
        Payload::CancelRequested(_) => "job.cancel_requested",
        Payload::GateDecisionRecorded(_) => "job.gate_decision_recorded",
        Payload::PromotionDecisionRecorded(_) => "job.promotion_decision_recorded",
        Payload::ArtifactProduced(_) => "job.artifact_produced",
    })
}

/// `JobEvent` -> `event.envelope`.
///
/// - `schema_version` is the family's [`schema_version`]; `sequence`,
///   `event_id` and `run_id` are the event's; `ts` is its time
///   ([`format_timestamp`]); `topic` is [`event_topic`].
/// - `payload` holds `job_id`, `correlation_id` (when set) and the fields
///   of the payload message:
///   - `state_changed`: `state`, and `outcome` as `task.result`
///     ([`project_job_outcome`]) when set;
///   - `progress`: `percent`, and `message` when set;
///   - `log`: `level` (`INFO` when unspecified, as the proto says) and
///     `message`;
///   - `cancel_requested`: `previous_state`, and `reason` when set;
///   - `gate_decision_recorded`: `gate_decision` as `gate.decision`;
///   - `promotion_decision_recorded`: `promotion_decision` as
///     `promotion.decision`;
///   - `artifact_produced`: `artifact` ([`project_artifact`]).
///
/// An event without time or payload leaves `ts` or `topic` out, so that it
/// fails validation.
pub fn project_job_event(event: &JobEvent) -> Value {
    let mut payload = Map::new();
    payload.insert("job_id".into(), json!(event.job_id));
    if !event.correlation_id.is_empty() {
        payload.insert("correlation_id".into(), json!(event.correlation_id));
    }
    match &event.payload {
        Some(Payload::StateChanged(changed)) => {
            payload.insert("state".into(), json!(job_state(changed.state)));
            if let Some(outcome) = &changed.outcome {
                payload.insert("outcome".into(), project_job_outcome(outcome));
            }
        }
        Some(Payload::Progress(progress)) => {
            payload.insert("percent".into(), json!(progress.percent));
            if !progress.message.is_empty() {
                payload.insert("message".into(), json!(progress.message));
            }
        }
        Some(Payload::Log(log)) => {
            let level = match LogLevel::try_from(log.level) {
                Ok(LogLevel::Unspecified) => "INFO".to_string(),
                Ok(level) => strip(level.as_str_name(), "LOG_LEVEL_"),
                Err(_) => unknown(log.level),
            };
            payload.insert("level".into(), json!(level));
            payload.insert("message".into(), json!(log.message));
        }
        Some(Payload::CancelRequested(cancel)) => {
            payload.insert("previous_state".into(), json!(job_state(cancel.previous_state)));
            if !cancel.reason.is_empty() {
                payload.insert("reason".into(), json!(cancel.reason));
            }
        }
        Some(Payload::GateDecisionRecorded(decision)) => {
            payload.insert("gate_decision".into(), project_gate_decision(decision));
        }
        Some(Payload::PromotionDecisionRecorded(decision)) => {
            payload.insert("promotion_decision".into(), project_promotion_decision(decision));
        }
        Some(Payload::ArtifactProduced(artifact)) => {
            payload.insert("artifact".into(), project_artifact(artifact));
        }
        None => {}
    }
    let mut out = Map::new();
    out.insert("schema_version".into(), json!(schema_version(Family::EventEnvelope)));
    out.insert("sequence".into(), json!(event.sequence));
    out.insert("event_id".into(), json!(event.event_id));
    if let Some(time) = &event.time {
        out.insert("ts".into(), json!(format_timestamp(time)));
    }
    if let Some(topic) = event_topic(event) {
        out.insert("topic".into(), json!(topic));
    }
    out.insert("run_id".into(), json!(event.run_id));
    out.insert("payload".into(), Value::Object(payload));
    Value::Object(out)
}

fn job_state(state: i32) -> String {
    match JobState::try_from(state) {
        Ok(s) => strip(s.as_str_name(), "JOB_STATE_"),
        Err(_) => unknown(state),
    }
}

/// Formats a timestamp as RFC 3339 text in UTC, the way protobuf's JSON
/// mapping does: `2026-02-25T09:30:00Z`, with 3, 6 or 9 fractional digits
/// when the nanoseconds need them (`2026-02-25T09:30:00.125Z`).
///
/// Nanoseconds outside `0..1_000_000_000` are carried into the seconds.
/// Years outside 0000..=9999 (which RFC 3339 cannot express, and which a
/// valid `Timestamp` never has) are written with as many digits as they
/// need and a `-` sign when negative, rather than failing.
pub fn format_timestamp(ts: &Timestamp) -> String {
    const NANOS_PER_SECOND: i128 = 1_000_000_000;
    let total = i128::from(ts.seconds) * NANOS_PER_SECOND + i128::from(ts.nanos);
    let seconds = total.div_euclid(NANOS_PER_SECOND);
    let nanos = total.rem_euclid(NANOS_PER_SECOND);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60);
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    let year = if year < 0 { format!("-{:04}", -year) } else { format!("{year:04}") };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// A JSON number, or `null` for a non-finite float (which no family
/// accepts, so validation names it).
fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn strip(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_string()
}

fn unknown(number: i32) -> String {
    format!("UNKNOWN_{number}")
}
