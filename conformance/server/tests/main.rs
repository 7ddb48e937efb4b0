//! The integration tests of `domed`, one module per behaviour (each file
//! beside this one), built as one test binary. Every test binary links the
//! whole dependency tree again, so one binary per crate rather than one
//! per file saves most of the tests' build time. The crate sets
//! `autotests = false`, so a file here is built only when it is declared
//! below; `xtask/tests/test_layout.rs` fails, naming the file, when one
//! is not.

mod auth;
mod bad_input;
mod binary;
mod cancel;
mod capabilities;
mod common;
mod connections;
mod decisions;
mod fairness;
mod job_status;
mod limits;
mod mutants;
mod raw_client;
mod shutdown;
mod skill_execute;
mod ssot;
mod streams;
mod tls;
