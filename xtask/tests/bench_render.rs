//! The bench's rendered report: every goal is judged from the numbers it
//! shows (met and NOT met), rounds are reported as medians, and an empty
//! report renders without panicking.

use serde_json::{Value, json};
use xtask::bench::hostile::{BUDGET_BYTES, EmptyToken, Hostile};
use xtask::bench::render::render;
use xtask::bench::report::{
    Conformance, GateRow, Load, Machine, Ratios, Report, Scenarios, Sdk, ServerMemory, ServerRun, Servers, median,
};

fn report(gates: Vec<GateRow>, servers: Servers) -> Report {
    Report {
        machine: Machine::this(),
        gate_runs: 7,
        gates,
        servers,
        conformance: Conformance::not_measured("none"),
        scenarios: Scenarios::default(),
        load: None,
        sdk: None,
        failures: Vec::new(),
    }
}

fn server(rate: f64) -> ServerRun {
    let phase = json!({ "calls_per_s": rate, "events_per_s": rate, "peak_rss_kib": 1024 });
    ServerRun {
        report: json!({ "plan": { "connections": 4 }, "unary": phase, "reads": phase, "fanout": phase, "many_jobs": phase }),
        ..ServerRun::default()
    }
}

#[test]
fn goals_are_judged_from_the_numbers() {
    let gate = |ours: f64, buf: f64, agree: bool| GateRow {
        gate: "lint".to_owned(),
        input: "proto/".to_owned(),
        expected: "pass",
        ours_ms: ours,
        ours_verdict: "pass",
        buf_ms: Some(buf),
        buf_verdict: Some("pass"),
        agree: Some(agree),
    };
    let run = |ours: f64, agree: bool, domed: f64| {
        let servers = Servers { domed: server(domed), baseline: server(100.0), ..Servers::default() };
        render(&report(vec![gate(ours, 150.0, agree)], servers))
    };
    let good = run(10.0, true, 80.0);
    assert!(good.contains("- every gate < 50 ms on the contract: met (slowest 10.0 ms, `lint` on proto/)"), "{good}");
    assert!(good.contains("faster than buf where measured: met (at least 15.0x); same verdicts as buf: met"), "{good}");
    assert!(good.contains("unary 0.80x met"), "{good}");
    assert!(good.contains("| lint | proto/ | 10.0 ms | 150.0 ms | pass / pass | yes |\n"), "{good}");
    let bad = run(250.0, false, 50.0);
    assert!(
        bad.contains("- every gate < 50 ms on the contract: NOT met (slowest 250.0 ms, `lint` on proto/)"),
        "{bad}"
    );
    assert!(bad.contains("faster than buf where measured: NOT met"), "{bad}");
    assert!(bad.contains("same verdicts as buf: NOT met"), "{bad}");
    assert!(bad.contains("unary 0.50x NOT met"), "{bad}");
}

/// The gate goal is on the contract: a broken copy's gate, which must
/// fail (and the SSOT gate shrinks what it finds), is reported beside it
/// and decides nothing.
#[test]
fn the_gate_goal_is_on_the_contract_and_the_broken_copies_are_reported() {
    let row = |gate: &str, input: &str, expected: &'static str, ours_ms: f64| GateRow {
        gate: gate.to_owned(),
        input: input.to_owned(),
        expected,
        ours_ms,
        ours_verdict: expected,
        buf_ms: None,
        buf_verdict: None,
        agree: None,
    };
    let rows = vec![row("ssot", "proto/", "pass", 26.0), row("ssot", "projection bug planted in a copy", "fail", 98.0)];
    let out = render(&report(rows, Servers::default()));
    assert!(out.contains("- every gate < 50 ms on the contract: met (slowest 26.0 ms, `ssot` on proto/)"), "{out}");
    assert!(
        out.contains("(on the broken copies, each failing as expected: slowest 98.0 ms, `ssot` on projection bug planted in a copy)"),
        "{out}"
    );
    let slow =
        vec![row("codegen --check --full", "proto/", "pass", 53.5), row("lint", "one field misnamed", "fail", 13.0)];
    let out = render(&report(slow, Servers::default()));
    assert!(out.contains("on the contract: NOT met (slowest 53.5 ms, `codegen --check --full` on proto/)"), "{out}");
}

