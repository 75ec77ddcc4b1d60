//! `POST /containers/{id}/attach`, `/wait` and `/resize`, through the monitor's attach socket
//! (`container::attach`), and the hijacked-connection relay that `exec` shares.
//!
//! An attach answers `101 Switching Protocols` (Docker's `Upgrade: tcp`) and then relays
//! between the upgraded connection and blocking endpoints over channels: output chunks tagged
//! with their stream go out (Docker's 8-byte frames, or raw bytes for a TTY), the client's
//! bytes come in until its half-close, which ends the container's stdin (StdinOnce).
//!
//! `docker run` attaches and asks for `wait?condition=next-exit` before it starts the
//! container. Both register a pending attach before answering, so the monitor, once started,
//! waits for them: no output and no exit is missed. `wait` learns the exit code from the
//! monitor's exit frame, which also covers `--rm` (the record may be gone by the time anyone
//! could read it).

use std::cell::Cell;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::error::{ApiError, ApiResult};
use super::server::{AppState, blocking};
use engine_core::container::attach::{self, DetachKeys, Hello, PendingAttach, Session, protocol};
use engine_core::container::log;
use engine_core::container::store::ContainerStore;

/// Output for the client: the stream (1 stdout, 2 stderr) and the bytes.
pub type Chunk = (u8, Vec<u8>);

/// Input from the client.
#[derive(Debug)]
pub enum InputMsg {
    /// Bytes for stdin.
    Data(Vec<u8>),
    /// The client's stdin ended (or the client went).
    Close,
}

/// How many chunks may wait in each direction.
const CHANNEL: usize = 64;
/// How often the store is checked while waiting for a monitor that may never come.
const STORE_CHECK_EVERY: u32 = 50;
/// How often the record is polled while waiting for an exit without a monitor to tell it.
const POLL: Duration = Duration::from_millis(20);

/// Docker's boolean query values: `1`, `true`, `True`.
pub fn flag(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "True" | "TRUE"))
}

/// The `101 Switching Protocols` answer to a hijack.
pub fn upgrade_response(tty: bool) -> Response {
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        header::CONNECTION,
        "Upgrade".parse().expect("static header"),
    );
    headers.insert(header::UPGRADE, "tcp".parse().expect("static header"));
    headers.insert(
        header::CONTENT_TYPE,
        content_type.parse().expect("static header"),
    );
    response
}

/// Takes the upgrade from `req` (a client that did not ask for one is refused) and relays
/// once it happens; the caller answers with [`upgrade_response`].
/// `upgraded`, when given, hears when the 101 answer has been written (before any output).
pub fn hijack(
    req: &mut Request,
    tty: bool,
    output: mpsc::Receiver<Chunk>,
    input: Option<(mpsc::Sender<InputMsg>, DetachKeys)>,
    upgraded: Option<tokio::sync::oneshot::Sender<()>>,
) -> ApiResult<()> {
    if !req.headers().contains_key(header::UPGRADE) {
        return Err(ApiError::bad_request(
            "this endpoint needs a connection upgrade (Connection: Upgrade, Upgrade: tcp)",
        ));
    }
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(io) => {
                if let Some(tx) = upgraded {
                    let _ = tx.send(());
                }
                relay(TokioIo::new(io), tty, output, input).await
            }
            Err(e) => tracing::warn!(error = %e, "connection upgrade failed"),
        }
    });
    Ok(())
}

/// Output to the client until the channel closes; the client's bytes to `input` meanwhile,
/// until its end (passed on) or the detach keys (which end the relay, input left open).
async fn relay<IO>(
    io: IO,
    tty: bool,
    mut output: mpsc::Receiver<Chunk>,
    input: Option<(mpsc::Sender<InputMsg>, DetachKeys)>,
) where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let (detached_tx, mut detached) = tokio::sync::oneshot::channel::<()>();
    let reader = input.map(|(tx, mut keys)| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(InputMsg::Close).await;
                        break;
                    }
                    Ok(n) => n,
                };
                let (data, detach) = keys.scan(&buf[..n]);
                if !data.is_empty() && tx.send(InputMsg::Data(data)).await.is_err() {
                    break;
                }
                if detach {
                    let _ = detached_tx.send(());
                    break;
                }
            }
        })
    });
    // Armed while a reader may still send the detach; a dropped sender just disarms it.
    let mut armed = true;
    loop {
        let chunk = tokio::select! {
            chunk = output.recv() => chunk,
            r = &mut detached, if armed => match r {
                Ok(()) => None,
                Err(_) => {
                    armed = false;
                    continue;
                }
            },
        };
        let Some((stream, data)) = chunk else { break };
        let mut bytes = Vec::with_capacity(data.len() + 8);
        if !tty {
            bytes.extend_from_slice(&protocol::header(stream, data.len()));
        }
        bytes.extend_from_slice(&data);
        if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
    if let Some(r) = reader {
        r.abort();
    }
}

