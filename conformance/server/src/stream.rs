//! `StreamJobEvents`: every call reads the job's log from its own cursor.
//!
//! The stream tonic polls is the reader itself, with no task or channel
//! between them: asked for the next message, it hands out what it read
//! last, or takes the next batch from the log under the job's lock, or,
//! at the head of a live job, waits for the job's next append (or for
//! shutdown). A message is an event's `StreamJobEventsResponse` as the
//! log keeps it, encoded once and shared by every stream of the job;
//! [`crate::route`] puts those bytes on the wire as they are.
//!
//! The job never waits for a subscriber: events are appended to the log
//! and the subscriber reads them when it can, so a slow subscriber costs
//! only its own cursor. A subscriber that falls more than
//! `max_subscriber_lag_events` behind the events appended since its call
//! began (or whose next event has left retention) is ended with
//! `SUBSCRIBER_LAGGED`, never with a silent gap. When the client goes
//! away tonic drops the stream, which releases its slot.
//!
//! A stream holds little of its own: at most [`BATCH`] events or
//! [`BATCH_BYTES`] read ahead of what tonic has taken (shared with the
//! log, not copied), and a reference to the job. What all streams have
//! read ahead is bounded in total as well
//! (`Config::max_stream_read_ahead_bytes`, 64 MiB): past it, a stream
//! reads only the one event it hands out at once, so the bound holds to
//! within an event per runtime thread, and an evicted job's events pinned
//! by its open streams never pass it. When the job leaves
//! retention, its log and record are freed at once whoever still holds
//! the job; each open stream then ends, after what it had read, with
//! `JOB_NOT_FOUND`, never with a silent close.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use dome_sdk::pb;
use prost::bytes::Bytes;
use tokio::sync::watch;
use tonic::Status;

use crate::config::limit;
use crate::errors::ApiError;
use crate::mutants::{Faults, Mutant};
use crate::reply::decode_stored;
use crate::store::{JobEntry, LoggedEvent, ReadAhead, Store};

/// One message of the stream: an encoded `StreamJobEventsResponse`, or
/// the error that ends the stream.
type Item = Result<Bytes, Status>;

/// How many events a stream takes from the log per lock of the job.
const BATCH: usize = 64;

/// How many bytes of events a stream reads ahead per lock of the job
/// (always at least one event).
const BATCH_BYTES: usize = 64 * 1024;

/// The stream of one `StreamJobEvents` call.
pub(crate) struct EventStream {
    /// The call's correlation id, which its errors carry.
    correlation_id: String,
    /// Messages read and not yet handed out, in order; their bytes are
    /// counted in `read_ahead`.
    ready: VecDeque<Item>,
    /// What all streams have read ahead, together.
    read_ahead: Arc<ReadAhead>,
    /// `None` once nothing more will be read.
    reader: Option<Box<Reader>>,
}

/// The bytes of a message counted as read ahead (an error counts none).
fn counted(item: &Item) -> usize {
    item.as_ref().map_or(0, Bytes::len)
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.read_ahead.sub(self.ready.iter().map(counted).sum());
    }
}

impl futures_core::Stream for EventStream {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.ready.pop_front() {
                this.read_ahead.sub(counted(&item));
                return Poll::Ready(Some(item));
            }
            let Some(reader) = this.reader.as_mut() else {
                return Poll::Ready(None);
            };
            if let Some(wait) = reader.wait.as_mut() {
                ready!(wait.as_mut().poll(cx));
                reader.wait = None;
            }
            match reader.read(&mut this.ready) {
                Next::Read => {}
                Next::Wait => reader.wait = Some(reader.waiter()),
                Next::End(error) => {
                    reader.end(error, &this.correlation_id, &mut this.ready);
                    this.reader = None;
                }
            }
        }
    }
}

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
        if job.is_released() {
            return Err(ApiError::job_not_found(&job.job_id));
        }
        let last = job.head();
        if after_sequence > last {
            return Err(ApiError::cursor_ahead(&job.job_id, after_sequence, last));
        }
        if after_sequence.saturating_add(1) < data.first_retained {
            return Err(ApiError::cursor_expired(&job.job_id, after_sequence, data.first_retained));
        }
        let live_head_closes = store.faults.is(Mutant::LiveHeadCloses);
        (last, (data.terminal || live_head_closes) && after_sequence == last)
    };
    let slots = job.subscribers.fetch_add(1, Ordering::SeqCst) + 1;
    let slot = Slot(job.clone());
    if let Some(max) = limit(store.limits.max_subscribers_per_job)
        && slots > max
    {
        return Err(ApiError::limit_exceeded("max_subscribers_per_job", max));
    }
    let read_ahead = store.read_ahead.clone();
    let whole_log = store.faults.is(Mutant::ResumeReturnsWholeLog);
    let reader = (!closes_at_once || whole_log).then(|| {
        Box::new(Reader {
            faults: store.faults,
            max_lag: limit(store.limits.max_subscriber_lag_events),
            shutdown: store.watch_shutdown(),
            wait: None,
            store,
            job,
            cursor: if whole_log { 0 } else { after_sequence },
            baseline,
            sent: 0,
            held: None,
            finished: false,
            _slot: slot,
        })
    });
    Ok(EventStream { correlation_id, ready: VecDeque::new(), read_ahead, reader })
}

