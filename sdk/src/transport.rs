//! The client's connection: one HTTP/2 connection (h2 over a tokio TCP
//! stream, through rustls for `https://`), opened on first use and opened
//! again on the next call once it has closed, handed to tonic's generic
//! client as the service it sends requests through.
//!
//! One connection to one gateway needs none of what a general channel
//! brings (a connection pool, load balancing, request buffering), and
//! leaving it out is most of what keeps the SDK quick to build. Every
//! failure of the connection comes back as a status carrying its cause as
//! `source()`, which [`crate::Error`] turns into a transport error naming
//! the endpoint and what the operating system or the peer said.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http_body::{Body as _, Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tonic::Status;

use crate::endpoint::Endpoint;

/// The HTTP/2 flow-control windows the client grants: a stream may run
/// ahead of its reader by 1 MiB, the connection by 2 MiB in all.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 2 * 1024 * 1024;

/// The largest header block accepted from the server (a status with
/// large details travels in the trailers).
const MAX_HEADER_LIST: u32 = 64 * 1024;

/// The connection a [`crate::Client`] and its clones share; the service
/// under [`crate::RawClient`]. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

struct Shared {
    endpoint: Endpoint,
    connect_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
    /// The open connection, if any; the lock also makes concurrent first
    /// calls wait for one connect rather than each opening their own.
    open: tokio::sync::Mutex<Option<Open>>,
}

#[cfg(feature = "tls")]
pub(crate) struct Tls {
    pub(crate) config: Arc<tokio_rustls::rustls::ClientConfig>,
    pub(crate) server_name: tokio_rustls::rustls::pki_types::ServerName<'static>,
}

struct Open {
    sender: SendRequest<Bytes>,
    /// Set when the connection has ended (closed by either side or
    /// broken): the next call connects again.
    closed: Arc<AtomicBool>,
}

impl Connection {
    /// A connection to `endpoint`, not opened yet.
    pub(crate) fn new(
        endpoint: Endpoint,
        connect_timeout: Option<Duration>,
        #[cfg(feature = "tls")] tls: Option<Tls>,
    ) -> Connection {
        Connection {
            shared: Arc::new(Shared {
                endpoint,
                connect_timeout,
                #[cfg(feature = "tls")]
                tls,
                open: tokio::sync::Mutex::new(None),
            }),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("endpoint", &self.shared.endpoint.as_str()).finish()
    }
}

impl Shared {
    /// A handle on the open connection, connecting first when there is
    /// none or it has ended.
    async fn sender(&self) -> Result<SendRequest<Bytes>, Status> {
        let mut open = self.open.lock().await;
        if let Some(current) = open.as_ref()
            && !current.closed.load(Ordering::Acquire)
        {
            return Ok(current.sender.clone());
        }
        *open = None;
        let connecting = self.connect();
        let fresh = match self.connect_timeout {
            None => connecting.await?,
            Some(limit) => tokio::time::timeout(limit, connecting).await.map_err(|_| {
                let timed_out = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within the connect timeout of {limit:?}"),
                );
                failure("connect error", timed_out)
            })??,
        };
        let sender = fresh.sender.clone();
        *open = Some(fresh);
        Ok(sender)
    }

    async fn connect(&self) -> Result<Open, Status> {
        let endpoint = &self.endpoint;
        let tcp = TcpStream::connect((endpoint.host(), endpoint.port()))
            .await
            .map_err(|e| failure("tcp connect error", e))?;
        // gRPC messages are small and each is flushed whole: waiting to
        // fill a segment only adds latency.
        tcp.set_nodelay(true).map_err(|e| failure("tcp connect error", e))?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            let stream = connector
                .connect(tls.server_name.clone(), tcp)
                .await
                .map_err(|e| failure("tls handshake failed", e))?;
            if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                let refused = std::io::Error::other("the server did not agree to HTTP/2 (ALPN `h2`)");
                return Err(failure("tls handshake failed", refused));
            }
            return handshake(Box::new(stream)).await;
        }
        handshake(Box::new(tcp)).await
    }
}

