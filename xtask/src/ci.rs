//! `cargo xtask ci`: every gate in the order CI runs them, stopping at the
//! first that fails.

use std::path::Path;

use anyhow::{Result, bail};
use xshell::{Shell, cmd};

/// Runs the gates.
pub fn main(root: &Path) -> Result<()> {
    formatting(root)?;
    crate::codegen::main(root, true, false)?;
    crate::ssot::main(root, &crate::ssot::Options::default())?;
    crate::lint::gate(root)?;
    crate::breaking::gate(root)?;
    // Last: the traceability matrix (every rule has a case or a reason),
    // the suite against the embedded reference server, then the client
    // mode against the Rust SDK's testee.
    crate::conformance::main(root, &["--check-matrix".into(), "docs/conformance-matrix.md".into()])?;
    crate::conformance::main(root, &[])?;
    let testee = format!("\"{}\"", crate::conformance::rust_testee(root)?.display());
    crate::conformance::main(root, &["--client".to_string(), testee])?;
    Ok(())
}

/// The formatting gate: `cargo fmt --all --check` in the workspace at
/// `root`, which formats as its `rustfmt.toml` says. Fails with rustfmt's
/// diff, or, when rustfmt is not installed, with how to install it.
pub fn formatting(root: &Path) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    if cmd!(sh, "{cargo} fmt --version").quiet().ignore_stdout().ignore_stderr().run().is_err() {
        bail!(
            "rustfmt is not installed, and the formatting gate runs `cargo fmt --all --check`: \
             install it with `rustup component add rustfmt`"
        );
    }
    if cmd!(sh, "{cargo} fmt --all --check").quiet().run().is_err() {
        bail!(
            "the code is not formatted as rustfmt.toml says (rustfmt's diff is above): run `cargo fmt --all` and commit"
        );
    }
    Ok(())
}
