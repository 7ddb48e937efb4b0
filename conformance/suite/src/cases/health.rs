//! The services every server runs beside the gateway (`service.proto`'s
//! conventions): `grpc.health.v1` and server reflection in both versions,
//! both open without credentials, reflection serving the contract's files
//! by name and by symbol, `errors.proto` included although no file of the
//! service imports it.

use std::collections::BTreeSet;

use dome_sdk::contract;
use prost::Message as _;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::case::{Case, CaseResult, Ctx, Stop};
use crate::ensure;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "health.serving",
            "grpc.health.v1 Check answers SERVING for the empty name and the gateway service, NOT_FOUND for any other, without credentials",
            "service.proto (grpc.health.v1 and server reflection)",
            health,
        )
        .checks(&["health.serving", "health.unknown_service", "auth.health_reflection_open"])
        .anywhere(),
        Case::new(
            "reflection.v1",
            "grpc.reflection.v1 lists the gateway service and returns its files, and errors.proto, by name and by symbol, without credentials",
            "service.proto (grpc.health.v1 and server reflection)",
            |ctx| reflection(ctx, Version::V1),
        )
        .checks(&["reflection.lists_service", "reflection.service_files", "reflection.errors_file", "auth.health_reflection_open"])
        .anywhere(),
        Case::new(
            "reflection.v1alpha",
            "grpc.reflection.v1alpha lists the gateway service and returns its files, and errors.proto, by name and by symbol, without credentials",
            "service.proto (grpc.health.v1 and server reflection)",
            |ctx| reflection(ctx, Version::V1alpha),
        )
        .checks(&["reflection.lists_service", "reflection.service_files", "reflection.errors_file", "auth.health_reflection_open"])
        .anywhere(),
    ]
}

