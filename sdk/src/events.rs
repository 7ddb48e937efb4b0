//! Following a job's events: a [`futures_core::Stream`] that survives
//! disconnects and yields every event exactly once, in order.
//!
//! `StreamJobEvents` delivers each event exactly once within one call, but
//! across reconnects delivery is at-least-once. [`JobEventStream`]
//! reconnects after transport failures and after the server's resumable
//! errors (`SUBSCRIBER_LAGGED`, `SHUTTING_DOWN`), always from the last
//! sequence it delivered, and drops what it has delivered already. The
//! bookkeeping is [`EventCursor`], a small state machine with no I/O, so it
//! can be tested on any sequence of deliveries.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::error::Error;
use crate::pb;

/// What to do with an event offered to an [`EventCursor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The event is the next one: deliver it.
    Deliver,
    /// The event was delivered already (a reconnect replayed it): drop it.
    Duplicate,
    /// Events are missing before this one: a gap that cannot be filled.
    Gap {
        /// The sequence that should have come.
        expected: u64,
        /// The sequence that came.
        received: u64,
    },
    /// The terminal event was delivered already; nothing comes after it.
    Finished,
}

/// The delivery state of one job's event stream: the last sequence
/// delivered and whether it was the terminal event.
///
/// Sequences start at 1 and are gapless, so an event is deliverable exactly
/// when its sequence is one more than the last one delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor {
    last_delivered: u64,
    finished: bool,
}

impl EventCursor {
    /// A cursor that delivers the events after sequence `after` (0 for
    /// every event).
    pub fn new(after: u64) -> Self {
        EventCursor { last_delivered: after, finished: false }
    }

    /// The sequence to resume from: the `after_sequence` of the next
    /// `StreamJobEvents` call.
    pub fn after_sequence(&self) -> u64 {
        self.last_delivered
    }

    /// Whether the terminal event has been delivered.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Offers the event with `sequence` (terminal or not) and records it
    /// when it is to be delivered. A gap leaves the cursor unchanged.
    pub fn offer(&mut self, sequence: u64, terminal: bool) -> Offer {
        if self.finished {
            return Offer::Finished;
        }
        if sequence <= self.last_delivered {
            return Offer::Duplicate;
        }
        let expected = self.last_delivered + 1;
        if sequence != expected {
            return Offer::Gap { expected, received: sequence };
        }
        self.last_delivered = sequence;
        self.finished = terminal;
        Offer::Deliver
    }
}

/// Whether a job state is terminal (`SUCCEEDED`, `FAILED`, `CANCELLED`).
pub fn is_terminal_state(state: i32) -> bool {
    matches!(
        pb::JobState::try_from(state),
        Ok(pb::JobState::Succeeded | pb::JobState::Failed | pb::JobState::Cancelled)
    )
}

/// Whether an event is the job's terminal event: a state change into a
/// terminal state.
pub fn is_terminal_event(event: &pb::JobEvent) -> bool {
    matches!(&event.payload, Some(pb::job_event::Payload::StateChanged(c)) if is_terminal_state(c.state))
}

/// The events of one job, each exactly once and in sequence order, ending
/// after the terminal event (made by [`crate::Client::stream_job_events`]).
///
/// An item is `Err` at most once, and the stream ends after it: a gap it
/// cannot fill ([`Error::SequenceGap`], or `CURSOR_EXPIRED` as
/// [`Error::Api`]), an error that cannot be resumed (`JOB_NOT_FOUND`, ...),
/// or a resumable one that persisted through every reconnect the retry
/// policy allows. Dropping the stream stops following the job; it never
/// cancels the job.
#[derive(Debug)]
pub struct JobEventStream {
    rx: mpsc::Receiver<Result<pb::JobEvent, Error>>,
    cursor: EventCursor,
}

impl JobEventStream {
    pub(crate) fn new(rx: mpsc::Receiver<Result<pb::JobEvent, Error>>, after: u64) -> Self {
        JobEventStream { rx, cursor: EventCursor::new(after) }
    }

    /// The next event, or `None` once the stream has ended: the same as
    /// `StreamExt::next`, without importing a stream extension trait.
    pub async fn next_event(&mut self) -> Option<Result<pb::JobEvent, Error>> {
        let item = self.rx.recv().await;
        self.record(&item);
        item
    }

    /// What the reader has been given so far: the sequence of the last
    /// event it received (where a new stream would resume from, with
    /// `.after(cursor.after_sequence())`) and whether that was the terminal
    /// event.
    pub fn cursor(&self) -> &EventCursor {
        &self.cursor
    }

    fn record(&mut self, item: &Option<Result<pb::JobEvent, Error>>) {
        if let Some(Ok(event)) = item {
            // The driving task delivers each next sequence exactly once,
            // so the offer always succeeds.
            self.cursor.offer(event.sequence, is_terminal_event(event));
        }
    }
}

impl futures_core::Stream for JobEventStream {
    type Item = Result<pb::JobEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(item) = &polled {
            self.record(item);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_order_and_drops_replays() {
        let mut c = EventCursor::new(0);
        assert_eq!(c.offer(1, false), Offer::Deliver);
        assert_eq!(c.offer(2, false), Offer::Deliver);
        assert_eq!(c.offer(1, false), Offer::Duplicate);
        assert_eq!(c.offer(2, false), Offer::Duplicate);
        assert_eq!(c.offer(3, true), Offer::Deliver);
        assert!(c.is_finished());
        assert_eq!(c.offer(4, false), Offer::Finished);
        assert_eq!(c.after_sequence(), 3);
    }

    #[test]
    fn a_jump_is_a_gap_and_changes_nothing() {
        let mut c = EventCursor::new(5);
        assert_eq!(c.offer(8, false), Offer::Gap { expected: 6, received: 8 });
        assert_eq!(c.after_sequence(), 5);
        assert_eq!(c.offer(6, false), Offer::Deliver);
    }

    #[test]
    fn sequence_zero_is_never_delivered() {
        let mut c = EventCursor::new(0);
        assert_eq!(c.offer(0, true), Offer::Duplicate);
        assert!(!c.is_finished());
    }

    #[test]
    fn terminal_states_are_the_three_final_ones() {
        use pb::JobState::*;
        for (state, terminal) in [
            (Unspecified, false),
            (Queued, false),
            (Running, false),
            (Cancelling, false),
            (Succeeded, true),
            (Failed, true),
            (Cancelled, true),
        ] {
            assert_eq!(is_terminal_state(state as i32), terminal, "{state:?}");
        }
        assert!(!is_terminal_state(99));
    }
}
