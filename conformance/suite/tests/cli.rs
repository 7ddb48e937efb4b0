//! The `dome-conformance` binary as a user meets it: the catalogue, the
//! reports, the known-failures list, and exit codes, including against a
//! server that is not there or never answers (the suite must not hang).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use xshell::{Shell, cmd};

const BIN: &str = env!("CARGO_BIN_EXE_dome-conformance");

#[test]
fn list_prints_every_case_with_its_rule_and_proto_element() {
    let sh = Shell::new().expect("shell");
    let out = cmd!(sh, "{BIN} --list").read().expect("--list runs");
    let catalogue = dome_conformance::cases::catalogue();
    assert!(out.ends_with(&format!("{} cases", catalogue.len())), "{out}");
    for case in &catalogue {
        assert!(out.contains(&format!("\n    rule:  {}\n", case.rule)), "{} missing from --list", case.id);
        assert!(out.contains(&case.id));
    }
    let filtered = cmd!(sh, "{BIN} --list --filter cancel.*").read().expect("--list --filter runs");
    assert!(filtered.contains("cancel.parked_job") && !filtered.contains("errors."), "{filtered}");
}

#[test]
fn a_passing_run_writes_both_reports_and_exits_zero() {
    let sh = Shell::new().expect("shell");
    let dir = sh.create_temp_dir().expect("temp dir");
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let out = cmd!(sh, "{BIN} --seed 3 --cases 2 --filter capabilities.*,errors.job_not_found --report json {json} --report junit {junit}")
        .read()
        .expect("the run passes");
    assert!(out.contains("replay with --seed 3") && out.contains("conformance: OK"), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&sh.read_file(&json).expect("json written")).expect("json parses");
    assert_eq!(report["seed"], 3);
    assert!(report["cases"].as_array().is_some_and(|c| c.len() == 5), "{report}");
    let xml = sh.read_file(&junit).expect("junit written");
    assert!(xml.contains("<testcase classname=\"errors\" name=\"errors.job_not_found\""), "{xml}");
}

#[test]
fn known_failures_that_pass_fail_the_run() {
    let sh = Shell::new().expect("shell");
    let dir = sh.create_temp_dir().expect("temp dir");
    let list = dir.path().join("known.txt");
    sh.write_file(&list, "# known failures\ncapabilities.shape # pretend it fails\n").expect("list written");
    let out =
        cmd!(sh, "{BIN} --filter capabilities.shape --expect-failures {list}").ignore_status().output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("XPASS capabilities.shape") && stdout.contains("remove it from the list"), "{stdout}");

    sh.write_file(&list, "no.such_case # typo\n").expect("list written");
    let out = cmd!(sh, "{BIN} --expect-failures {list}").ignore_status().output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no.such_case"));
}

#[test]
fn an_absent_or_silent_server_is_an_error_not_a_hang() {
    let sh = Shell::new().expect("shell");
    // Nothing listens on a port that was just released.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let target = format!("127.0.0.1:{port}");
    let out = cmd!(sh, "{BIN} --target {target} --timeout-secs 2").ignore_status().output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot connect"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A server that accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = silent.local_addr().expect("addr").to_string();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().take(4).flatten() {
            held.push(conn);
        }
        held
    });
    let started = Instant::now();
    let out = cmd!(sh, "{BIN} --target {target} --timeout-secs 2").ignore_status().output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the suite took {:?} against a silent server",
        started.elapsed()
    );
    drop(holder);
}
