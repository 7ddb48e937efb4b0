//! Bearer-token authentication: gateway calls need the token, health and
//! reflection stay open.

use crate::common;

use dome_sdk::pb::{self, gateway_service_client::GatewayServiceClient};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn secured() -> domed::Config {
    domed::Config { auth_token: Some("s3cret".into()), ..Default::default() }
}

#[tokio::test]
async fn calls_without_the_token_are_unauthenticated() {
    let mut h = common::start_with(secured()).await;
    let err = h
        .client
        .list_capabilities(pb::ListCapabilitiesRequest { correlation_id: "auth-1".into(), ..Default::default() })
        .await
        .expect_err("no token");
    let info = common::assert_error(&err, Code::Unauthenticated, "UNAUTHENTICATED");
    assert_eq!(info.metadata.len(), 1, "no metadata beyond correlationId");
    assert_eq!(info.metadata["correlationId"], "auth-1");

    let channel = tonic::transport::Endpoint::new(h.running.url()).expect("url").connect().await.expect("connects");
    let mut wrong = GatewayServiceClient::with_interceptor(channel.clone(), |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", MetadataValue::from_static("Bearer nope"));
        Ok(r)
    });
    let err = wrong
        .get_job_status(pb::GetJobStatusRequest { job_id: "job-x".into(), ..Default::default() })
        .await
        .expect_err("wrong token");
    common::assert_typed(&err, "UNAUTHENTICATED");

    let mut empty = GatewayServiceClient::with_interceptor(channel.clone(), |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", MetadataValue::from_static("Bearer "));
        Ok(r)
    });
    let err = empty.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect_err("empty token");
    common::assert_typed(&err, "UNAUTHENTICATED");

    // The scheme is case-insensitive (RFC 7235).
    let mut right = GatewayServiceClient::with_interceptor(channel.clone(), |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", MetadataValue::from_static("bearer s3cret"));
        Ok(r)
    });
    let caps =
        right.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("authenticated").into_inner();
    assert!(caps.features.iter().any(|f| f == dome_sdk::contract::FEATURE_AUTH_BEARER));

    // Health stays open.
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest { service: "dome.gateway.v1.GatewayService".into() })
        .await
        .expect("health is open")
        .into_inner();
    assert_eq!(health.status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_empty_token_is_refused_at_start() {
    let err = domed::start(domed::Config { auth_token: Some(String::new()), ..Default::default() })
        .await
        .expect_err("an empty token lets anyone in");
    assert!(err.to_string().contains("bearer token is empty"), "{err}");
}
