//! The typing of the errors tonic raises on its own.
//!
//! A few failures happen before a handler runs: a request larger than the
//! decoding limit, or bytes that are not a protobuf message. tonic answers
//! those with a bare status; the contract wants every error typed.
//! [`crate::route::Routes`] passes every response of the gateway service
//! through [`retype`], which rewrites any error response without details
//! into the typed error it stands for (`LIMIT_EXCEEDED` for a request
//! over the limit, `INVALID_ARGUMENT` for anything else the transport
//! could not read), under a fresh correlation id, since the request's own
//! could not be read. `UNIMPLEMENTED` (an unknown method, an encoding not
//! served) passes here as the transport sends it, and is typed for every
//! service alike by the [`TypeUnimplemented`] layer.

use tonic::codegen::{BoxFuture, Service, http};
use tonic::{Code, Status};

use crate::errors::ApiError;
use crate::ids::new_id;
use crate::mutants::{Faults, Mutant};

/// The header of rich error details.
const DETAILS_HEADER: &str = "grpc-status-details-bin";

/// Replaces an untyped error response with its typed form.
pub(crate) fn retype(
    response: http::Response<tonic::body::Body>,
    max_request_bytes: u64,
    faults: Faults,
) -> http::Response<tonic::body::Body> {
    if faults.is(Mutant::MissingErrorInfo) || response.headers().contains_key(DETAILS_HEADER) {
        return response;
    }
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let error = match status.code() {
        Code::Ok | Code::Unimplemented => return response,
        Code::OutOfRange | Code::ResourceExhausted
            if status.message().contains("message length too large") || status.message().contains("size limit") =>
        {
            ApiError::limit_exceeded("max_request_bytes", max_request_bytes)
        }
        Code::Internal if status.message().contains("decod") => {
            ApiError::invalid_argument("request", "the request is not a valid protobuf message")
        }
        // Every handler answers with a typed error, so an untyped one was
        // raised by the transport while reading what the client sent: no
        // message (an empty body), a compressed flag without an encoding,
        // a frame cut short. The contract keeps INTERNAL for broken
        // invariants of the server; these are the client's to fix.
        _ => ApiError::invalid_argument(
            "request",
            format!("the request could not be read as a gRPC call: {}", status.message()),
        ),
    };
    tracing::info!(code = ?status.code(), message = status.message(), "typed an untyped error");
    error.into_status(&new_id("corr-"), faults).into_http()
}

/// The layer that types the `UNIMPLEMENTED` answers tonic gives on its
/// own, for any service: a method or service the server does not serve,
/// or a message encoding it does not accept. The error names the path
/// called (cut, as every echo is).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeUnimplemented(pub(crate) Faults);

impl<S> tower_layer::Layer<S> for TypeUnimplemented {
    type Service = Typed<S>;

    fn layer(&self, inner: S) -> Typed<S> {
        Typed { inner, faults: self.0 }
    }
}

/// A service whose untyped `UNIMPLEMENTED` answers are typed.
#[derive(Debug, Clone)]
pub(crate) struct Typed<S> {
    inner: S,
    faults: Faults,
}

impl<S, B> Service<http::Request<B>> for Typed<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let faults = self.faults;
        let answered = self.inner.call(request);
        Box::pin(async move { Ok(type_unimplemented(answered.await?, &path, faults)) })
    }
}

/// Replaces an untyped `UNIMPLEMENTED` response with the typed error.
fn type_unimplemented(
    response: http::Response<tonic::body::Body>,
    path: &str,
    faults: Faults,
) -> http::Response<tonic::body::Body> {
    if faults.is(Mutant::MissingErrorInfo) || response.headers().contains_key(DETAILS_HEADER) {
        return response;
    }
    match Status::from_header_map(response.headers()) {
        Some(status) if status.code() == Code::Unimplemented => {
            tracing::info!(path = %crate::errors::truncated(path, 128), message = status.message(), "typed an unimplemented call");
            ApiError::unimplemented(path).into_status(&new_id("corr-"), faults).into_http()
        }
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    fn retyped(status: Status) -> Status {
        let response = retype(status.into_http(), 4 * 1024 * 1024, Faults::default());
        Status::from_header_map(response.headers()).expect("a status")
    }

    /// What tonic raises while reading a request a client got wrong is
    /// `INVALID_ARGUMENT`, never `INTERNAL`.
    #[test]
    fn client_protocol_errors_are_invalid_arguments() {
        for raised in [
            Status::internal("Missing request message."),
            Status::internal(
                "protocol error: received message with compressed-flag but no grpc-encoding was specified",
            ),
            Status::internal("failed to decode Protobuf message: buffer underflow"),
            Status::unknown("h2 protocol error"),
        ] {
            let status = retyped(raised.clone());
            assert_eq!(status.code(), Code::InvalidArgument, "{raised:?} became {status:?}");
            let info = status.get_details_error_info().expect("ErrorInfo");
            assert_eq!(info.reason, "INVALID_ARGUMENT");
        }
        let too_large = retyped(Status::out_of_range("Error, decoded message length too large: found 9 bytes"));
        assert_eq!(too_large.get_details_error_info().expect("ErrorInfo").reason, "LIMIT_EXCEEDED");
        let unimplemented = retyped(Status::unimplemented(""));
        assert_eq!(unimplemented.code(), Code::Unimplemented, "passed as sent");
    }
}