async fn health(ctx: Ctx) -> CaseResult {
    let mut client = HealthClient::new(ctx.wire.channel());
    for service in ["", contract::SERVICE] {
        let call = client.check(HealthCheckRequest { service: service.to_string() });
        let answer = tokio::time::timeout(ctx.wire.rpc_timeout, call)
            .await
            .map_err(|_| {
                Stop::Fail(format!("health Check({service:?}) did not answer within {:?}", ctx.wire.rpc_timeout))
            })?
            .map_err(|s| {
                Stop::Fail(format!(
                    "health Check({service:?}) failed without credentials: {}",
                    crate::wire::describe_status(&s)
                ))
            })?
            .into_inner();
        ensure!(
            answer.status == ServingStatus::Serving as i32,
            "health Check({service:?}) answered status {}, expected SERVING",
            answer.status
        );
    }
    let unknown = "dome.gateway.v1.NoSuchService";
    let call = client.check(HealthCheckRequest { service: unknown.to_string() });
    match tokio::time::timeout(ctx.wire.rpc_timeout, call).await {
        Err(_) => Err(Stop::Fail(format!("health Check({unknown:?}) did not answer"))),
        Ok(Ok(r)) => {
            Err(Stop::Fail(format!("health Check({unknown:?}) answered {:?}; expected NOT_FOUND", r.into_inner())))
        }
        Ok(Err(s)) => {
            ensure!(
                s.code() == tonic::Code::NotFound,
                "health Check({unknown:?}) failed with {:?}, expected NOT_FOUND",
                s.code()
            );
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Version {
    V1,
    V1alpha,
}

/// What one reflection request asks.
#[derive(Debug, Clone)]
enum Ask {
    List,
    File(&'static str),
    Symbol(String),
}

/// What the server answered: service names, or file names.
type Answer = Result<BTreeSet<String>, String>;

/// The generated clients of the two versions differ only in their module,
/// so one macro writes the request for both.
macro_rules! ask {
    ($pb:path, $ctx:expr, $ask:expr) => {{
        use pb::server_reflection_request::MessageRequest;
        use pb::server_reflection_response::MessageResponse;
        use $pb as pb;
        let mut client = pb::server_reflection_client::ServerReflectionClient::new($ctx.wire.channel());
        let message_request = match $ask.clone() {
            Ask::List => MessageRequest::ListServices(String::new()),
            Ask::File(f) => MessageRequest::FileByFilename(f.to_string()),
            Ask::Symbol(s) => MessageRequest::FileContainingSymbol(s),
        };
        let request = pb::ServerReflectionRequest { host: String::new(), message_request: Some(message_request) };
        let exchange = async {
            let mut responses = client
                .server_reflection_info(futures_util::stream::iter(vec![request]))
                .await
                .map_err(|s| crate::wire::describe_status(&s))?
                .into_inner();
            let first = responses.message().await.map_err(|s| crate::wire::describe_status(&s))?;
            match first.and_then(|r| r.message_response) {
                Some(MessageResponse::ListServicesResponse(l)) => Ok(l.service.into_iter().map(|s| s.name).collect()),
                Some(MessageResponse::FileDescriptorResponse(f)) => f
                    .file_descriptor_proto
                    .iter()
                    .map(|bytes| {
                        prost_types::FileDescriptorProto::decode(bytes.as_slice())
                            .map(|d| d.name().to_string())
                            .map_err(|e| format!("a returned file descriptor does not decode: {e}"))
                    })
                    .collect(),
                Some(MessageResponse::ErrorResponse(e)) => Err(format!("error {}: {}", e.error_code, e.error_message)),
                other => Err(format!("an unexpected answer: {other:?}")),
            }
        };
        match tokio::time::timeout($ctx.wire.rpc_timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {:?}", $ctx.wire.rpc_timeout)),
        }
    }};
}

async fn ask(ctx: &Ctx, version: Version, what: &Ask) -> Answer {
    match version {
        Version::V1 => ask!(tonic_reflection::pb::v1, ctx, what),
        Version::V1alpha => ask!(tonic_reflection::pb::v1alpha, ctx, what),
    }
}

async fn reflection(ctx: Ctx, version: Version) -> CaseResult {
    let name = match version {
        Version::V1 => "grpc.reflection.v1",
        Version::V1alpha => "grpc.reflection.v1alpha",
    };
    let fail = |what: &str, e: String| Stop::Fail(format!("{name} {what}, without credentials: {e}"));
    let services = ask(&ctx, version, &Ask::List).await.map_err(|e| fail("ListServices", e))?;
    ensure!(services.contains(contract::SERVICE), "{name} lists {services:?}, without {}", contract::SERVICE);
    // Each file by its name, and the file declaring a symbol by the symbol
    // (a server may add the files it imports).
    let mut asks: Vec<(Ask, &str)> = ["service", "capabilities", "decisions", "events", "jobs", "options", "errors"]
        .iter()
        .map(|f| {
            let file: &'static str = match *f {
                "service" => "dome/gateway/v1/service.proto",
                "capabilities" => "dome/gateway/v1/capabilities.proto",
                "decisions" => "dome/gateway/v1/decisions.proto",
                "events" => "dome/gateway/v1/events.proto",
                "jobs" => "dome/gateway/v1/jobs.proto",
                "options" => "dome/gateway/v1/options.proto",
                _ => "dome/gateway/v1/errors.proto",
            };
            (Ask::File(file), file)
        })
        .collect();
    asks.push((Ask::Symbol(contract::SERVICE.to_string()), "dome/gateway/v1/service.proto"));
    asks.push((Ask::Symbol(format!("{}.ErrorReason", contract::PACKAGE)), "dome/gateway/v1/errors.proto"));
    for (what, want) in asks {
        let files = ask(&ctx, version, &what).await.map_err(|e| fail(&format!("{what:?}"), e))?;
        ensure!(files.contains(want), "{name} {what:?} returned the files {files:?}, without {want}");
    }
    Ok(())
}
