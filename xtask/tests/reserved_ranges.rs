//! The range arithmetic of the reservation rules: the parts of a range
//! that other ranges leave uncovered, and ranges printed as buf prints
//! them.

use xtask::engine::breaking::context::{show_range, uncovered};

#[test]
fn uncovered_parts_of_a_range() {
    assert!(uncovered(5, 10, &[(1, 7), (8, 12)]).is_empty());
    assert!(uncovered(5, 5, &[(5, 5)]).is_empty());
    assert_eq!(uncovered(5, 10, &[(1, 7), (9, 12)]), [(8, 8)]);
    assert_eq!(uncovered(5, 10, &[]), [(5, 10)]);
    assert_eq!(uncovered(1, 20, &[(3, 4), (10, 12)]), [(1, 2), (5, 9), (13, 20)]);
    assert!(uncovered(1, 536_870_911, &[(1, 536_870_911)]).is_empty());
    assert_eq!(show_range((3, 3)), "[3]");
    assert_eq!(show_range((5, 9)), "[5,9]");
}
