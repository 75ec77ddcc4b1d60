//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `/exec/{id}/resize`,
//! `GET /exec/{id}/json`: another process in a running container, through `runtime::exec` as
//! `engine exec` does. The process is a child of the daemon; exec instances live in the
//! daemon's memory (as in dockerd, they do not outlive it).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::attach::{self as hijacked, Chunk, InputMsg, ResizeQuery};
use super::error::{ApiError, ApiResult};
use super::server::{AppState, blocking};
use engine_core::container::attach::{DetachKeys, protocol};
use engine_core::container::create::random_id;
use engine_core::container::spec;
use engine_core::container::store::ContainerStore;

/// Docker's `ExecConfig` (the parts used).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Option<Vec<String>>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach: bool,
    pub privileged: bool,
    pub detach_keys: Option<String>,
}

/// One exec instance.
#[derive(Debug)]
struct Exec {
    id: String,
    container_id: String,
    config: ExecConfig,
    state: Mutex<ExecState>,
}

#[derive(Debug, Default)]
struct ExecState {
    started: bool,
    running: bool,
    pid: i32,
    exit_code: Option<i32>,
    /// A duplicate of the pty master, for resizes.
    pty: Option<File>,
    /// A size asked for before the process (and its pty) existed: applied when it starts.
    size: Option<(u16, u16)>,
}

impl Exec {
    fn state(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finished(&self, code: i32) {
        let mut s = self.state();
        s.running = false;
        s.exit_code = Some(code);
        s.pty = None;
    }
}

/// The daemon's exec instances.
#[derive(Debug, Default)]
pub struct Execs {
    map: Mutex<HashMap<String, Arc<Exec>>>,
}

impl Execs {
    fn get(&self, id: &str) -> ApiResult<Arc<Exec>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    fn insert(&self, exec: Exec) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(exec.id.clone(), Arc::new(exec));
    }
}

/// `POST /containers/{id}/exec`.
pub async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(config): Json<ExecConfig>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if config.cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let container = blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let record = store.resolve(&name)?;
        if !record.state.running || !store.monitor_alive(&record.id) {
            return Err(engine_core::EngineError::conflict(format!(
                "Container {} is not running",
                record.id
            ))
            .into());
        }
        if record.state.paused {
            return Err(engine_core::error::EngineError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                record.id
            ))
            .into());
        }
        Ok(record)
    })
    .await?;
    let id = random_id();
    engine_core::events::ExecEvents::new(
        &state.engine.settings.data_root,
        &container,
        &id,
        &config.cmd,
    )
    .created();
    state.execs.insert(Exec {
        id: id.clone(),
        container_id: container.id,
        config,
        state: Mutex::new(ExecState::default()),
    });
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StartBody {
    detach: bool,
    tty: Option<bool>,
}

/// The started process and the host ends of its streams.
struct Started {
    process: runtime::Process,
    stdin: Option<File>,
    outputs: Vec<(u8, File)>,
    events: engine_core::events::ExecEvents,
}

