//! `cargo xtask bench`: how fast the gates and the reference server are,
//! measured on release builds, each beside something to compare it with.
//!
//! 1. One `cargo build --release` of the binaries needed (never timed).
//! 2. Gates: the built `target/release/xtask` run directly (with `--root`)
//!    several times per input, the median wall time reported; beside it
//!    `buf` (from `$BUF` or `PATH`) on the same input, and whether the two
//!    agree on pass or fail. The inputs: the tree as it is, a copy with one
//!    field deleted (breaking) and a copy with one field misnamed (lint).
//! 3. Servers: the release `domed` and the bare tonic baseline
//!    (`dome-loadgen baseline-server`) as separate processes on loopback,
//!    one after the other, each driven by `dome-loadgen bench`; the
//!    server's resident memory is sampled from `/proc/PID/status`. This
//!    runs in rounds (both servers per round, in alternating order); every
//!    figure reported is the median over rounds, and each throughput
//!    ratio the median of the rounds' own ratios, so one disturbed run on
//!    a shared machine decides nothing.
//! 4. Conformance: the suite's binary against the reference server, cases
//!    per second, when the suite has a binary.
//! 5. With `--load`: the fault scenarios (`dome-loadgen faults`) and the
//!    retention scenario against `domed` with small limits.
//!
//! The table goes to stdout and the whole report to
//! `target/bench/report.json`. The goals (server ≥ 0.7x the baseline,
//! gates < 200 ms and faster than buf) are reported, never asserted: only a
//! broken invariant (a lost event, a crashed server, a gate that cannot
//! run) fails the command.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};
use xshell::{Shell, cmd};

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
    /// Use the release binaries as they are instead of building them.
    #[arg(long)]
    pub no_build: bool,
}

/// Runs the bench; see the module docs.
pub fn main(root: &Path, args: &Args) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let conformance_bin = package_has_bin(&sh, "dome-conformance")?;
    if !args.no_build {
        let mut packages = vec!["-p", "xtask", "-p", "domed", "-p", "dome-loadgen"];
        if conformance_bin.is_some() {
            packages.extend(["-p", "dome-conformance"]);
        }
        cmd!(sh, "cargo build --release {packages...}").run().context("building the release binaries")?;
    }
    let release = root.join("target").join("release");
    let bins = Bins {
        xtask: release.join("xtask"),
        domed: release.join("domed"),
        loadgen: release.join("dome-loadgen"),
        conformance: conformance_bin.map(|name| release.join(name)),
    };
    for bin in [&bins.xtask, &bins.domed, &bins.loadgen] {
        if !bin.exists() {
            bail!("`{}` is missing; run without `--no-build`", bin.display());
        }
    }
    let out_dir = root.join("target").join("bench");
    sh.create_dir(&out_dir)?;
    let runs = if args.quick { args.runs.min(3) } else { args.runs }.max(1);

    let mut failures = Vec::new();
    let gates = gates(&sh, root, &bins, runs)?;
    failures.extend(
        gates
            .iter()
            .filter(|g| g.ours_verdict != g.expected)
            .map(|g| format!("gate `{}` on {} gave {} (expected {})", g.gate, g.input, g.ours_verdict, g.expected)),
    );
    let quick = args.quick.then_some("--quick");
    let rounds = if args.quick { 1 } else { args.rounds.max(1) };
    let servers = servers(&sh, &bins, &out_dir, quick, rounds, &mut failures)?;
    let conformance = conformance(&sh, &bins, &out_dir, &mut failures)?;
    let load = if args.load { Some(load(&sh, &bins, &out_dir, &mut failures)?) } else { None };

    let report = json!({
        "machine": machine(),
        "gate_runs": runs,
        "gates": gates,
        "servers": servers,
        "conformance": conformance,
        "load": load,
        "failures": failures,
    });
    let table = render(&report);
    println!("{table}");
    let path = out_dir.join("report.json");
    sh.write_file(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("report: {}", path.display());
    if !failures.is_empty() {
        bail!("the bench found broken invariants:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

struct Bins {
    xtask: PathBuf,
    domed: PathBuf,
    loadgen: PathBuf,
    conformance: Option<PathBuf>,
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

fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    json!({ "cpus": cpus, "cpu": model, "os": std::env::consts::OS })
}

// ---------------------------------------------------------------- gates

/// One gate on one input.
#[derive(Debug, Serialize)]
struct GateRow {
    gate: String,
    input: String,
    /// `pass` or `fail` (exit status 0 or not).
    expected: &'static str,
    ours_ms: f64,
    ours_verdict: &'static str,
    buf_ms: Option<f64>,
    buf_verdict: Option<&'static str>,
    /// Whether buf and the gate agree on pass or fail.
    agree: Option<bool>,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "pass" } else { "fail" }
}

/// Builds one command to run on a shell.
type MakeCmd = Box<dyn for<'a> Fn(&'a Shell) -> xshell::Cmd<'a>>;

/// Runs `make(sh)` `runs` times; the median wall time in milliseconds and
/// whether every run exited 0 (a gate that flips between runs is an error).
fn time_runs(sh: &Shell, runs: usize, make: &MakeCmd) -> Result<(f64, bool)> {
    let mut times = Vec::with_capacity(runs);
    let mut verdicts = Vec::with_capacity(runs);
    for _ in 0..runs {
        let command = make(sh).quiet().ignore_status();
        let started = Instant::now();
        let output = command.output()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        verdicts.push(output.status.success());
    }
    if verdicts.iter().any(|v| *v != verdicts[0]) {
        bail!("a command gave different exit statuses over {runs} runs");
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], verdicts[0]))
}

