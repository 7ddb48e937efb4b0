//! The SDK's call builders and its curated `pb` module as generated:
//! required fields are arguments and the rest setters, one-field replies
//! return the field, and the contract's option types stay out of `pb`.

use prost_reflect::DescriptorPool;
use xtask::codegen::calls::{generate_calls, generate_pb, snake};

fn pool() -> DescriptorPool {
    let root = xtask::paths::project_root().join(xtask::paths::PROTO_DIR);
    xtask::descriptors::compile_tree(&root, &[]).expect("the contract compiles").pool
}

#[test]
fn snake_splits_pascal() {
    assert_eq!(snake("GetJobStatus"), "get_job_status");
    assert_eq!(snake("JobEvent"), "job_event");
}

#[test]
fn required_fields_are_arguments_and_the_rest_setters() {
    let calls = generate_calls(&pool()).expect("the contract generates");
    assert!(calls.contains("pub fn skill_execute(\n        &self,\n        skill_id: impl Into<String>,\n        input_json: impl Into<String>,\n    )"), "{calls}");
    assert!(calls.contains("pub fn idempotency_key(mut self, value: impl Into<String>) -> Self"));
    assert!(calls.contains("pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self"));
    assert!(calls.contains("pub fn get_job_status(&self, job_id: impl Into<String>) -> GetJobStatus<'_>"));
    assert!(
        calls.contains("pub async fn send(self) -> Result<crate::pb::Job, crate::Error>"),
        "one payload field is returned itself"
    );
    assert!(calls.contains("pub job: crate::pb::Job,"), "message fields of replies are unwrapped");
}

#[test]
fn the_option_types_stay_out_of_pb() {
    let pb = generate_pb(&pool()).expect("the contract generates");
    for hidden in ["ErrorSpec", "SsotMapping,", "GrpcCode"] {
        assert!(!pb.contains(hidden), "`{hidden}` is public:\n{pb}");
    }
    for public in ["SsotFamily", "JobEvent", "job_event", "ErrorReason", "gateway_service_client"] {
        assert!(pb.contains(public), "`{public}` is not public:\n{pb}");
    }
}
