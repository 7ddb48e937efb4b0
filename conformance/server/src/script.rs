//! The workers: what a job does once it runs, above all the conformance
//! skill's script of steps.
//!
//! A cancel is looked at between steps; a `sleep` or `park` step waits on
//! the job's cancel flag as well, so a cancel wakes it at once.

use std::sync::Arc;
use std::time::Duration;

use dome_sdk::pb::{self, DecisionStatus, LogLevel, SubstrateStatus, job_event::Payload};
use dome_ssot::Family;
use serde_json::{Map, Value};

use crate::ids::new_hex;
use crate::skills::SkillKind;
use crate::store::{Ending, JobEntry, Store, now};

/// Runs a started job to its end and records that end.
pub(crate) async fn execute(store: &Store, job: Arc<JobEntry>) {
    let input = job.take_input();
    let ending = match job.kind {
        SkillKind::Script => run_script(store, &job, &input).await,
        SkillKind::Echo => {
            job.add_command("echo".to_owned());
            if job.cancel_requested() {
                Ending::Cancelled
            } else {
                Ending::Succeeded(input)
            }
        }
    };
    let mut data = job.lock();
    if job.finish(&mut data, ending) {
        tracing::info!(job_id = %job.job_id, state = ?data.state, "job ended");
    }
}

/// Executes the steps of a conformance script in order.
async fn run_script(store: &Store, job: &JobEntry, input: &Value) -> Ending {
    let steps = input
        .get("steps")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for step in steps {
        if job.cancel_requested() {
            return Ending::Cancelled;
        }
        let Some((kind, body)) = step.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let empty = Map::new();
        let body = body.as_object().unwrap_or(&empty);
        job.add_command(kind.clone());
        match kind.as_str() {
            "progress" => {
                job.emit(Payload::Progress(pb::JobProgress {
                    percent: uint(body, "percent").min(100) as u32,
                    message: string(body, "message"),
                }));
            }
            "log" => {
                let level = match body.get("level").and_then(Value::as_str) {
                    Some("DEBUG") => LogLevel::Debug,
                    Some("WARN") => LogLevel::Warn,
                    Some("ERROR") => LogLevel::Error,
                    _ => LogLevel::Info,
                };
                job.emit(Payload::Log(pb::JobLog {
                    level: level as i32,
                    message: string(body, "message"),
                }));
            }
            "gate_decision" => {
                let decision = pb::GateDecision {
                    version: dome_ssot::schema_version(Family::GateDecision).to_owned(),
                    run_id: job.run_id.to_string(),
                    task_id: job.job_id.to_string(),
                    status: decision_status(body.get("status")) as i32,
                    reason_codes: strings(body, "reason_codes"),
                    telemetry_ref: Some(telemetry_ref(body.get("telemetry_ref"))),
                    substrate_status: match body.get("substrate_status").and_then(Value::as_str) {
                        Some("PROMOTE") => SubstrateStatus::Promote,
                        Some("DENY") => SubstrateStatus::Deny,
                        Some("STOP") => SubstrateStatus::Stop,
                        _ => SubstrateStatus::Unspecified,
                    } as i32,
                    confidence: body.get("confidence").and_then(Value::as_f64),
                    risk_score: body.get("risk_score").and_then(Value::as_u64).map(|r| r.min(100) as u32),
                    notes: strings(body, "notes"),
                    record_time: Some(now()),
                };
                store.record_gate(decision.clone());
                job.emit(Payload::GateDecisionRecorded(decision));
            }
            "promotion_decision" => {
                let gate_ref = match body.get("telemetry_ref") {
                    Some(given) => telemetry_ref(Some(given)),
                    None => store
                        .gate_decision(&job.run_id, &job.job_id)
                        .and_then(|g| g.telemetry_ref)
                        .unwrap_or_else(|| telemetry_ref(None)),
                };
                let decision = pb::PromotionDecision {
                    version: dome_ssot::schema_version(Family::PromotionDecision).to_owned(),
                    run_id: job.run_id.to_string(),
                    decision: decision_status(body.get("decision")) as i32,
                    reason_codes: strings(body, "reason_codes"),
                    confidence: body.get("confidence").and_then(Value::as_f64).unwrap_or(0.0),
                    risk_score: uint(body, "risk_score").min(100) as u32,
                    notes: strings(body, "notes"),
                    gate_decision_ref: Some(pb::GateDecisionRef {
                        task_id: job.job_id.to_string(),
                        telemetry_ref: Some(gate_ref),
                    }),
                    record_time: Some(now()),
                };
                store.record_promotion(decision.clone());
                job.emit(Payload::PromotionDecisionRecorded(decision));
            }
            "artifact" => {
                job.add_artifact(pb::Artifact {
                    name: string(body, "name"),
                    uri: string(body, "uri"),
                    sha256: string(body, "sha256"),
                });
            }
            "sleep" => {
                let millis = uint(body, "millis").min(10_000);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(millis)) => {}
                    () = job.cancel_requested_wait() => return Ending::Cancelled,
                }
            }
            "park" => {
                job.cancel_requested_wait().await;
                return Ending::Cancelled;
            }
            "fail" => {
                return Ending::Failed {
                    reason_code: string(body, "reason_code"),
                    message: string(body, "message"),
                    transient: body.get("transient").and_then(Value::as_bool).unwrap_or(false),
                };
            }
            "succeed" => {
                return Ending::Succeeded(body.get("output").cloned().unwrap_or(Value::Null));
            }
            "bulk" => {
                let count = uint(body, "count").min(100_000);
                let mut data = job.lock();
                let corr = data.correlation_id().unwrap_or_default().to_owned();
                for i in 1..=count {
                    job.append_unannounced(
                        &mut data,
                        &corr,
                        &Payload::Progress(pb::JobProgress {
                            percent: (i * 100 / count) as u32,
                            message: String::new(),
                        }),
                    );
                }
                // Subscribers are woken once for the whole run of events.
                job.announce(&data);
            }
            _ => {}
        }
    }
    if job.cancel_requested() {
        Ending::Cancelled
    } else {
        Ending::Succeeded(Value::Null)
    }
}

fn uint(body: &Map<String, Value>, key: &str) -> u64 {
    body.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn string(body: &Map<String, Value>, key: &str) -> String {
    body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn strings(body: &Map<String, Value>, key: &str) -> Vec<String> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn decision_status(value: Option<&Value>) -> DecisionStatus {
    match value.and_then(Value::as_str) {
        Some("APPROVE") => DecisionStatus::Approve,
        Some("REJECT") => DecisionStatus::Reject,
        Some("NEEDS_HUMAN") => DecisionStatus::NeedsHuman,
        _ => DecisionStatus::Unspecified,
    }
}

/// The telemetry reference given in a step, or a fresh one.
fn telemetry_ref(value: Option<&Value>) -> pb::TelemetryRef {
    let given = |key: &str| {
        value
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    pb::TelemetryRef {
        trace_id_hex: given("trace_id_hex").unwrap_or_else(|| new_hex(32)),
        span_id_hex: given("span_id_hex").unwrap_or_else(|| new_hex(16)),
    }
}
