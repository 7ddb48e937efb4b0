//! The breaking-change gate: a corpus of before/after proto trees, each
//! case with the rules it must trigger (its `expect` file) and snapshots of
//! the text output of every category and of the JSON of every rule; then
//! the gate end to end on a copy of the contract in a temporary git
//! repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};
use xtask::breaking::{self, Args};
use xtask::engine::breaking::{ALL_RULES, Category, all_findings, rules};
use xtask::engine::config::Config;
use xtask::engine::input::{Tree, load_dir};
use xtask::engine::output::{Format, render};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/breaking")
}

/// The rule ids listed in a case's `expect` file (`#` lines are notes).
fn expected(case: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(case.join("expect")).expect("every case has an expect file");
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

fn load(case: &Path) -> (Tree, Tree) {
    let before = load_dir(&case.join("before"), "before").expect("before compiles");
    let after = load_dir(&case.join("after"), "after").expect("after compiles");
    (after, before)
}

#[test]
fn corpus_cases_trigger_exactly_their_rules() {
    insta::glob!("corpus/breaking/*/expect", |expect| {
        let case = expect.parent().expect("case directory");
        let (after, before) = load(case);
        let all = all_findings(&after, &before);
        // Configuration v2, whose categories hold every rule (v1 lacks
        // three, see `v1_categories_lack_the_rules_buf_added_in_v2`).
        let v2 = xtask::engine::configuration(case, Some(r#"{"version":"v2"}"#)).expect("v2");
        let fired: BTreeSet<String> = all.iter().map(|f| f.rule.to_string()).collect();
        assert_eq!(fired, expected(case), "rules fired by case `{}`", case.display());

        let mut text = String::new();
        for category in [Category::File, Category::Package, Category::WireJson, Category::Wire] {
            let outcome = breaking::outcome(&after, &before, &v2, Some(category));
            text.push_str(&format!("== {category} (exit {})\n", outcome.exit_code()));
            text.push_str(&outcome.render(Format::Text, ""));
            text.push_str(&format!("{}\n", outcome.summary()));
        }
        insta::assert_snapshot!("text", text);
        insta::assert_snapshot!("json", render(&all, Format::Json, ""));
    });
}

#[test]
fn every_rule_has_a_corpus_case() {
    let mut covered = BTreeSet::new();
    for entry in std::fs::read_dir(corpus()).expect("corpus exists") {
        covered.extend(expected(&entry.expect("entry").path()));
    }
    let missing: Vec<&str> = ALL_RULES.iter().map(|r| r.id).filter(|id| !covered.contains(*id)).collect();
    assert!(missing.is_empty(), "rules without a corpus case: {missing:?}");
    let unknown: Vec<&String> = covered.iter().filter(|id| !ALL_RULES.iter().any(|r| r.id == id.as_str())).collect();
    assert!(unknown.is_empty(), "expect files name unknown rules: {unknown:?}");
}

#[test]
fn categories_hold_buf_s_rule_counts() {
    let ids = |c| rules::rules_in(c).map(|r| r.id).collect::<BTreeSet<_>>();
    let counts: Vec<(Category, usize)> = [Category::File, Category::Package, Category::WireJson, Category::Wire]
        .into_iter()
        .map(|c| (c, ids(c).len()))
        .collect();
    assert_eq!(
        counts,
        vec![(Category::File, 51), (Category::Package, 51), (Category::WireJson, 22), (Category::Wire, 15)]
    );
    // WIRE's cardinality and type rules have stricter WIRE_JSON twins.
    assert!(
        ids(Category::Wire)
            .iter()
            .all(|id| ids(Category::WireJson).contains(id) || id.starts_with("FIELD_WIRE_COMPATIBLE_"))
    );
    assert_eq!(ALL_RULES.len(), 64);
}

#[test]
fn the_contract_is_compatible_with_its_frozen_descriptor_set() {
    let root = xtask::paths::project_root();
    let outcome = breaking::run(&root, &Args::default()).expect("the contract compiles");
    assert!(outcome.findings.is_empty(), "{}", outcome.render(Format::Text, ""));
    assert!(
        outcome.scope.checked.starts_with("FILE from "),
        "the repository's buf.yaml selects FILE: {}",
        outcome.scope.checked
    );
}

/// A temporary repository holding a committed copy of the contract.
struct Repo {
    dir: tempfile::TempDir,
    sh: Shell,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let sh = Shell::new().expect("shell");
        copy_tree(&xtask::paths::project_root().join("proto"), &dir.path().join("proto"));
        sh.change_dir(dir.path());
        cmd!(sh, "git init -q").run().expect("git init");
        cmd!(sh, "git add proto").run().expect("git add");
        cmd!(sh, "git -c user.name=test -c user.email=test@example.com -c commit.gpgsign=false commit -q -m base")
            .run()
            .expect("git commit");
        Repo { dir, sh }
    }

    fn proto(&self) -> PathBuf {
        self.dir.path().join("proto")
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.proto().join("dome/gateway/v1").join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "`{from}` is in {file}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }

    /// Runs the built `cargo xtask breaking` and returns (exit code, stdout, stderr).
    fn xtask(&self, args: &[&str]) -> (i32, String, String) {
        let bin = env!("CARGO_BIN_EXE_xtask");
        let root = xtask::paths::project_root();
        let out = cmd!(self.sh, "{bin} --root {root} breaking {args...}")
            .ignore_status()
            .quiet()
            .output()
            .expect("xtask runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let path = entry.expect("entry").path();
        let dest = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}

const BASE_REF: &str = "  // Optional. The source reference the skill runs against, recorded in\n  // the provenance (`run.manifest`) and the job's work-queue projection.\n  // [rule: execute.base_ref_recorded] Empty means `HEAD`.\n  // [rule: execute.base_ref_head]\n  string base_ref = 8;\n";

#[test]
fn deleting_a_field_fails_the_gate_against_git_dir_and_descriptor_set() {
    let repo = Repo::new();
    repo.edit("jobs.proto", BASE_REF, "");
    let proto = repo.proto();
    let proto = proto.to_str().expect("utf-8 path");
    let pristine = xtask::paths::project_root().join("proto");
    let golden = xtask::paths::project_root().join("golden/dome.gateway.v1.binpb");
    for against in [
        vec!["--against-git", "HEAD"],
        vec!["--against", pristine.to_str().expect("utf-8")],
        vec!["--against", golden.to_str().expect("utf-8")],
    ] {
        let mut args = vec!["--proto-root", proto];
        args.extend(against.iter().copied());
        let (code, stdout, stderr) = repo.xtask(&args);
        assert_eq!(code, 1, "{against:?}: {stdout}{stderr}");
        assert!(stdout.contains("\"base_ref\" on message \"SkillExecuteRequest\""), "{stdout}");
        assert!(stderr.lines().last().is_some_and(|l| l.starts_with("breaking: 1 finding in 1 file")), "{stderr}");
        // One `path:line:col:message` line, then the explanation.
        let first = stdout.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("proto/dome/gateway/v1/jobs.proto:"),
            "paths are relative to where the command runs: {stdout}"
        );

        args.extend(["--error-format", "json"]);
        let (code, stdout, _) = repo.xtask(&args);
        assert_eq!(code, 1);
        let json: serde_json::Value =
            serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("a JSON line");
        assert_eq!(json["type"], "FIELD_NO_DELETE");
        assert!(json["path"].as_str().is_some_and(|p| p.ends_with("proto/dome/gateway/v1/jobs.proto")), "{json}");
        assert!(json["start_line"].as_u64().is_some_and(|l| l > 0));
        assert!(json["end_line"].as_u64() >= json["start_line"].as_u64());
    }
    // Reserving the number and name makes the deletion wire- and
    // JSON-compatible, but it still breaks generated code.
    repo.edit(
        "jobs.proto",
        "  string run_id = 7;\n",
        "  string run_id = 7;\n  reserved 8;\n  reserved \"base_ref\";\n",
    );
    let (code, stdout, _) = repo.xtask(&["--proto-root", proto, "--against-git", "HEAD", "--category", "WIRE_JSON"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, _) = repo.xtask(&["--proto-root", proto, "--against-git", "HEAD"]);
    assert_eq!(code, 1);
}

#[test]
fn adding_a_field_passes_the_gate() {
    let repo = Repo::new();
    repo.edit(
        "jobs.proto",
        BASE_REF,
        &format!("{BASE_REF}  // Optional. A note kept with the job.\n  string note = 9;\n"),
    );
    let proto = repo.proto();
    let proto = proto.to_str().expect("utf-8 path");
    for against in [vec!["--against-git", "HEAD"], vec![]] {
        let mut args = vec!["--proto-root", proto];
        args.extend(against.iter().copied());
        let (code, stdout, stderr) = repo.xtask(&args);
        assert_eq!(code, 0, "{against:?}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.starts_with("compatible: no breaking changes against"), "{stderr}");
    }
}

#[test]
fn input_errors_exit_2_and_name_file_and_line() {
    let repo = Repo::new();
    let proto = repo.proto();
    let proto = proto.to_str().expect("utf-8 path");
    let (code, _, stderr) = repo.xtask(&["--proto-root", proto, "--against-git", "no-such-revision"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("`no-such-revision` is not a git revision"), "{stderr}");

    let (code, _, stderr) = repo.xtask(&["--proto-root", proto, "--against", "/no/such/dir"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no such directory or file"), "{stderr}");

    let garbage = repo.dir.path().join("garbage.binpb");
    std::fs::write(&garbage, b"not a descriptor set").expect("write");
    let (code, _, stderr) = repo.xtask(&["--proto-root", proto, "--against", garbage.to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("garbage.binpb"), "{stderr}");

    let (code, _, stderr) = repo.xtask(&["--proto-root", proto, "--category", "NOPE"]);
    assert_eq!(code, 2, "a usage error: {stderr}");

    let source = std::fs::read_to_string(repo.proto().join("dome/gateway/v1/jobs.proto")).expect("read");
    let run_id_line = 1 + source.lines().position(|l| l == "  string run_id = 7;").expect("run_id is in jobs.proto");
    repo.edit("jobs.proto", "  string run_id = 7;\n", "  strin run_id = 7;\n");
    let (code, stdout, stderr) = repo.xtask(&["--proto-root", proto, "--against-git", "HEAD"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("dome/gateway/v1/jobs.proto:"), "{stderr}");
    assert!(stderr.contains("(in the current tree)"), "{stderr}");
    assert!(
        stdout.starts_with(&format!("proto/dome/gateway/v1/jobs.proto:{run_id_line}:3:")),
        "the compile error is a finding: {stdout}"
    );
    let line =
        stderr.split("jobs.proto:").nth(1).and_then(|s| s.split(':').next()).and_then(|n| n.parse::<usize>().ok());
    let text = std::fs::read_to_string(repo.proto().join("dome/gateway/v1/jobs.proto")).expect("read");
    let expected = text.lines().position(|l| l.contains("strin run_id")).map(|i| i + 1);
    assert_eq!(line, expected, "{stderr}");
}

#[test]
fn v1_categories_lack_the_rules_buf_added_in_v2() {
    let case = corpus().join("field_same_default");
    let (after, before) = load(&case);
    let v1 = Config::default();
    assert!(breaking::outcome(&after, &before, &v1, Some(Category::Wire)).findings.is_empty());
    let v2 = xtask::engine::configuration(&case, Some(r#"{"version":"v2"}"#)).expect("v2");
    let rules: Vec<&str> =
        breaking::outcome(&after, &before, &v2, Some(Category::Wire)).findings.iter().map(|f| f.rule).collect();
    assert_eq!(rules, ["FIELD_SAME_DEFAULT"]);
    let e = xtask::engine::configuration(&case, Some(r#"{"version":"v1","breaking":{"use":["FIELD_SAME_DEFAULT"]}}"#))
        .expect_err("a v2 rule in a v1 file");
    assert!(format!("{e:#}").contains("`FIELD_SAME_DEFAULT` is neither"), "{e:#}");
}
