//! `dome-testee`: the Rust SDK (`dome-sdk`) as a testee of the client
//! conformance suite. It speaks the testee protocol
//! (`proto/dome/conformance/testee/v1/testee.proto`) on stdin and stdout
//! and does every command through the SDK's public API, reporting what
//! the SDK returned to it, as an application would see it.
//!
//! `cargo xtask conformance --client 'target/debug/dome-testee'` checks the
//! SDK. With the `mutants` feature, `--mutant NAME` runs a deliberately
//! broken SDK (see `dome_sdk::mutant`).

use std::time::Duration;

use dome_conformance::client::protocol::{
    self, ClientError, Done, ErrorKind, Hello, Reply, command::Action, reply::Outcome,
};
use dome_sdk::calls::{CancelJobReply, SkillExecute, SkillExecuteReply};
use dome_sdk::{Client, ClientBuilder, Error, RetryPolicy, StatusKind, TlsConfig, pb};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The profiles this testee implements: all of them.
const PROFILES: [&str; 4] = ["core", "wait", "stream", "decisions"];

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = select_mutant(&args) {
        eprintln!("dome-testee: {e}");
        return std::process::ExitCode::from(2);
    }
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dome-testee: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "mutants")]
fn select_mutant(args: &[String]) -> Result<(), String> {
    match args {
        [] => Ok(()),
        [flag, name] if flag == "--mutant" => {
            let mutant = dome_sdk::mutant::Mutant::from_id(name).map_err(|e| e.to_string())?;
            dome_sdk::mutant::select(mutant).map_err(|m| format!("mutant `{}` is selected already", m.id()))
        }
        _ => Err(format!("unexpected arguments {args:?} (usage: dome-testee [--mutant NAME])")),
    }
}

#[cfg(not(feature = "mutants"))]
fn select_mutant(args: &[String]) -> Result<(), String> {
    match args {
        [] => Ok(()),
        _ => Err(format!("unexpected arguments {args:?} (`--mutant` needs the `mutants` feature)")),
    }
}

struct Out(tokio::io::Stdout);

impl Out {
    async fn line(&mut self, line: String) -> Result<(), String> {
        let write = async {
            self.0.write_all(line.as_bytes()).await?;
            self.0.write_all(b"\n").await?;
            self.0.flush().await
        };
        write.await.map_err(|e| format!("cannot write to stdout: {e}"))
    }

    async fn reply(&mut self, id: u64, outcome: Outcome) -> Result<(), String> {
        self.line(protocol::to_json(&Reply { id, outcome: Some(outcome) }, "Reply")).await
    }
}

async fn serve() -> Result<(), String> {
    let mut out = Out(tokio::io::stdout());
    let hello = Hello {
        protocol_version: protocol::PROTOCOL_VERSION,
        name: "dome-sdk-rust".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        profiles: PROFILES.map(String::from).to_vec(),
    };
    out.line(protocol::to_json(&hello, "Hello")).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut client: Option<Client> = None;
    while let Some(line) = lines.next_line().await.map_err(|e| format!("cannot read stdin: {e}"))? {
        let command: protocol::Command = protocol::from_json(&line, "Command")?;
        let id = command.id;
        let Some(action) = command.action else {
            out.reply(id, Outcome::Unsupported("a command without an action".into())).await?;
            continue;
        };
        if let Action::Shutdown(_) = action {
            out.reply(id, Outcome::Done(Done::default())).await?;
            return Ok(());
        }
        if let Action::Connect(connect) = action {
            let outcome = match builder(&connect)?.connect().await {
                Ok(connected) => {
                    client = Some(connected);
                    Outcome::Done(Done::default())
                }
                Err(e) => Outcome::Error(client_error(&e)),
            };
            out.reply(id, outcome).await?;
            continue;
        }
        let Some(client) = &client else {
            let error = ClientError {
                kind: ErrorKind::Config as i32,
                message: "`connect` must come first".into(),
                ..Default::default()
            };
            out.reply(id, Outcome::Error(error)).await?;
            continue;
        };
        let outcome = match action {
            Action::Execute(e) => execute(client, e.request.unwrap_or_default())
                .send()
                .await
                .map(|r| Done { executed: Some(executed(r)), ..Done::default() }),
            Action::ExecuteAndWait(e) => {
                execute(client, e.request.unwrap_or_default()).send_and_wait(None).await.map(job)
            }
            Action::GetStatus(r) => client.get_job_status(r.job_id).send().await.map(job),
            Action::Cancel(c) => client
                .cancel_job(c.job_id)
                .reason(c.reason)
                .send()
                .await
                .map(|r| Done { cancelled: Some(cancelled(r)), ..Done::default() }),
            Action::CancelAndWait(c) => client.cancel_and_wait(c.job_id, c.reason, None).await.map(job),
            Action::GetGateDecision(d) => client
                .get_gate_decision(d.run_id)
                .task_id(d.task_id)
                .send()
                .await
                .map(|g| Done { gate_decision: Some(g), ..Done::default() }),
            Action::GetPromotionDecision(d) => client
                .get_promotion_decision(d.run_id)
                .send()
                .await
                .map(|p| Done { promotion_decision: Some(p), ..Done::default() }),
            Action::StreamEvents(s) => {
                let mut events = client.stream_job_events(s.job_id).after(s.after_sequence).send();
                let mut ended = Ok(Done::default());
                while let Some(item) = events.next_event().await {
                    match item {
                        Ok(event) => out.reply(id, Outcome::Event(event)).await?,
                        Err(e) => {
                            ended = Err(e);
                            break;
                        }
                    }
                }
                ended
            }
            Action::Connect(_) | Action::Shutdown(_) => unreachable!("handled above"),
        };
        let outcome = match outcome {
            Ok(done) => Outcome::Done(done),
            Err(e) => Outcome::Error(client_error(&e)),
        };
        out.reply(id, outcome).await?;
    }
    Ok(())
}

