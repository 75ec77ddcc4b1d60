//! The terminal of a `-t` process, made as runc makes it: the process itself, once it is in
//! the container's mount namespace and root, opens a pty on the container's own devpts
//! instance (`/dev/pts/ptmx`; the instance is mounted `newinstance` by `rootfs.rs`), makes the
//! slave its controlling terminal and standard streams, and hands the master to the engine over
//! a unix socket (`SCM_RIGHTS`). So the slave is `/dev/pts/N` of the container's devpts, where
//! `tty` and `ls /dev/pts` inside find it, with the instance's `gid=5,mode=620`; the host's
//! devpts is never involved.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::{Error, IoContext, Result};

/// The container's pty multiplexer: the `ptmx` node of its own devpts instance (what its
/// `/dev/ptmx` symlink points to), named directly so a replaced symlink cannot redirect it.
const PTMX: &str = "/dev/pts/ptmx";

/// Both ends of the socket the master travels over: the engine keeps one, the child gets the
/// other across its forks.
#[derive(Debug)]
pub(crate) struct ConsoleSocket {
    engine: OwnedFd,
    child: OwnedFd,
}

impl ConsoleSocket {
    /// A connected pair, both ends close-on-exec (the child's end must not reach the command).
    pub(crate) fn new() -> Result<ConsoleSocket> {
        let (engine, child) = nix::sys::socket::socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx("create console socket", "")?;
        Ok(ConsoleSocket { engine, child })
    }

    /// The end the child sends on.
    pub(crate) fn child_fd(&self) -> RawFd {
        self.child.as_raw_fd()
    }

    /// In the engine, once the child has exec'd: the master it sent. Our copy of the child's
    /// end goes first, so a child that sent nothing reads as end of file, not a hang.
    pub(crate) fn receive(self) -> Result<OwnedFd> {
        drop(self.child);
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!(RawFd);
        let msg = loop {
            match nix::sys::socket::recvmsg::<()>(
                self.engine.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.ctx("receive the pty master", "")?,
            }
        };
        let mut master = None;
        for cmsg in msg.cmsgs().ctx("receive the pty master", "")? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for fd in fds {
                    // SAFETY: SCM_RIGHTS installed this descriptor in our table just now; we
                    // are its only owner.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    master.get_or_insert(owned);
                }
            }
        }
        master.ok_or_else(|| {
            Error::io(
                "receive the pty master",
                "",
                std::io::Error::other("the container process sent no terminal"),
            )
        })
    }
}

/// In the child, inside the container's root, after `setsid`: a new pty on the container's
/// devpts; the slave (owned by `owner`, the user the process becomes, as runc does, so it can
/// reopen its own terminal) becomes fds 0, 1, 2 and the controlling terminal; the master goes
/// to the engine over `sock`, sized `size` (rows, columns) when given. Returns the slave's
/// path in the container.
pub(crate) fn setup(sock: RawFd, owner: u32, size: Option<(u16, u16)>) -> Result<PathBuf> {
    let master = nix::fcntl::open(
        PTMX,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx("open pty master", PTMX)?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer we pass.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(last_error("unlock pty", PTMX));
    }
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into the variable we pass.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) } < 0 {
        return Err(last_error("read pty number", PTMX));
    }
    let path = PathBuf::from(format!("/dev/pts/{number}"));
    let slave = open_peer(&master, &path)?;
    if let Some((rows, cols)) = size {
        crate::pty::set_window_size(master.as_fd(), rows, cols)?;
    }
    nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(owner)), None)
        .ctx("chown pty", &path)?;
    for target in 0..=2 {
        // SAFETY: dup2 onto 0..=2 replaces this process's standard streams, which is the
        // point; the source is the slave we own.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(last_error("install pty as stdio", &path));
        }
    }
    drop(slave);
    // SAFETY: TIOCSCTTY takes an integer argument; fd 0 is the slave, we lead a new session.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(last_error("set controlling terminal", &path));
    }
    let fds = [master.as_raw_fd()];
    let sent = loop {
        match nix::sys::socket::sendmsg::<()>(
            sock,
            &[IoSlice::new(b"t")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    sent.ctx("send the pty master", &path)?;
    Ok(path)
}

/// The slave of `master`: through TIOCGPTPEER (no path lookup to race), or by its path on
/// kernels before 4.13.
fn open_peer(master: &OwnedFd, path: &std::path::Path) -> Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags as its integer argument and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd >= 0 {
        // SAFETY: the ioctl returned a new descriptor that nothing else owns.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    let err = std::io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOTTY)) {
        return Err(Error::io("open pty slave", path, err));
    }
    nix::fcntl::open(
        path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx("open pty slave", path)
}

fn last_error(op: &'static str, path: impl Into<PathBuf>) -> Error {
    Error::io(op, path, std::io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_descriptor_arrives_and_silence_is_an_error() {
        // A child that sent nothing (it failed before its terminal): an error, not a hang.
        let err = ConsoleSocket::new().unwrap().receive().unwrap_err();
        assert!(err.to_string().contains("sent no terminal"), "{err}");

        let socket = ConsoleSocket::new().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::sys::socket::sendmsg::<()>(
            socket.child_fd(),
            &[IoSlice::new(b"t")],
            &[ControlMessage::ScmRights(&[w.as_raw_fd()])],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        drop(w);
        let got = socket.receive().unwrap();
        // The received end is close-on-exec and is the pipe's write end.
        let flags = nix::fcntl::fcntl(&got, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert!(flags & libc::FD_CLOEXEC != 0);
        nix::unistd::write(&got, b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut buf).unwrap(), 1);
        assert_eq!(&buf, b"x");
    }
}
