//! `cargo xtask ssot`: the gate that keeps the contract aligned with dome's
//! SSOT families.
//!
//! It reads the compiled descriptor set (never proto text) and fails when:
//! - a message of the service surface (every message of the contract's
//!   package reachable from an RPC's request or response, transitively) has
//!   neither a family nor a delta in its `(dome.gateway.v1.ssot)` option;
//! - a delta id used in the proto has no row in `ssot/deltas.json`, a row
//!   is used by no message (it names nothing in the proto), or a row
//!   introduces an element the proto does not have;
//! - a message mapped onto a family does not fit it: proptest generates
//!   contract-valid instances (`dome_ssot::arbitrary`), projects each with
//!   `dome_ssot::project` and validates it against the family's schema with
//!   `jsonschema`; the first failure is shrunk and reported with the
//!   message's `Debug`, its JSON and the schema's complaints. How many
//!   instances: a floor (`--cases`), then on while the projections keep
//!   showing shapes not seen before, within a ceiling ([`fit`]).
//!
//! The gate is a library function over a proto root and a register path,
//! so tests run it on mutated copies.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Result, bail};
use dome_ssot::{Family, SUBJECTS, Subject, Violation, subject};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use prost_reflect::DescriptorPool;
use serde_json::Value;

use crate::descriptors::{compile_tree, locate};
use crate::facts::{Element, PACKAGE, Register, SsotRow, read_register, resolve, ssot_rows, surface};
use crate::paths::{DELTAS, PROTO_DIR};

/// The proptest seed the gate uses unless told otherwise; printed with
/// every result so that any run can be replayed with `--seed`.
pub const DEFAULT_SEED: u64 = 0x00d0_3e55_07a1_1905;
/// How many instances of each mapped message the gate checks at least by
/// default (it goes on while it finds new shapes; see [`fit`]). On the
/// contract, every mapping shows the same shapes with this floor as with
/// twice it, and a search still finding shapes may go on to 1,024.
pub const DEFAULT_CASES: u32 = 128;

/// How hard and from where the projection checks search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Instances generated per mapped message, at least (see [`fit`]).
    pub cases: u32,
    /// The proptest seed.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { cases: DEFAULT_CASES, seed: DEFAULT_SEED }
    }
}

/// What kind of problem the gate found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A surface message has neither a family nor a delta.
    Unmapped,
    /// A message names a family `dome_ssot` has no schema for.
    UnknownFamily,
    /// A message is mapped onto a family but `dome_ssot` has no projection
    /// for it.
    NoProjection,
    /// A mapped message's projection does not fit its family.
    Misfit,
    /// `dome-ssot` projects a message that the proto maps onto no family
    /// (the projection and the contract have drifted apart).
    StaleProjection,
    /// A delta used in the proto has no register row.
    UnregisteredDelta,
    /// A register row is used by no message of the proto.
    UnusedDelta,
    /// A register row is malformed: a duplicate id, an unknown element,
    /// change or family.
    BadRow,
}

/// One reason the gate fails.
#[derive(Debug, Clone)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The message or delta id concerned.
    pub subject: String,
    /// What is wrong and how to fix it.
    pub detail: String,
    /// Where the message concerned is declared (`file:line:column`, the
    /// file relative to the proto root); `None` for register rows.
    pub location: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{:?} `{}`: {}", self.kind, self.subject, self.detail)
    }
}

