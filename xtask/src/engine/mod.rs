//! The proto rules engine, a library: buf's lint and breaking rules on
//! descriptor sets, configured as buf is configured, with buf's findings.
//! The `lint` and `breaking` commands ([`crate::lint`],
//! [`crate::breaking`]) call it; nothing here reads flags, prints or
//! picks an exit code.
//!
//! One module per concern, each depending only on those listed before
//! it: [`config`] (`buf.yaml`), [`findings`] (what a rule reports and
//! where), [`output`] (the formats findings print in), [`toolkit`]
//! (descriptor field numbers, file options, positions, buf's case
//! rules), [`features`] (editions features, resolved), [`input`]
//! (trees, images, git revisions), then the rule sets
//! [`lint`] and [`breaking`], peers that share the toolkit.

pub mod breaking;
pub mod config;
pub mod features;
pub mod findings;
pub mod input;
pub mod lint;
pub mod output;
pub mod toolkit;

use std::path::Path;

use anyhow::Result;

/// The configuration that applies to `proto_root` ([`config::load`]),
/// with every lint and breaking selector checked against the rule
/// registries: an unknown rule or category is an error, as in buf.
pub fn configuration(proto_root: &Path, explicit: Option<&str>) -> Result<config::Config> {
    let config = config::load(proto_root, explicit)?;
    lint::check_selectors(&config)?;
    breaking::check_selectors(&config)?;
    Ok(config)
}
