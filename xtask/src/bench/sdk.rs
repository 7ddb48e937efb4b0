//! What the SDK costs its users: the distinct crates of its normal
//! dependency tree (as `cargo tree -p dome-sdk -e normal` lists them, with
//! the default features and without TLS), and a clean debug build of a
//! one-file user crate: the SDK's quickstart as `src/main.rs`, with
//! `dome-sdk` (by path) and tokio as its only dependencies, built in a
//! target directory of its own so that nothing is reused.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use super::report::Sdk;

/// The user crate's manifest; `{sdk}` is the SDK's directory. The empty
/// `[workspace]` keeps it out of any workspace around it.
pub const USER_MANIFEST: &str = r#"[package]
name = "dome-sdk-user"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
dome-sdk = { path = "{sdk}" }
tokio = { version = "1.47", features = ["macros", "rt-multi-thread"] }

[workspace]
"#;

/// Measures the SDK's weight; a user crate that does not build is a
/// broken invariant, reported in `failures`.
pub(super) fn sdk(sh: &Shell, root: &Path, target_dir: &Path, failures: &mut Vec<String>) -> Result<Sdk> {
    let crates = distinct_crates(&tree(sh, &[])?);
    let crates_without_tls = distinct_crates(&tree(sh, &["--no-default-features"])?);

    let dir = target_dir.join("bench").join("sdk-user");
    let user_target = dir.join("target");
    if user_target.exists() {
        sh.remove_path(&user_target)?;
    }
    sh.create_dir(dir.join("src"))?;
    let sdk_dir = root.join("sdk");
    sh.write_file(dir.join("Cargo.toml"), USER_MANIFEST.replace("{sdk}", &sdk_dir.display().to_string()))?;
    sh.write_file(dir.join("src/main.rs"), sh.read_file(sdk_dir.join("examples/quickstart.rs"))?)?;
    // The workspace's lock pins the same versions the SDK is tested with;
    // cargo drops what the user crate does not need.
    sh.copy_file(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;

    let load_1m = load_average();
    let manifest = dir.join("Cargo.toml");
    let cpu_before = children_cpu_secs();
    let started = Instant::now();
    let built = cmd!(sh, "cargo build --quiet --manifest-path {manifest}")
        .env("CARGO_TARGET_DIR", &user_target)
        .ignore_status()
        .output()
        .context("running cargo build on the user crate")?;
    let elapsed = started.elapsed().as_secs_f64();
    let user_build_cpu_secs = cpu_before.zip(children_cpu_secs()).map(|(before, after)| after - before);
    let user_build_secs = if built.status.success() {
        Some(elapsed)
    } else {
        failures.push(format!(
            "the one-file user crate of dome-sdk does not build: {}",
            String::from_utf8_lossy(&built.stderr).trim()
        ));
        None
    };
    // The build is measured, not kept.
    sh.remove_path(&user_target)?;
    let user_build_cpu_secs = user_build_cpu_secs.filter(|_| user_build_secs.is_some());
    Ok(Sdk { crates, crates_without_tls, user_build_secs, user_build_cpu_secs, load_1m })
}

fn tree(sh: &Shell, extra: &[&str]) -> Result<String> {
    cmd!(sh, "cargo tree -p dome-sdk -e normal --prefix none {extra...}")
        .quiet()
        .read()
        .context("running cargo tree on dome-sdk")
}

/// The distinct crates of `cargo tree --prefix none` output (a crate seen
/// before is repeated with ` (*)`).
pub fn distinct_crates(tree: &str) -> usize {
    tree.lines().map(|l| l.trim().trim_end_matches(" (*)")).filter(|l| !l.is_empty()).collect::<BTreeSet<_>>().len()
}

/// The CPU time (user and system) of this process's waited-for children,
/// in seconds, from `/proc/self/stat` (in `USER_HZ`, 100 per second on
/// Linux): unlike the wall time, it hardly moves with the machine's load.
pub fn children_cpu_secs() -> Option<f64> {
    children_cpu_from_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `cutime + cstime` of a `/proc/PID/stat` line, in seconds. The command
/// name (field 2) may hold spaces, so fields are counted after its `)`.
pub fn children_cpu_from_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name, field 3 (state) is index 0: cutime is field 16,
    // cstime field 17.
    let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some((ticks(16)? + ticks(17)?) as f64 / 100.0)
}

/// The one-minute load average, where `/proc/loadavg` exists: a build
/// time means little without it on a shared machine.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}
