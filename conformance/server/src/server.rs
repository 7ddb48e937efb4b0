//! Starting and stopping a server: binding, the service stack (gateway,
//! health, reflection), TLS, and graceful shutdown.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dome_sdk::pb::gateway_service_server::GatewayServiceServer;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::config::Config;
use crate::mutants::Faults;
use crate::route::Routes;
use crate::service::Gateway;
use crate::skills::Catalogue;
use crate::store::Store;
use crate::worker::Workers;

/// Why a server could not start or stop cleanly.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Bind(SocketAddr, std::io::Error),
    ReadTls(PathBuf, std::io::Error),
    Transport(tonic::transport::Error),
    Reflection(tonic_reflection::server::Error),
    Catalogue(String),
    EmptyToken,
    Serve(tonic::transport::Error),
    Join(tokio::task::JoinError),
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Bind(addr, _) => write!(f, "cannot listen on `{addr}`"),
            ErrorKind::ReadTls(path, _) => write!(f, "cannot read TLS file `{}`", path.display()),
            ErrorKind::Transport(_) => f.write_str("cannot configure the transport"),
            ErrorKind::Reflection(_) => f.write_str("cannot build server reflection"),
            ErrorKind::Catalogue(why) => write!(f, "cannot build the skill catalogue: {why}"),
            ErrorKind::EmptyToken => {
                f.write_str("the bearer token is empty: give a token, or none to serve without authentication")
            }
            ErrorKind::Serve(_) => f.write_str("the server failed while serving"),
            ErrorKind::Join(_) => f.write_str("the server task failed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Bind(_, e) | ErrorKind::ReadTls(_, e) => Some(e),
            ErrorKind::Transport(e) | ErrorKind::Serve(e) => Some(e),
            ErrorKind::Reflection(e) => Some(e),
            ErrorKind::Join(e) => Some(e),
            ErrorKind::Catalogue(_) | ErrorKind::EmptyToken => None,
        }
    }
}

/// A started server. Dropping it without [`Running::shutdown`] leaves the
/// server running until the runtime stops.
#[derive(Debug)]
pub struct Running {
    local_addr: SocketAddr,
    tls: bool,
    store: Arc<Store>,
    grace: Duration,
    stop: oneshot::Sender<()>,
    serve: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's URL: `http://addr`, or `https://addr` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Shuts down gracefully: new calls and open streams get
    /// `SHUTTING_DOWN`, every job still running is cancelled, and the
    /// listener closes. Whatever is still open after the configured grace
    /// is dropped.
    pub async fn shutdown(self) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + self.grace;
        // Refuse new work and end open streams first, then stop accepting
        // connections; the connections still open drain on their own.
        let open_jobs = self.store.begin_shutdown();
        // The serve task may have ended already; a closed channel is fine.
        let _ = self.stop.send(());
        let jobs_done = async {
            for job in open_jobs {
                job.terminal().await;
            }
        };
        if tokio::time::timeout_at(deadline, jobs_done).await.is_err() {
            tracing::warn!("jobs still running after the shutdown grace");
        }
        let mut serve = self.serve;
        match tokio::time::timeout_at(deadline, &mut serve).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(Error::new(ErrorKind::Serve(e))),
            Ok(Err(e)) => Err(Error::new(ErrorKind::Join(e))),
            Err(_) => {
                tracing::warn!("connections still open after the shutdown grace; dropping them");
                serve.abort();
                Ok(())
            }
        }
    }
}

