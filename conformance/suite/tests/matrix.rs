//! The traceability matrix gate: the committed `docs/conformance-matrix.md`
//! is what the catalogue renders, and every rule the contract states has a
//! case or a written reason. Shown failing on each kind of gap as well.

use dome_conformance::case::{Case, Ctx};
use dome_conformance::cases::catalogue;
use dome_conformance::matrix::{self, MATRIX_PATH, UNCHECKED};
use dome_sdk::contract::{RULES, RuleSpec};

fn committed() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(MATRIX_PATH);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The drift gate as a plain test, so that `cargo test` catches it too.
#[test]
fn the_committed_matrix_is_current_and_complete() {
    if let Err(e) = matrix::check(&committed(), &catalogue(), RULES, UNCHECKED) {
        panic!("{e}");
    }
}

fn case(id: &str, rules: &[&str]) -> Case {
    Case::new(id, "a rule", "dome.gateway.v1.Job", |_ctx: Ctx| async { Ok(()) }).checks(rules)
}

const RULE_A: RuleSpec = RuleSpec { id: "a.one", text: "A holds.", element: "dome.gateway.v1.Job", file: "x.proto" };
const RULE_B: RuleSpec = RuleSpec { id: "a.two", text: "B holds.", element: "dome.gateway.v1.Job", file: "x.proto" };

#[test]
fn a_rule_without_case_or_reason_fails_and_passes_once_covered() {
    let rules = [RULE_A, RULE_B];
    let cases = vec![case("t.first", &["a.one"])];
    let problems = matrix::problems(&cases, &rules, &[]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("`a.two`") && problems[0].contains("neither a case nor a reason"), "{problems:?}");
    let page = matrix::render(&cases, &rules, &[]);
    assert!(page.contains("**nothing**"));
    assert!(matrix::check(&page, &cases, &rules, &[]).is_err(), "a gap passed the gate");

    // Covered by a case: passes.
    let covered = vec![case("t.first", &["a.one"]), case("t.second", &["a.two"])];
    assert!(matrix::problems(&covered, &rules, &[]).is_empty());
    let page = matrix::render(&covered, &rules, &[]);
    assert!(page.contains("| `a.two` | B holds. | `dome.gateway.v1.Job` | `t.second` |"), "{page}");
    matrix::check(&page, &covered, &rules, &[]).unwrap();

    // Or by a reason: passes, and the reason is shown.
    let reasons = [("a.two", "only the server sees it")];
    let page = matrix::render(&cases, &rules, &reasons);
    assert!(page.contains("not checked: only the server sees it"), "{page}");
    matrix::check(&page, &cases, &rules, &reasons).unwrap();
}

#[test]
fn unknown_rules_stale_reasons_and_drift_fail() {
    let rules = [RULE_A];
    let unknown = vec![case("t.first", &["a.one", "a.nowhere"])];
    let p = matrix::problems(&unknown, &rules, &[]);
    assert!(p.iter().any(|m| m.contains("`a.nowhere`") && m.contains("does not state")), "{p:?}");

    let cases = vec![case("t.first", &["a.one"])];
    let p = matrix::problems(&cases, &rules, &[("a.one", "stale"), ("a.gone", "never stated")]);
    assert!(p.iter().any(|m| m.contains("stale")), "{p:?}");
    assert!(p.iter().any(|m| m.contains("`a.gone`")), "{p:?}");

    let page = matrix::render(&cases, &rules, &[]);
    let edited = page.replace("A holds.", "A holds, mostly.");
    let e = matrix::check(&edited, &cases, &rules, &[]).unwrap_err();
    assert!(e.contains("out of date") && e.contains("--write-matrix"), "{e}");
}