/// A mapped message whose projection failed its family, shrunk.
#[derive(Debug, Clone)]
pub struct Misfit {
    /// The seed of the run that found it.
    pub seed: u64,
    /// The shrunk instance, pretty `Debug`.
    pub instance: String,
    /// Its projection, pretty JSON.
    pub json: String,
    /// What the schema says is wrong with it.
    pub violations: Vec<Violation>,
    /// Set instead of the above when the search itself gave up.
    pub aborted: Option<String>,
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reason) = &self.aborted {
            return write!(f, "the search gave up (seed {:#018x}): {reason}", self.seed);
        }
        writeln!(f, "a contract-valid instance does not fit (seed {:#018x}); shrunk instance:", self.seed)?;
        writeln!(f, "{}", indent(&self.instance))?;
        writeln!(f, "  its projection:")?;
        writeln!(f, "{}", indent(&self.json))?;
        write!(f, "  schema errors:")?;
        for v in &self.violations {
            write!(f, "\n    - {v}")?;
        }
        Ok(())
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// The outcome of one projection check that passed.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The message, by its name within the package.
    pub message: String,
    /// The family it projects onto, with the object when it is a part.
    pub target: String,
    /// Instances checked.
    pub cases: u32,
    /// Distinct shapes among their projections.
    pub shapes: usize,
    /// How long the check took, in milliseconds.
    pub millis: u128,
}

/// Everything the gate found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The surface messages, by full name, in discovery order.
    pub surface: Vec<String>,
    /// The `(ssot)` rows of the package.
    pub rows: Vec<SsotRow>,
    /// The projection checks that passed.
    pub fits: Vec<Fit>,
    /// Why the gate fails; empty when it passes.
    pub problems: Vec<Problem>,
}

/// Runs the gate on the proto tree at `proto_root` with the register at
/// `deltas`. Returns the report; an `Err` means the inputs could not be
/// read at all (a proto that does not compile, a register that does not
/// parse).
pub fn check(proto_root: &Path, deltas: &Path, options: &Options) -> Result<Report> {
    let compiled = std::thread::scope(|scope| {
        // The family schemas compile into validators (once per process)
        // while protox compiles the tree.
        scope.spawn(|| dome_ssot::schema_version(Family::WorkQueue));
        compile_tree(proto_root, &[])
    })?;
    let register = read_register(deltas)?;
    check_pool(&compiled.pool, &register, options)
}

