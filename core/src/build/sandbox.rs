//! The intermediate container of a build step: a writable layer on the step's parent image,
//! mounted, worked on (a RUN process, a COPY), committed as a new read-only layer through the
//! layer store, and removed, also when the step fails (Drop).

use std::io::{Read, Seek};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use anyhow::{Context, Result, bail};
use graph::{ChainId, CreateOpts, DiffId, Layer};
use nix::sys::signal::{SigSet, Signal};
use runtime::{BindMount, Container, ContainerSpec, Network, ProcessSpec, Stdio, StdioSet};

use crate::container::create::random_id;
use crate::engine::Engine;
use distribution::ingest::Ingest;
use distribution::owned::{Lease, Scratch};

/// A writable layer for one step.
#[derive(Debug)]
pub struct Sandbox<'e> {
    engine: &'e Engine,
    id: String,
    rootfs: Option<PathBuf>,
    /// Held for the step's life: if the builder is killed, the next start's sweep finds it
    /// unlocked and kills the step's process, unmounts and removes its layer and cgroup.
    _lease: Lease,
}

impl<'e> Sandbox<'e> {
    /// A writable layer on `parent` (`None`: empty, for a scratch image).
    pub fn create(engine: &'e Engine, parent: Option<&ChainId>) -> Result<Self> {
        let id = random_id();
        let lease = Lease::take(
            &engine.settings.data_root,
            &format!("{}{id}", crate::sweep::BUILD_LEASE),
        )?;
        engine
            .layers
            .create_rw(&id, parent, &CreateOpts::default())
            .context("creating the build step's writable layer")?;
        Ok(Sandbox {
            engine,
            id,
            rootfs: None,
            _lease: lease,
        })
    }

    /// The 12-digit id printed as `Running in ...`.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Mounts the layer (once) and returns its root.
    pub fn rootfs(&mut self) -> Result<PathBuf> {
        if let Some(r) = &self.rootfs {
            return Ok(r.clone());
        }
        let r = self
            .engine
            .layers
            .mount_rw(&self.id)
            .context("mounting the build step's writable layer")?;
        self.rootfs = Some(r.clone());
        Ok(r)
    }

    fn unmount(&mut self) -> Result<()> {
        if self.rootfs.take().is_some() {
            self.engine.layers.unmount_rw(&self.id)?;
        }
        Ok(())
    }

    /// Commits the changes as a new layer on the image whose layers are `base` (the step's
    /// stage), through an ingest that [`super::builder`] ends by creating the step's image;
    /// the writable layer is removed.
    pub fn commit(mut self, base: &[DiffId]) -> Result<(Ingest<'e>, Layer)> {
        self.unmount()?;
        let engine = self.engine;
        let mut ingest = Ingest::new(engine.stores())?;
        for d in base {
            if !ingest.reuse(d)? {
                bail!("the layer {d} of the build step's base is missing");
            }
        }
        let layer = ingest.adopt(|note| {
            (engine.layers)
                .commit_rw_noting(&self.id, note)
                .context("committing the build step's changes")
        })?;
        Ok((ingest, layer))
    }
}

impl Drop for Sandbox<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            tracing::warn!(layer = %self.id, error = %e, "cannot unmount a build step's layer");
        }
        if let Err(e) = self.engine.layers.remove_rw(&self.id) {
            tracing::warn!(layer = %self.id, error = %e, "cannot remove a build step's layer");
        }
    }
}

/// How a RUN process runs.
#[derive(Debug)]
pub struct RunSpec {
    /// The command.
    pub args: Vec<String>,
    /// Its environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// `USER` in effect.
    pub user: String,
    /// The host's network (default) or none.
    pub network: Network,
    /// Capture the output (printed only on failure) instead of streaming it.
    pub quiet: bool,
    /// Where the output goes.
    pub output: super::Output,
    /// Resources and `--add-host` entries.
    pub limits: super::limits::RunLimits,
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP during a build kill the step's running process, so the
/// step fails and its writable layer is removed as any failed step's is, instead of the build
/// dying with the layer left behind.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    pid: Arc<AtomicI32>,
    hit: Arc<AtomicBool>,
}

impl Interrupt {
    /// Takes the signals (blocked here, so in every thread started after, and waited for by
    /// a thread of their own).
    pub fn install() -> Result<Interrupt> {
        let me = Interrupt::default();
        let mut set = SigSet::empty();
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(sig);
        }
        set.thread_block().context("blocking signals")?;
        let (pid, hit) = (Arc::clone(&me.pid), Arc::clone(&me.hit));
        std::thread::Builder::new()
            .name("build-signals".into())
            .spawn(move || {
                while set.wait().is_ok() {
                    hit.store(true, Ordering::SeqCst);
                    let target = pid.load(Ordering::SeqCst);
                    if target > 0 {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(target),
                            Signal::SIGKILL,
                        );
                    }
                }
            })
            .context("starting the signal thread")?;
        Ok(me)
    }

    /// Interrupts the build as a signal would: the step's process is killed and the build
    /// fails (a daemon's build whose client has gone).
    pub fn trigger(&self) {
        self.hit.store(true, Ordering::SeqCst);
        let target = self.pid.load(Ordering::SeqCst);
        if target > 0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(target), Signal::SIGKILL);
        }
    }

    /// Fails once a signal has come.
    pub fn check(&self) -> Result<()> {
        if self.hit.load(Ordering::SeqCst) {
            bail!("the build was interrupted");
        }
        Ok(())
    }
}

