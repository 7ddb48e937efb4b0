//! The run's reports: the progress lines, the summary and its exit status,
//! the JSON report and the JUnit XML (escaped, every element closed).

use dome_conformance::report::{progress_line, summary, to_json, to_junit};
use dome_conformance::{CaseReport, Report, Status};

fn report() -> Report {
    let case = |id: &str, status, message: Option<&str>| CaseReport {
        id: id.into(),
        rule: "a rule with <angle> & \"quotes\"".into(),
        proto: "dome.gateway.v1.X".into(),
        status,
        message: message.map(String::from),
        millis: 12,
        scenarios: None,
    };
    let property = |id: &str, status, n: u64| CaseReport { scenarios: Some(n), ..case(id, status, None) };
    Report {
        target: "127.0.0.1:1".into(),
        server_version: "0.1.0".into(),
        seed: 7,
        cases_per_property: 4,
        cases: vec![
            case("a.pass", Status::Pass, None),
            case("a.fail", Status::Fail, Some("expected <1> & got 'two'\x01\nsecond line")),
            case("b.skip", Status::Skip, Some("no feature")),
            case("b.xfail", Status::ExpectedFail, Some("known")),
            property("c.property", Status::Pass, 40),
            property("c.other", Status::Pass, 20),
        ],
        scenarios: 60,
        millis: 1500,
    }
}

#[test]
fn junit_escapes_and_counts() {
    let xml = to_junit(&report());
    assert!(xml.contains("tests=\"6\" failures=\"1\" skipped=\"2\""), "{xml}");
    assert!(xml.contains("<property name=\"scenarios\" value=\"60\"/>"), "the run's total: {xml}");
    assert!(
        xml.contains("name=\"c.property\" time=\"0.012\">\n      <properties><property name=\"scenarios\" value=\"40\"/></properties>\n    </testcase>"),
        "a property's own count: {xml}"
    );
    assert!(xml.contains("message=\"expected &lt;1&gt; &amp; got &apos;two&apos;\u{FFFD}\""), "{xml}");
    assert!(xml.contains("rule: a rule with &lt;angle&gt; &amp; &quot;quotes&quot;"), "{xml}");
    assert!(xml.contains("<testcase classname=\"a\" name=\"a.pass\" time=\"0.012\"/>"), "{xml}");
    assert!(!xml.contains('\x01'));
    // Every opened element is closed.
    assert_eq!(xml.matches("<testcase ").count(), 6);
    assert_eq!(xml.matches("</testcase>").count(), 5, "the three non-passing cases and the properties have bodies");
}

#[test]
fn summary_and_exit_status() {
    let r = report();
    assert!(!r.success());
    let s = summary(&r);
    assert!(s.contains("==> FAIL a.fail"), "{s}");
    let line = progress_line(&r.cases[2], 3, 4);
    assert_eq!(line, "SKIP  [3/4] b.skip (12 ms): no feature");
    assert_eq!(progress_line(&r.cases[4], 5, 6), "PASS  [5/6] c.property (12 ms, 40 scenarios)");
    assert!(
        s.contains("60 scenarios over 2 properties (c.property 40, c.other 20); 1.5 s, 3.3 cases/s, 40.0 scenarios/s"),
        "{s}"
    );
    assert!(s.contains("3 passed, 1 failed, 1 skipped, 1 expected failures"), "{s}");
    assert!(s.ends_with("conformance: FAILED"));
    let mut ok = r.clone();
    ok.cases.retain(|c| c.status != Status::Fail);
    assert!(ok.success());
    let json: serde_json::Value = serde_json::from_str(&to_json(&ok)).expect("json report parses");
    assert_eq!(json["cases"][1]["status"], "skip");
    assert_eq!(json["scenarios"], 60);
    assert_eq!(json["cases"][3]["scenarios"], 40);
    assert_eq!(json["cases"][0]["scenarios"], serde_json::Value::Null, "no property, no count");
}