/// [`check`] on a compiled pool and a parsed register.
pub fn check_pool(pool: &DescriptorPool, register: &Register, options: &Options) -> Result<Report> {
    let rows = ssot_rows(pool)?;
    let by_name: BTreeMap<&str, &SsotRow> = rows.iter().map(|r| (r.message.as_str(), r)).collect();
    let mut report = Report::default();
    let prefix = format!("{PACKAGE}.");

    // 1. Every surface message is mapped or a delta.
    for message in surface(pool) {
        let name = message.full_name().to_string();
        let row = by_name.get(name.as_str());
        let mapped = row.is_some_and(|r| r.family.is_some());
        let delta = row.is_some_and(|r| r.delta.as_deref().is_some_and(|d| !d.is_empty()));
        if !mapped && !delta {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::Unmapped,
                subject: name.clone(),
                detail: format!(
                    "message of the service surface has neither an SSOT family nor a delta; fix: give it \
                     `option (ssot) = {{ family: SSOT_FAMILY_... rationale: \"...\" }};` or a `delta:` that \
                     `{DELTAS}` registers"
                ),
            });
        } else if row.is_some_and(|r| r.rationale.trim().is_empty()) {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::Unmapped,
                subject: name.clone(),
                detail: "its `(ssot)` option has no rationale; fix: say in one sentence why it maps as it does".into(),
            });
        }
        report.surface.push(name);
    }

    // 2. The register and the deltas the proto uses agree.
    let mut used: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in &rows {
        if let Some(delta) = row.delta.as_deref().filter(|d| !d.is_empty()) {
            used.entry(delta).or_default().push(&row.message);
        }
    }
    let mut ids = BTreeSet::new();
    for row in &register.deltas {
        if !ids.insert(row.id.as_str()) {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::BadRow,
                subject: row.id.clone(),
                detail: format!("the id appears more than once in `{DELTAS}`; fix: merge the rows"),
            });
        }
        if !used.contains_key(row.id.as_str()) {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::UnusedDelta,
                subject: row.id.clone(),
                detail: format!(
                    "the register row names nothing in the proto: no message's `(ssot)` option uses it; fix: \
                     remove the row from `{DELTAS}` or use the id in the messages it covers"
                ),
            });
        }
        if !matches!(row.change.as_str(), "new" | "extends") {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::BadRow,
                subject: row.id.clone(),
                detail: format!("`change` is {:?}; it must be \"new\" or \"extends\"", row.change),
            });
        }
        if (row.change == "extends") == row.families.is_empty() {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::BadRow,
                subject: row.id.clone(),
                detail: "a delta that `extends` names the families it extends, and a `new` one names none".into(),
            });
        }
        for family in &row.families {
            if Family::from_name(family).is_none() {
                report.problems.push(Problem {
                    location: None,
                    kind: ProblemKind::BadRow,
                    subject: row.id.clone(),
                    detail: format!("`families` names {family:?}, which is not an SSOT family"),
                });
            }
        }
        if row.introduces.is_empty() {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::BadRow,
                subject: row.id.clone(),
                detail: "`introduces` is empty; list the contract elements the delta adds".into(),
            });
        }
        for element in &row.introduces {
            match resolve(pool, element) {
                None => report.problems.push(Problem {
                    location: None,
                    kind: ProblemKind::BadRow,
                    subject: row.id.clone(),
                    detail: format!(
                        "introduces `{element}`, which is not in the proto (as `{prefix}{element}`); fix: correct \
                         or remove it in `{DELTAS}`"
                    ),
                }),
                Some(Element::Message(name)) => {
                    let own = by_name.get(name.as_str()).and_then(|r| r.delta.as_deref());
                    if own != Some(row.id.as_str()) {
                        report.problems.push(Problem {
                            location: None,
                            kind: ProblemKind::BadRow,
                            subject: row.id.clone(),
                            detail: format!(
                                "introduces the message `{element}`, whose `(ssot)` option says {}",
                                own.map_or("it is no delta".to_string(), |d| format!("it is `{d}`"))
                            ),
                        });
                    }
                }
                Some(_) => {}
            }
        }
    }
    for (delta, messages) in &used {
        if !ids.contains(delta) {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::UnregisteredDelta,
                subject: (*delta).to_string(),
                detail: format!(
                    "used by {} but has no row in `{DELTAS}`; fix: add a row with its rationale and the elements \
                     it introduces",
                    messages.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }

    // 3. Every mapped message fits its family (the searches run side by
    // side, each from the same seed as it would alone).
    let mut searches = Vec::new();
    for row in &rows {
        let Some(family_name) = row.family.as_deref() else { continue };
        let short = row.message.strip_prefix(&prefix).unwrap_or(&row.message);
        let dotted = family_name.to_ascii_lowercase().replace('_', ".");
        let Some(family) = Family::from_name(&dotted) else {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::UnknownFamily,
                subject: row.message.clone(),
                detail: format!("is mapped onto `{family_name}`, for which `dome-ssot` has no schema"),
            });
            continue;
        };
        let Some(subject) = subject(short) else {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::NoProjection,
                subject: row.message.clone(),
                detail: format!(
                    "is mapped onto `{family}` but `dome-ssot` has no projection for it; fix: add \
                     `project_...` to `ssot/src/project.rs`, a strategy to `ssot/src/arbitrary.rs` and a row to \
                     `dome_ssot::SUBJECTS`"
                ),
            });
            continue;
        };
        searches.push((row, short, family, subject));
    }
    for ((row, short, family, subject), (outcome, millis)) in
        searches.iter().zip(in_parallel(&searches, |&(_, _, family, subject)| fit_subject(subject, family, options)))
    {
        match outcome {
            Ok(search) => report.fits.push(Fit {
                message: short.to_string(),
                target: target_name(*family, subject.object),
                cases: search.cases,
                shapes: search.shapes,
                millis,
            }),
            Err(misfit) => report.problems.push(Problem {
                location: None,
                kind: ProblemKind::Misfit,
                subject: row.message.clone(),
                detail: format!(
                    "does not fit `{}` through `dome_ssot::{}`: {misfit}",
                    target_name(*family, subject.object),
                    subject.projection
                ),
            }),
        }
    }
    for sub in SUBJECTS {
        let name = format!("{prefix}{}", sub.message);
        let mapped = by_name.get(name.as_str()).is_some_and(|r| r.family.is_some());
        if !mapped {
            report.problems.push(Problem {
                location: None,
                kind: ProblemKind::StaleProjection,
                subject: name,
                detail: format!(
                    "`dome_ssot::{}` projects it, but the proto maps it onto no family; fix: restore its `(ssot)` \
                     family, or remove the projection, its strategy and its row of `dome_ssot::SUBJECTS`",
                    sub.projection
                ),
            });
        }
    }
    for problem in &mut report.problems {
        if let Some(message) = pool.get_message_by_name(&problem.subject) {
            let at = locate(message.parent_file().file_descriptor_proto(), message.path());
            problem.location = Some(format!("{}:{}:{}", at.file, at.line, at.column));
        }
    }
    report.rows = rows;
    Ok(report)
}

