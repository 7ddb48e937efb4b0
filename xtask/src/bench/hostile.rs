//! The hostile clients of `--load`: each `dome-loadgen hostile` scenario
//! against a fresh release `domed`, with the flags it needs said in the
//! report, and the server's health after each.
//!
//! - starvation: default flags; after the probe, with the jobs still
//!   running, SIGTERM and the time to exit against the grace;
//! - budget: `--max-retained-bytes` 256 MiB, so that three times the
//!   budget runs in a minute;
//! - unread streams, oversized strings: default flags;
//! - connections: a 1 s handshake and a 2 s idle timeout, so that waiting
//!   them out is short;
//! - descriptors: default flags under `prlimit --nofile=64:64`;
//! - the empty token: `domed --auth-token ""` and `DOMED_AUTH_TOKEN=`
//!   must not start.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use xshell::Shell;

use super::process::{Bins, Server, loadgen, start_domed, start_domed_under};

/// The grace `domed` gets by default (`--shutdown-grace-secs`).
pub(super) const GRACE_SECS: f64 = 5.0;
/// `--max-retained-bytes` of the budget scenario.
pub const BUDGET_BYTES: u64 = 256 << 20;
/// The timeouts of the connections scenario.
pub(super) const HANDSHAKE_SECS: u64 = 1;
pub(super) const IDLE_SECS: u64 = 2;
/// The descriptor limit of the descriptors scenario.
pub(super) const NOFILE: u64 = 64;

/// What the hostile clients cost the server; each scenario's report is
/// `dome-loadgen hostile`'s, `null` when it failed.
#[derive(Debug, Default, Serialize)]
pub struct Hostile {
    /// The probe's latency while maximal bulk jobs run.
    pub starvation: Value,
    /// Seconds from SIGTERM to exit with the starvation jobs running.
    pub shutdown_s: Option<f64>,
    /// Whether it exited cleanly on that SIGTERM.
    pub shutdown_clean: bool,
    /// Memory with maximal jobs retained up to the budget, and after eviction.
    pub budget: Value,
    /// Memory with streams left unread, held and closed.
    pub unread: Value,
    /// Bytes in and out for requests with oversized strings.
    pub oversized: Value,
    /// How long silent and slow connections were held.
    pub connections: Value,
    /// CPU and recovery with the file descriptors exhausted.
    pub descriptors: Value,
    /// How `domed` answered an empty token, one line per way of giving it.
    pub empty_token: Vec<EmptyToken>,
}

/// One start of `domed` with an empty token.
#[derive(Debug, Serialize)]
pub struct EmptyToken {
    /// How the empty token was given (a flag or a variable).
    pub given_as: &'static str,
    /// Whether it refused to start (exited non-zero within 10 s).
    pub refused: bool,
    /// The last line of its standard error.
    pub said: String,
}

/// Runs every scenario; a scenario that fails, or a server that dies
/// under it, is a broken invariant.
pub(super) fn hostile(sh: &Shell, bins: &Bins, out_dir: &Path, failures: &mut Vec<String>) -> Result<Hostile> {
    let mut report = Hostile::default();

    let server = start_domed(sh, bins, out_dir, &[], "domed-starvation.log")?;
    eprintln!("bench: hostile starvation probe against domed (pid {})", server.pid());
    report.starvation = scenario(sh, bins, &server, &["hostile", "starvation"], "starvation probe", failures);
    let (clean, seconds) = server.stop_timed(sh)?;
    (report.shutdown_clean, report.shutdown_s) = (clean, seconds);
    if !clean {
        failures.push("domed did not exit cleanly on SIGTERM with 64 bulk jobs running".to_owned());
    }

    let budget = BUDGET_BYTES.to_string();
    report.budget = one(sh, bins, out_dir, &[], &["--max-retained-bytes", &budget], "budget", &["budget"], failures)?;
    report.unread = one(sh, bins, out_dir, &[], &[], "unread", &["unread"], failures)?;
    report.oversized = one(sh, bins, out_dir, &[], &[], "oversized", &["oversized"], failures)?;
    let (handshake, idle) = (HANDSHAKE_SECS.to_string(), IDLE_SECS.to_string());
    let flags = ["--handshake-timeout-secs", &handshake, "--idle-timeout-secs", &idle];
    let args = ["connections", "--handshake-timeout-secs", &handshake, "--idle-timeout-secs", &idle];
    report.connections = one(sh, bins, out_dir, &[], &flags, "connections", &args, failures)?;
    if prlimit_exists() {
        let nofile = format!("--nofile={NOFILE}:{NOFILE}");
        let wrapper = ["prlimit", nofile.as_str(), "--"];
        report.descriptors = one(sh, bins, out_dir, &wrapper, &[], "descriptors", &["descriptors"], failures)?;
    }
    report.empty_token = empty_token(bins, failures)?;
    Ok(report)
}

