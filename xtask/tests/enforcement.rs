//! `docs/ci-enforcement.md` stays true: every command it names exists and
//! is run by the GitHub workflow (or by `.ci/run`).

use xtask::paths::project_root;

/// The commands of the mapping table (the fourth column, in backticks).
fn commands(doc: &str) -> Vec<String> {
    doc.lines()
        .filter(|l| l.starts_with("| M2-CI-"))
        .map(|l| {
            let cell = l.split('|').nth(4).expect("a command column");
            cell.trim().trim_matches('`').to_string()
        })
        .collect()
}

#[test]
fn every_mapped_command_exists_and_runs_in_the_workflow() {
    let root = project_root();
    let doc = std::fs::read_to_string(root.join("docs/ci-enforcement.md")).unwrap();
    let workflow = std::fs::read_to_string(root.join(".github/workflows/ci.yml")).unwrap();
    let ci_run = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let commands = commands(&doc);
    assert!(commands.len() >= 8, "the table lost rows: {commands:?}");
    let sh = xshell::Shell::new().unwrap();
    let exe = env!("CARGO_BIN_EXE_xtask");
    for command in &commands {
        if let Some(rest) = command.strip_prefix("cargo xtask ") {
            let sub = rest.split_whitespace().next().unwrap();
            let help = xshell::cmd!(sh, "{exe} {sub} --help").quiet().ignore_stderr().read();
            assert!(help.is_ok(), "`{command}`: `cargo xtask {sub}` does not exist");
            assert!(workflow.contains(sub), "`{command}` is not run by the workflow");
        } else {
            let in_workflow = workflow.lines().any(|l| l.trim() == format!("run: {command}"));
            assert!(
                ci_run.contains(command) || in_workflow,
                "`{command}` is run neither by .ci/run nor by the workflow"
            );
        }
    }
}

#[test]
fn the_table_parser_sees_a_missing_command() {
    let doc = "| M2-CI-900 | rule | gate | `cargo xtask no-such-gate` | x |\n";
    let commands = commands(doc);
    assert_eq!(commands, vec!["cargo xtask no-such-gate".to_string()]);
    let sh = xshell::Shell::new().unwrap();
    let exe = env!("CARGO_BIN_EXE_xtask");
    assert!(xshell::cmd!(sh, "{exe} no-such-gate --help").quiet().ignore_stderr().read().is_err());
}
