//! Decoding statuses into typed errors, without a network: every reason of
//! the contract, built as a server of the contract sends it, decodes to
//! its variant with every promised field; every malformed status decodes
//! to [`Error::Status`] (or [`Error::Transport`]) with the reason why,
//! never a panic. (A unit test: decoding takes the transport's status,
//! which the public API never shows.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tonic_types::{ErrorDetails, StatusExt as _};

use super::*;
use crate::contract::{CORRELATION_ID_KEY, ERROR_DOMAIN, ERROR_REASONS, ErrorReasonSpec};

const ENDPOINT: &str = "http://gateway.test:50051";

fn decode(status: tonic::Status) -> Error {
    Error::from_status(status, &Arc::from(ENDPOINT))
}

/// A status for `spec` as the contract describes it, with `metadata`.
fn status(spec: &ErrorReasonSpec, metadata: HashMap<String, String>, domain: &str) -> tonic::Status {
    let mut details = ErrorDetails::with_error_info(spec.name, domain, metadata);
    if spec.bad_request {
        details.add_bad_request_violation("input_json/steps/0", "is not valid");
    }
    if spec.retryable {
        details.set_retry_info(Some(Duration::from_millis(250)));
    }
    tonic::Status::with_error_details(tonic::Code::from(spec.code.as_i32()), format!("{} happened", spec.name), details)
}

/// Every key `spec` declares, each with a distinct value, plus the
/// correlation id.
fn full_metadata(spec: &ErrorReasonSpec) -> HashMap<String, String> {
    let mut metadata: HashMap<_, _> = spec
        .metadata_keys
        .iter()
        .chain(spec.optional_metadata_keys)
        .enumerate()
        .map(|(i, k)| (k.to_string(), (100 + i).to_string()))
        .collect();
    metadata.insert(CORRELATION_ID_KEY.into(), format!("corr-{}", spec.name.to_lowercase()));
    metadata
}

#[test]
fn every_reason_decodes_to_its_variant_with_every_field() {
    for spec in ERROR_REASONS {
        let metadata = full_metadata(spec);
        let error = decode(status(spec, metadata.clone(), ERROR_DOMAIN));
        let Error::Api(api) = &error else { panic!("`{}` decoded to {error:?}, not an api error", spec.name) };
        assert_eq!(api.reason(), spec.reason, "reason of `{}`", spec.name);
        assert_eq!(api.reason_name(), spec.name);
        assert_eq!(api.code(), spec.code, "code of `{}`", spec.name);
        assert_eq!(api.is_retryable(), spec.retryable, "retryable of `{}`", spec.name);
        assert_eq!(error.is_retryable(), spec.retryable, "Error::is_retryable of `{}`", spec.name);
        assert_eq!(api.correlation_id(), metadata[CORRELATION_ID_KEY]);
        assert_eq!(error.correlation_id(), Some(metadata[CORRELATION_ID_KEY].as_str()));
        assert_eq!(api.message(), format!("{} happened", spec.name));
        let declared: Vec<_> = spec.metadata_keys.iter().chain(spec.optional_metadata_keys).copied().collect();
        let decoded: Vec<_> = api.metadata().iter().map(|(k, _)| *k).collect();
        assert_eq!(decoded, declared, "metadata keys of `{}`", spec.name);
        for (key, value) in api.metadata() {
            assert_eq!(value.as_deref(), Some(metadata[key].as_str()), "`{key}` of `{}`", spec.name);
        }
        let expected_violations = if spec.bad_request {
            vec![FieldViolation { field: "input_json/steps/0".into(), description: "is not valid".into() }]
        } else {
            vec![]
        };
        assert_eq!(api.violations(), expected_violations.as_slice(), "violations of `{}`", spec.name);
        let expected_delay = spec.retryable.then_some(Duration::from_millis(250));
        assert_eq!(api.retry_delay(), expected_delay, "retry delay of `{}`", spec.name);
        assert_eq!(error.retry_delay(), expected_delay);
        // One line: the reason, the message, the correlation id once.
        let shown = error.to_string();
        assert_eq!(
            shown,
            format!("{}: {} happened (correlation id {})", spec.name, spec.name, metadata[CORRELATION_ID_KEY])
        );
        assert!(std::error::Error::source(&error).is_none(), "nothing below an api error to repeat");
    }
}

