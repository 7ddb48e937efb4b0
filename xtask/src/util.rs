//! Small helpers shared by every subcommand: the one function through
//! which every generated file is written or checked, file listing, and
//! cargo's target directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use xshell::{Cmd, Shell, cmd};

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether generation writes files or only compares them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Write every file whose contents changed.
    Write,
    /// Write nothing; report every file that would change.
    Check,
}

/// One file whose committed contents differ from what generation produces.
#[derive(Debug, Clone)]
pub struct Drift {
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// A unified diff (text) or a one-line account (binary, missing).
    pub diff: String,
}

/// Makes `root/rel` hold exactly `contents`.
///
/// In [`Mode::Write`] the file is written only when it differs (so its
/// modification time stays put otherwise). In [`Mode::Check`] nothing is
/// written and a difference is returned as a [`Drift`].
pub fn ensure_file_contents(root: &Path, rel: &str, contents: &[u8], mode: Mode) -> Result<Option<Drift>> {
    let path = root.join(rel);
    let old = match std::fs::read(&path) {
        Ok(old) => Some(old),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    if old.as_deref() == Some(contents) {
        return Ok(None);
    }
    match mode {
        Mode::Write => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            std::fs::write(&path, contents).with_context(|| format!("cannot write `{}`", path.display()))?;
            Ok(Some(Drift { path: rel.to_string(), diff: String::new() }))
        }
        Mode::Check => Ok(Some(Drift { path: rel.to_string(), diff: diff(rel, old.as_deref(), contents) })),
    }
}

/// A readable account of how `old` (committed) differs from `new`
/// (generated): a unified diff for UTF-8 text, a hash line otherwise.
pub fn diff(rel: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    let Some(old) = old else {
        return format!("`{rel}` is missing: it should be generated ({} bytes)\n", new.len());
    };
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(old), Ok(new)) => similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{rel} (committed)"), &format!("b/{rel} (generated)"))
            .to_string(),
        _ => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "`{rel}` is binary and differs: committed sha256 {} ({} bytes), generated sha256 {} ({} bytes)",
                sha256_hex(old),
                old.len(),
                sha256_hex(new),
                new.len()
            );
            s
        }
    }
}

/// Every file under `dir` (recursively) whose name ends with `suffix`, as
/// paths relative to `base` with `/` separators, sorted.
pub fn files_with_suffix(base: &Path, dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    // Each directory with the real directories on its way from `dir`, so
    // that a symlink back to one of them (a loop) is refused, not walked
    // forever.
    let start = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut stack = vec![(dir.to_path_buf(), vec![start])];
    while let Some((d, ancestors)) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list `{}`", d.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                let real = path.canonicalize().with_context(|| format!("cannot resolve `{}`", path.display()))?;
                if ancestors.contains(&real) {
                    anyhow::bail!(
                        "symlink loop: `{}` points to `{}`, which contains it; remove the link or exclude the directory",
                        path.display(),
                        real.display()
                    );
                }
                let mut next = ancestors.clone();
                next.push(real);
                stack.push((path, next));
            } else if path.to_string_lossy().ends_with(suffix) {
                let rel = path.strip_prefix(base).unwrap_or(&path);
                let parts: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `command` without the variables cargo sets for the program it runs
/// (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, ...: xtask's own, under
/// `cargo xtask`). A cargo run by xtask must not see them: some build
/// scripts (ring's) ask to be rerun when they change, so a build from
/// inside xtask and one from the shell would take turns rebuilding those
/// crates and everything above them.
pub fn without_package_env(command: Cmd<'_>) -> Cmd<'_> {
    let set_by_cargo = |key: &str| {
        ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CRATE_"].iter().any(|p| key.starts_with(p))
            || key == "CARGO_PRIMARY_PACKAGE"
            || key == "OUT_DIR"
    };
    std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| set_by_cargo(key))
        .fold(command, |command, key| command.env_remove(key))
}

/// `cargo` (the one running `cargo xtask`, else the one on `PATH`) with
/// `args`, run as from the shell (see [`without_package_env`]).
pub fn cargo<'a>(sh: &'a Shell, args: &[&str]) -> Cmd<'a> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    without_package_env(cmd!(sh, "{cargo} {args...}"))
}

/// Cargo's target directory, as cargo itself resolves it (so
/// `CARGO_TARGET_DIR` and `build.target-dir` are honoured, as they are in
/// many CI caches).
pub fn target_dir(sh: &Shell) -> Result<PathBuf> {
    let metadata = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
        .quiet()
        .read()
        .context("asking cargo for its target directory")?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata).context("reading `cargo metadata`")?;
    metadata["target_directory"].as_str().map(PathBuf::from).context("`cargo metadata` names no target_directory")
}
