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
    // then the suite against the embedded reference server.
    crate::conformance::main(root, &["--check-matrix".into(), "docs/conformance-matrix.md".into()])?;
    crate::conformance::main(root, &[])?;
    Ok(())
}
