//! Compiling a proto tree into a descriptor set, the one representation
//! every gate reads (no gate re-parses proto text on its own).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use prost::Message as _;
use prost_reflect::DescriptorPool;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::util::files_with_suffix;

/// A compiled proto tree.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The proto files of the tree, relative to its root, sorted.
    pub files: Vec<String>,
    /// The descriptor set with source info and every import, encoded.
    pub encoded: Vec<u8>,
    /// The same descriptor set, decoded as plain descriptors (the one copy
    /// of the source info the rules read).
    pub set: prost_types::FileDescriptorSet,
    /// The same descriptor set, decoded for reflection (custom options).
    pub pool: DescriptorPool,
}

/// A start and end position in a proto file, 1-based; all 0 when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// Start line.
    pub line: usize,
    /// Start column.
    pub column: usize,
    /// End line.
    pub end_line: usize,
    /// End column (exclusive).
    pub end_column: usize,
}

/// A proto that does not compile, or cannot be read: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The file, relative to its proto root.
    pub path: String,
    /// Where it is, 1-based; unknown (0) when the error has no position.
    pub at: Span,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.line == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path, self.at.line, self.at.column, self.message)
        }
    }
}

impl std::error::Error for CompileError {}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
    (line, column)
}

/// The text of each file of a tree, read once and shared with the error
/// reporting.
type Texts = Arc<HashMap<String, String>>;

/// Serves the tree's own files from memory (read once, checked for
/// UTF-8, a byte-order mark dropped), then the well-known imports.
struct Sources {
    texts: Texts,
}

