//! Giving memory back after eviction, through a hook the program sets.
//!
//! Allocators keep freed memory for reuse, so without a trim the resident
//! size of a server that evicted large jobs stays at its high-water mark.
//! How to trim depends on the allocator, which the program chooses, not
//! this library: the `domed` binary allocates with mimalloc and sets
//! [`crate::Config::memory_trim`] to mimalloc's collection; a program
//! embedding the server sets its own, or none, and links no allocator it
//! did not choose.

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
    /// Bytes freed by eviction since the allocator was last trimmed.
    freed_bytes: AtomicU64,
    /// Set while a trim runs.
    trimming: Arc<AtomicBool>,
}

impl Trim {
    pub(super) fn new(hook: Option<fn()>) -> Self {
        Self { hook, freed_bytes: AtomicU64::new(0), trimming: Arc::new(AtomicBool::new(false)) }
    }

    /// Counts bytes freed by eviction; past a threshold, runs the hook on
    /// a blocking thread (one trim at a time).
    pub(super) fn note_freed(&self, bytes: u64) {
        let Some(hook) = self.hook else {
            return;
        };
        let freed = self.freed_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if freed < TRIM_AFTER_FREED_BYTES || self.trimming.swap(true, Ordering::AcqRel) {
            return;
        }
        self.freed_bytes.store(0, Ordering::Relaxed);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.trimming.store(false, Ordering::Release);
            return;
        };
        let trimming = self.trimming.clone();
        runtime.spawn_blocking(move || {
            hook();
            trimming.store(false, Ordering::Release);
        });
    }
}
