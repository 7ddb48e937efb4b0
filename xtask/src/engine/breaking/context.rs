//! What every breaking check reads and writes: both sides indexed
//! ([`Ctx`]), a pair of elements ([`Pair`]), where a finding points
//! ([`Loc`]) and where it goes ([`Out`]), and the range arithmetic the
//! reservation rules share.

use prost_types::FileDescriptorProto;

use super::model::Index;
use crate::engine::findings::{Finding, Span};
use crate::engine::toolkit::{full_name, position};

/// What every check reads: both sides, indexed.
pub struct Ctx<'a> {
    /// The current tree.
    pub cur: &'a Index<'a>,
    /// The baseline.
    pub old: &'a Index<'a>,
}

/// An element of the baseline and the element of the current tree it
/// pairs with.
#[derive(Debug, Clone)]
pub struct Pair<T> {
    /// The current element.
    pub cur: T,
    /// The baseline's element.
    pub old: T,
}

/// Where a finding points, always into the current tree as buf points:
/// a file and candidate source paths (the first that has a location
/// wins; none, or none located, is the whole file at 1:1), or no file at
/// all when the element's file no longer exists.
pub struct Loc<'p> {
    file: Option<&'p FileDescriptorProto>,
    paths: Vec<Vec<i32>>,
}

impl<'p> Loc<'p> {
    /// The first located of `paths` in the current `file`.
    pub fn at(file: &'p FileDescriptorProto, paths: Vec<Vec<i32>>) -> Loc<'p> {
        Loc { file: Some(file), paths }
    }

    /// The same place, with `path` tried first.
    pub fn prepend(&mut self, path: Vec<i32>) {
        self.paths.insert(0, path);
    }

    /// No file: the element's file is gone (buf prints `<input>`).
    pub fn nowhere() -> Loc<'p> {
        Loc { file: None, paths: Vec::new() }
    }
}

impl<'a> Ctx<'a> {
    /// Where buf reports an element of the baseline that is gone: at its
    /// parent message in the current tree when that is still in the same
    /// file, else at the top of the current file of the same name, else
    /// (the file is gone too) nowhere.
    pub fn gone(&self, file: &str, pkg: &str, nested: &str) -> Loc<'a> {
        if let Some((parent, _)) = nested.rsplit_once('.')
            && let Some(m) = self.cur.messages.get(&full_name(pkg, parent))
            && m.file.name() == file
        {
            return Loc::at(m.file, vec![m.path.clone()]);
        }
        Loc { file: self.cur.files.get(file).copied(), paths: Vec::new() }
    }
}

/// Where one rule puts its findings: its id, and why a violation breaks
/// clients (printed after the message in text output).
pub struct Out<'f> {
    id: &'static str,
    why: &'static str,
    found: &'f mut Vec<Finding>,
}

impl<'f> Out<'f> {
    /// Where the findings of the rule `id` go.
    pub(super) fn new(id: &'static str, why: &'static str, found: &'f mut Vec<Finding>) -> Out<'f> {
        Out { id, why, found }
    }

    /// A finding of the rule at `loc`, with buf's message `what`.
    pub fn emit(&mut self, loc: Loc<'_>, what: String) {
        let finding = match loc.file {
            Some(file) => {
                let paths: Vec<&[i32]> = loc.paths.iter().map(Vec::as_slice).collect();
                Finding::new(self.id, file.name(), position(file, &paths), what)
            }
            None => Finding::new(self.id, "", Span::default(), what),
        };
        self.found.push(finding.explained(self.why));
    }
}

/// Whether `n` falls in any inclusive range.
pub(super) fn in_ranges(n: i32, ranges: impl IntoIterator<Item = (i32, i32)>) -> bool {
    ranges.into_iter().any(|(s, t)| s <= n && n <= t)
}

/// The parts of the inclusive range `[s, t]` that no range of `ranges`
/// covers, in order.
pub fn uncovered(s: i32, t: i32, ranges: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let (t, mut next) = (i64::from(t), i64::from(s));
    let mut gaps = Vec::new();
    for (a, b) in sorted {
        let (a, b) = (i64::from(a), i64::from(b));
        if b < next {
            continue;
        }
        if a > t {
            break;
        }
        if a > next {
            gaps.push((next, a - 1));
        }
        next = next.max(b + 1);
    }
    if next <= t {
        gaps.push((next, t));
    }
    // Every bound came from an i32 and stays within [s, t].
    gaps.into_iter().map(|(a, b)| (a as i32, b as i32)).collect()
}

/// An inclusive range as buf prints it: `[3]`, `[5,9]`.
pub fn show_range((s, t): (i32, i32)) -> String {
    if s == t { format!("[{s}]") } else { format!("[{s},{t}]") }
}

/// The gaps of a shrunk range as buf lists them: `[8,9], [12]`.
pub(super) fn show_ranges(gaps: &[(i32, i32)]) -> String {
    gaps.iter().copied().map(show_range).collect::<Vec<_>>().join(", ")
}