#[test]
fn optional_metadata_may_be_absent() {
    let spec =
        ERROR_REASONS.iter().find(|s| !s.optional_metadata_keys.is_empty()).expect("a reason with optional keys");
    let mut metadata = full_metadata(spec);
    for key in spec.optional_metadata_keys {
        metadata.remove(*key);
    }
    let error = decode(status(spec, metadata, ERROR_DOMAIN));
    let api = error.api().expect("decodes without its optional keys");
    for key in spec.optional_metadata_keys {
        assert!(api.metadata().contains(&(*key, None)), "`{key}` should decode as absent");
    }
}

#[test]
fn shutting_down_on_a_stream_carries_its_resume_point() {
    let spec = ERROR_REASONS.iter().find(|s| s.name == "SHUTTING_DOWN").expect("SHUTTING_DOWN is a reason");
    let mut metadata = full_metadata(spec);
    metadata.insert("resumeAfterSequence".into(), "41".into());
    metadata.insert("jobId".into(), "job-1".into());
    match decode(status(spec, metadata, ERROR_DOMAIN)) {
        Error::Api(ApiError::ShuttingDown { resume_after_sequence, job_id, .. }) => {
            assert_eq!(resume_after_sequence, Some(41));
            assert_eq!(job_id.as_deref(), Some("job-1"));
        }
        other => panic!("expected SHUTTING_DOWN, got {other:?}"),
    }
}

#[test]
fn a_missing_promised_key_is_named() {
    for spec in ERROR_REASONS {
        for key in spec.metadata_keys.iter().chain([&CORRELATION_ID_KEY]) {
            let mut metadata = full_metadata(spec);
            metadata.remove(*key);
            match decode(status(spec, metadata, ERROR_DOMAIN)) {
                Error::Status { kind: StatusKind::MissingMetadata { reason, key: missing }, .. } => {
                    assert_eq!((reason.as_str(), missing.as_str()), (spec.name, *key));
                }
                other => panic!("`{}` without `{key}` decoded to {other:?}", spec.name),
            }
        }
    }
}

#[test]
fn foreign_domains_and_unknown_reasons_are_kept_raw() {
    let spec = &ERROR_REASONS[0];
    let foreign = decode(status(spec, full_metadata(spec), "example.com"));
    assert!(
        matches!(&foreign, Error::Status { kind: StatusKind::ForeignDomain(d), code, .. } if d == "example.com" && *code == spec.code),
        "{foreign:?}"
    );
    let details = ErrorDetails::with_error_info("SOMETHING_NEW", ERROR_DOMAIN, HashMap::new());
    let unknown = decode(tonic::Status::with_error_details(tonic::Code::Aborted, "new", details));
    assert!(
        matches!(&unknown, Error::Status { kind: StatusKind::UnknownReason(r), .. } if r == "SOMETHING_NEW"),
        "{unknown:?}"
    );
    assert_eq!(unknown.code(), Some(Code::Aborted));
    assert!(!unknown.is_retryable());
}

#[test]
fn statuses_without_error_info_decode_by_their_code() {
    let plain = decode(tonic::Status::not_found("gone"));
    assert!(matches!(plain, Error::Status { kind: StatusKind::NoErrorInfo, .. }), "{plain:?}");
    assert!(!plain.is_retryable());
    // UNAVAILABLE without an ErrorInfo is the transport-level failure a
    // client retries (tonic reports a refused connection so).
    let unavailable = decode(tonic::Status::unavailable("try again"));
    assert!(matches!(unavailable, Error::Transport(_)), "{unavailable:?}");
    assert!(unavailable.is_retryable());
    // A stream reset mid-way without details may be resumed, not retried.
    let reset = decode(tonic::Status::unknown("h2 protocol error"));
    assert!(reset.is_resumable() && !reset.is_retryable());
    // Garbage in the details trailer is reported, not a panic.
    let garbage = tonic::Status::with_details(
        tonic::Code::Internal,
        "bad",
        tonic::codegen::Bytes::from_static(&[0xff, 0x01, 0x02]),
    );
    let decoded = decode(garbage);
    assert!(matches!(decoded, Error::Status { kind: StatusKind::UndecodableDetails(_), .. }), "{decoded:?}");
}

