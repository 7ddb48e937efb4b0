//! The inputs the rules read: a proto tree compiled with protox, an image
//! (a descriptor set with source info, as `buf build` or `protoc
//! --include_source_info` writes it), or the protos of a git revision,
//! each loaded as a [`Tree`].

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use prost::Message as _;
use prost_types::FileDescriptorProto;
use xshell::{Shell, cmd};

use super::features::Resolved;
use crate::descriptors::analyze_tree;

/// A loaded proto tree (or image) the rules read.
#[derive(Debug, Clone)]
pub struct Tree {
    /// How the tree is named in output (`proto/`, `golden/...binpb`, `git:REV`).
    pub label: String,
    /// Every file of the descriptor set, imports included.
    pub files: Vec<FileDescriptorProto>,
    /// The names of the files that belong to the tree (not imports).
    pub own: BTreeSet<String>,
    /// The resolved features of the elements of editions files (images
    /// only: protox compiles proto2 and proto3).
    pub features: Resolved,
}

/// Compiles a proto directory into a tree; its own files are those under
/// the directory.
pub fn load_dir(dir: &Path, label: &str) -> Result<Tree> {
    load_dir_excluding(dir, label, &[])
}

/// Compiles a proto directory, less the `excludes` paths, into a tree.
pub fn load_dir_excluding(dir: &Path, label: &str, excludes: &[String]) -> Result<Tree> {
    let compiled = analyze_tree(dir, excludes)?;
    let own = compiled.files.into_iter().collect();
    let mut files = compiled.set.file;
    drop_comments(&mut files);
    Ok(Tree { label: label.to_string(), files, own, features: Resolved::default() })
}

/// Drops the comments of the source info, which no breaking rule reads,
/// and keeps the spans the findings are positioned by.
fn drop_comments(files: &mut [FileDescriptorProto]) {
    for info in files.iter_mut().filter_map(|f| f.source_code_info.as_mut()) {
        for loc in &mut info.location {
            loc.leading_comments = None;
            loc.trailing_comments = None;
            loc.leading_detached_comments = Vec::new();
        }
    }
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
    // Decoded as plain descriptors, which keep the source info the
    // findings need; the features of editions files (which those drop)
    // are read apart.
    let set = prost_types::FileDescriptorSet::decode(bytes.as_slice())
        .with_context(|| format!("image `{}` is not a FileDescriptorSet", path.display()))?;
    let names: BTreeSet<&str> = set.file.iter().map(|f| f.name()).collect();
    for f in &set.file {
        if let Some(missing) = f.dependency.iter().find(|d| !names.contains(d.as_str())) {
            bail!(
                "image `{}`: `{}` imports `{missing}`, which the image does not contain (build it with its imports)",
                path.display(),
                f.name()
            );
        }
    }
    let features = if set.file.iter().any(|f| f.syntax() == "editions") {
        Resolved::decode(&bytes).with_context(|| format!("image `{}`: features do not decode", path.display()))?
    } else {
        Resolved::default()
    };
    let own: BTreeSet<String> =
        set.file.iter().map(|f| f.name().to_string()).filter(|n| !n.starts_with("google/protobuf/")).collect();
    if own.is_empty() {
        bail!("image `{}` contains no files", path.display());
    }
    let mut files = set.file;
    drop_comments(&mut files);
    Ok(Tree { label: label.to_string(), files, own, features })
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
