//! Runs the catalogue against a connected server: the capability check
//! first, then the selected cases (in parallel, exclusive ones alone),
//! each under its own timeout, with known failures applied.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dome_sdk::contract;
use dome_sdk::pb;
use futures_util::StreamExt;
use serde::Serialize;

use crate::case::{self, Case, Ctx, Stop};
use crate::error::Error;
use crate::wire::Wire;

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Proptest cases per property.
    pub cases: u32,
    /// The seed; the run replays from it.
    pub seed: u64,
    /// Only cases whose id matches (see [`matches()`]).
    pub filter: Option<String>,
    /// Cases run at once.
    pub jobs: usize,
    /// The time limit of one case.
    pub timeout: Duration,
    /// Known failures: case id to reason.
    pub expected_failures: BTreeMap<String, String>,
    /// The command that replays one failed case, printed after its
    /// failure: `{seed}` and `{id}` are replaced.
    pub replay: String,
}

/// The replay line of a run against the embedded server or a target.
pub const SERVER_REPLAY: &str = "cargo xtask conformance --seed {seed} --filter {id}";

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cases: 16,
            seed: 0,
            filter: None,
            jobs: 2,
            timeout: Duration::from_secs(60),
            expected_failures: BTreeMap::new(),
            replay: SERVER_REPLAY.to_string(),
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed.
    Fail,
    /// It could not run against this server.
    Skip,
    /// It failed and is listed as a known failure.
    ExpectedFail,
    /// It passed although listed as a known failure: the list is stale.
    UnexpectedPass,
}

impl Status {
    /// Whether the status fails the run.
    pub fn fails_run(self) -> bool {
        matches!(self, Status::Fail | Status::UnexpectedPass)
    }

    /// A short upper-case label.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::ExpectedFail => "XFAIL",
            Status::UnexpectedPass => "XPASS",
        }
    }
}

/// One case's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The case id.
    pub id: String,
    /// The rule it checks.
    pub rule: String,
    /// The proto element the rule comes from.
    pub proto: String,
    /// What happened.
    pub status: Status,
    /// Why it failed or was skipped (or the known-failure reason).
    pub message: Option<String>,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// For a property: the generated inputs it ran against the server
    /// (shrinking steps included); `None` for a case that is no property.
    pub scenarios: Option<u64>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where the server was.
    pub target: String,
    /// The server's self-reported version.
    pub server_version: String,
    /// The seed that replays the run.
    pub seed: u64,
    /// Proptest cases per property.
    pub cases_per_property: u32,
    /// Every selected case, in catalogue order.
    pub cases: Vec<CaseReport>,
    /// Generated inputs run against the server, over every property.
    pub scenarios: u64,
    /// Wall time of the run, in milliseconds.
    pub millis: u64,
}

impl Report {
    /// Whether every non-skipped, non-expected case passed (and no listed
    /// known failure passed, which would leave the list stale).
    pub fn success(&self) -> bool {
        !self.cases.iter().any(|c| c.status.fails_run())
    }

    /// How many cases ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.cases.iter().filter(|c| c.status == status).count()
    }

    /// The properties that ran, with the generated inputs each ran.
    pub fn properties(&self) -> impl Iterator<Item = (&str, u64)> {
        self.cases.iter().filter_map(|c| Some((c.id.as_str(), c.scenarios?)))
    }
}

/// Whether a case id matches a filter: comma-separated patterns, each a
/// substring or, with `*`, a glob over the whole id.
pub fn matches(filter: Option<&str>, id: &str) -> bool {
    let Some(filter) = filter else { return true };
    filter
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| if p.contains('*') { glob(p.as_bytes(), id.as_bytes()) } else { id.contains(p) })
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Parses a known-failures list: one case id per line; `#` starts a
/// comment, and the comment on an id's line is its reason.
pub fn parse_expected_failures(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (id, reason) = match line.split_once('#') {
                Some((id, reason)) => (id.trim(), reason.trim()),
                None => (line.trim(), ""),
            };
            (!id.is_empty()).then(|| (id.to_string(), reason.to_string()))
        })
        .collect()
}

/// Reads a known-failures list from a file.
pub fn read_expected_failures(path: &Path) -> Result<BTreeMap<String, String>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(parse_expected_failures(&text))
}

/// Calls `ListCapabilities`, the first thing a run does.
pub async fn capabilities(wire: &Wire) -> Result<pb::ListCapabilitiesResponse, Error> {
    wire.capabilities(pb::ListCapabilitiesRequest {
        correlation_id: "conformance-capabilities".into(),
        api_version: contract::API_VERSION.into(),
    })
    .await
    .map_err(|e| Error::capabilities(e.to_string()))
}

/// What the runner needs of a case of either mode (server cases against
/// an address, client cases against a testee): its report columns and
/// whether it must run alone.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// The case id.
    pub id: String,
    /// The rule it checks.
    pub rule: String,
    /// The proto element the rule comes from.
    pub proto: String,
    /// Whether it must run alone.
    pub exclusive: bool,
    /// The case itself, handed to the body.
    pub case: T,
}