/// One scenario against a fresh `domed` started with `flags`.
#[allow(clippy::too_many_arguments)]
fn one(
    sh: &Shell,
    bins: &Bins,
    out_dir: &Path,
    wrapper: &[&str],
    flags: &[&str],
    name: &str,
    args: &[&str],
    failures: &mut Vec<String>,
) -> Result<Value> {
    let server = start_domed_under(sh, bins, out_dir, wrapper, flags, &format!("domed-{name}.log"))?;
    eprintln!("bench: hostile {name} against domed {} (pid {})", flags.join(" "), server.pid());
    let mut full = vec!["hostile"];
    full.extend_from_slice(args);
    let value = scenario(sh, bins, &server, &full, name, failures);
    let mut server = server;
    if !server.alive() {
        failures.push(format!("domed exited under the hostile {name} scenario"));
    }
    if !server.stop(sh)? {
        failures.push(format!("domed did not stop cleanly after the hostile {name} scenario"));
    }
    Ok(value)
}

fn scenario(sh: &Shell, bins: &Bins, server: &Server, args: &[&str], name: &str, failures: &mut Vec<String>) -> Value {
    match loadgen(sh, bins, server, args) {
        Ok(value) => value,
        Err(e) => {
            failures.push(format!("hostile {name}: {e:#}"));
            Value::Null
        }
    }
}

fn prlimit_exists() -> bool {
    Command::new("prlimit").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Starts `domed` with an empty token as a flag and as the environment
/// variable: each must exit non-zero, saying why, within 10 s.
fn empty_token(bins: &Bins, failures: &mut Vec<String>) -> Result<Vec<EmptyToken>> {
    let ways: [(&'static str, &[&str], Option<&str>); 2] =
        [("--auth-token \"\"", &["--auth-token", ""], None), ("DOMED_AUTH_TOKEN=", &[], Some(""))];
    let mut out = Vec::new();
    for (given_as, args, env) in ways {
        let mut command = Command::new(&bins.domed);
        command.args(["--listen", "127.0.0.1:0"]).args(args).stdin(Stdio::null()).stdout(Stdio::null());
        command.stderr(Stdio::piped()).env_remove("DOMED_AUTH_TOKEN");
        if let Some(value) = env {
            command.env("DOMED_AUTH_TOKEN", value);
        }
        let mut child = command.spawn()?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(10) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.is_none() {
            child.kill()?;
            child.wait()?;
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            pipe.read_to_string(&mut stderr)?;
        }
        let refused = status.is_some_and(|s| !s.success());
        if !refused {
            failures.push(format!("domed started with an empty token given as {given_as}"));
        }
        let said = refusal(&stderr);
        out.push(EmptyToken { given_as, refused, said });
    }
    Ok(out)
}

/// The innermost cause a server printed on refusing to start: the last
/// line of its error chain, above any stack backtrace (printed when
/// `RUST_BACKTRACE` is set).
pub fn refusal(stderr: &str) -> String {
    let chain = stderr.split("Stack backtrace:").next().unwrap_or("");
    chain.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned()
}
