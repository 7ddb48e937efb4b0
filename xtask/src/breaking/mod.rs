//! `cargo xtask breaking`: the breaking-change gate.
//!
//! Compares the current proto tree against a baseline (the frozen
//! descriptor set by default, another proto tree, a descriptor set file or
//! a git revision) with buf's breaking rules, and exits 0 (compatible),
//! 1 (breaking; findings listed) or 2 (usage or input error). Both sides
//! are compiled with protox and compared as descriptors; proto text is
//! never re-parsed here. The policy the gate enforces is
//! `docs/compatibility.md`.

mod check;
pub mod model;
pub mod report;
pub mod rules;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use prost::Message as _;
use xshell::{Shell, cmd};

pub use model::Tree;
pub use report::{Finding, Format, Side};
pub use rules::{ALL_RULES, Category, Rule};

use crate::paths::{FROZEN_DESCRIPTOR_SET, PROTO_DIR};
use crate::descriptors::{compile_tree, decode_set};

/// The category the compatibility policy picks for `dome.gateway.v1`: the
/// SDK is generated code, so a source-breaking change breaks clients.
pub const DEFAULT_CATEGORY: Category = Category::File;

/// Exit code: compatible (or, for the lint, clean).
pub const EXIT_OK: i32 = 0;
/// Exit code: findings.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: usage or input error.
pub const EXIT_ERROR: i32 = 2;

/// Flags of `cargo xtask breaking`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Compare against this proto directory, or this descriptor set file
    /// (`.binpb`, `.pb`); default: the v1 freeze,
    /// `golden/frozen/dome.gateway.v1.binpb`.
    #[arg(long, value_name = "DIR|FILE.binpb", conflicts_with = "against_git")]
    pub against: Option<PathBuf>,
    /// Compare against the protos of this git revision (read with git, the
    /// work tree is never checked out).
    #[arg(long, value_name = "REV")]
    pub against_git: Option<String>,
    /// The current proto tree; default: `proto/`.
    #[arg(long, value_name = "DIR")]
    pub proto_root: Option<PathBuf>,
    /// Rule category; default: FILE, as `docs/compatibility.md` sets.
    #[arg(long, value_enum)]
    pub category: Option<Category>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// When the current tree is compatible with the baseline, record it as
    /// the new frozen baseline (`golden/frozen/dome.gateway.v1.binpb`);
    /// a breaking tree is refused and nothing is written.
    #[arg(long)]
    pub freeze: bool,
}

/// The baseline to compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// A descriptor set file.
    DescriptorSet(PathBuf),
    /// A directory of protos.
    Dir(PathBuf),
    /// The protos at a git revision, below the same path as the current
    /// proto root.
    Git(String),
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The category checked.
    pub category: Category,
    /// The baseline's label.
    pub against: String,
    /// Findings of the category's rules, sorted.
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// The exit code the outcome maps to.
    pub fn exit_code(&self) -> i32 {
        report::exit_code(&self.findings)
    }

    /// The output in `format`: findings grouped by file then a verdict line
    /// (text), or a JSON array of findings.
    pub fn render(&self, format: Format) -> String {
        let verdict = if self.findings.is_empty() {
            format!("compatible: no breaking changes against {} (category {})", self.against, self.category)
        } else {
            format!(
                "breaking: {} in {} against {} (category {})",
                report::plural(self.findings.len(), "finding"),
                report::plural(report::file_count(&self.findings), "file"),
                self.against,
                self.category
            )
        };
        report::render(&self.findings, format, &verdict)
    }
}

/// Runs the gate from the command line: prints the result and returns the
/// exit code (0 compatible, 1 breaking, 2 usage or input error).
pub fn main(root: &Path, args: &Args) -> i32 {
    match run(root, args) {
        Ok(outcome) => {
            print!("{}", outcome.render(args.format));
            if args.freeze && outcome.findings.is_empty() {
                if let Err(e) = freeze(root, args) {
                    eprintln!("error: {e:#}");
                    return EXIT_ERROR;
                }
                eprintln!("froze the current tree as `{FROZEN_DESCRIPTOR_SET}`");
            } else if args.freeze {
                eprintln!("not frozen: the current tree breaks the baseline");
            }
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
}

/// The gate as CI runs it: the default baseline and category, failing on
/// any finding.
pub fn gate(root: &Path) -> Result<()> {
    let outcome = run(root, &Args::default())?;
    if !outcome.findings.is_empty() {
        bail!(
            "{}the change breaks the v1 contract: make it compatible, or make it in a new major package (see docs/compatibility.md)",
            outcome.render(Format::Text)
        );
    }
    print!("{}", outcome.render(Format::Text));
    Ok(())
}

/// Resolves the flags, loads both sides and compares them.
pub fn run(root: &Path, args: &Args) -> Result<Outcome> {
    let proto_root = args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR));
    let baseline = match (&args.against, &args.against_git) {
        (Some(_), Some(_)) => bail!("give at most one of `--against` and `--against-git`"),
        (None, Some(rev)) => Baseline::Git(rev.clone()),
        (Some(path), None) if path.is_dir() => Baseline::Dir(path.clone()),
        (Some(path), None) if path.is_file() => Baseline::DescriptorSet(path.clone()),
        (Some(path), None) => bail!("`--against {}`: no such directory or file", path.display()),
        (None, None) => Baseline::DescriptorSet(root.join(FROZEN_DESCRIPTOR_SET)),
    };
    let current = load_dir(&proto_root, &proto_root.display().to_string())?;
    let against = load_baseline(root, &proto_root, &baseline)?;
    Ok(compare(&current, &against, args.category.unwrap_or(DEFAULT_CATEGORY)))
}

