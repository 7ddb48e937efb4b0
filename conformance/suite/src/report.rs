//! The reports of a run: a terminal summary (with a progress line per
//! case as it ends), JSON, and JUnit XML that CI systems render, written
//! by hand because it is small.

use std::fmt::Write as _;
use std::path::Path;

use crate::case::Case;
use crate::error::Error;
use crate::runner::{CaseReport, Report, Status};

/// The progress line of one case.
pub fn progress_line(case: &CaseReport, done: usize, total: usize) -> String {
    let width = total.to_string().len();
    // The status word first, so that line tools (`grep ^FAIL`) see it.
    let mut line = format!("{:<5} [{done:>width$}/{total}] {} ({} ms", case.status.label(), case.id, case.millis);
    if let Some(n) = case.scenarios {
        let _ = write!(line, ", {n} scenarios");
    }
    line.push(')');
    if case.status == Status::Skip
        && let Some(m) = &case.message
    {
        let _ = write!(line, ": {m}");
    }
    line
}

/// The summary printed at the end: every failure in full, then counts,
/// the seed, the generated scenarios (in total and per property) and the
/// timing.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    for c in report.cases.iter().filter(|c| c.status.fails_run()) {
        let _ = writeln!(out, "\n==> {} {}\n  rule:  {}\n  proto: {}", c.status.label(), c.id, c.rule, c.proto);
        if let Some(m) = &c.message {
            for line in m.lines() {
                let _ = writeln!(out, "  | {line}");
            }
        }
    }
    let secs = report.millis as f64 / 1000.0;
    let ran = report.cases.len() - report.count(Status::Skip);
    let _ = writeln!(
        out,
        "\n{} cases against {} ({}): {} passed, {} failed, {} skipped, {} expected failures, {} unexpected passes",
        report.cases.len(),
        report.target,
        report.server_version,
        report.count(Status::Pass),
        report.count(Status::Fail),
        report.count(Status::Skip),
        report.count(Status::ExpectedFail),
        report.count(Status::UnexpectedPass),
    );
    let per_second = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
    let properties: Vec<String> = report.properties().map(|(id, n)| format!("{id} {n}")).collect();
    let _ = writeln!(
        out,
        "seed {} ({} proptest cases per property); {} scenarios over {} properties ({}); {secs:.1} s, {:.1} cases/s, {:.1} scenarios/s",
        report.seed,
        report.cases_per_property,
        report.scenarios,
        properties.len(),
        if properties.is_empty() { "none ran".to_string() } else { properties.join(", ") },
        per_second(ran as f64),
        per_second(report.scenarios as f64),
    );
    let _ = write!(out, "{}", if report.success() { "conformance: OK" } else { "conformance: FAILED" });
    out
}

/// The catalogue as `--list` prints it.
pub fn catalogue_listing(cases: &[Case]) -> String {
    let mut out = String::new();
    for c in cases {
        let mut tags = Vec::new();
        if c.property {
            tags.push("property");
        }
        if c.exclusive {
            tags.push("runs alone");
        }
        if !c.needs_conformance {
            tags.push("any server");
        }
        let tags = if tags.is_empty() { String::new() } else { format!("  [{}]", tags.join(", ")) };
        let _ = writeln!(
            out,
            "{}{tags}\n    rule:  {}\n    proto: {}\n    rules: {}",
            c.id,
            c.rule,
            c.proto,
            c.rules.join(", ")
        );
    }
    let _ = write!(out, "{} cases", cases.len());
    out
}

/// The client catalogue as `--client CMD --list` prints it.
pub fn client_catalogue_listing(cases: &[crate::client::ClientCase]) -> String {
    let mut out = String::new();
    for c in cases {
        let property = if c.property { ", property" } else { "" };
        let _ = writeln!(
            out,
            "{}  [{}, profile {}{property}]\n    rule:  {}\n    proto: {}",
            c.id, c.requirement, c.profile, c.rule, c.proto
        );
    }
    let _ = write!(out, "{} client cases", cases.len());
    out
}

/// The report as pretty JSON.
pub fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Escapes text for XML attributes and content; characters XML 1.0
/// cannot carry are replaced.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML: one testsuite, one testcase per case (its
/// group as the classname); failures and stale known failures are
/// `<failure>`, skips and known failures are `<skipped>`.
pub fn to_junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = report.cases.iter().filter(|c| c.status.fails_run()).count();
    let skipped = report.count(Status::Skip) + report.count(Status::ExpectedFail);
    let _ = writeln!(
        out,
        "<testsuites name=\"dome-conformance\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        report.cases.len(),
        report.millis as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"dome.gateway.v1 conformance\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">",
        report.cases.len(),
        report.millis as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "    <properties><property name=\"seed\" value=\"{}\"/><property name=\"scenarios\" value=\"{}\"/><property name=\"target\" value=\"{}\"/><property name=\"server_version\" value=\"{}\"/></properties>",
        report.seed,
        report.scenarios,
        xml_escape(&report.target),
        xml_escape(&report.server_version)
    );
    for c in &report.cases {
        let class = c.id.split('.').next().unwrap_or("conformance");
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(class),
            xml_escape(&c.id),
            c.millis as f64 / 1000.0
        );
        let message = c.message.as_deref().unwrap_or("");
        let first = message.lines().next().unwrap_or("");
        // A property says how many scenarios it ran, as a property of its
        // testcase.
        let scenarios = c
            .scenarios
            .map(|n| format!("\n      <properties><property name=\"scenarios\" value=\"{n}\"/></properties>"))
            .unwrap_or_default();
        match c.status {
            Status::Pass if scenarios.is_empty() => out.push_str("/>\n"),
            Status::Pass => {
                let _ = writeln!(out, ">{scenarios}\n    </testcase>");
            }
            Status::Fail | Status::UnexpectedPass => {
                let _ = writeln!(
                    out,
                    ">{scenarios}\n      <failure message=\"{}\" type=\"{}\">{}\nrule: {}\nproto: {}</failure>\n    </testcase>",
                    xml_escape(first),
                    c.status.label(),
                    xml_escape(message),
                    xml_escape(&c.rule),
                    xml_escape(&c.proto)
                );
            }
            Status::Skip | Status::ExpectedFail => {
                let _ =
                    writeln!(out, ">{scenarios}\n      <skipped message=\"{}\"/>\n    </testcase>", xml_escape(first));
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Writes a report file.
pub fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}
