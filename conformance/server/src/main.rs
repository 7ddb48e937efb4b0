//! The `domed` binary: parses flags, starts the server, prints the bound
//! address and shuts down gracefully on SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// mimalloc, built without transparent huge pages: under many threads
/// allocating and freeing each other's memory (a job's events are freed by
/// whichever call evicts the job) it avoids the lock contention of glibc's
/// arenas, worth 10-15% of throughput in `cargo xtask bench`; without huge
/// pages it does not zero 2 MiB per page fault, and it hands memory back
/// after eviction ([`trim_memory`]). The library never names it: only this
/// binary chooses the allocator (feature `mimalloc`, on by default).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns mimalloc's free memory to the system: the server calls it (on
/// a blocking thread, one call at a time) after evictions, or the resident
/// size of a server that evicted large jobs would stay at its high-water
/// mark.
///
/// mimalloc collects one thread's heap at a time: a page freed by another
/// thread stays with the heap of the thread that allocated it until that
/// thread collects. The events of an evicted job were allocated by the
/// runtime's workers, so the call marks a new epoch and collects the
/// calling thread (and memory no thread owns any more); each worker
/// collects its own heap as it parks ([`collect_if_asked`]). A worker
/// parked already would only collect once something wakes it, which on an
/// idle server may be never: so the call wakes the workers, with an empty
/// task each, until every one has collected or [`WAKE_ROUNDS`] have passed
/// (a worker busy all along collects when it next parks; the wait is kept
/// short, since a blocking task still running holds up the runtime's
/// exit).
#[cfg(feature = "mimalloc")]
fn trim_memory() {
    collect_everywhere();
}

/// How many times [`collect_everywhere`] wakes the workers, 5 ms apart,
/// before it leaves those still busy to collect when they next park.
#[cfg(feature = "mimalloc")]
const WAKE_ROUNDS: u32 = 20;

