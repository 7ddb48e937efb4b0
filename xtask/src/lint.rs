//! `cargo xtask lint`: buf's lint rules on a proto tree, configured by
//! the `buf.yaml` found from the proto root (or `--config`), printed in
//! buf's formats. The command loads the tree and the configuration, calls
//! the engine ([`crate::engine::lint`]) and maps the findings to output
//! and an exit code. Like the breaking gate it reads the compiled
//! descriptor set (protox) and never re-parses proto text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use prost_reflect::{DescriptorPool, FileDescriptor};
use prost_types::FileDescriptorProto;

use crate::cli::{self, display_prefix, plural, report_error};
use crate::descriptors::{compile_to_pool, relabel};
use crate::engine;
use crate::engine::config::Config;
use crate::engine::lint;
use crate::engine::output::Format;
use crate::paths::PROTO_DIR;

/// Flags of `cargo xtask lint`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// The proto tree to lint; default: `proto/`.
    #[arg(long, value_name = "DIR")]
    pub proto_root: Option<PathBuf>,
    /// The buf configuration: a `buf.yaml` file, or its contents as YAML
    /// or JSON; default: the `buf.yaml` (or `buf.work.yaml`) found from
    /// the proto root upwards, else buf's defaults.
    #[arg(long, value_name = "FILE|DATA")]
    pub config: Option<String>,
    /// Output format.
    #[arg(long, alias = "format", default_value = "text", value_parser = cli::format_parser())]
    pub error_format: Format,
}

/// What a lint run found.
pub type Outcome = cli::Outcome<Linted>;

/// What a lint run checked.
#[derive(Debug, Clone)]
pub struct Linted {
    /// The proto root's label.
    pub root: String,
    /// How many files were linted.
    pub files: usize,
    /// How many rules were run.
    pub rules: usize,
}

impl cli::Scope for Linted {
    fn clean(&self) -> String {
        format!("lint: clean ({} checked against {})", plural(self.files, "file"), plural(self.rules, "rule"))
    }

    fn found(&self, counts: &str) -> String {
        format!("lint: {counts} of {}", self.root)
    }
}

/// Runs the lint from the command line: prints the findings (stdout) and
/// the verdict (stderr) and returns the exit code: 0 clean, 1 findings,
/// 2 input error. A proto that does not compile is printed as a
/// `COMPILE` finding in the chosen format.
pub fn main(root: &Path, args: &Args) -> i32 {
    let proto_root = args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR));
    let prefix = display_prefix(&proto_root);
    match run(root, args) {
        Ok(outcome) => {
            print!("{}", outcome.render(args.error_format, &prefix));
            eprintln!("{}", outcome.summary());
            outcome.exit_code()
        }
        Err(e) => report_error(&relabel(e, &prefix, None), args.error_format),
    }
}

/// The lint as CI runs it: `proto/` with the repository's `buf.yaml`,
/// failing on any finding.
pub fn gate(root: &Path) -> Result<()> {
    let outcome = run(root, &Args::default())?;
    if !outcome.findings.is_empty() {
        bail!(
            "{}{}\nfix the protos as each finding says (see docs/compatibility.md)",
            outcome.render(Format::Text, &format!("{PROTO_DIR}/")),
            outcome.summary()
        );
    }
    println!("{}", outcome.summary());
    Ok(())
}

/// Loads the configuration, compiles the tree and lints it.
pub fn run(root: &Path, args: &Args) -> Result<Outcome> {
    let proto_root = args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR));
    let config = engine::configuration(&proto_root, args.config.as_deref())?;
    let (files, pool) = compile_to_pool(&proto_root, &config.excludes)?;
    Ok(lint_pool(&files, &pool, &config, proto_root.display().to_string()))
}

/// Lints the `files` of a compiled pool (its other files are imports).
pub fn lint_pool(files: &[String], pool: &DescriptorPool, config: &Config, root: String) -> Outcome {
    let own: BTreeSet<String> = files.iter().cloned().collect();
    let handles: Vec<FileDescriptor> = pool.files().collect();
    let protos: Vec<&FileDescriptorProto> = handles.iter().map(FileDescriptor::file_descriptor_proto).collect();
    let findings = lint::lint(&protos, &own, Some(pool), config);
    Outcome { scope: Linted { root, files: own.len(), rules: lint::selected(config).len() }, findings }
}
