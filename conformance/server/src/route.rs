//! The route of `StreamJobEvents` that sends the log's encoded events as
//! they are.
//!
//! The generated server encodes every message it sends, so serving a job's
//! events through it would mean a copy and an encoding of every event for
//! every subscriber. The log keeps each event encoded once instead
//! ([`crate::store::LoggedEvent`]), and this wrapper answers
//! `StreamJobEvents` itself with tonic's own gRPC machinery and a codec
//! whose encoder writes those bytes unchanged. The request is decoded,
//! checked and answered exactly as through the generated trait (the same
//! [`Gateway::open_events`]); every other method goes to the generated
//! server.

use std::convert::Infallible;
use std::task::{Context, Poll};

use dome_sdk::pb::{self, gateway_service_server::SERVICE_NAME};
use prost::bytes::{BufMut, Bytes};
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService};
use tonic::{Request, Response, Status};

use crate::service::Gateway;
use crate::stream::EventStream;

/// The gateway service, with `StreamJobEvents` answered from encoded events.
#[derive(Debug, Clone)]
pub(crate) struct Events<S> {
    inner: S,
    gateway: Gateway,
    max_decoding_message_size: usize,
}

impl<S> Events<S> {
    /// Wraps `inner`, the generated server of `gateway`, which decodes
    /// requests of at most `max_decoding_message_size` bytes.
    pub(crate) fn new(inner: S, gateway: Gateway, max_decoding_message_size: usize) -> Self {
        Self {
            inner,
            gateway,
            max_decoding_message_size,
        }
    }
}

impl<S: NamedService> NamedService for Events<S> {
    const NAME: &'static str = S::NAME;
}

/// Whether `path` names `StreamJobEvents` of the gateway service.
fn is_stream_job_events(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(SERVICE_NAME))
        .is_some_and(|method| method == "/StreamJobEvents")
}

impl<S, B> Service<http::Request<B>> for Events<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if !is_stream_job_events(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let method = StreamJobEvents(self.gateway.clone());
        let mut grpc = Grpc::new(EncodedCodec).apply_max_message_size_config(Some(self.max_decoding_message_size), None);
        Box::pin(async move { Ok(grpc.server_streaming(method, request).await) })
    }
}

/// `StreamJobEvents` answered with encoded events.
struct StreamJobEvents(Gateway);

impl ServerStreamingService<pb::StreamJobEventsRequest> for StreamJobEvents {
    type Response = Bytes;
    type ResponseStream = EventStream;
    type Future = BoxFuture<Response<EventStream>, Status>;

    fn call(&mut self, request: Request<pb::StreamJobEventsRequest>) -> Self::Future {
        let gateway = self.0.clone();
        Box::pin(async move { gateway.open_events(request).map(Response::new) })
    }
}

/// Decodes `StreamJobEventsRequest`s with prost and sends messages that are
/// encoded already.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = Bytes;
    type Decode = pb::StreamJobEventsRequest;
    type Encoder = Encoded;
    type Decoder = tonic_prost::ProstDecoder<pb::StreamJobEventsRequest>;

    fn encoder(&mut self) -> Self::Encoder {
        Encoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

/// Writes an encoded message unchanged.
#[derive(Debug, Clone, Copy, Default)]
struct Encoded;

impl Encoder for Encoded {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stream_job_events_of_the_gateway_takes_the_encoded_route() {
        assert!(is_stream_job_events("/dome.gateway.v1.GatewayService/StreamJobEvents"));
        assert!(!is_stream_job_events("/dome.gateway.v1.GatewayService/GetJobStatus"));
        assert!(!is_stream_job_events("/dome.gateway.v1.GatewayService/StreamJobEventsX"));
        assert!(!is_stream_job_events("/other.v1.GatewayService/StreamJobEvents"));
        assert!(!is_stream_job_events("dome.gateway.v1.GatewayService/StreamJobEvents"));
    }
}
