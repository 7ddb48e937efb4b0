//! The server phases (`domed` beside the bare tonic baseline, in rounds),
//! the conformance suite's rate against `domed`, and the load and fault
//! scenarios of `--load`.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde_json::Value;
use xshell::{Shell, cmd};

use super::process::{Bins, loadgen, start_baseline, start_domed};
use super::report::{
    Conformance, Load, Ratios, Round, Scenarios, ServerMemory, ServerRun, Servers, THROUGHPUTS, median,
};

/// Which server a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Domed,
    Baseline,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Domed => "domed",
            Which::Baseline => "baseline",
        }
    }
}

/// `rounds` rounds of both servers under `dome-loadgen bench`.
pub(super) fn servers(
    sh: &Shell,
    bins: &Bins,
    out_dir: &Path,
    quick: Option<&str>,
    rounds: usize,
    failures: &mut Vec<String>,
) -> Result<Servers> {
    let mut per_round = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Alternating order, so neither server always runs on a machine
        // the other has just warmed or disturbed.
        let order = if round % 2 == 0 { [Which::Domed, Which::Baseline] } else { [Which::Baseline, Which::Domed] };
        let (mut domed, mut baseline) = (None, None);
        for which in order {
            eprintln!("bench: round {} of {rounds}: {}", round + 1, which.name());
            let run = server_run(sh, bins, out_dir, quick, which, failures)?;
            match which {
                Which::Domed => domed = Some(run),
                Which::Baseline => baseline = Some(run),
            }
        }
        per_round.push(Round { domed: domed.unwrap_or_default(), baseline: baseline.unwrap_or_default() });
    }
    let ratios = THROUGHPUTS
        .into_iter()
        .map(|(phase, key, _)| {
            let each: Vec<f64> = per_round
                .iter()
                .filter_map(|r| {
                    let ours = r.domed.report[phase][key].as_f64()?;
                    let base = r.baseline.report[phase][key].as_f64()?;
                    (base > 0.0).then_some(ours / base)
                })
                .collect();
            (phase, Ratios { median: median(each.iter().copied()), rounds: each })
        })
        .collect();
    Ok(Servers {
        rounds,
        domed: ServerRun::median(&per_round.iter().map(|r| &r.domed).collect::<Vec<_>>()),
        baseline: ServerRun::median(&per_round.iter().map(|r| &r.baseline).collect::<Vec<_>>()),
        ratios,
        per_round,
    })
}

/// One server started, loaded by `dome-loadgen bench`, and stopped.
fn server_run(
    sh: &Shell,
    bins: &Bins,
    out_dir: &Path,
    quick: Option<&str>,
    which: Which,
    failures: &mut Vec<String>,
) -> Result<ServerRun> {
    let mut server = match which {
        Which::Domed => start_domed(sh, bins, out_dir, &[], "domed.log")?,
        Which::Baseline => start_baseline(sh, bins, out_dir)?,
    };
    let name = which.name();
    let idle = server.memory();
    eprintln!("bench: {name} at {} (pid {})", server.addr, server.pid());
    let report = loadgen(sh, bins, &server, &["bench"].into_iter().chain(quick).collect::<Vec<_>>())?;
    let after = server.memory();
    if !server.alive() {
        failures.push(format!("{name} exited during the bench"));
    }
    let clean = server.stop(sh)?;
    if which == Which::Domed && !clean {
        failures.push("domed did not shut down cleanly on SIGTERM".to_owned());
    }
    Ok(ServerRun { memory: memory(idle, after, clean), report })
}

/// The memory figures of a server sampled idle and after its load.
fn memory(idle: Option<(u64, u64)>, after: Option<(u64, u64)>, clean_shutdown: bool) -> ServerMemory {
    ServerMemory {
        idle_rss_kib: idle.map(|m| m.0),
        rss_after_kib: after.map(|m| m.0),
        hwm_kib: after.map(|m| m.1),
        clean_shutdown,
    }
}

