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
pub(super) struct Report {
    pub(super) machine: Machine,
    /// Runs per gate and input (the gate times are their medians).
    pub(super) gate_runs: usize,
    pub(super) gates: Vec<GateRow>,
    pub(super) servers: Servers,
    pub(super) conformance: Conformance,
    pub(super) scenarios: Scenarios,
    /// Present with `--load`.
    pub(super) load: Option<Load>,
    /// What a user of the SDK pays in crates and build time.
    pub(super) sdk: Option<Sdk>,
    /// Broken invariants; any of them fails the command.
    pub(super) failures: Vec<String>,
}

/// The SDK's weight (see [`super::sdk`]).
#[derive(Debug, Default, Serialize)]
pub(super) struct Sdk {
    /// Distinct crates of `cargo tree -p dome-sdk -e normal`, the SDK
    /// itself included.
    pub(super) crates: usize,
    /// The same with `--no-default-features` (no TLS).
    pub(super) crates_without_tls: usize,
    /// A clean debug build of a one-file user crate, in seconds; `None`
    /// when it did not build.
    pub(super) user_build_secs: Option<f64>,
    /// The CPU time (user and system) that build took, in seconds.
    pub(super) user_build_cpu_secs: Option<f64>,
    /// The one-minute load average when that build started.
    pub(super) load_1m: Option<f64>,
}

/// The most crates the SDK may bring.
pub(super) const SDK_CRATES_GOAL: usize = 72;
/// The longest clean debug build of a one-file user crate, in seconds.
pub(super) const SDK_BUILD_GOAL_SECS: f64 = 25.0;

/// The machine the figures were taken on.
#[derive(Debug, Default, Serialize)]
pub(super) struct Machine {
    pub(super) cpus: usize,
    pub(super) cpu: String,
    pub(super) os: &'static str,
}

impl Machine {
    /// This machine.
    pub(super) fn this() -> Machine {
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
pub(super) struct GateRow {
    pub(super) gate: String,
    pub(super) input: String,
    /// `pass` or `fail` (exit status 0 or not).
    pub(super) expected: &'static str,
    pub(super) ours_ms: f64,
    pub(super) ours_verdict: &'static str,
    pub(super) buf_ms: Option<f64>,
    pub(super) buf_verdict: Option<&'static str>,
    /// Whether buf and the gate agree on pass or fail.
    pub(super) agree: Option<bool>,
}

/// `pass` for exit status 0, `fail` otherwise.
pub(super) fn verdict(ok: bool) -> &'static str {
    if ok { "pass" } else { "fail" }
}

/// The server phases: `domed` beside the bare tonic baseline, in rounds.
#[derive(Debug, Default, Serialize)]
pub(super) struct Servers {
    pub(super) rounds: usize,
    /// The rounds merged: every number the median over the rounds.
    pub(super) domed: ServerRun,
    pub(super) baseline: ServerRun,
    /// Per throughput phase (see [`THROUGHPUTS`]), domed / baseline.
    pub(super) ratios: BTreeMap<&'static str, Ratios>,
    pub(super) per_round: Vec<Round>,
}

/// Both servers in one round.
#[derive(Debug, Serialize)]
pub(super) struct Round {
    pub(super) domed: ServerRun,
    pub(super) baseline: ServerRun,
}

/// One server's ratio to the baseline in each round, and their median.
#[derive(Debug, Serialize)]
pub(super) struct Ratios {
    pub(super) rounds: Vec<f64>,
    pub(super) median: Option<f64>,
}

impl Ratios {
    /// The median and the lowest and highest round.
    pub(super) fn spread(&self) -> Option<(f64, f64, f64)> {
        let median = self.median?;
        let low = self.rounds.iter().copied().fold(median, f64::min);
        let high = self.rounds.iter().copied().fold(median, f64::max);
        Some((median, low, high))
    }
}

/// The throughput figures judged against the goal: (phase, key, label).
pub(super) const THROUGHPUTS: [(&str, &str, &str); 4] = [
    ("unary", "calls_per_s", "unary"),
    ("reads", "calls_per_s", "read-only"),
    ("fanout", "events_per_s", "one job, many subscribers"),
    ("many_jobs", "events_per_s", "many jobs"),
];

/// A server process's memory and exit, sampled by the bench.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub(super) struct ServerMemory {
    pub(super) idle_rss_kib: Option<u64>,
    pub(super) rss_after_kib: Option<u64>,
    pub(super) hwm_kib: Option<u64>,
    pub(super) clean_shutdown: bool,
}

/// One server loaded by `dome-loadgen bench`.
#[derive(Debug, Default, Serialize)]
pub(super) struct ServerRun {
    #[serde(flatten)]
    pub(super) memory: ServerMemory,
    /// `dome-loadgen bench`'s report, as it printed it.
    pub(super) report: Value,
}

