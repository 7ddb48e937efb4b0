//! The typing of the errors tonic raises on its own.
//!
//! A few failures happen before a handler runs: a request larger than the
//! decoding limit, or bytes that are not a protobuf message. tonic answers
//! those with a bare status; the contract wants every error typed.
//! [`crate::route::Routes`] passes every response of the gateway service
//! through [`retype`], which rewrites any error response without details
//! into the typed error it stands for (`LIMIT_EXCEEDED`, `INVALID_ARGUMENT` or
//! `INTERNAL`), under a fresh correlation id, since the request's own
//! could not be read.

use tonic::codegen::http;
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
            if status.message().contains("message length too large") =>
        {
            ApiError::limit_exceeded("max_request_bytes", max_request_bytes)
        }
        Code::Internal if status.message().contains("decod") => {
            ApiError::invalid_argument("request", "the request is not a valid protobuf message")
        }
        // The transport's own words go to the log, not into the message:
        // INTERNAL has no metadata to carry them.
        _ => ApiError::internal("the transport failed the call"),
    };
    tracing::info!(code = ?status.code(), message = status.message(), "typed an untyped error");
    error.into_status(&new_id("corr-"), faults).into_http()
}
