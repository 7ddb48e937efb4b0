//! Resident memory of a process, read from `/proc/PID/status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// The memory figures of one reading, in KiB.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size since the process started.
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`; `None` when the process is gone or
/// the system has no procfs.
pub fn read(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

/// Parses the text of `/proc/PID/status`.
pub fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
    };
    Some(Memory { rss_kib: field("VmRSS")?, hwm_kib: field("VmHWM")? })
}

/// How long [`settled`] watches a process's resident size.
pub const SETTLE_WINDOW: Duration = Duration::from_secs(1);

/// The resident size of `pid` once it settles, in KiB: the smallest value
/// read every 20 ms over [`SETTLE_WINDOW`]. Allocators hand
/// freed memory back to the system a little after it is freed (on another
/// thread, after a purge delay), so a single reading right after a burst
/// of frees can catch memory on its way out. `None` when the process is
/// gone or the system has no procfs.
pub async fn settled(pid: u32) -> Option<u64> {
    let mut lowest = read(pid)?.rss_kib;
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let until = tokio::time::Instant::now() + SETTLE_WINDOW;
    while tokio::time::Instant::now() < until {
        tick.tick().await;
        lowest = lowest.min(read(pid)?.rss_kib);
    }
    Some(lowest)
}

/// Samples the resident size of a process every few milliseconds while a
/// phase runs, keeping the largest value seen (`VmHWM` alone cannot tell
/// phases apart, since it never goes down).
#[derive(Debug)]
pub struct Sampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// How often a [`Sampler`] reads the process status.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(read(pid).map_or(0, |m| m.rss_kib)));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak_kib, stop) = (peak_kib.clone(), stop.clone());
            async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    match read(pid) {
                        Some(m) => {
                            peak_kib.fetch_max(m.rss_kib, Ordering::Relaxed);
                        }
                        None => break,
                    }
                }
            }
        });
        Self { peak_kib, stop, task }
    }

    /// Stops sampling and returns the largest resident size seen, in KiB.
    pub async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        // The task ends at its next tick; a panic in it leaves the peak
        // seen so far, which is still a valid lower bound.
        let _ = self.task.await;
        self.peak_kib.load(Ordering::Relaxed)
    }
}
