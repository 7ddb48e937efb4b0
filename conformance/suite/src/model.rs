//! A plain model of the contract's job semantics: from a script it predicts
//! what a job may emit and how it may end, and it judges every observation
//! of a job (an event log, a status read, a cancel response) against the
//! rules of `jobs.proto`, `events.proto` and `service.proto`.
//!
//! The model knows nothing of timing. Where the contract leaves a race
//! open (a cancel against a job that is about to finish), it accepts each
//! outcome the contract allows and nothing else.

use std::collections::HashSet;
use std::fmt;

use dome_sdk::contract::CANCELLED_REASON_CODE;
use dome_sdk::pb::{self, JobEvent, JobState, TaskStatus, job_event::Payload};
use serde_json::Value;

use crate::script::{Decision, GateStep, Level, PromotionStep, Script, Step, Substrate};

/// A rule of the contract that an observation broke, in words: what was
/// expected and what came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! violated {
    ($($arg:tt)*) => { return Err(Violation(format!($($arg)*))) };
}

/// One event the script makes the job emit (besides state changes and the
/// cancel-requested event).
#[derive(Debug, Clone, PartialEq)]
pub enum Emission {
    /// A progress event; `percent` and `message` are `None` where nothing
    /// is fixed.
    Progress {
        /// The percent, when the script fixes it.
        percent: Option<u32>,
        /// The message (empty when none was given), when fixed.
        message: Option<String>,
    },
    /// A log event.
    Log {
        /// The level given, if any (none is sent as unspecified or INFO).
        level: Option<Level>,
        /// The line.
        message: String,
    },
    /// A gate decision recorded and emitted.
    Gate(GateStep),
    /// A promotion decision recorded and emitted.
    Promotion(PromotionStep),
    /// An artifact produced and emitted.
    Artifact {
        /// Its name.
        name: String,
        /// Its URI.
        uri: String,
        /// Its digest, empty when not given.
        sha256: String,
    },
}

/// How a job running a script ends when nobody cancels it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// `SUCCEEDED` with this output.
    Succeeds(Value),
    /// `FAILED` with this policy reason code, message and transience.
    Fails {
        /// The policy reason code.
        reason_code: String,
        /// The message, when the script gave one.
        message: Option<String>,
        /// Whether transient.
        transient: bool,
    },
    /// It parks: only a cancel ends it (`CANCELLED`).
    Parks,
}

/// What the model predicts for one script.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Every event the steps emit, in order, up to the step that ends or
    /// parks the job.
    pub emissions: Vec<Emission>,
    /// How the job ends when not cancelled.
    pub ending: Ending,
}

/// Predicts the events and the ending of a job running `script`.
pub fn predict(script: &Script) -> Prediction {
    let mut emissions = Vec::new();
    for step in &script.steps {
        match step {
            Step::Progress { percent, message } => emissions.push(Emission::Progress {
                percent: Some(*percent),
                message: Some(message.clone().unwrap_or_default()),
            }),
            Step::Log { level, message } => emissions.push(Emission::Log { level: *level, message: message.clone() }),
            Step::GateDecision(g) => emissions.push(Emission::Gate(g.clone())),
            Step::PromotionDecision(p) => emissions.push(Emission::Promotion(p.clone())),
            Step::Artifact { name, uri, sha256 } => emissions.push(Emission::Artifact {
                name: name.clone(),
                uri: uri.clone(),
                sha256: sha256.clone().unwrap_or_default(),
            }),
            Step::Sleep { .. } => {}
            Step::Bulk { count } => {
                // Event i (from 1) of a bulk of n: percent i * 100 / n,
                // rounded down, and no message.
                let n = u64::from(*count);
                for i in 1..=n {
                    emissions
                        .push(Emission::Progress { percent: Some((i * 100 / n) as u32), message: Some(String::new()) });
                }
            }
            Step::Park => return Prediction { emissions, ending: Ending::Parks },
            Step::Fail { reason_code, message, transient } => {
                return Prediction {
                    emissions,
                    ending: Ending::Fails {
                        reason_code: reason_code.clone(),
                        message: message.clone(),
                        transient: transient.unwrap_or(false),
                    },
                };
            }
            Step::Succeed { output } => {
                return Prediction { emissions, ending: Ending::Succeeds(output.clone().unwrap_or(Value::Null)) };
            }
        }
    }
    Prediction { emissions, ending: Ending::Succeeds(Value::Null) }
}

