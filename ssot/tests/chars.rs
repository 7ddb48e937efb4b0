//! The strings of a character class (`arbitrary::chars`): each keeps to
//! its class and length, every character of the class turns up, and a
//! failing string shrinks to the smallest that still fails.

use dome_ssot::arbitrary::chars::{HEX, LOWER, TEXT, TOKEN, URI_PATH, chars};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestError, TestRunner};

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
                    class.ranges().iter().any(|&(lo, hi)| (lo..=hi).contains(&c)),
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
    let seen: std::collections::BTreeSet<char> =
        (0..20).flat_map(|_| strategy.new_tree(&mut runner).unwrap().current().chars().collect::<Vec<_>>()).collect();
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