/// A wait for the job's next append or for shutdown.
type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The reading side of one stream.
struct Reader {
    store: Arc<Store>,
    job: Arc<JobEntry>,
    /// Flips once the server starts shutting down.
    shutdown: watch::Receiver<bool>,
    /// Set while the stream waits at the head.
    wait: Option<Wait>,
    /// The sequence of the last event sent (or the call's cursor).
    cursor: u64,
    /// The head when the call began: the replay backlog is not lag.
    baseline: u64,
    faults: Faults,
    max_lag: Option<u64>,
    /// How many events this call has sent.
    sent: u64,
    /// An event held back (only by the out-of-order mutant).
    held: Option<LoggedEvent>,
    /// Set once the terminal event is out (then only the never-closing
    /// mutant keeps the stream open).
    finished: bool,
    _slot: Slot,
}

/// What a stream does after a read.
enum Next {
    /// Hands out what it read, then reads again.
    Read,
    /// Waits for the job's next append (or for shutdown).
    Wait,
    /// Ends, OK or with this error, after what it read.
    End(Option<ApiError>),
}

impl Reader {
    /// Reads the next batch of the log into `out`.
    fn read(&mut self, out: &mut VecDeque<Item>) -> Next {
        if self.store.shutting_down() {
            self.flush(out);
            return Next::End(Some(ApiError::shutting_down(Some((&self.job.job_id, self.cursor)))));
        }
        if self.finished {
            return Next::Wait;
        }
        let job = Arc::clone(&self.job);
        let data = job.lock();
        if job.is_released() {
            // The job left retention: its events are gone.
            drop(data);
            self.flush(out);
            return Next::End(Some(ApiError::job_not_found(&job.job_id)));
        }
        if self.cursor + 1 < data.first_retained {
            // The next event left retention before it could be sent.
            drop(data);
            self.flush(out);
            return Next::End(Some(ApiError::subscriber_lagged(&job.job_id, self.cursor)));
        }
        // Found by sequence, not by arithmetic, so that a log with a hole
        // (the skipped-sequence mutant) is still read in order.
        let start = data.log.partition_point(|e| e.sequence <= self.cursor);
        let (mut read, mut bytes) = (0, 0);
        for event in data.log.range(start..).take(BATCH) {
            // The first event goes out at once; the rest wait in the
            // stream, within its own bound and the total one.
            if read > 0 && (bytes >= BATCH_BYTES || !self.store.read_ahead.room()) {
                break;
            }
            bytes += event.message.len();
            if let Some(max) = self.max_lag {
                let behind = job.head().saturating_sub(self.cursor.max(self.baseline));
                if behind > max {
                    drop(data);
                    self.flush(out);
                    return Next::End(Some(ApiError::subscriber_lagged(&job.job_id, self.cursor)));
                }
            }
            self.send(event.clone(), out);
            read += 1;
        }
        let terminal = data.terminal;
        drop(data);
        if read > 0 {
            return Next::Read;
        }
        if !terminal {
            return Next::Wait;
        }
        self.flush(out);
        if self.faults.is(Mutant::StreamNeverCloses) {
            self.finished = true;
            return Next::Wait;
        }
        Next::End(None)
    }

    /// Sends one event, applying the stream mutants.
    fn send(&mut self, event: LoggedEvent, out: &mut VecDeque<Item>) {
        self.sent += 1;
        self.cursor = event.sequence;
        if event.terminal && self.faults.is(Mutant::NoTerminalEvent) {
            return;
        }
        if self.faults.is(Mutant::EventsOutOfOrder) && self.sent == 2 && !event.terminal {
            self.held = Some(event);
            return;
        }
        if self.faults.is(Mutant::DuplicatedEvent) && self.sent == 2 {
            self.push(out, event.message.clone());
        }
        self.push(out, event.message);
        self.flush(out);
    }

    /// Queues one message, counting it as read ahead until it is handed
    /// out.
    fn push(&self, out: &mut VecDeque<Item>, message: Bytes) {
        self.store.read_ahead.add(message.len());
        out.push_back(Ok(message));
    }

    /// Sends an event held back by a mutant, if any.
    fn flush(&mut self, out: &mut VecDeque<Item>) {
        if let Some(held) = self.held.take() {
            self.push(out, held.message);
        }
    }

