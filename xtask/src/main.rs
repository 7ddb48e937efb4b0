//! `cargo xtask <command>`: parses flags and dispatches; every command is
//! a module of the `xtask` library.

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::util::project_root;

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
    },
    /// Run every gate, as CI does: the drift gate first.
    Ci,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = cli.root.unwrap_or_else(project_root);
    match cli.command {
        Command::Codegen { check } => xtask::codegen::main(&root, check),
        Command::Ci => xtask::ci::main(&root),
    }
}