/// What the suite knows of a job besides its events: its identity and the
/// calls that touched it.
#[derive(Debug, Clone, Default)]
pub struct JobFacts {
    /// The job's id.
    pub job_id: String,
    /// The job's run.
    pub run_id: String,
    /// The correlation id of the `SkillExecute` call that created it.
    pub correlation_id: String,
    /// The correlation ids of `CancelJob` calls that answered
    /// `cancel_requested: true`.
    pub effective_cancels: Vec<String>,
    /// Whether any `CancelJob` call was made (answered or not).
    pub cancel_attempted: bool,
}

/// The state a job is in, as the model tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No event seen yet.
    Unborn,
    /// `QUEUED`.
    Queued,
    /// `RUNNING`.
    Running,
    /// `CANCELLING`.
    Cancelling,
    /// A terminal state.
    Ended(JobState),
}

impl Phase {
    /// The wire state of the phase (`Unspecified` before the first event).
    pub fn state(self) -> JobState {
        match self {
            Phase::Unborn => JobState::Unspecified,
            Phase::Queued => JobState::Queued,
            Phase::Running => JobState::Running,
            Phase::Cancelling => JobState::Cancelling,
            Phase::Ended(s) => s,
        }
    }
}

/// Whether a state is terminal.
pub fn is_terminal(state: JobState) -> bool {
    dome_sdk::is_terminal_state(state as i32)
}

/// The forward order of states: a job's rank never decreases.
pub fn rank(state: JobState) -> u8 {
    match state {
        JobState::Unspecified => 0,
        JobState::Queued => 1,
        JobState::Running => 2,
        JobState::Cancelling => 3,
        JobState::Succeeded | JobState::Failed | JobState::Cancelled => 4,
    }
}

fn state_of(raw: i32) -> Result<JobState, Violation> {
    match JobState::try_from(raw) {
        Ok(s) if s != JobState::Unspecified => Ok(s),
        _ => violated!("state {raw} is not a defined non-zero JobState"),
    }
}

/// What a complete log says, once checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSummary {
    /// The terminal state.
    pub terminal: JobState,
    /// The sequence of the cancel-requested event, if any.
    pub cancel_requested_at: Option<u64>,
    /// How many of the predicted emissions were emitted.
    pub emitted: usize,
    /// The state after each prefix: `phase_after[n]` is the state once
    /// the first `n` events are applied.
    pub phase_after: Vec<Phase>,
}

/// Whether a string is `prefix` followed by 32 lowercase hex digits.
pub fn is_prefixed_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn describe(event: &JobEvent) -> String {
    let what = match &event.payload {
        None => "no payload".to_string(),
        Some(Payload::StateChanged(s)) => {
            format!("state_changed({})", JobState::try_from(s.state).map(|s| s.as_str_name()).unwrap_or("?"))
        }
        Some(Payload::Progress(p)) => format!("progress({}%)", p.percent),
        Some(Payload::Log(l)) => format!("log({:?})", l.message),
        Some(Payload::CancelRequested(_)) => "cancel_requested".to_string(),
        Some(Payload::GateDecisionRecorded(_)) => "gate_decision_recorded".to_string(),
        Some(Payload::PromotionDecisionRecorded(_)) => "promotion_decision_recorded".to_string(),
        Some(Payload::ArtifactProduced(a)) => format!("artifact_produced({})", a.name),
    };
    format!("event #{} {}", event.sequence, what)
}

/// Renders a log compactly, one event per line, for failure reports.
pub fn render_log(events: &[JobEvent]) -> String {
    events.iter().map(describe).collect::<Vec<_>>().join("\n")
}

fn decision_of(d: Decision) -> i32 {
    match d {
        Decision::Approve => pb::DecisionStatus::Approve as i32,
        Decision::Reject => pb::DecisionStatus::Reject as i32,
        Decision::NeedsHuman => pb::DecisionStatus::NeedsHuman as i32,
    }
}

