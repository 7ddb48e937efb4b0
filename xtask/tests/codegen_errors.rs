//! The SDK's error enum as generated from `ErrorReason`: a reason added to
//! the contract becomes a variant with typed fields, keys that would clash
//! or are malformed fail generation naming the reason, and decimal and
//! list keys become typed fields.

use anyhow::Result;
use xtask::codegen::errors::{check_rows, generate, snake_case};
use xtask::facts::ErrorRow;

#[test]
fn snake_case_splits_lower_camel() {
    assert_eq!(snake_case("jobId"), "job_id");
    assert_eq!(snake_case("resumeAfterSequence"), "resume_after_sequence");
    assert_eq!(snake_case("field"), "field");
}

fn row(keys: &[&str]) -> ErrorRow {
    ErrorRow {
        name: "X".into(),
        number: 1,
        code: "INTERNAL".into(),
        code_number: 13,
        retryable: false,
        metadata_keys: keys.iter().map(|k| k.to_string()).collect(),
        optional_metadata_keys: vec![],
        bad_request: false,
        decimal_metadata_keys: vec![],
        list_metadata_keys: vec![],
        doc: String::new(),
    }
}

/// Copies the contract's protos into a temporary tree, with `edit`
/// applied to `errors.proto`, and generates `errors.rs` from it.
fn generate_edited(edit: impl Fn(String) -> String) -> Result<String> {
    let root = xtask::paths::project_root().join(xtask::paths::PROTO_DIR);
    let tmp = tempfile::tempdir()?;
    for rel in xtask::util::files_with_suffix(&root, &root, ".proto")? {
        let to = tmp.path().join(&rel);
        std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        let text = std::fs::read_to_string(root.join(&rel))?;
        let text = if rel.ends_with("errors.proto") { edit(text) } else { text };
        std::fs::write(to, text)?;
    }
    generate(&xtask::descriptors::compile_tree(tmp.path(), &[])?.pool)
}

#[test]
fn a_new_reason_becomes_a_variant_with_its_typed_fields() {
    let added = generate_edited(|text| {
        let end = text.rfind('}').expect("the enum closes");
        format!(
            "{}  // A quota ran out. Metadata: `bucketName`.\n  ERROR_REASON_QUOTA_SPENT = 1018 [(error) = {{\n    code: GRPC_CODE_RESOURCE_EXHAUSTED\n    retryable: true\n    metadata_keys: [\"bucketName\"]\n    optional_metadata_keys: [\"hint\"]\n  }}];\n{}",
            &text[..end],
            &text[end..]
        )
    })
    .expect("the edited contract generates");
    let variant = added.find("    QuotaSpent {").expect("a variant for the new reason");
    let body = &added[variant..added[variant..].find("},").map(|e| variant + e).expect("the variant ends")];
    for field in [
        "correlation_id: String",
        "bucket_name: String",
        "hint: Option<String>",
        "retry_delay: Option<std::time::Duration>",
    ] {
        assert!(body.contains(field), "`{field}` missing from\n{body}");
    }
    assert!(added.contains("\"QUOTA_SPENT\" => {"), "the decoder knows the new reason");
    assert!(added.contains("Self::QuotaSpent { .. } => true"), "retryable, from the option");
    let unchanged = generate_edited(|text| text).expect("the contract generates");
    assert!(!unchanged.contains("QuotaSpent"));
}

#[test]
fn a_key_that_clashes_fails_generation_with_the_reason_named() {
    let error = generate_edited(|text| text.replace("metadata_keys: [\"permission\"]", "metadata_keys: [\"message\"]"))
        .expect_err("a key named like a fixed field is refused");
    assert!(error.to_string().contains("ERROR_REASON_PERMISSION_DENIED"), "{error}");
}

#[test]
fn check_rows_refuses_clashing_and_malformed_keys() {
    assert!(check_rows(&[row(&["jobId", "limitValue"])]).is_ok());
    for bad in [&["message"][..], &["retryDelay"], &["correlationId"], &["JobId"], &["job-id"], &["jobId", "jobId"]] {
        assert!(check_rows(&[row(bad)]).is_err(), "keys {bad:?} should be refused");
    }
}

#[test]
fn typed_keys_must_be_declared_and_of_one_type() {
    let mut typed = row(&["jobId", "limitValue", "versions"]);
    typed.decimal_metadata_keys = vec!["limitValue".into()];
    typed.list_metadata_keys = vec!["versions".into()];
    assert!(check_rows(&[typed.clone()]).is_ok());
    let mut undeclared = typed.clone();
    undeclared.decimal_metadata_keys.push("lastSequence".into());
    assert!(check_rows(&[undeclared]).is_err(), "a typed key must be a metadata key");
    let mut both = typed;
    both.list_metadata_keys.push("limitValue".into());
    assert!(check_rows(&[both]).is_err(), "a key is decimal or a list, not both");
}

#[test]
fn decimal_and_list_keys_are_typed_fields() {
    let generated = generate_edited(|text| text).expect("the contract generates");
    for field in
        ["limit_value: u64", "supported_versions: Vec<String>", "resume_after_sequence: Option<u64>", "job_id: String"]
    {
        assert!(generated.contains(field), "`{field}` missing");
    }
    let untyped = generate_edited(|text| text.replace("    decimal_metadata_keys: [\"limitValue\"]\n", ""))
        .expect("the edited contract generates");
    assert!(untyped.contains("limit_value: String") && !untyped.contains("limit_value: u64"));
}
