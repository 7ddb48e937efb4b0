//! The report as Markdown tables (what the README's Performance section
//! shows), and the goals, each judged from the numbers in the tables.
//!
//! A table is a `Table`: its columns once, then one `row` per line, an
//! empty cell written as an empty string. Figures go through the unit
//! formatters (`ms`, `mib`, `rate`, ...), which take a typed number
//! or a value of the load generator's report alike and print `—` for one
//! that was not measured.

use serde_json::Value;

use super::gates::find_buf;
use super::hostile::{BUDGET_BYTES, GRACE_SECS, HANDSHAKE_SECS, Hostile, IDLE_SECS, NOFILE};
use super::report::{Report, SCENARIO_GOAL, SCENARIO_SECONDS, SDK_BUILD_GOAL_SECS, SDK_CRATES_GOAL, THROUGHPUTS};

/// Every gate should take less than this, in milliseconds.
pub(super) const GATE_GOAL_MS: f64 = 50.0;

/// A Markdown table built row by row.
pub(super) struct Table {
    out: String,
}

/// How a column's cells are aligned.
#[derive(Clone, Copy)]
pub(super) enum Align {
    Left,
    Right,
}

impl Table {
    /// A table with these columns (header, alignment).
    pub(super) fn new(columns: &[(&str, Align)]) -> Table {
        let mut table = Table { out: String::new() };
        table.row(columns.iter().map(|(name, _)| *name));
        table.row(columns.iter().map(|(_, align)| match align {
            Align::Left => "---",
            Align::Right => "--:",
        }));
        table
    }

    /// One line; an empty cell stays empty.
    pub(super) fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.out.push('|');
        for cell in cells {
            match cell.as_ref() {
                "" => self.out.push_str(" |"),
                cell => {
                    self.out.push(' ');
                    self.out.push_str(cell);
                    self.out.push_str(" |");
                }
            }
        }
        self.out.push('\n');
    }

    /// The table's text.
    pub(super) fn finish(self) -> String {
        self.out
    }
}

/// A number as measured: typed in the report, or a value of the load
/// generator's report; `None` when it was not measured.
pub(super) trait Figure {
    fn figure(&self) -> Option<f64>;
}

impl Figure for Value {
    fn figure(&self) -> Option<f64> {
        self.as_f64()
    }
}

impl Figure for f64 {
    fn figure(&self) -> Option<f64> {
        Some(*self)
    }
}

impl Figure for Option<f64> {
    fn figure(&self) -> Option<f64> {
        *self
    }
}

impl Figure for Option<u64> {
    fn figure(&self) -> Option<f64> {
        self.map(|v| v as f64)
    }
}

impl<T: Figure + ?Sized> Figure for &T {
    fn figure(&self) -> Option<f64> {
        (**self).figure()
    }
}

const NONE: &str = "—";

pub(super) fn ms(v: impl Figure) -> String {
    v.figure().map_or(NONE.to_owned(), |v| format!("{v:.1} ms"))
}

pub(super) fn bytes(v: impl Figure) -> String {
    v.figure().map_or(NONE.to_owned(), |b| format!("{b:.0} B"))
}

pub(super) fn mib(v: impl Figure) -> String {
    v.figure().map_or(NONE.to_owned(), |kib| format!("{:.1} MiB", kib / 1024.0))
}

pub(super) fn rate(v: impl Figure) -> String {
    v.figure()
        .map_or(NONE.to_owned(), |r| if r >= 10_000.0 { format!("{:.0}k/s", r / 1000.0) } else { format!("{r:.0}/s") })
}

/// Microseconds shown as milliseconds.
pub(super) fn us(v: impl Figure) -> String {
    v.figure().map_or(NONE.to_owned(), |us| format!("{:.2} ms", us / 1000.0))
}

pub(super) fn ratio(ours: impl Figure, base: impl Figure) -> String {
    match (ours.figure(), base.figure()) {
        (Some(o), Some(b)) if b > 0.0 => format!("{:.2}x", o / b),
        _ => NONE.to_owned(),
    }
}