fn substrate_of(s: Option<Substrate>) -> i32 {
    match s {
        None => pb::SubstrateStatus::Unspecified as i32,
        Some(Substrate::Promote) => pb::SubstrateStatus::Promote as i32,
        Some(Substrate::Deny) => pb::SubstrateStatus::Deny as i32,
        Some(Substrate::Stop) => pb::SubstrateStatus::Stop as i32,
    }
}

fn check_telemetry(
    got: Option<&pb::TelemetryRef>,
    want: Option<&crate::script::Telemetry>,
    what: &str,
) -> Result<(), Violation> {
    let Some(got) = got else { violated!("{what}: telemetry_ref is unset (it is required)") };
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !hex(&got.trace_id_hex, 32) || !hex(&got.span_id_hex, 16) {
        violated!("{what}: telemetry_ref {got:?} is not 32 + 16 lowercase hex digits");
    }
    if let Some(want) = want
        && (got.trace_id_hex != want.trace_id_hex || got.span_id_hex != want.span_id_hex)
    {
        violated!("{what}: telemetry_ref {got:?}, the script recorded {want:?}");
    }
    Ok(())
}

/// Checks a gate decision as returned (by an event or `GetGateDecision`)
/// against the step that recorded it.
pub fn check_gate(got: &pb::GateDecision, want: &GateStep, facts: &JobFacts, what: &str) -> Result<(), Violation> {
    if got.version.is_empty() {
        violated!("{what}: version is empty (it is required)");
    }
    if got.run_id != facts.run_id || got.task_id != facts.job_id {
        violated!(
            "{what}: run/task {}/{}, expected the job's {}/{}",
            got.run_id,
            got.task_id,
            facts.run_id,
            facts.job_id
        );
    }
    if got.status != decision_of(want.status) {
        violated!("{what}: status {}, the script recorded {}", got.status, want.status.as_str());
    }
    if got.reason_codes != want.reason_codes {
        violated!("{what}: reason_codes {:?}, the script recorded {:?}", got.reason_codes, want.reason_codes);
    }
    if got.substrate_status != substrate_of(want.substrate_status) {
        violated!("{what}: substrate_status {}, the script recorded {:?}", got.substrate_status, want.substrate_status);
    }
    if got.confidence != want.confidence {
        violated!("{what}: confidence {:?}, the script recorded {:?}", got.confidence, want.confidence);
    }
    if got.risk_score != want.risk_score {
        violated!("{what}: risk_score {:?}, the script recorded {:?}", got.risk_score, want.risk_score);
    }
    if got.notes != want.notes {
        violated!("{what}: notes {:?}, the script recorded {:?}", got.notes, want.notes);
    }
    check_telemetry(got.telemetry_ref.as_ref(), want.telemetry.as_ref(), what)
}

/// Checks a promotion decision as returned against the step that recorded
/// it.
pub fn check_promotion(
    got: &pb::PromotionDecision,
    want: &PromotionStep,
    facts: &JobFacts,
    what: &str,
) -> Result<(), Violation> {
    if got.version.is_empty() {
        violated!("{what}: version is empty (it is required)");
    }
    if got.run_id != facts.run_id {
        violated!("{what}: run {}, expected the job's {}", got.run_id, facts.run_id);
    }
    if got.decision != decision_of(want.decision) {
        violated!("{what}: decision {}, the script recorded {}", got.decision, want.decision.as_str());
    }
    if got.reason_codes != want.reason_codes {
        violated!("{what}: reason_codes {:?}, the script recorded {:?}", got.reason_codes, want.reason_codes);
    }
    if let Some(c) = want.confidence
        && got.confidence != c
    {
        violated!("{what}: confidence {}, the script recorded {c}", got.confidence);
    }
    if !(0.0..=1.0).contains(&got.confidence) {
        violated!("{what}: confidence {} is outside 0..1", got.confidence);
    }
    if let Some(r) = want.risk_score
        && got.risk_score != r
    {
        violated!("{what}: risk_score {}, the script recorded {r}", got.risk_score);
    }
    if got.risk_score > 100 {
        violated!("{what}: risk_score {} is above 100", got.risk_score);
    }
    if got.notes != want.notes {
        violated!("{what}: notes {:?}, the script recorded {:?}", got.notes, want.notes);
    }
    let Some(gref) = &got.gate_decision_ref else { violated!("{what}: gate_decision_ref is unset (it is required)") };
    if gref.task_id != facts.job_id {
        violated!("{what}: gate_decision_ref.task_id {}, expected the job's task {}", gref.task_id, facts.job_id);
    }
    check_telemetry(gref.telemetry_ref.as_ref(), want.telemetry.as_ref(), what)
}