/// Writes the current tree's descriptor set (with source info) as the new
/// frozen baseline.
fn freeze(root: &Path, args: &Args) -> Result<()> {
    let proto_root = args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR));
    let compiled = compile_tree(&proto_root)?;
    let path = root.join(FROZEN_DESCRIPTOR_SET);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, compiled.encoded).with_context(|| format!("cannot write `{}`", path.display()))
}

/// Compares two loaded trees under one category.
pub fn compare(current: &Tree, baseline: &Tree, category: Category) -> Outcome {
    let findings = check::compare(current, baseline)
        .into_iter()
        .filter(|f| f.category.contains(&category.as_str()))
        .collect();
    Outcome { category, against: baseline.label.clone(), findings }
}

/// Every finding of every rule, whatever its category, sorted.
pub fn findings(current: &Tree, baseline: &Tree) -> Vec<Finding> {
    check::compare(current, baseline)
}

/// Compiles a proto directory into a tree; its own files are those under
/// the directory.
pub fn load_dir(dir: &Path, label: &str) -> Result<Tree> {
    let compiled = compile_tree(dir)?;
    let set = prost_types::FileDescriptorSet::decode(compiled.encoded.as_slice())
        .context("descriptor set does not decode")?;
    Ok(Tree { label: label.to_string(), files: set.file, own: compiled.files.into_iter().collect() })
}

/// Reads a descriptor set file into a tree. Files under `google/protobuf/`
/// are taken as imports; every other file belongs to the tree.
pub fn load_descriptor_set(path: &Path, label: &str) -> Result<Tree> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    // Decoded once through prost-reflect to validate references, then as
    // plain descriptors, which keep the source info the findings need.
    decode_set(&bytes).with_context(|| format!("`{}`", path.display()))?;
    let set = prost_types::FileDescriptorSet::decode(bytes.as_slice())
        .with_context(|| format!("`{}` is not a FileDescriptorSet", path.display()))?;
    let own: BTreeSet<String> =
        set.file.iter().map(|f| f.name().to_string()).filter(|n| !n.starts_with("google/protobuf/")).collect();
    Ok(Tree { label: label.to_string(), files: set.file, own })
}

/// Loads the baseline side.
pub fn load_baseline(root: &Path, proto_root: &Path, baseline: &Baseline) -> Result<Tree> {
    match baseline {
        Baseline::DescriptorSet(path) => load_descriptor_set(path, &display_rel(root, path)),
        Baseline::Dir(dir) => load_dir(dir, &dir.display().to_string()),
        Baseline::Git(rev) => load_git(proto_root, rev),
    }
}

fn display_rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Writes the `.proto` files of `rev` below the proto root's path in its
/// repository to a temporary directory, with git (no checkout), and
/// compiles them. Three git processes whatever the number of files: one to
/// find the repository, one to list the tree, one to read every blob.
pub fn load_git(proto_root: &Path, rev: &str) -> Result<Tree> {
    let sh = Shell::new()?;
    sh.change_dir(proto_root);
    let located = cmd!(sh, "git rev-parse --show-toplevel --show-prefix")
        .quiet()
        .ignore_stderr()
        .read()
        .with_context(|| format!("`{}` is not inside a git repository", proto_root.display()))?;
    let mut lines = located.lines();
    let top = lines.next().unwrap_or_default().to_string();
    let prefix = lines.next().unwrap_or_default().to_string();
    sh.change_dir(&top);
    let tree = format!("{rev}^{{tree}}");
    let pathspec = if prefix.is_empty() { ".".to_string() } else { prefix.clone() };
    let listing = cmd!(sh, "git ls-tree -r {tree} -- {pathspec}")
        .quiet()
        .ignore_stderr()
        .read()
        .map_err(|_| anyhow::anyhow!("`{rev}` is not a git revision of `{top}`"))?;
    // `<mode> blob <object>\t<path>` per file.
    let protos: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(meta, path)| path.ends_with(".proto") && meta.split(' ').nth(1) == Some("blob"))
        .filter_map(|(meta, path)| Some((meta.split(' ').nth(2)?, path)))
        .collect();
    if protos.is_empty() {
        bail!("`{rev}` has no .proto files under `{pathspec}`");
    }
    let request: String = protos.iter().map(|(object, _)| format!("{object}\n")).collect();
    let batch = cmd!(sh, "git cat-file --batch").quiet().stdin(request).output()?.stdout;
    let tmp = tempfile::tempdir()?;
    let mut rest = batch.as_slice();
    for (object, path) in &protos {
        // `<object> blob <size>\n<contents>\n` per object, in request order.
        let header_end = rest.iter().position(|b| *b == b'\n').context("truncated `git cat-file` output")?;
        let header = std::str::from_utf8(&rest[..header_end])?;
        let size: usize = header
            .strip_prefix(*object)
            .and_then(|h| h.strip_prefix(" blob "))
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("unexpected `git cat-file` header `{header}`"))?;
        let body = rest.get(header_end + 1..header_end + 1 + size).context("truncated `git cat-file` output")?;
        let dest = tmp.path().join(path.strip_prefix(prefix.as_str()).unwrap_or(path));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&dest, body)?;
        rest = rest.get(header_end + 2 + size..).unwrap_or_default();
    }
    load_dir(tmp.path(), &format!("git:{rev}")).with_context(|| format!("the protos of `{rev}` do not compile"))
}
