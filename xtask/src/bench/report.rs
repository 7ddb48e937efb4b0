//! The bench's report: typed structs, serialised whole to
//! `target/bench/report.json` and rendered by [`super::render`].
//!
//! The one untyped part is what `dome-loadgen` prints (its phases and
//! fields are its own): it is kept as a [`Value`] where it enters the
//! report and read by key only in the render.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Everything one `cargo xtask bench` measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The machine the figures were taken on.
    pub machine: Machine,
    /// Runs per gate and input (the gate times are their medians).
    pub gate_runs: usize,
    /// Every gate on every input, beside buf where it is installed.
    pub gates: Vec<GateRow>,
    /// The reference server's throughput and memory beside the baseline's.
    pub servers: Servers,
    /// The conformance suite's whole catalogue against the reference server.
    pub conformance: Conformance,
    /// The suite's properties alone, at the scenario goal's size.
    pub scenarios: Scenarios,
    /// Present with `--load`.
    pub load: Option<Load>,
    /// What a user of the SDK pays in crates and build time.
    pub sdk: Option<Sdk>,
    /// Broken invariants; any of them fails the command.
    pub failures: Vec<String>,
}

/// The SDK's weight (see [`super::sdk`]).
#[derive(Debug, Default, Serialize)]
pub struct Sdk {
    /// Distinct crates of `cargo tree -p dome-sdk -e normal`, the SDK
    /// itself included.
    pub crates: usize,
    /// The same with `--no-default-features` (no TLS).
    pub crates_without_tls: usize,
    /// A clean debug build of a one-file user crate, in seconds; `None`
    /// when it did not build.
    pub user_build_secs: Option<f64>,
    /// The CPU time (user and system) that build took, in seconds.
    pub user_build_cpu_secs: Option<f64>,
    /// The one-minute load average when that build started.
    pub load_1m: Option<f64>,
}

/// The most crates the SDK may bring.
pub const SDK_CRATES_GOAL: usize = 72;
/// The longest clean debug build of a one-file user crate, in seconds.
pub const SDK_BUILD_GOAL_SECS: f64 = 25.0;

/// The machine the figures were taken on.
#[derive(Debug, Default, Serialize)]
pub struct Machine {
    /// The CPUs available to the bench.
    pub cpus: usize,
    /// The CPU's model name, from `/proc/cpuinfo`.
    pub cpu: String,
    /// The operating system, as Rust names it.
    pub os: &'static str,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_default();
        Machine { cpus, cpu, os: std::env::consts::OS }
    }
}

/// One gate on one input.
#[derive(Debug, Serialize)]
pub struct GateRow {
    /// The gate (`lint`, `breaking`, `ssot`, ...).
    pub gate: String,
    /// The input it ran on.
    pub input: String,
    /// `pass` or `fail` (exit status 0 or not).
    pub expected: &'static str,
    /// The gate's median time, in milliseconds.
    pub ours_ms: f64,
    /// The gate's verdict, `pass` or `fail`.
    pub ours_verdict: &'static str,
    /// buf's median time on the same input, when buf is installed.
    pub buf_ms: Option<f64>,
    /// buf's verdict, when buf is installed.
    pub buf_verdict: Option<&'static str>,
    /// Whether buf and the gate agree on pass or fail.
    pub agree: Option<bool>,
}

/// `pass` for exit status 0, `fail` otherwise.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "pass" } else { "fail" }
}

/// The server phases: `domed` beside the bare tonic baseline, in rounds.
#[derive(Debug, Default, Serialize)]
pub struct Servers {
    /// How many rounds each server ran.
    pub rounds: usize,
    /// The rounds merged: every number the median over the rounds.
    pub domed: ServerRun,
    /// The bare tonic baseline, merged the same way.
    pub baseline: ServerRun,
    /// Per throughput phase (see [`THROUGHPUTS`]), domed / baseline.
    pub ratios: BTreeMap<&'static str, Ratios>,
    /// Both servers' figures of each round, unmerged.
    pub per_round: Vec<Round>,
}

/// Both servers in one round.
#[derive(Debug, Serialize)]
pub struct Round {
    /// The reference server.
    pub domed: ServerRun,
    /// The bare tonic baseline.
    pub baseline: ServerRun,
}

/// One server's ratio to the baseline in each round, and their median.
#[derive(Debug, Serialize)]
pub struct Ratios {
    /// The ratio in each round, in round order.
    pub rounds: Vec<f64>,
    /// Their median; `None` when no round measured it.
    pub median: Option<f64>,
}

impl Ratios {
    /// The median and the lowest and highest round.
    pub fn spread(&self) -> Option<(f64, f64, f64)> {
        let median = self.median?;
        let low = self.rounds.iter().copied().fold(median, f64::min);
        let high = self.rounds.iter().copied().fold(median, f64::max);
        Some((median, low, high))
    }
}

/// The throughput figures judged against the goal: (phase, key, label).
pub const THROUGHPUTS: [(&str, &str, &str); 4] = [
    ("unary", "calls_per_s", "unary"),
    ("reads", "calls_per_s", "read-only"),
    ("fanout", "events_per_s", "one job, many subscribers"),
    ("many_jobs", "events_per_s", "many jobs"),
];

/// A server process's memory and exit, sampled by the bench.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct ServerMemory {
    /// The resident set before the load, in KiB.
    pub idle_rss_kib: Option<u64>,
    /// The resident set after the load, in KiB.
    pub rss_after_kib: Option<u64>,
    /// The resident set's high-water mark after the load, in KiB.
    pub hwm_kib: Option<u64>,
    /// Whether it exited cleanly on SIGTERM.
    pub clean_shutdown: bool,
}

