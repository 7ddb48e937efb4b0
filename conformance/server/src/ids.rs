//! Identifiers: the ones the server forms (a prefix and 32 lowercase hex
//! digits) and the checks on the ones clients send.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::errors::ApiError;

/// A fresh id: `prefix` followed by 32 lowercase hex digits.
///
/// The first 16 digits are random per process, the last 16 a bijective
/// scramble of a process-wide counter: unique per server without a system
/// call per id (ids are made several times per job on the hot path), and
/// unlike across restarts with overwhelming probability.
pub(crate) fn new_id(prefix: &str) -> String {
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Sized once: growing the string while formatting would reallocate,
    // and a reallocation takes the allocator's lock on the hot path.
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    push_hex(&mut id, process);
    push_hex(&mut id, scramble(n ^ process));
    id
}

/// Appends the 16 lowercase hex digits of `x` (without the formatting
/// machinery: ids are made several times per job).
fn push_hex(s: &mut String, x: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        // The mask keeps the index below 16.
        s.push(char::from(DIGITS[((x >> (shift * 4)) & 0xf) as usize]));
    }
}

/// The SplitMix64 finaliser: a bijection on `u64`, so distinct counters
/// give distinct ids, spread over the whole range.
fn scramble(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A fresh lowercase hex string of `digits` digits (at most 32).
pub(crate) fn new_hex(digits: usize) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    hex[..digits.min(hex.len())].to_owned()
}

/// Whether `s` is 1 to 128 characters of `[A-Za-z0-9._:-]`, the form of
/// correlation ids and idempotency keys.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The correlation id of a call: the client's when valid, a fresh
/// `corr-...` when empty. An invalid one is `INVALID_ARGUMENT`, reported
/// under a fresh id (the invalid one cannot be echoed).
pub(crate) fn correlation_id(requested: &str) -> Result<String, (String, ApiError)> {
    if requested.is_empty() {
        Ok(new_id("corr-"))
    } else if is_token(requested) {
        Ok(requested.to_owned())
    } else {
        Err((
            new_id("corr-"),
            ApiError::invalid_argument("correlation_id", "must be at most 128 characters of [A-Za-z0-9._:-]"),
        ))
    }
}

/// Checks an idempotency key (empty means none).
pub(crate) fn check_idempotency_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || is_token(key) {
        Ok(())
    } else {
        Err(ApiError::invalid_argument("idempotency_key", "must be 1 to 128 characters of [A-Za-z0-9._:-]"))
    }
}

/// Checks a run id given by a client (empty means a new run).
pub(crate) fn check_run_id(run_id: &str) -> Result<(), ApiError> {
    if run_id.is_empty() || is_token(run_id) {
        Ok(())
    } else {
        Err(ApiError::invalid_argument("run_id", "must be at most 128 characters of [A-Za-z0-9._:-]"))
    }
}

/// Checks a required id field: present, and of the id form.
pub(crate) fn check_required_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        Err(ApiError::invalid_argument(field, "is required"))
    } else if !is_token(value) {
        Err(ApiError::invalid_argument(field, "must be at most 128 characters of [A-Za-z0-9._:-]"))
    } else {
        Ok(())
    }
}

/// Checks labels: at most 32, keys 1 to 63 characters of `[a-z0-9._-]`,
/// values at most 256 characters.
pub(crate) fn check_labels(labels: &HashMap<String, String>) -> Result<(), ApiError> {
    if labels.len() > 32 {
        return Err(ApiError::invalid_argument("labels", "at most 32 labels are allowed"));
    }
    let mut keys: Vec<&String> = labels.keys().collect();
    keys.sort();
    for key in keys {
        let key_ok = !key.is_empty()
            && key.len() <= 63
            && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if !key_ok {
            return Err(ApiError::invalid_argument("labels", "label keys must be 1 to 63 characters of [a-z0-9._-]"));
        }
        if labels[key].chars().count() > 256 {
            return Err(ApiError::invalid_argument(
                &format!("labels[{key}]"),
                "label values must be at most 256 characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_are_formats_own() {
        for x in [0, 1, 0xf, 0x10, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef, 1 << 63] {
            let mut s = String::new();
            push_hex(&mut s, x);
            assert_eq!(s, format!("{x:016x}"));
        }
    }

    #[test]
    fn server_ids_have_the_documented_form() {
        let id = new_id("job-");
        assert_eq!(id.len(), 36);
        assert!(id[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(new_hex(16).len(), 16);
    }

    #[test]
    fn server_ids_never_repeat_across_threads() {
        let threads: Vec<_> =
            (0..4).map(|_| std::thread::spawn(|| (0..25_000).map(|_| new_id("evt-")).collect::<Vec<_>>())).collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(all.insert(id.clone()), "{id} was made twice");
            }
        }
        assert_eq!(all.len(), 100_000);
    }

    #[test]
    fn correlation_ids_are_checked_or_assigned() {
        assert_eq!(correlation_id("abc:1.2_3-4").ok().as_deref(), Some("abc:1.2_3-4"));
        assert!(correlation_id("").is_ok_and(|c| c.starts_with("corr-") && c.len() == 37));
        assert!(correlation_id("has space").is_err());
        assert!(correlation_id(&"a".repeat(129)).is_err());
        assert!(correlation_id(&"a".repeat(128)).is_ok());
    }
}