    /// A wait for an append after the cursor or for shutdown (for
    /// shutdown only once the terminal event is out). The head is stored
    /// before the log's lock is released, so an event the last read did
    /// not see always ends the wait.
    fn waiter(&self) -> Wait {
        let (job, mut shutdown, cursor, finished) =
            (self.job.clone(), self.shutdown.clone(), self.cursor, self.finished);
        Box::pin(async move {
            if finished {
                // The store, and so the sender, outlives every stream.
                let _ = shutdown.wait_for(|s| *s).await;
                return;
            }
            tokio::select! {
                () = job.appended_after(cursor) => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
        })
    }

    /// Ends the stream, with `error` after what was read when given.
    fn end(&self, error: Option<ApiError>, correlation_id: &str, out: &mut VecDeque<Item>) {
        if let Some(e) = error {
            tracing::info!(job_id = %self.job.job_id, correlation_id, reason = ?e.reason(), "stream ended with an error");
            out.push_back(Err(e.into_status(correlation_id, self.faults)));
        }
    }
}

/// An [`EventStream`] with its messages decoded: what the generated
/// service trait's `stream_job_events` returns, for a server that serves
/// the trait as generated rather than through [`crate::route`].
pub(crate) struct Decoded {
    inner: EventStream,
    faults: Faults,
}

impl Decoded {
    /// Decodes the messages of `inner`.
    pub(crate) fn new(inner: EventStream, faults: Faults) -> Self {
        Self { inner, faults }
    }
}

impl futures_core::Stream for Decoded {
    type Item = Result<pb::StreamJobEventsResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let next = ready!(Pin::new(&mut this.inner).poll_next(cx));
        Poll::Ready(
            next.map(|item| {
                item.and_then(|bytes| decode_stored(bytes, "event", &this.inner.correlation_id, this.faults))
            }),
        )
    }
}

#[cfg(test)]
mod tests {

    use futures_core::Stream as _;

    use super::*;
    use crate::config::Limits;
    use crate::store::Submission;
    use crate::worker::Workers;

    /// The next message of `stream`.
    async fn next(stream: &mut EventStream) -> Option<Item> {
        std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
    }

    /// A server whose streams read ahead within `bound` in total, and one
    /// ended job of 1,000 events.
    async fn ended_job(bound: Option<u64>) -> (Arc<Store>, Arc<JobEntry>) {
        let store = Arc::new(Store::new(Limits::default(), Faults::default(), None).with_read_ahead(bound));
        let entry = Workers::new(store.clone())
            .submit(Submission::script(serde_json::json!({ "steps": [{ "bulk": { "count": 1000 } }] })))
            .expect("the job is accepted")
            .entry;
        while !entry.lock().terminal {
            entry.appended_after(entry.head()).await;
        }
        (store, entry)
    }

    /// Sixteen streams each take one message: without a total bound each
    /// then holds a batch read ahead; with one, all of them together hold
    /// at most the bound and one event. Every stream still reads the whole
    /// log, and what they held is given back when they end.
    #[tokio::test(flavor = "current_thread")]
    async fn what_streams_read_ahead_is_bounded_in_total() {
        const BOUND: u64 = 8 * 1024;
        let mut held = Vec::new();
        for bound in [None, Some(BOUND)] {
            let (store, job) = ended_job(bound).await;
            let largest = job.lock().log.iter().map(|e| e.message.len() as u64).max().unwrap_or(0);
            let mut streams: Vec<EventStream> = (0..16)
                .map(|_| open(store.clone(), job.clone(), 0, "corr-test".to_owned()).expect("the stream opens"))
                .collect();
            for stream in &mut streams {
                assert!(matches!(next(stream).await, Some(Ok(_))), "the first event comes at once");
            }
            held.push((bound, store.read_ahead.used(), largest));
            for stream in &mut streams {
                let mut events = 1;
                while let Some(item) = next(stream).await {
                    item.expect("an event");
                    events += 1;
                }
                assert_eq!(events, job.head(), "every event, in the bound or not");
            }
            assert_eq!(store.read_ahead.used(), 0, "an ended stream holds nothing");
            drop(streams);
        }
        let ((_, unbounded, _), (_, bounded, largest)) = (held[0], held[1]);
        assert!(bounded <= BOUND + largest, "{bounded} bytes read ahead over a bound of {BOUND}");
        assert!(unbounded > 4 * BOUND, "without the bound the streams read {unbounded} bytes ahead");
    }

    /// A stream dropped with messages read ahead gives them back.
    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_stream_gives_back_what_it_read_ahead() {
        let (store, job) = ended_job(None).await;
        let mut stream = open(store.clone(), job, 0, "corr-test".to_owned()).expect("the stream opens");
        assert!(matches!(next(&mut stream).await, Some(Ok(_))));
        assert!(store.read_ahead.used() > 0, "a batch is read ahead");
        drop(stream);
        assert_eq!(store.read_ahead.used(), 0);
    }
}
