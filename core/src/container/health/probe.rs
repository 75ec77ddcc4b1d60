//! The probe thread: while a container runs, its monitor runs one of these (Docker's health
//! monitor goroutine). Every interval it execs the test in the container as `engine exec`
//! does (the container's namespaces, cgroups, user, environment and confinement), keeps up to
//! [`MAX_OUTPUT`] bytes of its output, kills it at the timeout, and records the result in
//! the container's record, with Docker's `health_status: STATUS` event when the status
//! changes. Each probe is an exec with its `exec_create`/`exec_start`/`exec_die` events, as
//! Docker reports them.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{HealthConfig, HealthResult, MAX_OUTPUT, STARTING, UNHEALTHY, duration};
use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::container::{create, log, spec};
use crate::events::{self, Event, ExecEvents};

/// How long a wait for a probe's output lasts before its exit and the clock are looked at.
const TICK: u16 = 50;

/// A running probe thread; dropping it (or [`Prober::stop`]) stops it.
#[derive(Debug)]
pub struct Prober {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    /// Starts probing the container of `record`, which has just started (its state says
    /// running, with its init's pid); `None` when it has no health check to run.
    pub fn spawn(store: &ContainerStore, record: &Record) -> Option<Prober> {
        let config = record
            .config
            .healthcheck
            .clone()
            .filter(HealthConfig::probes)?;
        let (tx, rx) = mpsc::channel();
        let mut probing = Probing {
            store: store.clone(),
            id: record.id.clone(),
            pid: record.state.pid,
            config,
            started: Instant::now(),
            status: STARTING.into(),
        };
        let thread = std::thread::Builder::new()
            .name("health".into())
            .spawn(move || probing.run(&rx));
        match thread {
            Ok(t) => Some(Prober {
                stop: Some(tx),
                thread: Some(t),
            }),
            Err(e) => {
                tracing::warn!(container = %record.id, error = %e, "cannot start the health check thread");
                None
            }
        }
    }

    /// Stops probing: a probe under way is killed and its result dropped, as Docker drops
    /// it. Returns once the thread has ended, so nothing it does follows.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.halt();
    }
}

/// What the probe thread knows.
struct Probing {
    store: ContainerStore,
    id: String,
    pid: i32,
    config: HealthConfig,
    started: Instant,
    /// The status last recorded.
    status: String,
}

/// How one exec of the test went.
enum Outcome {
    /// It exited with this code and output.
    Exited(i32, String),
    /// It could not run, or ran past the timeout: Docker's exit code -1 and this message.
    Failed(String),
    /// Probing was stopped meanwhile.
    Stopped,
}

impl Probing {
    fn run(&mut self, stop: &Receiver<()>) {
        loop {
            let in_start_period = self.started.elapsed() < self.config.start_period();
            let wait = if in_start_period && self.status == STARTING {
                self.config.start_interval()
            } else {
                self.config.interval()
            };
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let Ok(record) = self.store.load(&self.id) else {
                return;
            };
            if record.state.paused {
                // Docker stops probing a paused container, which makes it unhealthy.
                self.set_unhealthy();
                continue;
            }
            let in_start_period = self.started.elapsed() < self.config.start_period();
            let start = log::now();
            let (exit_code, output) = match self.exec(&record, stop) {
                Outcome::Exited(code, out) => (i64::from(code), out),
                Outcome::Failed(message) => (-1, message),
                Outcome::Stopped => return,
            };
            // A container that ended (or froze) under the probe failed it for that reason
            // alone: its monitor stops the probes next, and the result would mislead.
            if exit_code != 0 && !self.init_running() {
                continue;
            }
            let result = HealthResult {
                start,
                end: log::now(),
                exit_code,
                output,
            };
            if !self.record(result, in_start_period) {
                return;
            }
        }
    }

    /// Records a result; false when the record is gone.
    fn record(&mut self, result: HealthResult, in_start_period: bool) -> bool {
        let retries = self.config.retries;
        let mut changed = false;
        let updated = self.store.update(&self.id, |r| {
            if let Some(h) = r.state.health.as_mut() {
                changed = h.record(result, retries, in_start_period);
            }
        });
        let Ok(record) = updated else {
            return false;
        };
        if let Some(h) = &record.state.health {
            self.status = h.status.clone();
        }
        if changed {
            let action = format!("health_status: {}", self.status);
            events::emit(self.store.data_root(), Event::container(action, &record));
        }
        true
    }

    fn set_unhealthy(&mut self) {
        if self.status == UNHEALTHY {
            return;
        }
        let _ = self.store.update(&self.id, |r| {
            if let Some(h) = r.state.health.as_mut() {
                h.status = UNHEALTHY.into();
            }
        });
        self.status = UNHEALTHY.into();
    }