impl FileResolver for Sources {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        let name = path.to_str()?;
        self.texts.contains_key(name).then(|| name.to_string())
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.texts.get(name) {
            Some(source) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Reads one proto file: UTF-8 (an invalid byte is reported at its line
/// and column), a leading byte-order mark dropped as buf drops it.
fn read_source(root: &Path, name: &str) -> Result<String> {
    let bytes =
        std::fs::read(root.join(name)).with_context(|| format!("cannot read `{}`", root.join(name).display()))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Ok(text),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(&bytes[..valid]);
            let (line, column) = line_column(&text, valid);
            let at = Span { line, column, end_line: line, end_column: column + 1 };
            Err(CompileError { path: name.into(), at, message: "invalid UTF-8 (proto files must be UTF-8)".into() }
                .into())
        }
    }
}

/// Compiles every `.proto` file under `proto_root` (less those under the
/// `excludes` directories) with protox (no protoc), keeping source info
/// so comments and positions survive.
///
/// A proto that does not compile is a [`CompileError`] naming its file,
/// line and column.
pub fn compile_tree(proto_root: &Path, excludes: &[String]) -> Result<Compiled> {
    let files = tree_files(proto_root, excludes)?;
    compile_files(proto_root, files.clone(), &files)
}

/// The `.proto` files [`compile_tree`] compiles: every one under
/// `proto_root` less those under the `excludes` directories, relative to
/// the root, sorted; an error when there is none.
pub fn tree_files(proto_root: &Path, excludes: &[String]) -> Result<Vec<String>> {
    let files: Vec<String> =
        files_with_suffix(proto_root, proto_root, ".proto")?.into_iter().filter(|f| !under(excludes, f)).collect();
    if files.is_empty() {
        return Err(anyhow!("no .proto files under `{}`", proto_root.display()));
    }
    Ok(files)
}

/// Whether `file` (a path relative to a proto root) is one of `paths` or
/// lies under one of them (`.` is the whole root), as buf matches the
/// paths of `excludes` and `ignore`.
pub fn under(paths: &[String], file: &str) -> bool {
    paths.iter().any(|p| {
        let p = p.trim_end_matches('/');
        p == "." || file == p || file.strip_prefix(p).is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Compiles `files` (relative to `proto_root`) and what they import, as
/// [`compile_tree`] does; `available` are the files imports may resolve
/// to (besides Google's well-known types).
pub fn compile_files(proto_root: &Path, files: Vec<String>, available: &[String]) -> Result<Compiled> {
    let texts = read_sources(proto_root, &files, available)?;
    let mut compiler = compiler(Sources { texts: texts.clone() });
    compiler.open_files(&files).map_err(|e| anyhow::Error::new(compile_error(&e, &texts)))?;
    // Encoded from the pool, not through `prost_types`, whose option
    // messages would drop the custom options (unknown fields to prost).
    let encoded = compiler.encode_file_descriptor_set();
    // The compiler's own pool holds the files of that set (every import
    // included) with their source info: no need to decode it again.
    let pool = compiler.descriptor_pool();
    drop(compiler);
    let set = prost_types::FileDescriptorSet::decode(encoded.as_slice()).context("descriptor set does not decode")?;
    Ok(Compiled { files, encoded, set, pool })
}

fn read_sources(proto_root: &Path, files: &[String], available: &[String]) -> Result<Texts> {
    let mut sources = HashMap::with_capacity(available.len());
    for f in available.iter().chain(files) {
        if !sources.contains_key(f) {
            sources.insert(f.clone(), read_source(proto_root, f)?);
        }
    }
    Ok(Arc::new(sources))
}

fn compiler(sources: Sources) -> protox::Compiler {
    let mut resolver = ChainFileResolver::new();
    resolver.add(sources);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_source_info(true).include_imports(true);
    compiler
}

/// A proto tree compiled for the breaking rules: the descriptors with
/// source info.
#[derive(Debug, Clone)]
pub struct Analyzed {
    /// The proto files of the tree, relative to its root, sorted.
    pub files: Vec<String>,
    /// The descriptor set, imports included, with source info.
    pub set: prost_types::FileDescriptorSet,
}

fn compile_for_rules(proto_root: &Path, excludes: &[String]) -> Result<(Vec<String>, protox::Compiler)> {
    let files = tree_files(proto_root, excludes)?;
    let texts = read_sources(proto_root, &files, &files)?;
    let mut compiler = compiler(Sources { texts: texts.clone() });
    compiler.open_files(&files).map_err(|e| anyhow::Error::new(compile_error(&e, &texts)))?;
    Ok((files, compiler))
}

/// Compiles the tree as [`compile_tree`] does into plain descriptors
/// only, with fewer copies of the source info alive at once: no
/// reflection pool is decoded, and the encoded set is dropped as soon
/// as it is decoded.
pub fn analyze_tree(proto_root: &Path, excludes: &[String]) -> Result<Analyzed> {
    let (files, compiler) = compile_for_rules(proto_root, excludes)?;
    let encoded = compiler.encode_file_descriptor_set();
    drop(compiler);
    let set = prost_types::FileDescriptorSet::decode(encoded.as_slice()).context("descriptor set does not decode")?;
    Ok(Analyzed { files, set })
}

/// Compiles the tree as [`compile_tree`] does into the compiler's own
/// pool, whose files carry their source info: one copy, read both as
/// plain descriptors and by reflection (custom options).
pub fn compile_to_pool(proto_root: &Path, excludes: &[String]) -> Result<(Vec<String>, DescriptorPool)> {
    let (files, compiler) = compile_for_rules(proto_root, excludes)?;
    Ok((files, compiler.descriptor_pool()))
}

/// Decodes an encoded descriptor set (a `.binpb` file).
pub fn decode_set(bytes: &[u8]) -> Result<DescriptorPool> {
    DescriptorPool::decode(bytes).context("not a valid FileDescriptorSet")
}

/// A protox error as a [`CompileError`]: its file, and the line and
/// column of its label (for an import cycle, of the import that closes
/// it).
fn compile_error(e: &protox::Error, sources: &HashMap<String, String>) -> CompileError {
    let message = e.to_string();
    let Some(file) = e.file() else { return CompileError { path: String::new(), at: Span::default(), message } };
    let text = sources.get(file).map(String::as_str).unwrap_or_default();
    let label = miette::Diagnostic::labels(e).and_then(|mut labels| labels.next());
    let at = match label {
        Some(span) => {
            let (line, column) = line_column(text, span.offset());
            let (end_line, end_column) = line_column(text, span.offset() + span.len());
            Span { line, column, end_line, end_column }
        }
        None => import_position(&message, text),
    };
    CompileError { path: file.to_string(), at, message }
}

/// For `import cycle detected: a.proto -> b.proto -> a.proto`, the
/// position of `a.proto`'s import of `b.proto`.
fn import_position(message: &str, text: &str) -> Span {
    let Some(cycle) = message.split_once(": ").map(|(_, c)| c) else { return Span::default() };
    let Some(next) = cycle.split(" -> ").nth(1) else { return Span::default() };
    let needle = format!("\"{next}\"");
    let Some(offset) = text.find(&needle) else { return Span::default() };
    let start = text[..offset].rfind("import").unwrap_or(offset);
    let (line, column) = line_column(text, start);
    let (end_line, end_column) = line_column(text, offset + needle.len());
    Span { line, column, end_line, end_column: end_column + 1 }
}

/// The same error with a [`CompileError`]'s path prefixed with `prefix`
/// (where the command's user sees the file) and, when `side` is given,
/// the side of the comparison named in its message.
pub fn relabel(e: anyhow::Error, prefix: &str, side: Option<&str>) -> anyhow::Error {
    match e.downcast::<CompileError>() {
        Ok(c) => {
            let message = match side {
                Some(side) => format!("{} (in the {side})", c.message),
                None => c.message,
            };
            anyhow::Error::new(CompileError { path: format!("{prefix}{}", c.path), at: c.at, message })
        }
        Err(e) => match side {
            Some(side) => e.context(format!("in the {side}")),
            None => e,
        },
    }
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
    /// 1-based line of the element's end.
    pub end_line: usize,
    /// 1-based column just past the element's end, as buf reports it.
    pub end_column: usize,
    /// The comment right before the element, trimmed of comment markers
    /// and common indentation; empty when there is none.
    pub leading_comments: String,
    /// The comment right after the element on its line; may be empty.
    pub trailing_comments: String,
}

impl Located {
    /// The element's span.
    pub fn span(&self) -> Span {
        Span { line: self.line, column: self.column, end_line: self.end_line, end_column: self.end_column }
    }
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
    // A span is `[line, column, end column]` on one line, or
    // `[line, column, end line, end column]`; all 0-based.
    let at = |i: usize| loc.span.get(i).map_or(0, |v| *v as usize + 1);
    let (end_line, end_column) = if loc.span.len() == 3 { (at(0), at(2)) } else { (at(2), at(3)) };
    Located {
        file: name,
        line: at(0),
        column: at(1),
        end_line,
        end_column,
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