/// The goal is judged on the median of the rounds' ratios, and one
/// slow round neither decides it nor hides in the table.
#[test]
fn rounds_are_reported_as_medians() {
    let ratios = |rounds: [f64; 3]| Ratios { median: median(rounds), rounds: rounds.to_vec() };
    let run = |unary: [f64; 3]| {
        let servers = Servers {
            rounds: 3,
            domed: server(70.0),
            baseline: server(100.0),
            ratios: [
                ("unary", ratios(unary)),
                ("reads", ratios([1.0, 1.1, 1.2])),
                ("fanout", ratios([1.0, 1.0, 1.0])),
                ("many_jobs", ratios([0.8, 0.9, 0.85])),
            ]
            .into(),
            per_round: Vec::new(),
        };
        render(&report(Vec::new(), servers))
    };
    let one_slow_round = run([0.72, 0.55, 0.74]);
    assert!(one_slow_round.contains("unary 0.72x met"), "{one_slow_round}");
    assert!(one_slow_round.contains("| 0.72x (0.55–0.74) |"), "{one_slow_round}");
    assert!(one_slow_round.contains("medians of 3 rounds"), "{one_slow_round}");
    assert!(one_slow_round.contains("| 1.00x |"), "equal rounds show no range: {one_slow_round}");
    let mostly_slow = run([0.72, 0.55, 0.65]);
    assert!(mostly_slow.contains("unary 0.65x NOT met"), "{mostly_slow}");
}

/// The scenario goal is judged on the rate, so a `--quick` run of a
/// tenth of the scenarios still says whether 10,000 fit in a minute.
#[test]
fn the_scenario_goal_is_judged_from_the_rate() {
    let run = |scenarios: u64, elapsed_s: f64, passed: bool| {
        let mut r = report(Vec::new(), Servers::default());
        r.scenarios = Scenarios {
            measured: true,
            passed,
            asked: scenarios,
            cases_per_property: scenarios / 2,
            properties: [("a.p".to_owned(), scenarios / 2), ("b.p".to_owned(), scenarios / 2)].into(),
            scenarios,
            elapsed_s,
            scenarios_per_s: scenarios as f64 / elapsed_s,
            note: String::new(),
        };
        render(&r)
    };
    let fast = run(10_000, 40.0, true);
    assert!(fast.contains("- 10000 generated scenarios < 60 s: met (10000 in 40.0 s)"), "{fast}");
    assert!(
        fast.contains("10000 ran in 40.0 s = 250 scenarios/s against domed, properties passed (a.p 5000, b.p 5000)"),
        "{fast}"
    );
    let quick_slow = run(1_000, 8.0, true);
    assert!(quick_slow.contains("scenarios < 60 s: NOT met (80.0 s at the rate of 1000 in 8.0 s)"), "{quick_slow}");
    assert!(run(10_000, 40.0, false).contains("scenarios < 60 s: NOT met"), "a failing property meets no goal");
}

#[test]
fn the_sdk_goals_are_judged_from_its_numbers() {
    let run = |crates: usize, secs: Option<f64>| {
        let mut r = report(Vec::new(), Servers::default());
        r.sdk = Some(Sdk {
            crates,
            crates_without_tls: crates - 10,
            user_build_secs: secs,
            user_build_cpu_secs: secs.map(|s| s * 1.8),
            load_1m: Some(1.5),
        });
        render(&r)
    };
    let good = run(71, Some(20.0));
    assert!(good.contains("- dome-sdk ≤ 72 crates: met (71)"), "{good}");
    assert!(good.contains("- clean debug build of a user crate < 25 s: met (20.0 s)"), "{good}");
    assert!(good.contains("| crates without the `tls` feature | 61 |\n"), "{good}");
    assert!(good.contains("| load average (1 min) when the build started | 1.50 |\n"), "{good}");
    assert!(good.contains("| CPU time of that build (user + system) | 36.0 s |\n"), "{good}");
    let bad = run(82, Some(35.0));
    assert!(bad.contains("- dome-sdk ≤ 72 crates: NOT met (82)"), "{bad}");
    assert!(bad.contains("< 25 s: NOT met (35.0 s)"), "{bad}");
    let unbuilt = run(71, None);
    assert!(unbuilt.contains("| clean debug build of a one-file user crate | — |\n"), "{unbuilt}");
    assert!(!unbuilt.contains("clean debug build of a user crate <"), "no build, no verdict: {unbuilt}");
    assert!(!render(&report(Vec::new(), Servers::default())).contains("dome-sdk"), "not measured, not shown");
}

