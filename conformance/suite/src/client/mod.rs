//! Client mode: checks a thin client of the contract, in any language,
//! for what the contract freezes on the client's side (retries,
//! `RetryInfo` delays, idempotency keys, resuming and deduplicating event
//! streams, surfacing gaps, decoding errors, the headers of every call).
//!
//! The client under test runs as a subprocess, the *testee*, which speaks
//! the testee protocol ([`protocol`], JSON lines over stdin and stdout).
//! Each case starts a scripted gateway ([`gateway`]) and a fresh testee,
//! drives the testee's SDK through commands, and judges the SDK by what
//! the gateway recorded and what the testee reported. The cases
//! ([`cases::catalogue`]) carry requirement ids and sentences;
//! `docs/client-spec.md` is rendered from them ([`spec`]). Runs use the
//! same runner, reports, filters, seeds, known-failures lists and
//! timeouts as server mode.

pub mod cases;
pub mod gateway;
pub mod protocol;
pub mod spec;
pub mod testee;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::case::Stop;
use crate::error::Error;
use crate::runner::{self, CaseReport, Entry, Report, RunOptions};

pub use cases::catalogue;
pub use testee::split_command;

/// The result of a client case body.
pub type CaseResult = Result<(), Stop>;

/// A boxed client case body future.
pub type BoxFuture = Pin<Box<dyn Future<Output = CaseResult> + Send + 'static>>;

/// A client case body.
pub type Body = Arc<dyn Fn(ClientCtx) -> BoxFuture + Send + Sync>;

/// One client case: a requirement of the client specification and the
/// check of it.
#[derive(Clone)]
pub struct ClientCase {
    /// Stable snake_case id, `client.group.name`.
    pub id: String,
    /// The requirement id of the client specification (`C-...`).
    pub requirement: String,
    /// The requirement, one sentence a client author can act on.
    pub rule: String,
    /// The proto element the requirement comes from.
    pub proto: String,
    /// The testee profile the case needs.
    pub profile: &'static str,
    /// Whether the case is a property over random fault schedules.
    pub property: bool,
    /// The body.
    pub body: Body,
}

impl std::fmt::Debug for ClientCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCase")
            .field("id", &self.id)
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

impl ClientCase {
    /// A case.
    pub fn new<F, Fut>(
        id: &str,
        requirement: &str,
        profile: &'static str,
        rule: &str,
        proto: &str,
        body: F,
    ) -> ClientCase
    where
        F: Fn(ClientCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CaseResult> + Send + 'static,
    {
        ClientCase {
            id: id.to_string(),
            requirement: requirement.to_string(),
            rule: rule.to_string(),
            proto: proto.to_string(),
            profile,
            property: false,
            body: Arc::new(move |ctx| Box::pin(body(ctx))),
        }
    }

    /// The case is a property.
    pub fn property(mut self) -> ClientCase {
        self.property = true;
        self
    }
}

/// Everything a client case body gets.
#[derive(Debug, Clone)]
pub struct ClientCtx {
    /// The testee's command line.
    pub command: Arc<Vec<String>>,
    /// The case id.
    pub case_id: String,
    /// The run's seed.
    pub seed: u64,
    /// Random schedules per property.
    pub cases: u32,
    /// The time limit of each read from the testee.
    pub read_timeout: Duration,
    /// Set when the case timed out, so that a property stops early.
    pub abandoned: Arc<AtomicBool>,
    /// The schedules a property has run (shrinking steps included).
    pub scenarios: Arc<AtomicU64>,
}

/// What a client run needs.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The testee's command line: the program and its arguments.
    pub command: Vec<String>,
    /// The shape of the run.
    pub run: RunOptions,
}

/// The replay line of a client run; `{command}` is the testee's command.
pub const CLIENT_REPLAY: &str = "cargo xtask conformance --client '{command}' --seed {seed} --filter {id}";

impl ClientOptions {
    /// The time limit of each read from the testee: a quarter of the case
    /// timeout, between 1 and 15 seconds.
    pub fn read_timeout(&self) -> Duration {
        (self.run.timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
    }
}

/// Runs the client catalogue against the testee `options.command`. The
/// testee is started once first to read its greeting: one that cannot
/// start or speaks another protocol version fails the run with an error
/// (nothing could be checked), before any case.
pub async fn run(options: &ClientOptions, progress: impl FnMut(&CaseReport, usize, usize)) -> Result<Report, Error> {
    let started = Instant::now();
    let read_timeout = options.read_timeout();
    let probe = testee::Testee::start(&options.command, read_timeout).await.map_err(|stop| match stop {
        Stop::Fail(why) | Stop::Skip(why) => Error::usage(format!("the testee cannot be used: {why}")),
    })?;
    let hello = probe.hello.clone();
    // How it shuts down is judged by every case, with the case's report.
    let _ = probe.finish().await;
    let command = Arc::new(options.command.clone());
    let joined = options.command.join(" ");
    let mut opts = options.run.clone();
    if opts.replay == runner::SERVER_REPLAY {
        opts.replay = CLIENT_REPLAY.replace("{command}", &joined);
    }
    let entries = catalogue()
        .into_iter()
        .map(|c| Entry {
            id: c.id.clone(),
            rule: format!("{}: {}", c.requirement, c.rule),
            proto: c.proto.clone(),
            exclusive: false,
            case: c,
        })
        .collect();
    let profiles = hello.profiles.clone();
    let body = |case: ClientCase| {
        let ctx = ClientCtx {
            command: command.clone(),
            case_id: case.id.clone(),
            seed: opts.seed,
            cases: opts.cases,
            read_timeout,
            abandoned: Arc::default(),
            scenarios: Arc::default(),
        };
        let abandoned = ctx.abandoned.clone();
        let scenarios = ctx.scenarios.clone();
        let property = case.property;
        let timeout = opts.timeout;
        let has_profile = profiles.iter().any(|p| p == case.profile);
        async move {
            if !has_profile {
                return (
                    Err(Stop::Skip(format!("the testee does not implement the `{}` profile", case.profile))),
                    None,
                );
            }
            let outcome = match tokio::time::timeout(timeout, (case.body)(ctx)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    abandoned.store(true, Ordering::Relaxed);
                    Err(Stop::Fail(format!(
                        "timed out after {} s (--timeout-secs): the testee or its SDK hung",
                        timeout.as_secs()
                    )))
                }
            };
            (outcome, property.then(|| scenarios.load(Ordering::Relaxed)))
        }
    };
    let cases = runner::run_entries(entries, &opts, body, progress).await?;
    Ok(Report {
        target: format!("testee `{joined}`"),
        server_version: format!("{} {}", hello.name, hello.version),
        seed: opts.seed,
        cases_per_property: opts.cases,
        scenarios: cases.iter().filter_map(|c| c.scenarios).sum(),
        cases,
        millis: started.elapsed().as_millis() as u64,
    })
}
