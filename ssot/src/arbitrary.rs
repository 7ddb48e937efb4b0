//! proptest strategies for contract-valid gateway messages.
//!
//! "Valid" means valid as the proto comments define it: ids of the form
//! `job-`/`run-`/`evt-` and 32 lowercase hex digits, a job's `task_id`
//! equal to its `job_id`, an outcome set exactly when the state is
//! terminal and with the matching task status, policy reason codes of the
//! documented pattern, confidences in 0..=1, risk scores in 0..=100, hex
//! digests of the documented lengths, and so on. Every strategy shrinks
//! towards small, simple messages, and recursion (the output JSON of an
//! outcome) is bounded.
//!
//! `cargo xtask ssot` projects what these strategies generate onto each
//! family and validates it, so a projection that cannot represent some
//! valid message fails there with the shrunk message.

pub mod chars;

use std::collections::HashMap;
use std::ops::RangeInclusive;

use dome_sdk::pb::{
    Artifact, DecisionStatus, GateDecision, GateDecisionRef, Job, JobCancelRequested, JobEvent, JobLog, JobOutcome,
    JobProgress, JobState, JobStateChanged, PromotionDecision, Provenance, TaskStatus, TelemetryRef,
    job_event::Payload,
};

use dome_sdk::pb::Timestamp;
use proptest::collection::{hash_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

use chars::{
    Class, DIGIT, HEX, LOWER, LOWER_DIGIT_DASH, LOWER_DIGIT_UNDERSCORE_DASH, LOWER_SPACE, NAME, TEXT, TOKEN, UPPER,
    UPPER_DIGIT_UNDERSCORE, URI_PATH, chars,
};

/// The first and last second of a valid `google.protobuf.Timestamp`
/// (0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z).
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// The conformance script's step names: what a job's provenance lists as
/// its commands.
const STEPS: &[&str] =
    &["progress", "log", "gate_decision", "promotion_decision", "artifact", "sleep", "park", "fail", "succeed", "bulk"];

/// An id as servers of the contract form them: `prefix`, `-` and 32
/// lowercase hex digits.
pub fn id(prefix: &'static str) -> impl Strategy<Value = String> {
    chars(HEX, 32..=32).prop_map(move |hex| format!("{prefix}-{hex}"))
}

/// Words of `class` (each of a length in `word`) joined by `.`: the first
/// from `first`, then `rest` more.
fn dotted(
    first: Class,
    rest_class: Class,
    word: RangeInclusive<usize>,
    rest: RangeInclusive<usize>,
) -> impl Strategy<Value = String> {
    let rest = vec(chars(rest_class, word.clone()), rest);
    (chars(first, word), rest).prop_map(|(head, tail)| {
        tail.iter().fold(head, |mut s, part| {
            s.push('.');
            s.push_str(part);
            s
        })
    })
}

/// A policy reason code (`^[A-Z]+(\.[A-Z0-9_]+)+$`): one to eight capitals,
/// then one to three parts of one to twelve.
pub fn reason_code() -> impl Strategy<Value = String> {
    (chars(UPPER, 1..=8), vec(chars(UPPER_DIGIT_UNDERSCORE, 1..=12), 1..=3))
        .prop_map(|(head, parts)| format!("{head}.{}", parts.join(".")))
}

/// A correlation id: 1 to 128 characters of `[A-Za-z0-9._:-]`.
pub fn correlation_id() -> impl Strategy<Value = String> {
    chars(TOKEN, 1..=128)
}

/// A semantic version `MAJOR.MINOR.PATCH`, each part 0 to 999.
pub fn semver() -> impl Strategy<Value = String> {
    (0..1000u32, 0..1000u32, 0..1000u32).prop_map(|(major, minor, patch)| format!("{major}.{minor}.{patch}"))
}

/// A skill id: one to four dotted words of one to eight lowercase letters.
pub fn skill_id() -> impl Strategy<Value = String> {
    dotted(LOWER, LOWER, 1..=8, 0..=3)
}

/// Free human-readable text (no control characters), possibly empty.
pub fn text() -> impl Strategy<Value = String> {
    chars(TEXT, 0..=40)
}

/// A name that starts with a lowercase letter and goes on with
/// `tail_class` (up to `tail` more characters).
fn name(tail_class: Class, tail: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    (chars(LOWER, 1..=1), chars(tail_class, tail)).prop_map(|(head, tail)| head + &tail)
}

/// An artifact URI: `mem://`, `file://` or `https://` and a path.
fn uri() -> impl Strategy<Value = String> {
    (proptest::sample::select(&["mem", "file", "https"][..]), chars(URI_PATH, 1..=40))
        .prop_map(|(scheme, path)| format!("{scheme}://{path}"))
}

/// A valid `google.protobuf.Timestamp`.
pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (TIMESTAMP_SECONDS, 0..1_000_000_000i32).prop_map(|(seconds, nanos)| Timestamp { seconds, nanos })
}

