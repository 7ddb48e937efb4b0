//! The bench's planted projection bug: the word it writes is one the
//! projection never does, and the planted copy of the tree keeps binary
//! files as they are and plants the bug once, failing with what to do when
//! the projection it plants in has moved on.

use xshell::Shell;
use xtask::bench::gates::{PLANTED_BUG, PLANTED_WORD, planted_xtask};

#[test]
fn the_planted_word_is_what_the_bug_writes_and_the_projection_never_does() {
    let (_, from, to) = PLANTED_BUG;
    assert!(to.contains(PLANTED_WORD), "{to}");
    assert!(!from.contains(PLANTED_WORD), "{from}");
}

#[test]
fn the_planted_copy_keeps_binary_files_and_plants_the_bug_once() {
    let (file, from, to) = PLANTED_BUG;
    let root = tempfile::tempdir().expect("temp dir");
    let target = tempfile::tempdir().expect("temp dir");
    let binary: &[u8] = &[0x0a, 0xff, 0xfe, 0x00, 0x80];
    std::fs::create_dir_all(root.path().join("golden")).expect("mkdir");
    std::fs::write(root.path().join("golden/set.binpb"), binary).expect("write");
    std::fs::create_dir_all(root.path().join(file).parent().expect("parent")).expect("mkdir");
    std::fs::write(root.path().join(file), format!("a\n{from}\nb\n")).expect("write");
    let sh = Shell::new().expect("shell");

    let (copy, _) = planted_xtask(&sh, root.path(), target.path(), false).expect("planted copy");
    assert_eq!(std::fs::read(copy.join("golden/set.binpb")).expect("read"), binary);
    assert_eq!(std::fs::read_to_string(copy.join(file)).expect("read"), format!("a\n{to}\nb\n"));

    std::fs::write(root.path().join(file), "the projection moved on\n").expect("write");
    let err = planted_xtask(&sh, root.path(), target.path(), false).expect_err("nothing to plant");
    assert!(err.to_string().contains("update the bench's planted bug"), "{err}");
}
