//! `dome-loadgen`: the bare tonic baseline server, and the load and fault
//! phases run against any server, each printing its report as JSON.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use dome_loadgen::{Error, baseline, bench, faults, hostile};

/// The same allocator as `domed`'s, so that the baseline server this
/// binary runs differs from `domed` in logic alone, not in allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "dome-loadgen", about = "Load generator and baseline server for the dome gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the bare tonic baseline; prints `baseline listening on ADDR`.
    BaselineServer {
        /// The address to bind (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Measure unary and streaming throughput against `--target`.
    Bench {
        #[command(flatten)]
        target: Target,
        /// Smaller sizes.
        #[arg(long)]
        quick: bool,
    },
    /// Run the load and fault scenarios against `--target`.
    Faults {
        #[command(flatten)]
        target: Target,
        /// The bounded sizes of the test suite instead of the full load.
        #[arg(long)]
        quick: bool,
    },
    /// Run large jobs, push them out of retention, and compare memory.
    Retention {
        #[command(flatten)]
        target: Target,
        /// Large jobs to run.
        #[arg(long, default_value_t = 40)]
        jobs: u64,
        /// Progress events of each.
        #[arg(long, default_value_t = 10_000)]
        events: u64,
        /// Waves of large jobs, each pushed out before the next.
        #[arg(long, default_value_t = 2)]
        waves: u32,
    },
    /// Run one hostile client against `--target` (see `hostile`).
    Hostile {
        #[command(subcommand)]
        scenario: Hostile,
    },
}

#[derive(Subcommand)]
enum Hostile {
    /// The largest `bulk` jobs, as many as run at once, and
    /// `ListCapabilities` probed meanwhile; the jobs are left running.
    Starvation {
        #[command(flatten)]
        target: Target,
        /// Jobs to start.
        #[arg(long, default_value_t = 64)]
        jobs: u64,
        /// Seconds to probe.
        #[arg(long, default_value_t = 5)]
        probe_secs: u64,
        /// Milliseconds between probes.
        #[arg(long, default_value_t = 10)]
        every_ms: u64,
    },
    /// Every retained job at its largest, for every skill, past the total
    /// byte budget; then pushed out.
    Budget {
        #[command(flatten)]
        target: Target,
    },
    /// Streams that never read, on large jobs that are then pushed out.
    Unread {
        #[command(flatten)]
        target: Target,
        /// Large jobs.
        #[arg(long, default_value_t = 20)]
        jobs: u64,
        /// Unread streams spread over them.
        #[arg(long, default_value_t = 2000)]
        streams: u64,
    },
    /// A string of `--bytes` in every string field of every RPC.
    Oversized {
        #[command(flatten)]
        target: Target,
        /// The size of each string.
        #[arg(long, default_value_t = 4_000_000)]
        bytes: usize,
    },
    /// Silent, half-preface and idle HTTP/2 connections.
    Connections {
        #[command(flatten)]
        target: Target,
        /// Connections of each kind.
        #[arg(long, default_value_t = 300)]
        each: u64,
        /// The server's `--handshake-timeout-secs`.
        #[arg(long)]
        handshake_timeout_secs: u64,
        /// The server's `--idle-timeout-secs`.
        #[arg(long)]
        idle_timeout_secs: u64,
    },
    /// More connections than the server has descriptors; its CPU meanwhile.
    Descriptors {
        #[command(flatten)]
        target: Target,
        /// Connections to open.
        #[arg(long, default_value_t = 400)]
        connections: u64,
        /// Seconds to read the CPU over.
        #[arg(long, default_value_t = 3)]
        window_secs: u64,
    },
}

#[derive(clap::Args)]
struct Target {
    /// The server, such as `http://127.0.0.1:50051`.
    #[arg(long)]
    target: String,
    /// The server's process id, to sample its memory.
    #[arg(long)]
    pid: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprint!(": {s}");
                source = s.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::BaselineServer { listen } => {
            let serving = baseline::serve(listen).await?;
            println!("baseline listening on {}", serving.local_addr());
            serving.wait().await
        }
        Command::Bench { target, quick } => {
            let plan = if quick { bench::Plan::quick() } else { bench::Plan::full() };
            print_json(&bench::run(&target.target, target.pid, &plan).await?)
        }
        Command::Faults { target, quick } => {
            let plan = if quick { faults::Plan::test() } else { faults::Plan::load() };
            print_json(&faults::run(&target.target, target.pid, &plan).await?)
        }
        Command::Retention { target, jobs, events, waves } => {
            let timeout = Duration::from_secs(300);
            let report = faults::retention(&target.target, target.pid, jobs, events, waves, timeout).await?;
            print_json(&report)
        }
        Command::Hostile { scenario } => hostile_scenario(scenario).await,
    }
}

async fn hostile_scenario(scenario: Hostile) -> Result<(), Error> {
    match scenario {
        Hostile::Starvation { target, jobs, probe_secs, every_ms } => {
            let (probe, every) = (Duration::from_secs(probe_secs), Duration::from_millis(every_ms));
            print_json(&hostile::starvation(&target.target, jobs, probe, every).await?)
        }
        Hostile::Budget { target } => print_json(&hostile::budget(&target.target, target.pid).await?),
        Hostile::Unread { target, jobs, streams } => {
            print_json(&hostile::unread(&target.target, target.pid, jobs, streams).await?)
        }
        Hostile::Oversized { target, bytes } => print_json(&hostile::oversized(&target.target, bytes).await?),
        Hostile::Connections { target, each, handshake_timeout_secs, idle_timeout_secs } => {
            let (handshake, idle) =
                (Duration::from_secs(handshake_timeout_secs), Duration::from_secs(idle_timeout_secs));
            print_json(&hostile::connections(&target.target, each, handshake, idle).await?)
        }
        Hostile::Descriptors { target, connections, window_secs } => {
            let pid = target.pid.ok_or_else(|| Error::usage("the descriptor scenario needs --pid"))?;
            let window = Duration::from_secs(window_secs);
            print_json(&hostile::descriptors(&target.target, pid, connections, window).await?)
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(Error::from_json)?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    /// `cargo xtask bench` puts `--target` and `--pid` after the whole
    /// subcommand, as it does for every phase.
    #[test]
    fn the_target_follows_each_hostile_scenario() {
        for scenario in ["starvation", "budget", "unread", "oversized", "descriptors"] {
            let args = ["dome-loadgen", "hostile", scenario, "--target", "http://127.0.0.1:1", "--pid", "1"];
            assert!(Cli::try_parse_from(args).is_ok(), "{scenario}");
        }
        let connections = ["--handshake-timeout-secs", "1", "--idle-timeout-secs", "2", "--target", "http://x"];
        assert!(Cli::try_parse_from(["dome-loadgen", "hostile", "connections"].into_iter().chain(connections)).is_ok());
        assert!(Cli::try_parse_from(["dome-loadgen", "hostile", "--target", "http://x", "budget"]).is_err());
    }
}