fn check_emission(event: &JobEvent, want: &Emission, facts: &JobFacts) -> Result<(), Violation> {
    let what = describe(event);
    match (&event.payload, want) {
        (Some(Payload::Progress(p)), Emission::Progress { percent, message }) => {
            if p.percent > 100 {
                violated!("{what}: percent {} is above 100", p.percent);
            }
            if let Some(want) = percent
                && p.percent != *want
            {
                violated!("{what}: percent {}, the script said {want}", p.percent);
            }
            if let Some(want) = message
                && &p.message != want
            {
                violated!("{what}: message {:?}, the script said {want:?}", p.message);
            }
            Ok(())
        }
        (Some(Payload::Log(l)), Emission::Log { level, message }) => {
            let want_level = match level {
                None => None,
                Some(Level::Debug) => Some(pb::LogLevel::Debug as i32),
                Some(Level::Info) => Some(pb::LogLevel::Info as i32),
                Some(Level::Warn) => Some(pb::LogLevel::Warn as i32),
                Some(Level::Error) => Some(pb::LogLevel::Error as i32),
            };
            let ok_level = match want_level {
                Some(w) => l.level == w,
                None => l.level == pb::LogLevel::Unspecified as i32 || l.level == pb::LogLevel::Info as i32,
            };
            if !ok_level {
                violated!("{what}: level {}, the script said {:?}", l.level, level);
            }
            if &l.message != message {
                violated!("{what}: message {:?}, the script said {message:?}", l.message);
            }
            Ok(())
        }
        (Some(Payload::GateDecisionRecorded(g)), Emission::Gate(want)) => check_gate(g, want, facts, &what),
        (Some(Payload::PromotionDecisionRecorded(p)), Emission::Promotion(want)) => {
            check_promotion(p, want, facts, &what)
        }
        (Some(Payload::ArtifactProduced(a)), Emission::Artifact { name, uri, sha256 }) => {
            if &a.name != name || &a.uri != uri || &a.sha256 != sha256 {
                violated!("{what}: artifact {a:?}, the script produced {name:?} at {uri:?} (sha256 {sha256:?})");
            }
            Ok(())
        }
        _ => violated!("{what}, but the script's next event is {want:?}"),
    }
}

