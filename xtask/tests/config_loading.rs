//! Loading the gates' configuration as buf does: its defaults, v1 and v2
//! `buf.yaml` with every key, a v2 module found from a parent directory,
//! `buf.work.yaml`, explicit JSON or YAML given with `--config`, and
//! errors that point at the line and column.

use std::path::Path;

use xtask::engine::config::{Version, load};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().expect("parent")).expect("mkdir");
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn defaults_are_buf_s() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = load(tmp.path(), None).expect("defaults");
    assert_eq!(config.version, Version::V1);
    assert_eq!(config.lint.section.use_, ["DEFAULT"]);
    assert_eq!(config.breaking.section.use_, ["FILE"]);
    assert!(!config.lint.allow_comment_ignores);
    assert_eq!(config.lint.options.enum_zero_value_suffix, "_UNSPECIFIED");
}

#[test]
fn v1_in_the_root_with_every_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "buf.yaml",
        "\u{feff}version: v1\nbuild:\n  excludes: [vendor]\nlint:\n  use: [BASIC, COMMENTS]\n  except: [ENUM_PASCAL_CASE]\n  ignore: [a/v1/x.proto]\n  ignore_only:\n    FIELD_LOWER_SNAKE_CASE: [b]\n  enum_zero_value_suffix: _NONE\n  rpc_allow_same_request_response: true\n  rpc_allow_google_protobuf_empty_requests: true\n  rpc_allow_google_protobuf_empty_responses: true\n  service_suffix: API\n  allow_comment_ignores: true\nbreaking:\n  use: [WIRE]\n  except: [FIELD_WIRE_COMPATIBLE_TYPE]\n  ignore: [c]\n  ignore_only:\n    FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED: [d/e.proto]\n  ignore_unstable_packages: true\n",
    );
    let c = load(tmp.path(), None).expect("loads");
    assert_eq!(c.excludes, ["vendor"]);
    assert_eq!(c.lint.section.use_, ["BASIC", "COMMENTS"]);
    assert_eq!(c.lint.section.except, ["ENUM_PASCAL_CASE"]);
    assert_eq!(c.lint.section.ignore, ["a/v1/x.proto"]);
    assert_eq!(c.lint.section.ignore_only["FIELD_LOWER_SNAKE_CASE"], ["b"]);
    assert_eq!(c.lint.options.enum_zero_value_suffix, "_NONE");
    assert_eq!(c.lint.options.service_suffix, "API");
    assert!(c.lint.options.rpc_allow_same_request_response);
    assert!(c.lint.options.rpc_allow_google_protobuf_empty_requests);
    assert!(c.lint.options.rpc_allow_google_protobuf_empty_responses);
    assert!(c.lint.allow_comment_ignores);
    assert_eq!(c.breaking.section.use_, ["WIRE"]);
    assert_eq!(c.breaking.section.ignore, ["c"]);
    assert!(c.breaking.ignore_unstable_packages);
}

#[test]
fn v2_module_found_from_a_parent_with_paths_made_module_relative() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(
        tmp.path(),
        "buf.yaml",
        "version: v2\nmodules:\n  - path: other\n  - path: proto\n    lint:\n      use: [MINIMAL]\n      ignore: [proto/x/v1]\nlint:\n  use: [STANDARD]\nbreaking:\n  use: [PACKAGE]\n",
    );
    std::fs::create_dir_all(tmp.path().join("proto")).expect("mkdir");
    std::fs::create_dir_all(tmp.path().join("other")).expect("mkdir");
    let c = load(&tmp.path().join("proto"), None).expect("loads");
    assert_eq!(c.version, Version::V2);
    assert_eq!(c.lint.section.use_, ["MINIMAL"]);
    assert_eq!(c.lint.section.ignore, ["x/v1"]);
    assert_eq!(c.breaking.section.use_, ["PACKAGE"]);
    assert!(c.lint.allow_comment_ignores, "v2 allows comment ignores by default");
    let other = load(&tmp.path().join("other"), None).expect("loads");
    assert_eq!(other.lint.section.use_, ["STANDARD"]);
}

#[test]
fn buf_work_yaml_lists_the_root() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "buf.work.yaml", "version: v1\ndirectories:\n  - proto\n");
    std::fs::create_dir_all(tmp.path().join("proto")).expect("mkdir");
    let c = load(&tmp.path().join("proto"), None).expect("loads");
    assert!(c.source.ends_with("buf.work.yaml"), "{}", c.source);
    write(tmp.path(), "proto/buf.yaml", "version: v1\nlint:\n  use: [COMMENTS]\n");
    let c = load(&tmp.path().join("proto"), None).expect("loads");
    assert_eq!(c.lint.section.use_, ["COMMENTS"]);
}

#[test]
fn explicit_json_data_and_errors_with_positions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let c = load(tmp.path(), Some(r#"{"version":"v2","lint":{"use":["UNARY_RPC"],"disallow_comment_ignores":true}}"#))
        .expect("json");
    assert_eq!(c.lint.section.use_, ["UNARY_RPC"]);
    assert!(!c.lint.allow_comment_ignores);
    let e = load(tmp.path(), Some("version: v1\nlint:\n  usе: [X]\n")).expect_err("unknown key");
    assert!(format!("{e:#}").starts_with("--config:3:3: "), "{e:#}");
    let e = load(tmp.path(), Some("version: v3\n")).expect_err("unknown version");
    assert!(format!("{e:#}").contains("unsupported version `v3`"), "{e:#}");
    let e = load(tmp.path(), Some("version: v1\nlint:\n  disallow_comment_ignores: true\n")).expect_err("v2 key");
    assert!(format!("{e:#}").contains("v2 key"), "{e:#}");
    let e = load(tmp.path(), Some("no/such/file.yaml")).expect_err("no such file");
    assert!(format!("{e:#}").contains("no such file"), "{e:#}");
}
