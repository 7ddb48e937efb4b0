//! The resume bookkeeping of event streams, on randomly cut and replayed
//! deliveries (no network): whatever the cuts and duplicates, the
//! delivered sequence is exactly `1..=terminal`, and a real gap is reported
//! where it is, never skipped.

use dome_sdk::{EventCursor, Offer};
use proptest::prelude::*;

/// One connection of a simulated subscriber: the server replays `replay`
/// events before the cursor (at-least-once across reconnects), sends
/// `count` events, duplicating each one `dup` says, and the connection is
/// then cut.
#[derive(Debug, Clone)]
struct Connection {
    replay: u64,
    count: usize,
    dup: Vec<bool>,
}

fn connection() -> impl Strategy<Value = Connection> {
    (0u64..5, 0usize..12, proptest::collection::vec(any::<bool>(), 12)).prop_map(|(replay, count, dup)| Connection {
        replay,
        count,
        dup,
    })
}

/// Runs connections against a log of `terminal` events until the cursor is
/// finished; after the given connections, one more runs to the end. Returns
/// every delivered sequence.
fn simulate(terminal: u64, after: u64, connections: &[Connection]) -> Vec<u64> {
    let mut cursor = EventCursor::new(after);
    let mut delivered = Vec::new();
    let last = Connection { replay: 0, count: usize::MAX, dup: vec![] };
    for conn in connections.iter().chain(std::iter::once(&last)) {
        if cursor.is_finished() {
            break;
        }
        let start = (cursor.after_sequence() + 1).saturating_sub(conn.replay).max(1);
        let sent = (start..=terminal).take(conn.count);
        for (i, seq) in sent.enumerate() {
            let copies = if conn.dup.get(i).copied().unwrap_or(false) { 2 } else { 1 };
            for _ in 0..copies {
                match cursor.offer(seq, seq == terminal) {
                    Offer::Deliver => delivered.push(seq),
                    Offer::Duplicate | Offer::Finished => {}
                    Offer::Gap { expected, received } => {
                        panic!("a replaying server never leaves a gap, yet {expected} -> {received}")
                    }
                }
            }
        }
    }
    assert!(cursor.is_finished(), "the last connection runs to the terminal event");
    delivered
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cut_and_replayed_streams_deliver_each_event_once(
        terminal in 1u64..60,
        connections in proptest::collection::vec(connection(), 0..20),
    ) {
        let delivered = simulate(terminal, 0, &connections);
        let expected: Vec<u64> = (1..=terminal).collect();
        prop_assert_eq!(delivered, expected, "every sequence 1..=terminal, once, in order");
    }

    #[test]
    fn resuming_after_a_cursor_delivers_only_what_follows(
        terminal in 2u64..60,
        after_fraction in 0.0f64..1.0,
        connections in proptest::collection::vec(connection(), 0..10),
    ) {
        let after = ((terminal - 1) as f64 * after_fraction) as u64;
        let delivered = simulate(terminal, after, &connections);
        let expected: Vec<u64> = (after + 1..=terminal).collect();
        prop_assert_eq!(delivered, expected);
    }

    #[test]
    fn a_jump_is_reported_at_the_first_missing_sequence(
        delivered_before in 0u64..30,
        skipped in 1u64..10,
    ) {
        let mut cursor = EventCursor::new(0);
        for seq in 1..=delivered_before {
            prop_assert_eq!(cursor.offer(seq, false), Offer::Deliver);
        }
        let received = delivered_before + 1 + skipped;
        prop_assert_eq!(
            cursor.offer(received, false),
            Offer::Gap { expected: delivered_before + 1, received }
        );
        // The cursor still asks for the first missing event.
        prop_assert_eq!(cursor.after_sequence(), delivered_before);
    }
}
