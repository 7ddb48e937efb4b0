//! Submit a job and follow it: connects to the gateway at `DOME_ENDPOINT`
//! (default `http://127.0.0.1:50051`), runs a small conformance script,
//! prints each event as it arrives and the outcome at the end.
//!
//! ```text
//! DOME_ENDPOINT=http://127.0.0.1:50051 cargo run -p dome-sdk --example quickstart
//! ```
//!
//! The test `tests/quickstart.rs` runs [`run`] against the reference server.

use dome_sdk::{Client, Error, contract, pb};

/// The script the example runs: a progress report, a log line, an artifact,
/// and success with an output.
pub(crate) const SCRIPT: &str = r#"{"steps":[
  {"progress":{"percent":50,"message":"half way"}},
  {"log":{"level":"INFO","message":"hello from the quickstart"}},
  {"artifact":{"name":"report","uri":"file:///tmp/report.txt"}},
  {"succeed":{"output":{"answer":42}}}
]}"#;

/// Connects to `endpoint`, runs [`SCRIPT`], prints every event and returns
/// the events and the finished job.
pub(crate) async fn run(endpoint: &str) -> Result<(Vec<pb::JobEvent>, pb::Job), Error> {
    // Connecting negotiates the API version: a server that does not serve
    // this SDK's version is refused here, with a typed error.
    let client = Client::builder(endpoint).correlation_id("quickstart").connect().await?;
    println!("connected to {} (server {})", endpoint, client.capabilities().server_version);

    // Every call is a builder: what the RPC requires, then options, then
    // `send()`. The client sets an idempotency key, so retries are safe.
    let submitted = client.skill_execute(contract::CONFORMANCE_SKILL_ID, SCRIPT).label("team", "docs").send().await?;
    let job = submitted.job;
    println!("submitted {} ({})", job.job_id, job.state());

    // Each event exactly once, in order, across reconnects; the stream
    // ends after the terminal event.
    let mut events = client.stream_job_events(job.job_id.clone()).send();
    let mut seen = Vec::new();
    while let Some(event) = events.next_event().await {
        let event = event?;
        println!("  #{:<3} {:?}", event.sequence, event.payload);
        seen.push(event);
    }

    let job = client.get_job_status(job.job_id).send().await?;
    let outcome = job.outcome.clone().unwrap_or_default();
    println!("{} ended {}: {} {}", job.job_id, job.state(), outcome.status(), outcome.output_json);
    Ok((seen, job))
}

#[tokio::main]
async fn main() {
    let endpoint = std::env::var("DOME_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:50051".to_string());
    if let Err(e) = run(&endpoint).await {
        eprintln!("quickstart failed: {e}");
        std::process::exit(1);
    }
}