fn check_outcome(
    outcome: Option<&pb::JobOutcome>,
    state: JobState,
    prediction: &Prediction,
    emitted: usize,
    artifacts: &[pb::Artifact],
    facts: &JobFacts,
    what: &str,
) -> Result<(), Violation> {
    let Some(o) = outcome else { violated!("{what}: the terminal state {} has no outcome", state.as_str_name()) };
    if o.task_id != facts.job_id {
        violated!("{what}: outcome.task_id {:?} is not the job id {:?}", o.task_id, facts.job_id);
    }
    if o.attempt != 1 {
        violated!("{what}: outcome.attempt is {}; a v1 server runs a job once, so it is 1", o.attempt);
    }
    if o.artifacts != artifacts {
        violated!("{what}: outcome.artifacts {:?}, the job produced {:?}", o.artifacts, artifacts);
    }
    let all_done = emitted == prediction.emissions.len();
    match state {
        JobState::Succeeded => {
            let Ending::Succeeds(want) = &prediction.ending else {
                violated!("{what}: the job SUCCEEDED, but its script ends {:?}", prediction.ending)
            };
            if !all_done {
                violated!(
                    "{what}: the job SUCCEEDED after {emitted} of the script's {} events",
                    prediction.emissions.len()
                );
            }
            if o.status != TaskStatus::Pass as i32 || !o.reason_code.is_empty() {
                violated!(
                    "{what}: a SUCCEEDED job's outcome is status {} reason {:?}, expected PASS and no reason",
                    o.status,
                    o.reason_code
                );
            }
            match serde_json::from_str::<Value>(&o.output_json) {
                Ok(got) if &got == want => Ok(()),
                Ok(got) => violated!("{what}: output {got}, the script said {want}"),
                Err(e) => violated!("{what}: output_json {:?} is not JSON: {e}", o.output_json),
            }
        }
        JobState::Failed => {
            let Ending::Fails { reason_code, message, transient } = &prediction.ending else {
                violated!("{what}: the job FAILED, but its script ends {:?}", prediction.ending)
            };
            if !all_done {
                violated!(
                    "{what}: the job FAILED after {emitted} of the script's {} events",
                    prediction.emissions.len()
                );
            }
            if o.status != TaskStatus::Fail as i32 || &o.reason_code != reason_code || o.transient != *transient {
                violated!(
                    "{what}: outcome status {} reason {:?} transient {}, expected FAIL {reason_code:?} transient {transient}",
                    o.status,
                    o.reason_code,
                    o.transient
                );
            }
            if let Some(m) = message
                && &o.message != m
            {
                violated!("{what}: outcome message {:?}, the script said {m:?}", o.message);
            }
            Ok(())
        }
        JobState::Cancelled => {
            if o.status != TaskStatus::Blocked as i32 || o.reason_code != CANCELLED_REASON_CODE {
                violated!(
                    "{what}: a CANCELLED job's outcome is status {} reason {:?}, expected BLOCKED {CANCELLED_REASON_CODE}",
                    o.status,
                    o.reason_code
                );
            }
            Ok(())
        }
        other => violated!("{what}: {} is not terminal", other.as_str_name()),
    }
}

