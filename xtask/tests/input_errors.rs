//! Every input error of the gates says where it is (file, line and
//! column when the input has them) and which side of a comparison it is
//! in; inputs buf accepts (a UTF-8 byte-order mark) are accepted.

use std::path::Path;

use xtask::breaking;
use xtask::descriptors::CompileError;
use xtask::engine::output::Format;
use xtask::lint;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

fn lint_dir(dir: &Path) -> anyhow::Result<lint::Outcome> {
    let args = lint::Args { proto_root: Some(dir.to_path_buf()), config: None, error_format: Format::Text };
    lint::run(dir, &args)
}

fn compile_error(e: &anyhow::Error) -> &CompileError {
    e.chain().find_map(|c| c.downcast_ref::<CompileError>()).unwrap_or_else(|| panic!("a compile error: {e:#}"))
}

const GOOD: &str = "syntax = \"proto3\";\n\npackage x.v1;\n\nmessage Thing {\n  string name = 1;\n}\n";

#[test]
fn a_byte_order_mark_is_accepted() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "x/v1/x.proto", &[b"\xEF\xBB\xBF".as_slice(), GOOD.as_bytes()].concat());
    let outcome = lint_dir(tmp.path()).expect("a BOM is not a syntax error");
    assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
}

#[test]
fn a_file_that_is_not_utf8_is_located() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "x/v1/x.proto", b"syntax = \"proto3\";\npackage x.v1;\n// caf\xE9\n");
    let e = lint_dir(tmp.path()).expect_err("not UTF-8");
    let c = compile_error(&e);
    assert_eq!((c.path.as_str(), c.at.line, c.at.column), ("x/v1/x.proto", 3, 7), "{c}");
    assert!(c.message.contains("UTF-8"), "{c}");
}

#[test]
fn an_import_cycle_is_located_at_the_import() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "x/v1/a.proto", b"syntax = \"proto3\";\npackage x.v1;\nimport \"x/v1/b.proto\";\n");
    write(tmp.path(), "x/v1/b.proto", b"syntax = \"proto3\";\npackage x.v1;\n\nimport \"x/v1/a.proto\";\n");
    let e = lint_dir(tmp.path()).expect_err("a cycle");
    let c = compile_error(&e);
    assert!(c.message.contains("cycle"), "{c}");
    assert!(c.at.line > 0, "the cycle has a position: {c}");
    let text = std::fs::read_to_string(tmp.path().join(&c.path)).expect("read");
    let line = text.lines().nth(c.at.line - 1).expect("the line exists");
    assert!(line.starts_with("import "), "points at an import: {line:?} ({c})");
}

#[cfg(unix)]
#[test]
fn a_directory_symlink_loop_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "x/v1/x.proto", GOOD.as_bytes());
    std::os::unix::fs::symlink(tmp.path(), tmp.path().join("x/v1/loop")).expect("symlink");
    let e = lint_dir(tmp.path()).expect_err("a loop");
    assert!(format!("{e:#}").contains("symlink loop"), "{e:#}");
}

#[test]
fn an_empty_or_fileless_image_fails() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "proto/x/v1/x.proto", GOOD.as_bytes());
    let empty = tmp.path().join("empty.binpb");
    std::fs::write(&empty, b"").expect("write");
    let args = breaking::Args {
        proto_root: Some(tmp.path().join("proto")),
        against: Some(empty.clone()),
        ..breaking::Args::default()
    };
    let e = breaking::run(tmp.path(), &args).expect_err("an empty image");
    let shown = format!("{e:#}");
    assert!(shown.contains("is empty") && shown.contains("in the baseline image"), "{shown}");

    let e = breaking::run(
        tmp.path(),
        &breaking::Args {
            image: Some(empty),
            against: Some(tmp.path().join("proto")),
            proto_root: None,
            ..breaking::Args::default()
        },
    )
    .expect_err("an empty current image");
    assert!(format!("{e:#}").contains("in the current image"), "{e:#}");
}

#[test]
fn compile_errors_say_which_side_they_are_in() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "new/x/v1/x.proto", GOOD.as_bytes());
    write(tmp.path(), "old/x/v1/x.proto", GOOD.replace("string name", "strin name").as_bytes());
    let args = breaking::Args {
        proto_root: Some(tmp.path().join("new")),
        against: Some(tmp.path().join("old")),
        ..breaking::Args::default()
    };
    let e = breaking::run(tmp.path(), &args).expect_err("the baseline does not compile");
    let c = compile_error(&e);
    assert!(c.message.ends_with("(in the baseline tree)"), "{c}");
    assert!(c.path.ends_with("old/x/v1/x.proto"), "{c}");
    assert_eq!((c.at.line, c.at.column), (6, 3), "{c}");

    let args = breaking::Args {
        proto_root: Some(tmp.path().join("old")),
        against: Some(tmp.path().join("new")),
        ..breaking::Args::default()
    };
    let e = breaking::run(tmp.path(), &args).expect_err("the current tree does not compile");
    assert!(compile_error(&e).message.ends_with("(in the current tree)"), "{e:#}");
}

#[test]
fn an_image_compares_like_the_tree_it_was_built_from() {
    let tmp = tempfile::tempdir().expect("tmp");
    write(tmp.path(), "old/x/v1/x.proto", GOOD.as_bytes());
    write(tmp.path(), "new/x/v1/x.proto", GOOD.replace("  string name = 1;\n", "").as_bytes());
    let image = tmp.path().join("new.binpb");
    let compiled = xtask::descriptors::compile_tree(&tmp.path().join("new"), &[]).expect("compiles");
    std::fs::write(&image, &compiled.encoded).expect("write");
    let from_tree = breaking::run(
        tmp.path(),
        &breaking::Args {
            proto_root: Some(tmp.path().join("new")),
            against: Some(tmp.path().join("old")),
            ..breaking::Args::default()
        },
    )
    .expect("compares");
    let from_image = breaking::run(
        tmp.path(),
        &breaking::Args { image: Some(image), against: Some(tmp.path().join("old")), ..breaking::Args::default() },
    )
    .expect("compares");
    assert_eq!(from_tree.findings, from_image.findings);
    assert_eq!(from_tree.findings.iter().map(|f| f.rule).collect::<Vec<_>>(), ["FIELD_NO_DELETE"]);
}