    /// Whether the container's init still runs (not ended, not frozen).
    fn init_running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next())
            })
            .is_some_and(|state| !matches!(state, 'Z' | 'X' | 'x'))
            && self
                .store
                .load(&self.id)
                .is_ok_and(|r| r.state.running && !r.state.paused)
    }

    /// Runs the test once in the container.
    fn exec(&self, record: &Record, stop: &Receiver<()>) -> Outcome {
        let command = self.config.command();
        if command.is_empty() {
            return Outcome::Failed(format!(
                "healthcheck for container {} has no command",
                self.id
            ));
        }
        let rootfs = PathBuf::from(format!("/proc/{}/root", self.pid));
        let mut process = match spec::process(record, &rootfs, false, false) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        };
        process.args = command.clone();
        let (reader, stdout, stderr) = match output_pipe() {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("creating the probe's output pipe: {e}")),
        };
        let stdio = runtime::StdioSet {
            stdin: runtime::Stdio::Null,
            stdout: runtime::Stdio::Fd(stdout),
            stderr: runtime::Stdio::Fd(stderr),
        };
        let events = ExecEvents::new(
            self.store.data_root(),
            record,
            &create::random_id(),
            &command,
        );
        events.created();
        let mut proc = match runtime::exec(self.pid, &process, stdio) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::Failed(format!(
                    "OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown"
                ));
            }
        };
        events.started();
        // As Docker's, the timeout runs from the probe's start, not the exec's set-up.
        let timeout = self.config.timeout();
        let deadline = Instant::now() + timeout;
        let mut output = Output::default();
        loop {
            output.wait_and_read(&reader);
            match proc.try_wait() {
                Ok(Some(status)) => {
                    // What it wrote before exiting is in the pipe.
                    output.read_available(&reader);
                    events.died(status.code);
                    return Outcome::Exited(status.code, output.text());
                }
                Ok(None) => {}
                Err(e) => return Outcome::Failed(format!("waiting for the probe: {e}")),
            }
            let stopped = !matches!(stop.try_recv(), Err(TryRecvError::Empty));
            if stopped || Instant::now() >= deadline {
                let _ = proc.kill(libc::SIGKILL);
                let code = proc.wait().map(|s| s.code).unwrap_or(137);
                events.died(code);
                if stopped {
                    return Outcome::Stopped;
                }
                output.read_available(&reader);
                let limit = duration::format(timeout.as_nanos() as i64);
                let out = output.text();
                return Outcome::Failed(if out.is_empty() {
                    format!("Health check exceeded timeout ({limit})")
                } else {
                    format!("Health check exceeded timeout ({limit}): {out}")
                });
            }
        }
    }
}

/// One pipe for the probe's stdout and stderr (Docker keeps them in one buffer); the read
/// end does not block.
fn output_pipe() -> io::Result<(File, OwnedFd, OwnedFd)> {
    let (r, w) = io::pipe()?;
    let r = File::from(OwnedFd::from(r));
    let flags = fcntl(&r, FcntlArg::F_GETFL)?;
    fcntl(
        &r,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    let w = OwnedFd::from(w);
    let w2 = w.try_clone()?;
    Ok((r, w, w2))
}

/// The first [`MAX_OUTPUT`] bytes of a probe's output; the rest is read and dropped, so the
/// probe never blocks on a full pipe.
#[derive(Default)]
struct Output {
    kept: Vec<u8>,
    truncated: bool,
    ended: bool,
}

impl Output {
    /// Waits a tick for output, then reads what there is.
    fn wait_and_read(&mut self, reader: &File) {
        if self.ended {
            std::thread::sleep(Duration::from_millis(u64::from(TICK)));
            return;
        }
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(TICK));
        self.read_available(reader);
    }

    /// Reads without blocking until the pipe is empty or closed.
    fn read_available(&mut self, mut reader: &File) {
        let mut buf = [0u8; 4096];
        while !self.ended {
            match reader.read(&mut buf) {
                Ok(0) => self.ended = true,
                Ok(n) => {
                    let room = MAX_OUTPUT - self.kept.len();
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                    self.truncated |= n > room;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    /// The output as Docker stores it: "..." marks a cut.
    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.kept).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn output_keeps_4096_bytes_and_marks_the_cut() {
        let (r, w, _w2) = output_pipe().unwrap();
        let mut w = File::from(w);
        let mut out = Output::default();
        w.write_all(b"hello ").unwrap();
        out.read_available(&r);
        assert_eq!(out.text(), "hello ");
        w.write_all(&[b'x'; 5000]).unwrap();
        out.read_available(&r);
        let t = out.text();
        assert_eq!(t.len(), MAX_OUTPUT + 3);
        assert!(t.ends_with("xxx..."), "{}", &t[t.len() - 10..]);
    }
}
