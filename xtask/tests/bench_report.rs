//! The bench's rounds merge into medians: a number is the middle round's,
//! anything else the first round's, and a missing sample is left out.

use serde_json::{Value, json};
use xtask::bench::report::{ServerMemory, ServerRun, median, median_merge, median_value};

/// Rounds merge into medians: a number is the middle round's, anything
/// else the first round's.
#[test]
fn rounds_merge_into_medians() {
    let a = json!({ "n": 3, "name": "x", "inner": { "rate": 10.0 }, "none": null });
    let b = json!({ "n": 1, "name": "y", "inner": { "rate": 30.0 }, "none": null });
    let c = json!({ "n": 2, "name": "z", "inner": { "rate": 20.0 }, "none": null });
    let merged = median_merge(&[&a, &b, &c]);
    assert_eq!(merged, json!({ "n": 2, "name": "x", "inner": { "rate": 20.0 }, "none": null }));
    assert_eq!(median_value(&[&json!(4), &json!(1)]), json!(1), "the lower middle of an even count");
    assert_eq!(median_value(&[&json!("a")]), Value::Null);
    assert_eq!(median([4.0, 1.0]), Some(1.0), "the lower middle of an even count");
    assert_eq!(median(Vec::<u64>::new()), None);

    let run = |idle: Option<u64>, clean: bool, rate: f64| ServerRun {
        memory: ServerMemory { idle_rss_kib: idle, rss_after_kib: None, hwm_kib: Some(7), clean_shutdown: clean },
        report: json!({ "unary": { "calls_per_s": rate } }),
    };
    let (a, b, c) = (run(Some(30), true, 1.0), run(None, false, 3.0), run(Some(10), false, 2.0));
    let merged = ServerRun::median(&[&a, &b, &c]);
    assert_eq!(merged.memory.idle_rss_kib, Some(10), "a missing sample is left out, not counted as zero");
    assert_eq!(merged.memory.hwm_kib, Some(7));
    assert!(merged.memory.clean_shutdown, "taken from the first round");
    assert_eq!(merged.report, json!({ "unary": { "calls_per_s": 2.0 } }));
}
