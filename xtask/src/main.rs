//! `cargo xtask <command>`: parses flags and dispatches; every command is
//! a module of the `xtask` library.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::paths::project_root;

/// mimalloc: the gates allocate and free a great many small values (the
/// syntax trees of the generated Rust, the descriptors), and glibc's
/// malloc spent a quarter of the drift gate's time on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The dome gateway contract toolkit's front door")]
struct Cli {
    /// The repository to work on; defaults to the checkout this xtask was
    /// built from, whatever the working directory.
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the SDK code, contract tables, descriptor set and manifest
    /// from `proto/`; with `--check`, write nothing and fail on any drift.
    Codegen {
        /// Fail (with a diff per file) instead of writing.
        #[arg(long)]
        check: bool,
        /// With `--check`: generate and compare even when the stamp of the
        /// last clean check shows nothing changed.
        #[arg(long, requires = "check")]
        full: bool,
    },
    /// Run every gate, as CI does: the drift gate first.
    Ci,
    /// Compare `proto/` against a baseline with buf's breaking rules; exit
    /// 0 compatible, 1 breaking, 2 usage or input error.
    Breaking(xtask::breaking::Args),
    /// Check `proto/` against buf's STANDARD and COMMENTS lint rules; exit
    /// 0 clean, 1 findings, 2 input error.
    Lint(xtask::lint::Args),
    /// Check that every message of the service surface maps onto an SSOT
    /// family or a registered delta, and that every mapped message's
    /// projection fits its family (proptest + JSON Schema).
    Ssot(xtask::ssot::Args),
    /// Time the gates (beside buf) and load the reference server (beside a
    /// bare tonic baseline) on release builds; writes
    /// `target/bench/report.json`. With `--load`, also the fault scenarios.
    Bench(xtask::bench::Args),
    /// Run the conformance suite: against `--target ADDR`, or the bundled
    /// reference server in-process. Every argument is passed to the suite
    /// (`cargo xtask conformance --help` lists them, `--list` the cases).
    #[command(disable_help_flag = true)]
    Conformance {
        /// The suite's arguments, unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Runs the command; an error is printed as its chain of causes on one
/// line (`error: ...: ...`), never with a stack trace: a gate that fails
/// has found a problem in the tree, not in xtask, and symbolising a trace
/// (under `RUST_BACKTRACE=1`) would cost a failing gate more than the
/// check itself.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let root = cli.root.unwrap_or_else(project_root);
    match cli.command {
        Command::Codegen { check, full } => xtask::codegen::main(&root, check, full),
        Command::Ci => xtask::ci::main(&root),
        Command::Breaking(args) => std::process::exit(xtask::breaking::main(&root, &args)),
        Command::Lint(args) => std::process::exit(xtask::lint::main(&root, &args)),
        Command::Ssot(args) => xtask::ssot::main(&root, &(&args).into()),
        Command::Bench(args) => xtask::bench::main(&root, &args),
        Command::Conformance { args } => xtask::conformance::main(&root, &args),
    }
}
