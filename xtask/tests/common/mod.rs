//! Helpers shared by the xtask integration tests: a throw-away copy of the
//! repository's tracked files, so gates can be run on mutated trees
//! without touching the checkout.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use xtask::paths::project_root;

/// Copies every file git tracks (plus untracked, non-ignored ones, so that
/// uncommitted work is tested as it stands) into a new temporary
/// directory, and returns it.
pub fn repo_copy() -> tempfile::TempDir {
    let root = project_root();
    let sh = xshell::Shell::new().expect("shell");
    sh.change_dir(&root);
    let listed = xshell::cmd!(sh, "git ls-files --cached --others --exclude-standard").read().expect("git ls-files");
    let tmp = tempfile::tempdir().expect("tempdir");
    for rel in listed.lines() {
        let from = root.join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let to = tmp.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    tmp
}

/// Replaces the first occurrence of `from` with `to` in `root/rel`,
/// failing the test when `from` is not there.
pub fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let path: PathBuf = root.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{rel}` does not contain {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}
