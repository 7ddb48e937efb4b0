//! `cargo xtask bench --googleapis GIT_DIR`: the lint and breaking gates
//! on a real repository beside buf, opt-in because it needs a clone of
//! googleapis (any git directory with the same layout will do).
//!
//! The API directories of `DIRS` are taken from two revisions (by
//! default `HEAD~3000..HEAD`) with `git archive`, the work tree never
//! touched. On the newer tree the lint runs (`STANDARD`); the breaking
//! gate compares it with the older one (all four categories). Each
//! command runs as a process of its own, `runs` times, beside `buf` when
//! there is one (`$BUF` or `PATH`): median wall time, the largest peak
//! resident memory (`VmHWM` of the process and its children, sampled
//! from `/proc`), their ratios, and whether the two report the same
//! findings (rule, path, positions, message).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use xshell::{Shell, cmd};

use super::gates::find_buf;
use super::process::read_memory;
use super::render::{Align, Table, mib, ms, ratio};

/// The API directories compared: the core types and eleven Cloud APIs
/// (473 protos at `f8291d2b89`, 397 three thousand commits earlier).
pub(super) const DIRS: &[&str] = &[
    "google/api",
    "google/iam",
    "google/logging",
    "google/longrunning",
    "google/pubsub",
    "google/rpc",
    "google/type",
    "google/cloud/dataproc",
    "google/cloud/dialogflow",
    "google/cloud/kms",
    "google/cloud/language",
    "google/cloud/scheduler",
    "google/cloud/securitycenter",
    "google/cloud/speech",
    "google/cloud/tasks",
    "google/cloud/texttospeech",
    "google/cloud/translate",
    "google/cloud/vision",
];

const LINT_CONFIG: &str = r#"{"version":"v2","lint":{"use":["STANDARD"]}}"#;
const BREAKING_CONFIG: &str = r#"{"version":"v1","breaking":{"use":["FILE","PACKAGE","WIRE_JSON","WIRE"]}}"#;

/// What the googleapis comparison measured.
#[derive(Debug, Serialize)]
pub struct Googleapis {
    /// The git directory and the two revisions, as resolved.
    pub git_dir: String,
    /// The baseline revision.
    pub old: String,
    /// The current revision.
    pub new: String,
    /// The baseline's proto files.
    pub old_files: usize,
    /// The current revision's proto files.
    pub new_files: usize,
    /// Runs of each command (the times are their medians).
    pub runs: usize,
    /// `/proc/loadavg` before and after: the machine's load while timed.
    pub load_before: String,
    /// See `load_before`.
    pub load_after: String,
    /// One row per gate.
    pub rows: Vec<Row>,
}

/// One gate beside buf.
#[derive(Debug, Serialize)]
pub struct Row {
    /// The gate (`lint` or `breaking`).
    pub gate: &'static str,
    /// The gate's figures.
    pub ours: Run,
    /// buf's figures on the same input, when buf is installed.
    pub buf: Option<Run>,
    /// Whether buf and the gate report exactly the same findings.
    pub same_findings: Option<bool>,
}

/// One command's figures over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Median wall time.
    pub ms: f64,
    /// The largest peak resident set of any run, in KiB.
    pub peak_kib: u64,
    /// How many findings (JSON lines) it printed.
    pub findings: usize,
    /// The findings it printed, to compare with buf's.
    #[serde(skip)]
    pub lines: BTreeSet<String>,
}

/// Runs the comparison and prints its table; the report goes to
/// `out_dir/googleapis.json`.
pub(super) fn main(sh: &Shell, xtask: &Path, git_dir: &Path, revs: &str, runs: usize, out_dir: &Path) -> Result<()> {
    let (old_rev, new_rev) = revs.split_once("..").context("--revs takes `OLD..NEW`")?;
    let git = |args: &[&str]| -> Result<String> {
        let out = cmd!(sh, "git --git-dir {git_dir} {args...}").quiet().read()?;
        Ok(out.trim().to_owned())
    };
    let old = git(&["rev-parse", "--short=10", &format!("{old_rev}^{{commit}}")])
        .with_context(|| format!("`{old_rev}` is not a revision of `{}`", git_dir.display()))?;
    let new = git(&["rev-parse", "--short=10", &format!("{new_rev}^{{commit}}")])
        .with_context(|| format!("`{new_rev}` is not a revision of `{}`", git_dir.display()))?;
    let temp = sh.create_temp_dir()?;
    let old_tree = temp.path().join("old");
    let new_tree = temp.path().join("new");
    let old_files = extract(sh, git_dir, &old, &old_tree)?;
    let new_files = extract(sh, git_dir, &new, &new_tree)?;

    let buf = find_buf();
    let load_before = loadavg();
    let mut rows = Vec::new();
    let lint_ours = ["lint", "--proto-root", ".", "--config", LINT_CONFIG, "--error-format", "json"];
    let lint_buf = ["lint", "--config", LINT_CONFIG, "--error-format", "json"];
    let against = old_tree.to_string_lossy().into_owned();
    let breaking_ours =
        ["breaking", "--proto-root", ".", "--against", &against, "--config", BREAKING_CONFIG, "--error-format", "json"];
    let breaking_buf = ["breaking", "--against", &against, "--config", BREAKING_CONFIG, "--error-format", "json"];
    for (gate, ours_args, buf_args) in
        [("lint", &lint_ours[..], &lint_buf[..]), ("breaking", &breaking_ours[..], &breaking_buf[..])]
    {
        let mut ours_cmd = Command::new(xtask);
        ours_cmd.arg("--root").arg(&new_tree).args(ours_args).current_dir(&new_tree);
        let ours = measure(&mut ours_cmd, runs).with_context(|| format!("timing our {gate}"))?;
        let theirs = match &buf {
            Some(buf) => {
                let mut buf_cmd = Command::new(buf);
                buf_cmd.args(buf_args).current_dir(&new_tree);
                Some(measure(&mut buf_cmd, runs).with_context(|| format!("timing buf {gate}"))?)
            }
            None => None,
        };
        let same_findings = theirs.as_ref().map(|t| t.lines == ours.lines);
        rows.push(Row { gate, ours, buf: theirs, same_findings });
    }
    let report = Googleapis {
        git_dir: git_dir.display().to_string(),
        old,
        new,
        old_files,
        new_files,
        runs,
        load_before,
        load_after: loadavg(),
        rows,
    };
    println!("{}", render(&report));
    let path = out_dir.join("googleapis.json");
    sh.write_file(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("report: {}", path.display());
    if buf.is_none() {
        println!("(no `buf` on PATH or in $BUF: the buf columns are empty)");
    }
    Ok(())
}

/// Writes the `.proto` files of [`DIRS`] at `rev` under `to` (with `git
/// archive`, no checkout); returns how many there are.
fn extract(sh: &Shell, git_dir: &Path, rev: &str, to: &Path) -> Result<usize> {
    let listing = cmd!(sh, "git --git-dir {git_dir} ls-tree -r --name-only {rev} -- {DIRS...}").quiet().read()?;
    let protos: Vec<&str> = listing.lines().filter(|p| p.ends_with(".proto")).collect();
    if protos.is_empty() {
        bail!("`{rev}` has no .proto files under {}", DIRS.join(", "));
    }
    let count = protos.len();
    let tar = cmd!(sh, "git --git-dir {git_dir} archive --format=tar {rev} -- {protos...}").quiet().output()?.stdout;
    sh.create_dir(to)?;
    cmd!(sh, "tar -x -C {to}").quiet().stdin(tar).run().context("unpacking `git archive`")?;
    Ok(count)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.trim().to_owned()).unwrap_or_default()
}