#[derive(Debug, Deserialize)]
pub struct AttachQuery {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
    #[serde(default)]
    logs: Option<String>,
    #[serde(default, rename = "detachKeys")]
    detach_keys: Option<String>,
}

/// What the blocking side of an attach starts from.
struct Prepared {
    store: ContainerStore,
    id: String,
    tty: bool,
    stdin: bool,
    pending: Option<Waiting>,
    logs: Vec<Chunk>,
}

/// `POST /containers/{id}/attach`.
pub async fn attach(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<AttachQuery>,
    mut req: Request,
) -> ApiResult<Response> {
    let (stream, logs) = (flag(&q.stream), flag(&q.logs));
    let keys = DetachKeys::parse(q.detach_keys.as_deref())
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let hello = Hello {
        stdin: flag(&q.stdin),
        stdout: flag(&q.stdout),
        stderr: flag(&q.stderr),
        token: None,
    };
    let wants = hello.clone();
    let prepared = blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let record = store.resolve(&name)?;
        if stream {
            engine_core::events::container(store.data_root(), "attach", &record);
        }
        let log_chunks = if logs {
            log_chunks(&record.log_path, &wants)
        } else {
            Vec::new()
        };
        let pending = if stream && !(record.state.running && store.monitor_alive(&record.id)) {
            // Registered before the answer, so a start that follows it finds us.
            Some(Waiting::register(&store, &record.id)?)
        } else {
            None
        };
        Ok(Prepared {
            store,
            id: record.id,
            tty: record.config.tty,
            stdin: wants.stdin && record.config.open_stdin,
            pending,
            logs: log_chunks,
        })
    })
    .await?;
    let (out_tx, out_rx) = mpsc::channel(CHANNEL);
    let (in_tx, in_rx) = mpsc::channel(CHANNEL);
    let tty = prepared.tty;
    // Detach keys in a terminal's input only: piped input is data, whatever its bytes.
    let keys = if tty { keys } else { DetachKeys::none() };
    let input = prepared.stdin.then_some((in_tx, keys));
    hijack(&mut req, tty, out_rx, input, None)?;
    std::thread::Builder::new()
        .name("api-attach".into())
        .spawn(move || container_side(prepared, hello, stream, out_tx, in_rx))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(upgrade_response(tty))
}

/// The json-file log as output chunks, for `logs=1`.
fn log_chunks(path: &str, wants: &Hello) -> Vec<Chunk> {
    log::read_all(std::path::Path::new(path))
        .into_iter()
        .filter_map(|e| match e.stream.as_str() {
            "stderr" if wants.stderr => Some((protocol::STDERR, e.log.into_bytes())),
            "stdout" if wants.stdout => Some((protocol::STDOUT, e.log.into_bytes())),
            _ => None,
        })
        .collect()
}

