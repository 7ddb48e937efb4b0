//! Strings of a character class, generated with one random draw per
//! character and one value tree per string.
//!
//! proptest's regex strategies build a value tree for every character
//! (each with its own allocation and shrinking state), which made string
//! generation most of the SSOT gate's time. A [`Chars`] string is a list
//! of indices into its class; it shrinks as a regex string does, only
//! cheaper: first to its shortest length, then one character fewer at a
//! time, then every character to the first of its class at once, else
//! each in turn.

use std::ops::RangeInclusive;

use proptest::prelude::RngExt;
use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// A set of characters: inclusive ranges, each character equally likely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class(&'static [(char, char)]);

impl Class {
    /// The class's inclusive ranges of characters.
    pub const fn ranges(self) -> &'static [(char, char)] {
        self.0
    }

    /// How many characters the class holds.
    fn size(self) -> u32 {
        self.0.iter().map(|&(lo, hi)| hi as u32 - lo as u32 + 1).sum()
    }

    /// The `index`th character of the class (`index < size`).
    fn get(self, mut index: u32) -> char {
        for &(lo, hi) in self.0 {
            let width = hi as u32 - lo as u32 + 1;
            if index < width {
                // Every range lies within one plane and outside the
                // surrogates, so every offset in it is a character.
                return char::from_u32(lo as u32 + index).unwrap_or(lo);
            }
            index -= width;
        }
        self.0[0].0
    }
}

/// `[0-9a-f]`.
pub const HEX: Class = Class(&[('0', '9'), ('a', 'f')]);
/// `[0-9]`.
pub const DIGIT: Class = Class(&[('0', '9')]);
/// `[a-z]`.
pub const LOWER: Class = Class(&[('a', 'z')]);
/// `[A-Z]`.
pub const UPPER: Class = Class(&[('A', 'Z')]);
/// `[A-Z0-9_]`.
pub const UPPER_DIGIT_UNDERSCORE: Class = Class(&[('A', 'Z'), ('0', '9'), ('_', '_')]);
/// `[a-z ]`.
pub const LOWER_SPACE: Class = Class(&[('a', 'z'), (' ', ' ')]);
/// `[a-z0-9-]`.
pub const LOWER_DIGIT_DASH: Class = Class(&[('a', 'z'), ('0', '9'), ('-', '-')]);
/// `[a-z0-9_-]`.
pub const LOWER_DIGIT_UNDERSCORE_DASH: Class = Class(&[('a', 'z'), ('0', '9'), ('_', '_'), ('-', '-')]);
/// `[a-z0-9._-]`: label keys, and the tail of artifact names.
pub const NAME: Class = Class(&[('a', 'z'), ('0', '9'), ('.', '.'), ('_', '_'), ('-', '-')]);
/// `[a-z0-9./_-]`: the path of an artifact URI.
pub const URI_PATH: Class = Class(&[('a', 'z'), ('0', '9'), ('-', '/'), ('_', '_')]);
/// `[A-Za-z0-9._:-]`: correlation ids and idempotency keys.
pub const TOKEN: Class = Class(&[('A', 'Z'), ('a', 'z'), ('0', '9'), ('.', '.'), ('_', '_'), (':', ':'), ('-', '-')]);
/// Human-readable text without control characters: printable ASCII,
/// Latin-1 letters, Greek, Cyrillic, CJK ideographs and emoji (two-,
/// three- and four-byte UTF-8 beside the one-byte ASCII).
pub const TEXT: Class = Class(&[
    (' ', '~'),
    ('\u{c0}', '\u{ff}'),
    ('\u{3b1}', '\u{3c9}'),
    ('\u{410}', '\u{44f}'),
    ('\u{4e00}', '\u{4e3f}'),
    ('\u{1f600}', '\u{1f60f}'),
]);

/// Strings of `class` whose length in characters lies in `len`.
pub fn chars(class: Class, len: RangeInclusive<usize>) -> Chars {
    Chars { class, len }
}

/// The strategy of [`chars`].
#[derive(Debug, Clone)]
pub struct Chars {
    class: Class,
    len: RangeInclusive<usize>,
}

impl Strategy for Chars {
    type Tree = CharsTree;
    type Value = String;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let size = self.class.size();
        let rng = runner.rng();
        let len = rng.random_range(self.len.clone());
        let picks = (0..len).map(|_| rng.random_range(0..size)).collect();
        Ok(CharsTree { class: self.class, min: *self.len.start(), picks, undo: None, step: Step::Truncate })
    }
}

/// The next simplification a [`CharsTree`] tries.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Cut the string to its shortest length.
    Truncate,
    /// Remove the character before this position.
    Remove(usize),
    /// Make every character the first of the class at once (most failures
    /// do not depend on a string's characters, and this spares them one
    /// step per character).
    LowerAll,
    /// Make the character at this position the first of the class.
    Lower(usize),
    /// Nothing simpler is left.
    Done,
}

/// The value tree of [`Chars`].
#[derive(Debug, Clone)]
pub struct CharsTree {
    class: Class,
    min: usize,
    picks: Vec<u32>,
    undo: Option<Vec<u32>>,
    step: Step,
}

impl ValueTree for CharsTree {
    type Value = String;

    fn current(&self) -> String {
        self.picks.iter().map(|&i| self.class.get(i)).collect()
    }

    fn simplify(&mut self) -> bool {
        loop {
            match self.step {
                Step::Truncate => {
                    self.step = Step::Remove(self.picks.len());
                    if self.picks.len() > self.min {
                        self.undo = Some(self.picks.clone());
                        self.picks.truncate(self.min);
                        return true;
                    }
                }
                Step::Remove(at) if at == 0 || self.picks.len() <= self.min => self.step = Step::LowerAll,
                Step::Remove(at) => {
                    self.step = Step::Remove(at - 1);
                    if at <= self.picks.len() {
                        self.undo = Some(self.picks.clone());
                        self.picks.remove(at - 1);
                        return true;
                    }
                }
                Step::LowerAll => {
                    self.step = Step::Lower(0);
                    if self.picks.iter().any(|&p| p != 0) {
                        self.undo = Some(self.picks.clone());
                        self.picks.iter_mut().for_each(|p| *p = 0);
                        return true;
                    }
                }
                Step::Lower(at) if at >= self.picks.len() => self.step = Step::Done,
                Step::Lower(at) => {
                    self.step = Step::Lower(at + 1);
                    if self.picks[at] != 0 {
                        self.undo = Some(self.picks.clone());
                        self.picks[at] = 0;
                        return true;
                    }
                }
                Step::Done => return false,
            }
        }
    }

    fn complicate(&mut self) -> bool {
        match self.undo.take() {
            Some(previous) => {
                self.picks = previous;
                true
            }
            None => false,
        }
    }
}
