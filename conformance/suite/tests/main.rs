//! The integration tests of `dome-conformance`, one module per behaviour (each file
//! beside this one), built as one test binary. Every test binary links the
//! whole dependency tree again, so one binary per crate rather than one
//! per file saves most of the tests' build time. The crate sets
//! `autotests = false`, so a file here is built only when it is declared
//! below; `xtask/tests/test_layout.rs` fails, naming the file, when one
//! is not. The library's own tests live here too, through its public
//! items: its `[lib]` sets `test = false`, so `cargo test` compiles it once
//! instead of a second time as a unit-test harness.

mod catalogue;
mod cli;
mod client_mutants;
mod client_protocol;
mod client_spec;
mod client_testee;
mod client_testee_input;
mod error_details;
mod matrix;
mod model;
mod mutants;
mod reports;
mod runner;
mod scripts;
mod slow_server;
mod small_retention;
