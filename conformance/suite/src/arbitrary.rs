//! The proptest strategies of the suite, in one place: steps and scripts
//! for the conformance skill, and interleavings of calls across jobs.
//! Recursion (JSON outputs) is bounded; sizes are small so that one
//! property case costs milliseconds against a local server.

use std::fmt;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

use crate::script::{Decision, GateStep, Level, PromotionStep, Script, Step, Substrate, Telemetry};

/// Policy reason codes (pattern `^[A-Z]+(\.[A-Z0-9_]+)+$`).
pub fn reason_code() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("EXEC.NONZERO_EXIT".to_string()),
        Just("VERIFY.TEST_FAILURE".to_string()),
        Just("POLICY.NEEDS_HUMAN".to_string()),
        "[A-Z]{1,6}\\.[A-Z0-9_]{1,8}",
    ]
}

/// Short human text, with some non-ASCII.
pub fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 é✓_-]{0,16}"
}

fn telemetry() -> impl Strategy<Value = Option<Telemetry>> {
    option::of(("[0-9a-f]{32}", "[0-9a-f]{16}").prop_map(|(t, s)| Telemetry { trace_id_hex: t, span_id_hex: s }))
}

fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![Just(Decision::Approve), Just(Decision::Reject), Just(Decision::NeedsHuman)]
}

/// Confidences exactly representable in JSON and binary floating point.
fn confidence() -> impl Strategy<Value = Option<f64>> {
    option::of((0u32..=4).prop_map(|q| f64::from(q) / 4.0))
}

/// A gate decision step.
pub fn gate_step() -> impl Strategy<Value = GateStep> {
    (
        decision(),
        vec(reason_code(), 0..3),
        option::of(prop_oneof![Just(Substrate::Promote), Just(Substrate::Deny), Just(Substrate::Stop)]),
        confidence(),
        option::of(0u32..=100),
        vec(text(), 0..2),
        telemetry(),
    )
        .prop_map(|(status, reason_codes, substrate_status, confidence, risk_score, notes, telemetry)| GateStep {
            status,
            reason_codes,
            substrate_status,
            confidence,
            risk_score,
            notes,
            telemetry,
        })
}

/// A promotion decision step.
pub fn promotion_step() -> impl Strategy<Value = PromotionStep> {
    (decision(), vec(reason_code(), 0..3), confidence(), option::of(0u32..=100), vec(text(), 0..2), telemetry())
        .prop_map(|(decision, reason_codes, confidence, risk_score, notes, telemetry)| PromotionStep {
            decision,
            reason_codes,
            confidence,
            risk_score,
            notes,
            telemetry,
        })
}

/// A JSON value without floats (so that equality after a round trip is
/// exact), nested at most three deep.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A step that neither ends nor parks the job and takes at most a few
/// milliseconds.
pub fn plain_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => ((0u32..=100), option::of(text())).prop_map(|(percent, message)| Step::Progress { percent, message }),
        2 => (option::of(prop_oneof![Just(Level::Debug), Just(Level::Info), Just(Level::Warn), Just(Level::Error)]), text())
            .prop_map(|(level, message)| Step::Log { level, message }),
        1 => gate_step().prop_map(Step::GateDecision),
        1 => promotion_step().prop_map(Step::PromotionDecision),
        1 => ("[a-z]{1,8}", option::of("[0-9a-f]{64}")).prop_map(|(p, sha256)| Step::Artifact {
            name: String::new(),
            uri: format!("file:///artifacts/{p}"),
            sha256,
        }),
        1 => (0u64..=15).prop_map(|millis| Step::Sleep { millis }),
        1 => (1u32..=25).prop_map(|count| Step::Bulk { count }),
    ]
}

/// The step that ends a script, if any.
pub fn ending_step() -> impl Strategy<Value = Option<Step>> {
    prop_oneof![
        1 => Just(None),
        2 => option::of(json_value()).prop_map(|output| Some(Step::Succeed { output })),
        2 => (reason_code(), option::of(text()), option::of(any::<bool>()))
            .prop_map(|(reason_code, message, transient)| Some(Step::Fail { reason_code, message, transient })),
    ]
}