/// The whole report: the tables, then the goals, then any broken
/// invariant.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    out += &format!(
        "Machine: {} CPUs ({}), {}. Gates: median of {} runs of the release binary.\n\n",
        m.cpus, m.cpu, m.os, report.gate_runs
    );
    out += &gates(report);
    out += &servers(report);
    out += &conformance(report);
    out += &scenarios(report);
    out += &load(report);
    out += &hostile(report);
    out += &sdk(report);
    out += &goals(report);
    if !report.failures.is_empty() {
        out += "\nBroken invariants:\n";
        for f in &report.failures {
            out += &format!("- {f}\n");
        }
    }
    out
}

fn gates(report: &Report) -> String {
    use Align::{Left, Right};
    let mut table = Table::new(&[
        ("gate", Left),
        ("input", Left),
        ("ours", Right),
        ("buf", Right),
        ("verdict (ours / buf)", Left),
        ("agree", Left),
    ]);
    for g in &report.gates {
        let agree = match g.agree {
            Some(true) => "yes",
            Some(false) => "NO",
            None => NONE,
        };
        table.row([
            g.gate.clone(),
            g.input.clone(),
            ms(g.ours_ms),
            ms(g.buf_ms),
            format!("{} / {}", g.ours_verdict, g.buf_verdict.unwrap_or(NONE)),
            agree.to_owned(),
        ]);
    }
    let mut out = table.finish();
    if find_buf().is_none() {
        out += "\n(no `buf` on PATH or in $BUF: the buf columns are empty)\n";
    }
    out
}

fn servers(report: &Report) -> String {
    use Align::{Left, Right};
    let servers = &report.servers;
    let (dr, br) = (&servers.domed.report, &servers.baseline.report);
    let plan = &dr["plan"];
    let rounds = servers.rounds.max(1);
    let mut out = format!(
        "\nServers on loopback, {} connections; domed vs the bare tonic baseline (same messages, same events); {}:\n\n",
        plan["connections"],
        if rounds > 1 {
            format!("medians of {rounds} rounds, each ratio the median of the rounds' ratios (their range in brackets)")
        } else {
            "one round".to_owned()
        }
    );
    let mut table = Table::new(&[
        ("phase", Left),
        ("domed", Right),
        ("baseline", Right),
        ("ratio", Right),
        ("domed peak RSS", Right),
        ("baseline peak RSS", Right),
    ]);
    // A throughput row: the figure of `key` in `phase` for both servers,
    // and the median ratio over the rounds (with their range when they
    // differ).
    let throughput = |table: &mut Table, name: String, key: &str, phase: &str| {
        let (o, t) = (&dr[phase][key], &br[phase][key]);
        let r = match servers.ratios.get(phase).and_then(|r| r.spread()) {
            Some((median, low, high)) if low < high => format!("{median:.2}x ({low:.2}–{high:.2})"),
            Some((median, _, _)) => format!("{median:.2}x"),
            None => ratio(o, t),
        };
        table.row([name, rate(o), rate(t), r, mib(&dr[phase]["peak_rss_kib"]), mib(&br[phase]["peak_rss_kib"])]);
    };
    throughput(
        &mut table,
        format!("unary calls/s (SkillExecute then GetJobStatus, {} workers)", plan["unary_concurrency"]),
        "calls_per_s",
        "unary",
    );
    table.row([
        "mean unary response".to_owned(),
        bytes(&dr["unary"]["mean_response_bytes"]),
        bytes(&br["unary"]["mean_response_bytes"]),
        String::new(),
        String::new(),
        String::new(),
    ]);
    throughput(
        &mut table,
        format!("read-only calls/s (GetJobStatus, {} workers)", plan["unary_concurrency"]),
        "calls_per_s",
        "reads",
    );
    for (phase, rpc, label) in [
        ("unary", "skill_execute", "SkillExecute"),
        ("unary", "get_job_status", "GetJobStatus"),
        ("reads", "get_job_status", "GetJobStatus (read-only)"),
    ] {
        let (o, t) = (&dr[phase][rpc], &br[phase][rpc]);
        table.row([
            format!("{label} p50 / p99"),
            format!("{} / {}", us(&o["p50_us"]), us(&o["p99_us"])),
            format!("{} / {}", us(&t["p50_us"]), us(&t["p99_us"])),
            // Latencies: baseline / domed, so above 1x domed is faster.
            format!("{} / {}", ratio(&t["p50_us"], &o["p50_us"]), ratio(&t["p99_us"], &o["p99_us"])),
            String::new(),
            String::new(),
        ]);
    }
    throughput(
        &mut table,
        format!("events/s, 1 job x {} subscribers x {} events", plan["fanout_subscribers"], plan["fanout_events"]),
        "events_per_s",
        "fanout",
    );
    throughput(
        &mut table,
        format!("events/s, {} jobs x {} events, 1 subscriber each", plan["many_jobs"], plan["many_jobs_events"]),
        "events_per_s",
        "many_jobs",
    );
    let (d, b) = (&servers.domed.memory, &servers.baseline.memory);
    table.row([
        "idle RSS / high-water mark".to_owned(),
        format!("{} / {}", mib(d.idle_rss_kib), mib(d.hwm_kib)),
        format!("{} / {}", mib(b.idle_rss_kib), mib(b.hwm_kib)),
        String::new(),
        String::new(),
        String::new(),
    ]);
    out += &table.finish();
    out += "\n(ratio: domed relative to the baseline; above 1x domed is faster; for latencies, baseline / domed.)\n";
    out
}