/// 32 lowercase hex digits and 16 lowercase hex digits, as W3C trace
/// context writes trace and span ids.
pub fn telemetry_ref() -> impl Strategy<Value = TelemetryRef> {
    (chars(HEX, 32..=32), chars(HEX, 16..=16))
        .prop_map(|(trace_id_hex, span_id_hex)| TelemetryRef { trace_id_hex, span_id_hex })
}

/// An artifact: a name, a URI, and a SHA-256 when known.
pub fn artifact() -> impl Strategy<Value = Artifact> {
    (name(NAME, 0..=15), uri(), option::of(chars(HEX, 64..=64))).prop_map(|(name, uri, sha256)| Artifact {
        name,
        uri,
        sha256: sha256.unwrap_or_default(),
    })
}

/// Canonical JSON text of a small JSON value (keys sorted, no
/// insignificant whitespace), at most two levels deep.
pub fn canonical_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        chars(LOWER_SPACE, 0..=12).prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Value::Array),
            hash_map(chars(LOWER, 1..=6), inner, 0..3).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    // serde_json's map is ordered by key, so this is the canonical form.
    value.prop_map(|v| v.to_string())
}

/// A terminal outcome with the given status, shaped by the proto's
/// rules: `output_json` only on `PASS`, a reason code on `FAIL` and
/// `BLOCKED` and never on `PASS`, `transient` only on `FAIL`, attempts
/// from 1.
pub fn job_outcome_with(status: TaskStatus, task_id: String) -> impl Strategy<Value = JobOutcome> {
    (option::of(canonical_json()), reason_code(), text(), any::<bool>(), 1..=10u32, vec(artifact(), 0..3)).prop_map(
        move |(output, reason, message, transient, attempt, artifacts)| JobOutcome {
            task_id: task_id.clone(),
            status: status as i32,
            output_json: if status == TaskStatus::Pass { output.unwrap_or_default() } else { String::new() },
            reason_code: if status == TaskStatus::Pass { String::new() } else { reason },
            message,
            transient: status == TaskStatus::Fail && transient,
            attempt,
            artifacts,
        },
    )
}

/// Any terminal outcome of a task.
pub fn job_outcome() -> impl Strategy<Value = JobOutcome> {
    (prop_oneof![Just(TaskStatus::Pass), Just(TaskStatus::Fail), Just(TaskStatus::Blocked)], id("job"))
        .prop_flat_map(|(status, task_id)| job_outcome_with(status, task_id))
}

/// The outcome a job in `state` carries: none before it is terminal;
/// `PASS`, `FAIL`, or `BLOCKED` with `EXEC.CANCELLED` after.
fn outcome_for(state: JobState, task_id: String) -> BoxedStrategy<Option<JobOutcome>> {
    let status = match state {
        JobState::Succeeded => TaskStatus::Pass,
        JobState::Failed => TaskStatus::Fail,
        JobState::Cancelled => TaskStatus::Blocked,
        _ => return Just(None).boxed(),
    };
    job_outcome_with(status, task_id)
        .prop_map(move |mut outcome| {
            if state == JobState::Cancelled {
                outcome.reason_code = dome_sdk::contract::CANCELLED_REASON_CODE.into();
            }
            Some(outcome)
        })
        .boxed()
}

/// Any state a job can be in (never the zero value).
pub fn job_state() -> impl Strategy<Value = JobState> {
    prop_oneof![
        Just(JobState::Queued),
        Just(JobState::Running),
        Just(JobState::Cancelling),
        Just(JobState::Succeeded),
        Just(JobState::Failed),
        Just(JobState::Cancelled),
    ]
}

