//! The contract facts declared by proto options (the API version header,
//! the feature flags, the reason code a job state fixes) are read from the
//! descriptor set, land in the generated tables, and a malformed
//! declaration is refused with the element it is on.

use crate::common;

use std::path::Path;

use common::{edit, repo_copy};
use xtask::descriptors::compile_tree;
use xtask::facts::{feature_rows, header_rows, ssot_rows, state_reason_rows};
use xtask::paths::{PROTO_DIR, project_root};

fn pool(root: &Path) -> anyhow::Result<prost_reflect::DescriptorPool> {
    Ok(compile_tree(&root.join(PROTO_DIR), &[])?.pool)
}

#[test]
fn the_checkout_declares_what_the_tables_hold() {
    let pool = pool(&project_root()).unwrap();
    let headers = header_rows(&pool).unwrap();
    assert_eq!(headers.len(), 1, "{headers:?}");
    assert_eq!(headers[0].field, "dome.gateway.v1.ListCapabilitiesRequest.api_version");
    assert_eq!(headers[0].constant, "API_VERSION_HEADER");
    assert_eq!(headers[0].header, dome_sdk::contract::API_VERSION_HEADER);

    let flags = feature_rows(&pool).unwrap();
    let names: Vec<_> = flags.iter().map(|f| f.name.as_str()).collect();
    let generated: Vec<_> = dome_sdk::contract::FEATURE_FLAGS.iter().map(|f| f.name).collect();
    assert_eq!(names, generated);
    assert!(names.contains(&dome_sdk::contract::FEATURE_AUTH_BEARER), "{names:?}");
    assert!(names.contains(&dome_sdk::contract::CONFORMANCE_FEATURE), "{names:?}");

    let codes = state_reason_rows(&pool).unwrap();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!((codes[0].state.as_str(), codes[0].constant.as_str()), ("CANCELLED", "CANCELLED_REASON_CODE"));
    assert_eq!(codes[0].code, dome_sdk::contract::CANCELLED_REASON_CODE);
}

#[test]
fn a_new_declaration_becomes_a_new_constant() {
    let tmp = repo_copy();
    let root = tmp.path();
    edit(
        root,
        "proto/dome/gateway/v1/jobs.proto",
        "  JOB_STATE_FAILED = 5;",
        "  JOB_STATE_FAILED = 5 [(reason_code) = \"EXEC.FAILED\"];",
    );
    let outputs = xtask::codegen::generate(root).unwrap();
    let contract = outputs.iter().find(|o| o.path.ends_with("generated/contract.rs")).unwrap();
    let text = String::from_utf8(contract.contents.clone()).unwrap();
    assert!(text.contains("pub const FAILED_REASON_CODE: &str = \"EXEC.FAILED\";"), "{text}");
    assert!(text.contains("pub const CANCELLED_REASON_CODE: &str = \"EXEC.CANCELLED\";"), "{text}");
}

#[test]
fn malformed_declarations_are_refused_naming_the_element() {
    let tmp = repo_copy();
    let root = tmp.path();
    let caps = "proto/dome/gateway/v1/capabilities.proto";
    edit(root, caps, "(header) = \"dome-api-version\"", "(header) = \"Dome-Api-Version\"");
    let err = header_rows(&pool(root).unwrap()).unwrap_err().to_string();
    assert!(err.contains("ListCapabilitiesRequest.api_version") && err.contains("Dome-Api-Version"), "{err}");
    edit(root, caps, "(header) = \"Dome-Api-Version\"", "(header) = \"dome-api-version\"");

    edit(root, caps, "name: \"dome.auth.bearer\"", "name: \"dome.conformance.v1\"");
    let err = feature_rows(&pool(root).unwrap()).unwrap_err().to_string();
    assert!(err.contains("`dome.conformance.v1` is declared twice"), "{err}");
    edit(
        root,
        caps,
        "name: \"dome.conformance.v1\"\n      meaning: \"Every",
        "name: \"auth.bearer\"\n      meaning: \"Every",
    );
    let err = feature_rows(&pool(root).unwrap()).unwrap_err().to_string();
    assert!(err.contains("\"auth.bearer\"") && err.contains("does not start with `dome.`"), "{err}");
    edit(root, caps, "name: \"auth.bearer\"", "name: \"dome.auth.bearer\"");

    let jobs = "proto/dome/gateway/v1/jobs.proto";
    edit(root, jobs, "(reason_code) = \"EXEC.CANCELLED\"", "(reason_code) = \"cancelled\"");
    let err = state_reason_rows(&pool(root).unwrap()).unwrap_err().to_string();
    assert!(err.contains("JOB_STATE_CANCELLED") && err.contains("\"cancelled\""), "{err}");
    edit(root, jobs, "(reason_code) = \"cancelled\"", "(reason_code) = \"EXEC.CANCELLED\"");

    // The conformance schema's feature must be one the proto declares.
    edit(
        root,
        "proto/dome/gateway/v1/conformance_script.schema.json",
        "\"x-dome-feature\": \"dome.conformance.v1\"",
        "\"x-dome-feature\": \"dome.conformance.v2\"",
    );
    let err = xtask::codegen::generate(root).unwrap_err().to_string();
    assert!(err.contains("\"dome.conformance.v2\" is no `(feature)` option"), "{err}");
}

#[test]
fn the_zero_family_reads_as_no_family() {
    let tmp = repo_copy();
    let root = tmp.path();
    edit(
        root,
        "proto/dome/gateway/v1/jobs.proto",
        "    family: SSOT_FAMILY_TASK_RESULT\n",
        "    family: SSOT_FAMILY_UNSPECIFIED\n",
    );
    let rows = ssot_rows(&pool(root).unwrap()).unwrap();
    let outcome = rows.iter().find(|r| r.message == "dome.gateway.v1.JobOutcome").unwrap();
    assert_eq!((outcome.family.as_deref(), outcome.delta.as_deref()), (None, None));
    let job = rows.iter().find(|r| r.message == "dome.gateway.v1.Job").unwrap();
    assert_eq!(job.family.as_deref(), Some("WORK_QUEUE"));
}
