//! A few HTTP/2 connections shared by many concurrent calls.

use std::time::Duration;

use dome_sdk::pb::gateway_service_client::GatewayServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::Error;

/// A generated client over one `tonic::transport::Channel`.
pub type Client = GatewayServiceClient<Channel>;

/// How long one unary call may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting to a loopback server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A fixed set of connections to one server; calls are spread over them
/// round robin, each connection carrying many concurrent HTTP/2 streams.
#[derive(Clone, Debug)]
pub struct Pool {
    clients: Vec<Client>,
}

impl Pool {
    /// Opens `connections` (at least one) separate connections to `target`
    /// (such as `http://127.0.0.1:50051`).
    pub async fn connect(target: &str, connections: usize) -> Result<Self, Error> {
        let endpoint = Endpoint::from_shared(target.to_owned())
            .map_err(|e| Error::connect(target, e))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let mut clients = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            // Each `connect` opens its own connection; clones of a channel
            // would share one.
            let channel = endpoint.connect().await.map_err(|e| Error::connect(target, e))?;
            clients.push(GatewayServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024));
        }
        Ok(Self { clients })
    }

    /// The client for the `i`-th caller (round robin over the connections).
    pub fn get(&self, i: usize) -> Client {
        self.clients[i % self.clients.len()].clone()
    }

    /// How many connections the pool holds.
    pub fn connections(&self) -> usize {
        self.clients.len()
    }
}

/// A submitted job and how many `QUEUE_FULL` answers it took.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The job as `SkillExecute` returned it.
    pub job: dome_sdk::pb::Job,
    /// Whether this call created the job.
    pub created: bool,
    /// How many `QUEUE_FULL` answers came before it was accepted.
    pub queue_full: u32,
    /// The encoded size of the accepting response, in bytes.
    pub response_bytes: u64,
}

/// The most `QUEUE_FULL` answers one submission waits out.
const MAX_QUEUE_FULL_RETRIES: u32 = 10_000;
/// The longest `RetryInfo` delay honoured; longer ones are shortened so a
/// phase stays bounded.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Submits one run of the conformance script skill with `input_json`.
///
/// `QUEUE_FULL` answers are retried after their `RetryInfo` delay with the
/// same idempotency key (as the contract requires of a retrying client),
/// and counted. Every other error is returned.
pub async fn submit(
    client: &mut Client,
    input_json: &str,
    idempotency_key: &str,
    deadline: tokio::time::Instant,
) -> Result<Submitted, Error> {
    submit_to(client, crate::SCRIPT_SKILL, input_json, idempotency_key, deadline).await
}

/// [`submit`] to the skill `skill_id`.
pub async fn submit_to(
    client: &mut Client,
    skill_id: &str,
    input_json: &str,
    idempotency_key: &str,
    deadline: tokio::time::Instant,
) -> Result<Submitted, Error> {
    use tonic_types::StatusExt;
    let request = dome_sdk::pb::SkillExecuteRequest {
        skill_id: skill_id.to_owned(),
        input_json: input_json.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        ..Default::default()
    };
    let mut queue_full = 0;
    loop {
        let attempt = tokio::time::timeout(CALL_TIMEOUT, client.skill_execute(request.clone()))
            .await
            .map_err(|_| Error::timeout(format!("SkillExecute of `{idempotency_key}` for {CALL_TIMEOUT:?}")))?;
        match attempt {
            Ok(response) => {
                let response = response.into_inner();
                let response_bytes = prost::Message::encoded_len(&response) as u64;
                let job =
                    response.job.ok_or_else(|| Error::violation("SkillExecute answered without a job".to_owned()))?;
                return Ok(Submitted { job, created: response.created, queue_full, response_bytes });
            }
            Err(status) => {
                let full = status.get_details_error_info().is_some_and(|info| info.reason == "QUEUE_FULL");
                if !full {
                    return Err(Error::rpc("SkillExecute", status));
                }
                queue_full += 1;
                let delay = status
                    .get_details_retry_info()
                    .and_then(|r| r.retry_delay)
                    .ok_or_else(|| Error::violation("QUEUE_FULL without a RetryInfo delay"))?
                    .min(MAX_RETRY_DELAY);
                if queue_full >= MAX_QUEUE_FULL_RETRIES || tokio::time::Instant::now() + delay > deadline {
                    return Err(Error::timeout(format!(
                        "job `{idempotency_key}` still refused with QUEUE_FULL after {queue_full} tries"
                    )));
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}