/// `work` applied to every item, on as many threads as the machine has
/// cores (at most one per item), each result with how long it took in
/// milliseconds, in the order of `items`.
fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<(R, u128)> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(items.len()).max(1);
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let started = Instant::now();
                    let result = work(item);
                    let millis = started.elapsed().as_millis();
                    done.lock().unwrap_or_else(PoisonError::into_inner).push((index, result, millis));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(PoisonError::into_inner);
    done.sort_by_key(|(index, _, _)| *index);
    done.into_iter().map(|(_, result, millis)| (result, millis)).collect()
}

fn target_name(family: Family, object: Option<&str>) -> String {
    object.map_or_else(|| family.name().to_string(), |o| format!("{family} `{o}`"))
}

/// Checks one subject against `family` with its `dome_ssot` strategy and
/// projection. Returns what the search checked.
pub fn fit_subject(subject: &Subject, family: Family, options: &Options) -> Result<Search, Misfit> {
    let target = Target { family, object: subject.object };
    fit(&(subject.arbitrary)(), |projected| projected.json.clone(), target, options)
}

/// What a projection is validated against: a family's record, or one of
/// its `$defs` objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The family.
    pub family: Family,
    /// The object of the family, when the message is a part of a record.
    pub object: Option<&'static str>,
}

impl Target {
    /// Validates `value` against the target.
    pub fn validate(&self, value: &Value) -> Result<(), Vec<Violation>> {
        match self.object {
            None => dome_ssot::validate(self.family, value),
            Some(object) => dome_ssot::validate_object(self.family, object, value),
        }
    }
}

/// The proptest configuration of the gate: no persistence files, bounded
/// shrinking. (The case count is the gate's own; see [`fit`].)
pub fn config(options: &Options) -> Config {
    Config {
        cases: options.cases,
        failure_persistence: None,
        max_shrink_iters: 10_000,
        max_shrink_time: 30_000,
        ..Config::default()
    }
}

/// How far past its floor a search may go while it keeps finding new
/// shapes: at most this many times `Options::cases` instances.
pub const CEILING_FACTOR: u32 = 8;

/// What one search checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Search {
    /// Instances generated, projected and validated.
    pub cases: u32,
    /// Distinct shapes among their projections (see [`Shapes`]).
    pub shapes: usize,
}

