//! The workers: what a job does once it runs, above all the conformance
//! skill's script of steps.
//!
//! A cancel is looked at between steps; a `sleep` or `park` step waits on
//! the job's cancel flag as well, so a cancel wakes it at once.
//!
//! No job holds a runtime thread for long: every step spends from tokio's
//! cooperative budget, and a `bulk` step appends its events in chunks of
//! [`BULK_CHUNK`], releasing the job's lock and yielding between chunks
//! (and stopping at a cancel), so that on a runtime with two threads,
//! jobs appending as fast as they can leave room for every other call.

use std::sync::Arc;
use std::time::Duration;

use dome_sdk::pb::{self, DecisionStatus, LogLevel, SubstrateStatus, job_event::Payload};
use dome_ssot::Family;
use serde_json::{Map, Value};

use crate::ids::new_hex;
use crate::skills::{SkillKind, canonical_json};
use crate::store::{Ending, JobEntry, Store, now};

/// The events a `bulk` step appends per lock of the job and per turn on
/// the runtime: about a tenth of a millisecond of work in a release build.
const BULK_CHUNK: u64 = 256;

/// Runs a started job to its end and records that end.
pub(crate) async fn execute(store: &Store, job: Arc<JobEntry>) {
    let input = job.take_input();
    let ending = match job.kind {
        SkillKind::Script => {
            // The script is parsed only while it runs; queued, it is text.
            let script: Value = serde_json::from_str(&input).unwrap_or(Value::Null);
            drop(input);
            run_script(store, &job, &script).await
        }
        SkillKind::Echo => {
            job.add_command("echo".to_owned());
            // The input is canonical JSON text already, and so the output.
            if job.cancel_requested() { Ending::Cancelled } else { Ending::Succeeded(input.into()) }
        }
    };
    {
        let mut data = job.lock();
        if job.finish(&mut data, ending) {
            tracing::info!(job_id = %job.job_id, state = ?data.state, "job ended");
        }
    }
    store.relieve(&job);
}

/// Executes the steps of a conformance script in order.
async fn run_script(store: &Store, job: &Arc<JobEntry>, input: &Value) -> Ending {
    let steps = input.get("steps").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for step in steps {
        // A script of many cheap steps still gives the thread back: each
        // step spends a unit of the task's budget, and an empty budget
        // yields to the runtime.
        tokio::task::consume_budget().await;
        // What the last step appended may have taken the server past its
        // byte budget.
        store.relieve(job);
        store.faults.step_delay().await;
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
                job.emit(Payload::Log(pb::JobLog { level: level as i32, message: string(body, "message") }));
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
                store.record_gate(job, decision.clone());
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
                store.record_promotion(job, decision.clone());
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
                return Ending::Succeeded(body.get("output").map_or_else(|| "null".to_owned(), canonical_json));
            }
            "bulk" => {
                let count = uint(body, "count").min(100_000);
                let mut done = 0;
                while done < count {
                    if job.cancel_requested() {
                        return Ending::Cancelled;
                    }
                    {
                        let mut data = job.lock();
                        let Some(corr) = data.correlation_id().map(str::to_owned) else {
                            break;
                        };
                        let end = (done + BULK_CHUNK).min(count);
                        for i in done + 1..=end {
                            job.append_unannounced(
                                &mut data,
                                &corr,
                                &Payload::Progress(pb::JobProgress {
                                    percent: (i * 100 / count) as u32,
                                    message: String::new(),
                                }),
                            );
                        }
                        // Subscribers are woken once for the whole chunk.
                        job.announce(&data);
                        done = end;
                    }
                    store.relieve(job);
                    // The thread goes back to the runtime between chunks:
                    // other calls, streams and shutdown run in between.
                    tokio::task::yield_now().await;
                }
            }
            _ => {}
        }
    }
    if job.cancel_requested() { Ending::Cancelled } else { Ending::Succeeded("null".to_owned()) }
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
    let given = |key: &str| value.and_then(|v| v.get(key)).and_then(Value::as_str).map(str::to_owned);
    pb::TelemetryRef {
        trace_id_hex: given("trace_id_hex").unwrap_or_else(|| new_hex(32)),
        span_id_hex: given("span_id_hex").unwrap_or_else(|| new_hex(16)),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::Limits;
    use crate::errors::ApiError;
    use crate::mutants::Faults;
    use crate::store::Submission;
    use crate::worker::Workers;

    /// On a runtime with one thread, a job appending 100,000 events still
    /// lets another task run between its chunks: the other task, yielding
    /// once per turn, gets a turn for every chunk, where a job that kept
    /// the thread would give it none before it ended.
    #[tokio::test(flavor = "current_thread")]
    async fn a_bulk_step_gives_the_thread_back_between_chunks() -> Result<(), ApiError> {
        const COUNT: u64 = 100_000;
        let store = Arc::new(Store::new(Limits::default(), Faults::default(), None));
        let workers = Workers::new(store);
        let entry =
            workers.submit(Submission::script(serde_json::json!({ "steps": [{ "bulk": { "count": COUNT } }] })))?.entry;
        let mut turns = 0;
        while !entry.lock().terminal {
            tokio::task::yield_now().await;
            turns += 1;
        }
        assert!(
            turns >= COUNT / BULK_CHUNK,
            "another task had {turns} turns while the job appended {COUNT} events in chunks of {BULK_CHUNK}"
        );
        assert_eq!(entry.head(), COUNT + 3, "queued, running, the events, succeeded");
        Ok(())
    }
}