/// The byte stream a connection runs on: TCP, or TLS over TCP. One type
/// for both, so that h2's connection machinery, generic over its I/O, is
/// compiled once rather than once per kind of stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The HTTP/2 handshake on `io`; the connection is then driven by a task
/// of its own until either side closes it.
async fn handshake(io: Box<dyn Io>) -> Result<Open, Status> {
    let (sender, connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake::<Box<dyn Io>, Bytes>(io)
        .await
        .map_err(|e| h2_failure("http/2 handshake failed", e))?;
    let closed = Arc::new(AtomicBool::new(false));
    let ended = Ended(closed.clone());
    spawn(&tokio::runtime::Handle::current(), async move {
        // How it ended reaches the calls on it through their own streams.
        let _ = connection.await;
        drop(ended);
    });
    Ok(Open { sender, closed })
}

/// Runs `task` on `runtime`, boxed: tokio's task machinery is generic
/// over the future it runs, and one future type for every task the SDK
/// spawns compiles that machinery once rather than once per task.
pub(crate) fn spawn(runtime: &tokio::runtime::Handle, task: impl Future<Output = ()> + Send + 'static) {
    let task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(task);
    runtime.spawn(task);
}

/// Marks a connection ended when its task ends, however it ends: also
/// when the runtime that ran it shuts down and drops it, so that a client
/// used on another runtime afterwards connects again.
struct Ended(Arc<AtomicBool>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl tower_service::Service<http::Request<tonic::body::Body>> for Connection {
    type Response = http::Response<ResponseBody>;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Status>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        // Readiness is the connection's, awaited in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let (mut head, body) = request.into_parts();
            head.uri = absolute(&shared.endpoint, &head.uri)?;
            let sender = shared.sender().await?;
            let mut sender = sender.ready().await.map_err(|e| h2_failure("the connection closed", e))?;
            let end_of_stream = body.is_end_stream();
            let (response, stream) = sender
                .send_request(http::Request::from_parts(head, ()), end_of_stream)
                .map_err(|e| h2_failure("the request could not be sent", e))?;
            if !end_of_stream {
                // The body goes on by itself while the response is awaited:
                // a server may answer before reading all of it.
                spawn(&tokio::runtime::Handle::current(), send_body(body, stream));
            }
            let response = response.await.map_err(|e| h2_failure("no response", e))?;
            Ok(response.map(|recv| ResponseBody { recv: Some(recv), data_done: false }))
        })
    }
}

/// The request's URI with the endpoint's scheme and authority (tonic's
/// client gives the path only).
fn absolute(endpoint: &Endpoint, uri: &http::Uri) -> Result<http::Uri, Status> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let scheme = if endpoint.is_tls() { "https" } else { "http" };
    http::Uri::builder()
        .scheme(scheme)
        .authority(endpoint.authority())
        .path_and_query(path)
        .build()
        .map_err(|e| Status::internal(format!("request uri for `{endpoint}{path}`: {e}")))
}

/// Streams a request body into its HTTP/2 stream, as the peer's flow
/// control allows; a body that fails resets the stream.
async fn send_body(mut body: tonic::body::Body, mut stream: h2::SendStream<Bytes>) {
    loop {
        let frame = match poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => {
                let _ = stream.send_data(Bytes::new(), true);
                return;
            }
            Some(Ok(frame)) => frame,
            Some(Err(_)) => {
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
        };
        match frame.into_data() {
            Ok(mut data) => {
                while !data.is_empty() {
                    stream.reserve_capacity(data.len());
                    let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
                        Some(Ok(granted)) => granted,
                        // The stream was reset or the connection ended: the
                        // response carries the reason.
                        Some(Err(_)) | None => return,
                    };
                    let chunk = data.split_to(granted.min(data.len()));
                    if !chunk.is_empty() && stream.send_data(chunk, false).is_err() {
                        return;
                    }
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    let _ = stream.send_trailers(trailers);
                }
                return;
            }
        }
    }
}

