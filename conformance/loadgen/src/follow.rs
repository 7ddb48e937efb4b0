//! The one event subscriber every phase uses: it follows a job's stream to
//! its terminal event, resumes with `after_sequence` after lag or a
//! dropped stream, and checks what the contract promises of the sequence.
//!
//! Checked: within one call the events arrive gapless and in order starting
//! right after the cursor; across reconnects duplicates are dropped by
//! `sequence`; the first event of a job is `state_changed` to `QUEUED`;
//! exactly one terminal event, last, after which the stream closes; at most
//! one `cancel_requested`; every event names the job. Any breach is an
//! [`Error`] whose [`Error::is_violation`] is true.

use std::time::{Duration, Instant};

use dome_sdk::pb::{JobState, StreamJobEventsRequest, job_event::Payload};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic_types::StatusExt;

use crate::Error;
use crate::client::Client;

/// How a subscriber behaves.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The cursor of the first call (0 streams from the first event).
    pub after_sequence: u64,
    /// When set, the subscriber drops its stream after this many events of
    /// one call and resumes from the last one it saw (a client that
    /// disconnects mid-stream).
    pub disconnect_after: Option<u64>,
    /// When set, the subscriber pauses this long after every `n` events (a
    /// slow reader).
    pub slow: Option<(u64, Duration)>,
    /// When set, the subscriber calls back once it has seen this many
    /// events in all (used to cancel a job mid-burst).
    pub notify_after: Option<(u64, tokio::sync::mpsc::Sender<()>)>,
    /// The most calls (first one included) the subscriber makes.
    pub max_calls: u32,
    /// How long following the whole job may take.
    pub timeout: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            after_sequence: 0,
            disconnect_after: None,
            slow: None,
            notify_after: None,
            max_calls: 10_000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// What one subscriber saw of one job.
#[derive(Debug, Clone, Default)]
pub struct Followed {
    /// Distinct events seen (duplicates across reconnects dropped).
    pub events: u64,
    /// Messages received, duplicates included.
    pub received: u64,
    /// Encoded bytes of the messages received.
    pub bytes: u64,
    /// The sequence of the terminal event.
    pub last_sequence: u64,
    /// How many calls ended with `SUBSCRIBER_LAGGED` and were resumed.
    pub lagged: u32,
    /// How many calls were dropped on purpose and resumed.
    pub disconnects: u32,
    /// The terminal state the job reached.
    pub terminal: JobState,
    /// How many `cancel_requested` events were seen.
    pub cancel_requested: u32,
    /// The SHA-256 of the distinct events (sequence and event id, in
    /// order): equal digests mean identical sequences.
    pub digest: [u8; 32],
    /// When the first event arrived, relative to the start of the follow.
    pub first_event_after: Option<Duration>,
}

/// Follows `job_id` to its terminal event; see the module docs for what is
/// checked.
pub async fn follow(client: Client, job_id: &str, options: FollowOptions) -> Result<Followed, Error> {
    let timeout = options.timeout;
    tokio::time::timeout(timeout, follow_inner(client, job_id, options))
        .await
        .map_err(|_| Error::timeout(format!("following job `{job_id}` for {timeout:?}")))?
}