fn conformance(report: &Report) -> String {
    let c = &report.conformance;
    let mut out = "\nConformance: ".to_owned();
    if c.measured {
        out += &format!(
            "{} cases ({} ran, {} passed, {} skipped) in {:.2} s = {:.1} cases/s, {} scenarios = {:.1} scenarios/s against domed, {}; domed peak RSS {}\n",
            c.cases,
            c.ran,
            c.pass,
            c.skip,
            c.elapsed_s,
            c.cases_per_s,
            c.scenarios,
            c.scenarios_per_s,
            if c.passed { "suite passed" } else { "suite FAILED" },
            mib(c.server_peak_rss_kib),
        );
    } else {
        out += &format!("not measured: {}\n", c.note);
    }
    out
}

fn scenarios(report: &Report) -> String {
    let s = &report.scenarios;
    let mut out = "\nScenarios (the properties alone): ".to_owned();
    if s.measured {
        let each: Vec<String> = s.properties.iter().map(|(id, n)| format!("{id} {n}")).collect();
        out += &format!(
            "{} asked ({} cases per property), {} ran in {:.1} s = {:.0} scenarios/s against domed, {} ({})\n",
            s.asked,
            s.cases_per_property,
            s.scenarios,
            s.elapsed_s,
            s.scenarios_per_s,
            if s.passed { "properties passed" } else { "properties FAILED" },
            each.join(", "),
        );
    } else {
        out += &format!("not measured: {}\n", s.note);
    }
    out
}

