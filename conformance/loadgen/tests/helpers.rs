//! The library's helpers: the baseline's job ids, the hostile scenarios'
//! maximal inputs and `/proc` readings, resident memory and percentiles.
//! They are tested here rather than inside the library so that `cargo
//! test` does not compile the whole library a second time as a test
//! harness for these few checks.

use std::time::Duration;

use dome_loadgen::baseline::{bulk_count, count_of, job_id_for};
use dome_loadgen::hostile::{ECHO_SKILL, STEPS_MAX, cpu_ticks, fd_limit, maximal_bulk_script, maximal_input};
use dome_loadgen::rss::{Memory, parse_status, read};
use dome_loadgen::stats::{Latencies, Summary};

#[test]
fn the_event_count_travels_in_the_job_id() {
    let id = job_id_for(bulk_count(&dome_loadgen::bulk_script(1234)));
    assert_eq!(id.len(), 4 + 32);
    assert_eq!(count_of(&id), 1234);
    assert_eq!(bulk_count(r#"{"steps":[]}"#), 0);
    assert_eq!(count_of("job-zz"), 0);
}

#[test]
fn maximal_inputs_fill_the_limit_and_parse() {
    let (script, steps) = maximal_bulk_script(4096);
    assert!(script.len() <= 4096 && script.len() > 4096 - 30, "{}", script.len());
    let parsed: serde_json::Value = serde_json::from_str(&script).unwrap();
    assert_eq!(parsed["steps"].as_array().unwrap().len() as u64, steps);
    assert_eq!(maximal_bulk_script(1 << 20).1, STEPS_MAX, "the schema's step limit comes first");
    for skill in [ECHO_SKILL, dome_loadgen::SCRIPT_SKILL] {
        let input = maximal_input(skill, 10_000);
        assert_eq!(input.len(), 10_000, "{skill}");
        serde_json::from_str::<serde_json::Value>(&input).unwrap();
    }
}

#[test]
fn cpu_ticks_of_this_process_are_read() {
    assert!(cpu_ticks(std::process::id()).is_some());
    assert!(fd_limit(std::process::id()).is_some_and(|n| n > 0));
}

#[test]
fn parses_rss_and_hwm() {
    let text = "Name:\tdomed\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
    assert_eq!(parse_status(text), Some(Memory { rss_kib: 10240, hwm_kib: 20480 }));
    assert_eq!(parse_status("Name:\tx\n"), None);
}

#[test]
fn reads_this_process() {
    let m = read(std::process::id()).expect("procfs is mounted on the machines this runs on");
    assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib, "{m:?}");
}

#[test]
fn percentiles_use_the_nearest_rank() {
    let mut l = Latencies::default();
    for us in 1..=100 {
        l.record(Duration::from_micros(us));
    }
    assert_eq!(l.summary(), Summary { count: 100, p50_us: 50, p99_us: 99, max_us: 100 });
    assert_eq!(Latencies::default().summary(), Summary::default());
}