/// Runs `command` `runs` times: median wall time, largest peak memory,
/// and the findings it printed (the same every run, or an error).
fn measure(command: &mut Command, runs: usize) -> Result<Run> {
    let mut times = Vec::new();
    let mut peak = 0;
    let mut seen: Option<BTreeSet<String>> = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("starting")?;
        let stdout = child.stdout.take().context("the command's stdout")?;
        let reader = std::thread::spawn(move || std::io::read_to_string(stdout));
        // Sampled until the process is gone: VmHWM is a high-water mark, so
        // the last sample holds the peak of everything before it.
        let pid = child.id();
        let status = loop {
            peak = peak.max(tree_peak(pid));
            if let Some(status) = child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let out = reader.join().map_err(|_| anyhow::anyhow!("reading the output failed"))??;
        // Findings exit 1 (ours) or 100 (buf); a crash has no exit code,
        // and an input error prints no findings (checked below).
        if status.code().is_none() {
            bail!("exited with {status}");
        }
        let lines: BTreeSet<String> = out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).map(|v| v.to_string()))
            .collect::<Result<_, _>>()
            .context("a finding that is not a JSON line")?;
        if lines.is_empty() && !status.success() {
            bail!("exited with {status} and no findings");
        }
        if seen.as_ref().is_some_and(|s| *s != lines) {
            bail!("two runs printed different findings");
        }
        seen = Some(lines);
    }
    times.sort_by(f64::total_cmp);
    let lines = seen.unwrap_or_default();
    Ok(Run { ms: times[times.len() / 2], peak_kib: peak, findings: lines.len(), lines })
}

/// The largest `VmHWM` of `pid` and its descendants (a wrapper script's
/// child is where the work happens), in KiB.
pub fn tree_peak(pid: u32) -> u64 {
    let mut peak = read_memory(pid).map_or(0, |(_, hwm)| hwm);
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
        peak = peak.max(tree_peak(child));
    }
    peak
}

/// The comparison as a Markdown table.
pub fn render(r: &Googleapis) -> String {
    let out = format!(
        "## googleapis: {} ({} protos) against {} ({} protos), {} run(s) each\n\nload before {} / after {}\n\n",
        r.new, r.new_files, r.old, r.old_files, r.runs, r.load_before, r.load_after
    );
    let mut table = Table::new(&[
        ("gate", Align::Left),
        ("ours", Align::Right),
        ("buf", Align::Right),
        ("wall ours/buf", Align::Right),
        ("peak RSS ours", Align::Right),
        ("peak RSS buf", Align::Right),
        ("RSS ours/buf", Align::Right),
        ("findings ours / buf", Align::Left),
        ("same findings", Align::Left),
    ]);
    for row in &r.rows {
        let buf = row.buf.as_ref();
        let kib = |k: u64| k as f64;
        table.row([
            row.gate.to_owned(),
            ms(row.ours.ms),
            ms(buf.map(|b| b.ms)),
            ratio(row.ours.ms, buf.map(|b| b.ms)),
            mib(kib(row.ours.peak_kib)),
            mib(buf.map(|b| kib(b.peak_kib))),
            ratio(kib(row.ours.peak_kib), buf.map(|b| kib(b.peak_kib))),
            format!("{} / {}", row.ours.findings, buf.map_or("-".to_owned(), |b| b.findings.to_string())),
            match row.same_findings {
                Some(true) => "yes".to_owned(),
                Some(false) => "NO".to_owned(),
                None => "-".to_owned(),
            },
        ]);
    }
    out + &table.finish()
}

/// A path given on the command line, as given.
pub(super) fn git_dir_arg(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if path.join("HEAD").is_file() || path.join(".git").exists() {
        Ok(path)
    } else {
        Err(format!("`{s}` is not a git directory (no HEAD)"))
    }
}
