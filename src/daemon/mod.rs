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
//! - [`system`], [`events`]: ping, version, info, df, auth, networks, the event stream.
//! - [`restore`]: at start, containers whose restart policy says so are started again.
//!
//! Concurrency comes from the stores: every mutation holds their cross-process file locks
//! (names are checked and taken under one lock), which serialize the daemon's own threads
//! as they serialize CLI processes.

mod archive;
mod attach;
mod build;
mod container_output;
mod containers;
mod error;
mod events;
mod exec;
mod images;
mod params;
mod restore;
mod server;
mod stats;
mod stream;
mod system;
mod transfer;
mod volumes;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::cli::DaemonArgs;
use crate::engine::Engine;

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/engine.sock";

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(engine: Engine, args: DaemonArgs) -> Result<ExitCode> {
    let socket = socket_path(&args.hosts)?;
    let _pid_lock = lock_pid_file(&engine.settings.data_root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("engine-api")
        .build()
        .context("starting the async runtime")?;
    let engine = Arc::new(engine);
    runtime.block_on(async move {
        let listener = bind(&socket, args.group.as_deref())?;
        tracing::info!(socket = %socket.display(), "API listening");
        eprintln!("API listen on {}", socket.display());
        let served = server::serve(listener, engine).await;
        let _ = std::fs::remove_file(&socket);
        served
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The socket path of `-H unix://PATH` (default [`DEFAULT_SOCKET`]); other schemes are refused.
fn socket_path(hosts: &[String]) -> Result<PathBuf> {
    match hosts {
        [] => Ok(PathBuf::from(DEFAULT_SOCKET)),
        [one] => match one.strip_prefix("unix://") {
            Some("") => Ok(PathBuf::from(DEFAULT_SOCKET)),
            Some(path) => Ok(PathBuf::from(path)),
            None if one.starts_with('/') => Ok(PathBuf::from(one)),
            None => bail!("invalid host {one:?}: only unix://PATH is supported"),
        },
        _ => bail!("only one -H unix://PATH is supported"),
    }
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

/// Binds the socket (replacing a stale one), mode 0660, group `group` (default `docker` when
/// that group exists, else root's).
fn bind(path: &Path, group: Option<&str>) -> Result<tokio::net::UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use by another process", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {}", path.display()))?;
    let gid = match group {
        Some(name) => Some(
            nix::unistd::Group::from_name(name)?
                .with_context(|| format!("group {name} does not exist"))?
                .gid,
        ),
        None => nix::unistd::Group::from_name("docker")?.map(|g| g.gid),
    };
    if let Some(gid) = gid {
        nix::unistd::chown(path, None, Some(gid))
            .with_context(|| format!("chown {}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(listener)
}