/// A response body read from its HTTP/2 stream: the data, then the
/// trailers (where gRPC puts the status). Each chunk read is given back to
/// the server's flow-control window, so a stream is bounded by the window
/// and never by the client's memory. The default is the empty body.
#[derive(Default)]
pub struct ResponseBody {
    /// `None` for the empty body.
    recv: Option<h2::RecvStream>,
    data_done: bool,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").field("data_done", &self.data_done).finish()
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        let Some(recv) = this.recv.as_mut() else {
            return Poll::Ready(None);
        };
        if !this.data_done {
            match ready!(recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Only fails once the stream is gone, which the next
                    // read reports.
                    let _ = recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(h2_failure("the response broke off", e)))),
                None => this.data_done = true,
            }
        }
        match ready!(recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(h2_failure("the response broke off", e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.as_ref().is_none_or(h2::RecvStream::is_end_stream)
    }
}

/// A connection failure as a status: `UNAVAILABLE`, `what` as its message
/// and the error as its source.
fn failure(what: &str, error: impl std::error::Error + Send + Sync + 'static) -> Status {
    let mut status = Status::unavailable(what);
    status.set_source(Arc::new(error));
    status
}

/// An HTTP/2 failure as a status, coded as the gRPC protocol maps HTTP/2
/// errors (a broken or closed connection, or a refused stream, is
/// `UNAVAILABLE`), with the error as its source.
fn h2_failure(what: &str, error: h2::Error) -> Status {
    let code = match error.reason() {
        _ if error.is_io() || error.is_go_away() => tonic::Code::Unavailable,
        Some(h2::Reason::REFUSED_STREAM) => tonic::Code::Unavailable,
        Some(h2::Reason::CANCEL) => tonic::Code::Cancelled,
        Some(h2::Reason::ENHANCE_YOUR_CALM) => tonic::Code::ResourceExhausted,
        Some(h2::Reason::INADEQUATE_SECURITY) => tonic::Code::PermissionDenied,
        Some(_) => tonic::Code::Internal,
        None => tonic::Code::Unavailable,
    };
    let mut status = Status::new(code, what);
    status.set_source(Arc::new(error));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_get_the_endpoints_scheme_and_authority() {
        let path: http::Uri = "/dome.gateway.v1.GatewayService/GetJobStatus".parse().unwrap();
        for (endpoint, expected) in [
            ("http://127.0.0.1:50051", "http://127.0.0.1:50051/dome.gateway.v1.GatewayService/GetJobStatus"),
            ("https://[::1]:8443/", "https://[::1]:8443/dome.gateway.v1.GatewayService/GetJobStatus"),
            ("http://gateway", "http://gateway/dome.gateway.v1.GatewayService/GetJobStatus"),
        ] {
            let endpoint = Endpoint::parse(endpoint).unwrap();
            assert_eq!(absolute(&endpoint, &path).unwrap().to_string(), expected);
        }
    }

    #[test]
    fn http2_failures_carry_their_cause_and_the_grpc_code() {
        for (reason, code) in [
            (h2::Reason::REFUSED_STREAM, tonic::Code::Unavailable),
            (h2::Reason::CANCEL, tonic::Code::Cancelled),
            (h2::Reason::ENHANCE_YOUR_CALM, tonic::Code::ResourceExhausted),
            (h2::Reason::PROTOCOL_ERROR, tonic::Code::Internal),
        ] {
            let status = h2_failure("no response", h2::Error::from(reason));
            assert_eq!((status.code(), status.message()), (code, "no response"));
            let source = std::error::Error::source(&status).expect("the h2 error as source");
            assert!(source.is::<h2::Error>(), "{source:?}");
        }
        let refused = failure("tcp connect error", std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        assert!(std::error::Error::source(&refused).is_some());
    }
}