/// Generates instances with `strategy` from `options.seed`, projects each
/// with `project` and validates it against `target`; on the first
/// failure, shrinks it and returns the minimal instance with its
/// projection and the schema's complaints.
///
/// How many: `options.cases` at least; after that the search goes on while
/// the projections keep showing shapes it has not seen (a key of the
/// family's schema present or absent, an `enum` word of the schema, an
/// empty or a full array, ...: [`Shapes`]), and stops once the latter half
/// of the instances so far showed none (it has searched as long without
/// news as it took to find the last), or at [`CEILING_FACTOR`] times the
/// floor. So a message whose projections vary little costs its floor, and
/// one with rare branches is searched until they stop turning up.
///
/// Generic in the projection so that tests can hand it a deliberately
/// broken one.
pub fn fit<S>(
    strategy: &S,
    project: impl Fn(&S::Value) -> Value,
    target: Target,
    options: &Options,
) -> Result<Search, Misfit>
where
    S: Strategy,
    S::Value: fmt::Debug,
{
    // XorShift rather than proptest's default ChaCha: the generator's own
    // randomness was the largest cost of the search, and nothing here
    // needs cryptographic quality. The seed still replays the run.
    let mut seed = [0u8; 16];
    seed[..8].copy_from_slice(&options.seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::XorShift, &seed);
    let mut runner = TestRunner::new_with_rng(config(options), rng);
    let aborted = |reason: String| Misfit {
        seed: options.seed,
        instance: String::new(),
        json: String::new(),
        violations: Vec::new(),
        aborted: Some(reason),
    };
    let floor = options.cases.max(1);
    let ceiling = floor.saturating_mul(CEILING_FACTOR);
    let mut shapes = Shapes::of(target);
    let mut quiet = 0;
    let mut cases = 0;
    while cases < ceiling && (cases < floor || quiet * 2 < cases) {
        let tree = strategy.new_tree(&mut runner).map_err(|reason| aborted(reason.to_string()))?;
        let json = project(&tree.current());
        cases += 1;
        if target.validate(&json).is_err() {
            return Err(shrink(&mut runner, tree, &project, target, options).unwrap_or_else(aborted));
        }
        if shapes.add(&json) { quiet = 0 } else { quiet += 1 }
    }
    Ok(Search { cases, shapes: shapes.len() })
}

/// Shrinks a failing instance with proptest's shrinker; the minimal one,
/// or why shrinking gave up.
fn shrink<T: ValueTree>(
    runner: &mut TestRunner,
    tree: T,
    project: &impl Fn(&T::Value) -> Value,
    target: Target,
    options: &Options,
) -> Result<Misfit, String>
where
    T::Value: fmt::Debug,
{
    let result = runner.run_one(tree, |instance| match target.validate(&project(&instance)) {
        Ok(()) => Ok(()),
        Err(violations) => {
            let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
            Err(TestCaseError::fail(text.join("; ")))
        }
    });
    match result {
        Err(TestError::Fail(_, instance)) => {
            let json = project(&instance);
            Ok(Misfit {
                seed: options.seed,
                instance: format!("{instance:#?}"),
                json: serde_json::to_string_pretty(&json).unwrap_or_else(|e| format!("<not printable: {e}>")),
                violations: target.validate(&json).err().unwrap_or_default(),
                aborted: None,
            })
        }
        Err(TestError::Abort(reason)) => Err(reason.to_string()),
        Ok(_) => Err("an instance failed once and passed when run again".to_string()),
    }
}

/// The shapes a search has seen, in the words of the target's schema: for
/// each place in a projection (a path of the schema's property names,
/// `*` for any other key and `[]` for any array element), what was there:
/// null, true or false, a negative, zero, positive or fractional number,
/// an empty string, one of the schema's `enum` or `const` words, some
/// other string, an empty, one-element or longer array, an object.
#[derive(Debug)]
pub struct Shapes {
    keys: BTreeSet<String>,
    words: BTreeSet<String>,
    seen: HashSet<String>,
}

