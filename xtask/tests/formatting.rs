//! The formatting gate of `cargo xtask ci` on a crate of its own: it fails
//! on code rustfmt would change, naming the fix, and passes once the code
//! is formatted.

use xtask::ci::formatting;

#[test]
fn misformatted_code_fails_the_gate_and_formatted_code_passes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"formatted\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("src")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "pub fn  answer( )->u32{42}\n").unwrap();

    let err = formatting(root).expect_err("misformatted code fails the gate");
    assert!(err.to_string().contains("run `cargo fmt --all` and commit"), "{err:#}");

    std::fs::write(root.join("src/lib.rs"), "pub fn answer() -> u32 {\n    42\n}\n").unwrap();
    formatting(root).expect("formatted code passes the gate");
}