/// Checks a job's event log, as streamed from cursor 0 until the stream
/// closed, against the script's prediction and the contract's rules:
/// gapless sequences from 1, `QUEUED` first, forward-only states, exactly
/// one terminal event and it last, at most one cancel-requested event (and
/// one exactly when a cancel took effect), the script's events in order,
/// and an outcome that matches the script.
pub fn check_log(events: &[JobEvent], prediction: &Prediction, facts: &JobFacts) -> Result<LogSummary, Violation> {
    let mut phase = Phase::Unborn;
    let mut phase_after = vec![Phase::Unborn];
    let mut emitted = 0usize;
    let mut artifacts = Vec::new();
    let mut cancel_requested_at = None;
    let mut cancelling_state_seen = false;
    let mut cancel_correlation: Option<String> = None;
    let mut ids = HashSet::new();
    for (i, event) in events.iter().enumerate() {
        let want_seq = i as u64 + 1;
        let what = describe(event);
        if event.sequence != want_seq {
            violated!(
                "{what}: sequence {} where {want_seq} was due (sequences are gapless from 1, each once, in order)",
                event.sequence
            );
        }
        if let Phase::Ended(s) = phase {
            violated!("{what} came after the terminal event (state {}); nothing is appended after it", s.as_str_name());
        }
        if event.job_id != facts.job_id || event.run_id != facts.run_id {
            violated!("{what}: job/run {}/{}, expected {}/{}", event.job_id, event.run_id, facts.job_id, facts.run_id);
        }
        if !is_prefixed_id(&event.event_id, "evt-") {
            violated!("{what}: event_id {:?} is not `evt-` and 32 lowercase hex digits", event.event_id);
        }
        if !ids.insert(event.event_id.clone()) {
            violated!("{what}: event_id {} was already used by an earlier event", event.event_id);
        }
        if event.time.is_none() {
            violated!("{what}: time is unset");
        }
        // The cancel-requested event, and a state change to CANCELLING
        // right after it, carry the CancelJob call's correlation id (checked
        // below); every other event the SkillExecute call's.
        let is_cancel = matches!(&event.payload, Some(Payload::CancelRequested(_)))
            || matches!(&event.payload, Some(Payload::StateChanged(sc)) if sc.state == JobState::Cancelling as i32);
        if !is_cancel && !facts.correlation_id.is_empty() && event.correlation_id != facts.correlation_id {
            violated!(
                "{what}: correlation_id {:?}, expected the SkillExecute call's {:?}",
                event.correlation_id,
                facts.correlation_id
            );
        }
        match &event.payload {
            None => violated!("{what}: the payload is unset (it is required)"),
            Some(Payload::StateChanged(sc)) => {
                let to = state_of(sc.state).map_err(|v| Violation(format!("{what}: {v}")))?;
                let allowed = match (phase, to) {
                    (Phase::Unborn, JobState::Queued) => true,
                    (Phase::Unborn, _) => violated!("{what}: the first event must be state_changed to QUEUED"),
                    (Phase::Queued, JobState::Running) => true,
                    // Only immediately after the cancel-requested event,
                    // with its correlation id.
                    (Phase::Cancelling, JobState::Cancelling) => {
                        let right_after = !cancelling_state_seen && cancel_requested_at == Some(event.sequence - 1);
                        if right_after && Some(&event.correlation_id) != cancel_correlation.as_ref() {
                            violated!(
                                "{what}: correlation_id {:?}; a state change to CANCELLING carries the cancel-requested event's {:?}",
                                event.correlation_id,
                                cancel_correlation.clone().unwrap_or_default()
                            );
                        }
                        right_after
                    }
                    (Phase::Running | Phase::Cancelling, JobState::Succeeded | JobState::Failed) => true,
                    (Phase::Cancelling, JobState::Cancelled) => true,
                    _ => false,
                };
                if !allowed {
                    violated!(
                        "{what}: {} may not follow {} (states only move forward)",
                        to.as_str_name(),
                        phase.state().as_str_name()
                    );
                }
                let terminal = is_terminal(to);
                if terminal != sc.outcome.is_some() {
                    violated!("{what}: outcome must be set exactly when the state is terminal");
                }
                if to == JobState::Cancelling {
                    cancelling_state_seen = true;
                }
                if terminal {
                    check_outcome(sc.outcome.as_ref(), to, prediction, emitted, &artifacts, facts, &what)?;
                    phase = Phase::Ended(to);
                } else {
                    phase = match to {
                        JobState::Queued => Phase::Queued,
                        JobState::Running => Phase::Running,
                        _ => Phase::Cancelling,
                    };
                }
            }
            Some(Payload::CancelRequested(c)) => {
                if cancel_requested_at.is_some() {
                    violated!("{what}: a second cancel_requested event (exactly one is appended per job)");
                }
                let before = match phase {
                    Phase::Queued => JobState::Queued,
                    Phase::Running => JobState::Running,
                    _ => violated!("{what}: a cancel cannot take effect on a {} job", phase.state().as_str_name()),
                };
                let prev = JobState::try_from(c.previous_state).unwrap_or(JobState::Unspecified);
                if !matches!(prev, JobState::Queued | JobState::Running)
                    || (before != JobState::Unspecified && prev != before)
                {
                    violated!(
                        "{what}: previous_state {}, but the job was {}",
                        prev.as_str_name(),
                        before.as_str_name()
                    );
                }
                if !facts.cancel_attempted {
                    violated!("{what}: no CancelJob call was made");
                }
                if !facts.effective_cancels.is_empty() && !facts.effective_cancels.contains(&event.correlation_id) {
                    violated!(
                        "{what}: correlation_id {:?} is not that of the CancelJob call that took effect ({:?})",
                        event.correlation_id,
                        facts.effective_cancels
                    );
                }
                cancel_requested_at = Some(event.sequence);
                cancel_correlation = Some(event.correlation_id.clone());
                phase = Phase::Cancelling;
            }
            Some(_) => {
                if !matches!(phase, Phase::Running | Phase::Cancelling) {
                    violated!("{what}: a skill event while the job is {}", phase.state().as_str_name());
                }
                let Some(want) = prediction.emissions.get(emitted) else {
                    violated!("{what}: the script emits only {} events", prediction.emissions.len())
                };
                check_emission(event, want, facts)?;
                if let Some(Payload::ArtifactProduced(a)) = &event.payload {
                    artifacts.push(a.clone());
                }
                emitted += 1;
            }
        }
        phase_after.push(phase);
    }
    let Phase::Ended(terminal) = phase else {
        violated!(
            "the stream closed after {} events without the terminal event (the last is {})",
            events.len(),
            events.last().map(describe).unwrap_or_else(|| "none".into())
        )
    };
    if cancelling_state_seen && cancel_requested_at.is_none() {
        violated!("the job entered CANCELLING without a cancel_requested event");
    }
    if facts.effective_cancels.len() > 1 {
        violated!("{} CancelJob calls answered cancel_requested: true; exactly one may", facts.effective_cancels.len());
    }
    if !facts.effective_cancels.is_empty() && cancel_requested_at.is_none() {
        violated!("a CancelJob call answered cancel_requested: true, but the log has no cancel_requested event");
    }
    if prediction.ending == Ending::Parks && terminal != JobState::Cancelled {
        violated!("the script parks, so only CANCELLED can end it, yet it ended {}", terminal.as_str_name());
    }
    Ok(LogSummary { terminal, cancel_requested_at, emitted, phase_after })
}

