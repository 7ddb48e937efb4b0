//! The engine's naming helpers match buf's: case conversions between
//! snake, upper snake and Pascal case, and which packages end with a
//! version suffix.

use xtask::engine::toolkit::{has_version_suffix, to_lower_snake, to_pascal, to_upper_snake};

#[test]
fn case_conversions_match_buf() {
    assert_eq!(to_lower_snake("fooBar"), "foo_bar");
    assert_eq!(to_lower_snake("FooBar"), "foo_bar");
    assert_eq!(to_lower_snake("HTTPServer"), "http_server");
    assert_eq!(to_lower_snake("foo_bar2"), "foo_bar2");
    assert_eq!(to_lower_snake("max_input_bytes"), "max_input_bytes");
    assert_eq!(to_upper_snake("JobState"), "JOB_STATE");
    assert_eq!(to_upper_snake("GrpcCode"), "GRPC_CODE");
    assert_eq!(to_pascal("job_state"), "JobState");
    assert_eq!(to_pascal("JobState"), "JobState");
    assert_eq!(to_pascal("getJob"), "GetJob");
}

#[test]
fn version_suffixes() {
    for ok in ["dome.gateway.v1", "a.v2", "a.v1alpha", "a.v1beta2", "a.v1p1alpha1", "a.v1test", "a.v10"] {
        assert!(has_version_suffix(ok), "{ok}");
    }
    for bad in ["dome.gateway", "v1", "a.v0", "a.v1gamma", "a.V1", "a.v01", "a.v1alpha0", "a.version1"] {
        assert!(!has_version_suffix(bad), "{bad}");
    }
}