/// The provenance of a job of `run_id` running `skill_id@version`.
pub fn provenance_for(run_id: String, skill_id: String, version: String) -> impl Strategy<Value = Provenance> {
    (
        prop_oneof![
            Just("HEAD".to_string()),
            chars(LOWER, 1..=10).prop_map(|branch| format!("refs/heads/{branch}")),
            chars(HEX, 40..=40),
        ],
        chars(HEX, 64..=64),
        vec(proptest::sample::select(STEPS), 0..6),
        hash_map(name(NAME, 0..=15), uri(), 0..3),
        hash_map(name(LOWER_DIGIT_DASH, 0..=11), semver(), 0..3),
        semver(),
        option::of(
            (chars(LOWER, 1..=8), chars(LOWER_DIGIT_UNDERSCORE_DASH, 1..=12), chars(DIGIT, 1..=3))
                .prop_map(|(owner, name, version)| format!("{owner}/{name}@{version}")),
        ),
    )
        .prop_map(move |(base_ref, input_sha256, commands, artifacts, mut tool_versions, domed, policy_ref)| {
            tool_versions.insert("domed".into(), domed);
            Provenance {
                run_id: run_id.clone(),
                base_ref,
                input_contract: format!("skill:{skill_id}@{version}"),
                input_sha256,
                commands: commands.into_iter().map(str::to_string).collect(),
                artifacts,
                tool_versions,
                policy_ref: policy_ref.unwrap_or_default(),
            }
        })
}

/// Any provenance.
pub fn provenance() -> impl Strategy<Value = Provenance> {
    (id("run"), skill_id(), semver()).prop_flat_map(|(run, skill, version)| provenance_for(run, skill, version))
}

/// Labels as `SkillExecuteRequest` allows them: keys of `[a-z0-9._-]`
/// (1 to 63), values of at most 256 characters, at most 32 of them (kept
/// to a few here).
pub fn labels() -> impl Strategy<Value = HashMap<String, String>> {
    hash_map(chars(NAME, 1..=63), chars(TEXT, 0..=24), 0..4)
}

/// A job in any state, its fields consistent with it: `task_id` equal to
/// `job_id`; `start_time` unset while `QUEUED` (and possibly for a job
/// cancelled before it started); `end_time` and `outcome` set exactly
/// when terminal; times in order; `last_sequence` at least 1; provenance
/// always set, of the job's run and skill.
pub fn job() -> impl Strategy<Value = Job> {
    let head = (id("job"), id("run"), skill_id(), semver(), job_state());
    head.prop_flat_map(|(job_id, run_id, skill, version, state)| {
        (
            outcome_for(state, job_id.clone()),
            provenance_for(run_id.clone(), skill.clone(), version.clone()),
            (-62_135_596_800i64..=253_000_000_000, 0..1_000_000_000i32, 0..100_000i64, 0..100_000i64),
            any::<bool>(),
            1..=u64::MAX,
            correlation_id(),
            labels(),
            option::of(correlation_id()),
        )
            .prop_map(
                move |(
                    outcome,
                    provenance,
                    (created, nanos, ran, took),
                    started,
                    last_sequence,
                    correlation_id,
                    labels,
                    key,
                )| {
                    let at = |seconds: i64| Some(Timestamp { seconds, nanos });
                    let terminal = matches!(state, JobState::Succeeded | JobState::Failed | JobState::Cancelled);
                    let started = match state {
                        JobState::Queued => false,
                        JobState::Cancelled | JobState::Cancelling => started,
                        _ => true,
                    };
                    Job {
                        job_id: job_id.clone(),
                        run_id: run_id.clone(),
                        task_id: job_id.clone(),
                        skill_id: skill.clone(),
                        skill_version: version.clone(),
                        state: state as i32,
                        create_time: at(created),
                        start_time: if started { at(created + ran) } else { None },
                        end_time: if terminal { at(created + ran + took) } else { None },
                        outcome,
                        provenance: Some(provenance),
                        last_sequence,
                        correlation_id,
                        labels,
                        idempotency_key: key.unwrap_or_default(),
                    }
                },
            )
    })
}

fn decision_status() -> impl Strategy<Value = DecisionStatus> {
    prop_oneof![Just(DecisionStatus::Approve), Just(DecisionStatus::Reject), Just(DecisionStatus::NeedsHuman)]
}

/// A gate decision: every required field set, optional ones sometimes.
pub fn gate_decision() -> impl Strategy<Value = GateDecision> {
    (
        semver(),
        id("run"),
        id("job"),
        decision_status(),
        vec(reason_code(), 0..4),
        telemetry_ref(),
        0..=3i32,
        option::of(0.0..=1.0f64),
        option::of(0..=100u32),
        vec(text(), 0..3),
        option::of(timestamp()),
    )
        .prop_map(
            |(
                version,
                run_id,
                task_id,
                status,
                reason_codes,
                telemetry,
                substrate,
                confidence,
                risk,
                notes,
                record,
            )| {
                GateDecision {
                    version,
                    run_id,
                    task_id,
                    status: status as i32,
                    reason_codes,
                    telemetry_ref: Some(telemetry),
                    substrate_status: substrate,
                    confidence,
                    risk_score: risk,
                    notes,
                    record_time: record,
                }
            },
        )
}