async fn follow_inner(mut client: Client, job_id: &str, mut options: FollowOptions) -> Result<Followed, Error> {
    let started = Instant::now();
    let mut seen = Followed::default();
    let mut digest = Sha256::new();
    let mut last = options.after_sequence;
    let mut terminal_seen = false;
    for _call in 0..options.max_calls.max(1) {
        let request =
            StreamJobEventsRequest { correlation_id: String::new(), job_id: job_id.to_owned(), after_sequence: last };
        let mut stream =
            client.stream_job_events(request).await.map_err(|s| Error::rpc("StreamJobEvents", s))?.into_inner();
        let cursor = last;
        let mut in_call = 0u64;
        let ended = loop {
            let message = match stream.message().await {
                Ok(Some(message)) => message,
                Ok(None) => break CallEnd::Closed,
                Err(status) => break CallEnd::Failed(status),
            };
            seen.received += 1;
            seen.bytes += message.encoded_len() as u64;
            let Some(event) = message.event else {
                return Err(Error::violation(format!("job `{job_id}`: a stream message without an event")));
            };
            in_call += 1;
            if event.sequence != cursor + in_call {
                return Err(Error::violation(format!(
                    "job `{job_id}`: event {} of a call with cursor {cursor} has sequence {} (lost, reordered or duplicated)",
                    in_call, event.sequence
                )));
            }
            if terminal_seen {
                return Err(Error::violation(format!(
                    "job `{job_id}`: event {} after the terminal event",
                    event.sequence
                )));
            }
            if event.job_id != job_id {
                return Err(Error::violation(format!(
                    "job `{job_id}`: event {} names job `{}`",
                    event.sequence, event.job_id
                )));
            }
            if event.sequence <= last {
                // A replay after a reconnect: at-least-once across calls.
                continue;
            }
            last = event.sequence;
            seen.events += 1;
            seen.first_event_after.get_or_insert_with(|| started.elapsed());
            digest.update(event.sequence.to_be_bytes());
            digest.update(event.event_id.as_bytes());
            match &event.payload {
                Some(Payload::StateChanged(change)) => {
                    let state = JobState::try_from(change.state).unwrap_or(JobState::Unspecified);
                    if event.sequence == 1 && state != JobState::Queued {
                        return Err(Error::violation(format!(
                            "job `{job_id}`: first event is a change to {state:?}, not QUEUED"
                        )));
                    }
                    if dome_sdk::is_terminal_state(change.state) {
                        terminal_seen = true;
                        seen.terminal = state;
                        seen.last_sequence = event.sequence;
                    }
                }
                Some(Payload::CancelRequested(_)) => seen.cancel_requested += 1,
                Some(_) => {}
                None => {
                    return Err(Error::violation(format!("job `{job_id}`: event {} has no payload", event.sequence)));
                }
            }
            if event.sequence == 1 && !matches!(event.payload, Some(Payload::StateChanged(_))) {
                return Err(Error::violation(format!("job `{job_id}`: first event is not a state change")));
            }
            if let Some((after, notify)) = &options.notify_after
                && seen.events >= *after
            {
                // The receiver may be gone; the notification is advisory.
                let _ = notify.try_send(());
                options.notify_after = None;
            }
            if let Some((every, pause)) = options.slow
                && every > 0
                && in_call.is_multiple_of(every)
            {
                tokio::time::sleep(pause).await;
            }
            if let Some(after) = options.disconnect_after
                && in_call >= after
                && !terminal_seen
            {
                break CallEnd::Dropped;
            }
        };
        match ended {
            CallEnd::Closed if terminal_seen => {
                if seen.cancel_requested > 1 {
                    return Err(Error::violation(format!(
                        "job `{job_id}`: {} cancel_requested events",
                        seen.cancel_requested
                    )));
                }
                seen.digest = digest.finalize().into();
                return Ok(seen);
            }
            CallEnd::Closed => {
                return Err(Error::violation(format!(
                    "job `{job_id}`: stream closed with OK after sequence {last} without a terminal event"
                )));
            }
            CallEnd::Dropped => {
                seen.disconnects += 1;
                drop(stream);
            }
            CallEnd::Failed(status) => {
                let info = status.get_details_error_info();
                let reason = info.as_ref().map(|i| i.reason.as_str());
                if reason != Some("SUBSCRIBER_LAGGED") {
                    return Err(Error::rpc("StreamJobEvents (mid-stream)", status));
                }
                let resume = info
                    .as_ref()
                    .and_then(|i| i.metadata.get("resumeAfterSequence"))
                    .and_then(|v| v.parse::<u64>().ok());
                match resume {
                    Some(resume) if resume <= last => {}
                    other => {
                        return Err(Error::violation(format!(
                            "job `{job_id}`: SUBSCRIBER_LAGGED with resumeAfterSequence {other:?} after the subscriber saw {last}"
                        )));
                    }
                }
                seen.lagged += 1;
            }
        }
    }
    Err(Error::timeout(format!("job `{job_id}` not finished after {} stream calls", options.max_calls)))
}

enum CallEnd {
    Closed,
    Dropped,
    Failed(tonic::Status),
}
