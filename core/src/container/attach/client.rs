//! The client's side: connecting to a monitor's attach socket, now or once it starts.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use super::protocol::{self, Hello, Welcome};
use super::{PENDING_PREFIX, SOCKET, short_path};
use crate::container::store::ContainerStore;

/// How often a pending attacher looks for the monitor's socket.
const POLL: Duration = Duration::from_millis(20);

/// A connection welcomed by the monitor; frames follow.
#[derive(Debug)]
pub struct Session {
    /// The connection.
    pub stream: UnixStream,
    /// What the monitor said about the container.
    pub welcome: Welcome,
}

/// Connects to the monitor of container `id` now; `Ok(None)` when no monitor listens.
pub fn connect(store: &ContainerStore, id: &str, hello: &Hello) -> Result<Option<Session>> {
    let dir = store.dir(id);
    let (_dir_fd, short) = match short_path(&dir) {
        Ok(p) => p,
        Err(_) if !dir.exists() => {
            return Err(
                crate::error::EngineError::not_found(format!("No such container: {id}")).into(),
            );
        }
        Err(e) => return Err(e),
    };
    let mut stream = match UnixStream::connect(short.join(SOCKET)) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("connecting to {}", dir.join(SOCKET).display()));
        }
    };
    protocol::write_line(&mut stream, hello).context("attaching")?;
    let welcome = match protocol::read_line(&mut stream) {
        Ok(w) => w,
        // The monitor was closing down as we came.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e).context("attaching"),
    };
    Ok(Some(Session { stream, welcome }))
}

/// Registration of an attach that waits for the container to start (see the module doc).
/// Dropping it withdraws the registration.
#[derive(Debug)]
pub struct PendingAttach {
    path: PathBuf,
    token: String,
    _lock: File,
}

impl PendingAttach {
    /// Registers in container `id`'s directory.
    pub fn register(store: &ContainerStore, id: &str) -> Result<PendingAttach> {
        let bytes: [u8; 8] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let path = store.dir(id).join(format!("{PENDING_PREFIX}{token}"));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(PendingAttach {
            path,
            token,
            _lock: file,
        })
    }
}

impl Drop for PendingAttach {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Waits for the monitor of container `id` and connects with `pending`'s token, polling until
/// `give_up` says so (then `Ok(None)`). Fails when the container is removed meanwhile.
pub fn connect_when_started(
    store: &ContainerStore,
    id: &str,
    hello: &Hello,
    pending: PendingAttach,
    give_up: impl Fn() -> bool,
) -> Result<Option<Session>> {
    let hello = Hello {
        token: Some(pending.token.clone()),
        ..hello.clone()
    };
    loop {
        if let Some(session) = connect(store, id, &hello)? {
            drop(pending);
            return Ok(Some(session));
        }
        if give_up() {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}
