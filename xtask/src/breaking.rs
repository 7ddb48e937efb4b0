//! `cargo xtask breaking`: the breaking-change gate.
//!
//! Compares the current proto tree (or image) against a baseline (the
//! frozen descriptor set by default, another proto tree, an image or a
//! git revision) with buf's breaking rules as `buf.yaml` selects them,
//! and exits 0 (compatible), 1 (breaking; findings listed) or 2 (usage or
//! input error). Both sides are loaded at the same time and compared by
//! the engine ([`crate::engine::breaking`]); proto text is never
//! re-parsed here. The policy the gate enforces is
//! `docs/compatibility.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::{self, EXIT_ERROR, display_prefix, report_error};
use crate::descriptors::{compile_tree, relabel};
use crate::engine::breaking::{self, Category};
use crate::engine::input::{Tree, load_descriptor_set, load_dir, load_dir_excluding, load_git};
use crate::engine::output::Format;
use crate::engine::{self, config::Config};
use crate::paths::{FROZEN_DESCRIPTOR_SET, PROTO_DIR};

/// Flags of `cargo xtask breaking`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Compare against this proto directory, or this image (a descriptor
    /// set with source info, `.binpb`, as `buf build` or `protoc
    /// --include_source_info` write it); default: the v1 freeze,
    /// `golden/frozen/dome.gateway.v1.binpb`.
    #[arg(long, value_name = "DIR|FILE.binpb", conflicts_with = "against_git")]
    pub against: Option<PathBuf>,
    /// Compare against the protos of this git revision (read with git, the
    /// work tree is never checked out).
    #[arg(long, value_name = "REV")]
    pub against_git: Option<String>,
    /// The current proto tree; default: `proto/`.
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub proto_root: Option<PathBuf>,
    /// The current side as an image (`.binpb`) instead of a proto tree,
    /// for trees built elsewhere (editions, protoc plugins).
    #[arg(long, value_name = "FILE.binpb")]
    pub image: Option<PathBuf>,
    /// The buf configuration: a `buf.yaml` file, or its contents as YAML
    /// or JSON; default: the `buf.yaml` (or `buf.work.yaml`) found from
    /// the proto root upwards, else buf's defaults (category FILE).
    #[arg(long, value_name = "FILE|DATA")]
    pub config: Option<String>,
    /// Check this category instead of the configured rules.
    #[arg(long, value_parser = category_parser())]
    pub category: Option<Category>,
    /// Output format.
    #[arg(long, alias = "format", default_value = "text", value_parser = cli::format_parser())]
    pub error_format: Format,
    /// When the current tree is compatible with the baseline, record it as
    /// the new frozen baseline (`golden/frozen/dome.gateway.v1.binpb`);
    /// a breaking tree is refused and nothing is written.
    #[arg(long)]
    pub freeze: bool,
}

/// The baseline to compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// An image (descriptor set) file.
    DescriptorSet(PathBuf),
    /// A directory of protos.
    Dir(PathBuf),
    /// The protos at a git revision, below the same path as the current
    /// proto root.
    Git(String),
}

/// What a run found.
pub type Outcome = cli::Outcome<Compared>;

/// What a run compared.
#[derive(Debug, Clone)]
pub struct Compared {
    /// The rules checked: a category's name, or `configured rules`.
    pub checked: String,
    /// The baseline's label.
    pub against: String,
}

impl cli::Scope for Compared {
    fn clean(&self) -> String {
        format!("compatible: no breaking changes against {} ({})", self.against, self.checked)
    }

    fn found(&self, counts: &str) -> String {
        format!("breaking: {counts} against {} ({})", self.against, self.checked)
    }
}

