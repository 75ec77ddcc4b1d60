//! Live attach: the monitor of a detached container serves `<container-dir>/attach.sock`
//! (mode 0600), through which clients (`engine attach`, `engine start -a`, the API daemon)
//! get the container's output as it happens, feed its stdin and resize its TTY.
//!
//! # Protocol
//!
//! 1. The client sends one JSON line, a [`Hello`]: `{"stdin":true,"stdout":true,
//!    "stderr":true,"token":"..."}`.
//! 2. The monitor answers one JSON line, a [`Welcome`]: `{"tty":false,"open_stdin":true}`.
//! 3. Then both sides send frames with Docker's 8-byte header `[kind, 0, 0, 0, len u32 BE]`:
//!    - monitor to client: `1` stdout, `2` stderr (a TTY container's output is all `1`),
//!      `3` exit (payload: the exit code in decimal; the connection closes after it);
//!    - client to monitor: `0` stdin bytes, `1` end of this client's stdin, `2` resize
//!      (payload `"ROWS COLS"`).
//!
//! Output is framed even for a TTY so one reader serves both; the daemon turns it into
//! Docker's raw or multiplexed stream. A client gets output from the moment it is welcomed;
//! what came before is in the json-file log, which is written as before whether anyone is
//! attached or not.
//!
//! # Input
//!
//! A container created with `-i` has a pipe (or, with `-t`, the pty) as stdin, held by the
//! monitor; attached clients' stdin frames are written to it. When a client that sends stdin
//! ends it, the container's stdin is closed (Docker's StdinOnce, what `docker run -i` sets); a
//! client that just disconnects (detach keys, a dropped connection without an end frame)
//! leaves it open. A TTY's stdin is never closed this way. Resizes apply to the pty.
//!
//! # Attaching before the start
//!
//! `docker run` attaches to a created container, then starts it: no monitor (and no socket)
//! exists yet when it attaches. So an attacher first registers a [`PendingAttach`]: a file
//! `attach-pending-TOKEN` in the container's directory, locked while the attacher lives. A
//! monitor, after binding its socket and before starting the container the first time, waits
//! (up to ten seconds) until every pending token whose file is still locked has connected
//! with that token in its hello; unlocked (stale) ones are removed. The attacher polls for the
//! socket, connects, and drops its token once welcomed. So `create`, attach, `start` never
//! loses the first output, across processes (the CLI, the daemon), and a crashed attacher
//! delays nobody.
//!
//! Each run ends with an exit frame to every client and a disconnect; after a restart,
//! clients attach again. Socket paths can exceed the 108 bytes of `sun_path` (a data root in
//! /tmp plus a 64-digit id), so both sides go through `/proc/self/fd/N` of the directory.

mod client;
mod hub;
mod keys;
pub mod protocol;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use client::{PendingAttach, Session, connect, connect_when_started};
pub use hub::{Hub, Input};
pub use keys::DetachKeys;
pub use protocol::Hello;

/// The socket's name in the container's directory.
pub const SOCKET: &str = "attach.sock";
/// Pending-attach token files: this prefix, then the token.
const PENDING_PREFIX: &str = "attach-pending-";

/// `dir` as a short path `/proc/self/fd/N` (valid while the returned file is open).
fn short_path(dir: &Path) -> Result<(File, PathBuf)> {
    let file = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    Ok((file, short))
}
