//! Processes the bench starts and measures: commands timed over several
//! runs, servers started on loopback and stopped, their memory read from
//! `/proc`, and `dome-loadgen` run against them.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

/// The release binaries the bench runs.
pub(super) struct Bins {
    pub(super) xtask: PathBuf,
    pub(super) domed: PathBuf,
    pub(super) loadgen: PathBuf,
    pub(super) conformance: Option<PathBuf>,
    /// A copy of the workspace with a projection bug planted, and its
    /// xtask (see `gates::planted_xtask`).
    pub(super) planted: Option<(PathBuf, PathBuf)>,
}

/// Builds one command to run on a shell.
pub(super) type MakeCmd = Box<dyn for<'a> Fn(&'a Shell) -> xshell::Cmd<'a>>;

/// Runs `make(sh)` `runs` times; the median wall time in milliseconds and
/// whether every run exited 0 (a command that flips between runs is an
/// error).
pub(super) fn time_runs(sh: &Shell, runs: usize, make: &MakeCmd) -> Result<(f64, bool)> {
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

/// An argument: a path or a plain word.
#[derive(Clone)]
pub(super) enum PathOrStr {
    P(PathBuf),
    S(&'static str),
}

impl PathOrStr {
    pub(super) fn os(&self) -> &OsStr {
        match self {
            PathOrStr::P(p) => p.as_os_str(),
            PathOrStr::S(s) => OsStr::new(s),
        }
    }
}

/// A server process started by the bench, stopped when dropped.
pub(super) struct Server {
    child: Child,
    pub(super) addr: String,
    pub(super) name: &'static str,
}

impl Server {
    /// Starts `command` and waits (at most 30 s) for the stdout line
    /// `<banner> ADDR`; stderr goes to `log`.
    pub(super) fn start(name: &'static str, command: xshell::Cmd<'_>, banner: &str, log: &Path) -> Result<Server> {
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

    pub(super) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `(VmRSS, VmHWM)` now, in KiB.
    pub(super) fn memory(&mut self) -> Option<(u64, u64)> {
        read_memory(self.pid())
    }

    /// Whether the process is still running (a panic would have ended it).
    pub(super) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and reports
    /// whether it exited cleanly within 15 s; SIGKILL after that.
    pub(super) fn stop(self, sh: &Shell) -> Result<bool> {
        Ok(self.stop_timed(sh)?.0)
    }

    /// [`Server::stop`], with the seconds from SIGTERM to the exit (read
    /// every 10 ms; `None` when it had to be killed).
    pub(super) fn stop_timed(mut self, sh: &Shell) -> Result<(bool, Option<f64>)> {
        let pid = self.pid().to_string();
        let started = Instant::now();
        cmd!(sh, "kill -TERM {pid}").quiet().ignore_status().run()?;
        let deadline = started + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status.success(), Some(started.elapsed().as_secs_f64())));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("{} did not stop within 15 s of SIGTERM; killing it", self.name);
        self.child.kill()?;
        self.child.wait()?;
        Ok((false, None))
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
pub(super) fn read_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS")?, field("VmHWM")?))
}

/// Starts the release `domed` on an ephemeral loopback port with `extra`
/// flags, its log in `out_dir/log`.
pub(super) fn start_domed(sh: &Shell, bins: &Bins, out_dir: &Path, extra: &[&str], log: &str) -> Result<Server> {
    start_domed_under(sh, bins, out_dir, &[], extra, log)
}

/// [`start_domed`] run through `wrapper` (a program and its arguments
/// that then runs `domed`, such as `prlimit --nofile=64:64`).
pub(super) fn start_domed_under(
    sh: &Shell,
    bins: &Bins,
    out_dir: &Path,
    wrapper: &[&str],
    extra: &[&str],
    log: &str,
) -> Result<Server> {
    let domed = &bins.domed;
    let command = match wrapper.split_first() {
        None => cmd!(sh, "{domed} --listen 127.0.0.1:0 {extra...}"),
        Some((program, args)) => cmd!(sh, "{program} {args...} {domed} --listen 127.0.0.1:0 {extra...}"),
    };
    Server::start("domed", command.env("RUST_LOG", "warn"), "domed listening on ", &out_dir.join(log))
}

/// Starts the bare tonic baseline (`dome-loadgen baseline-server`).
pub(super) fn start_baseline(sh: &Shell, bins: &Bins, out_dir: &Path) -> Result<Server> {
    let loadgen = &bins.loadgen;
    let command = cmd!(sh, "{loadgen} baseline-server --listen 127.0.0.1:0");
    Server::start("the baseline", command, "baseline listening on ", &out_dir.join("baseline.log"))
}

/// Runs a `dome-loadgen` subcommand against `server` and parses its JSON:
/// the boundary where the load generator's untyped report enters.
pub(super) fn loadgen(sh: &Shell, bins: &Bins, server: &Server, args: &[&str]) -> Result<Value> {
    let loadgen = &bins.loadgen;
    let (url, pid) = (server.url(), server.pid().to_string());
    let out = cmd!(sh, "{loadgen} {args...} --target {url} --pid {pid}")
        .read()
        .with_context(|| format!("`dome-loadgen {}` against {}", args.join(" "), server.name))?;
    serde_json::from_str(&out).context("reading dome-loadgen's report")
}