/// The subcommands the built xtask offers (gates land independently).
fn xtask_commands(sh: &Shell, xtask: &Path) -> Result<Vec<String>> {
    let help = cmd!(sh, "{xtask} --help").quiet().read()?;
    Ok(help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

/// `buf` from `$BUF` or `PATH`.
fn find_buf() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BUF").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("buf")).find(|p| p.is_file())
}

/// Copies `root/proto` into `dir/proto` and applies one textual edit to
/// `file` (relative to `proto/dome/gateway/v1/`).
fn edited_copy(sh: &Shell, root: &Path, dir: &Path, file: &str, from: &str, to: &str) -> Result<PathBuf> {
    let source = root.join("proto");
    let target = dir.join("proto");
    copy_tree(sh, &source, &target)?;
    let path = target.join("dome/gateway/v1").join(file);
    let text = sh.read_file(&path)?;
    if !text.contains(from) {
        bail!("`{}` no longer contains `{from}`; update the bench's edited inputs", path.display());
    }
    sh.write_file(&path, text.replacen(from, to, 1))?;
    Ok(target)
}

fn copy_tree(sh: &Shell, from: &Path, to: &Path) -> Result<()> {
    sh.create_dir(to)?;
    for entry in sh.read_dir(from)? {
        let name = entry.file_name().context("a directory entry without a name")?;
        if entry.is_dir() {
            copy_tree(sh, &entry, &to.join(name))?;
        } else {
            sh.copy_file(&entry, to.join(name))?;
        }
    }
    Ok(())
}

fn gates(sh: &Shell, root: &Path, bins: &Bins, runs: usize) -> Result<Vec<GateRow>> {
    let commands = xtask_commands(sh, &bins.xtask)?;
    let has = |c: &str| commands.iter().any(|x| x == c);
    let buf = find_buf();
    let temp = sh.create_temp_dir()?;
    let buf_yaml = temp.path().join("buf.yaml");
    sh.write_file(&buf_yaml, "version: v2\nlint:\n  use: [STANDARD, COMMENTS]\nbreaking:\n  use: [FILE]\n")?;
    let proto = root.join("proto");
    // One field deleted: FIELD_NO_DELETE under buf's FILE rules.
    let deleted = edited_copy(
        sh,
        root,
        &temp.path().join("deleted"),
        "jobs.proto",
        "  string reason = 3;\n",
        "",
    )?;
    // One field misnamed: FIELD_LOWER_SNAKE_CASE.
    let misnamed = edited_copy(
        sh,
        root,
        &temp.path().join("misnamed"),
        "jobs.proto",
        "  string reason = 3;\n",
        "  string cancelReason = 3;\n",
    )?;

    let xtask = bins.xtask.clone();
    let root = root.to_path_buf();
    let mut rows = Vec::new();
    let mut measure = |gate: &str,
                       input: &str,
                       expected: bool,
                       ours: MakeCmd,
                       theirs: Option<MakeCmd>|
     -> Result<()> {
        let (ours_ms, ours_ok) = time_runs(sh, runs, &ours)?;
        let (buf_ms, buf_ok) = match theirs {
            Some(theirs) => {
                let (ms, ok) = time_runs(sh, runs, &theirs)?;
                (Some(ms), Some(ok))
            }
            None => (None, None),
        };
        rows.push(GateRow {
            gate: gate.to_owned(),
            input: input.to_owned(),
            expected: verdict(expected),
            ours_ms,
            ours_verdict: verdict(ours_ok),
            buf_ms,
            buf_verdict: buf_ok.map(verdict),
            agree: buf_ok.map(|b| b == ours_ok),
        });
        Ok(())
    };
    let x = |args: Vec<PathOrStr>| -> MakeCmd {
        let (xtask, root) = (xtask.clone(), root.clone());
        Box::new(move |sh| cmd!(sh, "{xtask} --root {root}").args(args.iter().map(PathOrStr::os)))
    };
    let b = |args: Vec<PathOrStr>| -> Option<MakeCmd> {
        let buf = buf.clone()?;
        Some(Box::new(move |sh| cmd!(sh, "{buf}").args(args.iter().map(PathOrStr::os))))
    };
    use PathOrStr::{P, S};
    let yaml = P(buf_yaml.clone());
    if has("codegen") {
        measure("codegen --check", "proto/", true, x(vec![S("codegen"), S("--check")]), None)?;
    }
    if has("breaking") {
        measure(
            "breaking",
            "v1 vs itself",
            true,
            x(vec![S("breaking"), S("--against"), P(proto.clone())]),
            b(vec![S("breaking"), S("--config"), yaml.clone(), P(proto.clone()), S("--against"), P(proto.clone())]),
        )?;
        measure(
            "breaking",
            "one field deleted vs v1",
            false,
            x(vec![S("breaking"), S("--proto-root"), P(deleted.clone()), S("--against"), P(proto.clone())]),
            b(vec![S("breaking"), S("--config"), yaml.clone(), P(deleted.clone()), S("--against"), P(proto.clone())]),
        )?;
    }
    if has("lint") {
        measure(
            "lint",
            "proto/",
            true,
            x(vec![S("lint")]),
            b(vec![S("lint"), S("--config"), yaml.clone(), P(proto.clone())]),
        )?;
        measure(
            "lint",
            "one field misnamed",
            false,
            x(vec![S("lint"), S("--proto-root"), P(misnamed.clone())]),
            b(vec![S("lint"), S("--config"), yaml.clone(), P(misnamed.clone())]),
        )?;
    }
    if has("ssot") {
        measure("ssot", "proto/", true, x(vec![S("ssot")]), None)?;
    }
    drop(temp);
    Ok(rows)
}

/// An argument: a path or a plain word.
#[derive(Clone)]
enum PathOrStr {
    P(PathBuf),
    S(&'static str),
}

impl PathOrStr {
    fn os(&self) -> &std::ffi::OsStr {
        match self {
            PathOrStr::P(p) => p.as_os_str(),
            PathOrStr::S(s) => std::ffi::OsStr::new(s),
        }
    }
}

// -------------------------------------------------------------- servers

/// A server process started by the bench, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
    name: &'static str,
}

impl Server {
    /// Starts `command` and waits (at most 30 s) for the stdout line
    /// `<banner> ADDR`; stderr goes to `log`.
    fn start(name: &'static str, command: xshell::Cmd<'_>, banner: &str, log: &Path) -> Result<Server> {
        let mut command: Command = command.into();
        let log_file = std::fs::File::create(log).with_context(|| format!("creating `{}`", log.display()))?;
        command.stdout(Stdio::piped()).stderr(log_file).stdin(Stdio::null());
        let mut child = command.spawn().with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let (tx, rx) = mpsc::channel();
        let banner = banner.to_owned();
        // The thread reads the banner, then keeps draining stdout until the
        // server exits, so that it can never block on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(addr) = line.strip_prefix(&banner) {
                    sent = tx.send(addr.trim().to_owned()).is_ok();
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                // The process is ours; a kill of an exited child is fine.
                let _ = child.kill();
                let _ = child.wait();
                bail!("{name} did not print `{}ADDR` within 30 s (see {})", "listening on ", log.display());
            }
        };
        Ok(Server { child, addr, name })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn memory(&mut self) -> Option<(u64, u64)> {
        read_memory(self.pid())
    }

    /// Whether the process is still running (a panic would have ended it).
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and reports
    /// whether it exited cleanly within 15 s; SIGKILL after that.
    fn stop(mut self, sh: &Shell) -> Result<bool> {
        let pid = self.pid().to_string();
        cmd!(sh, "kill -TERM {pid}").quiet().ignore_status().run()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop within 15 s of SIGTERM; killing it", self.name);
        self.child.kill()?;
        self.child.wait()?;
        Ok(false)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stopping an already stopped child fails harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(VmRSS, VmHWM)` of `pid`, in KiB.
fn read_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS")?, field("VmHWM")?))
}

fn start_domed(sh: &Shell, bins: &Bins, out_dir: &Path, extra: &[&str], log: &str) -> Result<Server> {
    let domed = &bins.domed;
    let command = cmd!(sh, "{domed} --listen 127.0.0.1:0 {extra...}").env("RUST_LOG", "warn");
    Server::start("domed", command, "domed listening on ", &out_dir.join(log))
}

fn start_baseline(sh: &Shell, bins: &Bins, out_dir: &Path) -> Result<Server> {
    let loadgen = &bins.loadgen;
    let command = cmd!(sh, "{loadgen} baseline-server --listen 127.0.0.1:0");
    Server::start("the baseline", command, "baseline listening on ", &out_dir.join("baseline.log"))
}

/// Runs a `dome-loadgen` subcommand against `server` and parses its JSON.
fn loadgen(sh: &Shell, bins: &Bins, server: &Server, args: &[&str]) -> Result<Value> {
    let loadgen = &bins.loadgen;
    let (url, pid) = (server.url(), server.pid().to_string());
    let out = cmd!(sh, "{loadgen} {args...} --target {url} --pid {pid}")
        .read()
        .with_context(|| format!("`dome-loadgen {}` against {}", args.join(" "), server.name))?;
    serde_json::from_str(&out).context("reading dome-loadgen's report")
}

/// The throughput figures judged against the goal: (phase, key, label).
const THROUGHPUTS: [(&str, &str, &str); 4] = [
    ("unary", "calls_per_s", "unary"),
    ("reads", "calls_per_s", "read-only"),
    ("fanout", "events_per_s", "one job, many subscribers"),
    ("many_jobs", "events_per_s", "many jobs"),
];

fn servers(
    sh: &Shell,
    bins: &Bins,
    out_dir: &Path,
    quick: Option<&str>,
    rounds: usize,
    failures: &mut Vec<String>,
) -> Result<Value> {
    let mut per_round = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Alternating order, so neither server always runs on a machine
        // the other has just warmed or disturbed.
        let order = if round % 2 == 0 { ["domed", "baseline"] } else { ["baseline", "domed"] };
        let mut results = serde_json::Map::new();
        for which in order {
            eprintln!("bench: round {} of {rounds}: {which}", round + 1);
            results.insert(which.to_owned(), server_run(sh, bins, out_dir, quick, which, failures)?);
        }
        per_round.push(Value::Object(results));
    }
    let of = |which: &str| per_round.iter().map(|r| &r[which]).collect::<Vec<_>>();
    let mut ratios = serde_json::Map::new();
    for (phase, key, _) in THROUGHPUTS {
        let each: Vec<Value> = per_round
            .iter()
            .filter_map(|r| {
                let ours = r["domed"]["report"][phase][key].as_f64()?;
                let base = r["baseline"]["report"][phase][key].as_f64()?;
                (base > 0.0).then(|| json!(ours / base))
            })
            .collect();
        let median = median_value(&each.iter().collect::<Vec<_>>());
        ratios.insert(phase.to_owned(), json!({ "rounds": each, "median": median }));
    }
    Ok(json!({
        "rounds": rounds,
        "domed": median_merge(&of("domed")),
        "baseline": median_merge(&of("baseline")),
        "ratios": ratios,
        "per_round": per_round,
    }))
}

/// One server started, loaded by `dome-loadgen bench`, and stopped.
fn server_run(
    sh: &Shell,
    bins: &Bins,
    out_dir: &Path,
    quick: Option<&str>,
    which: &str,
    failures: &mut Vec<String>,
) -> Result<Value> {
    let mut server = if which == "domed" {
        start_domed(sh, bins, out_dir, &[], "domed.log")?
    } else {
        start_baseline(sh, bins, out_dir)?
    };
    let idle = server.memory();
    eprintln!("bench: {which} at {} (pid {})", server.addr, server.pid());
    let report = loadgen(sh, bins, &server, &["bench"].into_iter().chain(quick).collect::<Vec<_>>())?;
    let after = server.memory();
    if !server.alive() {
        failures.push(format!("{which} exited during the bench"));
    }
    let clean = server.stop(sh)?;
    if which == "domed" && !clean {
        failures.push("domed did not shut down cleanly on SIGTERM".to_owned());
    }
    Ok(json!({
        "idle_rss_kib": idle.map(|m| m.0),
        "rss_after_kib": after.map(|m| m.0),
        "hwm_kib": after.map(|m| m.1),
        "clean_shutdown": clean,
        "report": report,
    }))
}

/// The median of `values` by their numeric value (the lower middle one
/// of an even count, so the figure is one that was measured); `null` when
/// none is a number.
fn median_value(values: &[&Value]) -> Value {
    let mut numbers: Vec<&Value> = values.iter().copied().filter(|v| v.is_number()).collect();
    numbers.sort_by(|a, b| a.as_f64().partial_cmp(&b.as_f64()).unwrap_or(std::cmp::Ordering::Equal));
    match numbers.len() {
        0 => Value::Null,
        n => numbers[(n - 1) / 2].clone(),
    }
}

/// Reports of the same shape merged into one: every number is the median
/// of that number over the reports, anything else is taken from the first.
fn median_merge(values: &[&Value]) -> Value {
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

// ---------------------------------------------------------- conformance

fn conformance(sh: &Shell, bins: &Bins, out_dir: &Path, failures: &mut Vec<String>) -> Result<Value> {
    let Some(bin) = bins.conformance.as_ref().filter(|b| b.exists()) else {
        return Ok(json!({ "measured": false, "note": "the conformance suite has no binary yet" }));
    };
    let mut server = start_domed(sh, bins, out_dir, &[], "domed-conformance.log")?;
    let url = server.url();
    let json_path = out_dir.join("conformance.json");
    eprintln!("bench: conformance suite against domed (pid {})", server.pid());
    let started = Instant::now();
    let output = cmd!(sh, "{bin} --target {url} --report json {json_path}").quiet().ignore_status().output()?;
    let elapsed = started.elapsed().as_secs_f64();
    let peak = server.memory().map(|m| m.1);
    sh.write_file(out_dir.join("conformance.txt"), &output.stdout)?;
    if !server.alive() {
        failures.push("domed exited during the conformance run".to_owned());
    }
    server.stop(sh)?;
    if !output.status.success() {
        failures.push(format!(
            "the conformance suite failed against domed (see {})",
            out_dir.join("conformance.txt").display()
        ));
    }
    let report: Value = sh
        .read_file(&json_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let cases = report["cases"].as_array().cloned().unwrap_or_default();
    let count = |status: &str| cases.iter().filter(|c| c["status"] == status).count();
    let ran = cases.len() - count("skip");
    Ok(json!({
        "measured": !cases.is_empty(),
        "note": if cases.is_empty() { "the suite wrote no JSON report" } else { "" },
        "passed": output.status.success(),
        "cases": cases.len(),
        "ran": ran,
        "pass": count("pass"),
        "skip": count("skip"),
        "elapsed_s": elapsed,
        "cases_per_s": ran as f64 / elapsed.max(1e-9),
        "server_peak_rss_kib": peak,
    }))
}

// ----------------------------------------------------------------- load

fn load(sh: &Shell, bins: &Bins, out_dir: &Path, failures: &mut Vec<String>) -> Result<Value> {
    // A small queue and few workers so that the flood meets QUEUE_FULL; a
    // lag window below the bursts so that slow readers are ended and resume.
    let limits = ["--queue-capacity", "64", "--max-running-jobs", "8", "--max-subscriber-lag-events", "1024"];
    let mut server = start_domed(sh, bins, out_dir, &limits, "domed-load.log")?;
    let idle = server.memory();
    eprintln!("bench: fault scenarios against domed (pid {})", server.pid());
    let faults = loadgen(sh, bins, &server, &["faults"]);
    let alive = server.alive();
    let after = server.memory();
    let clean = server.stop(sh)?;
    let faults = match faults {
        Ok(report) => report,
        Err(e) => {
            failures.push(format!("fault scenarios: {e:#}"));
            Value::Null
        }
    };
    if !alive || !clean {
        failures.push("domed did not survive the fault scenarios and stop cleanly".to_owned());
    }

    let retained = "40";
    let mut server = start_domed(sh, bins, out_dir, &["--max-jobs-retained", retained], "domed-retention.log")?;
    eprintln!("bench: retention against domed --max-jobs-retained {retained} (pid {})", server.pid());
    let retention = loadgen(sh, bins, &server, &["retention", "--jobs", retained, "--events", "10000"]);
    let retention_alive = server.alive();
    server.stop(sh)?;
    let retention = match retention {
        Ok(report) => report,
        Err(e) => {
            failures.push(format!("retention scenario: {e:#}"));
            Value::Null
        }
    };
    // Memory must stay bounded: a second wave of large jobs may reuse what
    // the first freed, but must not add to it. Whether the resident size
    // also falls back (the allocator returning freed pages to the system)
    // is reported beside it.
    if retention["rss_bounded"] == json!(false) {
        failures.push("domed's memory grew from one retention wave to the next".to_owned());
    }
    if !retention_alive {
        failures.push("domed exited during the retention scenario".to_owned());
    }
    Ok(json!({
        "faults": faults,
        "faults_server": {
            "idle_rss_kib": idle.map(|m| m.0),
            "rss_after_kib": after.map(|m| m.0),
            "hwm_kib": after.map(|m| m.1),
            "clean_shutdown": clean,
        },
        "retention": retention,
    }))
}

// --------------------------------------------------------------- render

fn ms(v: &Value) -> String {
    v.as_f64().map_or("—".to_owned(), |v| format!("{v:.1} ms"))
}

fn bytes(v: &Value) -> String {
    v.as_f64().map_or("—".to_owned(), |b| format!("{b:.0} B"))
}

fn mib(v: &Value) -> String {
    v.as_f64().map_or("—".to_owned(), |kib| format!("{:.1} MiB", kib / 1024.0))
}

fn rate(v: &Value) -> String {
    v.as_f64()
        .map_or("—".to_owned(), |r| if r >= 10_000.0 { format!("{:.0}k/s", r / 1000.0) } else { format!("{r:.0}/s") })
}

fn us(v: &Value) -> String {
    v.as_f64().map_or("—".to_owned(), |us| format!("{:.2} ms", us / 1000.0))
}

fn ratio(ours: &Value, base: &Value) -> String {
    match (ours.as_f64(), base.as_f64()) {
        (Some(o), Some(b)) if b > 0.0 => format!("{:.2}x", o / b),
        _ => "—".to_owned(),
    }
}

/// The report as Markdown tables (what the README's Performance section
/// shows).
fn render(report: &Value) -> String {
    let mut out = String::new();
    let m = &report["machine"];
    out += &format!(
        "Machine: {} CPUs ({}), {}. Gates: median of {} runs of the release binary.\n\n",
        m["cpus"], m["cpu"].as_str().unwrap_or("?"), m["os"].as_str().unwrap_or("?"), report["gate_runs"]
    );
    out += "| gate | input | ours | buf | verdict (ours / buf) | agree |\n| --- | --- | --: | --: | --- | --- |\n";
    for g in report["gates"].as_array().into_iter().flatten() {
        let agree = match g["agree"].as_bool() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "—",
        };
        out += &format!(
            "| {} | {} | {} | {} | {} / {} | {} |\n",
            g["gate"].as_str().unwrap_or(""),
            g["input"].as_str().unwrap_or(""),
            ms(&g["ours_ms"]),
            ms(&g["buf_ms"]),
            g["ours_verdict"].as_str().unwrap_or(""),
            g["buf_verdict"].as_str().unwrap_or("—"),
            agree,
        );
    }
    if find_buf().is_none() {
        out += "\n(no `buf` on PATH or in $BUF: the buf columns are empty)\n";
    }

    let d = &report["servers"]["domed"];
    let b = &report["servers"]["baseline"];
    let (dr, br) = (&d["report"], &b["report"]);
    let plan = &dr["plan"];
    let rounds = report["servers"]["rounds"].as_u64().unwrap_or(1);
    out += &format!(
        "\nServers on loopback, {} connections; domed vs the bare tonic baseline (same messages, same events); {}:\n\n",
        plan["connections"],
        if rounds > 1 {
            format!("medians of {rounds} rounds, each ratio the median of the rounds' ratios (their range in brackets)")
        } else {
            "one round".to_owned()
        }
    );
    out += "| phase | domed | baseline | ratio | domed peak RSS | baseline peak RSS |\n| --- | --: | --: | --: | --: | --: |\n";
    let row = |name: String, key: &str, fmt: fn(&Value) -> String, phase: &str, higher_better: bool| {
        let (o, t) = (&dr[phase][key], &br[phase][key]);
        let r = match throughput_ratio(report, phase) {
            Some((median, low, high)) if higher_better && low < high => {
                format!("{median:.2}x ({low:.2}–{high:.2})")
            }
            Some((median, _, _)) if higher_better => format!("{median:.2}x"),
            _ if higher_better => ratio(o, t),
            _ => ratio(t, o),
        };
        format!(
            "| {name} | {} | {} | {r} | {} | {} |\n",
            fmt(o),
            fmt(t),
            mib(&dr[phase]["peak_rss_kib"]),
            mib(&br[phase]["peak_rss_kib"])
        )
    };
    out += &row(
        format!("unary calls/s (SkillExecute then GetJobStatus, {} workers)", plan["unary_concurrency"]),
        "calls_per_s",
        rate,
        "unary",
        true,
    );
    out += &format!(
        "| mean unary response | {} | {} | | | |\n",
        bytes(&dr["unary"]["mean_response_bytes"]),
        bytes(&br["unary"]["mean_response_bytes"])
    );
    out += &row(
        format!("read-only calls/s (GetJobStatus, {} workers)", plan["unary_concurrency"]),
        "calls_per_s",
        rate,
        "reads",
        true,
    );
    for (phase, rpc, label) in [
        ("unary", "skill_execute", "SkillExecute"),
        ("unary", "get_job_status", "GetJobStatus"),
        ("reads", "get_job_status", "GetJobStatus (read-only)"),
    ] {
        let (o, t) = (&dr[phase][rpc], &br[phase][rpc]);
        out += &format!(
            "| {label} p50 / p99 | {} / {} | {} / {} | {} / {} | | |\n",
            us(&o["p50_us"]),
            us(&o["p99_us"]),
            us(&t["p50_us"]),
            us(&t["p99_us"]),
            ratio(&t["p50_us"], &o["p50_us"]),
            ratio(&t["p99_us"], &o["p99_us"]),
        );
    }
    out += &row(
        format!(
            "events/s, 1 job x {} subscribers x {} events",
            plan["fanout_subscribers"], plan["fanout_events"]
        ),
        "events_per_s",
        rate,
        "fanout",
        true,
    );
    out += &row(
        format!("events/s, {} jobs x {} events, 1 subscriber each", plan["many_jobs"], plan["many_jobs_events"]),
        "events_per_s",
        rate,
        "many_jobs",
        true,
    );
    out += &format!(
        "| idle RSS / high-water mark | {} / {} | {} / {} | | | |\n",
        mib(&d["idle_rss_kib"]),
        mib(&d["hwm_kib"]),
        mib(&b["idle_rss_kib"]),
        mib(&b["hwm_kib"])
    );
    out += "\n(ratio: domed relative to the baseline; above 1x domed is faster; for latencies, baseline / domed.)\n";

    let c = &report["conformance"];
    out += "\nConformance: ";
    if c["measured"] == json!(true) {
        out += &format!(
            "{} cases ({} ran, {} passed, {} skipped) in {:.2} s = {} against domed, {}; domed peak RSS {}\n",
            c["cases"],
            c["ran"],
            c["pass"],
            c["skip"],
            c["elapsed_s"].as_f64().unwrap_or(0.0),
            c["cases_per_s"].as_f64().map_or("—".to_owned(), |r| format!("{r:.1} cases/s")),
            if c["passed"] == json!(true) { "suite passed" } else { "suite FAILED" },
            mib(&c["server_peak_rss_kib"]),
        );
    } else {
        out += &format!("not measured: {}\n", c["note"].as_str().unwrap_or(""));
    }

    let l = &report["load"];
    if !l.is_null() {
        let f = &l["faults"];
        let r = &l["retention"];
        out += "\nLoad and faults (`--load`), against domed --queue-capacity 64 --max-running-jobs 8 --max-subscriber-lag-events 1024:\n\n";
        out += "| scenario | result | peak RSS |\n| --- | --- | --: |\n";
        out += &format!(
            "| {} jobs through the queue | {} QUEUE_FULL retried after RetryInfo; all created once and SUCCEEDED; {} | {} |\n",
            f["flood"]["jobs"],
            f["flood"]["queue_full"],
            rate(&f["flood"]["jobs_per_s"]).replace("/s", " jobs/s"),
            mib(&f["flood"]["peak_rss_kib"])
        );
        out += &format!(
            "| 1 job x {} subscribers x {} events | every subscriber saw all {} in order; {} lag resumes; {} | {} |\n",
            f["fanout"]["subscribers"],
            f["plan"]["fanout_events"],
            f["fanout"]["events_per_subscriber"],
            f["fanout"]["lagged"],
            rate(&f["fanout"]["events_per_s"]).replace("/s", " events/s"),
            mib(&f["fanout"]["peak_rss_kib"])
        );
        out += &format!(
            "| {} slow + {} disconnecting (+ {} plain) subscribers, {} events | all complete after {} SUBSCRIBER_LAGGED and {} dropped-stream resumes | {} |\n",
            f["plan"]["slow_subscribers"],
            f["plan"]["disconnecting_subscribers"],
            f["plan"]["slow_subscribers"],
            f["plan"]["slow_events"],
            f["slow"]["lagged"],
            f["slow"]["disconnects"],
            mib(&f["slow"]["peak_rss_kib"])
        );
        out += &format!(
            "| {} jobs cancelled mid-burst by two clients at once | one cancel took effect each; {} CANCELLED, {} finished first | |\n",
            f["cancel"]["jobs"], f["cancel"]["cancelled"], f["cancel"]["finished_first"]
        );
        let waves = r["waves"].as_array().cloned().unwrap_or_default();
        let wave_text = waves
            .iter()
            .enumerate()
            .map(|(i, w)| format!("wave {}: {} peak, {} after", i + 1, mib(&w["peak_kib"]), mib(&w["after_kib"])))
            .collect::<Vec<_>>()
            .join("; ");
        out += &format!(
            "| retention: {} waves of {} jobs x {} events, each pushed out (--max-jobs-retained {}) | RSS {} before; {}; {}, {} | |\n",
            waves.len(),
            r["jobs"],
            r["events_per_job"],
            r["max_jobs_retained"],
            mib(&r["rss_before_kib"]),
            wave_text,
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
        );
    }
    out += &goals(report);
    if let Some(failures) = report["failures"].as_array().filter(|f| !f.is_empty()) {
        out += "\nBroken invariants:\n";
        for f in failures {
            out += &format!("- {}\n", f.as_str().unwrap_or(""));
        }
    }
    out
}

/// The goals, each with whether this run met it. Reported, never
/// asserted: times vary with the machine.
/// The median throughput ratio of `phase` over the rounds, and the lowest
/// and highest round; `None` when the report has no rounds' ratios.
fn throughput_ratio(report: &Value, phase: &str) -> Option<(f64, f64, f64)> {
    let measured = &report["servers"]["ratios"][phase];
    let median = measured["median"].as_f64()?;
    let rounds: Vec<f64> = measured["rounds"].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
    let low = rounds.iter().copied().fold(median, f64::min);
    let high = rounds.iter().copied().fold(median, f64::max);
    Some((median, low, high))
}

fn goals(report: &Value) -> String {
    let mut out = String::from("\nGoals:\n");
    let yes = |ok: bool| if ok { "met" } else { "NOT met" };
    let gates = report["gates"].as_array().cloned().unwrap_or_default();
    if !gates.is_empty() {
        let slowest = gates.iter().filter_map(|g| g["ours_ms"].as_f64()).fold(0.0, f64::max);
        out += &format!("- every gate < 200 ms: {} (slowest {slowest:.1} ms)\n", yes(slowest < 200.0));
        let beside: Vec<_> = gates.iter().filter(|g| g["buf_ms"].is_number()).collect();
        if !beside.is_empty() {
            let faster = beside.iter().all(|g| g["ours_ms"].as_f64() < g["buf_ms"].as_f64());
            let agree = beside.iter().all(|g| g["agree"] == json!(true));
            let least = beside
                .iter()
                .filter_map(|g| Some(g["buf_ms"].as_f64()? / g["ours_ms"].as_f64()?))
                .fold(f64::INFINITY, f64::min);
            out += &format!(
                "- faster than buf where measured: {} (at least {least:.1}x); same verdicts as buf: {}\n",
                yes(faster),
                yes(agree)
            );
        }
    }
    let (d, b) = (&report["servers"]["domed"]["report"], &report["servers"]["baseline"]["report"]);
    let ratios: Vec<(&str, Option<f64>)> = THROUGHPUTS
        .into_iter()
        .map(|(phase, key, label)| {
            let r = match throughput_ratio(report, phase) {
                Some((median, _, _)) => Some(median),
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
    let failures = report["failures"].as_array().map_or(0, Vec::len);
    let retention = &report["load"]["retention"];
    let load_ran = !report["load"].is_null();
    out += &format!(
        "- zero loss, reorder or duplication{}: {}\n",
        if load_ran { " (every phase, --load included)" } else { " (every phase; run --load for the fault scenarios)" },
        yes(failures == 0)
    );
    if load_ran {
        out += &format!(
            "- bounded memory: {}; RSS back near its baseline after retention: {}\n",
            yes(retention["rss_bounded"] == json!(true)),
            yes(retention["rss_returned"] == json!(true))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_are_judged_from_the_numbers() {
        let phase = |rate: f64| json!({ "calls_per_s": rate, "events_per_s": rate, "peak_rss_kib": 1024 });
        let server = |rate: f64| json!({ "report": { "plan": { "connections": 4 }, "unary": phase(rate), "fanout": phase(rate), "many_jobs": phase(rate) } });
        let gate = |ours: f64, buf: f64, agree: bool| {
            json!({ "gate": "lint", "input": "proto/", "ours_ms": ours,
            "ours_verdict": "pass", "buf_ms": buf, "buf_verdict": "pass", "agree": agree })
        };
        let report = |ours: f64, agree: bool, domed: f64| {
            render(&json!({ "machine": machine(), "gate_runs": 7, "gates": [gate(ours, 150.0, agree)],
                "servers": { "domed": server(domed), "baseline": server(100.0) },
                "conformance": { "measured": false, "note": "none" }, "load": null, "failures": [] }))
        };
        let good = report(10.0, true, 80.0);
        assert!(good.contains("- every gate < 200 ms: met (slowest 10.0 ms)"), "{good}");
        assert!(good.contains("faster than buf where measured: met (at least 15.0x); same verdicts as buf: met"), "{good}");
        assert!(good.contains("unary 0.80x met"), "{good}");
        let bad = report(250.0, false, 50.0);
        assert!(bad.contains("- every gate < 200 ms: NOT met (slowest 250.0 ms)"), "{bad}");
        assert!(bad.contains("faster than buf where measured: NOT met"), "{bad}");
        assert!(bad.contains("same verdicts as buf: NOT met"), "{bad}");
        assert!(bad.contains("unary 0.50x NOT met"), "{bad}");
    }

    /// Rounds merge into medians: a number is the middle round's, the
    /// goal is judged on the median of the rounds' ratios, and one slow
    /// round neither decides it nor hides in the table.
    #[test]
    fn rounds_are_reported_as_medians() {
        let a = json!({ "n": 3, "name": "x", "inner": { "rate": 10.0 }, "none": null });
        let b = json!({ "n": 1, "name": "y", "inner": { "rate": 30.0 }, "none": null });
        let c = json!({ "n": 2, "name": "z", "inner": { "rate": 20.0 }, "none": null });
        let merged = median_merge(&[&a, &b, &c]);
        assert_eq!(merged, json!({ "n": 2, "name": "x", "inner": { "rate": 20.0 }, "none": null }));
        assert_eq!(median_value(&[&json!(4), &json!(1)]), json!(1), "the lower middle of an even count");
        assert_eq!(median_value(&[&json!("a")]), Value::Null);

        let phase = |rate: f64| json!({ "calls_per_s": rate, "events_per_s": rate });
        let server = |rate: f64| json!({ "report": { "plan": { "connections": 4 }, "unary": phase(rate), "reads": phase(rate), "fanout": phase(rate), "many_jobs": phase(rate) } });
        let ratios = |rounds: [f64; 3]| {
            let median = median_value(&rounds.iter().map(|r| json!(r)).collect::<Vec<_>>().iter().collect::<Vec<_>>());
            json!({ "rounds": rounds, "median": median })
        };
        let report = |unary: [f64; 3]| {
            render(&json!({ "machine": machine(), "gate_runs": 7, "gates": [],
                "servers": { "rounds": 3, "domed": server(70.0), "baseline": server(100.0),
                    "ratios": { "unary": ratios(unary), "reads": ratios([1.0, 1.1, 1.2]),
                        "fanout": ratios([1.0, 1.0, 1.0]), "many_jobs": ratios([0.8, 0.9, 0.85]) } },
                "conformance": { "measured": false, "note": "none" }, "load": null, "failures": [] }))
        };
        let one_slow_round = report([0.72, 0.55, 0.74]);
        assert!(one_slow_round.contains("unary 0.72x met"), "{one_slow_round}");
        assert!(one_slow_round.contains("| 0.72x (0.55–0.74) |"), "{one_slow_round}");
        assert!(one_slow_round.contains("medians of 3 rounds"), "{one_slow_round}");
        assert!(one_slow_round.contains("| 1.00x |"), "equal rounds show no range: {one_slow_round}");
        let mostly_slow = report([0.72, 0.55, 0.65]);
        assert!(mostly_slow.contains("unary 0.65x NOT met"), "{mostly_slow}");
    }

    #[test]
    fn renders_an_empty_report_without_panicking() {
        let text = render(&json!({ "machine": machine(), "gate_runs": 1, "gates": [], "servers": {},
            "conformance": { "measured": false, "note": "none" }, "load": null, "failures": ["x broke"] }));
        assert!(text.contains("| gate | input |") && text.contains("not measured: none") && text.contains("- x broke"));
    }
}
