//! `pb::Timestamp` (`google.protobuf.Timestamp`, generated with the
//! contract's messages) to and from [`SystemTime`].

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::pb::Timestamp;

/// The last second a `google.protobuf.Timestamp` may hold
/// (9999-12-31T23:59:59Z), and the first (0001-01-01T00:00:00Z).
const MAX_SECONDS: i64 = 253_402_300_799;
const MIN_SECONDS: i64 = -62_135_596_800;

/// A [`Timestamp`] that names no instant a [`SystemTime`] can hold: its
/// `nanos` outside `0..1_000_000_000`, its `seconds` outside the years 1
/// to 9999 the well-known type allows, or beyond what the platform's
/// clock type reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOutOfRange {
    /// The timestamp's `seconds`.
    pub seconds: i64,
    /// The timestamp's `nanos`.
    pub nanos: i32,
}

impl fmt::Display for TimestampOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timestamp {}s {}ns is out of range", self.seconds, self.nanos)
    }
}

impl std::error::Error for TimestampOutOfRange {}

impl From<SystemTime> for Timestamp {
    /// The instant, to the nanosecond (a time before 1970 too: `nanos`
    /// stays non-negative and `seconds` counts down).
    fn from(time: SystemTime) -> Self {
        let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => (i64::try_from(after.as_secs()).unwrap_or(i64::MAX), after.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                let seconds = i64::try_from(before.as_secs()).map_or(i64::MIN, |s| -s);
                match before.subsec_nanos() {
                    0 => (seconds, 0),
                    nanos => (seconds.saturating_sub(1), 1_000_000_000 - nanos),
                }
            }
        };
        // Below 10^9, so it fits.
        Timestamp { seconds, nanos: nanos as i32 }
    }
}

impl TryFrom<Timestamp> for SystemTime {
    type Error = TimestampOutOfRange;

    fn try_from(stamp: Timestamp) -> Result<Self, TimestampOutOfRange> {
        let out_of_range = TimestampOutOfRange { seconds: stamp.seconds, nanos: stamp.nanos };
        let nanos = u32::try_from(stamp.nanos).ok().filter(|n| *n < 1_000_000_000).ok_or(out_of_range)?;
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&stamp.seconds) {
            return Err(out_of_range);
        }
        let whole = Duration::from_secs(stamp.seconds.unsigned_abs());
        let seconds = match stamp.seconds >= 0 {
            true => UNIX_EPOCH.checked_add(whole),
            false => UNIX_EPOCH.checked_sub(whole),
        };
        seconds.and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos)))).ok_or(out_of_range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_on_both_sides_of_the_epoch() {
        for time in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            UNIX_EPOCH - Duration::new(1, 0),
            UNIX_EPOCH - Duration::new(0, 1),
            UNIX_EPOCH - Duration::new(86_400, 250_000_000),
        ] {
            let stamp = Timestamp::from(time);
            assert!((0..1_000_000_000).contains(&stamp.nanos), "{stamp:?}");
            assert_eq!(SystemTime::try_from(stamp), Ok(time), "{stamp:?}");
        }
        assert_eq!(Timestamp::from(UNIX_EPOCH - Duration::new(0, 1)), Timestamp { seconds: -1, nanos: 999_999_999 });
    }

    #[test]
    fn stamps_outside_the_well_known_range_are_refused() {
        for (seconds, nanos) in [(0, -1), (0, 1_000_000_000), (MAX_SECONDS + 1, 0), (MIN_SECONDS - 1, 0), (i64::MIN, 0)]
        {
            let stamp = Timestamp { seconds, nanos };
            assert_eq!(SystemTime::try_from(stamp), Err(TimestampOutOfRange { seconds, nanos }));
        }
        let last = Timestamp { seconds: MAX_SECONDS, nanos: 999_999_999 };
        assert!(SystemTime::try_from(last).is_ok());
        assert_eq!(TimestampOutOfRange { seconds: 1, nanos: -2 }.to_string(), "timestamp 1s -2ns is out of range");
    }
}
