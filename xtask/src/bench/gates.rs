//! The gates: the release `xtask` timed on the tree and on edited copies,
//! each beside `buf` on the same input where buf has the same check.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use super::process::{Bins, MakeCmd, PathOrStr, time_runs};
use super::report::{GateRow, verdict};

/// The subcommands the built xtask offers (gates land independently).
fn xtask_commands(sh: &Shell, xtask: &Path) -> Result<Vec<String>> {
    let help = cmd!(sh, "{xtask} --help").quiet().read()?;
    Ok(help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

/// `buf` from `$BUF` or `PATH`.
pub(super) fn find_buf() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BUF").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("buf")).find(|p| p.is_file())
}

/// Copies `root/proto` into `dir/proto` and applies one textual edit to
/// `file` (relative to `proto/dome/gateway/v1/`).
fn edited_copy(sh: &Shell, root: &Path, dir: &Path, file: &str, from: &str, to: &str) -> Result<PathBuf> {
    let source = root.join("proto");
    let target = dir.join("proto");
    copy_tree(sh, &source, &target)?;
    let path = target.join("dome/gateway/v1").join(file);
    let text = sh.read_file(&path)?;
    if !text.contains(from) {
        bail!("`{}` no longer contains `{from}`; update the bench's edited inputs", path.display());
    }
    sh.write_file(&path, text.replacen(from, to, 1))?;
    Ok(target)
}

fn copy_tree(sh: &Shell, from: &Path, to: &Path) -> Result<()> {
    sh.create_dir(to)?;
    for entry in sh.read_dir(from)? {
        let name = entry.file_name().context("a directory entry without a name")?;
        if entry.is_dir() {
            copy_tree(sh, &entry, &to.join(name))?;
        } else {
            sh.copy_file(&entry, to.join(name))?;
        }
    }
    Ok(())
}

/// The projection bug the bench plants in a copy of the workspace: a
/// cancelled job's `work.queue` status written as a word the family does
/// not have. Only cancelled jobs show it, so the SSOT gate must search far
/// enough to meet one.
pub const PLANTED_BUG: (&str, &str, &str) = (
    "ssot/src/project.rs",
    "Ok(JobState::Cancelled) => \"BLOCKED\".into(),",
    "Ok(JobState::Cancelled) => \"CANCELLED\".into(),",
);

/// The word the planted bug writes, which the gate's report of it must
/// show (the projection and the schema's complaint both carry it).
pub const PLANTED_WORD: &str = "\"CANCELLED\"";

/// Whether the SSOT gate of the copy with the planted bug fails on that
/// bug, rather than on anything else: `None` when its report names the
/// planted word, else what it printed.
pub(super) fn planted_missed(sh: &Shell, copy: &Path, planted: &Path) -> Result<Option<String>> {
    let output = cmd!(sh, "{planted} --root {copy} ssot").quiet().ignore_status().output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() && text.contains(PLANTED_WORD) {
        return Ok(None);
    }
    let tail: String =
        text.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n  ");
    Ok(Some(format!(
        "the SSOT gate of the copy with the planted bug ({}) did not report it (exit {}):\n  {tail}",
        PLANTED_BUG.0, output.status
    )))
}

/// The copy with the planted bug, under `<target>/bench/planted/`, and its
/// release `xtask` (built into a target directory of its own, so that the
/// real `target/release/xtask` stays as it is). Files are written only when
/// they changed, so a second bench rebuilds nothing.
pub fn planted_xtask(sh: &Shell, root: &Path, target: &Path, build: bool) -> Result<(PathBuf, PathBuf)> {
    let copy = target.join("bench/planted");
    for entry in sh.read_dir(root)? {
        let name = entry.file_name().context("a directory entry without a name")?;
        // A `CARGO_TARGET_DIR` inside the tree under another name holds
        // the copy itself: copying it would never end.
        if name != "target" && name != ".git" && !target.starts_with(&entry) {
            sync_tree(sh, &entry, &copy.join(name))?;
        }
    }
    let (file, from, to) = PLANTED_BUG;
    let path = copy.join(file);
    let text = sh.read_file(root.join(file))?;
    if !text.contains(from) {
        bail!("`{file}` no longer contains `{from}`; update the bench's planted bug");
    }
    sync_file(&path, text.replacen(from, to, 1).as_bytes())?;
    let target_dir = target.join("bench/planted-target");
    if build {
        let manifest = copy.join("Cargo.toml");
        crate::util::cargo(sh, &["build", "--release", "--locked", "-p", "xtask", "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &target_dir)
            .run()
            .context("building the xtask of the copy with the planted bug")?;
    }
    Ok((copy, target_dir.join("release/xtask")))
}

/// Mirrors the file or directory `from` at `to`, writing only what differs
/// (as bytes: the tree holds binary descriptor sets).
fn sync_tree(sh: &Shell, from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() {
        let bytes = std::fs::read(from).with_context(|| format!("reading `{}`", from.display()))?;
        return sync_file(to, &bytes);
    }
    sh.create_dir(to)?;
    for entry in sh.read_dir(from)? {
        let name = entry.file_name().context("a directory entry without a name")?;
        sync_tree(sh, &entry, &to.join(name))?;
    }
    Ok(())
}

fn sync_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}

/// Every gate the built xtask has, on each of its inputs, `runs` times.
pub(super) fn gates(sh: &Shell, root: &Path, bins: &Bins, runs: usize) -> Result<Vec<GateRow>> {
    let commands = xtask_commands(sh, &bins.xtask)?;
    let has = |c: &str| commands.iter().any(|x| x == c);
    let buf = find_buf();
    let temp = sh.create_temp_dir()?;
    let buf_yaml = temp.path().join("buf.yaml");
    sh.write_file(&buf_yaml, "version: v2\nlint:\n  use: [STANDARD, COMMENTS]\nbreaking:\n  use: [FILE]\n")?;
    let proto = root.join("proto");
    // One field deleted: FIELD_NO_DELETE under buf's FILE rules.
    let deleted = edited_copy(sh, root, &temp.path().join("deleted"), "jobs.proto", "  string reason = 3;\n", "")?;
    // One field misnamed: FIELD_LOWER_SNAKE_CASE.
    let misnamed = edited_copy(
        sh,
        root,
        &temp.path().join("misnamed"),
        "jobs.proto",
        "  string reason = 3;\n",
        "  string cancelReason = 3;\n",
    )?;

    let xtask = bins.xtask.clone();
    let root = root.to_path_buf();
    let mut rows = Vec::new();
    let mut measure = |gate: &str, input: &str, expected: bool, ours: MakeCmd, theirs: Option<MakeCmd>| -> Result<()> {
        let (ours_ms, ours_ok) = time_runs(sh, runs, &ours)?;
        let (buf_ms, buf_ok) = match theirs {
            Some(theirs) => {
                let (ms, ok) = time_runs(sh, runs, &theirs)?;
                (Some(ms), Some(ok))
            }
            None => (None, None),
        };
        rows.push(GateRow {
            gate: gate.to_owned(),
            input: input.to_owned(),
            expected: verdict(expected),
            ours_ms,
            ours_verdict: verdict(ours_ok),
            buf_ms,
            buf_verdict: buf_ok.map(verdict),
            agree: buf_ok.map(|b| b == ours_ok),
        });
        Ok(())
    };
    let x = |args: Vec<PathOrStr>| -> MakeCmd {
        let (xtask, root) = (xtask.clone(), root.clone());
        Box::new(move |sh| cmd!(sh, "{xtask} --root {root}").args(args.iter().map(PathOrStr::os)))
    };
    let b = |args: Vec<PathOrStr>| -> Option<MakeCmd> {
        let buf = buf.clone()?;
        Some(Box::new(move |sh| cmd!(sh, "{buf}").args(args.iter().map(PathOrStr::os))))
    };
    use PathOrStr::{P, S};
    let yaml = P(buf_yaml.clone());
    if has("codegen") {
        // As a user runs it (the first run leaves the stamp the others
        // pass from), and generating every time, as a fresh clone does.
        measure("codegen --check", "proto/", true, x(vec![S("codegen"), S("--check")]), None)?;
        measure("codegen --check --full", "proto/", true, x(vec![S("codegen"), S("--check"), S("--full")]), None)?;
    }
    if has("breaking") {
        measure(
            "breaking",
            "v1 vs itself",
            true,
            x(vec![S("breaking"), S("--against"), P(proto.clone())]),
            b(vec![S("breaking"), S("--config"), yaml.clone(), P(proto.clone()), S("--against"), P(proto.clone())]),
        )?;
        measure(
            "breaking",
            "one field deleted vs v1",
            false,
            x(vec![S("breaking"), S("--proto-root"), P(deleted.clone()), S("--against"), P(proto.clone())]),
            b(vec![S("breaking"), S("--config"), yaml.clone(), P(deleted.clone()), S("--against"), P(proto.clone())]),
        )?;
    }
    if has("lint") {
        measure(
            "lint",
            "proto/",
            true,
            x(vec![S("lint")]),
            b(vec![S("lint"), S("--config"), yaml.clone(), P(proto.clone())]),
        )?;
        measure(
            "lint",
            "one field misnamed",
            false,
            x(vec![S("lint"), S("--proto-root"), P(misnamed.clone())]),
            b(vec![S("lint"), S("--config"), yaml.clone(), P(misnamed.clone())]),
        )?;
    }
    if has("ssot") {
        measure("ssot", "proto/", true, x(vec![S("ssot")]), None)?;
        if let Some((copy, planted)) = &bins.planted {
            let (copy, planted) = (copy.clone(), planted.clone());
            let make: MakeCmd = Box::new(move |sh| cmd!(sh, "{planted} --root {copy} ssot"));
            measure("ssot", "projection bug planted in a copy", false, make, None)?;
        }
    }
    drop(temp);
    Ok(rows)
}
