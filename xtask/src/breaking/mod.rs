//! `cargo xtask breaking`: the breaking-change gate.
//!
//! Compares the current proto tree (or image) against a baseline (the
//! frozen descriptor set by default, another proto tree, an image or a
//! git revision) with buf's breaking rules as `buf.yaml` selects them,
//! and exits 0 (compatible), 1 (breaking; findings listed) or 2 (usage or
//! input error). Both sides are compiled with protox, at the same time,
//! and compared as descriptors; proto text is never re-parsed here. The policy the gate enforces is
//! `docs/compatibility.md`.

mod check;
pub mod model;
pub mod rules;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use prost::Message as _;
use xshell::{Shell, cmd};

pub use model::Tree;
pub use rules::{ALL_RULES, Category, Rule};

use crate::config::{self, Config, Section};
use crate::descriptors::{compile_tree, decode_set, display_prefix, relabel, report_error};
use crate::findings::{self, EXIT_ERROR, Finding, Format};
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
    #[arg(long, value_enum)]
    pub category: Option<Category>,
    /// Output format.
    #[arg(long, alias = "format", value_enum, default_value_t = Format::Text)]
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
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The rules checked: a category's name, or `configured rules`.
    pub checked: String,
    /// The baseline's label.
    pub against: String,
    /// Findings of the selected rules, sorted as buf sorts them.
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// The exit code the outcome maps to.
    pub fn exit_code(&self) -> i32 {
        findings::exit_code(&self.findings)
    }

    /// The findings in `format`, each path prefixed with `prefix`.
    pub fn render(&self, format: Format, prefix: &str) -> String {
        findings::render(&self.findings, format, prefix)
    }

    /// The one-line verdict printed after the findings (on stderr, so
    /// that the findings stay machine-readable).
    pub fn summary(&self) -> String {
        if self.findings.is_empty() {
            format!("compatible: no breaking changes against {} ({})", self.against, self.checked)
        } else {
            format!(
                "breaking: {} in {} against {} ({})",
                findings::plural(self.findings.len(), "finding"),
                findings::plural(findings::file_count(&self.findings), "file"),
                self.against,
                self.checked
            )
        }
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
        Err(e) => report_error(&e, args.error_format, EXIT_ERROR),
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

/// Fails on a selector (in `use`, `except` or `ignore_only`) that names
/// neither a breaking rule nor a category.
pub fn check_selectors(config: &Config) -> Result<()> {
    let s = &config.breaking.section;
    for (key, name) in s
        .use_
        .iter()
        .map(|n| ("use", n))
        .chain(s.except.iter().map(|n| ("except", n)))
        .chain(s.ignore_only.keys().map(|n| ("ignore_only", n)))
    {
        let known = ALL_RULES.iter().any(|r| r.id == name || r.categories.contains(&name.as_str()));
        if !known {
            bail!(
                "{}: breaking.{key}: `{name}` is neither a breaking rule nor a category (FILE, PACKAGE, WIRE_JSON, WIRE)",
                config.source
            );
        }
    }
    Ok(())
}

fn selected_by(names: &[String], rule: &Rule) -> bool {
    names.iter().any(|n| n == rule.id || rule.categories.contains(&n.as_str()))
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
    let config = config::load(&proto_root, args.config.as_deref())?;
    let (current, against) = std::thread::scope(|s| {
        let current = s.spawn(|| match &args.image {
            Some(image) => load_descriptor_set(image, &image.display().to_string())
                .map_err(|e| relabel(e, "", Some("current image"))),
            None => load_dir_excluding(&proto_root, &proto_root.display().to_string(), &config.excludes)
                .map_err(|e| relabel(e, &display_prefix(&proto_root), Some("current tree"))),
        });
        let against = load_baseline(root, &proto_root, &baseline);
        (current.join().unwrap_or_else(|_| Err(anyhow::anyhow!("loading the current tree panicked"))), against)
    });
    let (current, against) = (current?, against?);
    Ok(compare_configured(&current, &against, &config, args.category))
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

/// Compares two loaded trees under one category.
pub fn compare(current: &Tree, baseline: &Tree, category: Category) -> Outcome {
    compare_configured(current, baseline, &Config::default(), Some(category))
}

/// Whether a package's last component is an unstable version
/// (`v1alpha1`, `v1beta`, `v1test`, `v1p1alpha`), which
/// `ignore_unstable_packages` leaves out.
pub fn is_unstable_package(pkg: &str) -> bool {
    let last = pkg.rsplit('.').next().unwrap_or(pkg);
    crate::toolkit::has_version_suffix(pkg)
        && (last.contains("alpha") || last.contains("beta") || last.contains("test"))
}

/// Compares two trees under a configuration: its rules (or `category`
/// instead), less the files it ignores.
pub fn compare_configured(current: &Tree, baseline: &Tree, config: &Config, category: Option<Category>) -> Outcome {
    let b = &config.breaking;
    // Ignored files (and unstable packages) leave both sides before the
    // comparison, as buf filters its images; the copy is made only then.
    let keep = |tree: &Tree| -> Tree {
        let own: BTreeSet<String> = tree
            .own
            .iter()
            .filter(|name| !Section::matches(&b.section.ignore, name))
            .filter(|name| {
                !b.ignore_unstable_packages
                    || !tree.files.iter().any(|f| f.name() == name.as_str() && is_unstable_package(f.package()))
            })
            .cloned()
            .collect();
        Tree { label: tree.label.clone(), files: tree.files.clone(), own }
    };
    let all = if b.section.ignore.is_empty() && !b.ignore_unstable_packages {
        check::compare(current, baseline)
    } else {
        check::compare(&keep(current), &keep(baseline))
    };
    let (use_, checked) = match category {
        Some(c) => (vec![c.as_str().to_string()], format!("category {c}")),
        None => (b.section.use_.clone(), format!("{} from {}", b.section.use_.join(", "), config.source)),
    };
    let except = if category.is_some() { Vec::new() } else { b.section.except.clone() };
    let findings = all
        .into_iter()
        .filter(|f| {
            let Some(rule) = ALL_RULES.iter().find(|r| r.id == f.rule) else { return false };
            selected_by(&use_, rule) && !selected_by(&except, rule)
        })
        .filter(|f| {
            !b.section.ignore_only.iter().any(|(k, paths)| {
                (k == f.rule || ALL_RULES.iter().any(|r| r.id == f.rule && r.categories.contains(&k.as_str())))
                    && Section::matches(paths, &f.path)
            })
        })
        .collect();
    Outcome { checked, against: baseline.label.clone(), findings }
}

/// Every finding of every rule, whatever its category, sorted.
pub fn findings(current: &Tree, baseline: &Tree) -> Vec<Finding> {
    check::compare(current, baseline)
}

/// Compiles a proto directory into a tree; its own files are those under
/// the directory.
pub fn load_dir(dir: &Path, label: &str) -> Result<Tree> {
    load_dir_excluding(dir, label, &[])
}

fn load_dir_excluding(dir: &Path, label: &str, excludes: &[String]) -> Result<Tree> {
    let compiled = compile_tree(dir, excludes)?;
    Ok(Tree { label: label.to_string(), files: compiled.set.file, own: compiled.files.into_iter().collect() })
}

/// Reads an image (a descriptor set file) into a tree. Files under
/// `google/protobuf/` are taken as imports; every other file belongs to
/// the tree. An empty image, or one with no files, is an error.
pub fn load_descriptor_set(path: &Path, label: &str) -> Result<Tree> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read image `{}`", path.display()))?;
    if bytes.is_empty() {
        bail!(
            "image `{}` is empty (0 bytes): build it with `buf build -o` or `protoc --include_source_info --descriptor_set_out`",
            path.display()
        );
    }
    // Decoded once through prost-reflect to validate references, then as
    // plain descriptors, which keep the source info the findings need.
    decode_set(&bytes).with_context(|| format!("image `{}`", path.display()))?;
    let set = prost_types::FileDescriptorSet::decode(bytes.as_slice())
        .with_context(|| format!("image `{}` is not a FileDescriptorSet", path.display()))?;
    let own: BTreeSet<String> =
        set.file.iter().map(|f| f.name().to_string()).filter(|n| !n.starts_with("google/protobuf/")).collect();
    if own.is_empty() {
        bail!("image `{}` contains no files", path.display());
    }
    Ok(Tree { label: label.to_string(), files: set.file, own })
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
    load_dir(tmp.path(), &format!("git:{rev}"))
}
