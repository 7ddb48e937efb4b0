//! `cargo xtask bench`: how fast the gates and the reference server are,
//! measured on release builds, each beside something to compare it with.
//!
//! 1. One `cargo build --release` of the binaries needed (never timed).
//! 2. Gates: the built `release/xtask` of cargo's target directory (which
//!    honours `CARGO_TARGET_DIR`) run directly (with `--root`)
//!    several times per input, the median wall time reported; beside it
//!    `buf` (from `$BUF` or `PATH`) on the same input, and whether the two
//!    agree on pass or fail. The inputs: the tree as it is, a copy with one
//!    field deleted (breaking), a copy with one field misnamed (lint), and
//!    a copy of the workspace with a projection bug planted in `dome-ssot`
//!    (ssot; its own xtask, built into `bench/planted-target` of the target
//!    directory).
//! 3. Servers: the release `domed` and the bare tonic baseline
//!    (`dome-loadgen baseline-server`) as separate processes on loopback,
//!    one after the other, each driven by `dome-loadgen bench`; the
//!    server's resident memory is sampled from `/proc/PID/status`. This
//!    runs in rounds (both servers per round, in alternating order); every
//!    figure reported is the median over rounds, and each throughput
//!    ratio the median of the rounds' own ratios, so one disturbed run on
//!    a shared machine decides nothing.
//! 4. Conformance: the suite's binary against the reference server, cases
//!    and generated scenarios per second; then its properties alone, with
//!    enough cases for 10,000 scenarios (1,000 with `--quick`, any number
//!    with `--scenarios N`).
//! 5. With `--load`: the fault scenarios (`dome-loadgen faults`) and the
//!    retention scenario against `domed` with small limits; then the
//!    hostile clients (`dome-loadgen hostile`, see `hostile`), each
//!    against a fresh `domed`: the starvation probe and the shutdown
//!    under it, maximal jobs past the byte budget, unread streams over
//!    evicted jobs, oversized strings, idle and half-open connections,
//!    exhausted descriptors, and the empty token.
//! 6. The SDK's weight (`sdk`): the distinct crates of its normal
//!    dependency tree, with and without TLS, and a clean debug build of a
//!    one-file user crate (its quickstart, depending on `dome-sdk` by path
//!    and tokio only) in a target directory of its own, with the load
//!    average it ran under.
//!
//! `--googleapis GIT_DIR` runs instead the gates on a real repository
//! beside buf, with wall time and peak memory (see `googleapis`).
//!
//! The table goes to stdout and the whole report to
//! `target/bench/report.json`. The goals (server ≥ 0.7x the baseline,
//! gates < 50 ms and faster than buf, 10,000 scenarios < 60 s, the SDK at
//! most 72 crates and its user crate built in under 25 s) are
//! reported, never asserted: only a broken invariant (a lost event, a
//! crashed server, a gate that cannot run or misses the planted bug)
//! fails the command.
//!
//! # The rooms
//!
//! - `process`: timing a command over runs, starting and stopping a
//!   server, reading its memory, running `dome-loadgen` (whose JSON is the
//!   one untyped value, kept as it came).
//! - `gates`, `servers`, `hostile`: the measurements, each returning a
//!   typed part of the report; `googleapis`, the opt-in comparison on a
//!   real tree.
//! - `report`: the typed report (`Serialize` structs) and the medians
//!   over runs and rounds.
//! - `render`: the Markdown tables and the goals.
//!
//! # Adding a measurement
//!
//! 1. A struct for its figures in `report.rs` (`Serialize`; `Option` for a
//!    figure that may not be measured) and a field for it in `Report`
//!    (`Option` if it runs only under a flag, like `load`).
//! 2. A function in its own module (or beside its kin in `servers.rs` or
//!    `gates.rs`) that runs it with the helpers of `process`, returns the
//!    struct, and pushes a broken invariant onto `failures` rather than
//!    failing the run; called from `main`.
//! 3. A section in `render.rs`: a `render::Table` with its columns and
//!    one `row` per line, figures through the unit formatters; a goal
//!    goes into `render::goals`, judged from the same numbers.
//! 4. A test in `xtask/tests/bench_render.rs` that renders a report
//!    with the new figures and reads the row and the goal back.
//!
//! A new row of an existing table is one `table.row([...])` call.

pub mod gates;
pub mod googleapis;
pub mod hostile;
mod process;
pub mod render;
pub mod report;
pub mod sdk;
mod servers;

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use process::Bins;
use report::{Machine, Report};

/// Flags of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Also run the load and fault scenarios (10,000 jobs, 1,000
    /// subscribers, slow and disconnecting readers, cancels, retention).
    #[arg(long)]
    pub load: bool,
    /// Smaller sizes and fewer gate runs, for a first look.
    #[arg(long)]
    pub quick: bool,
    /// Runs per gate and input; the median is reported.
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    /// Rounds of the server phases (both servers each round); the medians
    /// are reported. `--quick` runs one.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Generated scenarios to run through the suite's properties (default
    /// 10,000; 1,000 with `--quick`).
    #[arg(long, value_name = "N")]
    pub scenarios: Option<u64>,
    /// Use the release binaries as they are instead of building them.
    #[arg(long)]
    pub no_build: bool,
    /// Measure the SDK's weight only (no release build, no gates, no
    /// servers).
    #[arg(long)]
    pub sdk_only: bool,
    /// Instead of the phases above: the lint and breaking gates beside buf
    /// on googleapis, read from this git directory (a clone or a bare
    /// mirror); wall time, peak memory and whether the findings agree.
    #[arg(long, value_name = "GIT_DIR", value_parser = googleapis::git_dir_arg)]
    pub googleapis: Option<std::path::PathBuf>,
    /// The two revisions of `--googleapis` to compare, `OLD..NEW`.
    #[arg(long, value_name = "OLD..NEW", default_value = "HEAD~3000..HEAD", requires = "googleapis")]
    pub revs: String,
}

