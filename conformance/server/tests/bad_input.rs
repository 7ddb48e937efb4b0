//! Arbitrary requests, malformed and oversized ones included, at every
//! RPC: the server never fails untyped, and still answers afterwards.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use dome_sdk::contract::{CONFORMANCE_SKILL_ID, ERROR_DOMAIN, ERROR_REASONS, RPCS};
use dome_sdk::pb;
use proptest::prelude::*;
use serde_json::{Value, json};
use tonic::Status;
use tonic_types::StatusExt;

/// Asserts a failure is a typed contract error.
fn assert_typed_failure(status: &Status) {
    let details = status.check_error_details().unwrap_or_else(|e| panic!("details decode ({e}) for {status:?}"));
    let info = details.error_info().unwrap_or_else(|| panic!("ErrorInfo on {status:?}"));
    assert_eq!(info.domain, ERROR_DOMAIN);
    let spec =
        ERROR_REASONS.iter().find(|s| s.name == info.reason).unwrap_or_else(|| panic!("known reason {}", info.reason));
    assert_eq!(status.code() as i32, spec.code.as_i32(), "code of {}", info.reason);
    assert!(info.metadata.contains_key("correlationId"));
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9.:_-]{1,20}", ".{0,40}", (0usize..300).prop_map(|n| "k".repeat(n)),]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Conformance steps that end quickly (no park, short sleeps), with values
/// both inside and outside the schema.
fn step() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|p| json!({ "progress": { "percent": p } })),
        (text(), text()).prop_map(|(l, m)| json!({ "log": { "level": l, "message": m } })),
        text().prop_map(|c| json!({ "fail": { "reason_code": c } })),
        json_value().prop_map(|o| json!({ "succeed": { "output": o } })),
        (0i64..300).prop_map(|c| json!({ "bulk": { "count": c } })),
        (-2i64..5).prop_map(|m| json!({ "sleep": { "millis": m } })),
        (text(), text(), text()).prop_map(|(n, u, s)| json!({ "artifact": { "name": n, "uri": u, "sha256": s } })),
        (
            prop::sample::select(vec!["APPROVE", "REJECT", "NEEDS_HUMAN", "MAYBE"]),
            any::<f64>().prop_filter("finite", |f| f.is_finite())
        )
            .prop_map(|(s, c)| json!({ "gate_decision": { "status": s, "confidence": c } })),
        prop::sample::select(vec!["APPROVE", "REJECT"])
            .prop_map(|d| json!({ "promotion_decision": { "decision": d } })),
        json_value().prop_map(|v| json!({ "unknown": v })),
    ]
}

fn input_json() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(step(), 0..5).prop_map(|steps| json!({ "steps": steps }).to_string()),
        json_value().prop_map(|v| v.to_string()),
        ".{0,60}",
        (1000usize..20_000).prop_map(|n| json!({ "steps": [{ "log": { "message": "x".repeat(n) } }] }).to_string()),
    ]
}

#[derive(Debug, Clone)]
enum Call {
    Caps(pb::ListCapabilitiesRequest),
    Execute(pb::SkillExecuteRequest),
    Status(pb::GetJobStatusRequest),
    Cancel(pb::CancelJobRequest),
    Stream(pb::StreamJobEventsRequest),
    Gate(pb::GetGateDecisionRequest),
    Promotion(pb::GetPromotionDecisionRequest),
    Raw(usize, Vec<u8>),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (text(), text())
            .prop_map(|(c, v)| Call::Caps(pb::ListCapabilitiesRequest { correlation_id: c, api_version: v })),
        (
            text(),
            prop::sample::select(vec![
                CONFORMANCE_SKILL_ID.to_owned(),
                "dome.echo".to_owned(),
                String::new(),
                "x".to_owned()
            ]),
            prop::sample::select(vec![String::new(), "1.0.0".to_owned(), "2".to_owned()]),
            input_json(),
            text(),
            prop::collection::hash_map(text(), text(), 0..3),
            text(),
            text(),
        )
            .prop_map(
                |(correlation_id, skill_id, skill_version, input_json, idempotency_key, labels, run_id, base_ref)| {
                    Call::Execute(pb::SkillExecuteRequest {
                        correlation_id,
                        skill_id,
                        skill_version,
                        input_json,
                        idempotency_key,
                        labels: labels.into_iter().collect::<HashMap<_, _>>(),
                        run_id,
                        base_ref,
                    })
                }
            ),
        (text(), text()).prop_map(|(c, j)| Call::Status(pb::GetJobStatusRequest { correlation_id: c, job_id: j })),
        (text(), text(), text()).prop_map(|(c, j, r)| Call::Cancel(pb::CancelJobRequest {
            correlation_id: c,
            job_id: j,
            reason: r
        })),
        (text(), text(), any::<u64>()).prop_map(|(c, j, a)| Call::Stream(pb::StreamJobEventsRequest {
            correlation_id: c,
            job_id: j,
            after_sequence: a
        })),
        (text(), text(), text()).prop_map(|(c, r, t)| Call::Gate(pb::GetGateDecisionRequest {
            correlation_id: c,
            run_id: r,
            task_id: t
        })),
        (text(), text())
            .prop_map(|(c, r)| Call::Promotion(pb::GetPromotionDecisionRequest { correlation_id: c, run_id: r })),
        (0usize..RPCS.len(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(i, b)| Call::Raw(i, b)),
    ]
}

