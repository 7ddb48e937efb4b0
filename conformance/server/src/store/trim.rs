//! Giving memory back after eviction, through a hook the program sets.
//!
//! Allocators keep freed memory for reuse, so without a trim the resident
//! size of a server that evicted large jobs stays at its high-water mark.
//! How to trim depends on the allocator, which the program chooses, not
//! this library: the `domed` binary allocates with mimalloc and sets
//! [`crate::Config::memory_trim`] to mimalloc's collection; a program
//! embedding the server sets its own, or none, and links no allocator it
//! did not choose.
//!
//! Frees are counted in two places: when a job leaves retention (its log
//! and record are freed then), and when the last reader of a job that
//! left is dropped (what its streams held, read ahead or in transport
//! buffers, is freed only then; see [`super::JobEntry`]'s `Drop`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bytes freed by evictions after which the allocator is asked to give
/// free memory back to the system.
const TRIM_AFTER_FREED_BYTES: u64 = 16 * 1024 * 1024;

/// Counts what eviction frees and calls the hook past a threshold.
#[derive(Debug)]
pub(super) struct Trim {
    /// The program's way to return free memory; `None`: never trimmed.
    hook: Option<fn()>,
    /// The bytes freed after which the hook runs.
    threshold: u64,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes freed since the hook last started.
    freed_bytes: AtomicU64,
    /// Set while a trim runs.
    trimming: AtomicBool,
}

impl State {
    /// Whether enough was freed to trim, and no trim runs: then the caller
    /// runs it (and `trimming` is set).
    fn claim(&self, threshold: u64) -> bool {
        self.freed_bytes.load(Ordering::Relaxed) >= threshold && !self.trimming.swap(true, Ordering::AcqRel)
    }
}

impl Trim {
    pub(super) fn new(hook: Option<fn()>) -> Self {
        Self { hook, threshold: TRIM_AFTER_FREED_BYTES, state: Arc::default() }
    }

    /// The same with another threshold (tests trim after a few bytes).
    #[cfg(test)]
    pub(super) fn with_threshold(hook: Option<fn()>, threshold: u64) -> Self {
        Self { threshold, ..Self::new(hook) }
    }

    /// Counts bytes freed; past the threshold, runs the hook on a blocking
    /// thread. One trim runs at a time; frees counted while it runs are
    /// not lost: once the hook returns, the trim looks again and runs it
    /// once more if they passed the threshold, so the last frees of a
    /// burst are always followed by a trim.
    pub(super) fn note_freed(&self, bytes: u64) {
        let Some(hook) = self.hook else {
            return;
        };
        self.state.freed_bytes.fetch_add(bytes, Ordering::Relaxed);
        if !self.state.claim(self.threshold) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.state.trimming.store(false, Ordering::Release);
            return;
        };
        let (state, threshold) = (self.state.clone(), self.threshold);
        runtime.spawn_blocking(move || {
            loop {
                state.freed_bytes.store(0, Ordering::Relaxed);
                hook();
                state.trimming.store(false, Ordering::Release);
                if !state.claim(threshold) {
                    break;
                }
            }
        });
    }
}
