//! Deliberately broken variants of the server (feature `mutants`).
//!
//! Each mutant breaks exactly one rule of the contract and keeps every
//! other one, so that a conformance suite can prove it catches each broken
//! rule. Without the feature no mutant can be selected and every check in
//! the server is a constant `false`.

use std::fmt;
use std::str::FromStr;

/// One deliberately broken rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// `JOB_NOT_FOUND` travels with gRPC `INVALID_ARGUMENT`.
    WrongStatusCode,
    /// Errors carry no `ErrorInfo` (no details at all).
    MissingErrorInfo,
    /// The third event of every job gets sequence 4 (1, 2, 4, 5, ...).
    SkippedSequence,
    /// The second event of a stream is delivered twice.
    DuplicatedEvent,
    /// The second and third events of a stream are swapped.
    EventsOutOfOrder,
    /// The terminal `state_changed` event is never streamed.
    NoTerminalEvent,
    /// `CancelJob` answers OK but never cancels.
    CancelIgnored,
    /// `CancelJob` of a terminal job fails.
    CancelFinishedErrors,
    /// A repeated idempotency key creates a second job.
    DuplicateIdempotentJob,
    /// `GetGateDecision` of a `REJECT` decision fails.
    RejectAsError,
    /// `StreamJobEvents` ignores `after_sequence` and replays from 1.
    ResumeReturnsWholeLog,
    /// The stream stays open after the terminal event.
    StreamNeverCloses,
    /// An error of a call that set no correlation id carries no
    /// `correlationId`.
    AssignedCorrelationOmitted,
    /// A stream opened at the head of a job that has not ended closes at
    /// once, as if the job had ended.
    LiveHeadCloses,
    /// `GetGateDecision` ignores `task_id` and answers the run's last
    /// decision.
    GateDecisionIgnoresTask,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: &'static [Mutant] = &[
        Mutant::WrongStatusCode,
        Mutant::MissingErrorInfo,
        Mutant::SkippedSequence,
        Mutant::DuplicatedEvent,
        Mutant::EventsOutOfOrder,
        Mutant::NoTerminalEvent,
        Mutant::CancelIgnored,
        Mutant::CancelFinishedErrors,
        Mutant::DuplicateIdempotentJob,
        Mutant::RejectAsError,
        Mutant::ResumeReturnsWholeLog,
        Mutant::StreamNeverCloses,
        Mutant::AssignedCorrelationOmitted,
        Mutant::LiveHeadCloses,
        Mutant::GateDecisionIgnoresTask,
    ];

    /// The mutant's stable snake_case id.
    pub fn id(&self) -> &'static str {
        match self {
            Mutant::WrongStatusCode => "wrong_status_code",
            Mutant::MissingErrorInfo => "missing_error_info",
            Mutant::SkippedSequence => "skipped_sequence",
            Mutant::DuplicatedEvent => "duplicated_event",
            Mutant::EventsOutOfOrder => "events_out_of_order",
            Mutant::NoTerminalEvent => "no_terminal_event",
            Mutant::CancelIgnored => "cancel_ignored",
            Mutant::CancelFinishedErrors => "cancel_finished_errors",
            Mutant::DuplicateIdempotentJob => "duplicate_idempotent_job",
            Mutant::RejectAsError => "reject_as_error",
            Mutant::ResumeReturnsWholeLog => "resume_returns_whole_log",
            Mutant::StreamNeverCloses => "stream_never_closes",
            Mutant::AssignedCorrelationOmitted => "assigned_correlation_omitted",
            Mutant::LiveHeadCloses => "live_head_closes",
            Mutant::GateDecisionIgnoresTask => "gate_decision_ignores_task",
        }
    }

    /// The contract rule the mutant breaks, in one line.
    pub fn rule(&self) -> &'static str {
        match self {
            Mutant::WrongStatusCode => "every error travels with the gRPC code of its ErrorReason's (error).code",
            Mutant::MissingErrorInfo => {
                "every error carries exactly one google.rpc.ErrorInfo with reason, domain and metadata"
            }
            Mutant::SkippedSequence => "a job's event sequence numbers start at 1 and are gapless",
            Mutant::DuplicatedEvent => "within one stream each event arrives exactly once",
            Mutant::EventsOutOfOrder => "within one stream events arrive in sequence order",
            Mutant::NoTerminalEvent => "the last event of every job is the single terminal state_changed event",
            Mutant::CancelIgnored => "an effective CancelJob ends a parked job CANCELLED",
            Mutant::CancelFinishedErrors => "cancelling a terminal job is OK and changes nothing",
            Mutant::DuplicateIdempotentJob => {
                "a repeated idempotency key with the same request returns the original job"
            }
            Mutant::RejectAsError => "a REJECT decision is a successful response, never an error",
            Mutant::ResumeReturnsWholeLog => "StreamJobEvents starts with the event after after_sequence",
            Mutant::StreamNeverCloses => "the stream closes with OK right after the terminal event",
            Mutant::AssignedCorrelationOmitted => {
                "every error carries correlationId, the assigned one when the request set none"
            }
            Mutant::LiveHeadCloses => "a cursor at the head of a job that has not ended waits for the next event",
            Mutant::GateDecisionIgnoresTask => {
                "GetGateDecision with a task_id answers the decision recorded last for that task"
            }
        }
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A mutant name that names no mutant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMutant(String);

impl fmt::Display for UnknownMutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Mutant::ALL.iter().map(Mutant::id).collect();
        write!(f, "unknown mutant `{}` (known: {})", self.0, known.join(", "))
    }
}

impl std::error::Error for UnknownMutant {}

impl FromStr for Mutant {
    type Err = UnknownMutant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mutant::ALL.iter().copied().find(|m| m.id() == s).ok_or_else(|| UnknownMutant(s.to_owned()))
    }
}

/// The broken behaviour a server runs with: none, unless the feature is on
/// and a mutant was chosen.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Faults {
    #[cfg(feature = "mutants")]
    mutant: Option<Mutant>,
    /// How long a worker waits before it starts a job, and before each
    /// step ([`crate::Config::step_delay`]).
    step_delay: std::time::Duration,
}

impl Faults {
    /// The faults of a configuration.
    pub(crate) fn from_config(config: &crate::Config) -> Self {
        #[cfg(feature = "mutants")]
        {
            Self { mutant: config.mutant, step_delay: config.step_delay }
        }
        #[cfg(not(feature = "mutants"))]
        {
            Self { step_delay: config.step_delay }
        }
    }

    /// Waits out the configured step delay, if any: a slow but correct
    /// server, for the tests that show no conformance case relies on speed.
    pub(crate) async fn step_delay(&self) {
        if !self.step_delay.is_zero() {
            tokio::time::sleep(self.step_delay).await;
        }
    }

    /// Whether the server runs with `mutant`.
    #[cfg(feature = "mutants")]
    pub(crate) fn is(&self, mutant: Mutant) -> bool {
        self.mutant == Some(mutant)
    }

    /// Whether the server runs with `mutant`: never, without the feature.
    #[cfg(not(feature = "mutants"))]
    pub(crate) fn is(&self, mutant: Mutant) -> bool {
        let _ = mutant;
        false
    }
}
