//! Programs run by xtask see cargo's environment as a user's shell would:
//! without xtask's own package variables, and with the target directory
//! where `CARGO_TARGET_DIR` puts it.

use std::path::Path;

use xshell::{Shell, cmd};
use xtask::util::{target_dir, without_package_env};

/// Under `cargo test`, as under `cargo xtask`, cargo has set the
/// package's variables: a plain command passes them on, a command
/// through `without_package_env` does not.
#[test]
fn a_cargo_run_by_xtask_does_not_see_xtask_s_package_variables() {
    let sh = Shell::new().unwrap();
    assert_eq!(std::env::var("CARGO_PKG_NAME").as_deref(), Ok("xtask"), "cargo sets it for its tests");
    let plain = cmd!(sh, "env").read().unwrap();
    assert!(plain.lines().any(|l| l == "CARGO_PKG_NAME=xtask"), "{plain}");
    assert!(plain.lines().any(|l| l.starts_with("CARGO_MANIFEST_DIR=")), "{plain}");

    let cleaned = without_package_env(cmd!(sh, "env")).read().unwrap();
    let left: Vec<&str> = cleaned
        .lines()
        .filter(|l| l.starts_with("CARGO_PKG_") || l.starts_with("CARGO_MANIFEST_") || l.starts_with("CARGO_CRATE_"))
        .collect();
    assert_eq!(left, Vec::<&str>::new());
    assert!(cleaned.lines().any(|l| l.starts_with("PATH=")), "everything else is kept: {cleaned}");
}

/// The bench and the conformance gate find their binaries where cargo
/// builds them: under `CARGO_TARGET_DIR` when it is set (as in many CI
/// caches), relative to where cargo runs when the path is.
#[test]
fn the_target_directory_follows_cargo_target_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let sh = Shell::new().unwrap();
    sh.change_dir(&root);
    let elsewhere = std::env::temp_dir().join("dome-contract-elsewhere/target");
    sh.set_var("CARGO_TARGET_DIR", &elsewhere);
    assert_eq!(target_dir(&sh).unwrap(), elsewhere, "CARGO_TARGET_DIR is honoured");
    sh.set_var("CARGO_TARGET_DIR", "cache/target");
    assert_eq!(target_dir(&sh).unwrap(), root.join("cache/target"), "a relative one from where cargo runs");
}
