//! The messages `dome-ssot` projects, stated once: for each, the
//! projection function, the family object it fills when it is only part of
//! a family's record and (with the `proptest` feature) the strategy that
//! generates contract-valid instances of it.
//!
//! `cargo xtask ssot` checks every row against the proto's `(ssot)`
//! options and the generated docs name the projection from it, so a
//! projection added here without its mapping (or the reverse) fails the
//! gate instead of going unnoticed.

/// A message `dome-ssot` projects onto a family.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// The message's name within the contract's package.
    pub message: &'static str,
    /// The projection function's name within `dome_ssot`.
    pub projection: &'static str,
    /// The `$defs` object of the family the message projects onto; `None`
    /// when it projects onto the family's whole record.
    pub object: Option<&'static str>,
    /// Generates contract-valid instances of the message, each with its
    /// projection.
    #[cfg(feature = "proptest")]
    pub arbitrary: fn() -> proptest::strategy::BoxedStrategy<crate::arbitrary::Projected>,
}

/// Writes the table: one row per message, naming the projection function
/// and the strategy of `arbitrary` that share the message's name.
macro_rules! subjects {
    ($($message:literal => $projection:ident, $object:expr, $strategy:ident;)*) => {
        /// Every message `dome-ssot` projects, in the order the contract's
        /// surface reaches them.
        pub const SUBJECTS: &[Subject] = &[$(
            Subject {
                message: $message,
                projection: stringify!($projection),
                object: $object,
                #[cfg(feature = "proptest")]
                arbitrary: || crate::arbitrary::projected(crate::arbitrary::$strategy(), crate::project::$projection),
            },
        )*];
    };
}

subjects! {
    "Job" => project_job, None, job;
    "JobOutcome" => project_job_outcome, None, job_outcome;
    "GateDecision" => project_gate_decision, None, gate_decision;
    "TelemetryRef" => project_telemetry_ref, Some("telemetry_ref"), telemetry_ref;
    "PromotionDecision" => project_promotion_decision, None, promotion_decision;
    "GateDecisionRef" => project_gate_decision_ref, Some("gate_decision_ref"), gate_decision_ref;
    "Provenance" => project_provenance, None, provenance;
    "JobEvent" => project_job_event, None, job_event;
}

/// The subject of a message, by its name within the package.
pub fn subject(message: &str) -> Option<&'static Subject> {
    SUBJECTS.iter().find(|s| s.message == message)
}