/// Binds, starts serving in the background, and returns once listening.
pub async fn start(config: Config) -> Result<Running, Error> {
    if config.auth_token.as_deref().is_some_and(str::is_empty) {
        return Err(Error::new(ErrorKind::EmptyToken));
    }
    let faults = Faults::from_config(&config);
    let catalogue = Arc::new(Catalogue::new(config.conformance).map_err(|e| Error::new(ErrorKind::Catalogue(e.0)))?);
    let store = Arc::new(
        Store::new(config.limits.clone(), faults, config.memory_trim)
            .with_read_ahead(crate::config::limit(config.max_stream_read_ahead_bytes)),
    );

    let listener = listen(config.listen).map_err(|e| Error::new(ErrorKind::Bind(config.listen, e)))?;
    let local_addr = listener.local_addr().map_err(|e| Error::new(ErrorKind::Bind(config.listen, e)))?;

    let gateway = Gateway {
        workers: Workers::new(store.clone()),
        store: store.clone(),
        catalogue,
        auth_digest: config.auth_token.as_deref().map(|t| crate::service::token_digest(t.as_bytes())),
    };
    let max_request_bytes = config.limits.max_request_bytes;
    let decoding_limit =
        if max_request_bytes == 0 { usize::MAX } else { usize::try_from(max_request_bytes).unwrap_or(usize::MAX) };
    // gzip both ways (many gRPC runtimes send it by default); tonic
    // advertises it in `grpc-accept-encoding` and bounds a compressed
    // request by the decoding limit once decompressed.
    let gateway_service = GatewayServiceServer::new(gateway.clone())
        .max_decoding_message_size(decoding_limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let gateway_service = Routes::new(gateway_service, gateway, decoding_limit);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<GatewayServiceServer<Gateway>>().await;
    // Both reflection versions: v1, and v1alpha, which many clients
    // (grpcio-reflection, older grpcurl) still speak only.
    let reflection_builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(dome_sdk::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection_builder().build_v1().map_err(|e| Error::new(ErrorKind::Reflection(e)))?;
    let reflection_v1alpha = reflection_builder().build_v1alpha().map_err(|e| Error::new(ErrorKind::Reflection(e)))?;

    let mut builder = Server::builder()
        .layer(crate::idle::TrackCalls)
        .layer(crate::guard::TypeUnimplemented(faults))
        .max_concurrent_streams(config.max_concurrent_streams)
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout));
    if let Some(tls) = &config.tls {
        let cert = std::fs::read(&tls.cert_pem_path)
            .map_err(|e| Error::new(ErrorKind::ReadTls(tls.cert_pem_path.clone(), e)))?;
        let key = std::fs::read(&tls.key_pem_path)
            .map_err(|e| Error::new(ErrorKind::ReadTls(tls.key_pem_path.clone(), e)))?;
        builder = builder
            .tls_config(
                ServerTlsConfig::new().identity(Identity::from_pem(cert, key)).timeout(config.handshake_timeout),
            )
            .map_err(|e| Error::new(ErrorKind::Transport(e)))?;
    }
    let services = crate::services::Services::default()
        .add(health_service)
        .add(reflection)
        .add(reflection_v1alpha)
        .add(gateway_service);

    let (stop, stopped) = oneshot::channel::<()>();
    let incoming =
        crate::conn::incoming(listener, config.max_connections, config.handshake_timeout, config.idle_timeout);
    let reporter = health_reporter.clone();
    let serve = tokio::spawn(builder.serve_with_incoming_shutdown(services, incoming, async move {
        // A dropped sender means the handle is gone: keep serving then.
        if stopped.await.is_ok() {
            reporter.set_not_serving::<GatewayServiceServer<Gateway>>().await;
        } else {
            std::future::pending::<()>().await;
        }
    }));
    tracing::info!(%local_addr, tls = config.tls.is_some(), auth = config.auth_token.is_some(), "domed listening");
    Ok(Running { local_addr, tls: config.tls.is_some(), store, grace: config.shutdown_grace, stop, serve })
}

/// Connections the kernel completes and queues for `accept` before the
/// server takes them. The accept loop takes them as fast as the
/// connection cap allows; a deep queue keeps a burst of clients that
/// connect and say nothing (their handshake timer starts at accept) from
/// overflowing it, where the kernel drops their handshakes and they hang
/// unaccepted, outside any timeout of the server's.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`] (the kernel caps it at
/// `net.core.somaxconn`) and `SO_REUSEADDR`, as `TcpListener::bind` sets it.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