/// The blocking side of an attach: the log replay, then the monitor's session.
fn container_side(
    p: Prepared,
    hello: Hello,
    stream: bool,
    out: mpsc::Sender<Chunk>,
    mut input: mpsc::Receiver<InputMsg>,
) {
    for chunk in p.logs {
        if out.blocking_send(chunk).is_err() {
            return;
        }
    }
    if !stream {
        return;
    }
    let hello = Hello {
        stdin: p.stdin,
        ..hello
    };
    let session = match p.pending {
        Some(waiting) => waiting.connect(&p.store, &p.id, &hello),
        None => attach::connect(&p.store, &p.id, &hello),
    };
    let Session { mut stream, .. } = match session {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(container = %p.id, error = %e, "attach ended before the start");
            return;
        }
    };
    if p.stdin
        && let Ok(mut to_monitor) = stream.try_clone()
    {
        std::thread::spawn(move || {
            while let Some(msg) = input.blocking_recv() {
                let sent = match msg {
                    InputMsg::Data(d) => {
                        protocol::write_frame(&mut to_monitor, protocol::STDIN, &d)
                    }
                    InputMsg::Close => {
                        protocol::write_frame(&mut to_monitor, protocol::CLOSE_STDIN, &[])
                    }
                };
                if sent.is_err() {
                    break;
                }
            }
        });
    }
    while let Ok(Some((kind, data))) = protocol::read_frame(&mut stream) {
        let go_on = match kind {
            protocol::STDOUT | protocol::STDERR => out.blocking_send((kind, data)).is_ok(),
            protocol::EXIT => false,
            _ => true,
        };
        if !go_on {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// A pending attach plus what the record said when it was registered, to tell when the
/// container has started and ended without us (so the wait is given up).
struct Waiting {
    pending: PendingAttach,
    started_at: String,
    finished_at: String,
}

impl Waiting {
    fn register(store: &ContainerStore, id: &str) -> anyhow::Result<Waiting> {
        let pending = PendingAttach::register(store, id)?;
        let record = store.load(id)?;
        Ok(Waiting {
            pending,
            started_at: record.state.started_at,
            finished_at: record.state.finished_at,
        })
    }

    /// Waits for the monitor; `None` when the container ran (or failed to start) without us.
    fn connect(
        self,
        store: &ContainerStore,
        id: &str,
        hello: &Hello,
    ) -> anyhow::Result<Option<Session>> {
        let Waiting {
            pending,
            started_at,
            finished_at,
        } = self;
        let polls = Cell::new(0u32);
        attach::connect_when_started(store, id, hello, pending, || {
            polls.set(polls.get() + 1);
            if !polls.get().is_multiple_of(STORE_CHECK_EVERY) {
                return false;
            }
            match store.load(id) {
                Ok(r) => {
                    (r.state.started_at != started_at || r.state.finished_at != finished_at)
                        && !store.monitor_alive(id)
                }
                Err(_) => true,
            }
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    #[serde(default)]
    condition: Option<String>,
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`. As dockerd, it
/// answers the headers at once and the body at the exit: `docker run` sends the start only
/// once the wait has been answered, so the wait must be registered by then.
pub async fn wait(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Response> {
    let condition = q.condition.unwrap_or_else(|| "not-running".into());
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}"
        )));
    }
    let removed = condition == "removed";
    let (store, id, waiting, done) = blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let record = store.resolve(&name)?;
        let live = record.state.running && store.monitor_alive(&record.id);
        if !live && matches!(condition.as_str(), "" | "not-running") {
            return Ok((store, record.id, None, Some(record.state.exit_code)));
        }
        let waiting = if live {
            None
        } else {
            Some(Waiting::register(&store, &record.id)?)
        };
        Ok((store, record.id, waiting, None))
    })
    .await?;
    let body = async move {
        let code = match done {
            Some(code) => Ok(code),
            // A thread of its own, not the blocking pool's: a wait lasts as long as the
            // container runs, and many of them must not starve the other requests.
            None => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(wait_for_exit(&store, &id, waiting, removed));
                });
                rx.await
                    .map_err(|_| anyhow::anyhow!("the wait thread ended without an answer"))
                    .and_then(|r| r)
            }
        };
        let doc = match code {
            Ok(code) => json!({ "StatusCode": code, "Error": null }),
            Err(e) => json!({ "StatusCode": -1, "Error": { "Message": format!("{e:#}") } }),
        };
        Ok::<_, std::convert::Infallible>(format!("{doc}\n"))
    };
    let mut response = Response::new(Body::from_stream(futures_util::stream::once(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    Ok(response)
}

/// The exit code of the next exit: from the monitor's exit frame, else from the record once
/// no monitor owns the container; then, for `removed`, until the container is gone.
fn wait_for_exit(
    store: &ContainerStore,
    id: &str,
    waiting: Option<Waiting>,
    removed: bool,
) -> anyhow::Result<i32> {
    let hello = Hello::default();
    let session = match waiting {
        Some(w) => w.connect(store, id, &hello),
        None => attach::connect(store, id, &hello),
    };
    // A container that ended between the check and the connection has closed its socket:
    // its record says how it ended, once its monitor is done (the loop below).
    let session = session.unwrap_or_else(|e| {
        tracing::debug!(container = %id, error = %e, "wait: no attach socket; polling the record");
        None
    });
    let mut code = None;
    if let Some(Session { mut stream, .. }) = session {
        while let Ok(Some((kind, data))) = protocol::read_frame(&mut stream) {
            if kind == protocol::EXIT {
                code = String::from_utf8_lossy(&data).trim().parse().ok();
                break;
            }
        }
    }
    let mut last = store.load(id).ok();
    while store.monitor_alive(id) && code.is_none() {
        std::thread::sleep(POLL);
        last = store.load(id).ok().or(last);
    }
    let code = code
        .or_else(|| last.as_ref().map(|r| r.state.exit_code))
        .unwrap_or(0);
    if removed {
        while store.dir(id).exists() {
            std::thread::sleep(POLL);
        }
    }
    Ok(code)
}

#[derive(Debug, Deserialize)]
pub struct ResizeQuery {
    #[serde(default)]
    h: Option<u16>,
    #[serde(default)]
    w: Option<u16>,
}

impl ResizeQuery {
    /// Rows and columns.
    pub fn size(&self) -> (u16, u16) {
        (self.h.unwrap_or(0), self.w.unwrap_or(0))
    }
}

/// `POST /containers/{id}/resize?h=ROWS&w=COLS`.
pub async fn resize(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> ApiResult<StatusCode> {
    let (rows, cols) = q.size();
    blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let record = store.resolve(&name)?;
        let Some(mut session) = attach::connect(&store, &record.id, &Hello::default())? else {
            return Err(engine_core::EngineError::conflict(format!(
                "Container {} is not running",
                record.id
            ))
            .into());
        };
        protocol::write_frame(
            &mut session.stream,
            protocol::RESIZE,
            &protocol::resize_payload(rows, cols),
        )?;
        Ok(StatusCode::OK)
    })
    .await
}
