//! `StreamJobEvents`: one pump task per call reads the job's log from its
//! own cursor and feeds a small bounded channel that tonic drains. Events
//! cross the channel in chunks, so a busy stream costs one channel hand-off
//! per chunk rather than per event.
//!
//! The job never waits for a subscriber: events are appended to the log
//! and the subscriber reads them when it can, so a slow subscriber costs
//! only its own cursor. A subscriber that falls more than
//! `max_subscriber_lag_events` behind the events appended since its call
//! began (or whose next event has left retention) is ended with
//! `SUBSCRIBER_LAGGED`, never with a silent gap. When the client goes
//! away the pump notices the closed channel and ends, releasing its slot.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use dome_sdk::pb::{self, JobState, job_event::Payload};
use tokio::sync::{mpsc, watch};
use tonic::Status;

use crate::config::limit;
use crate::errors::ApiError;
use crate::mutants::{Faults, Mutant};
use crate::store::{JobEntry, Store};

/// One message of the stream.
type Item = Result<pb::StreamJobEventsResponse, Status>;

/// The stream type of `StreamJobEvents`: the messages a pump puts on its
/// channel, one chunk at a time, in order.
pub(crate) struct EventStream {
    rx: mpsc::Receiver<Vec<Item>>,
    chunk: std::vec::IntoIter<Item>,
}