fn load(report: &Report) -> String {
    use Align::{Left, Right};
    let Some(l) = &report.load else { return String::new() };
    let (f, r) = (&l.faults, &l.retention);
    let mut out = "\nLoad and faults (`--load`), against domed --queue-capacity 64 --max-running-jobs 8 --max-subscriber-lag-events 1024:\n\n".to_owned();
    let mut table = Table::new(&[("scenario", Left), ("result", Left), ("peak RSS", Right)]);
    table.row([
        format!("{} jobs through the queue", f["flood"]["jobs"]),
        format!(
            "{} QUEUE_FULL retried after RetryInfo; all created once and SUCCEEDED; {}",
            f["flood"]["queue_full"],
            rate(&f["flood"]["jobs_per_s"]).replace("/s", " jobs/s")
        ),
        mib(&f["flood"]["peak_rss_kib"]),
    ]);
    table.row([
        format!("1 job x {} subscribers x {} events", f["fanout"]["subscribers"], f["plan"]["fanout_events"]),
        format!(
            "every subscriber saw all {} in order; {} lag resumes; {}",
            f["fanout"]["events_per_subscriber"],
            f["fanout"]["lagged"],
            rate(&f["fanout"]["events_per_s"]).replace("/s", " events/s")
        ),
        mib(&f["fanout"]["peak_rss_kib"]),
    ]);
    table.row([
        format!(
            "{} slow + {} disconnecting (+ {} plain) subscribers, {} events",
            f["plan"]["slow_subscribers"],
            f["plan"]["disconnecting_subscribers"],
            f["plan"]["slow_subscribers"],
            f["plan"]["slow_events"]
        ),
        format!(
            "all complete after {} SUBSCRIBER_LAGGED and {} dropped-stream resumes",
            f["slow"]["lagged"], f["slow"]["disconnects"]
        ),
        mib(&f["slow"]["peak_rss_kib"]),
    ]);
    table.row([
        format!("{} jobs cancelled mid-burst by two clients at once", f["cancel"]["jobs"]),
        format!(
            "one cancel took effect each; {} CANCELLED, {} finished first",
            f["cancel"]["cancelled"], f["cancel"]["finished_first"]
        ),
        String::new(),
    ]);
    let waves = r["waves"].as_array().cloned().unwrap_or_default();
    let wave_text = waves
        .iter()
        .enumerate()
        .map(|(i, w)| format!("wave {}: {} peak, {} after", i + 1, mib(&w["peak_kib"]), mib(&w["after_kib"])))
        .collect::<Vec<_>>()
        .join("; ");
    table.row([
        format!(
            "retention: {} waves of {} jobs x {} events, each pushed out (--max-jobs-retained {})",
            waves.len(),
            r["jobs"],
            r["events_per_job"],
            r["max_jobs_retained"]
        ),
        format!(
            "RSS {} before; {wave_text}; {}, {}",
            mib(&r["rss_before_kib"]),
            match r["rss_bounded"].as_bool() {
                Some(true) => "bounded",
                Some(false) => "GREW between waves",
                None => "not read",
            },
            match r["rss_returned"].as_bool() {
                Some(true) => "returned near the baseline",
                Some(false) => "not returned to the system",
                None => "not read",
            }
        ),
        String::new(),
    ]);
    out += &table.finish();
    out
}

/// Goals of the hostile clients.
pub(super) const PROBE_P99_GOAL_MS: f64 = 50.0;
/// Slack over the budget (and over idle after eviction), in KiB.
pub(super) const RSS_SLACK_KIB: f64 = 64.0 * 1024.0;
pub(super) const DETAILS_GOAL_BYTES: f64 = 8192.0;
pub(super) const CPU_GOAL_PERCENT: f64 = 5.0;

/// Seconds, as measured.
fn secs(v: impl Figure) -> String {
    v.figure().map_or(NONE.to_owned(), |s| format!("{s:.2} s"))
}