/// The `SkillExecute` call of a request as the protocol states it, through
/// the SDK's builder. The request is taken apart field by field, so that a
/// field the contract adds fails to compile here until the testee sends it.
fn execute(client: &Client, request: pb::SkillExecuteRequest) -> SkillExecute<'_> {
    let pb::SkillExecuteRequest {
        correlation_id,
        skill_id,
        skill_version,
        input_json,
        idempotency_key,
        labels,
        run_id,
        base_ref,
    } = request;
    let call = client
        .skill_execute(skill_id, input_json)
        .skill_version(skill_version)
        .idempotency_key(idempotency_key)
        .labels(labels)
        .run_id(run_id)
        .base_ref(base_ref);
    if correlation_id.is_empty() { call } else { call.correlation_id(correlation_id) }
}

/// The SDK's reply as the protocol's response message.
fn executed(reply: SkillExecuteReply) -> pb::SkillExecuteResponse {
    pb::SkillExecuteResponse { correlation_id: reply.correlation_id, job: Some(reply.job), created: reply.created }
}

/// The SDK's reply as the protocol's response message.
fn cancelled(reply: CancelJobReply) -> pb::CancelJobResponse {
    pb::CancelJobResponse {
        correlation_id: reply.correlation_id,
        job: Some(reply.job),
        cancel_requested: reply.cancel_requested,
    }
}

fn job(job: pb::Job) -> Done {
    Done { job: Some(job), ..Done::default() }
}

fn millis(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

fn builder(connect: &protocol::Connect) -> Result<ClientBuilder, String> {
    let mut builder = Client::builder(connect.endpoint.clone());
    if !connect.auth_token.is_empty() {
        builder = builder.auth_token(connect.auth_token.clone());
    }
    if !connect.correlation_id.is_empty() {
        builder = builder.correlation_id(connect.correlation_id.clone());
    }
    if !connect.ca_cert_pem.is_empty() {
        builder = builder.tls(TlsConfig::new().ca_certificate_pem(connect.ca_cert_pem.as_bytes()));
    }
    if let Some(timeout) = millis(connect.request_timeout_ms) {
        builder = builder.request_timeout(timeout);
    }
    if let Some(retry) = &connect.retry {
        let mut policy = RetryPolicy::default();
        if retry.max_attempts > 0 {
            policy = policy.max_attempts(retry.max_attempts);
        }
        if let Some(d) = millis(retry.initial_backoff_ms) {
            policy = policy.initial_backoff(d);
        }
        if let Some(d) = millis(retry.max_backoff_ms) {
            policy = policy.max_backoff(d);
        }
        if let Some(d) = millis(retry.deadline_ms) {
            policy = policy.deadline(d);
        }
        builder = builder.retry_policy(policy);
    }
    Ok(builder)
}

/// The SDK's error as the protocol reports it.
fn client_error(error: &Error) -> ClientError {
    let mut out = ClientError {
        code: error.code().map(|c| c.as_str().to_string()).unwrap_or_default(),
        retryable: error.is_retryable(),
        retry_delay_ms: error.retry_delay().map_or(0, |d| d.as_millis().min(u128::from(u32::MAX)) as u32),
        message: error.to_string(),
        ..ClientError::default()
    };
    let kind = match error {
        Error::Api(api) => {
            out.reason = api.reason_name().to_string();
            out.metadata =
                api.metadata().into_iter().filter_map(|(k, v)| Some((k.to_string(), v?.to_string()))).collect();
            out.metadata.insert("correlationId".into(), api.correlation_id().to_string());
            ErrorKind::Api
        }
        Error::Status { kind, .. } => {
            if let StatusKind::UnknownReason(reason) = kind {
                out.reason = reason.clone();
            }
            ErrorKind::Status
        }
        Error::Transport(_) => ErrorKind::Transport,
        Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
        Error::SequenceGap { .. } => ErrorKind::SequenceGap,
        Error::DeadlineExceeded { .. } => ErrorKind::DeadlineExceeded,
        Error::Config(_) => ErrorKind::Config,
        _ => ErrorKind::Protocol,
    };
    out.kind = kind as i32;
    out
}