#[test]
fn a_locally_made_status_is_a_transport_failure() {
    let status = tonic::Status::from_error(Box::new(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")));
    let error = decode(status);
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert!(error.is_resumable());
    assert_eq!(error.to_string(), format!("cannot reach `{ENDPOINT}`: reset"), "the cause once, with the endpoint");
    assert!(std::error::Error::source(&error).is_none(), "the cause is in the message, not repeated below it");
}

#[test]
fn typed_metadata_are_numbers_and_lists() {
    let spec = ERROR_REASONS.iter().find(|s| s.name == "UNSUPPORTED_API_VERSION").expect("a reason with a list");
    let mut metadata = full_metadata(spec);
    metadata.insert("supportedVersions".into(), "v1,v2".into());
    match decode(status(spec, metadata, ERROR_DOMAIN)) {
        Error::Api(ApiError::UnsupportedApiVersion { supported_versions, .. }) => {
            assert_eq!(supported_versions, ["v1", "v2"]);
        }
        other => panic!("expected UNSUPPORTED_API_VERSION, got {other:?}"),
    }
    let spec = ERROR_REASONS.iter().find(|s| s.name == "CURSOR_AHEAD_OF_HEAD").expect("a reason with numbers");
    let mut metadata = full_metadata(spec);
    metadata.insert("lastSequence".into(), "7".into());
    assert!(matches!(
        decode(status(spec, metadata.clone(), ERROR_DOMAIN)),
        Error::Api(ApiError::CursorAheadOfHead { last_sequence: 7, .. })
    ));
    for bad in ["", "seven", "+7", "-1", "18446744073709551616"] {
        metadata.insert("lastSequence".into(), bad.into());
        match decode(status(spec, metadata.clone(), ERROR_DOMAIN)) {
            Error::Status { kind: StatusKind::MalformedMetadata { key, value, .. }, .. } => {
                assert_eq!((key.as_str(), value.as_str()), ("lastSequence", bad));
            }
            other => panic!("`lastSequence` = {bad:?} decoded to {other:?}"),
        }
    }
}

mod arbitrary_statuses {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever bytes the details trailer holds, decoding returns.
        #[test]
        fn any_details_bytes_decode_without_panicking(code in 0i32..20, bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let status = tonic::Status::with_details(tonic::Code::from(code), "x", tonic::codegen::Bytes::from(bytes));
            let error = decode(status);
            let _ = (error.to_string(), error.is_retryable(), error.is_resumable(), error.code());
        }

        /// A known reason with any subset of its keys decodes to the variant
        /// exactly when every promised key is present, and otherwise names a
        /// missing one.
        #[test]
        fn a_known_reason_decodes_exactly_when_its_keys_are_there(
            index in 0..ERROR_REASONS.len(),
            keep in proptest::collection::vec(any::<bool>(), 8),
        ) {
            let spec = &ERROR_REASONS[index];
            let mut metadata = full_metadata(spec);
            let mut sorted: Vec<String> = metadata.keys().cloned().collect();
            sorted.sort();
            for (key, kept) in sorted.iter().zip(keep.iter().chain(std::iter::repeat(&true))) {
                if !kept {
                    metadata.remove(key);
                }
            }
            let promised = spec.metadata_keys.iter().chain([&CORRELATION_ID_KEY]).all(|k| metadata.contains_key(*k));
            match decode(status(spec, metadata, ERROR_DOMAIN)) {
                Error::Api(api) => {
                    prop_assert!(promised, "decoded without a promised key");
                    prop_assert_eq!(api.reason(), spec.reason);
                }
                Error::Status { kind: StatusKind::MissingMetadata { key, .. }, .. } => {
                    prop_assert!(!promised);
                    prop_assert!(spec.metadata_keys.contains(&key.as_str()) || key == CORRELATION_ID_KEY);
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}

#[test]
fn the_correlation_id_shows_once_when_the_message_names_it() {
    let spec = ERROR_REASONS.iter().find(|s| s.name == "JOB_NOT_FOUND").expect("JOB_NOT_FOUND is a reason");
    let mut metadata = full_metadata(spec);
    metadata.insert(CORRELATION_ID_KEY.into(), "c-7".into());
    let named = |message: &str| {
        let details = tonic_types::ErrorDetails::with_error_info(spec.name, ERROR_DOMAIN, metadata.clone());
        decode(tonic::Status::with_error_details(tonic::Code::NotFound, message, details)).to_string()
    };
    assert_eq!(
        named("no job `x` is known [correlation id c-7]"),
        "JOB_NOT_FOUND: no job `x` is known [correlation id c-7]"
    );
    assert_eq!(named("no job `x` is known"), "JOB_NOT_FOUND: no job `x` is known (correlation id c-7)");
    assert_eq!(
        named("no job `x` is known [correlation id c-8]"),
        "JOB_NOT_FOUND: no job `x` is known [correlation id c-8] (correlation id c-7)",
        "another id in the message is not the call's"
    );
}