/// What the hostile clients' figures say of each goal: `(goal, verdict,
/// figure)`, in the order of the table.
fn hostile_goals(h: &Hostile) -> Vec<(String, Option<bool>, String)> {
    let mut goals = Vec::new();
    let p99 = h.starvation["probe"]["p99_us"].as_f64().map(|us| us / 1000.0);
    goals.push((
        format!("ListCapabilities p99 < {PROBE_P99_GOAL_MS:.0} ms while 64 maximal bulk jobs run"),
        p99.map(|p| p < PROBE_P99_GOAL_MS),
        p99.map_or(NONE.to_owned(), |p| format!("{p:.1} ms")),
    ));
    goals.push((
        format!("SIGTERM exits within the grace ({GRACE_SECS:.0} s) + 1 s"),
        h.shutdown_s.map(|s| s <= GRACE_SECS + 1.0 && h.shutdown_clean),
        secs(h.shutdown_s),
    ));
    let budget_kib = (BUDGET_BYTES / 1024) as f64;
    let idle = h.budget["idle_kib"].as_f64();
    for skill in h.budget["skills"].as_array().into_iter().flatten() {
        let id = skill["skill_id"].as_str().unwrap_or("?");
        let peak = skill["peak_kib"].as_f64();
        goals.push((
            format!("RSS < budget + 64 MiB, every retained job a maximal `{id}`"),
            peak.map(|p| p < budget_kib + RSS_SLACK_KIB),
            mib(peak),
        ));
        let after = skill["after_kib"].as_f64();
        goals.push((
            format!("RSS within 64 MiB of idle once the `{id}` jobs are evicted"),
            after.zip(idle).map(|(a, i)| a <= i + RSS_SLACK_KIB),
            mib(after),
        ));
    }
    let u = &h.unread;
    let (before, closed) = (u["before_kib"].as_f64(), u["closed_kib"].as_f64());
    if !u.is_null() {
        goals.push((
            "RSS within 64 MiB of before once unread streams over evicted jobs close".to_owned(),
            before.zip(closed).map(|(b, c)| c <= b + RSS_SLACK_KIB),
            mib(closed),
        ));
    }
    let details = h.oversized["largest_details_bytes"].as_f64();
    goals.push((
        "grpc-status-details-bin < 8 KiB with 4 MB strings".to_owned(),
        details.map(|d| d < DETAILS_GOAL_BYTES),
        bytes(details),
    ));
    let (i, o) = (h.oversized["bytes_in"].as_f64(), h.oversized["bytes_out"].as_f64());
    let amplification = i.zip(o).filter(|(i, _)| *i > 0.0).map(|(i, o)| o / i);
    goals.push((
        "bytes out / bytes in < 1 with 4 MB strings".to_owned(),
        amplification.map(|a| a < 1.0),
        amplification.map_or(NONE.to_owned(), |a| format!("{a:.5}")),
    ));
    let kinds = h.connections["kinds"].as_array();
    let past = kinds.map(|k| k.iter().map(|k| k["held_past_timeout"].as_u64().unwrap_or(u64::MAX)).sum::<u64>());
    goals.push((
        "no connection held past its timeout".to_owned(),
        past.map(|p| p == 0),
        past.map_or(NONE.to_owned(), |p| format!("{p} held")),
    ));
    let cpu = h.descriptors["cpu_percent"].as_f64();
    goals.push((
        format!("CPU < {CPU_GOAL_PERCENT:.0}% with descriptors exhausted"),
        cpu.map(|c| c < CPU_GOAL_PERCENT),
        cpu.map_or(NONE.to_owned(), |c| format!("{c:.1}%")),
    ));
    if !h.empty_token.is_empty() {
        goals.push((
            "an empty token refuses to start".to_owned(),
            Some(h.empty_token.iter().all(|t| t.refused)),
            h.empty_token.iter().map(|t| t.given_as).collect::<Vec<_>>().join(", "),
        ));
    }
    goals
}

