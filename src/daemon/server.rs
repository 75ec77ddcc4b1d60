//! The router, the API-version prefix, and the bridge from async handlers to the blocking
//! store code.

use std::sync::Arc;

use axum::extract::Request;
use axum::routing::{delete, get, post};
use axum::{Router, ServiceExt};
use tower::Layer;
use tower::util::MapRequestLayer;

use super::error::{ApiError, ApiResult};
use super::events::{self, Events};
use super::{
    archive, attach, build, container_output, containers, exec, images, stats, system, transfer,
    volumes,
};
use crate::engine::Engine;

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
    pub events: Arc<Events>,
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
        .route("/networks", get(system::networks))
        .route("/networks/{id}", get(system::network))
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

/// Serves until SIGINT or SIGTERM.
pub async fn serve(listener: tokio::net::UnixListener, engine: Arc<Engine>) -> anyhow::Result<()> {
    let events = Arc::new(Events::default());
    tokio::spawn(events::watch_containers(
        Arc::clone(&engine),
        Arc::clone(&events),
    ));
    let state = AppState {
        engine,
        events,
        execs: Arc::default(),
    };
    tokio::spawn(super::restore::restart_containers(state.clone()));
    let router = routes(state);
    let app = MapRequestLayer::new(strip_version).layer(router);
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
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
