//! The integration tests of `dome-sdk`, one module per behaviour (each file
//! beside this one), built as one test binary. Every test binary links the
//! whole dependency tree again, so one binary per crate rather than one
//! per file saves most of the tests' build time. The crate sets
//! `autotests = false`, so a file here is built only when it is declared
//! below; `xtask/tests/test_layout.rs` fails, naming the file, when one
//! is not.

mod common;
mod configuration;
mod connection;
mod conveniences;
mod event_cursor;
mod generated_smoke;
mod package;
mod quickstart;
mod readme_tables;
mod retries;
mod stream_against_faulty_servers;
mod stream_resume;
mod tls;
mod typed_errors;
mod version_negotiation;
