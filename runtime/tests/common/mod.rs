//! Root-tier fixtures: a busybox rootfs in a temp dir, and running a container to completion
//! with its output captured.

#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test fixtures: a failure is a test failure

use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use test_support::tier::skip;

use runtime::{Container, ContainerSpec, ExitStatus, Stdio, StdioSet};

/// Whether the root tier can run; prints SKIP (or panics under ENGINE_REQUIRE_ROOT_TESTS=1).
pub fn root_available(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        return skip(test, "needs root");
    }
    if !Path::new(BUSYBOX).exists() {
        return skip(
            test,
            "needs /bin/busybox (apt-get install -y busybox-static)",
        );
    }
    true
}

const BUSYBOX: &str = "/bin/busybox";

const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "id", "hostname", "ls", "nc", "true", "false", "grep", "wc",
    "head", "tail", "tr", "touch", "pwd", "env", "ip", "test", "[", "dd", "mkdir", "readlink",
    "tty", "stat", "mknod", "unshare", "kill", "stty",
];

/// A temp rootfs with a static busybox, its applets in /bin, and /etc/passwd and /etc/group
/// with a user `app` (1000:1000) who is a member of `staff` (50).
pub struct Rootfs {
    dir: tempfile::TempDir,
}

impl Rootfs {
    pub fn new() -> Rootfs {
        let dir = tempfile::Builder::new()
            .prefix("runtime-rootfs-")
            .tempdir()
            .unwrap();
        let root = dir.path();
        for d in ["bin", "etc", "tmp", "root", "home/app"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        // A hard link, not a copy: a copy is open for writing for a moment, and a container
        // forked by another test thread in that moment would make our execve fail with
        // ETXTBSY. (Copy only when /tmp is another filesystem.)
        if std::fs::hard_link(BUSYBOX, root.join("bin/busybox")).is_err() {
            std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
        }
        for applet in APPLETS {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/not-executable"), "just data\n").unwrap();
        Rootfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A spec running `sh -c script` with a per-test id.
    pub fn spec(&self, test: &str, script: &str) -> ContainerSpec {
        ContainerSpec::new(
            unique_id(test),
            self.path().to_path_buf(),
            vec!["sh".into(), "-c".into(), script.into()],
        )
    }
}

pub fn unique_id(test: &str) -> String {
    format!("rt-{test}-{}", std::process::id())
}

/// The cgroup directory a container with this id would have under v1 (this host) or v2.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    vec![
        PathBuf::from("/sys/fs/cgroup/memory/engine").join(id),
        PathBuf::from("/sys/fs/cgroup/engine").join(id),
        PathBuf::from("/sys/fs/cgroup/unified/engine").join(id),
    ]
}

/// The output of a finished container.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the container to its end, capturing stdout and stderr through pipes.
pub fn run(spec: &ContainerSpec) -> Output {
    let (mut container, out, err) = start(spec);
    let stdout_thread = std::thread::spawn(move || read_all(out));
    let stderr = read_all(err);
    let stdout = stdout_thread.join().unwrap();
    let status = container.wait().unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Starts the container with stdout and stderr on pipes; returns their read ends.
pub fn start(spec: &ContainerSpec) -> (Container, std::fs::File, std::fs::File) {
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let stdio = StdioSet {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(out_w),
        stderr: Stdio::Fd(err_w),
    };
    let container = Container::create(spec, stdio).unwrap();
    (container, out_r.into(), err_r.into())
}

pub fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

pub fn read_all(mut f: std::fs::File) -> String {
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}