/// Each hostile client is a row, and each goal is judged from the
/// figures of its row: a missed goal says so.
#[test]
fn the_hostile_goals_are_judged_from_the_numbers() {
    let run = |p99_us: u64, shutdown: f64, peak: u64, details: u64, held: u64, cpu: f64, refused: bool| {
        let mut r = report(Vec::new(), Servers::default());
        let hostile = Hostile {
            starvation: json!({ "jobs": 64, "steps_per_job": 1000, "input_bytes": 26011, "probe_s": 5.0,
                "events_during_probe": 1000, "probe": { "count": 400, "p50_us": 5000, "p99_us": p99_us, "max_us": 60000 } }),
            shutdown_s: Some(shutdown),
            shutdown_clean: true,
            budget: json!({ "max_retained_bytes": BUDGET_BYTES, "idle_kib": 12 * 1024, "skills": [
                { "skill_id": "dome.echo", "jobs": 768, "input_bytes": 1048576, "peak_kib": peak, "after_kib": 50 * 1024 } ] }),
            unread: json!({ "jobs": 20, "streams": 2000, "before_kib": 40 * 1024, "held_kib": 400 * 1024,
                "held_evicted_kib": 80 * 1024, "closed_kib": 60 * 1024, "end_of_evicted_stream": "JOB_NOT_FOUND" }),
            oversized: json!({ "string_bytes": 4000000, "calls": [{}, {}], "largest_details_bytes": details,
                "bytes_in": 8000000, "bytes_out": 2000 }),
            connections: json!({ "kinds": [{ "kind": "silent (no preface)", "connections": 300, "timeout_s": 1.0,
                "longest_held_s": 1.01, "held_past_timeout": held }] }),
            descriptors: json!({ "connections": 180, "fds_open": 65, "cpu_percent": cpu, "window_s": 3.0,
                "recovered_after_s": 0.1 }),
            empty_token: vec![EmptyToken { given_as: "DOMED_AUTH_TOKEN=", refused, said: "error: empty".into() }],
        };
        r.load =
            Some(Load { faults: Value::Null, faults_server: ServerMemory::default(), retention: Value::Null, hostile });
        render(&r)
    };
    let good = run(20_000, 2.5, 300 * 1024, 600, 0, 0.3, true);
    for line in [
        "- ListCapabilities p99 < 50 ms while 64 maximal bulk jobs run: met (20.0 ms)",
        "- SIGTERM exits within the grace (5 s) + 1 s: met (2.50 s)",
        "- RSS < budget + 64 MiB, every retained job a maximal `dome.echo`: met (300.0 MiB)",
        "- RSS within 64 MiB of idle once the `dome.echo` jobs are evicted: met (50.0 MiB)",
        "- RSS within 64 MiB of before once unread streams over evicted jobs close: met (60.0 MiB)",
        "- grpc-status-details-bin < 8 KiB with 4 MB strings: met (600 B)",
        "- bytes out / bytes in < 1 with 4 MB strings: met (0.00025)",
        "- no connection held past its timeout: met (0 held)",
        "- CPU < 5% with descriptors exhausted: met (0.3%)",
        "- an empty token refuses to start: met (DOMED_AUTH_TOKEN=)",
    ] {
        assert!(good.contains(line), "{line}\n{good}");
    }
    assert!(good.contains("| 300 connections: silent (no preface) | --handshake-timeout-secs 1 --idle-timeout-secs 2 | longest held 1.01 s (timeout 1.00 s); 0 held past it | |\n"), "{good}");
    assert!(good.contains("| an empty token, as DOMED_AUTH_TOKEN= | | refused to start: error: empty | |\n"), "{good}");
    let bad = run(80_000, 7.5, 400 * 1024, 9000, 3, 40.0, false);
    for goal in [
        "- ListCapabilities p99 < 50 ms while 64 maximal bulk jobs run: NOT met (80.0 ms)",
        "- SIGTERM exits within the grace (5 s) + 1 s: NOT met",
        "every retained job a maximal `dome.echo`: NOT met (400.0 MiB)",
        "- grpc-status-details-bin < 8 KiB with 4 MB strings: NOT met (9000 B)",
        "- no connection held past its timeout: NOT met (3 held)",
        "- CPU < 5% with descriptors exhausted: NOT met (40.0%)",
        "- an empty token refuses to start: NOT met",
    ] {
        assert!(bad.contains(goal), "{goal}\n{bad}");
    }
}

#[test]
fn renders_an_empty_report_without_panicking() {
    let mut empty = report(Vec::new(), Servers::default());
    empty.failures.push("x broke".to_owned());
    let text = render(&empty);
    assert!(
        text.contains("| gate | input |") && text.contains("not measured: none") && text.contains("- x broke"),
        "{text}"
    );
    assert!(text.contains("| idle RSS / high-water mark | — / — | — / — | | | |\n"), "{text}");
}
