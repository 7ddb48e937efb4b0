//! The traceability matrix: every rule the contract states (the
//! `[rule: ...]` markers of the proto, collected by codegen into
//! `dome_sdk::contract::RULES`), the cases of the catalogue that check it,
//! and, for a rule no case can check from outside a server, the written
//! reason why ([`UNCHECKED`]).
//!
//! The matrix is rendered into `docs/conformance-matrix.md` and gated like
//! generated code: `dome-conformance --check-matrix PATH` (run by `cargo
//! xtask ci` and by this crate's tests) fails when the committed page
//! differs from what the catalogue renders, and when any rule has neither
//! a case nor a reason, a case names a rule the contract does not state, or
//! a reason is given for a rule a case checks (a stale reason).
//! `dome-conformance --write-matrix PATH` rewrites the page.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use dome_sdk::contract::RuleSpec;

use crate::case::Case;

/// Where the matrix lives, relative to the repository root.
pub const MATRIX_PATH: &str = "docs/conformance-matrix.md";

/// The command that rewrites the matrix.
pub const WRITE_COMMAND: &str = "cargo xtask conformance --write-matrix docs/conformance-matrix.md";

/// The rules no case can check from outside a server, each with the reason.
/// A rule belongs here only when no observation a client can make could
/// tell a server that keeps it from one that breaks it.
pub const UNCHECKED: &[(&str, &str)] = &[
    ("client.retry_needs_key", CLIENT),
    ("client.retry_sets_key", CLIENT),
    ("client.dedupe_by_sequence", CLIENT),
    ("client.decide_by_reason", CLIENT),
    ("client.unknown_reason_by_code", CLIENT),
    ("client.no_branch_on_server_version", CLIENT),
    ("client.ignore_unknown_flags", CLIENT),
    ("client.retry_only_retryable", CLIENT),
    (
        "options.no_caller_codes",
        "a rule of the proto's own options, not of a server: `cargo xtask codegen` refuses an `ErrorReason` with such a code, and the error cases check the code each reason travels with",
    ),
    (
        "options.ssot_mapping_required",
        "a rule of the proto's own options, not of a server: `cargo xtask ssot` fails on a surface message without exactly one of the two",
    ),
    (
        "limits.zero_is_none",
        "no finite run can show that a limit is absent; a case only ever observes a limit that exists (and the limit cases skip on a zero, as advertised)",
    ),
    (
        "limits.idempotency_window",
        "seeing a key forgotten means waiting out the window in wall-clock time (seconds at least), and no case of this suite waits on a clock; the key's effect within the window is checked by the idempotency cases",
    ),
    (
        "limits.jobs_retained",
        "pushing a job out of retention takes `max_jobs_retained` jobs of the whole server, which every client of the server shares, so a case cannot tell which jobs left first",
    ),
    (
        "limits.retained_bytes",
        "reaching `max_retained_bytes` takes that many bytes of jobs of the whole server, which every client of the server shares, so a case cannot tell which jobs left first; the eviction it causes is checked through `max_jobs_retained`",
    ),
    (
        "limits.event_bytes_retained",
        "a job's events are dropped by count or by bytes, whichever comes first, and the size a server counts for an event is its own (its encoding and bookkeeping), so no event count tells a case where the byte budget must have cut; the expired cursor it causes is checked through `max_events_retained_per_job`",
    ),
    (
        "limits.job_data_bytes",
        "every input the contract lets a client send is within `max_input_bytes`, and a server's stored form of it is its own, so a case cannot tell from outside which input must pass the budget; the reference server's tests check it",
    ),
    (
        "limits.max_request_bytes",
        "a request over `max_request_bytes` is also over the transport's own decoding limit on most servers, which fail it with RESOURCE_EXHAUSTED before the contract's check can name the limit; `max_input_bytes`, the limit a request can reach, is checked",
    ),
    (
        "errors.message_values_in_metadata",
        "the status message is free text; which of its words are dynamic values cannot be told from outside",
    ),
    (
        "errors.optional_metadata_keys",
        "the only optional keys are those of SHUTTING_DOWN on a stream, which needs the server to shut down while the suite runs",
    ),
    (
        "errors.permission_denied",
        "no call of the contract provokes it on purpose: it depends on the server's authorization policy, which the contract leaves open",
    ),
    (
        "errors.shutting_down",
        "it needs the server to shut down while the suite runs; the reference server's own tests check it",
    ),
    ("errors.internal", "a conforming server breaks no invariant on request"),
];

/// The reason shared by the rules that bind clients rather than servers.
const CLIENT: &str = "an obligation of clients: no observation of a server can check it";