/// Runs the selected cases of `catalogue` against `wire`; `progress` is
/// called as each case ends with the case's line, how many have ended,
/// and how many there are.
pub async fn run(
    wire: &Wire,
    target: &str,
    catalogue: Vec<Case>,
    opts: &RunOptions,
    progress: impl FnMut(&CaseReport, usize, usize),
) -> Result<Report, Error> {
    let started = Instant::now();
    let caps = Arc::new(capabilities(wire).await?);
    let conformance = caps.features.iter().any(|f| f == contract::CONFORMANCE_FEATURE);
    let entries = catalogue
        .into_iter()
        .map(|c| Entry {
            id: c.id.clone(),
            rule: c.rule.clone(),
            proto: c.proto.clone(),
            exclusive: c.exclusive,
            case: c,
        })
        .collect();
    let run_one = |case: Case| {
        let ctx = Ctx::new(wire.clone(), caps.clone(), &case.id, opts.seed, opts.cases);
        let timeout = opts.timeout;
        async move {
            let outcome = if case.needs_conformance && !conformance {
                Err(Stop::Skip(format!("the server does not advertise {}", contract::CONFORMANCE_FEATURE)))
            } else {
                match tokio::time::timeout(timeout, (case.body)(ctx.clone())).await {
                    Ok(r) => r,
                    Err(_) => {
                        ctx.abandoned.store(true, Ordering::Relaxed);
                        Err(Stop::Fail(format!(
                            "timed out after {} s (--timeout-secs): the server hung or is too slow",
                            timeout.as_secs()
                        )))
                    }
                }
            };
            let stuck = case::cleanup(&ctx).await;
            // Every case must be stuck-free: a job it leaves behind that a
            // cancel does not end is a failure of the case.
            let outcome = match outcome {
                Ok(()) if !stuck.is_empty() => Err(Stop::Fail(format!(
                    "after the case, these jobs did not end even when cancelled: {}",
                    stuck.join(", ")
                ))),
                other => other,
            };
            let scenarios = case.property.then(|| ctx.scenarios.load(Ordering::Relaxed));
            (outcome, scenarios)
        }
    };
    let cases = run_entries(entries, opts, run_one, progress).await?;
    Ok(Report {
        target: target.to_string(),
        server_version: caps.server_version.clone(),
        seed: opts.seed,
        cases_per_property: opts.cases,
        scenarios: cases.iter().filter_map(|c| c.scenarios).sum(),
        cases,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// How a case of either mode ended: its outcome and, for a property, the
/// scenarios it ran.
pub type Ran = (Result<(), Stop>, Option<u64>);

/// The mode-neutral part of a run: selects the entries the filter
/// matches, checks the known-failures list against them, runs them (up to
/// `opts.jobs` at once, exclusive ones alone afterwards) with `body`, and
/// turns each outcome into its report line, in catalogue order. `body`
/// owns the case's timeout (only it knows what to abandon) and yields the
/// outcome with, for a property, the scenarios it ran.
pub async fn run_entries<T, F, Fut>(
    catalogue: Vec<Entry<T>>,
    opts: &RunOptions,
    body: F,
    mut progress: impl FnMut(&CaseReport, usize, usize),
) -> Result<Vec<CaseReport>, Error>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Ran>,
{
    let selected: Vec<(usize, Entry<T>)> =
        catalogue.into_iter().filter(|c| matches(opts.filter.as_deref(), &c.id)).enumerate().collect();
    if let Some(unknown) = opts.expected_failures.keys().find(|id| !selected.iter().any(|(_, c)| &c.id == *id)) {
        // A listed id that names no selected case is left alone when a
        // filter narrows the run, and is an error otherwise (a typo).
        if opts.filter.is_none() {
            return Err(Error::usage(format!(
                "the known-failures list names `{unknown}`, which is no case id (see --list)"
            )));
        }
    }
    let total = selected.len();
    let mut results: Vec<Option<CaseReport>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    let (shared, exclusive): (Vec<_>, Vec<_>) = selected.into_iter().partition(|(_, c)| !c.exclusive);
    let run_one = |(i, entry): (usize, Entry<T>)| {
        let Entry { id, rule, proto, case, .. } = entry;
        let outcome = body(case);
        async move {
            let t0 = Instant::now();
            let outcome = outcome.await;
            (i, id, rule, proto, outcome, t0.elapsed())
        }
    };
    let shared_runs: Vec<_> = shared.into_iter().map(run_one).collect();
    let exclusive_runs: Vec<_> = exclusive.into_iter().map(run_one).collect();
    let mut record =
        |(i, id, rule, proto, (outcome, scenarios), elapsed): (usize, String, String, String, Ran, Duration)| {
            let known = opts.expected_failures.get(&id);
            let (status, message) = match (outcome, known) {
                (Ok(()), None) => (Status::Pass, None),
                (Ok(()), Some(reason)) => (
                    Status::UnexpectedPass,
                    Some(format!("listed as a known failure ({reason}) but passed: remove it from the list")),
                ),
                (Err(Stop::Skip(why)), _) => (Status::Skip, Some(why)),
                (Err(Stop::Fail(why)), None) => (
                    Status::Fail,
                    Some(format!(
                        "{why}\nreplay: {}",
                        opts.replay.replace("{seed}", &opts.seed.to_string()).replace("{id}", &id)
                    )),
                ),
                (Err(Stop::Fail(why)), Some(reason)) => {
                    (Status::ExpectedFail, Some(format!("known failure ({reason}): {why}")))
                }
            };
            let report = CaseReport { id, rule, proto, status, message, millis: elapsed.as_millis() as u64, scenarios };
            done += 1;
            progress(&report, done, total);
            results[i] = Some(report);
        };
    let mut stream = futures_util::stream::iter(shared_runs).buffer_unordered(opts.jobs.max(1));
    while let Some(r) = stream.next().await {
        record(r);
    }
    drop(stream);
    for run in exclusive_runs {
        record(run.await);
    }
    Ok(results.into_iter().flatten().collect())
}
