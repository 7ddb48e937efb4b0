//! The bench's SDK figures: the CPU time of waited-for children read from
//! `/proc`, crates counted once however often `cargo tree` repeats them,
//! and the user crate's manifest naming the SDK alone.

use xtask::bench::sdk::{USER_MANIFEST, children_cpu_from_stat, children_cpu_secs, distinct_crates};

#[test]
fn children_cpu_is_read_after_the_command_name() {
    let stat = "4242 (cargo (x) y) S 1 2 3 4 5 6 7 8 9 10 11 12 1500 250 20 0 1 0 100";
    assert_eq!(children_cpu_from_stat(stat), Some(17.5));
    assert_eq!(children_cpu_from_stat("4242 (cargo) S 1 2"), None);
    assert!(children_cpu_secs().is_some(), "this process's own stat reads");
}

#[test]
fn repeated_crates_count_once() {
    let tree =
        "dome-sdk v0.1.0 (/x/sdk)\nbytes v1.10.1\ntokio v1.47.0\nbytes v1.10.1 (*)\n\nhttp v1.3.1\nbytes v1.10.1 (*)\n";
    assert_eq!(distinct_crates(tree), 4);
    assert_eq!(distinct_crates(""), 0);
}

#[test]
fn the_user_manifest_names_the_sdk_by_path_and_nothing_of_the_transport() {
    let manifest = USER_MANIFEST.replace("{sdk}", "/repo/sdk");
    assert!(manifest.contains(r#"dome-sdk = { path = "/repo/sdk" }"#), "{manifest}");
    assert!(!manifest.contains("tonic") && !manifest.contains("prost"), "{manifest}");
}
