//! The monitor's side: the listening socket, the attached clients, and where their input goes.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::protocol::{self, Hello, Welcome};
use super::{PENDING_PREFIX, SOCKET, short_path};

/// How long a client may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that does not take output for this long is dropped rather than stall the
/// container (whose output would back up behind it).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where attached input goes during one run.
#[derive(Debug)]
pub enum Input {
    /// The write end of the container's stdin pipe (`-i` without `-t`).
    Pipe(File),
    /// A duplicate of the pty master (`-t`): input, and resizes.
    Pty(File),
}

/// The container's stdin as attached clients see it.
#[derive(Debug)]
enum Stdin {
    /// No run yet (or between runs): input is kept for the next run, as is its end and the
    /// last window size, so a client that attached before the start loses nothing.
    Waiting {
        buffered: Vec<u8>,
        closed: bool,
        size: Option<(u16, u16)>,
    },
    /// A run's stdin.
    Open(Input),
    /// Closed for this run (StdinOnce), or nothing to write to.
    Closed,
}

impl Default for Stdin {
    fn default() -> Self {
        Stdin::Waiting {
            buffered: Vec::new(),
            closed: false,
            size: None,
        }
    }
}

/// At most this much input is kept for a container that has not started yet.
const MAX_BUFFERED_INPUT: usize = 1 << 20;

#[derive(Debug)]
struct Client {
    id: u64,
    stream: UnixStream,
    stdout: bool,
    stderr: bool,
}

#[derive(Debug, Default)]
struct Clients {
    list: Vec<Client>,
    next_id: u64,
    tokens_seen: HashSet<String>,
    closed: bool,
}

/// The attach socket of one container and everyone attached to it.
#[derive(Debug)]
pub struct Hub {
    dir: PathBuf,
    welcome: Welcome,
    clients: Mutex<Clients>,
    arrived: Condvar,
    /// Separate from `clients`: a write to a full stdin pipe may block, and output must still
    /// flow meanwhile (the container may be blocked writing it).
    input: Mutex<Stdin>,
}

