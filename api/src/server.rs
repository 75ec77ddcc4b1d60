//! The router, the API-version prefix, and the bridge from async handlers to the blocking
//! store code.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::{delete, get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::util::{MapRequest, MapRequestLayer};
use tower::{Layer, ServiceExt};

use super::error::{ApiError, ApiResult};
use super::events;
use super::listen::Listener;
use super::{
    archive, attach, build, container_output, containers, exec, images, networks, stats, system,
    transfer, update, volumes,
};
use engine_core::engine::Engine;

/// The newest API version served (Docker 20.10's).
pub const API_VERSION: &str = "1.41";
/// The oldest API version accepted.
pub const MIN_API_VERSION: &str = "1.12";

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Exec instances (`POST /containers/{id}/exec`), in memory as in dockerd.
    pub execs: Arc<exec::Execs>,
}

/// Waits for a monitor the daemon started, so it does not linger as a zombie once it ends.
/// (The monitor outlives the daemon if the daemon goes first: it is in its own session.)
pub fn reap(mut child: std::process::Child) {
    let spawned = std::thread::Builder::new()
        .name("reap-monitor".into())
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread to reap a container monitor");
    }
}

/// Runs `f` on the engine on the blocking pool.
pub async fn blocking<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> anyhow::Result<T> + Send + 'static,
{
    let engine = Arc::clone(&state.engine);
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

/// Every route, without the `/v1.41` prefix.
fn routes(state: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(system::df))
        .route("/auth", post(system::auth))
        .route("/events", get(events::stream))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        // Images.
        .route("/images/json", get(images::list))
        .route("/images/create", post(transfer::create))
        .route("/images/load", post(transfer::load))
        .route("/images/get", get(transfer::save_many))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*name}",
            get(images::by_name)
                .delete(images::by_name_delete)
                .post(images::by_name_post),
        )
        .route("/build", post(build::build))
        .route("/build/prune", post(system::build_prune))
        .route("/commit", post(build::commit))
        // Containers.
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/update", post(update::update))
        .route("/containers/{id}/logs", get(container_output::logs))
        .route("/containers/{id}/export", get(container_output::export))
        .route("/containers/{id}/changes", get(container_output::changes))
        .route("/containers/{id}/top", get(container_output::top))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/wait", post(attach::wait))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}/resize", post(attach::resize))
        // Volumes.
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        // Exec.
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .with_state(state)
        .fallback(|req: Request| async move {
            ApiError::not_found(format!(
                "page not found: {} {}",
                req.method(),
                req.uri().path()
            ))
        })
}

/// `/v1.41/containers/json` -> `/containers/json`: clients put the version first.
fn strip_version(mut req: Request) -> Request {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/v")
        && let Some((version, tail)) = rest.split_once('/')
        && !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        let tail = format!("/{tail}");
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{tail}{query}").parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Limits on the API's connections, against clients that hold them (slowloris, idle floods).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client has to send a request's headers; an idle keep-alive connection is
    /// closed after it too. Hijacked (attach, exec) and streaming (logs, events) answers are
    /// not limited: the timer runs only while a request's headers are awaited.
    pub header_timeout: Duration,
    /// Connections served at once; the accept loops wait for a free slot, so more wait in
    /// the kernel's listen queue instead of taking descriptors.
    pub max_connections: usize,
}

impl Limits {
    /// Default header and idle timeout.
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default cap: half the descriptors the process may open (each connection takes
    /// one; containers' monitors, layers and logs need the rest), at most 4096.
    pub fn default_max_connections() -> usize {
        let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024);
        usize::try_from(soft.saturating_sub(256) / 2)
            .unwrap_or(4096)
            .clamp(16, 4096)
    }
}