/// Checks one `Job` message (from any RPC) for the rules that hold of every
/// job whatever its history.
pub fn check_job_shape(job: &pb::Job, facts: &JobFacts, what: &str) -> Result<JobState, Violation> {
    let state = state_of(job.state).map_err(|v| Violation(format!("{what}: {v}")))?;
    if job.job_id != facts.job_id || job.task_id != job.job_id {
        violated!("{what}: job/task {}/{}, expected both to be {}", job.job_id, job.task_id, facts.job_id);
    }
    if !facts.run_id.is_empty() && job.run_id != facts.run_id {
        violated!("{what}: run {}, expected {}", job.run_id, facts.run_id);
    }
    if is_terminal(state) != job.outcome.is_some() {
        violated!("{what}: outcome must be set exactly when the state is terminal (state {})", state.as_str_name());
    }
    if is_terminal(state) != job.end_time.is_some() {
        violated!("{what}: end_time must be set exactly when the state is terminal (state {})", state.as_str_name());
    }
    if state == JobState::Queued && job.start_time.is_some() {
        violated!("{what}: start_time is set while QUEUED");
    }
    if job.create_time.is_none() {
        violated!("{what}: create_time is unset");
    }
    if job.last_sequence < 1 {
        violated!("{what}: last_sequence is 0 (every job has at least the event of its creation)");
    }
    let Some(p) = &job.provenance else { violated!("{what}: provenance is unset (it is always set)") };
    if p.run_id != job.run_id {
        violated!("{what}: provenance.run_id {:?} is not the job's run {:?}", p.run_id, job.run_id);
    }
    let contract = format!("skill:{}@{}", job.skill_id, job.skill_version);
    if p.input_contract != contract {
        violated!("{what}: provenance.input_contract {:?}, expected {contract:?}", p.input_contract);
    }
    if p.input_sha256.len() != 64 || !p.input_sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        violated!("{what}: provenance.input_sha256 {:?} is not 64 lowercase hex digits", p.input_sha256);
    }
    if p.base_ref.is_empty() {
        violated!("{what}: provenance.base_ref is empty (`HEAD` when none was given)");
    }
    if !p.tool_versions.contains_key("domed") {
        violated!("{what}: provenance.tool_versions {:?} lacks `domed` (it always holds it)", p.tool_versions);
    }
    if !facts.correlation_id.is_empty() && job.correlation_id != facts.correlation_id {
        violated!(
            "{what}: correlation_id {:?}, expected the creating call's {:?}",
            job.correlation_id,
            facts.correlation_id
        );
    }
    Ok(state)
}

/// The history of one job's reads, so that each new read can be checked
/// against the ones that finished before it began: states only move
/// forward, a terminal state never changes, `last_sequence` never falls
/// and is never below a sequence already streamed. Reads that overlap in
/// time (concurrent calls) are not ordered against each other.
#[derive(Debug, Clone, Default)]
pub struct ReadHistory {
    /// The last state read, if any.
    pub state: Option<JobState>,
    /// Every (state, last_sequence, tick when recorded) read, in order.
    pub reads: Vec<(JobState, u64, u64)>,
    /// Every (highest sequence streamed, tick when recorded).
    pub streams: Vec<(u64, u64)>,
    clock: u64,
}