/// A script that runs to its end by itself: plain steps, then maybe
/// `succeed` or `fail` (and, after it, steps that must never run).
pub fn finishing_script() -> impl Strategy<Value = Script> {
    (vec(plain_step(), 0..8), ending_step(), vec(plain_step(), 0..2)).prop_map(|(mut steps, end, after)| {
        if let Some(end) = end {
            steps.push(end);
            steps.extend(after);
        }
        Script::new(steps)
    })
}

/// A script that parks after some plain steps: only a cancel ends it.
pub fn parking_script() -> impl Strategy<Value = Script> {
    (vec(plain_step(), 0..6), vec(plain_step(), 0..2)).prop_map(|(mut steps, after)| {
        steps.push(Step::Park);
        steps.extend(after);
        Script::new(steps)
    })
}

/// Either kind of script.
pub fn any_script() -> impl Strategy<Value = Script> {
    prop_oneof![2 => finishing_script(), 1 => parking_script()]
}

/// A script and the point at which to cancel it: after this many events
/// of the job have been streamed (counting from the first).
pub fn cancel_point() -> impl Strategy<Value = (Script, u8)> {
    (any_script(), 1u8..=12)
}

/// One call of an interleaving. Job operands are indices into the jobs
/// submitted so far (taken modulo their count).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `SkillExecute` of a script: a new job.
    Submit(Script),
    /// `GetJobStatus` of a job.
    Status(usize),
    /// `CancelJob` of a job.
    Cancel(usize),
    /// Follow the job live from the start, in the background, until its
    /// stream closes (after the scenario ends every job).
    Follow(usize),
    /// Read the job, then stream from a cursor at `cursor_per_255` of its
    /// `last_sequence` and take at most `take` of the events that exist,
    /// then drop the stream.
    Slice {
        /// The job.
        job: usize,
        /// Where the cursor lies between 0 and the job's `last_sequence`.
        cursor_per_255: u8,
        /// How many events to take at most.
        take: u8,
    },
}

/// A random interleaving of calls across several jobs: batches run one
/// after another, the calls of a batch concurrently.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The batches.
    pub batches: Vec<Vec<Op>>,
    /// Whether every job is cancelled at the end (otherwise only jobs
    /// whose scripts park are, and the rest run to their end).
    pub cancel_all_at_end: bool,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any_script().prop_map(Op::Submit),
        2 => (0usize..4).prop_map(Op::Status),
        1 => (0usize..4).prop_map(Op::Cancel),
        1 => (0usize..4).prop_map(Op::Follow),
        2 => (0usize..4, any::<u8>(), 1u8..=20).prop_map(|(job, cursor_per_255, take)| Op::Slice { job, cursor_per_255, take }),
    ]
}

/// An interleaving: a first submit, then up to eight batches of one to
/// three calls.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (any_script(), vec(vec(op(), 1..=3), 0..8), any::<bool>()).prop_map(|(first, mut batches, cancel_all_at_end)| {
        batches.insert(0, vec![Op::Submit(first)]);
        Scenario { batches, cancel_all_at_end }
    })
}

impl fmt::Display for Scenario {
    /// One batch per line; scripts indented below their submit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut submitted = 0;
        for (i, batch) in self.batches.iter().enumerate() {
            writeln!(f, "batch {} ({}):", i + 1, if batch.len() > 1 { "concurrent" } else { "alone" })?;
            for op in batch {
                match op {
                    Op::Submit(s) => {
                        writeln!(f, "  submit job #{submitted}:")?;
                        submitted += 1;
                        for line in s.to_string().lines() {
                            writeln!(f, "    {line}")?;
                        }
                    }
                    Op::Status(j) => writeln!(f, "  status job #{}", j % submitted.max(1))?,
                    Op::Cancel(j) => writeln!(f, "  cancel job #{}", j % submitted.max(1))?,
                    Op::Follow(j) => writeln!(f, "  follow job #{} live in the background", j % submitted.max(1))?,
                    Op::Slice { job, cursor_per_255, take } => writeln!(
                        f,
                        "  stream job #{} from {}/255 of its head, take {take}",
                        job % submitted.max(1),
                        cursor_per_255
                    )?,
                }
            }
        }
        write!(
            f,
            "then: {}",
            if self.cancel_all_at_end { "cancel every job" } else { "cancel parked jobs, let the rest finish" }
        )
    }
}