/// The conformance suite's binary against `domed`: cases per second.
pub(super) fn conformance(sh: &Shell, bins: &Bins, out_dir: &Path, failures: &mut Vec<String>) -> Result<Conformance> {
    let Some(bin) = bins.conformance.as_ref().filter(|b| b.exists()) else {
        return Ok(Conformance::not_measured("the conformance suite has no binary yet"));
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
    // The suite's own JSON report, read by key: it is the suite's format.
    let report: Value =
        sh.read_file(&json_path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or(Value::Null);
    let cases = report["cases"].as_array().cloned().unwrap_or_default();
    if cases.is_empty() {
        return Ok(Conformance {
            passed: output.status.success(),
            ..Conformance::not_measured("the suite wrote no JSON report")
        });
    }
    let count = |status: &str| cases.iter().filter(|c| c["status"] == status).count();
    let ran = cases.len() - count("skip");
    let scenarios = report["scenarios"].as_u64().unwrap_or(0);
    Ok(Conformance {
        measured: true,
        note: String::new(),
        passed: output.status.success(),
        cases: cases.len(),
        ran,
        pass: count("pass"),
        skip: count("skip"),
        elapsed_s: elapsed,
        cases_per_s: ran as f64 / elapsed.max(1e-9),
        scenarios,
        scenarios_per_s: scenarios as f64 / elapsed.max(1e-9),
        server_peak_rss_kib: peak,
    })
}

/// The suite's properties alone against `domed`, with enough cases each
/// for `asked` generated scenarios in all: scenarios per second.
pub(super) fn scenarios(
    sh: &Shell,
    bins: &Bins,
    out_dir: &Path,
    asked: u64,
    failures: &mut Vec<String>,
) -> Result<Scenarios> {
    let Some(bin) = bins.conformance.as_ref().filter(|b| b.exists()) else {
        return Ok(Scenarios { note: "the conformance suite has no binary yet".into(), ..Scenarios::default() });
    };
    // The catalogue marks properties with a `[property, ...]` tag.
    let listing = cmd!(sh, "{bin} --list").quiet().read()?;
    let properties: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains("  [property"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if properties.is_empty() {
        return Ok(Scenarios { note: "the suite lists no property".into(), ..Scenarios::default() });
    }
    let per_property = asked.div_ceil(properties.len() as u64);
    let (filter, cases) = (properties.join(","), per_property.to_string());
    let mut server = start_domed(sh, bins, out_dir, &[], "domed-scenarios.log")?;
    let url = server.url();
    let json_path = out_dir.join("scenarios.json");
    eprintln!("bench: {asked} scenarios ({cases} per property) against domed (pid {})", server.pid());
    let started = Instant::now();
    // A case's time limit well above what its scenarios need: the bench
    // measures the rate, the suite's default limit is for its default size.
    let output = cmd!(
        sh,
        "{bin} --target {url} --filter {filter} --cases {cases} --timeout-secs 600 --quiet --report json {json_path}"
    )
    .quiet()
    .ignore_status()
    .output()?;
    let elapsed = started.elapsed().as_secs_f64();
    sh.write_file(out_dir.join("scenarios.txt"), &output.stdout)?;
    if !server.alive() {
        failures.push("domed exited during the scenarios run".to_owned());
    }
    server.stop(sh)?;
    if !output.status.success() {
        failures.push(format!(
            "the suite's properties failed against domed (see {})",
            out_dir.join("scenarios.txt").display()
        ));
    }
    let report: Value =
        sh.read_file(&json_path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or(Value::Null);
    let properties = report["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), c["scenarios"].as_u64()?)))
        .collect::<std::collections::BTreeMap<_, _>>();
    let scenarios = report["scenarios"].as_u64().unwrap_or(0);
    Ok(Scenarios {
        measured: !properties.is_empty(),
        note: if properties.is_empty() {
            "the suite wrote no JSON report with scenario counts".into()
        } else {
            String::new()
        },
        passed: output.status.success(),
        asked,
        cases_per_property: per_property,
        properties,
        scenarios,
        elapsed_s: elapsed,
        scenarios_per_s: scenarios as f64 / elapsed.max(1e-9),
    })
}

/// The fault scenarios and the retention scenario against `domed` with
/// small limits.
pub(super) fn load(sh: &Shell, bins: &Bins, out_dir: &Path, failures: &mut Vec<String>) -> Result<Load> {
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
    if retention["rss_bounded"] == Value::Bool(false) {
        failures.push("domed's memory grew from one retention wave to the next".to_owned());
    }
    if !retention_alive {
        failures.push("domed exited during the retention scenario".to_owned());
    }
    let hostile = super::hostile::hostile(sh, bins, out_dir, failures)?;
    Ok(Load { faults, faults_server: memory(idle, after, clean), retention, hostile })
}
