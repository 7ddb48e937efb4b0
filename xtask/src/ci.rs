//! `cargo xtask ci`: every gate in the order CI runs them, stopping at the
//! first that fails.

use std::path::Path;

use anyhow::Result;

/// Runs the gates.
pub fn main(root: &Path) -> Result<()> {
    crate::codegen::main(root, true)?;
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
