//! When and how long to wait before trying a call again.
//!
//! Only what the contract marks retryable is retried, plus transport
//! failures (`UNAVAILABLE` without an `ErrorInfo`, a connection refused or
//! closed; see [`crate::Error::is_retryable`]), with capped exponential
//! backoff and jitter, never sooner than the server's `RetryInfo` delay,
//! and never past the call's total deadline.

use std::time::Duration;

/// How a [`crate::Client`] retries a failed call.
///
/// The delay before retry `n` (counting from 1) is drawn uniformly from
/// `[b/2, b]` with `b = min(max_backoff, initial_backoff * multiplier^(n-1))`,
/// and is raised to the server's `RetryInfo` delay when that is longer.
///
/// The defaults ([`RetryPolicy::default`]): 5 attempts, backoff from
/// 50 ms doubling up to 2 s, and a total deadline of 30 s per call.
/// Change them with the setters:
///
/// ```
/// use std::time::Duration;
/// let policy = dome_sdk::RetryPolicy::default().max_attempts(3).deadline(Duration::from_secs(5));
/// assert_eq!(policy.max_attempts, 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// How many attempts a call makes at most, the first included; 1
    /// disables retries. For an event stream, how many reconnects in a row
    /// may fail before the stream gives up (a delivered event resets it).
    pub max_attempts: u32,
    /// The backoff before the first retry.
    pub initial_backoff: Duration,
    /// The backoff never grows beyond this.
    pub max_backoff: Duration,
    /// The factor the backoff grows by per retry.
    pub multiplier: f64,
    /// The total time a unary call may take, every attempt and backoff
    /// included; `None` for no limit. A backoff that would end past it is
    /// not waited: the call fails with the last error instead.
    pub deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            multiplier: 2.0,
            deadline: Some(Duration::from_secs(30)),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt, the default deadline).
    pub fn never() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// Sets [`RetryPolicy::max_attempts`] (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets [`RetryPolicy::initial_backoff`].
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets [`RetryPolicy::max_backoff`].
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Sets [`RetryPolicy::multiplier`].
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the total deadline of a call ([`RetryPolicy::deadline`]).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Lets a call retry for as long as its attempts last.
    pub fn no_deadline(mut self) -> Self {
        self.deadline = None;
        self
    }

    /// The capped exponential backoff before retry `retry` (1 for the first
    /// retry), before jitter.
    /// Any policy works, however odd (a multiplier below 1 or not a
    /// number counts as 1; durations too large for floating point stay at
    /// `max_backoff`): computing a delay never panics.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let multiplier = if self.multiplier.is_finite() { self.multiplier.max(1.0) } else { 1.0 };
        let exp = multiplier.powi(retry.saturating_sub(1).min(64) as i32);
        let secs = self.initial_backoff.as_secs_f64() * exp;
        Duration::try_from_secs_f64(secs).map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }

    /// The delay before retry `retry`, given the server's `RetryInfo`
    /// delay and a uniform random number `unit` in `[0, 1)`.
    pub fn delay(&self, retry: u32, server_delay: Option<Duration>, unit: f64) -> Duration {
        let cap = self.backoff_cap(retry);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        // Half the cap, plus up to another half: never more than the cap.
        let half = cap / 2;
        let jittered =
            half + Duration::try_from_secs_f64((cap - half).as_secs_f64() * unit).unwrap_or_default().min(cap - half);
        match server_delay {
            Some(server) if server > jittered => server,
            _ => jittered,
        }
    }
}

/// A uniform random number in `[0, 1)` for jitter. The standard library's
/// randomly keyed hasher is seeded from the OS and advanced per call, which
/// is plenty for spreading retries, without a random-number dependency.
pub(crate) fn jitter_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// 64 random bits: SipHash under a key the standard library draws from the
/// OS once per thread and advances for every `RandomState`, over a
/// process-wide counter, so that no two calls agree.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed) ^ 0x9e37_79b9_7f4a_7c15);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            multiplier: 2.0,
            ..RetryPolicy::default()
        };
        let caps: Vec<_> = (1..=6).map(|n| p.backoff_cap(n).as_millis()).collect();
        assert_eq!(caps, vec![100, 200, 400, 800, 1000, 1000]);
        // A huge retry count neither overflows nor exceeds the cap.
        assert_eq!(p.backoff_cap(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_stays_within_half_to_full_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, None, 0.0), p.backoff_cap(1) / 2);
        assert_eq!(p.delay(1, None, 1.0), p.backoff_cap(1));
        for _ in 0..100 {
            let u = jitter_unit();
            assert!((0.0..1.0).contains(&u), "jitter unit {u} out of [0, 1)");
            let d = p.delay(3, None, u);
            assert!(d >= p.backoff_cap(3) / 2 && d <= p.backoff_cap(3), "delay {d:?} outside [cap/2, cap]");
        }
    }

    #[test]
    fn extreme_policies_never_panic() {
        let extremes = [Duration::ZERO, Duration::from_nanos(1), Duration::from_secs(1), Duration::MAX];
        for initial in extremes {
            for max in extremes {
                for multiplier in [f64::NAN, f64::INFINITY, -3.0, 0.0, 1.0, 2.0, 1e300] {
                    let p = RetryPolicy {
                        initial_backoff: initial,
                        max_backoff: max,
                        multiplier,
                        ..RetryPolicy::default()
                    };
                    for retry in [0, 1, 2, 64, u32::MAX] {
                        for unit in [f64::NAN, -1.0, 0.0, 0.5, 1.0, 2.0] {
                            let d = p.delay(retry, Some(Duration::MAX).filter(|_| unit > 1.5), unit);
                            assert!(d <= max || unit > 1.5, "delay {d:?} above max {max:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_longer_server_delay_wins() {
        let p = RetryPolicy::default();
        let server = Duration::from_secs(1);
        assert_eq!(p.delay(1, Some(server), 0.5), server);
        // A shorter server delay does not shorten the client's backoff.
        assert_eq!(p.delay(1, Some(Duration::from_millis(1)), 1.0), p.backoff_cap(1));
    }
}
