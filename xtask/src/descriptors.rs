//! Compiling a proto tree into a descriptor set, the one representation
//! every gate reads (no gate re-parses proto text on its own).

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use prost_reflect::DescriptorPool;

use crate::util::files_with_suffix;

/// A compiled proto tree.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The proto files of the tree, relative to its root, sorted.
    pub files: Vec<String>,
    /// The descriptor set with source info and every import, encoded.
    pub encoded: Vec<u8>,
    /// The same descriptor set, decoded for reflection.
    pub pool: DescriptorPool,
}

/// Compiles every `.proto` file under `proto_root` with protox (no
/// protoc), keeping source info so comments and positions survive.
///
/// A proto that does not compile is an error naming its file and line.
pub fn compile_tree(proto_root: &Path) -> Result<Compiled> {
    let files = files_with_suffix(proto_root, proto_root, ".proto")?;
    if files.is_empty() {
        return Err(anyhow!("no .proto files under `{}`", proto_root.display()));
    }
    let mut compiler = protox::Compiler::new([proto_root])
        .with_context(|| format!("cannot read proto root `{}`", proto_root.display()))?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(&files).map_err(|e| anyhow!("{}", render_protox_error(&e, proto_root)))?;
    // Encoded from the pool, not through `prost_types`, whose option
    // messages would drop the custom options (unknown fields to prost).
    let encoded = compiler.encode_file_descriptor_set();
    let pool = DescriptorPool::decode(encoded.as_slice()).context("descriptor set does not decode")?;
    Ok(Compiled { files, encoded, pool })
}

/// Decodes an encoded descriptor set (a `.binpb` file).
pub fn decode_set(bytes: &[u8]) -> Result<DescriptorPool> {
    DescriptorPool::decode(bytes).context("not a valid FileDescriptorSet")
}

/// Renders a protox error as `file:line:column: message`.
fn render_protox_error(e: &protox::Error, proto_root: &Path) -> String {
    let Some(file) = e.file() else { return e.to_string() };
    let label = miette::Diagnostic::labels(e).and_then(|mut labels| labels.next());
    let Some(span) = label else { return format!("{file}: {e}") };
    let text = std::fs::read_to_string(proto_root.join(file)).unwrap_or_default();
    let offset = span.offset().min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{file}:{line}:{column}: {e}")
}

/// Where an element of a proto file is, and what its comments say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Located {
    /// The file, relative to the proto root.
    pub file: String,
    /// 1-based line of the element's start.
    pub line: usize,
    /// 1-based column of the element's start.
    pub column: usize,
    /// The comment right before the element, trimmed of comment markers
    /// and common indentation; empty when there is none.
    pub leading_comments: String,
    /// The comment right after the element on its line; may be empty.
    pub trailing_comments: String,
}

/// Looks up the source location of the element at `path` of `file`.
///
/// Returns the file with line and column 0 when the descriptor set was
/// built without source info.
pub fn locate(file: &prost_types::FileDescriptorProto, path: &[i32]) -> Located {
    let name = file.name().to_string();
    let Some(info) = &file.source_code_info else {
        return Located { file: name, ..Located::default() };
    };
    let Some(loc) = info.location.iter().find(|l| l.path == path) else {
        return Located { file: name, ..Located::default() };
    };
    Located {
        file: name,
        line: loc.span.first().map_or(0, |l| *l as usize + 1),
        column: loc.span.get(1).map_or(0, |c| *c as usize + 1),
        leading_comments: clean_comment(loc.leading_comments()),
        trailing_comments: clean_comment(loc.trailing_comments()),
    }
}

/// Strips the single leading space protobuf leaves on each comment line
/// and the surrounding blank lines.
pub fn clean_comment(raw: &str) -> String {
    let lines: Vec<&str> = raw.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end()).collect();
    lines.join("\n").trim_matches('\n').to_string()
}