/// Everything wrong with the catalogue's coverage of `rules`: a rule with
/// neither a case nor a reason, a case naming an unknown rule, a reason for
/// an unknown rule, a reason for a rule a case checks, a reason given twice.
pub fn problems(cases: &[Case], rules: &[RuleSpec], unchecked: &[(&str, &str)]) -> Vec<String> {
    let known: BTreeSet<&str> = rules.iter().map(|r| r.id).collect();
    let checkers = checkers(cases);
    let mut out = Vec::new();
    for c in cases {
        for r in &c.rules {
            if !known.contains(r.as_str()) {
                out.push(format!("the case `{}` names the rule `{r}`, which the contract does not state", c.id));
            }
        }
    }
    let mut reasons = BTreeSet::new();
    for (id, reason) in unchecked {
        if !reasons.insert(*id) {
            out.push(format!("the rule `{id}` has two reasons in `UNCHECKED`"));
        }
        if !known.contains(id) {
            out.push(format!("`UNCHECKED` gives a reason for `{id}`, which the contract does not state"));
        } else if let Some(cases) = checkers.get(id) {
            out.push(format!(
                "the rule `{id}` is checked by {}, so its reason in `UNCHECKED` is stale: remove it",
                cases.join(", ")
            ));
        }
        if reason.trim().is_empty() {
            out.push(format!("the reason for `{id}` in `UNCHECKED` is empty"));
        }
    }
    for r in rules {
        if !checkers.contains_key(r.id) && !reasons.contains(r.id) {
            out.push(format!(
                "the rule `{}` ({}: \"{}\") has neither a case nor a reason: name it in the `.checks(..)` of the case \
                 that checks it, or give the reason no case can in `UNCHECKED` (conformance/suite/src/matrix.rs)",
                r.id, r.element, r.text
            ));
        }
    }
    out
}

/// The ids of the cases that check each rule, in catalogue order.
fn checkers(cases: &[Case]) -> BTreeMap<&str, Vec<String>> {
    let mut by_rule: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in cases {
        for r in &c.rules {
            let ids = by_rule.entry(r.as_str()).or_default();
            if !ids.contains(&c.id) {
                ids.push(c.id.clone());
            }
        }
    }
    by_rule
}

/// Renders the matrix page.
pub fn render(cases: &[Case], rules: &[RuleSpec], unchecked: &[(&str, &str)]) -> String {
    let checkers = checkers(cases);
    let reasons: BTreeMap<&str, &str> = unchecked.iter().copied().collect();
    let checked = rules.iter().filter(|r| checkers.contains_key(r.id)).count();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!-- @generated by `{WRITE_COMMAND}` from the `[rule: ...]` markers of `proto/` and the conformance catalogue.\n     \
         Do not edit by hand: mark the rule in the proto, name it in the case that checks it (or give the reason in\n     \
         conformance/suite/src/matrix.rs), run `cargo xtask codegen`, then the command above. -->\n"
    );
    let _ = writeln!(s, "# Conformance matrix\n");
    let _ = writeln!(
        s,
        "Every rule the v1 contract states, where it is stated, and the conformance cases that check it. A rule \
         is a normative sentence of a proto comment (or of `conformance_script.schema.json`) ending with a \
         `[rule: group.name]` marker; the sentence shown is the text before the marker. A rule no case can check \
         from outside a server carries the reason instead. `cargo xtask conformance --list` prints the rules of \
         each case; `--filter` runs the cases of a row.\n"
    );
    let _ = writeln!(
        s,
        "{} rules: {checked} checked by {} cases, {} with a reason no case can check them.",
        rules.len(),
        cases.iter().filter(|c| !c.rules.is_empty()).count(),
        rules.len() - checked
    );
    let mut file = "";
    for r in rules {
        if r.file != file {
            file = r.file;
            let _ = writeln!(s, "\n## `{file}`\n");
            let _ = writeln!(s, "| rule | sentence | element | checked by |");
            let _ = writeln!(s, "| --- | --- | --- | --- |");
        }
        let by = match (checkers.get(r.id), reasons.get(r.id)) {
            (Some(ids), _) => ids.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "),
            (None, Some(reason)) => format!("not checked: {}", cell(reason)),
            (None, None) => "**nothing** (the gate fails)".to_string(),
        };
        let _ = writeln!(s, "| `{}` | {} | `{}` | {by} |", r.id, cell(r.text), r.element);
    }
    s
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Checks the committed page `text` against the catalogue: the problems
/// of [`problems`], then whether the page is current.
pub fn check(text: &str, cases: &[Case], rules: &[RuleSpec], unchecked: &[(&str, &str)]) -> Result<(), String> {
    let problems = problems(cases, rules, unchecked);
    if !problems.is_empty() {
        return Err(format!("the conformance matrix has gaps:\n- {}", problems.join("\n- ")));
    }
    if text.replace("\r\n", "\n") != render(cases, rules, unchecked) {
        return Err(format!("`{MATRIX_PATH}` is out of date: run `{WRITE_COMMAND}` and commit it"));
    }
    Ok(())
}
