//! The routes that answer from bytes the server has encoded already.
//!
//! The generated server encodes every message it sends. The server keeps
//! a job's events encoded once when appended
//! ([`crate::store::LoggedEvent`]), and an ended job encoded once when it
//! ends; serving those through the generated server would decode nothing
//! but copy and encode them again for every call and every subscriber.
//! This wrapper answers `StreamJobEvents` and the three methods that reply
//! with a job (`SkillExecute`, `GetJobStatus`, `CancelJob`) itself, with
//! tonic's own gRPC machinery and a codec whose encoder writes those bytes
//! unchanged ([`crate::reply`]). Each request is decoded, checked and
//! answered by the same [`Gateway`] method the generated trait calls;
//! every other method goes to the generated server. Every response, on
//! either way, leaves through [`retype`], so the errors tonic raises on its
//! own are typed too.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::task::{Context, Poll};

use dome_sdk::pb::{self, gateway_service_server::SERVICE_NAME};
use prost::bytes::Bytes;
use tonic::codec::{Codec, CompressionEncoding, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};

use crate::guard::retype;
use crate::reply::{Encoded, JobReply};
use crate::service::Gateway;
use crate::stream::EventStream;

/// The gateway service, with the methods that send stored bytes answered
/// from them.
#[derive(Debug, Clone)]
pub(crate) struct Routes<S> {
    inner: S,
    gateway: Gateway,
    max_decoding_message_size: usize,
}

impl<S> Routes<S> {
    /// Wraps `inner`, the generated server of `gateway`, which decodes
    /// requests of at most `max_decoding_message_size` bytes.
    pub(crate) fn new(inner: S, gateway: Gateway, max_decoding_message_size: usize) -> Self {
        Self { inner, gateway, max_decoding_message_size }
    }

    /// tonic's gRPC machinery with this server's decoding limit (which
    /// bounds a gzip request once decompressed too), accepting gzip and
    /// sending it to a client that accepts it, as the generated server
    /// does.
    fn grpc<Req, Resp>(&self) -> Grpc<EncodedCodec<Req, Resp>>
    where
        Req: prost::Message + Default + Send + 'static,
        Resp: Encoded,
    {
        Grpc::new(EncodedCodec(PhantomData))
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .apply_max_message_size_config(Some(self.max_decoding_message_size), None)
    }
}

impl<S: NamedService> NamedService for Routes<S> {
    const NAME: &'static str = S::NAME;
}

/// The gateway methods answered from encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    SkillExecute,
    GetJobStatus,
    CancelJob,
    StreamJobEvents,
}

/// The method of the gateway service `path` names, when it is one of those
/// answered from encoded bytes.
fn method(path: &str) -> Option<Method> {
    let name = path.strip_prefix('/')?.strip_prefix(SERVICE_NAME)?.strip_prefix('/')?;
    match name {
        "SkillExecute" => Some(Method::SkillExecute),
        "GetJobStatus" => Some(Method::GetJobStatus),
        "CancelJob" => Some(Method::CancelJob),
        "StreamJobEvents" => Some(Method::StreamJobEvents),
        _ => None,
    }
}

impl<S, B> Service<http::Request<B>> for Routes<S>
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
        let typed = self.typed();
        match method(request.uri().path()) {
            None => {
                let answered = self.inner.call(request);
                Box::pin(async move {
                    let Ok(response) = answered.await;
                    Ok(typed(response))
                })
            }
            Some(Method::StreamJobEvents) => {
                let (mut grpc, method) = (self.grpc(), StreamJobEvents(self.gateway.clone()));
                Box::pin(async move { Ok(typed(grpc.server_streaming(method, request).await)) })
            }
            Some(Method::SkillExecute) => self.unary(Gateway::execute, request),
            Some(Method::GetJobStatus) => self.unary(Gateway::job_status, request),
            Some(Method::CancelJob) => self.unary(Gateway::cancel, request),
        }
    }
}

impl<S> Routes<S> {
    /// Types the errors tonic raises on its own in a response.
    fn typed(
        &self,
    ) -> impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Send + 'static {
        let (max_request_bytes, faults) = (self.gateway.store.limits.max_request_bytes, self.gateway.store.faults);
        move |response| retype(response, max_request_bytes, faults)
    }

    /// Answers a unary method that replies with a job through `handler`.
    fn unary<Req, B>(
        &self,
        handler: fn(&Gateway, Request<Req>) -> Result<JobReply, Status>,
        request: http::Request<B>,
    ) -> BoxFuture<http::Response<tonic::body::Body>, Infallible>
    where
        Req: prost::Message + Default + Send + 'static,
        B: Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        let (typed, mut grpc, method) = (self.typed(), self.grpc(), Unary(self.gateway.clone(), handler));
        Box::pin(async move { Ok(typed(grpc.unary(method, request).await)) })
    }
}

/// A unary method that replies with a job.
struct Unary<Req>(Gateway, fn(&Gateway, Request<Req>) -> Result<JobReply, Status>);

impl<Req: Send + 'static> UnaryService<Req> for Unary<Req> {
    type Response = JobReply;
    type Future = Ready<Result<Response<JobReply>, Status>>;

    fn call(&mut self, request: Request<Req>) -> Self::Future {
        ready((self.1)(&self.0, request).map(Response::new))
    }
}

/// `StreamJobEvents` answered with encoded events.
struct StreamJobEvents(Gateway);

impl ServerStreamingService<pb::StreamJobEventsRequest> for StreamJobEvents {
    type Response = Bytes;
    type ResponseStream = EventStream;
    type Future = Ready<Result<Response<EventStream>, Status>>;

    fn call(&mut self, request: Request<pb::StreamJobEventsRequest>) -> Self::Future {
        ready(self.0.open_events(request).map(Response::new))
    }
}

/// Decodes requests of type `Req` with prost and writes `Resp`s that are
/// encoded already.
struct EncodedCodec<Req, Resp>(PhantomData<fn() -> (Req, Resp)>);

impl<Req, Resp> Codec for EncodedCodec<Req, Resp>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: Encoded,
{
    type Encode = Resp;
    type Decode = Req;
    type Encoder = Writer<Resp>;
    type Decoder = tonic_prost::ProstDecoder<Req>;

    fn encoder(&mut self) -> Self::Encoder {
        Writer(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

/// Writes an encoded message unchanged.
struct Writer<T>(PhantomData<fn() -> T>);

impl<T: Encoded> Encoder for Writer<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.write(buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_gateways_methods_that_send_stored_bytes_take_the_encoded_routes() {
        let gateway = |m: &str| format!("/dome.gateway.v1.GatewayService/{m}");
        assert_eq!(method(&gateway("StreamJobEvents")), Some(Method::StreamJobEvents));
        assert_eq!(method(&gateway("SkillExecute")), Some(Method::SkillExecute));
        assert_eq!(method(&gateway("GetJobStatus")), Some(Method::GetJobStatus));
        assert_eq!(method(&gateway("CancelJob")), Some(Method::CancelJob));
        for other in ["ListCapabilities", "GetGateDecision", "StreamJobEventsX", "getJobStatus", ""] {
            assert_eq!(method(&gateway(other)), None, "{other}");
        }
        assert_eq!(method("/other.v1.GatewayService/StreamJobEvents"), None);
        assert_eq!(method("dome.gateway.v1.GatewayService/StreamJobEvents"), None);
        assert_eq!(method("/dome.gateway.v1.GatewayServiceX/GetJobStatus"), None);
    }
}