/// Runs the process to completion in the sandbox; returns its exit code.
pub fn run(sandbox: &mut Sandbox<'_>, spec: &RunSpec, interrupt: &Interrupt) -> Result<i32> {
    let rootfs = sandbox.rootfs()?;
    let files = Scratch::new(&sandbox.engine.settings.data_root, "build-etc")
        .context("creating the step's /etc files")?;
    let host = spec.network == Network::Host;
    let mut hosts = if host {
        std::fs::read("/etc/hosts").unwrap_or_default()
    } else {
        b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_vec()
    };
    if !hosts.is_empty() && !hosts.ends_with(b"\n") {
        hosts.push(b'\n');
    }
    hosts.extend_from_slice(spec.limits.hosts_lines().as_bytes());
    let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    let hostname = format!("{}\n", sandbox.short_id());
    let mut c = ContainerSpec::new(sandbox.id.clone(), &rootfs, spec.args.clone());
    for (name, data, dest) in [
        ("hosts", hosts, "/etc/hosts"),
        ("resolv.conf", resolv, "/etc/resolv.conf"),
        ("hostname", hostname.into_bytes(), "/etc/hostname"),
    ] {
        let p = files.path().join(name);
        std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
        c.mounts.push(BindMount {
            source: p,
            destination: PathBuf::from(dest),
            readonly: false,
        });
    }
    c.network = spec.network.clone();
    c.hostname = (!host).then(|| sandbox.short_id().to_string());
    let mut p = ProcessSpec::new(spec.args.clone());
    p.env = spec.env.clone();
    p.cwd = if spec.cwd.is_empty() {
        PathBuf::from("/")
    } else {
        PathBuf::from(&spec.cwd)
    };
    p.user = runtime::resolve_user(&rootfs, &spec.user)?;
    c.process = p;
    // After the process is set: ulimits and security options apply to it.
    spec.limits.apply(&mut c)?;
    let mut capture = None;
    let mut copier = None;
    let (out, err): (OwnedFd, OwnedFd) = if spec.quiet {
        let f = tempfile::tempfile().context("creating the step's output file")?;
        let fd = OwnedFd::from(f.try_clone()?);
        capture = Some(f);
        (fd.try_clone()?, fd)
    } else {
        let (fd, thread) = spec.output.process_fd()?;
        copier = thread;
        (fd.try_clone()?, fd)
    };
    let stdio = StdioSet {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(out),
        stderr: Stdio::Fd(err),
    };
    let marks = MountPoints::record(&rootfs);
    let mut container = Container::create(&c, stdio).context("starting the build container")?;
    interrupt.pid.store(container.pid(), Ordering::SeqCst);
    // A signal that came while the container started finds no pid to kill: kill it here.
    if interrupt.hit.load(Ordering::SeqCst) {
        let _ = container.kill(libc::SIGKILL);
    }
    let status = container.wait();
    interrupt.pid.store(0, Ordering::SeqCst);
    drop(container);
    // Every writer is gone with the container (its PID namespace died with its init).
    if let Some(c) = copier {
        let _ = c.join();
    }
    let status = status?;
    marks.restore()?;
    interrupt.check()?;
    if status.code != 0
        && let Some(mut f) = capture
    {
        f.rewind()?;
        let mut text = Vec::new();
        f.read_to_end(&mut text)?;
        spec.output.text(&String::from_utf8_lossy(&text));
    }
    drop(files);
    Ok(status.code)
}

/// Paths the runtime creates in the rootfs as mount points. Docker keeps them in a separate
/// init layer; here those that the image did not have are removed after the step, and the
/// times of their parent directories put back, so a step's layer holds only what it did.
const MOUNT_POINTS: &[&str] = &[
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "etc",
    "proc",
    "sys",
    "dev",
];

struct MountPoints {
    rootfs: PathBuf,
    missing: Vec<&'static str>,
    times: Vec<(PathBuf, std::fs::Metadata)>,
}

impl MountPoints {
    fn record(rootfs: &Path) -> Self {
        let missing = MOUNT_POINTS
            .iter()
            .copied()
            .filter(|p| std::fs::symlink_metadata(rootfs.join(p)).is_err())
            .collect();
        let times = [rootfs.to_path_buf(), rootfs.join("etc")]
            .into_iter()
            .filter_map(|p| {
                let m = std::fs::symlink_metadata(&p).ok().filter(|m| m.is_dir())?;
                Some((p, m))
            })
            .collect();
        MountPoints {
            rootfs: rootfs.to_path_buf(),
            missing,
            times,
        }
    }

    fn restore(&self) -> Result<()> {
        for p in &self.missing {
            let path = self.rootfs.join(p);
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir(&path),
                Ok(m) if m.len() == 0 => std::fs::remove_file(&path),
                _ => Ok(()),
            };
            // A directory the step filled is the step's own: it stays.
            if let Err(e) = removed
                && e.raw_os_error() != Some(libc::ENOTEMPTY)
            {
                tracing::debug!(path = %path.display(), error = %e, "mount point left in place");
            }
        }
        for (path, meta) in &self.times {
            use std::os::unix::fs::MetadataExt;
            let t = |s, ns| nix::sys::time::TimeSpec::new(s, ns);
            let _ = nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                path,
                &t(meta.atime(), meta.atime_nsec()),
                &t(meta.mtime(), meta.mtime_nsec()),
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            );
        }
        Ok(())
    }
}

/// Whether `path` (absolute in the rootfs) is a directory there.
pub fn is_dir_in(rootfs: &Path, path: &str) -> Result<bool> {
    let host = runtime::secure_join(rootfs, Path::new(path))?;
    Ok(std::fs::metadata(host).is_ok_and(|m| m.is_dir()))
}