impl ReadHistory {
    /// The tick to pass to [`ReadHistory::read_since`] for a call that
    /// starts now.
    pub fn begin(&self) -> u64 {
        self.clock
    }

    /// Records a read made by a call that began at tick `began`, checking
    /// it against every read and stream that was recorded before then.
    pub fn read_since(&mut self, state: JobState, last_sequence: u64, began: u64, what: &str) -> Result<(), Violation> {
        for &(prev, prev_last, done) in &self.reads {
            if done > began {
                continue;
            }
            if rank(state) < rank(prev) {
                violated!(
                    "{what}: state {} after {} (states only move forward)",
                    state.as_str_name(),
                    prev.as_str_name()
                );
            }
            if is_terminal(prev) && state != prev {
                violated!("{what}: state {} after the terminal {}", state.as_str_name(), prev.as_str_name());
            }
            if last_sequence < prev_last {
                violated!("{what}: last_sequence {last_sequence} after {prev_last} was read");
            }
        }
        if let Some(&(streamed, _)) = self.streams.iter().filter(|(_, done)| *done <= began).max()
            && last_sequence < streamed
        {
            violated!("{what}: last_sequence {last_sequence}, but event {streamed} was already streamed");
        }
        self.clock += 1;
        self.reads.push((state, last_sequence, self.clock));
        if self.state.is_none_or(|s| rank(s) <= rank(state)) {
            self.state = Some(state);
        }
        Ok(())
    }

    /// Records a read made by a call that began after every earlier one
    /// ended.
    pub fn read(&mut self, state: JobState, last_sequence: u64, what: &str) -> Result<(), Violation> {
        let began = self.begin();
        self.read_since(state, last_sequence, began, what)
    }

    /// Records that events up to `sequence` were streamed.
    pub fn streamed(&mut self, sequence: u64) {
        self.clock += 1;
        self.streams.push((sequence, self.clock));
    }

    /// Checks every read against the complete log: a read of state S with
    /// `last_sequence` L must be the state the first L events lead to.
    pub fn check_against(&self, summary: &LogSummary) -> Result<(), Violation> {
        for (i, (state, last, _)) in self.reads.iter().enumerate() {
            let Some(phase) = summary.phase_after.get(*last as usize) else {
                violated!(
                    "read #{}: last_sequence {last}, but the log has only {} events",
                    i + 1,
                    summary.phase_after.len() - 1
                )
            };
            if phase.state() != *state {
                violated!(
                    "read #{}: state {} with last_sequence {last}, but the log's first {last} events leave the job {}",
                    i + 1,
                    state.as_str_name(),
                    phase.state().as_str_name()
                );
            }
        }
        Ok(())
    }
}

/// Checks a `CancelJob` answer against what was known of the job before
/// the call: `cancel_requested` is true only for the call that took effect,
/// after which the job is `CANCELLING` or `CANCELLED`; a job already
/// cancelling or terminal is unchanged.
pub fn check_cancel_answer(
    answer: &pb::CancelJobResponse,
    before: Option<JobState>,
    facts: &JobFacts,
    what: &str,
) -> Result<JobState, Violation> {
    let Some(job) = &answer.job else { violated!("{what}: the response has no job") };
    let state = check_job_shape(job, facts, what)?;
    if answer.cancel_requested {
        if !matches!(state, JobState::Cancelling | JobState::Cancelled) {
            violated!("{what}: cancel_requested is true but the job is {}", state.as_str_name());
        }
        if let Some(b) = before
            && (is_terminal(b) || b == JobState::Cancelling)
        {
            violated!("{what}: cancel_requested is true for a job already {}", b.as_str_name());
        }
        if !facts.effective_cancels.is_empty() {
            violated!("{what}: cancel_requested is true a second time for the same job");
        }
    } else if !matches!(state, JobState::Cancelling) && !is_terminal(state) {
        violated!(
            "{what}: cancel_requested is false, yet the job is {} (a QUEUED or RUNNING job must be cancelled)",
            state.as_str_name()
        );
    }
    Ok(state)
}
