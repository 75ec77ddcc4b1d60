//! The engine's side of a `-t` pty (whose master comes from the container, see `console.rs`):
//! window sizes, raw mode, and [`copy_pty`], the host side of an interactive run.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};

use crate::{Error, IoContext, Result};

/// The window size (rows, columns) of a terminal, or `None` when `fd` is not one.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sets the window size of a pty (the kernel sends SIGWINCH to its foreground group).
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the struct we pass.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc != 0 {
        return Err(Error::io("set window size", "", io::Error::last_os_error()));
    }
    Ok(())
}

/// Puts a terminal in raw mode and restores its settings when dropped.
#[derive(Debug)]
pub struct RawModeGuard<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawModeGuard<'a> {
    /// Switches `fd` to raw mode; `Ok(None)` when it is not a terminal.
    pub fn new(fd: BorrowedFd<'a>) -> Result<Option<Self>> {
        if !nix::unistd::isatty(fd).unwrap_or(false) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(fd).ctx("read terminal settings", "")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ctx("set raw mode", "")?;
        Ok(Some(RawModeGuard { fd, saved }))
    }
}

impl Drop for RawModeGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = termios::tcsetattr(self.fd, SetArg::TCSANOW, &self.saved) {
            tracing::warn!(error = %e, "cannot restore terminal settings");
        }
    }
}

/// How often the host terminal's size is checked and forwarded to the pty.
const RESIZE_POLL_MS: u16 = 200;

/// Copies a container's pty to and from the host: `stdin` → `master`, `master` → `stdout`,
/// until the container side is closed (the read on the master fails with EIO once every
/// process holding the slave has exited). When `stdin` is a terminal it is put in raw mode
/// (restored on return) and its window size is forwarded to the pty, now and when it changes.
/// End of `stdin` stops the input direction only.
pub fn copy_pty(
    master: BorrowedFd<'_>,
    stdin: BorrowedFd<'_>,
    stdout: BorrowedFd<'_>,
) -> Result<()> {
    let _raw = RawModeGuard::new(stdin)?;
    let mut last_size = window_size(stdin);
    if let Some((rows, cols)) = last_size {
        set_window_size(master, rows, cols)?;
    }
    let mut out = std::fs::File::from(stdout.try_clone_to_owned().ctx("dup stdout", "")?);
    let mut stdin_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![PollFd::new(master, PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::from(RESIZE_POLL_MS)) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::errno("poll pty", "", e as i32)),
            Ok(_) => {}
        }
        let master_ready = fds[0].any().unwrap_or(false);
        let stdin_ready = stdin_open && fds.get(1).and_then(|f| f.any()).unwrap_or(false);
        if master_ready {
            match nix::unistd::read(master, &mut buf) {
                // EIO: the slave side is gone, the container has exited.
                Ok(0) | Err(nix::errno::Errno::EIO) => break,
                Ok(n) => {
                    out.write_all(&buf[..n]).ctx("write pty output", "")?;
                    out.flush().ctx("write pty output", "")?;
                }
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(Error::errno("read pty", "", e as i32)),
            }
        }
        if stdin_ready {
            match nix::unistd::read(stdin, &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => write_all(master, &buf[..n])?,
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
        let size = window_size(stdin);
        if size != last_size {
            if let Some((rows, cols)) = size {
                set_window_size(master, rows, cols)?;
            }
            last_size = size;
        }
    }
    Ok(())
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            // The container is gone; its output side will end the loop.
            Err(nix::errno::Errno::EIO) => return Ok(()),
            Err(e) => return Err(Error::errno("write pty input", "", e as i32)),
        }
    }
    Ok(())
}
