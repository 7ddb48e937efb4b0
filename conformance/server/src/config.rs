//! What a server is started with: address, credentials, TLS and limits.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Everything [`crate::start`] needs. `Config::default()` is a loopback
/// server on an ephemeral port, without authentication or TLS, with the
/// conformance profile on and the default [`Limits`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to bind; `127.0.0.1:0` (loopback, any free port) by
    /// default.
    pub listen: SocketAddr,
    /// When set, every gateway call must carry `authorization: Bearer
    /// <token>` (the scheme in any case); health and reflection stay open.
    /// An empty token is refused at start: it would let anyone in.
    pub auth_token: Option<String>,
    /// When set, the server speaks TLS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// The limits the server enforces and advertises.
    pub limits: Limits,
    /// Whether to advertise `dome.conformance.v1` and offer the skill
    /// `dome.conformance.script`. On by default.
    pub conformance: bool,
    /// How long a graceful shutdown may take: running jobs are cancelled
    /// and open streams ended, and whatever is still open after this long
    /// is dropped.
    pub shutdown_grace: Duration,
    /// The HTTP/2 limit on concurrent streams per connection (the
    /// transport's own limit; calls beyond it wait for a free stream).
    pub max_concurrent_streams: u32,
    /// How many connections may be open at once (0: no cap); at the cap
    /// new ones wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// How long a new connection may take to send its first bytes (the
    /// HTTP/2 preface, or a TLS handshake) before it is closed.
    pub handshake_timeout: Duration,
    /// How long a connection may stay open with no call open on it before
    /// it is closed (zero: never).
    pub idle_timeout: Duration,
    /// How often an HTTP/2 PING checks a connection that is open.
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before its connection is closed.
    pub keepalive_timeout: Duration,
    /// The bytes of events all streams together may have read ahead of
    /// the transport (0: no total bound; each stream reads at most 64
    /// events or 64 KiB ahead whatever this is). Past it, a stream reads
    /// only the event it sends at once.
    pub max_stream_read_ahead_bytes: u64,
    /// Returns the allocator's free memory to the system; called on a
    /// blocking thread after evictions have freed many events. `None` (the
    /// default): never called. The `domed` binary sets it to mimalloc's
    /// collection; a program embedding the server chooses its own for the
    /// allocator it uses.
    pub memory_trim: Option<fn()>,
    /// A delay a worker waits before it starts each job and before each
    /// step of a script: zero (the default) for a real server; tests set it
    /// to run the conformance suite against a slow but correct server.
    pub step_delay: Duration,
    /// The deliberately broken behaviour to run with, if any.
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::Mutant>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            auth_token: None,
            tls: None,
            limits: Limits::default(),
            conformance: true,
            shutdown_grace: Duration::from_secs(5),
            max_concurrent_streams: 1024,
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_stream_read_ahead_bytes: 64 * 1024 * 1024,
            memory_trim: None,
            step_delay: Duration::ZERO,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}

/// The PEM files of a TLS server identity.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, PEM.
    pub cert_pem_path: PathBuf,
    /// The private key, PEM.
    pub key_pem_path: PathBuf,
}

/// The limits of a server, one field per field of the contract's
/// `ServerLimits` (where they are documented). Zero means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest encoded request message accepted, in bytes.
    pub max_request_bytes: u64,
    /// The largest `input_json` accepted, in bytes.
    pub max_input_bytes: u64,
    /// How many jobs may wait for a worker before `QUEUE_FULL`.
    pub queue_capacity: u64,
    /// How many jobs run at once.
    pub max_running_jobs: u64,
    /// How many events each job retains; older ones are dropped.
    pub max_events_retained_per_job: u64,
    /// How many jobs are retained; the oldest terminal ones go first.
    pub max_jobs_retained: u64,
    /// How many streams may be open on one job at once.
    pub max_subscribers_per_job: u64,
    /// How long an idempotency key is remembered.
    pub idempotency_window: Duration,
    /// How far a subscriber may fall behind before `SUBSCRIBER_LAGGED`.
    pub max_subscriber_lag_events: u64,
    /// How many bytes of events each job retains (each event counted by
    /// its encoded size plus the log's own bookkeeping); older ones are
    /// dropped.
    pub max_event_bytes_retained_per_job: u64,
    /// How many bytes of input (until it starts) and output one job
    /// stores.
    pub max_job_data_bytes: u64,
    /// How many bytes every retained job together may hold; past it the
    /// oldest terminal jobs are dropped.
    pub max_retained_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 * 1024 * 1024,
            max_input_bytes: 1024 * 1024,
            queue_capacity: 1024,
            max_running_jobs: 64,
            max_events_retained_per_job: 100_000,
            max_jobs_retained: 10_000,
            max_subscribers_per_job: 2048,
            idempotency_window: Duration::from_secs(24 * 60 * 60),
            max_subscriber_lag_events: 4096,
            max_event_bytes_retained_per_job: 16 * 1024 * 1024,
            max_job_data_bytes: 2 * 1024 * 1024,
            max_retained_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The limits as the contract's `ServerLimits` message.
    pub(crate) fn to_proto(&self) -> dome_sdk::pb::ServerLimits {
        dome_sdk::pb::ServerLimits {
            max_request_bytes: self.max_request_bytes,
            max_input_bytes: self.max_input_bytes,
            queue_capacity: self.queue_capacity,
            max_running_jobs: self.max_running_jobs,
            max_events_retained_per_job: self.max_events_retained_per_job,
            max_jobs_retained: self.max_jobs_retained,
            max_subscribers_per_job: self.max_subscribers_per_job,
            idempotency_window_seconds: self.idempotency_window.as_secs(),
            max_subscriber_lag_events: self.max_subscriber_lag_events,
            max_event_bytes_retained_per_job: self.max_event_bytes_retained_per_job,
            max_job_data_bytes: self.max_job_data_bytes,
            max_retained_bytes: self.max_retained_bytes,
        }
    }
}

/// Reads a limit as "no limit" when zero.
pub(crate) fn limit(value: u64) -> Option<u64> {
    (value != 0).then_some(value)
}
