//! `cargo xtask conformance [ARGS]`: runs the conformance suite's binary
//! (`dome-conformance`), passing every argument through, rather than
//! linking the suite into xtask (which would make every xtask command
//! build the suite and the reference server).
//!
//! The binaries are built the way `cargo test --workspace` builds them:
//! every binary of the workspace, with the features its tests turn on (the
//! `mutants` of the server and the SDK, which stay inert until `--mutant`
//! selects one). Cargo builds a crate again whenever its features differ,
//! so any other selection would build the suite, the server, the SDK and
//! their dependencies a second time for the tests; this way the README's
//! two commands share one build (`xtask/tests/one_build.rs` holds them to
//! it). The Rust SDK's testee (`dome-testee`) is one of those binaries, so
//! `--client target/debug/dome-testee` always checks the SDK as it is.
//!
//! The dev profile is used: the suite spends its time waiting on the
//! server, and a release build of the suite and the server costs far more
//! than it would save.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// The `cargo` arguments that build the suite, exactly as the tests'
/// build does (see the module docs).
pub const BUILD_ARGS: [&str; 6] = ["build", "--quiet", "--workspace", "--bins", "--features", "mutants"];

/// A binary of the dev profile, under cargo's target directory `target`.
fn dev_binary(target: &Path, name: &str) -> PathBuf {
    target.join("debug").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Where the Rust SDK's testee is built, for the workspace at `root`.
pub fn rust_testee(root: &Path) -> Result<PathBuf> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    Ok(dev_binary(&crate::util::target_dir(&sh)?, "dome-testee"))
}

/// Builds the workspace's binaries (see the module docs), then runs the
/// suite in the workspace at `root` with `args`; fails when the suite
/// reports a failure or cannot run.
pub fn main(root: &Path, args: &[String]) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    crate::util::cargo(&sh, &BUILD_ARGS).run().context("building the conformance suite")?;
    let suite = dev_binary(&crate::util::target_dir(&sh)?, "dome-conformance");
    if cmd!(sh, "{suite} {args...}").run().is_err() {
        bail!(
            "the conformance suite failed (see its report above); rerun a failing case with the `replay:` line it prints, \
             or list the cases with `cargo xtask conformance --list`"
        );
    }
    Ok(())
}