/// Runs the bench; see the module docs.
pub fn main(root: &Path, args: &Args) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    if args.sdk_only {
        let target_dir = crate::util::target_dir(&sh)?;
        let mut failures = Vec::new();
        let sdk = Some(sdk::sdk(&sh, root, &target_dir, &mut failures)?);
        return finish(&sh, &target_dir, Report { machine: Machine::this(), sdk, failures, ..Report::default() });
    }
    if let Some(git_dir) = &args.googleapis {
        if !args.no_build {
            crate::util::cargo(&sh, &["build", "--release", "-p", "xtask"])
                .run()
                .context("building the release xtask")?;
        }
        let target_dir = crate::util::target_dir(&sh)?;
        let out_dir = target_dir.join("bench");
        sh.create_dir(&out_dir)?;
        let runs = if args.quick { 1 } else { args.runs.min(3) };
        return googleapis::main(&sh, &target_dir.join("release/xtask"), git_dir, &args.revs, runs, &out_dir);
    }
    let conformance_bin = package_has_bin(&sh, "dome-conformance")?;
    if !args.no_build {
        let mut packages = vec!["-p", "xtask", "-p", "domed", "-p", "dome-loadgen"];
        if conformance_bin.is_some() {
            packages.extend(["-p", "dome-conformance"]);
        }
        crate::util::cargo(&sh, &["build", "--release"])
            .args(packages)
            .run()
            .context("building the release binaries")?;
    }
    let target_dir = crate::util::target_dir(&sh)?;
    let release = target_dir.join("release");
    let bins = Bins {
        xtask: release.join("xtask"),
        domed: release.join("domed"),
        loadgen: release.join("dome-loadgen"),
        conformance: conformance_bin.map(|name| release.join(name)),
        planted: Some(gates::planted_xtask(&sh, root, &target_dir, !args.no_build)?)
            .filter(|(_, xtask)| xtask.exists()),
    };
    for bin in [&bins.xtask, &bins.domed, &bins.loadgen] {
        if !bin.exists() {
            bail!("`{}` is missing; run without `--no-build`", bin.display());
        }
    }
    let out_dir = target_dir.join("bench");
    sh.create_dir(&out_dir)?;
    let runs = if args.quick { args.runs.min(3) } else { args.runs }.max(1);

    let mut failures = Vec::new();
    let gates = gates::gates(&sh, root, &bins, runs)?;
    failures.extend(
        gates
            .iter()
            .filter(|g| g.ours_verdict != g.expected)
            .map(|g| format!("gate `{}` on {} gave {} (expected {})", g.gate, g.input, g.ours_verdict, g.expected)),
    );
    if let Some((copy, planted)) = &bins.planted
        && let Some(missed) = gates::planted_missed(&sh, copy, planted)?
    {
        failures.push(missed);
    }
    let quick = args.quick.then_some("--quick");
    let rounds = if args.quick { 1 } else { args.rounds.max(1) };
    let servers = servers::servers(&sh, &bins, &out_dir, quick, rounds, &mut failures)?;
    let conformance = servers::conformance(&sh, &bins, &out_dir, &mut failures)?;
    let asked = args.scenarios.unwrap_or(if args.quick { report::SCENARIO_GOAL / 10 } else { report::SCENARIO_GOAL });
    let scenarios = servers::scenarios(&sh, &bins, &out_dir, asked, &mut failures)?;
    let load = if args.load { Some(servers::load(&sh, &bins, &out_dir, &mut failures)?) } else { None };
    let sdk = Some(sdk::sdk(&sh, root, &target_dir, &mut failures)?);

    let report = Report {
        machine: Machine::this(),
        gate_runs: runs,
        gates,
        servers,
        conformance,
        scenarios,
        load,
        sdk,
        failures,
    };
    finish(&sh, &target_dir, report)
}

/// Prints the report, writes it to `bench/report.json` of the target
/// directory, and fails on a broken invariant.
fn finish(sh: &Shell, target_dir: &Path, report: Report) -> Result<()> {
    println!("{}", render::render(&report));
    let out_dir = target_dir.join("bench");
    sh.create_dir(&out_dir)?;
    let path = out_dir.join("report.json");
    sh.write_file(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("report: {}", path.display());
    if !report.failures.is_empty() {
        bail!("the bench found broken invariants:\n  {}", report.failures.join("\n  "));
    }
    Ok(())
}

/// The name of `package`'s binary target, if it has one.
fn package_has_bin(sh: &Shell, package: &str) -> Result<Option<String>> {
    let metadata = cmd!(sh, "cargo metadata --no-deps --format-version 1").quiet().read()?;
    let metadata: Value = serde_json::from_str(&metadata).context("reading `cargo metadata`")?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    Ok(packages.iter().filter(|p| p["name"] == package).find_map(|p| {
        p["targets"].as_array()?.iter().find_map(|t| {
            let is_bin = t["kind"].as_array()?.iter().any(|k| k == "bin");
            is_bin.then(|| t["name"].as_str().map(str::to_owned)).flatten()
        })
    }))
}
