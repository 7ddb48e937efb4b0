//! The `cargo xtask` front door of the dome gateway contract toolkit.
//!
//! `main.rs` only parses flags; each subcommand lives in its own module and
//! is callable as a library function, so that tests can drive the gates on
//! temporary copies of the repository. The lint and breaking commands
//! call the rules engine, [`engine`], a library with no command-line
//! concerns.

pub mod bench;
pub mod breaking;
pub mod ci;
pub mod cli;
pub mod codegen;
pub mod conformance;
pub mod descriptors;
pub mod engine;
pub mod facts;
pub mod lint;
pub mod paths;
pub mod ssot;
pub mod util;