/// [`trim_memory`]; true when every worker of the runtime has collected
/// its heap for the new epoch before it returned.
#[cfg(feature = "mimalloc")]
fn collect_everywhere() -> bool {
    use std::sync::atomic::Ordering;
    CAUGHT_UP.store(0, Ordering::SeqCst);
    let epoch = TRIM_EPOCH.fetch_add(1, Ordering::SeqCst) + 1;
    // SAFETY: mi_collect only walks mimalloc's own structures, and takes
    // no pointer from the caller.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    let workers = runtime.metrics().num_workers() as u64;
    for _ in 0..WAKE_ROUNDS {
        if CAUGHT_UP.load(Ordering::SeqCst) >= workers || TRIM_EPOCH.load(Ordering::SeqCst) != epoch {
            break;
        }
        // A task spawned from outside the workers wakes a parked one; it
        // runs the task, finds nothing else to do and parks again,
        // collecting as it does.
        for _ in 0..workers {
            drop(runtime.spawn(async {}));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    CAUGHT_UP.load(Ordering::SeqCst) >= workers
}

/// Bumped by each [`trim_memory`].
#[cfg(feature = "mimalloc")]
static TRIM_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Workers that have collected their heap for the current epoch.
#[cfg(feature = "mimalloc")]
static CAUGHT_UP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(feature = "mimalloc")]
thread_local! {
    /// The last epoch this thread collected its heap for.
    static COLLECTED_EPOCH: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Run by every worker of the runtime as it parks (it has nothing to do):
/// collects the thread's own heap once per [`trim_memory`].
#[cfg(feature = "mimalloc")]
fn collect_if_asked() {
    use std::sync::atomic::Ordering;
    let epoch = TRIM_EPOCH.load(Ordering::SeqCst);
    COLLECTED_EPOCH.with(|seen| {
        if seen.get() != epoch {
            seen.set(epoch);
            // SAFETY: as in `collect_everywhere`.
            unsafe {
                libmimalloc_sys::mi_collect(true);
            }
            if TRIM_EPOCH.load(Ordering::SeqCst) == epoch {
                CAUGHT_UP.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
}

/// The reference dome gateway server (`dome.gateway.v1`).
#[derive(Debug, Parser)]
#[command(name = "domed", version, about)]
struct Args {
    /// Address to listen on. Port 0 picks a free port; the bound address is
    /// printed as `domed listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Require `authorization: Bearer TOKEN` on every gateway call (health
    /// and reflection stay open). Prefer the environment variable: a flag's
    /// value is visible to every user in the process list, the
    /// environment is not. An empty token is refused.
    #[arg(long, env = "DOMED_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// PEM certificate chain; with --tls-key, serve TLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key; with --tls-cert, serve TLS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not advertise `dome.conformance.v1` nor offer `dome.conformance.script`.
    #[arg(long)]
    no_conformance: bool,
    /// Seconds a graceful shutdown may take before open work is dropped.
    #[arg(long, default_value_t = 5)]
    shutdown_grace_secs: u64,
    /// HTTP/2 concurrent streams per connection.
    #[arg(long, default_value_t = 1024)]
    max_concurrent_streams: u32,
    /// Connections open at once; more wait in the kernel's backlog (0: no cap).
    #[arg(long, default_value_t = domed::Config::default().max_connections)]
    max_connections: usize,
    /// Seconds a new connection may take to send its first bytes (HTTP/2
    /// preface or TLS handshake) before it is closed.
    #[arg(long, default_value_t = domed::Config::default().handshake_timeout.as_secs())]
    handshake_timeout_secs: u64,
    /// Seconds a connection may stay open with no call open on it (0: no limit).
    #[arg(long, default_value_t = domed::Config::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
    /// Seconds between HTTP/2 keepalive PINGs on an open connection.
    #[arg(long, default_value_t = domed::Config::default().keepalive_interval.as_secs())]
    keepalive_interval_secs: u64,
    /// Seconds a keepalive PING may go unanswered before the connection is closed.
    #[arg(long, default_value_t = domed::Config::default().keepalive_timeout.as_secs())]
    keepalive_timeout_secs: u64,
    /// Bytes of events all streams together may read ahead of the
    /// transport; past it a stream reads only the event it sends (0: no
    /// total bound; each stream reads at most 64 KiB ahead anyway).
    #[arg(long, default_value_t = domed::Config::default().max_stream_read_ahead_bytes)]
    max_stream_read_ahead_bytes: u64,
    /// Largest encoded request message, in bytes (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_request_bytes)]
    max_request_bytes: u64,
    /// Largest skill `input_json`, in bytes (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_input_bytes)]
    max_input_bytes: u64,
    /// Jobs that may wait for a worker before `QUEUE_FULL` (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().queue_capacity)]
    queue_capacity: u64,
    /// Jobs that run at once (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_running_jobs)]
    max_running_jobs: u64,
    /// Events retained per job; a cursor before them is `CURSOR_EXPIRED` (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_events_retained_per_job)]
    max_events_retained_per_job: u64,
    /// Jobs retained; the oldest terminal ones are dropped first (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_jobs_retained)]
    max_jobs_retained: u64,
    /// Streams open on one job at once (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_subscribers_per_job)]
    max_subscribers_per_job: u64,
    /// Seconds an idempotency key is remembered (0: as long as its job).
    #[arg(long, default_value_t = domed::Limits::default().idempotency_window.as_secs())]
    idempotency_window_secs: u64,
    /// Events a subscriber may fall behind before `SUBSCRIBER_LAGGED` (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_subscriber_lag_events)]
    max_subscriber_lag_events: u64,
    /// Bytes of events retained per job; older ones are dropped (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_event_bytes_retained_per_job)]
    max_event_bytes_retained_per_job: u64,
    /// Bytes of input and output one job stores (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_job_data_bytes)]
    max_job_data_bytes: u64,
    /// Bytes all retained jobs may hold together; past it the oldest ended jobs are dropped (0: no limit).
    #[arg(long, default_value_t = domed::Limits::default().max_retained_bytes)]
    max_retained_bytes: u64,
    /// Run a deliberately broken variant (for proving the conformance suite).
    #[cfg(feature = "mutants")]
    #[arg(long, value_name = "NAME")]
    mutant: Option<domed::Mutant>,
}

fn main() -> anyhow::Result<()> {
    runtime().build().context("starting the runtime")?.block_on(serve())
}

/// The runtime `domed` serves on: tokio's multi-threaded one, whose
/// workers collect their heaps as they park after a trim.
fn runtime() -> tokio::runtime::Builder {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    #[cfg(feature = "mimalloc")]
    runtime.on_thread_park(collect_if_asked);
    runtime
}

async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let config = domed::Config {
        listen: args.listen,
        auth_token: args.auth_token,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert_pem_path), Some(key_pem_path)) => Some(domed::TlsFiles { cert_pem_path, key_pem_path }),
            _ => None,
        },
        limits: domed::Limits {
            max_request_bytes: args.max_request_bytes,
            max_input_bytes: args.max_input_bytes,
            queue_capacity: args.queue_capacity,
            max_running_jobs: args.max_running_jobs,
            max_events_retained_per_job: args.max_events_retained_per_job,
            max_jobs_retained: args.max_jobs_retained,
            max_subscribers_per_job: args.max_subscribers_per_job,
            idempotency_window: Duration::from_secs(args.idempotency_window_secs),
            max_subscriber_lag_events: args.max_subscriber_lag_events,
            max_event_bytes_retained_per_job: args.max_event_bytes_retained_per_job,
            max_job_data_bytes: args.max_job_data_bytes,
            max_retained_bytes: args.max_retained_bytes,
        },
        conformance: !args.no_conformance,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        max_concurrent_streams: args.max_concurrent_streams,
        max_connections: args.max_connections,
        handshake_timeout: Duration::from_secs(args.handshake_timeout_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        keepalive_interval: Duration::from_secs(args.keepalive_interval_secs),
        keepalive_timeout: Duration::from_secs(args.keepalive_timeout_secs),
        max_stream_read_ahead_bytes: args.max_stream_read_ahead_bytes,
        #[cfg(feature = "mimalloc")]
        memory_trim: Some(trim_memory),
        #[cfg(not(feature = "mimalloc"))]
        memory_trim: None,
        // A test knob only; the binary never slows itself down.
        step_delay: Duration::ZERO,
        #[cfg(feature = "mutants")]
        mutant: args.mutant,
    };
    let running = domed::start(config).await.context("starting domed")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "domed listening on {}", running.local_addr())?;
        out.flush()?;
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    running.shutdown().await.context("shutting down domed")?;
    Ok(())
}

/// Waits for SIGINT or (on Unix) SIGTERM.
async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("waiting for SIGINT")?;
    Ok(())
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    /// A trim reaches every worker of an idle runtime, parked before it
    /// began: each is woken, and collects its heap as it parks again.
    /// A trim waits at most 100 ms for the workers; on a machine whose
    /// CPUs other tests hold, the OS may not run a woken worker that soon,
    /// so up to ten trims are tried. Without the waking none would reach
    /// a parked worker.
    #[test]
    fn a_trim_wakes_every_parked_worker_to_collect() -> anyhow::Result<()> {
        let runtime = runtime().worker_threads(3).build()?;
        let everywhere = runtime.block_on(async {
            for _ in 0..10 {
                // Every worker has run and parked before the trim begins.
                for _ in 0..3 {
                    tokio::spawn(async {}).await?;
                }
                if tokio::task::spawn_blocking(collect_everywhere).await? {
                    return Ok::<_, anyhow::Error>(true);
                }
            }
            Ok(false)
        })?;
        assert!(everywhere, "{} of 3 workers collected", CAUGHT_UP.load(std::sync::atomic::Ordering::SeqCst));
        Ok(())
    }
}
