//! Accepting connections: a cap on how many are open, a deadline for a
//! new one to start talking, and a backoff when the process runs out of
//! file descriptors.
//!
//! tonic serves whatever this stream of accepted sockets yields. A socket
//! holds a permit of the connection cap until it closes; at the cap the
//! accept loop waits for a permit rather than accepting (the kernel's
//! backlog holds the rest). A socket must send its first bytes (the HTTP/2
//! preface, or a TLS ClientHello) within the handshake timeout, or it is
//! closed: a client that connects and says nothing holds no descriptor
//! for long. Once talking, HTTP/2 keepalive pings (set on the server
//! builder) find a peer that went silent. When `accept` fails for want of
//! descriptors or memory, the loop waits before trying again instead of
//! spinning on the error. A connection with no call open on it for the
//! idle timeout is closed ([`crate::idle`]): HTTP/2 PINGs alone keep no
//! connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Sleep;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::idle::{Activity, ConnInfo, IdleTimer};

/// The bytes a new connection must send within the handshake timeout:
/// the 24-byte HTTP/2 preface and a SETTINGS frame header (a TLS
/// ClientHello is longer still).
const HANDSHAKE_BYTES: usize = 33;

/// How long the accept loop waits after running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The accepted sockets, as tonic's incoming stream.
pub(crate) type Incoming = ReceiverStream<io::Result<Conn>>;

/// Accepts connections from `listener` until the stream is dropped: at
/// most `max_connections` open at once (0: no cap), each closed unless it
/// sends its handshake within `handshake_timeout`, and closed once it has
/// had no call open for `idle_timeout` (zero: never).
pub(crate) fn incoming(
    listener: TcpListener,
    max_connections: usize,
    handshake_timeout: Duration,
    idle_timeout: Duration,
) -> Incoming {
    let (tx, rx) = mpsc::channel(16);
    let cap = (max_connections > 0).then(|| Arc::new(Semaphore::new(max_connections)));
    tokio::spawn(async move {
        loop {
            let permit = match &cap {
                Some(cap) => match cap.clone().acquire_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => return,
                },
                None => None,
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = Conn {
                        stream,
                        handshake: Some(Box::pin(tokio::time::sleep(handshake_timeout))),
                        read: 0,
                        activity: Arc::default(),
                        idle: (!idle_timeout.is_zero()).then(|| IdleTimer::new(idle_timeout)),
                        _permit: permit,
                    };
                    if tx.send(Ok(conn)).await.is_err() {
                        return;
                    }
                }
                Err(e) if out_of_resources(&e) => {
                    tracing::warn!(error = %e, "accept failed for want of resources; backing off");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                // A connection reset before it was accepted, and the like:
                // that connection's problem, not the listener's.
                Err(e) => tracing::debug!(error = %e, "accept failed"),
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Whether an accept error means the process (or system) is out of
/// descriptors or memory, so that retrying at once would spin.
fn out_of_resources(e: &io::Error) -> bool {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 on Linux.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12)) || e.kind() == io::ErrorKind::OutOfMemory
}

/// An accepted socket: closed if its handshake does not come in time, and
/// holding its place under the connection cap until dropped.
pub(crate) struct Conn {
    stream: TcpStream,
    /// The handshake deadline, until the handshake's bytes are in.
    handshake: Option<Pin<Box<Sleep>>>,
    /// Bytes read so far (counted only until the handshake is in).
    read: usize,
    /// What the connection's calls tell it.
    activity: Arc<Activity>,
    /// The idle deadline, when there is an idle timeout.
    idle: Option<IdleTimer>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo { tcp: self.stream.connect_info(), activity: self.activity.clone() }
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Some(deadline) = this.handshake.as_mut() {
            this.read += buf.filled().len() - before;
            if this.read >= HANDSHAKE_BYTES {
                this.handshake = None;
            } else if polled.is_pending() && deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no handshake in time")));
            }
        }
        if polled.is_pending()
            && let Some(idle) = this.idle.as_mut()
            && idle.expired(&this.activity, cx)
        {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no call open for the idle timeout")));
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