/// The reference from a promotion decision to its gate decision.
pub fn gate_decision_ref() -> impl Strategy<Value = GateDecisionRef> {
    (id("job"), telemetry_ref())
        .prop_map(|(task_id, telemetry)| GateDecisionRef { task_id, telemetry_ref: Some(telemetry) })
}

/// A promotion decision: every field set.
pub fn promotion_decision() -> impl Strategy<Value = PromotionDecision> {
    (
        semver(),
        id("run"),
        decision_status(),
        vec(reason_code(), 0..4),
        0.0..=1.0f64,
        0..=100u32,
        vec(text(), 0..3),
        gate_decision_ref(),
        option::of(timestamp()),
    )
        .prop_map(|(version, run_id, decision, reason_codes, confidence, risk_score, notes, reference, record)| {
            PromotionDecision {
                version,
                run_id,
                decision: decision as i32,
                reason_codes,
                confidence,
                risk_score,
                notes,
                gate_decision_ref: Some(reference),
                record_time: record,
            }
        })
}

/// Any payload of an event of job `job_id` of run `run_id`, each shaped
/// as the proto says: a terminal state change carries the job's outcome;
/// a cancel comes from `QUEUED` or `RUNNING`; progress is 0 to 100;
/// decisions are recorded for the job's run (a gate decision on the job
/// itself).
pub fn payload_for(job_id: String, run_id: String) -> impl Strategy<Value = Payload> {
    let (job, run, run2) = (job_id.clone(), run_id.clone(), run_id);
    prop_oneof![
        job_state().prop_flat_map(move |state| outcome_for(state, job.clone())
            .prop_map(move |outcome| Payload::StateChanged(JobStateChanged { state: state as i32, outcome }))),
        (0..=100u32, text()).prop_map(|(percent, message)| Payload::Progress(JobProgress { percent, message })),
        (0..=4i32, text()).prop_map(|(level, message)| Payload::Log(JobLog { level, message })),
        (text(), prop_oneof![Just(JobState::Queued), Just(JobState::Running)]).prop_map(|(reason, state)| {
            Payload::CancelRequested(JobCancelRequested { reason, previous_state: state as i32 })
        }),
        gate_decision().prop_map(move |mut decision| {
            decision.run_id = run.clone();
            decision.task_id = job_id.clone();
            Payload::GateDecisionRecorded(decision)
        }),
        promotion_decision().prop_map(move |mut decision| {
            decision.run_id = run2.clone();
            Payload::PromotionDecisionRecorded(decision)
        }),
        artifact().prop_map(Payload::ArtifactProduced),
    ]
}

/// An event of a job's log, with any payload.
pub fn job_event() -> impl Strategy<Value = JobEvent> {
    (id("job"), id("run")).prop_flat_map(|(job_id, run_id)| {
        (
            id("evt"),
            1..=u64::MAX,
            timestamp(),
            option::of(correlation_id()),
            payload_for(job_id.clone(), run_id.clone()),
        )
            .prop_map(move |(event_id, sequence, time, correlation_id, payload)| JobEvent {
                event_id,
                sequence,
                job_id: job_id.clone(),
                run_id: run_id.clone(),
                time: Some(time),
                correlation_id: correlation_id.unwrap_or_default(),
                payload: Some(payload),
            })
    })
}

/// A generated message and its projection, with the message's type erased
/// so that [`crate::SUBJECTS`] can hold every subject's strategy in one
/// table. Its `Debug` is the message's.
#[derive(Clone)]
pub struct Projected {
    /// The generated message.
    pub instance: std::rc::Rc<dyn std::fmt::Debug>,
    /// Its projection onto family JSON.
    pub json: Value,
}

impl std::fmt::Debug for Projected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.instance.fmt(f)
    }
}

/// Instances from `strategy`, each with its projection by `project`;
/// shrinking shrinks the message and projects it again.
pub fn projected<M: std::fmt::Debug + 'static>(
    strategy: impl Strategy<Value = M> + 'static,
    project: fn(&M) -> Value,
) -> BoxedStrategy<Projected> {
    strategy
        .prop_map(move |message| {
            let json = project(&message);
            Projected { instance: std::rc::Rc::new(message), json }
        })
        .boxed()
}