/// One server loaded by `dome-loadgen bench`.
#[derive(Debug, Default, Serialize)]
pub struct ServerRun {
    /// The server's memory and exit.
    #[serde(flatten)]
    pub memory: ServerMemory,
    /// `dome-loadgen bench`'s report, as it printed it.
    pub report: Value,
}

impl ServerRun {
    /// Runs of the same server merged: every number the median over the
    /// runs, anything else taken from the first.
    pub fn median(runs: &[&ServerRun]) -> ServerRun {
        let Some(first) = runs.first() else { return ServerRun::default() };
        let of = |field: fn(&ServerMemory) -> Option<u64>| median(runs.iter().filter_map(|r| field(&r.memory)));
        ServerRun {
            memory: ServerMemory {
                idle_rss_kib: of(|m| m.idle_rss_kib),
                rss_after_kib: of(|m| m.rss_after_kib),
                hwm_kib: of(|m| m.hwm_kib),
                clean_shutdown: first.memory.clean_shutdown,
            },
            report: median_merge(&runs.iter().map(|r| &r.report).collect::<Vec<_>>()),
        }
    }
}

/// The conformance suite's binary against the reference server.
#[derive(Debug, Default, Serialize)]
pub struct Conformance {
    /// Whether the suite ran and wrote its report.
    pub measured: bool,
    /// Why it was not measured (empty when it was).
    pub note: String,
    /// Whether the suite exited with status 0.
    pub passed: bool,
    /// The cases the report lists.
    pub cases: usize,
    /// The cases run (all but the skipped ones).
    pub ran: usize,
    /// The cases that passed.
    pub pass: usize,
    /// The cases skipped.
    pub skip: usize,
    /// The run's wall time, in seconds.
    pub elapsed_s: f64,
    /// Cases run per second.
    pub cases_per_s: f64,
    /// Generated inputs the properties ran against the server.
    pub scenarios: u64,
    /// Scenarios per second.
    pub scenarios_per_s: f64,
    /// The server's peak resident set over the run, in KiB.
    pub server_peak_rss_kib: Option<u64>,
}

impl Conformance {
    /// Nothing measured, and why.
    pub fn not_measured(note: &str) -> Conformance {
        Conformance { note: note.to_owned(), ..Conformance::default() }
    }
}

/// The suite's properties alone, with enough cases each for
/// [`SCENARIO_GOAL`] generated scenarios in all.
#[derive(Debug, Default, Serialize)]
pub struct Scenarios {
    /// Whether the properties ran.
    pub measured: bool,
    /// Why it was not measured (empty when it was).
    pub note: String,
    /// Whether the suite exited with status 0.
    pub passed: bool,
    /// The scenarios asked for (the goal, or a tenth of it with `--quick`).
    pub asked: u64,
    /// The `--cases` each property was given.
    pub cases_per_property: u64,
    /// Scenarios each property ran, by case id.
    pub properties: BTreeMap<String, u64>,
    /// The scenarios run in all.
    pub scenarios: u64,
    /// The run's wall time, in seconds.
    pub elapsed_s: f64,
    /// Scenarios per second.
    pub scenarios_per_s: f64,
}

/// Generated scenarios the suite should run against the reference server
/// within [`SCENARIO_SECONDS`] on two cores.
pub const SCENARIO_GOAL: u64 = 10_000;
/// See [`SCENARIO_GOAL`].
pub const SCENARIO_SECONDS: f64 = 60.0;

/// The fault and retention scenarios (`--load`).
#[derive(Debug, Serialize)]
pub struct Load {
    /// `dome-loadgen faults`' report (`null` when it failed).
    pub faults: Value,
    /// The memory and exit of the server the faults ran against.
    pub faults_server: ServerMemory,
    /// `dome-loadgen retention`'s report (`null` when it failed).
    pub retention: Value,
    /// The hostile clients.
    pub hostile: super::hostile::Hostile,
}

/// The median of `values` (the lower middle one of an even count, so the
/// figure is one that was measured); `None` when there is none.
pub fn median<T: PartialOrd + Copy>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut values: Vec<T> = values.into_iter().collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// The median of `values` by their numeric value (the lower middle one
/// of an even count); `null` when none is a number.
pub fn median_value(values: &[&Value]) -> Value {
    let mut numbers: Vec<&Value> = values.iter().copied().filter(|v| v.is_number()).collect();
    numbers.sort_by(|a, b| a.as_f64().partial_cmp(&b.as_f64()).unwrap_or(std::cmp::Ordering::Equal));
    match numbers.len() {
        0 => Value::Null,
        n => numbers[(n - 1) / 2].clone(),
    }
}

/// Reports of the same shape merged into one: every number is the median
/// of that number over the reports, anything else is taken from the first.
pub fn median_merge(values: &[&Value]) -> Value {
    match values.first() {
        None => Value::Null,
        Some(Value::Object(first)) => Value::Object(
            first
                .keys()
                .map(|k| {
                    let field: Vec<&Value> = values.iter().map(|v| &v[k.as_str()]).collect();
                    (k.clone(), median_merge(&field))
                })
                .collect(),
        ),
        Some(Value::Number(_)) => median_value(values),
        Some(first) => (*first).clone(),
    }
}
