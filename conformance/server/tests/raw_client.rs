//! An independent client: tonic's generic `Grpc` with the prost codec and
//! the method paths from the contract's RPC table, the health service and
//! server reflection, all over a real socket.

use crate::common;

use dome_sdk::contract::{RPCS, SERVICE};
use dome_sdk::pb;
use prost::Message;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

async fn channel(h: &common::Harness) -> tonic::transport::Channel {
    tonic::transport::Endpoint::new(h.running.url()).expect("url").connect().await.expect("connects")
}

fn path_of(name: &str) -> &'static str {
    RPCS.iter().find(|r| r.name == name).map(|r| r.path).unwrap_or_else(|| panic!("{name} is an RPC"))
}

#[tokio::test]
async fn a_generic_grpc_client_drives_the_service() {
    let mut h = common::start().await;
    let channel = tonic::transport::Endpoint::new(h.running.url()).expect("url").connect().await.expect("connects");
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let codec: tonic_prost::ProstCodec<pb::ListCapabilitiesRequest, pb::ListCapabilitiesResponse> =
        tonic_prost::ProstCodec::default();
    let caps = grpc
        .unary(
            tonic::Request::new(pb::ListCapabilitiesRequest { correlation_id: "generic".into(), ..Default::default() }),
            PathAndQuery::from_static(path_of("ListCapabilities")),
            codec,
        )
        .await
        .expect("ListCapabilities over the generic client")
        .into_inner();
    assert_eq!(caps.correlation_id, "generic");
    assert_eq!(caps.skills.len(), 2);

    // Hand-encoded bytes over the raw codec: SkillExecute of the echo skill.
    let request = pb::SkillExecuteRequest {
        skill_id: "dome.echo".into(),
        input_json: r#"{"message":"raw"}"#.into(),
        ..Default::default()
    };
    let bytes = common::raw_unary(channel.clone(), path_of("SkillExecute"), request.encode_to_vec())
        .await
        .expect("SkillExecute");
    let resp = pb::SkillExecuteResponse::decode(bytes.as_slice()).expect("a SkillExecuteResponse");
    assert!(resp.created);
    let job = resp.job.expect("job");
    assert_eq!(job.skill_id, "dome.echo");

    // Bytes that are no protobuf message are a typed INVALID_ARGUMENT.
    let err =
        common::raw_unary(channel.clone(), path_of("GetJobStatus"), vec![0xff, 0xff, 0xff]).await.expect_err("garbage");
    common::assert_typed(&err, "INVALID_ARGUMENT");

    // The stream sends each event as the log keeps it encoded: the raw
    // messages decode to the job's gapless events, and garbage is typed
    // on this route too.
    h.finished(&job.job_id).await;
    let request = pb::StreamJobEventsRequest { job_id: job.job_id.clone(), ..Default::default() };
    let messages = common::raw_server_streaming(channel.clone(), path_of("StreamJobEvents"), request.encode_to_vec())
        .await
        .expect("StreamJobEvents");
    let sequences: Vec<u64> = messages
        .iter()
        .map(|m| pb::StreamJobEventsResponse::decode(m.as_slice()).expect("a StreamJobEventsResponse"))
        .map(|r| r.event.expect("an event").sequence)
        .collect();
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>());
    assert!(sequences.len() >= 3, "queued, running and the end at least: {sequences:?}");
    let err = common::raw_server_streaming(channel.clone(), path_of("StreamJobEvents"), vec![0xff, 0xff, 0xff])
        .await
        .expect_err("garbage");
    common::assert_typed(&err, "INVALID_ARGUMENT");

    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn health_reports_the_gateway_serving() {
    let h = common::start().await;
    let mut health = HealthClient::new(channel(&h).await);
    for service in ["", SERVICE] {
        let resp =
            health.check(HealthCheckRequest { service: service.into() }).await.expect("health answers").into_inner();
        assert_eq!(resp.status(), ServingStatus::Serving, "service `{service}`");
    }
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn reflection_lists_the_service_and_serves_its_file() {
    let h = common::start().await;
    let mut reflection = ServerReflectionClient::new(channel(&h).await);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(SERVICE.into())),
        },
    ];
    let mut responses =
        reflection.server_reflection_info(tokio_stream::iter(requests)).await.expect("reflection answers").into_inner();
    let first = responses.message().await.expect("ok").expect("a response");
    match first.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            assert!(names.contains(&SERVICE.to_owned()), "{names:?}");
            assert!(names.contains(&"grpc.health.v1.Health".to_owned()), "{names:?}");
        }
        other => panic!("expected a service list, got {other:?}"),
    }
    let second = responses.message().await.expect("ok").expect("a response");
    match second.message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => assert!(!files.file_descriptor_proto.is_empty()),
        other => panic!("expected file descriptors, got {other:?}"),
    }
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn reflection_v1alpha_is_served_too() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let h = common::start().await;
    let mut reflection = ServerReflectionClient::new(channel(&h).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1alpha answers")
        .into_inner();
    match responses.message().await.expect("ok").expect("a response").message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            assert!(names.contains(&SERVICE.to_owned()), "{names:?}");
        }
        other => panic!("expected a service list, got {other:?}"),
    }
    h.running.shutdown().await.expect("clean shutdown");
}

/// A client that compresses its requests with gzip and accepts gzip
/// responses (a default in several gRPC runtimes) is served, on the
/// generated routes and on those answered from encoded bytes alike.
#[tokio::test]
async fn a_gzip_client_is_served_both_ways() {
    use dome_sdk::pb::gateway_service_client::GatewayServiceClient;
    use tonic::codec::CompressionEncoding;

    let mut h = common::start().await;
    let mut client = GatewayServiceClient::new(channel(&h).await)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let caps = client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("ListCapabilities");
    assert_eq!(caps.metadata().get("grpc-encoding").map(|v| v.as_bytes()), Some(&b"gzip"[..]), "the answer is gzip");
    let message = "x".repeat(64 * 1024);
    let request = pb::SkillExecuteRequest {
        skill_id: "dome.echo".into(),
        input_json: serde_json::json!({ "message": message }).to_string(),
        ..Default::default()
    };
    let job = client.skill_execute(request).await.expect("SkillExecute").into_inner().job.expect("job");
    let ended = h.finished(&job.job_id).await;
    assert!(ended.outcome.expect("outcome").output_json.contains(&message));
    let mut events = client
        .stream_job_events(pb::StreamJobEventsRequest { job_id: job.job_id.clone(), ..Default::default() })
        .await
        .expect("StreamJobEvents")
        .into_inner();
    let mut count = 0;
    while let Some(event) = events.message().await.expect("events") {
        count += 1;
        assert_eq!(event.event.expect("event").sequence, count);
    }
    assert!(count >= 3);
    h.running.shutdown().await.expect("clean shutdown");
}