impl ServerRun {
    /// Runs of the same server merged: every number the median over the
    /// runs, anything else taken from the first.
    pub(super) fn median(runs: &[&ServerRun]) -> ServerRun {
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
pub(super) struct Conformance {
    pub(super) measured: bool,
    /// Why it was not measured (empty when it was).
    pub(super) note: String,
    pub(super) passed: bool,
    pub(super) cases: usize,
    pub(super) ran: usize,
    pub(super) pass: usize,
    pub(super) skip: usize,
    pub(super) elapsed_s: f64,
    pub(super) cases_per_s: f64,
    /// Generated inputs the properties ran against the server.
    pub(super) scenarios: u64,
    pub(super) scenarios_per_s: f64,
    pub(super) server_peak_rss_kib: Option<u64>,
}

impl Conformance {
    /// Nothing measured, and why.
    pub(super) fn not_measured(note: &str) -> Conformance {
        Conformance { note: note.to_owned(), ..Conformance::default() }
    }
}

/// The suite's properties alone, with enough cases each for
/// [`SCENARIO_GOAL`] generated scenarios in all.
#[derive(Debug, Default, Serialize)]
pub(super) struct Scenarios {
    pub(super) measured: bool,
    /// Why it was not measured (empty when it was).
    pub(super) note: String,
    pub(super) passed: bool,
    /// The scenarios asked for (the goal, or a tenth of it with `--quick`).
    pub(super) asked: u64,
    pub(super) cases_per_property: u64,
    /// Scenarios each property ran, by case id.
    pub(super) properties: BTreeMap<String, u64>,
    pub(super) scenarios: u64,
    pub(super) elapsed_s: f64,
    pub(super) scenarios_per_s: f64,
}

/// Generated scenarios the suite should run against the reference server
/// within [`SCENARIO_SECONDS`] on two cores.
pub(super) const SCENARIO_GOAL: u64 = 10_000;
/// See [`SCENARIO_GOAL`].
pub(super) const SCENARIO_SECONDS: f64 = 60.0;

/// The fault and retention scenarios (`--load`).
#[derive(Debug, Serialize)]
pub(super) struct Load {
    /// `dome-loadgen faults`' report (`null` when it failed).
    pub(super) faults: Value,
    pub(super) faults_server: ServerMemory,
    /// `dome-loadgen retention`'s report (`null` when it failed).
    pub(super) retention: Value,
    /// The hostile clients.
    pub(super) hostile: super::hostile::Hostile,
}

/// The median of `values` (the lower middle one of an even count, so the
/// figure is one that was measured); `None` when there is none.
pub(super) fn median<T: PartialOrd + Copy>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut values: Vec<T> = values.into_iter().collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// The median of `values` by their numeric value (the lower middle one
/// of an even count); `null` when none is a number.
pub(super) fn median_value(values: &[&Value]) -> Value {
    let mut numbers: Vec<&Value> = values.iter().copied().filter(|v| v.is_number()).collect();
    numbers.sort_by(|a, b| a.as_f64().partial_cmp(&b.as_f64()).unwrap_or(std::cmp::Ordering::Equal));
    match numbers.len() {
        0 => Value::Null,
        n => numbers[(n - 1) / 2].clone(),
    }
}

/// Reports of the same shape merged into one: every number is the median
/// of that number over the reports, anything else is taken from the first.
pub(super) fn median_merge(values: &[&Value]) -> Value {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Rounds merge into medians: a number is the middle round's, anything
    /// else the first round's.
    #[test]
    fn rounds_merge_into_medians() {
        let a = json!({ "n": 3, "name": "x", "inner": { "rate": 10.0 }, "none": null });
        let b = json!({ "n": 1, "name": "y", "inner": { "rate": 30.0 }, "none": null });
        let c = json!({ "n": 2, "name": "z", "inner": { "rate": 20.0 }, "none": null });
        let merged = median_merge(&[&a, &b, &c]);
        assert_eq!(merged, json!({ "n": 2, "name": "x", "inner": { "rate": 20.0 }, "none": null }));
        assert_eq!(median_value(&[&json!(4), &json!(1)]), json!(1), "the lower middle of an even count");
        assert_eq!(median_value(&[&json!("a")]), Value::Null);
        assert_eq!(median([4.0, 1.0]), Some(1.0), "the lower middle of an even count");
        assert_eq!(median(Vec::<u64>::new()), None);

        let run = |idle: Option<u64>, clean: bool, rate: f64| ServerRun {
            memory: ServerMemory { idle_rss_kib: idle, rss_after_kib: None, hwm_kib: Some(7), clean_shutdown: clean },
            report: json!({ "unary": { "calls_per_s": rate } }),
        };
        let (a, b, c) = (run(Some(30), true, 1.0), run(None, false, 3.0), run(Some(10), false, 2.0));
        let merged = ServerRun::median(&[&a, &b, &c]);
        assert_eq!(merged.memory.idle_rss_kib, Some(10), "a missing sample is left out, not counted as zero");
        assert_eq!(merged.memory.hwm_kib, Some(7));
        assert!(merged.memory.clean_shutdown, "taken from the first round");
        assert_eq!(merged.report, json!({ "unary": { "calls_per_s": 2.0 } }));
    }
}
