//! Deliberately broken client behaviours (feature `mutants`).
//!
//! Each mutant breaks exactly one rule the contract sets for clients and
//! keeps every other. They exist only to prove that the client mode of the
//! conformance suite catches each broken rule, by the case that names it.
//! Without the feature no mutant can be selected and every hook is a
//! constant `false`; with it, nothing changes until [`select`] is called,
//! once per process (the suite's testee does it for `--mutant NAME`).

use std::fmt;

/// One deliberately broken behaviour of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutant {
    /// Retries every failure, the non-retryable reasons included.
    RetryNonRetryable,
    /// Waits its own backoff only, never the server's `RetryInfo` delay.
    IgnoreRetryInfo,
    /// Sends a fresh idempotency key with every attempt of `SkillExecute`.
    FreshIdempotencyKey,
    /// Resumes an event stream from sequence 0 instead of the last one
    /// delivered.
    ResumeFromZero,
    /// Delivers events a reconnect replayed a second time.
    NoDedupe,
    /// Decodes errors without their `ErrorInfo` metadata.
    DropMetadata,
    /// Ends an event stream silently on `CURSOR_EXPIRED`.
    SwallowCursorExpired,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: [Mutant; 7] = [
        Mutant::RetryNonRetryable,
        Mutant::IgnoreRetryInfo,
        Mutant::FreshIdempotencyKey,
        Mutant::ResumeFromZero,
        Mutant::NoDedupe,
        Mutant::DropMetadata,
        Mutant::SwallowCursorExpired,
    ];

    /// The mutant's stable snake_case id.
    pub fn id(self) -> &'static str {
        match self {
            Mutant::RetryNonRetryable => "retry_non_retryable",
            Mutant::IgnoreRetryInfo => "ignore_retry_info",
            Mutant::FreshIdempotencyKey => "fresh_idempotency_key",
            Mutant::ResumeFromZero => "resume_from_zero",
            Mutant::NoDedupe => "no_dedupe",
            Mutant::DropMetadata => "drop_metadata",
            Mutant::SwallowCursorExpired => "swallow_cursor_expired",
        }
    }

    /// The client rule the mutant breaks, in one line.
    pub fn rule(self) -> &'static str {
        match self {
            Mutant::RetryNonRetryable => "only what `(error).retryable` marks is retried",
            Mutant::IgnoreRetryInfo => "no retry before the `RetryInfo` delay",
            Mutant::FreshIdempotencyKey => "every attempt of one submission carries the same idempotency key",
            Mutant::ResumeFromZero => "a stream resumes after the last delivered sequence",
            Mutant::NoDedupe => "events replayed across reconnects are delivered once",
            Mutant::DropMetadata => "an error's `ErrorInfo` metadata reaches the application",
            Mutant::SwallowCursorExpired => "`CURSOR_EXPIRED` is surfaced, never hidden",
        }
    }

    /// The mutant with this id.
    pub fn from_id(id: &str) -> Result<Mutant, UnknownMutant> {
        Mutant::ALL.into_iter().find(|m| m.id() == id).ok_or_else(|| UnknownMutant(id.to_string()))
    }
}

/// A mutant id that names no mutant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMutant(pub String);

impl fmt::Display for UnknownMutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<_> = Mutant::ALL.iter().map(|m| m.id()).collect();
        write!(f, "unknown client mutant `{}` (known: {})", self.0, known.join(", "))
    }
}

impl std::error::Error for UnknownMutant {}

#[cfg(feature = "mutants")]
static SELECTED: std::sync::OnceLock<Mutant> = std::sync::OnceLock::new();

/// Makes every client of this process run as `mutant`. The first
/// selection wins; a later one returns the mutant already selected.
#[cfg(feature = "mutants")]
pub fn select(mutant: Mutant) -> Result<(), Mutant> {
    SELECTED.set(mutant).map_err(|_| SELECTED.get().copied().unwrap_or(mutant))
}

/// Whether the process runs as `mutant`.
#[cfg(feature = "mutants")]
pub(crate) fn is(mutant: Mutant) -> bool {
    SELECTED.get() == Some(&mutant)
}

/// Whether the process runs as `mutant`: never, without the feature.
#[cfg(not(feature = "mutants"))]
pub(crate) fn is(mutant: Mutant) -> bool {
    let _ = mutant;
    false
}
