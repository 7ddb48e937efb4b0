//! The contract's rules in its prose: each `[rule: id]` marker names the
//! sentence before it, back to the previous marker, paragraph or list
//! item; malformed markers and ids are errors.

use xtask::codegen::rules::{is_rule_id, rules_of};

#[test]
fn sentences_run_back_to_the_previous_marker_paragraph_or_item() {
    let text = "Intro line.\n\nFirst rule holds. [rule: a.one] Second\nrule too. [rule: a.two]\n- An item rule. [rule: a.three]";
    let rules = rules_of(text).unwrap();
    assert_eq!(
        rules,
        vec![
            ("a.one".to_string(), "First rule holds.".to_string()),
            ("a.two".to_string(), "Second rule too.".to_string()),
            ("a.three".to_string(), "An item rule.".to_string()),
        ]
    );
}

#[test]
fn malformed_markers_are_errors() {
    for bad in ["x [rule:a.b]", "x [rule: A.b]", "x [rule: a]", "x [rule: a.b", "[rule: a.b]", "x [rules: a.b]"] {
        assert!(rules_of(bad).is_err(), "{bad:?} was accepted");
    }
    assert!(is_rule_id("cursor.ahead_of_head") && is_rule_id("errors.reason.job_not_found2"));
    assert!(!is_rule_id("cursor") && !is_rule_id("Cursor.x") && !is_rule_id("a..b") && !is_rule_id("1a.b"));
}
