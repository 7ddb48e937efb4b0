//! The tables of the store, each split in shards behind locks of their
//! own: calls whose keys fall in different shards never wait on each
//! other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::lock;

/// How many shards a [`Sharded`] map has.
const SHARDS: usize = 16;

/// A map keyed by id in shards, each behind its own lock: calls whose keys
/// fall in different shards never wait on each other. Lookups by job id
/// (`GetJobStatus`, `CancelJob`, `StreamJobEvents`) and submissions take
/// one shard, never a lock every call shares.
///
/// Keys are shared with the job they came from (`Arc<str>`): entering a job
/// copies no string, and a lookup compares against the job's own, already
/// in the cache from hashing it.
///
/// Hashing is foldhash's (randomly seeded, as resistant to chosen keys as
/// hashbrown's own default) rather than SipHash: a submission hashes a
/// dozen keys, and SipHash was a measurable part of it.
#[derive(Debug)]
pub(super) struct Sharded<V> {
    shards: [Mutex<HashMap<Arc<str>, V, Hasher>>; SHARDS],
    hasher: Hasher,
}

/// The hasher of the tables and of choosing their shards.
type Hasher = foldhash::quality::RandomState;

impl<V> Sharded<V> {
    pub(super) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::default()), hasher: Hasher::default() }
    }

    /// The locked shard of `key`.
    pub(super) fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<Arc<str>, V, Hasher>> {
        use std::hash::BuildHasher;
        // The remainder is below SHARDS, so the cast cannot truncate.
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        lock(&self.shards[i])
    }
}