/// Runs the gate from the command line: prints the findings (stdout) and
/// the verdict (stderr) and returns the exit code: 0 compatible, 1
/// breaking, 2 usage or input error (a proto that does not compile is
/// also printed as a `COMPILE` finding in the chosen format).
pub fn main(root: &Path, args: &Args) -> i32 {
    match run(root, args) {
        Ok(outcome) => {
            let prefix = args.image.as_ref().map_or_else(|| display_prefix(&proto_root(root, args)), |_| String::new());
            print!("{}", outcome.render(args.error_format, &prefix));
            eprintln!("{}", outcome.summary());
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
        Err(e) => report_error(&e, args.error_format),
    }
}

/// The gate as CI runs it: the default baseline and the repository's
/// `buf.yaml`, failing on any finding.
pub fn gate(root: &Path) -> Result<()> {
    let outcome = run(root, &Args::default())?;
    if !outcome.findings.is_empty() {
        bail!(
            "{}{}\nthe change breaks the v1 contract: make it compatible, or make it in a new major package (see docs/compatibility.md)",
            outcome.render(Format::Text, &format!("{PROTO_DIR}/")),
            outcome.summary()
        );
    }
    println!("{}", outcome.summary());
    Ok(())
}

fn proto_root(root: &Path, args: &Args) -> PathBuf {
    args.proto_root.clone().unwrap_or_else(|| root.join(PROTO_DIR))
}

/// Resolves the flags, loads both sides (at the same time) and compares
/// them under the configuration.
pub fn run(root: &Path, args: &Args) -> Result<Outcome> {
    let proto_root = proto_root(root, args);
    let baseline = match (&args.against, &args.against_git) {
        (Some(_), Some(_)) => bail!("give at most one of `--against` and `--against-git`"),
        (None, Some(rev)) => Baseline::Git(rev.clone()),
        (Some(path), None) if path.is_dir() => Baseline::Dir(path.clone()),
        (Some(path), None) if path.is_file() => Baseline::DescriptorSet(path.clone()),
        (Some(path), None) => bail!("`--against {}`: no such directory or file", path.display()),
        (None, None) => Baseline::DescriptorSet(root.join(FROZEN_DESCRIPTOR_SET)),
    };
    let config = engine::configuration(&proto_root, args.config.as_deref())?;
    let load_current = || match &args.image {
        Some(image) => {
            load_descriptor_set(image, &image.display().to_string()).map_err(|e| relabel(e, "", Some("current image")))
        }
        None => load_dir_excluding(&proto_root, &proto_root.display().to_string(), &config.excludes)
            .map_err(|e| relabel(e, &display_prefix(&proto_root), Some("current tree"))),
    };
    // Small trees are compiled at the same time, for latency; a large one
    // after the baseline, so that the compiler's peak memory (two copies
    // of the source info) is never needed twice at once.
    let (current, against) = if args.image.is_none() && proto_bytes(&proto_root) > SEQUENTIAL_ABOVE {
        let against = load_baseline(root, &proto_root, &baseline)?;
        (load_current()?, against)
    } else {
        let (current, against) = std::thread::scope(|s| {
            let current = s.spawn(load_current);
            let against = load_baseline(root, &proto_root, &baseline);
            (current.join().unwrap_or_else(|_| Err(anyhow::anyhow!("loading the current tree panicked"))), against)
        });
        (current?, against?)
    };
    Ok(outcome(&current, &against, &config, args.category))
}

/// Above this many bytes of proto source, the two sides are compiled one
/// after the other (googleapis' 18 API directories are about 6 MB).
const SEQUENTIAL_ABOVE: u64 = 2 << 20;

/// The size of the `.proto` files under `dir` (0 when it cannot be read:
/// the compile will say why).
fn proto_bytes(dir: &Path) -> u64 {
    crate::util::files_with_suffix(dir, dir, ".proto")
        .map(|files| files.iter().filter_map(|f| std::fs::metadata(dir.join(f)).ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Writes the current tree's descriptor set (with source info) as the new
/// frozen baseline.
fn freeze(root: &Path, args: &Args) -> Result<()> {
    let compiled = compile_tree(&proto_root(root, args), &[])?;
    let path = root.join(FROZEN_DESCRIPTOR_SET);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, compiled.encoded).with_context(|| format!("cannot write `{}`", path.display()))
}

fn category_parser() -> impl clap::builder::TypedValueParser<Value = Category> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Category::ALL.map(Category::as_str))
        .try_map(|name| name.parse::<Category>())
}

/// The engine's findings of `current` against `baseline`, with the labels
/// the summary prints.
pub fn outcome(current: &Tree, baseline: &Tree, config: &Config, category: Option<Category>) -> Outcome {
    let checked = match category {
        Some(c) => format!("category {c}"),
        None => format!("{} from {}", config.breaking.section.use_.join(", "), config.source),
    };
    let findings = breaking::compare(current, baseline, config, category);
    Outcome { scope: Compared { checked, against: baseline.label.clone() }, findings }
}

/// Loads the baseline side; its errors say they are in the baseline.
pub fn load_baseline(root: &Path, proto_root: &Path, baseline: &Baseline) -> Result<Tree> {
    match baseline {
        Baseline::DescriptorSet(path) => {
            load_descriptor_set(path, &display_rel(root, path)).map_err(|e| relabel(e, "", Some("baseline image")))
        }
        Baseline::Dir(dir) => load_dir(dir, &dir.display().to_string())
            .map_err(|e| relabel(e, &display_prefix(dir), Some("baseline tree"))),
        Baseline::Git(rev) => {
            load_git(proto_root, rev).map_err(|e| relabel(e, &format!("git:{rev}:"), Some("baseline")))
        }
    }
}

fn display_rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}