impl Hub {
    /// Listens on `<dir>/attach.sock` (mode 0600, replacing a dead monitor's socket) and
    /// serves clients on threads of their own.
    pub fn bind(dir: &Path, tty: bool, open_stdin: bool) -> Result<Arc<Hub>> {
        let (_dir_fd, short) = short_path(dir)?;
        let tmp = short.join(format!("{SOCKET}.tmp"));
        let _ = fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp)
            .with_context(|| format!("listening on {}", dir.join(SOCKET).display()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod {}", dir.join(SOCKET).display()))?;
        // Renamed into place only once private, so nobody connects to it earlier.
        fs::rename(&tmp, short.join(SOCKET))
            .with_context(|| format!("creating {}", dir.join(SOCKET).display()))?;
        let hub = Arc::new(Hub {
            dir: dir.to_path_buf(),
            welcome: Welcome { tty, open_stdin },
            clients: Mutex::new(Clients::default()),
            arrived: Condvar::new(),
            input: Mutex::new(Stdin::default()),
        });
        let accepting = Arc::clone(&hub);
        std::thread::Builder::new()
            .name("attach-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    if accepting.lock_clients().closed {
                        break;
                    }
                    let hub = Arc::clone(&accepting);
                    let spawned = std::thread::Builder::new()
                        .name("attach-client".into())
                        .spawn(move || hub.serve(conn));
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot serve an attach client");
                    }
                }
            })
            .context("starting the attach thread")?;
        Ok(hub)
    }

    fn lock_clients(&self) -> MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_input(&self) -> MutexGuard<'_, Stdin> {
        self.input.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One client: hello, welcome, then its input frames until it goes.
    fn serve(&self, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(HELLO_TIMEOUT));
        let hello: Hello = match protocol::read_line(&mut conn) {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(error = %e, "attach client sent no hello");
                return;
            }
        };
        let _ = conn.set_read_timeout(None);
        let _ = conn.set_write_timeout(Some(WRITE_TIMEOUT));
        let Ok(writer) = conn.try_clone() else { return };
        let id = {
            let mut clients = self.lock_clients();
            if clients.closed {
                return;
            }
            // Under the lock: no output frame can come before the welcome.
            if protocol::write_line(&mut conn, &self.welcome).is_err() {
                return;
            }
            let id = clients.next_id;
            clients.next_id += 1;
            clients.list.push(Client {
                id,
                stream: writer,
                stdout: hello.stdout,
                stderr: hello.stderr,
            });
            if let Some(token) = &hello.token {
                clients.tokens_seen.insert(token.clone());
                self.arrived.notify_all();
            }
            id
        };
        let takes_input = hello.stdin && self.welcome.open_stdin;
        loop {
            let (kind, payload) = match protocol::read_frame(&mut conn) {
                // A client may half-close and still read output; it is dropped when a write
                // to it fails or the run ends. One that wants no output is done.
                Ok(None) if hello.stdout || hello.stderr => return,
                Ok(None) => break,
                Ok(Some(f)) => f,
                Err(_) => break,
            };
            match kind {
                protocol::STDIN if takes_input => self.write_input(&payload),
                protocol::CLOSE_STDIN if takes_input => self.close_input(),
                protocol::RESIZE => {
                    if let Some((rows, cols)) = protocol::parse_resize(&payload) {
                        self.resize(rows, cols);
                    }
                }
                _ => {}
            }
        }
        self.lock_clients().list.retain(|c| c.id != id);
    }

    fn write_input(&self, data: &[u8]) {
        let mut input = self.lock_input();
        let result = match &mut *input {
            Stdin::Open(Input::Pipe(f) | Input::Pty(f)) => f.write_all(data),
            Stdin::Waiting { buffered, .. } => {
                if buffered.len() + data.len() <= MAX_BUFFERED_INPUT {
                    buffered.extend_from_slice(data);
                } else {
                    tracing::warn!("input for a container that has not started is dropped");
                }
                Ok(())
            }
            Stdin::Closed => Ok(()),
        };
        if let Err(e) = result {
            // The container closed its stdin (or exited): nothing more can go in.
            tracing::debug!(error = %e, "attached input dropped");
            *input = Stdin::Closed;
        }
    }

    /// Docker's StdinOnce: a client's end of input closes the container's stdin. A TTY has no
    /// end of input to pass on; its stdin stays open.
    fn close_input(&self) {
        let mut input = self.lock_input();
        match &mut *input {
            Stdin::Open(Input::Pipe(_)) => *input = Stdin::Closed,
            Stdin::Waiting { closed, .. } => *closed = true,
            _ => {}
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        match &mut *self.lock_input() {
            Stdin::Open(Input::Pty(f)) => {
                if let Err(e) = runtime::set_window_size(f.as_fd(), rows, cols) {
                    tracing::debug!(error = %e, "resize failed");
                }
            }
            Stdin::Waiting { size, .. } => *size = Some((rows, cols)),
            _ => {}
        }
    }

    /// Starts a run: attached input goes to `input` from now on, after what was sent before.
    pub fn begin_run(&self, input: Option<Input>) {
        let mut state = self.lock_input();
        let before = std::mem::replace(&mut *state, Stdin::Closed);
        let Some(mut input) = input else {
            return;
        };
        if let Stdin::Waiting {
            buffered,
            closed,
            size,
        } = before
        {
            if let (Input::Pty(f), Some((rows, cols))) = (&input, size) {
                let _ = runtime::set_window_size(f.as_fd(), rows, cols);
            }
            let (Input::Pipe(f) | Input::Pty(f)) = &mut input;
            if !buffered.is_empty() && f.write_all(&buffered).is_err() {
                return;
            }
            if closed && matches!(input, Input::Pipe(_)) {
                return;
            }
        }
        *state = Stdin::Open(input);
    }

    /// Ends a run: closes the container's stdin, sends every client the exit code, and
    /// disconnects them all.
    pub fn end_run(&self, exit_code: Option<i32>) {
        *self.lock_input() = Stdin::default();
        let mut clients = self.lock_clients();
        for mut c in clients.list.drain(..) {
            if let Some(code) = exit_code {
                let _ = protocol::write_frame(
                    &mut c.stream,
                    protocol::EXIT,
                    code.to_string().as_bytes(),
                );
            }
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Sends output to every client that asked for `stream` ([`protocol::STDOUT`] or
    /// [`protocol::STDERR`]); a client that cannot take it is dropped.
    pub fn broadcast(&self, stream: u8, data: &[u8]) {
        let mut clients = self.lock_clients();
        clients.list.retain_mut(|c| {
            let wants = if stream == protocol::STDERR {
                c.stderr
            } else {
                c.stdout
            };
            if !wants {
                return true;
            }
            match protocol::write_frame(&mut c.stream, stream, data) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(error = %e, "dropping an attach client");
                    let _ = c.stream.shutdown(std::net::Shutdown::Both);
                    false
                }
            }
        });
    }

    /// A writer for [`crate::container::log::LogWriter::copy`]'s echo.
    pub fn writer(self: &Arc<Self>, stream: u8) -> HubWriter {
        HubWriter {
            hub: Arc::clone(self),
            stream,
        }
    }

    /// Before the first start: waits (at most `timeout`) until every client that registered a
    /// pending attach (see [`super::PendingAttach`]) and still lives has connected, so
    /// `create`, attach, `start` loses no output.
    pub fn await_pending(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let waiting = self.live_pending_tokens();
            let mut clients = self.lock_clients();
            if waiting.iter().all(|t| clients.tokens_seen.contains(t)) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!("pending attach clients did not connect in time; starting anyway");
                return;
            }
            // Woken by an arrival; the timeout re-checks for clients that gave up.
            let wait = (deadline - now).min(Duration::from_millis(50));
            clients = self
                .arrived
                .wait_timeout(clients, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
            drop(clients);
        }
    }

    /// Tokens of pending attaches whose owner still holds the lock; stale ones are removed.
    fn live_pending_tokens(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut live = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(token) = name.strip_prefix(PENDING_PREFIX) else {
                continue;
            };
            let Ok(file) = File::open(entry.path()) else {
                continue;
            };
            match file.try_lock() {
                Err(fs::TryLockError::WouldBlock) => live.push(token.to_string()),
                _ => {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        live
    }

    /// Stops accepting, disconnects everyone and removes the socket.
    pub fn close(&self) {
        self.lock_clients().closed = true;
        self.end_run(None);
        if let Ok((_fd, short)) = short_path(&self.dir) {
            // Wakes the accept thread so it sees `closed`.
            let _ = UnixStream::connect(short.join(SOCKET));
            let _ = fs::remove_file(short.join(SOCKET));
        }
    }
}

/// Output of one stream to the attached clients.
#[derive(Debug)]
pub struct HubWriter {
    hub: Arc<Hub>,
    stream: u8,
}

impl Write for HubWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hub.broadcast(self.stream, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Read;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::container::attach::{PendingAttach, connect, connect_when_started};
    use crate::container::store::ContainerStore;

    fn store_with(id: &str) -> (tempfile::TempDir, ContainerStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(dir.path()).unwrap();
        fs::create_dir(store.dir(id)).unwrap();
        (dir, store)
    }

    #[test]
    fn input_before_the_run_is_kept_for_it_with_its_end() {
        let (_dir, store) = store_with("c");
        let hub = Hub::bind(&store.dir("c"), false, true).unwrap();
        hub.write_input(b"early ");
        hub.write_input(b"input");
        hub.close_input();
        let (mut r, w) = io::pipe().unwrap();
        hub.begin_run(Some(Input::Pipe(File::from(std::os::fd::OwnedFd::from(w)))));
        let mut got = String::new();
        // EOF comes: the end of input was kept too, and the pipe closed with it.
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "early input");
        hub.close();
    }

    #[test]
    fn clients_get_the_streams_they_asked_for_then_the_exit() {
        let (_dir, store) = store_with("c");
        let hub = Hub::bind(&store.dir("c"), false, false).unwrap();
        let hello = Hello {
            stdout: true,
            ..Hello::default()
        };
        let mut session = connect(&store, "c", &hello).unwrap().unwrap();
        assert_eq!(
            session.welcome,
            Welcome {
                tty: false,
                open_stdin: false
            }
        );
        hub.broadcast(protocol::STDERR, b"not for you");
        hub.broadcast(protocol::STDOUT, b"out");
        hub.end_run(Some(3));
        let s = &mut session.stream;
        assert_eq!(
            protocol::read_frame(s).unwrap(),
            Some((protocol::STDOUT, b"out".to_vec()))
        );
        assert_eq!(
            protocol::read_frame(s).unwrap(),
            Some((protocol::EXIT, b"3".to_vec()))
        );
        assert_eq!(protocol::read_frame(s).unwrap(), None);
        hub.close();
        assert!(!store.dir("c").join(SOCKET).exists());
        assert!(connect(&store, "c", &hello).unwrap().is_none());
    }

    #[test]
    fn the_monitor_waits_for_a_pending_attach_and_drops_stale_ones() {
        let (_dir, store) = store_with("c");
        // A stale token: its owner is gone (the file is not locked).
        fs::write(store.dir("c").join(format!("{PENDING_PREFIX}dead")), b"").unwrap();
        let pending = PendingAttach::register(&store, "c").unwrap();
        let client = {
            let store = store.clone();
            std::thread::spawn(move || {
                // Connects only after a while: the monitor must wait for it.
                std::thread::sleep(Duration::from_millis(300));
                connect_when_started(&store, "c", &Hello::default(), pending, || false)
                    .unwrap()
                    .is_some()
            })
        };
        let hub = Hub::bind(&store.dir("c"), false, false).unwrap();
        let started = Instant::now();
        hub.await_pending(Duration::from_secs(10));
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(client.join().unwrap());
        let left: Vec<_> = fs::read_dir(store.dir("c"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(PENDING_PREFIX))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        hub.close();
    }
}