impl futures_core::Stream for EventStream {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.chunk.next() {
                return Poll::Ready(Some(item));
            }
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => this.chunk = chunk.into_iter(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// How many events a pump copies out of the log per lock.
const BATCH: usize = 256;
/// How many messages make one chunk at most.
const CHUNK: usize = 8;
/// How many chunks wait between a pump and tonic: with [`CHUNK`], at most
/// 32 messages, as many as a channel of single messages would hold.
const CHANNEL: usize = 4;

/// Holds one subscriber slot of a job while the call is open.
struct Slot(Arc<JobEntry>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Opens a stream of `job` after `after_sequence`, or fails with the
/// cursor and limit errors before any event is sent.
pub(crate) fn open(
    store: Arc<Store>,
    job: Arc<JobEntry>,
    after_sequence: u64,
    correlation_id: String,
) -> Result<EventStream, ApiError> {
    let (baseline, closes_at_once) = {
        let data = job.lock();
        let last = data.job.last_sequence;
        if after_sequence > last {
            return Err(ApiError::cursor_ahead(&job.job_id, after_sequence, last));
        }
        if after_sequence.saturating_add(1) < data.first_retained {
            return Err(ApiError::cursor_expired(&job.job_id, after_sequence, data.first_retained));
        }
        (last, data.terminal && after_sequence == last)
    };
    let slots = job.subscribers.fetch_add(1, Ordering::SeqCst) + 1;
    let slot = Slot(job.clone());
    if let Some(max) = limit(store.limits.max_subscribers_per_job)
        && slots > max
    {
        return Err(ApiError::limit_exceeded("max_subscribers_per_job", max));
    }
    let (tx, rx) = mpsc::channel(CHANNEL);
    let stream = EventStream {
        rx,
        chunk: Vec::new().into_iter(),
    };
    let cursor = if store.faults.is(Mutant::ResumeReturnsWholeLog) {
        0
    } else {
        after_sequence
    };
    if !closes_at_once || store.faults.is(Mutant::ResumeReturnsWholeLog) {
        let pump = Pump {
            faults: store.faults,
            max_lag: limit(store.limits.max_subscriber_lag_events),
            shutdown: store.watch_shutdown(),
            store,
            job,
            tx,
            cursor,
            baseline,
            correlation_id,
            sent: 0,
            held: None,
            pending: Vec::new(),
            _slot: slot,
        };
        tokio::spawn(pump.run());
    }
    Ok(stream)
}

struct Pump {
    store: Arc<Store>,
    job: Arc<JobEntry>,
    tx: mpsc::Sender<Vec<Item>>,
    /// Flips once the server starts shutting down.
    shutdown: watch::Receiver<bool>,
    /// The sequence of the last event sent (or the call's cursor).
    cursor: u64,
    /// The head when the call began: the replay backlog is not lag.
    baseline: u64,
    correlation_id: String,
    faults: Faults,
    max_lag: Option<u64>,
    /// How many events this call has sent.
    sent: u64,
    /// An event held back (only by the out-of-order mutant).
    held: Option<Arc<pb::JobEvent>>,
    /// Messages sent but not yet put on the channel; put there before the
    /// pump waits for anything but room on the channel.
    pending: Vec<Item>,
    _slot: Slot,
}

/// Why a pump stops.
enum Stop {
    /// The stream ends with OK.
    Done,
    /// The stream ends with this error.
    Error(ApiError),
    /// The client went away.
    Gone,
}

impl Pump {
    async fn run(mut self) {
        let job_id = self.job.job_id.clone();
        let stop = match self.pump().await {
            Stop::Done => self.push().await.err().unwrap_or(Stop::Done),
            stop => stop,
        };
        match stop {
            Stop::Done | Stop::Gone => {}
            Stop::Error(e) => {
                tracing::info!(job_id = %job_id, correlation_id = %self.correlation_id, reason = ?e.reason(), "stream ended with an error");
                let status = e.into_status(&self.correlation_id, self.faults);
                let mut pending = std::mem::take(&mut self.pending);
                pending.push(Err(status));
                let _ = self.tx.send(pending).await;
            }
        }
    }

    async fn pump(&mut self) -> Stop {
        let mut head = self.job.watch_head();
        let mut shutdown = self.store.watch_shutdown();
        loop {
            if self.store.shutting_down() {
                return self.flush_then(Stop::Error(ApiError::shutting_down(Some((&self.job.job_id, self.cursor))))).await;
            }
            head.borrow_and_update();
            let (batch, terminal, gone) = {
                let data = self.job.lock();
                let gone = self.cursor + 1 < data.first_retained;
                // Found by sequence, not by arithmetic, so that a log with a
                // hole (the skipped-sequence mutant) is still read in order.
                let start = data.log.partition_point(|e| e.sequence <= self.cursor);
                let batch: Vec<Arc<pb::JobEvent>> = data.log.range(start..).take(BATCH).cloned().collect();
                (batch, data.terminal, gone)
            };
            if gone {
                // The next event left retention before it could be sent.
                return self.flush_then(Stop::Error(ApiError::subscriber_lagged(&self.job.job_id, self.cursor))).await;
            }
            if !batch.is_empty() {
                for event in batch {
                    if let Some(max) = self.max_lag {
                        let behind = self.job.head().saturating_sub(self.cursor.max(self.baseline));
                        if behind > max {
                            return self
                                .flush_then(Stop::Error(ApiError::subscriber_lagged(&self.job.job_id, self.cursor)))
                                .await;
                        }
                    }
                    if let Err(stop) = self.send(event).await {
                        return stop;
                    }
                }
                if let Err(stop) = self.push().await {
                    return stop;
                }
                continue;
            }
            if terminal {
                if let Err(stop) = self.flush().await {
                    return stop;
                }
                if self.faults.is(Mutant::StreamNeverCloses) {
                    if let Err(stop) = self.push().await {
                        return stop;
                    }
                    tokio::select! {
                        _ = self.tx.closed() => return Stop::Gone,
                        _ = shutdown.wait_for(|s| *s) => continue,
                    }
                }
                return Stop::Done;
            }
            tokio::select! {
                changed = head.changed() => {
                    if changed.is_err() {
                        return Stop::Done;
                    }
                }
                _ = self.tx.closed() => return Stop::Gone,
                _ = shutdown.wait_for(|s| *s) => {}
            }
        }
    }

    /// Sends one event, applying the stream mutants.
    async fn send(&mut self, event: Arc<pb::JobEvent>) -> Result<(), Stop> {
        let sequence = event.sequence;
        let is_terminal = matches!(
            &event.payload,
            Some(Payload::StateChanged(s)) if matches!(
                JobState::try_from(s.state),
                Ok(JobState::Succeeded | JobState::Failed | JobState::Cancelled)
            )
        );
        self.sent += 1;
        if is_terminal && self.faults.is(Mutant::NoTerminalEvent) {
            self.cursor = sequence;
            return Ok(());
        }
        if self.faults.is(Mutant::EventsOutOfOrder) && self.sent == 2 && !is_terminal {
            self.held = Some(event);
            self.cursor = sequence;
            return Ok(());
        }
        self.deliver(&event).await?;
        self.cursor = sequence;
        if self.faults.is(Mutant::DuplicatedEvent) && self.sent == 2 {
            self.deliver(&event).await?;
        }
        self.flush().await
    }

    /// Sends an event held back by a mutant, if any.
    async fn flush(&mut self) -> Result<(), Stop> {
        if let Some(held) = self.held.take() {
            self.deliver(&held).await?;
        }
        Ok(())
    }

    async fn flush_then(&mut self, stop: Stop) -> Stop {
        match self.flush().await {
            Ok(()) => stop,
            Err(gone) => gone,
        }
    }

    /// Sends one event: adds it to the pending chunk, and puts a full
    /// chunk on the channel.
    async fn deliver(&mut self, event: &pb::JobEvent) -> Result<(), Stop> {
        self.pending.push(Ok(pb::StreamJobEventsResponse {
            event: Some(event.clone()),
        }));
        if self.pending.len() >= CHUNK {
            self.push().await?;
        }
        Ok(())
    }

    /// Puts the pending chunk on the channel, waiting for room (or for
    /// shutdown, which ends the stream with `SHUTTING_DOWN` after the
    /// events already sent).
    async fn push(&mut self) -> Result<(), Stop> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let permit = tokio::select! {
            permit = self.tx.reserve() => permit.map_err(|_| Stop::Gone)?,
            _ = self.shutdown.wait_for(|s| *s) => {
                // The pending events still go out, ahead of the error.
                let last = self
                    .pending
                    .iter()
                    .rev()
                    .find_map(|m| m.as_ref().ok().and_then(|r| r.event.as_ref()).map(|e| e.sequence))
                    .unwrap_or(self.cursor);
                return Err(Stop::Error(ApiError::shutting_down(Some((&self.job.job_id, last)))));
            }
        };
        permit.send(std::mem::take(&mut self.pending));
        Ok(())
    }
}
