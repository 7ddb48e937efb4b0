//! The `cargo xtask` front door of the dome gateway contract toolkit.
//!
//! `main.rs` only parses flags; each subcommand lives in its own module and
//! is callable as a library function, so that tests can drive the gates on
//! temporary copies of the repository.

pub mod bench;
pub mod breaking;
pub mod ci;
pub mod codegen;
pub mod config;
pub mod conformance;
pub mod descriptors;
pub mod facts;
pub mod findings;
pub mod lint;
pub mod paths;
pub mod ssot;
pub mod toolkit;
pub mod util;