/// `POST /exec/{id}/start`: detached (200), or hijacked like attach.
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let exec = state.execs.get(&id)?;
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body: StartBody = if body.is_empty() {
        StartBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    {
        let mut s = exec.state();
        if s.started {
            return Err(ApiError::conflict(format!(
                "Exec instance {id} has already been started"
            )));
        }
        s.started = true;
    }
    let tty = body.tty.unwrap_or(exec.config.tty) || exec.config.tty;
    let detach = body.detach || exec.config.detach;
    let prepared = Arc::clone(&exec);
    if detach {
        let started = blocking(&state, move |engine| {
            let store = ContainerStore::open(&engine.settings.data_root)?;
            Ok(launch(&store, &prepared, tty, detach))
        })
        .await?;
        let started = started.map_err(|e| {
            exec.finished(e.exit_code().unwrap_or(126));
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, oci_message(&e))
        })?;
        std::thread::spawn(move || supervise(exec, started, None, None));
        return Ok(StatusCode::OK.into_response());
    }
    let (out_tx, out_rx) = mpsc::channel(64);
    let (in_tx, in_rx) = mpsc::channel(64);
    let keys = if tty {
        DetachKeys::parse(exec.config.detach_keys.as_deref())
            .map_err(|e| ApiError::bad_request(format!("{e:#}")))?
    } else {
        DetachKeys::none()
    };
    let input = exec.config.attach_stdin.then_some((in_tx, keys));
    // The process starts once the 101 answer is out, as dockerd's: a client reading the
    // answer through a buffer (the Python SDK) loses output that arrives with the headers.
    let (upgraded_tx, upgraded) = tokio::sync::oneshot::channel();
    hijacked::hijack(&mut req, tty, out_rx, input, Some(upgraded_tx))?;
    let engine = Arc::clone(&state.engine);
    tokio::spawn(async move {
        if upgraded.await.is_err() {
            // The client went before the stream began: nothing was run.
            exec.finished(126);
            return;
        }
        let launched = tokio::task::spawn_blocking(move || {
            ContainerStore::open(&engine.settings.data_root)
                .map_err(|e| runtime::Error::InvalidInput(format!("{e:#}")))
                .and_then(|store| launch(&store, &prepared, tty, false))
        })
        .await;
        match launched {
            Ok(Ok(started)) => {
                std::thread::spawn(move || supervise(exec, started, Some(out_tx), Some(in_rx)));
            }
            Ok(Err(e)) => {
                // As dockerd: the failure goes down the stream, the code into the exec's
                // state.
                exec.finished(e.exit_code().unwrap_or(126));
                let message = format!("{}\r\n", oci_message(&e));
                let _ = out_tx.send((protocol::STDOUT, message.into_bytes())).await;
            }
            Err(_) => exec.finished(126),
        }
    });
    Ok(hijacked::upgrade_response(tty))
}

fn oci_message(e: &runtime::Error) -> String {
    format!("OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown")
}

/// Starts the process in the container with pipes (or a pty) for its streams.
fn launch(
    store: &ContainerStore,
    exec: &Exec,
    tty: bool,
    detach: bool,
) -> Result<Started, runtime::Error> {
    let fail = |m: String| runtime::Error::InvalidInput(m);
    let mut record = store
        .load(&exec.container_id)
        .map_err(|e| fail(format!("{e:#}")))?;
    if !record.state.running || record.state.pid <= 0 {
        return Err(fail(format!("container {} is not running", record.id)));
    }
    let pid = record.state.pid;
    let c = &exec.config;
    record.exec_overrides(
        c.user.as_deref(),
        c.working_dir.as_deref(),
        c.env.as_deref().unwrap_or_default(),
    );
    let stdin = c.attach_stdin && !detach;
    let rootfs = PathBuf::from(format!("/proc/{pid}/root"));
    let mut process =
        spec::process(&record, &rootfs, tty, stdin).map_err(|e| fail(format!("{e:#}")))?;
    process.args = c.cmd.clone();
    spec::privileged_exec(&mut process, c.privileged);
    let pipe = || io::pipe().map_err(|e| runtime::Error::io("create pipe", "", e));
    let mut set = runtime::StdioSet::default();
    let mut outputs = Vec::new();
    let mut stdin_w = None;
    if !tty {
        if stdin {
            let (r, w) = pipe()?;
            set.stdin = runtime::Stdio::Fd(OwnedFd::from(r));
            stdin_w = Some(File::from(OwnedFd::from(w)));
        }
        for (stream, wanted) in [
            (protocol::STDOUT, c.attach_stdout && !detach),
            (protocol::STDERR, c.attach_stderr && !detach),
        ] {
            let target = if wanted {
                let (r, w) = pipe()?;
                outputs.push((stream, File::from(OwnedFd::from(r))));
                runtime::Stdio::Fd(OwnedFd::from(w))
            } else {
                runtime::Stdio::Null
            };
            if stream == protocol::STDOUT {
                set.stdout = target;
            } else {
                set.stderr = target;
            }
        }
    } else {
        set.stdout = runtime::Stdio::Null;
        set.stderr = runtime::Stdio::Null;
    }
    let mut proc = runtime::exec(pid, &process, set)?;
    if let Some(master) = proc.take_pty_master() {
        let master = File::from(master);
        let dup = |f: &File| {
            f.try_clone()
                .map_err(|e| runtime::Error::io("dup pty", "", e))
        };
        let mut s = exec.state();
        if let Some((rows, cols)) = s.size.take() {
            let _ = runtime::set_window_size(master.as_fd(), rows, cols);
        }
        s.pty = Some(dup(&master)?);
        drop(s);
        if stdin {
            stdin_w = Some(dup(&master)?);
        }
        outputs.push((protocol::STDOUT, master));
    }
    {
        let mut s = exec.state();
        s.running = true;
        s.pid = proc.pid();
    }
    let events = engine_core::events::ExecEvents::new(store.data_root(), &record, &exec.id, &c.cmd);
    events.started();
    Ok(Started {
        process: proc,
        stdin: stdin_w,
        outputs,
        events,
    })
}

