//! The bench's googleapis comparison: its table shows the ratios to buf
//! and whether the findings agree, and a process tree's peak memory is
//! read from `/proc`.

use std::collections::BTreeSet;

use xtask::bench::googleapis::{Googleapis, Row, Run, render, tree_peak};

fn run(ms: f64, peak_kib: u64, findings: usize) -> Run {
    Run { ms, peak_kib, findings, lines: BTreeSet::new() }
}

#[test]
fn the_table_shows_ratios_and_whether_the_findings_agree() {
    let report = Googleapis {
        git_dir: "g".into(),
        old: "a".into(),
        new: "b".into(),
        old_files: 397,
        new_files: 473,
        runs: 1,
        load_before: "1.0".into(),
        load_after: "1.0".into(),
        rows: vec![
            Row {
                gate: "lint",
                ours: run(1000.0, 100 * 1024, 5),
                buf: Some(run(10000.0, 400 * 1024, 5)),
                same_findings: Some(true),
            },
            Row { gate: "breaking", ours: run(2000.0, 1024, 1), buf: None, same_findings: None },
        ],
    };
    let shown = render(&report);
    assert!(
        shown.contains("| lint | 1000.0 ms | 10000.0 ms | 0.10x | 100.0 MiB | 400.0 MiB | 0.25x | 5 / 5 | yes |"),
        "{shown}"
    );
    assert!(shown.contains("| breaking | 2000.0 ms | — | — | 1.0 MiB | — | — | 1 / - | - |"), "{shown}");
}

#[test]
fn a_process_peak_is_read_from_proc() {
    assert!(tree_peak(std::process::id()) > 0);
    assert_eq!(tree_peak(u32::MAX), 0);
}
