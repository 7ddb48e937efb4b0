//! What the integration tests share: the reference server in-process, a
//! client of it, conformance scripts, and a TCP proxy that breaks
//! connections on purpose.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dome_sdk::{Client, RetryPolicy, contract, pb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Starts the reference server with `config` (loopback, ephemeral port).
pub async fn server(config: domed::Config) -> domed::Running {
    domed::start(config).await.expect("the reference server starts")
}

/// Starts the reference server with its defaults.
pub async fn default_server() -> domed::Running {
    server(domed::Config::default()).await
}

/// A retry policy quick enough for tests.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(6)
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(50))
        .multiplier(2.0)
        .deadline(Duration::from_secs(20))
}

/// A client of `url` with [`fast_retries`].
pub async fn client(url: &str) -> Client {
    Client::builder(url).retry_policy(fast_retries()).connect().await.expect("the client connects")
}

/// A `SkillExecute` call running the conformance script `steps` (a JSON
/// array).
pub fn script<'a>(client: &'a Client, steps: &str) -> dome_sdk::calls::SkillExecute<'a> {
    client.skill_execute(contract::CONFORMANCE_SKILL_ID, format!(r#"{{"steps":{steps}}}"#))
}

/// A TCP proxy in front of a server that can refuse connections and kill
/// the ones it carries, to break calls and streams on purpose.
pub struct Proxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    kill: watch::Sender<u64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    /// A proxy to `target` that closes the first `refuse` connections as
    /// soon as it accepts them and carries the rest.
    pub async fn start(target: SocketAddr, refuse: usize) -> Proxy {
        Self::start_with(target, refuse, None).await
    }

    /// Like [`Proxy::start`], and the first carried connection is killed
    /// once it has passed `cut_after` bytes from the server to the client.
    pub async fn start_with(target: SocketAddr, refuse: usize, cut_after: Option<usize>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("the proxy binds");
        let addr = listener.local_addr().expect("the proxy has an address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let (kill, kill_rx) = watch::channel(0u64);
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel();
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (inbound, _) = tokio::select! {
                    _ = &mut stop_rx => return,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(_) => return,
                    },
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n < refuse {
                    drop(inbound);
                    continue;
                }
                let limit = if n == refuse { cut_after } else { None };
                tokio::spawn(carry(inbound, target, limit, kill_rx.clone()));
            }
        });
        Proxy { addr, accepted, kill, stop: Some(stop) }
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Kills every connection the proxy carries now; later ones are
    /// carried again.
    pub fn kill_all(&self) {
        self.kill.send_modify(|generation| *generation += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.kill_all();
    }
}

/// Carries one connection until either side closes, the connection has
/// passed `limit` bytes downstream, or a kill is sent.
async fn carry(inbound: TcpStream, target: SocketAddr, limit: Option<usize>, mut kill: watch::Receiver<u64>) {
    let Ok(outbound) = TcpStream::connect(target).await else { return };
    kill.borrow_and_update();
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut server_read, mut server_write) = outbound.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut passed = 0usize;
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let n = match limit {
                Some(limit) if passed + n >= limit => {
                    let _ = client_write.write_all(&buf[..limit - passed]).await;
                    return;
                }
                _ => n,
            };
            passed += n;
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = kill.changed() => {}
    }
    // Dropping both halves of both sockets closes the connection.
}

/// Serves any implementation of the generated service (a scripted or
/// deliberately odd server) on an ephemeral loopback port, until the
/// returned sender is fired or dropped.
pub async fn serve_gateway<S>(service: S) -> (SocketAddr, tokio::sync::oneshot::Sender<()>)
where
    S: pb::gateway_service_server::GatewayService,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("has an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming_shutdown(
        pb::gateway_service_server::GatewayServiceServer::new(service),
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}
