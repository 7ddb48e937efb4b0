//! The names the generated client takes from `tonic::codegen`, from where
//! they are defined: that module exists only under tonic's `codegen`
//! feature, which brings async-trait (a proc-macro crate, and its build
//! time) for the generated server traits alone. The SDK turns the feature
//! on with its own `server` feature; codegen points the client here.

pub(crate) use bytes::Bytes;
pub(crate) use http_body::Body;
pub(crate) use tonic::GrpcMethod;
pub(crate) use tonic::codec::CompressionEncoding;
pub(crate) use tonic::service::interceptor::InterceptedService;
pub(crate) use tower_service::Service;

/// The boxed error tonic's generated code converts service errors into.
pub(crate) type StdError = Box<dyn std::error::Error + Send + Sync + 'static>;