/// Relays the streams until the outputs end, then reaps the process and records its code;
/// only then is the output channel closed, so a client that asks for the code after the
/// stream has ended always finds it.
fn supervise(
    exec: Arc<Exec>,
    started: Started,
    out: Option<mpsc::Sender<Chunk>>,
    input: Option<mpsc::Receiver<InputMsg>>,
) {
    let Started {
        mut process,
        stdin,
        outputs,
        events,
    } = started;
    if let (Some(mut rx), Some(mut w)) = (input, stdin) {
        let tty = exec.config.tty;
        std::thread::spawn(move || {
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    InputMsg::Data(d) => {
                        if w.write_all(&d).is_err() {
                            break;
                        }
                    }
                    // A tty has no end of input; a pipe closes.
                    InputMsg::Close if tty => {}
                    InputMsg::Close => break,
                }
            }
        });
    }
    let readers: Vec<_> = outputs
        .into_iter()
        .map(|(stream, mut file)| {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let n = match file.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if let Some(tx) = &out
                        && tx.blocking_send((stream, buf[..n].to_vec())).is_err()
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    for r in readers {
        let _ = r.join();
    }
    let code = process.wait().map(|s| s.code).unwrap_or(-1);
    exec.finished(code);
    events.died(code);
    drop(out);
}

/// `POST /exec/{id}/resize?h=ROWS&w=COLS`.
pub async fn resize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> ApiResult<StatusCode> {
    let exec = state.execs.get(&id)?;
    let (rows, cols) = q.size();
    let mut s = exec.state();
    match s.pty.as_ref() {
        Some(pty) => runtime::set_window_size(pty.as_fd(), rows, cols)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
        // The process starts once its stream is up: the size waits for its pty.
        None => s.size = Some((rows, cols)),
    }
    Ok(StatusCode::OK)
}

/// `GET /exec/{id}/json`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let exec = state.execs.get(&id)?;
    let s = exec.state();
    let c = &exec.config;
    Ok(Json(json!({
        "ID": exec.id,
        "Running": s.running,
        "ExitCode": s.exit_code,
        "Pid": s.pid,
        "ContainerID": exec.container_id,
        "OpenStdin": c.attach_stdin,
        "OpenStdout": c.attach_stdout,
        "OpenStderr": c.attach_stderr,
        "CanRemove": false,
        "DetachKeys": "",
        "ProcessConfig": {
            "tty": c.tty,
            "entrypoint": c.cmd.first(),
            "arguments": c.cmd.get(1..).unwrap_or(&[]),
            "privileged": c.privileged,
            "user": c.user.clone().unwrap_or_default(),
        },
    })))
}