/// How long connections get to finish once a shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves on every listener until SIGINT or SIGTERM.
pub async fn serve(
    listeners: Vec<Listener>,
    engine: Arc<Engine>,
    limits: Limits,
) -> anyhow::Result<()> {
    let state = AppState {
        engine,
        execs: Arc::default(),
    };
    tokio::spawn(super::restore::restart_containers(state.clone()));
    let router = routes(state);
    let app = MapRequestLayer::new(strip_version as fn(Request) -> Request).layer(router);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = JoinSet::new();
    for listener in listeners {
        loops.spawn(accept_loop(
            listener,
            app.clone(),
            Arc::clone(&slots),
            limits,
            stop_rx.clone(),
        ));
    }
    tokio::select! {
        _ = shutdown() => {}
        Some(ended) = loops.join_next() => {
            ended.map_err(|e| anyhow::anyhow!("an accept loop failed: {e}"))??;
        }
    }
    loops.abort_all();
    // Idle connections close at once; requests in flight get a moment to finish.
    let _ = stop_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
    Ok(())
}

/// A connection's stream, any of the listener kinds.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A connection holding its slot: the slot is freed when the stream is dropped, which for a
/// hijacked connection (attach, exec) is when the upgraded stream ends, not when HTTP does.
struct Held {
    io: Box<dyn Stream>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

type App = MapRequest<Router, fn(Request) -> Request>;

/// Accepts connections while a slot is free, each served on its own task.
async fn accept_loop(
    listener: Listener,
    app: App,
    slots: Arc<Semaphore>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        // The slot first: past the cap, clients wait in the listen queue, holding no
        // descriptor of ours.
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let mut peer = None;
        let accepted: std::io::Result<(Box<dyn Stream>, Option<TlsAcceptor>)> = match &listener {
            Listener::Unix { listener, .. } => listener.accept().await.map(|(s, _)| {
                peer = Peer::of(&s);
                (Box::new(s) as Box<dyn Stream>, None)
            }),
            Listener::Tcp { listener, tls, .. } => listener.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                peer = Peer::of(&s);
                (Box::new(s) as Box<dyn Stream>, tls.clone())
            }),
        };
        let (io, tls) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or a client gone before accept: wait, don't spin.
                tracing::warn!(error = %e, "accepting an API connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let io: Box<dyn Stream> = match tls {
                None => io,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(io)).await {
                        Ok(Ok(tls)) => Box::new(tls),
                        Ok(Err(e)) => {
                            tracing::info!(error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::info!("TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            serve_connection(Held { io, _slot: slot }, app, limits, stop, peer).await;
        });
    }
}

/// HTTP/1.1 on one connection, with upgrades (attach, exec) and the header/idle timeout.
async fn serve_connection(
    io: Held,
    app: App,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    peer: Option<Peer>,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        let mut req = req.map(axum::body::Body::new);
        if let Some(p) = &peer {
            req.extensions_mut().insert(p.clone());
        }
        async move { app.oneshot(req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "API connection ended");
    }
}

/// The client's end of a connection, for a long request to notice that the client has
/// gone: hyper reads nothing while a response streams, so a closed socket goes unseen
/// until the next write, which a quiet build step may not make for hours.
#[derive(Debug, Clone)]
pub struct Peer(Arc<std::os::fd::OwnedFd>);

impl Peer {
    fn of(s: &impl std::os::fd::AsFd) -> Option<Peer> {
        s.as_fd()
            .try_clone_to_owned()
            .ok()
            .map(|fd| Peer(Arc::new(fd)))
    }

    /// Whether the client has closed its end (or the connection broke), waiting at most
    /// `wait` for it.
    pub fn gone(&self, wait: Duration) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        // Linux's "peer closed its end"; nix names no constant for it.
        let rdhup = PollFlags::from_bits_retain(libc::POLLRDHUP);
        let mut fds = [PollFd::new(self.0.as_fd(), rdhup)];
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, timeout) {
            Ok(n) if n > 0 => fds[0]
                .revents()
                .is_some_and(|r| r.intersects(rdhup | PollFlags::POLLHUP | PollFlags::POLLERR)),
            _ => false,
        }
    }
}

async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
