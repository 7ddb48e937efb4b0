//! A wrapper around the generated gateway service that types the errors
//! tonic raises on its own.
//!
//! A few failures happen before a handler runs: a request larger than the
//! decoding limit, or bytes that are not a protobuf message. tonic answers
//! those with a bare status; the contract wants every error typed. This
//! wrapper rewrites any error response without details into the typed
//! error it stands for (`LIMIT_EXCEEDED`, `INVALID_ARGUMENT` or
//! `INTERNAL`), under a fresh correlation id, since the request's own
//! could not be read.

use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use tonic::{Code, Status};

use crate::errors::ApiError;
use crate::ids::new_id;
use crate::mutants::{Faults, Mutant};

/// The header of rich error details.
const DETAILS_HEADER: &str = "grpc-status-details-bin";

/// The gateway service with every error typed.
#[derive(Debug, Clone)]
pub(crate) struct Typed<S> {
    inner: S,
    max_request_bytes: u64,
    faults: Faults,
}

impl<S> Typed<S> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: S, max_request_bytes: u64, faults: Faults) -> Self {
        Self {
            inner,
            max_request_bytes,
            faults,
        }
    }
}

impl<S: NamedService> NamedService for Typed<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Typed<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        let max_request_bytes = self.max_request_bytes;
        let faults = self.faults;
        Box::pin(async move {
            let response = future.await?;
            Ok(retype(response, max_request_bytes, faults))
        })
    }
}

/// Replaces an untyped error response with its typed form.
fn retype(
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
