//! `cargo xtask conformance [ARGS]`: runs the conformance suite's binary
//! (`dome-conformance`) with `cargo run`, passing every argument through,
//! rather than linking the suite into xtask (which would make every xtask
//! command build the suite and the reference server). With `--mutant`, the
//! suite is built with its `mutants` feature. With `--client`, the Rust
//! SDK's testee (`dome-testee`) is built first, so that
//! `--client target/debug/dome-testee` always checks the SDK as it is.
//!
//! The dev profile is used: the suite spends its time waiting on the
//! server, and a release build of the suite and the server costs far more
//! than it would save.

use std::path::Path;

use anyhow::{Result, bail};
use xshell::{Shell, cmd};

/// Whether a client command names a mutant of the Rust SDK's testee.
fn wants_mutant_testee(args: &[String]) -> bool {
    args.iter().any(|a| a.contains("dome-testee") && a.contains("--mutant"))
}

/// Whether the arguments ask for a mutant of the embedded server.
pub fn wants_mutant(args: &[String]) -> bool {
    args.iter().any(|a| a == "--mutant" || a.starts_with("--mutant="))
}

/// Whether the arguments ask for the client mode.
pub fn wants_client(args: &[String]) -> bool {
    args.iter().any(|a| a == "--client" || a.starts_with("--client="))
}

/// Where the Rust SDK's testee is built, under the workspace at `root`.
pub fn rust_testee(root: &Path) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    target.join("debug").join(format!("dome-testee{}", std::env::consts::EXE_SUFFIX))
}

/// The `cargo` arguments that run the suite with `args`.
pub fn cargo_args(args: &[String]) -> Vec<String> {
    let mut out: Vec<String> =
        ["run", "--quiet", "--package", "dome-conformance", "--bin", "dome-conformance"].map(String::from).to_vec();
    if wants_mutant(args) {
        out.extend(["--features".to_string(), "mutants".to_string()]);
    }
    out.push("--".to_string());
    out.extend(args.iter().cloned());
    out
}

/// Runs the suite in the workspace at `root` with `args`; fails when the
/// suite reports a failure or cannot run.
pub fn main(root: &Path, args: &[String]) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let cargo_args = cargo_args(args);
    if wants_client(args) {
        let features: &[&str] = if wants_mutant_testee(args) { &["--features", "mutants"] } else { &[] };
        cmd!(sh, "{cargo} build --quiet --package dome-conformance --bin dome-testee {features...}").run()?;
    }
    if cmd!(sh, "{cargo} {cargo_args...}").run().is_err() {
        bail!(
            "the conformance suite failed (see its report above); rerun a failing case with the `replay:` line it prints, \
             or list the cases with `cargo xtask conformance --list`"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_pass_through_and_mutants_add_the_feature() {
        let plain = cargo_args(&["--filter".into(), "errors.*".into()]);
        assert_eq!(
            plain.join(" "),
            "run --quiet --package dome-conformance --bin dome-conformance -- --filter errors.*"
        );
        let mutant = cargo_args(&["--mutant=cancel_ignored".into()]);
        assert!(mutant.join(" ").contains("--features mutants -- --mutant=cancel_ignored"));
        assert!(wants_mutant(&["--cases".into(), "4".into(), "--mutant".into(), "x".into()]));
        assert!(!wants_mutant(&["--list".into()]));
        assert!(wants_client(&["--client".into(), "python3 testee.py".into()]));
        assert!(!wants_client(&["--filter".into(), "client.*".into()]));
        assert!(wants_mutant_testee(&["--client=target/debug/dome-testee --mutant no_dedupe".into()]));
        assert!(!wants_mutant_testee(&["--client".into(), "target/debug/dome-testee".into()]));
    }
}
