//! The drift gate's record of its last clean check, so that `codegen
//! --check` on a tree it has already found clean does not generate again.
//!
//! Generating (protox, tonic-prost-build, prettyplease, the tables and the
//! docs) is most of the gate's time, and its result depends on nothing but
//! the generator and the files it reads. So a check that finds no drift
//! writes a stamp: a SHA-256 over the generator (the running executable's
//! path, size and modification time), every input (each file under
//! `proto/`, `ssot/deltas.json`, `Cargo.lock`) and every output as it then
//! stands (each generated file, and the list of files in the generated
//! directories), beside the list of outputs. A later check recomputes the
//! hash over the same files; only when it is equal, byte for byte the
//! same generator, inputs and outputs that were found clean, does it pass
//! without generating. Any difference (a proto edited, a generated file
//! edited or removed, a file added to a generated directory, a rebuilt
//! xtask, a changed lock file) makes it generate and compare in full,
//! which reports the drift with its diff.
//!
//! The stamp lives in the target directory ([`default_path`]), never in
//! the tree, and is only a cache: a missing or unreadable stamp
//! means a full check, and `--full` ignores it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::paths::{DELTAS, PROTO_DIR};
use crate::util::files_with_suffix;

/// The first line of a stamp file, naming its format.
const FORMAT: &str = "codegen-check stamp v1";

/// Where the stamp of the tree at `root` goes: `root/target/xtask/`, or
/// `xtask/` under `$CARGO_TARGET_DIR` when that is set, named after
/// `root` there (one target directory may serve several checkouts).
pub fn default_path(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        None => root.join("target/xtask/codegen-check.stamp"),
        Some(target) => {
            let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
            let tag = crate::util::sha256_hex(root.to_string_lossy().as_bytes());
            PathBuf::from(target).join(format!("xtask/codegen-check-{}.stamp", &tag[..16]))
        }
    }
}

/// Whether the stamp at `stamp` records a clean check of exactly the
/// generator, inputs and outputs of `root` as they are now.
pub fn is_current(root: &Path, stamp: &Path, generated_dirs: &[&str]) -> bool {
    let Ok(text) = std::fs::read_to_string(stamp) else { return false };
    let mut lines = text.lines();
    let (Some(FORMAT), Some(recorded)) = (lines.next(), lines.next()) else { return false };
    let outputs: Vec<&str> = lines.collect();
    matches!(fingerprint(root, &outputs, generated_dirs), Ok(now) if now == recorded)
}

/// Records that the tree at `root`, whose generated files are `outputs`,
/// was found clean. Written to a temporary file and renamed, so that a
/// reader never sees half a stamp.
pub fn record(root: &Path, stamp: &Path, outputs: &[&str], generated_dirs: &[&str]) -> Result<()> {
    let hash = fingerprint(root, outputs, generated_dirs)?;
    let dir = stamp.parent().context("the stamp path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let text = format!("{FORMAT}\n{hash}\n{}\n", outputs.join("\n"));
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let temp = stamp.with_extension(format!("tmp{}-{}", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&temp, text).with_context(|| format!("cannot write `{}`", temp.display()))?;
    std::fs::rename(&temp, stamp).with_context(|| format!("cannot write `{}`", stamp.display()))
}

/// The hash over the generator, the inputs and `outputs` (with the listing
/// of `generated_dirs`), each file by its path and bytes.
fn fingerprint(root: &Path, outputs: &[&str], generated_dirs: &[&str]) -> Result<String> {
    let mut hash = Sha256::new();
    let exe = std::env::current_exe().context("cannot find the running xtask")?;
    let meta = std::fs::metadata(&exe).with_context(|| format!("cannot read `{}`", exe.display()))?;
    let modified = meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hash.update(format!("generator {} {} {modified}\n", exe.display(), meta.len()));
    let mut inputs = files_with_suffix(root, &root.join(PROTO_DIR), "")?;
    inputs.extend([DELTAS.to_string(), "Cargo.lock".to_string()]);
    for rel in inputs.iter().map(String::as_str).chain(outputs.iter().copied()) {
        match std::fs::read(root.join(rel)) {
            Ok(bytes) => {
                hash.update(format!("file {rel} {}\n", bytes.len()));
                hash.update(&bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => hash.update(format!("absent {rel}\n")),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{rel}`")),
        }
    }
    for dir in generated_dirs {
        for rel in files_with_suffix(root, &root.join(dir), "")? {
            hash.update(format!("listed {rel}\n"));
        }
    }
    Ok(hex::encode(hash.finalize()))
}