async fn run(h: &mut common::Harness, channel: tonic::transport::Channel, call: Call) {
    let result: Result<(), Status> = match call {
        Call::Caps(r) => h.client.list_capabilities(r).await.map(drop),
        Call::Execute(r) => match h.client.skill_execute(r).await {
            // A created job is followed to its end: every generated script ends quickly.
            Ok(resp) => {
                let job = resp.into_inner().job.expect("job");
                h.wait_terminal(&job.job_id).await;
                Ok(())
            }
            Err(e) => Err(e),
        },
        Call::Status(r) => h.client.get_job_status(r).await.map(drop),
        Call::Cancel(r) => h.client.cancel_job(r).await.map(drop),
        Call::Stream(r) => match h.client.stream_job_events(r).await {
            Ok(resp) => {
                let mut stream = resp.into_inner();
                match common::drain(&mut stream).await.1 {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
            Err(e) => Err(e),
        },
        Call::Gate(r) => h.client.get_gate_decision(r).await.map(drop),
        Call::Promotion(r) => h.client.get_promotion_decision(r).await.map(drop),
        Call::Raw(i, bytes) => {
            let rpc = &RPCS[i];
            if rpc.server_streaming {
                common::raw_server_streaming(channel, rpc.path, bytes).await.map(drop)
            } else {
                common::raw_unary(channel, rpc.path, bytes).await.map(drop)
            }
        }
    };
    if let Err(status) = result {
        assert_typed_failure(&status);
    }
}

#[test]
fn arbitrary_requests_get_typed_answers_and_the_server_survives() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut h = rt.block_on(common::start_with(common::limits(|l| {
        l.max_input_bytes = 4096;
        l.max_request_bytes = 16 * 1024;
    })));
    let channel =
        rt.block_on(tonic::transport::Endpoint::new(h.running.url()).expect("url").connect()).expect("connects");
    // Some real ids, so that calls also reach existing jobs and runs.
    let seeded = rt.block_on(async {
        let job = h.submit(json!([{ "gate_decision": { "status": "REJECT" } }, { "promotion_decision": { "decision": "APPROVE" } }])).await;
        h.wait_terminal(&job.job_id).await
    });

    let h = std::cell::RefCell::new(h);
    let config = ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() };
    let ids = prop::sample::select(vec![seeded.job_id.clone(), seeded.run_id.clone()]);
    proptest!(config, |(calls in prop::collection::vec(call(), 1..6), real in ids, aim in any::<bool>())| {
        let mut h = h.borrow_mut();
        rt.block_on(async {
            for mut c in calls {
                if aim {
                    // Aim some calls at the real job and run.
                    match &mut c {
                        Call::Status(r) => r.job_id = real.clone(),
                        Call::Cancel(r) => r.job_id = real.clone(),
                        Call::Stream(r) => { r.job_id = real.clone(); r.after_sequence %= 8; }
                        Call::Gate(r) => r.run_id = real.clone(),
                        Call::Promotion(r) => r.run_id = real.clone(),
                        _ => {}
                    }
                }
                tokio::time::timeout(Duration::from_secs(30), run(&mut h, channel.clone(), c))
                    .await
                    .expect("every call is answered");
            }
            // The server still answers.
            h.client.list_capabilities(pb::ListCapabilitiesRequest::default()).await.expect("still serving");
        });
    });
    rt.block_on(h.into_inner().running.shutdown()).expect("clean shutdown");
}
