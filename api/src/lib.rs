//! `engine daemon`: the Docker Engine API (v1.41, what Docker 20.10's client speaks) over
//! HTTP on a UNIX socket, so Docker's own CLI can drive the engine.
//!
//! The daemon is a front door, not an owner: every operation runs the same code the
//! daemonless CLI runs, on the same stores and their cross-process locks, and containers stay
//! owned by their per-container monitors. So the CLI and the daemon can be used side by side,
//! and killing the daemon (even with SIGKILL) loses nothing: running containers keep running,
//! and a new daemon picks them up from the store.
//!
//! Requests are served by axum on a tokio runtime; store work is blocking and runs on
//! tokio's blocking pool ([`server::blocking`]). Long answers (pull and build progress, logs,
//! save and export tars, events) stream through a channel ([`stream`]); request bodies
//! (load, build contexts, import) are read as they arrive.
//!
//! - [`containers`], [`container_output`], [`archive`]: the container endpoints.
//! - [`images`], [`transfer`], [`build`]: the image endpoints.
//! - [`volumes`]: the volume endpoints.
//! - [`system`], [`events`]: ping, version, info, df, auth, the event stream.
//! - [`networks`]: the network endpoints.
//! - [`restore`]: at start, containers whose restart policy says so are started again.
//!
//! Concurrency comes from the stores: every mutation holds their cross-process file locks
//! (names are checked and taken under one lock), which serialize the daemon's own threads
//! as they serialize CLI processes.

// The API's JSON documents (`/info`, inspect) are large `json!` literals.
#![recursion_limit = "256"]

mod archive;
mod attach;
mod build;
mod build_params;
mod container_output;
mod containers;
mod error;
mod events;
mod exec;
mod images;
mod listen;
mod networks;
mod params;
mod restore;
mod server;
mod stats;
mod stream;
mod system;
mod transfer;
mod update;
mod volumes;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use engine_core::engine::Engine;

/// How the daemon listens: `engine daemon`'s flags (dockerd's).
#[derive(Debug, Default, Clone)]
pub struct DaemonOptions {
    /// `-H`: sockets to listen on, unix://PATH or tcp://ADDR[:PORT].
    pub hosts: Vec<String>,
    /// `-G`: the group owning the UNIX sockets.
    pub group: Option<String>,
    /// `--tls`.
    pub tls: bool,
    /// `--tlsverify`.
    pub tlsverify: bool,
    /// `--tlscacert`.
    pub tlscacert: Option<PathBuf>,
    /// `--tlscert`.
    pub tlscert: Option<PathBuf>,
    /// `--tlskey`.
    pub tlskey: Option<PathBuf>,
    /// `--api-header-timeout`, seconds.
    pub api_header_timeout: Option<u64>,
    /// `--api-max-connections`.
    pub api_max_connections: Option<usize>,
}

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(engine: Engine, args: DaemonOptions) -> Result<ExitCode> {
    let listen = listen::config(&args, &engine.settings.api)?;
    let limits = server::Limits {
        header_timeout: match args.api_header_timeout {
            Some(0) => bail!("--api-header-timeout must be at least 1 second"),
            Some(s) => std::time::Duration::from_secs(s),
            None => server::Limits::DEFAULT_HEADER_TIMEOUT,
        },
        max_connections: match args.api_max_connections {
            Some(0) => bail!("--api-max-connections must be at least 1"),
            Some(n) => n,
            None => server::Limits::default_max_connections(),
        },
    };
    let _pid_lock = lock_pid_file(&engine.settings.data_root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("engine-api")
        .build()
        .context("starting the async runtime")?;
    let engine = Arc::new(engine);
    runtime.block_on(async move {
        let listeners = listen::bind_all(&listen, args.group.as_deref())?;
        let sockets: Vec<PathBuf> = listeners
            .iter()
            .filter_map(|l| match l {
                listen::Listener::Unix { path, .. } => Some(path.clone()),
                listen::Listener::Tcp { .. } => None,
            })
            .collect();
        for l in &listeners {
            tracing::info!(listener = %l.describe(), "API listening");
            eprintln!("API listen on {}", l.describe());
        }
        let served = server::serve(listeners, engine, limits).await;
        for socket in sockets {
            let _ = std::fs::remove_file(&socket);
        }
        served
    })?;
    Ok(ExitCode::SUCCESS)
}

/// One daemon per data root: `<data-root>/engine.pid`, locked while the daemon lives.
fn lock_pid_file(data_root: &Path) -> Result<std::fs::File> {
    use std::io::Write;
    let path = data_root.join("engine.pid");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if nix::fcntl::Flock::lock(
        file.try_clone()?,
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .map(std::mem::forget)
    .is_err()
    {
        bail!(
            "another engine daemon is running on data root {} (see {})",
            data_root.display(),
            path.display()
        );
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}
