//! The generated Rust's client modules use the SDK's own `codegen` list
//! instead of tonic's, and its server modules keep tonic's.

use xtask::codegen::rust::client_without_codegen;

#[test]
fn only_client_modules_lose_tonic_codegen() {
    let code = "pub mod a_client {\n    use tonic::codegen::*;\n    use tonic::codegen::http::Uri;\n    fn f() {\n    }\n}\n\
                pub mod a_server {\n    use tonic::codegen::*;\n}\n";
    let out = client_without_codegen(code);
    assert_eq!(
        out,
        "pub mod a_client {\n    use crate::codegen::*;\n    use http::Uri;\n    fn f() {\n    }\n}\n\
         pub mod a_server {\n    use tonic::codegen::*;\n}\n"
    );
}
