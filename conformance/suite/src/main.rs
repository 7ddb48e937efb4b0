//! The `dome-conformance` binary: parses flags, runs the suite, prints
//! progress and the summary, writes the requested reports, and exits 0
//! only when every non-skipped, non-expected case passed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dome_conformance::{Options, RunOptions, Target, cases, client, matrix, report, runner};

/// The dome gateway v1 conformance suite. With no --target it starts the
/// bundled reference server in-process and checks that.
#[derive(Debug, Parser)]
#[command(name = "dome-conformance", version, about)]
struct Args {
    /// The server to check: host:port, or an http:// or https:// URL.
    #[arg(long, value_name = "ADDR")]
    target: Option<String>,
    /// PEM of the CA that signed the server's certificate (https targets).
    #[arg(long, value_name = "PEM", requires = "target")]
    ca_cert: Option<PathBuf>,
    /// Bearer token sent on every call.
    #[arg(long, value_name = "TOKEN", env = "DOME_CONFORMANCE_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// Check a client instead of a server: start this command (the
    /// testee, a program and its arguments, quoted as one) per case and
    /// drive its SDK over the testee protocol against a scripted gateway.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["target", "mutant"])]
    client: Option<String>,
    /// Write the client specification, rendered from the client cases, to
    /// `docs/client-spec.md` under DIR (the repository root) and exit.
    #[arg(long, value_name = "DIR")]
    write_client_spec: Option<PathBuf>,
    /// Embed this mutant of the reference server (needs the `mutants`
    /// feature; without --target only).
    #[arg(long, value_name = "NAME", conflicts_with = "target")]
    mutant: Option<String>,
    /// Proptest cases per property.
    #[arg(long, default_value_t = 16, value_name = "N")]
    cases: u32,
    /// The seed; the run is reproducible from it (a fresh one is printed
    /// when none is given).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Run only cases whose id contains PATTERN (or matches it as a glob
    /// with `*`); comma-separated patterns add up.
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// Cases run at once.
    #[arg(long, default_value_t = 2, value_name = "J")]
    jobs: usize,
    /// The time limit of one case, in seconds; each call and stream read
    /// gets a tenth of it (1 to 10 s).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    timeout_secs: u64,
    /// Known failures: one case id per line, `# reason` comments.
    #[arg(long, value_name = "FILE")]
    expect_failures: Option<PathBuf>,
    /// Write a report: `--report json PATH` or `--report junit PATH`
    /// (repeatable).
    #[arg(long, num_args = 2, value_names = ["FORMAT", "PATH"], action = clap::ArgAction::Append)]
    report: Vec<String>,
    /// Print the case catalogue and exit.
    #[arg(long)]
    list: bool,
    /// Write the traceability matrix (every contract rule and the cases
    /// that check it) to PATH and exit; fails when a rule has neither a
    /// case nor a reason.
    #[arg(long, value_name = "PATH", conflicts_with = "check_matrix")]
    write_matrix: Option<PathBuf>,
    /// Check that the matrix at PATH is current and complete, and exit.
    #[arg(long, value_name = "PATH")]
    check_matrix: Option<PathBuf>,
    /// Print only failures and the summary.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(root) = &args.write_client_spec {
        let path = root.join(client::spec::PATH);
        let text = client::spec::render(&client::catalogue());
        return match report::write(&path, &text) {
            Ok(()) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    if args.list && args.client.is_some() {
        let all: Vec<_> =
            client::catalogue().into_iter().filter(|c| runner::matches(args.filter.as_deref(), &c.id)).collect();
        println!("{}", report::client_catalogue_listing(&all));
        return ExitCode::SUCCESS;
    }
    if args.list {
        let all: Vec<_> =
            cases::catalogue().into_iter().filter(|c| runner::matches(args.filter.as_deref(), &c.id)).collect();
        println!("{}", report::catalogue_listing(&all));
        return ExitCode::SUCCESS;
    }
    if let Some(path) = args.write_matrix.as_deref().or(args.check_matrix.as_deref()) {
        return match matrix_command(path, args.write_matrix.is_some()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(2)
        }
    }
}

/// Writes (or checks) the traceability matrix at `path`.
fn matrix_command(path: &std::path::Path, write: bool) -> Result<(), String> {
    let all = cases::catalogue();
    let rules = dome_sdk::contract::RULES;
    if write {
        let problems = matrix::problems(&all, rules, matrix::UNCHECKED);
        let text = matrix::render(&all, rules, matrix::UNCHECKED);
        std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        println!("wrote the conformance matrix to {}", path.display());
        if !problems.is_empty() {
            return Err(format!("the conformance matrix has gaps:\n- {}", problems.join("\n- ")));
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    matrix::check(&text, &all, rules, matrix::UNCHECKED)?;
    println!("the conformance matrix {} is current: every rule has a case or a reason", path.display());
    Ok(())
}

fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let mut reports = Vec::new();
    for pair in args.report.chunks(2) {
        let [format, path] = pair else { return Err("--report takes a format and a path".into()) };
        if format != "json" && format != "junit" {
            return Err(format!("unknown report format `{format}` (json or junit)").into());
        }
        reports.push((format.clone(), PathBuf::from(path)));
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let expected_failures = match &args.expect_failures {
        Some(path) => runner::read_expected_failures(path)?,
        None => Default::default(),
    };
    let client_command = match &args.client {
        Some(line) => Some(client::split_command(line)?),
        None => None,
    };
    let target = match args.target {
        Some(address) => {
            let ca_cert_pem = match &args.ca_cert {
                Some(p) => Some(std::fs::read(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?),
                None => None,
            };
            Some(Target { address, ca_cert_pem, auth_token: args.auth_token })
        }
        None => None,
    };
    let options = Options {
        target,
        mutant: args.mutant,
        run: RunOptions {
            cases: args.cases,
            seed,
            filter: args.filter,
            jobs: args.jobs.max(1),
            timeout: Duration::from_secs(args.timeout_secs.max(1)),
            expected_failures,
            ..RunOptions::default()
        },
    };
    println!("dome-conformance: seed {seed} (replay with --seed {seed})");
    let quiet = args.quiet;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let progress = |case: &runner::CaseReport, done, total| {
        if !quiet || case.status.fails_run() {
            println!("{}", report::progress_line(case, done, total));
        }
    };
    let result = match client_command {
        Some(command) => {
            let options = client::ClientOptions { command, run: options.run };
            runtime.block_on(client::run(&options, progress))
        }
        None => runtime.block_on(dome_conformance::run(&options, progress)),
    };
    // Property threads of a timed-out case may still be winding down; they
    // hold no verdict, so the process does not wait for them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let report = result?;
    println!("{}", report::summary(&report));
    for (format, path) in reports {
        let text = if format == "json" { report::to_json(&report) } else { report::to_junit(&report) };
        report::write(&path, &text)?;
        println!("wrote the {format} report to {}", path.display());
    }
    Ok(report.success())
}