fn hostile(report: &Report) -> String {
    use Align::{Left, Right};
    let Some(l) = &report.load else { return String::new() };
    let h = &l.hostile;
    let mut out = "\nHostile clients (`--load`), each against a fresh domed with the flags shown:\n\n".to_owned();
    let mut table = Table::new(&[("attack", Left), ("domed flags", Left), ("measured", Left), ("peak RSS", Right)]);
    let s = &h.starvation;
    table.row([
        format!(
            "{} jobs of {} `bulk` steps of 100000 events ({} B of input each); ListCapabilities every 10 ms",
            s["jobs"], s["steps_per_job"], s["input_bytes"]
        ),
        "defaults".to_owned(),
        format!(
            "p50 {} / p99 {} / max {} over {} probes in {}; {} events appended meanwhile",
            us(&s["probe"]["p50_us"]),
            us(&s["probe"]["p99_us"]),
            us(&s["probe"]["max_us"]),
            s["probe"]["count"],
            secs(&s["probe_s"]),
            s["events_during_probe"]
        ),
        String::new(),
    ]);
    table.row([
        "SIGTERM with those jobs running".to_owned(),
        format!("--shutdown-grace-secs {GRACE_SECS:.0} (default)"),
        format!("exited in {}{}", secs(h.shutdown_s), if h.shutdown_clean { ", cleanly" } else { ", NOT cleanly" }),
        String::new(),
    ]);
    let b = &h.budget;
    for skill in b["skills"].as_array().into_iter().flatten() {
        table.row([
            format!(
                "{} maximal `{}` jobs ({} B of input each): about 3x the total budget",
                skill["jobs"],
                skill["skill_id"].as_str().unwrap_or("?"),
                skill["input_bytes"]
            ),
            format!("--max-retained-bytes {} (1 GiB by default)", BUDGET_BYTES),
            format!(
                "RSS idle {}, after eviction by 10000 small jobs {}",
                mib(&b["idle_kib"]),
                mib(&skill["after_kib"])
            ),
            mib(&skill["peak_kib"]),
        ]);
    }
    let u = &h.unread;
    table.row([
        format!("{} unread streams on {} jobs of 100000 events, then evicted", u["streams"], u["jobs"]),
        "defaults".to_owned(),
        format!(
            "RSS before {}, held {}, held after eviction {}, all closed {}; a held stream ended {}",
            mib(&u["before_kib"]),
            mib(&u["held_kib"]),
            mib(&u["held_evicted_kib"]),
            mib(&u["closed_kib"]),
            u["end_of_evicted_stream"].as_str().unwrap_or(NONE)
        ),
        String::new(),
    ]);
    let o = &h.oversized;
    let calls = o["calls"].as_array().map_or(0, Vec::len);
    table.row([
        format!("a {} B string in each of {calls} string fields of every RPC", o["string_bytes"]),
        "defaults".to_owned(),
        format!(
            "every answer typed; largest grpc-status-details-bin {}; {} out for {} in",
            bytes(&o["largest_details_bytes"]),
            bytes(&o["bytes_out"]),
            bytes(&o["bytes_in"])
        ),
        String::new(),
    ]);
    for kind in h.connections["kinds"].as_array().into_iter().flatten() {
        table.row([
            format!("{} connections: {}", kind["connections"], kind["kind"].as_str().unwrap_or("?")),
            format!("--handshake-timeout-secs {HANDSHAKE_SECS} --idle-timeout-secs {IDLE_SECS}"),
            format!(
                "longest held {} (timeout {}); {} held past it",
                secs(&kind["longest_held_s"]),
                secs(&kind["timeout_s"]),
                kind["held_past_timeout"]
            ),
            String::new(),
        ]);
    }
    let d = &h.descriptors;
    table.row([
        format!("{} silent connections, more than the server has descriptors", d["connections"]),
        format!("defaults, under `prlimit --nofile={NOFILE}:{NOFILE}`"),
        format!(
            "{} descriptors open; CPU {} over {}; answered again {} after they closed",
            d["fds_open"],
            d["cpu_percent"].as_f64().map_or(NONE.to_owned(), |c| format!("{c:.1}%")),
            secs(&d["window_s"]),
            secs(&d["recovered_after_s"])
        ),
        String::new(),
    ]);
    for t in &h.empty_token {
        table.row([
            format!("an empty token, as {}", t.given_as),
            String::new(),
            format!("{}: {}", if t.refused { "refused to start" } else { "STARTED" }, t.said),
            String::new(),
        ]);
    }
    out += &table.finish();
    out
}

fn sdk(report: &Report) -> String {
    use Align::{Left, Right};
    let Some(sdk) = &report.sdk else { return String::new() };
    let mut table = Table::new(&[("dome-sdk", Left), ("measured", Right)]);
    table.row(["crates (`cargo tree -p dome-sdk -e normal`, distinct)".to_owned(), sdk.crates.to_string()]);
    table.row(["crates without the `tls` feature".to_owned(), sdk.crates_without_tls.to_string()]);
    let build = sdk.user_build_secs.map_or(NONE.to_owned(), |s| format!("{s:.1} s"));
    table.row(["clean debug build of a one-file user crate".to_owned(), build]);
    let cpu = sdk.user_build_cpu_secs.map_or(NONE.to_owned(), |s| format!("{s:.1} s"));
    table.row(["CPU time of that build (user + system)".to_owned(), cpu]);
    let load = sdk.load_1m.map_or(NONE.to_owned(), |l| format!("{l:.2}"));
    table.row(["load average (1 min) when the build started".to_owned(), load]);
    format!("\nThe SDK's weight for its users:\n\n{}", table.finish())
}

