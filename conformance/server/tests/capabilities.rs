//! `ListCapabilities`, API version negotiation (field and header) and
//! correlation ids.

use crate::common;

use dome_sdk::contract::{API_VERSION, CONFORMANCE_FEATURE, CONFORMANCE_SCRIPT_SCHEMA, CONFORMANCE_SKILL_ID, RPCS};
use dome_sdk::pb::{self, SsotFamily};
use tonic::Code;
use tonic::metadata::MetadataValue;

#[tokio::test]
async fn lists_versions_features_limits_and_skills() {
    let mut h = common::start().await;
    let resp = h
        .client
        .list_capabilities(pb::ListCapabilitiesRequest {
            correlation_id: "caps-1".into(),
            api_version: API_VERSION.into(),
        })
        .await
        .expect("ListCapabilities succeeds")
        .into_inner();
    assert_eq!(resp.correlation_id, "caps-1");
    assert_eq!(resp.api_versions, vec![API_VERSION.to_owned()]);
    assert!(!resp.server_version.is_empty());
    assert_eq!(resp.features, vec![CONFORMANCE_FEATURE.to_owned()]);
    let families: Vec<i32> = resp.ssot_schema_versions.iter().map(|v| v.family).collect();
    assert_eq!(families, (1..=6).collect::<Vec<i32>>(), "one entry per family, in number order");
    assert!(families.iter().all(|f| SsotFamily::try_from(*f).is_ok()));
    let limits = resp.limits.expect("limits are listed");
    assert_eq!(limits.queue_capacity, 1024);
    assert_eq!(limits.max_subscriber_lag_events, 4096);
    assert_eq!(limits.idempotency_window_seconds, 24 * 3600);

    let ids: Vec<(&str, &str)> = resp.skills.iter().map(|s| (s.skill_id.as_str(), s.version.as_str())).collect();
    assert_eq!(ids, vec![(CONFORMANCE_SKILL_ID, "1.0.0"), ("dome.echo", "1.0.0")], "ascending by id");
    let conformance = &resp.skills[0];
    assert_eq!(conformance.required_features, vec![CONFORMANCE_FEATURE.to_owned()]);
    let published: serde_json::Value = serde_json::from_str(&conformance.input_schema_json).expect("schema is JSON");
    let contract: serde_json::Value = serde_json::from_str(CONFORMANCE_SCRIPT_SCHEMA).expect("contract schema is JSON");
    assert_eq!(published, contract, "the conformance skill publishes the contract's schema");
    assert_eq!(conformance.input_schema_json, published.to_string(), "canonical JSON text");

    // The response is the same for every call, apart from the correlation id.
    let again = h.client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("ok").into_inner();
    assert!(again.correlation_id.starts_with("corr-") && again.correlation_id.len() == 37);
    assert_eq!(again.skills, resp.skills);
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn without_the_conformance_profile_the_skill_is_not_offered() {
    let mut h = common::start_with(domed::Config { conformance: false, ..Default::default() }).await;
    let resp = h.client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("ok").into_inner();
    assert!(resp.features.is_empty());
    assert_eq!(resp.skills.len(), 1);
    assert_eq!(resp.skills[0].skill_id, "dome.echo");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_unserved_api_version_field_is_unsupported_api_version() {
    let mut h = common::start().await;
    let err = h
        .client
        .list_capabilities(pb::ListCapabilitiesRequest { correlation_id: "v-2".into(), api_version: "v2".into() })
        .await
        .expect_err("v2 is not served");
    let info = common::assert_error(&err, Code::FailedPrecondition, "UNSUPPORTED_API_VERSION");
    assert_eq!(info.metadata["requestedVersion"], "v2");
    assert_eq!(info.metadata["supportedVersions"], "v1");
    assert_eq!(info.metadata["correlationId"], "v-2");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_api_version_header_is_checked_on_every_rpc() {
    let h = common::start().await;
    let channel = tonic::transport::Endpoint::new(h.running.url()).expect("url").connect().await.expect("connects");
    let mut client = pb::gateway_service_client::GatewayServiceClient::with_interceptor(
        channel.clone(),
        |mut req: tonic::Request<()>| {
            req.metadata_mut().insert(dome_sdk::contract::API_VERSION_HEADER, MetadataValue::from_static("v9"));
            Ok(req)
        },
    );
    let mut errors = Vec::new();
    errors.push(client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.err());
    errors.push(client.skill_execute(common::script(serde_json::json!([]))).await.err());
    errors.push(
        client.get_job_status(pb::GetJobStatusRequest { job_id: "job-x".into(), ..Default::default() }).await.err(),
    );
    errors.push(client.cancel_job(pb::CancelJobRequest { job_id: "job-x".into(), ..Default::default() }).await.err());
    errors.push(
        client
            .stream_job_events(pb::StreamJobEventsRequest { job_id: "job-x".into(), ..Default::default() })
            .await
            .err(),
    );
    errors.push(
        client
            .get_gate_decision(pb::GetGateDecisionRequest { run_id: "run-x".into(), ..Default::default() })
            .await
            .err(),
    );
    errors.push(
        client
            .get_promotion_decision(pb::GetPromotionDecisionRequest { run_id: "run-x".into(), ..Default::default() })
            .await
            .err(),
    );
    assert_eq!(errors.len(), RPCS.len(), "every RPC is covered");
    for err in errors {
        let err = err.expect("the call fails");
        let info = common::assert_typed(&err, "UNSUPPORTED_API_VERSION");
        assert_eq!(info.metadata["requestedVersion"], "v9");
    }

    // The served version passes.
    let mut ok =
        pb::gateway_service_client::GatewayServiceClient::with_interceptor(channel, |mut req: tonic::Request<()>| {
            req.metadata_mut().insert(dome_sdk::contract::API_VERSION_HEADER, MetadataValue::from_static("v1"));
            Ok(req)
        });
    ok.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("v1 is served");
    h.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_invalid_correlation_id_is_invalid_argument_under_an_assigned_one() {
    let mut h = common::start().await;
    let err = h
        .client
        .list_capabilities(pb::ListCapabilitiesRequest { correlation_id: "not valid!".into(), ..Default::default() })
        .await
        .expect_err("invalid correlation id");
    let info = common::assert_error(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(info.metadata["field"], "correlation_id");
    assert!(info.metadata["correlationId"].starts_with("corr-"));
    let details = tonic_types::StatusExt::get_error_details(&err);
    let violations = &details.bad_request().expect("bad request").field_violations;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "correlation_id");
    h.running.shutdown().await.expect("clean shutdown");
}
