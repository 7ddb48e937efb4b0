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

#[cfg(test)]
mod tests {
    use proptest::test_runner::{Config, TestError, TestRunner};

    use super::*;

    #[test]
    fn strings_keep_to_their_class_and_length() {
        let mut runner = TestRunner::deterministic();
        for (class, len) in [(HEX, 32..=32), (TOKEN, 1..=128), (TEXT, 0..=40), (URI_PATH, 1..=40)] {
            let strategy = chars(class, len.clone());
            for _ in 0..200 {
                let s = strategy.new_tree(&mut runner).unwrap().current();
                assert!(len.contains(&s.chars().count()), "{s:?} is not of length {len:?}");
                for c in s.chars() {
                    assert!(
                        class.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)),
                        "{c:?} of {s:?} is not in {class:?}"
                    );
                    assert!(!c.is_control(), "{c:?}");
                }
            }
        }
    }

    #[test]
    fn every_character_of_a_class_turns_up() {
        let mut runner = TestRunner::deterministic();
        let strategy = chars(HEX, 64..=64);
        let seen: std::collections::BTreeSet<char> = (0..20)
            .flat_map(|_| strategy.new_tree(&mut runner).unwrap().current().chars().collect::<Vec<_>>())
            .collect();
        assert_eq!(seen.into_iter().collect::<String>(), "0123456789abcdef");
    }

    #[test]
    fn a_failing_string_shrinks_to_the_smallest_that_still_fails() {
        // Fails on any string holding a `z` at least 3 characters long: the
        // minimal such string is "aaz" or a rotation; the shrinker must cut
        // it down to three characters, one of them `z`, the rest `a`.
        let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
        let result = runner.run(&chars(LOWER, 0..=40), |s| {
            proptest::prop_assert!(!(s.len() >= 3 && s.contains('z')));
            Ok(())
        });
        match result {
            Err(TestError::Fail(_, minimal)) => {
                assert_eq!(minimal.len(), 3, "{minimal:?}");
                assert_eq!(minimal.chars().filter(|&c| c == 'z').count(), 1, "{minimal:?}");
                assert_eq!(minimal.chars().filter(|&c| c == 'a').count(), 2, "{minimal:?}");
            }
            other => panic!("expected a shrunk failure, got {other:?}"),
        }
    }

    #[test]
    fn a_string_never_shrinks_below_its_shortest_length() {
        let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
        let result = runner.run(&chars(HEX, 5..=9), |s| {
            proptest::prop_assert!(s.len() > 9);
            Ok(())
        });
        match result {
            Err(TestError::Fail(_, minimal)) => assert_eq!(minimal, "00000"),
            other => panic!("expected a shrunk failure, got {other:?}"),
        }
    }
}
