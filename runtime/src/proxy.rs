//! Publishing a container's TCP port on the host (`-p HOST:CONTAINER`) with a userspace proxy,
//! like docker-proxy: a listener on the host; for each connection, a short-lived thread enters
//! the container's network namespace, connects to 127.0.0.1:PORT there, and the two sockets
//! are then copied into each other.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::sched::CloneFlags;

use crate::{Error, IoContext, Result};

/// A published port. Dropping it (or [`ProxyHandle::stop`]) closes the listener; connections
/// already established run until either side closes.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    // Shared with the accept thread so the descriptor stays ours until the handle is gone.
    listener: Arc<TcpListener>,
    thread: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The host address actually bound (the port is filled in when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for the listener thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // SAFETY: shutdown on the listening socket we hold (through the Arc) wakes the
            // accept thread's blocking accept(); no memory is passed.
            unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
            let _ = thread.join();
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Listens on `host_addr` and forwards each connection to `127.0.0.1:container_port` in the
/// network namespace of the process `container_pid`. An address already in use is
/// [`Error::AddrInUse`] (Docker's "port is already allocated").
pub fn publish_tcp(
    container_pid: i32,
    host_addr: SocketAddr,
    container_port: u16,
) -> Result<ProxyHandle> {
    let ns_path = PathBuf::from(format!("/proc/{container_pid}/ns/net"));
    // Held open for the proxy's life, so it keeps working with the namespace, not the pid.
    let netns = Arc::new(File::open(&ns_path).ctx("open network namespace", &ns_path)?);
    let listener = TcpListener::bind(host_addr).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            Error::AddrInUse { addr: host_addr }
        } else {
            Error::io("listen on", host_addr.to_string(), e)
        }
    })?;
    let local_addr = listener
        .local_addr()
        .ctx("listen on", host_addr.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let listener = Arc::new(listener);
    let (listener2, stop_flag) = (Arc::clone(&listener), Arc::clone(&stop));
    let thread = std::thread::Builder::new()
        .name(format!("proxy-{}", local_addr.port()))
        .spawn(move || accept_loop(&listener2, netns, container_port, stop_flag))
        .ctx("spawn proxy thread", local_addr.to_string())?;
    tracing::debug!(%local_addr, container_pid, container_port, "publishing port");
    Ok(ProxyHandle {
        local_addr,
        stop,
        listener,
        thread: Some(thread),
    })
}

fn accept_loop(listener: &TcpListener, netns: Arc<File>, port: u16, stop: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let client = match conn {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    tracing::warn!(error = %e, "proxy accept failed");
                }
                return;
            }
        };
        let netns = Arc::clone(&netns);
        let spawned = std::thread::Builder::new()
            .name("proxy-conn".into())
            .spawn(move || match connect_in(&netns, port) {
                Ok(backend) => splice(client, backend),
                Err(e) => tracing::warn!(error = %e, port, "proxy cannot reach the container"),
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot spawn proxy connection thread");
        }
    }
}

/// Connects to 127.0.0.1:`port` inside the namespace, from a thread that exists only for
/// that: setns changes the calling thread's namespace and the socket keeps it.
fn connect_in(netns: &Arc<File>, port: u16) -> Result<TcpStream> {
    let netns = Arc::clone(netns);
    std::thread::spawn(move || -> Result<TcpStream> {
        nix::sched::setns(&*netns, CloneFlags::CLONE_NEWNET).ctx("join network namespace", "")?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        TcpStream::connect(addr).ctx("connect to container port", addr.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err(Error::InvalidInput("proxy connect thread panicked".into())))
}

/// Copies both directions until each side has closed its half.
fn splice(client: TcpStream, backend: TcpStream) {
    let (Ok(mut client_r), Ok(mut backend_r)) = (client.try_clone(), backend.try_clone()) else {
        return;
    };
    let (mut client_w, mut backend_w) = (client, backend);
    let upstream = std::thread::spawn(move || {
        let _ = io::copy(&mut client_r, &mut backend_w);
        let _ = backend_w.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut backend_r, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Write);
    let _ = upstream.join();
}
