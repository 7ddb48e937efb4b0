//! The integration tests of `xtask`, one module per behaviour (each file
//! beside this one), built as one test binary. Every test binary links the
//! whole dependency tree again, so one binary per crate rather than one
//! per file saves most of the tests' build time. The crate sets
//! `autotests = false`, so a file here is built only when it is declared
//! below; `xtask/tests/test_layout.rs` fails, naming the file, when one
//! is not. The library's own tests live here too, through its public
//! items: its `[lib]` sets `test = false`, so `cargo test` compiles it once
//! instead of a second time as a unit-test harness.

mod bench_gates;
mod bench_googleapis;
mod bench_hostile;
mod bench_render;
mod bench_report;
mod bench_sdk;
mod breaking;
mod buf_config;
mod cargo_env;
mod codegen;
mod codegen_calls;
mod codegen_errors;
mod codegen_rust;
mod common;
mod config_loading;
mod contract_facts;
mod contract_rules;
mod docs_drift;
mod editions;
mod enforcement;
mod formatting;
mod frozen_baseline;
mod input_errors;
mod lint;
mod naming;
mod one_build;
mod output_formats;
mod reserved_ranges;
mod ssot;
mod test_layout;
