//! Closing connections that stay idle: no call open on them for the idle
//! timeout.
//!
//! A socket ([`crate::conn::Conn`]) cannot see HTTP/2 streams, and the
//! services cannot see sockets; they meet through the connection's
//! [`Activity`], which the socket hands to tonic as its connect info and
//! tonic puts into every request of the connection. The [`TrackCalls`]
//! layer counts a call open from its request until its response body is
//! done or dropped; the socket, while no call is open, closes itself once
//! the idle timeout has passed since the last one ended (or since it was
//! accepted). HTTP/2 PINGs keep no connection open: only calls do.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use http_body::{Body, Frame, SizeHint};
use prost::bytes::Bytes;
use tokio::time::Instant;
use tonic::codegen::{Service, http};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// What the calls of one connection tell its socket.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Calls open now.
    open: AtomicUsize,
    /// Bumped each time the last open call ends.
    quiet_since: AtomicU64,
    /// The socket's task, woken when the last open call ends.
    waker: Mutex<Option<Waker>>,
}

impl Activity {
    /// Whether no call is open; registers `cx` to be woken when the last
    /// open call ends, and returns the mark of the last such end.
    pub(crate) fn idle(&self, cx: &Context<'_>) -> Option<u64> {
        if let Ok(mut waker) = self.waker.lock() {
            match waker.as_mut() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        (self.open.load(Ordering::Acquire) == 0).then(|| self.quiet_since.load(Ordering::Acquire))
    }

    fn opened(self: &Arc<Self>) -> OpenCall {
        self.open.fetch_add(1, Ordering::AcqRel);
        OpenCall(self.clone())
    }
}

/// One open call; its drop ends it.
#[derive(Debug)]
struct OpenCall(Arc<Activity>);

impl Drop for OpenCall {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.quiet_since.fetch_add(1, Ordering::AcqRel);
            if let Some(waker) = self.0.waker.lock().ok().and_then(|mut w| w.take()) {
                waker.wake();
            }
        }
    }
}

/// The connect info of a socket: tonic's own, and its [`Activity`].
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub(crate) tcp: TcpConnectInfo,
    pub(crate) activity: Arc<Activity>,
}

/// A socket's idle deadline, rearmed each time it turns idle.
#[derive(Debug)]
pub(crate) struct IdleTimer {
    timeout: std::time::Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The quiet mark the deadline was armed for.
    armed_for: Option<u64>,
}

impl IdleTimer {
    pub(crate) fn new(timeout: std::time::Duration) -> Self {
        Self { timeout, sleep: Box::pin(tokio::time::sleep(timeout)), armed_for: Some(0) }
    }

    /// Whether the connection has been idle for the whole timeout.
    pub(crate) fn expired(&mut self, activity: &Activity, cx: &mut Context<'_>) -> bool {
        let Some(mark) = activity.idle(cx) else {
            self.armed_for = None;
            return false;
        };
        if self.armed_for != Some(mark) {
            self.armed_for = Some(mark);
            self.sleep.as_mut().reset(Instant::now() + self.timeout);
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

/// The layer that counts each connection's open calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TrackCalls;

impl<S> tower_layer::Layer<S> for TrackCalls {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked(inner)
    }
}

/// A service whose calls are counted open on their connection.
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S>(S);

impl<S, B, R> Service<http::Request<B>> for Tracked<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Body<Data = Bytes> + Send + Unpin + 'static,
{
    type Response = http::Response<CallBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let ext = request.extensions_mut();
        let (activity, tcp) = match (ext.get::<ConnInfo>(), ext.get::<TlsConnectInfo<ConnInfo>>()) {
            (Some(info), _) => (Some(info.activity.clone()), Some(info.tcp.clone())),
            (None, Some(info)) => (Some(info.get_ref().activity.clone()), Some(info.get_ref().tcp.clone())),
            (None, None) => (None, None),
        };
        if let Some(tcp) = tcp {
            // What `Request::remote_addr` reads.
            ext.insert(tcp);
        }
        let open = activity.map(|a| a.opened());
        let answered = self.0.call(request);
        Box::pin(async move {
            let response = answered.await?;
            Ok(response.map(|body| CallBody { body, _open: open }))
        })
    }
}

/// A response body that keeps its call counted open until it is done.
#[derive(Debug)]
pub(crate) struct CallBody<R> {
    body: R,
    _open: Option<OpenCall>,
}

impl<R: Body<Data = Bytes> + Unpin> Body for CallBody<R> {
    type Data = Bytes;
    type Error = R::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, R::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = &polled {
            self._open = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Polls the timer once, as the socket's read would.
    fn expired(timer: &mut IdleTimer, activity: &Activity) -> bool {
        timer.expired(activity, &mut Context::from_waker(Waker::noop()))
    }

    /// The deadline runs only while no call is open, and starts from the
    /// end of the last call. The clock is tokio's paused one: the sleep
    /// with a call open and the wait for the deadline advance it at once,
    /// so the test waits for nothing and the times it reads are exact.
    #[tokio::test(start_paused = true)]
    async fn only_a_connection_with_no_call_open_expires() {
        const TIMEOUT: Duration = Duration::from_secs(300);
        let activity = Arc::new(Activity::default());
        let mut timer = IdleTimer::new(TIMEOUT);
        let call = activity.opened();
        assert!(!expired(&mut timer, &activity));
        tokio::time::sleep(TIMEOUT * 3).await;
        assert!(!expired(&mut timer, &activity), "an open call keeps the connection past the timeout");
        drop(call);
        let ended = Instant::now();
        std::future::poll_fn(|cx| if timer.expired(&activity, cx) { Poll::Ready(()) } else { Poll::Pending }).await;
        assert_eq!(ended.elapsed(), TIMEOUT, "the deadline starts when the last call ends, not before nor later");
    }
}