impl Shapes {
    /// No shape seen yet; the vocabulary of `target`'s family schema.
    pub fn of(target: Target) -> Shapes {
        fn vocabulary(schema: &Value, keys: &mut BTreeSet<String>, words: &mut BTreeSet<String>) {
            match schema {
                Value::Object(map) => {
                    for (key, value) in map {
                        match (key.as_str(), value) {
                            ("properties", Value::Object(properties)) => keys.extend(properties.keys().cloned()),
                            ("enum", Value::Array(values)) => {
                                words.extend(values.iter().filter_map(Value::as_str).map(str::to_string));
                            }
                            ("const", Value::String(word)) => {
                                words.insert(word.clone());
                            }
                            _ => {}
                        }
                        vocabulary(value, keys, words);
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| vocabulary(item, keys, words)),
                _ => {}
            }
        }
        let (mut keys, mut words) = (BTreeSet::new(), BTreeSet::new());
        if let Ok(schema) = serde_json::from_str::<Value>(dome_ssot::schema_text(target.family)) {
            vocabulary(&schema, &mut keys, &mut words);
        }
        Shapes { keys, words, seen: HashSet::new() }
    }

    /// Records the shapes of `value`; whether any was new.
    pub fn add(&mut self, value: &Value) -> bool {
        let mut path = String::new();
        let mut new = false;
        self.walk(value, &mut path, &mut new);
        new
    }

    /// How many distinct shapes were seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn walk(&mut self, value: &Value, path: &mut String, new: &mut bool) {
        let what = match value {
            Value::Null => "null",
            Value::Bool(true) => "true",
            Value::Bool(false) => "false",
            Value::Number(n) => match n.as_i64() {
                Some(i) if i < 0 => "negative",
                Some(0) => "zero",
                Some(_) => "positive",
                None if n.is_u64() => "positive",
                None => "fraction",
            },
            Value::String(s) if s.is_empty() => "empty",
            Value::String(s) if self.words.contains(s) => s.as_str(),
            Value::String(_) => "text",
            Value::Array(items) => match items.len() {
                0 => "[0]",
                1 => "[1]",
                _ => "[n]",
            },
            Value::Object(_) => "{}",
        };
        // The shape is written after the path in place and copied only
        // when it is new: most are not, and this walk runs on every
        // instance.
        let len = path.len();
        path.push('=');
        path.push_str(what);
        if !self.seen.contains(path.as_str()) {
            self.seen.insert(path.clone());
            *new = true;
        }
        path.truncate(len);
        match value {
            Value::Array(items) => {
                path.push_str("/[]");
                for item in items {
                    self.walk(item, path, new);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    path.push('/');
                    path.push_str(if self.keys.contains(key) { key } else { "*" });
                    self.walk(item, path, new);
                    path.truncate(len);
                }
            }
            _ => {}
        }
        path.truncate(len);
    }
}

/// A one-screen account of a report.
pub fn render(report: &Report, options: &Options) -> String {
    let mut s = String::new();
    let mapped = report.rows.iter().filter(|r| r.family.is_some()).count();
    let deltas: BTreeSet<_> = report.rows.iter().filter_map(|r| r.delta.as_deref()).collect();
    let _ = writeln!(
        s,
        "ssot: {} surface messages; {mapped} messages mapped onto families, {} delta ids in use",
        report.surface.len(),
        deltas.len()
    );
    for fit in &report.fits {
        let _ = writeln!(
            s,
            "ssot: {} -> {}: {} instances fit, {} shapes ({} ms)",
            fit.message, fit.target, fit.cases, fit.shapes, fit.millis
        );
    }
    let _ = writeln!(s, "ssot: proptest seed {:#018x} (replay with `--seed {:#x}`)", options.seed, options.seed);
    s
}

/// The `cargo xtask ssot` entry point, on the repository at `root`.
pub fn main(root: &Path, options: &Options) -> Result<()> {
    let report = check(&root.join(PROTO_DIR), &root.join(DELTAS), options)?;
    eprint!("{}", render(&report, options));
    if report.problems.is_empty() {
        eprintln!("ssot: every surface message is mapped or a registered delta, and every projection fits");
        return Ok(());
    }
    for problem in &report.problems {
        eprintln!("error: {problem}");
    }
    bail!("the SSOT gate found {} problem(s); see above", report.problems.len())
}

/// The flags of `cargo xtask ssot`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Instances generated per mapped message, at least; the gate goes on
    /// while they show new shapes, up to 8 times as many.
    #[arg(long, default_value_t = DEFAULT_CASES)]
    pub cases: u32,
    /// The proptest seed (decimal or 0x hex); printed by every run.
    #[arg(long, value_parser = parse_seed, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

impl From<&Args> for Options {
    fn from(args: &Args) -> Options {
        Options { cases: args.cases, seed: args.seed }
    }
}

/// Parses a seed given as decimal or `0x` hex.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    };
    parsed.map_err(|e| format!("not a seed (decimal or 0x hex): {e}"))
}