/// The goals, each with whether this run met it. Reported, never
/// asserted: times vary with the machine.
fn goals(report: &Report) -> String {
    let mut out = String::from("\nGoals:\n");
    let yes = |ok: bool| if ok { "met" } else { "NOT met" };
    let gates = &report.gates;
    if !gates.is_empty() {
        // The goal is on the contract, the rows expected to pass; the
        // broken copies (a misnamed or deleted field, the planted
        // projection bug, which the SSOT gate also shrinks) show power,
        // and are reported beside it.
        let slowest = |pass: bool| {
            gates
                .iter()
                .filter(|g| (g.expected == "pass") == pass)
                .max_by(|a, b| a.ours_ms.total_cmp(&b.ours_ms))
                .map(|g| (g.ours_ms, format!("`{}` on {}", g.gate, g.input)))
        };
        if let Some((ms, which)) = slowest(true) {
            out += &format!(
                "- every gate < {GATE_GOAL_MS:.0} ms on the contract: {} (slowest {ms:.1} ms, {which})\n",
                yes(ms < GATE_GOAL_MS)
            );
        }
        if let Some((ms, which)) = slowest(false) {
            out += &format!("  (on the broken copies, each failing as expected: slowest {ms:.1} ms, {which})\n");
        }
        let beside: Vec<_> = gates.iter().filter_map(|g| Some((g, g.buf_ms?))).collect();
        if !beside.is_empty() {
            let faster = beside.iter().all(|(g, buf)| g.ours_ms < *buf);
            let agree = beside.iter().all(|(g, _)| g.agree == Some(true));
            let least = beside.iter().map(|(g, buf)| buf / g.ours_ms).fold(f64::INFINITY, f64::min);
            out += &format!(
                "- faster than buf where measured: {} (at least {least:.1}x); same verdicts as buf: {}\n",
                yes(faster),
                yes(agree)
            );
        }
    }
    let servers = &report.servers;
    let (d, b) = (&servers.domed.report, &servers.baseline.report);
    let ratios: Vec<(&str, Option<f64>)> = THROUGHPUTS
        .into_iter()
        .map(|(phase, key, label)| {
            let r = match servers.ratios.get(phase).and_then(|r| r.median) {
                Some(median) => Some(median),
                None => match (d[phase][key].as_f64(), b[phase][key].as_f64()) {
                    (Some(o), Some(t)) if t > 0.0 => Some(o / t),
                    _ => None,
                },
            };
            (label, r)
        })
        .collect();
    if ratios.iter().any(|(_, r)| r.is_some()) {
        let text = ratios
            .iter()
            .map(|(label, r)| match r {
                Some(r) => format!("{label} {r:.2}x {}", yes(*r >= 0.7)),
                None => format!("{label} not measured"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        out += &format!("- server throughput ≥ 0.7x the baseline: {text}\n");
    }
    let s = &report.scenarios;
    if s.measured && s.scenarios_per_s > 0.0 {
        let projected = SCENARIO_GOAL as f64 / s.scenarios_per_s;
        let basis = if s.scenarios >= SCENARIO_GOAL {
            format!("{} in {:.1} s", s.scenarios, s.elapsed_s)
        } else {
            format!("{:.1} s at the rate of {} in {:.1} s", projected, s.scenarios, s.elapsed_s)
        };
        out += &format!(
            "- {SCENARIO_GOAL} generated scenarios < {SCENARIO_SECONDS:.0} s: {} ({basis})\n",
            yes(projected < SCENARIO_SECONDS && s.passed)
        );
    }
    if let Some(sdk) = &report.sdk {
        out += &format!(
            "- dome-sdk ≤ {SDK_CRATES_GOAL} crates: {} ({})\n",
            yes(sdk.crates <= SDK_CRATES_GOAL),
            sdk.crates
        );
        if let Some(secs) = sdk.user_build_secs {
            out += &format!(
                "- clean debug build of a user crate < {SDK_BUILD_GOAL_SECS:.0} s: {} ({secs:.1} s)\n",
                yes(secs < SDK_BUILD_GOAL_SECS)
            );
        }
    }
    let load = report.load.as_ref();
    out += &format!(
        "- zero loss, reorder or duplication{}: {}\n",
        if load.is_some() {
            " (every phase, --load included)"
        } else {
            " (every phase; run --load for the fault scenarios)"
        },
        yes(report.failures.is_empty())
    );
    if let Some(load) = load {
        let retention = &load.retention;
        out += &format!(
            "- bounded memory: {}; RSS back near its baseline after retention: {}\n",
            yes(retention["rss_bounded"] == Value::Bool(true)),
            yes(retention["rss_returned"] == Value::Bool(true))
        );
        for (goal, verdict, figure) in hostile_goals(&load.hostile) {
            let verdict = verdict.map_or("not measured", yes);
            out += &format!("- {goal}: {verdict} ({figure})\n");
        }
    }
    out
}
