//! The container's memory cgroup: cgroup v1 (`memory` hierarchy) or v2 (unified), detected
//! at run time, under `<hierarchy>/engine/<id>`.
//!
//! Everything takes the cgroup filesystem root as a parameter (normally `/sys/fs/cgroup`), so
//! the logic runs against a plain directory in unit tests.

use std::fs;
use std::io::ErrorKind as IoErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, IoContext, Result};

/// Where the kernel mounts cgroup filesystems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The parent cgroup of every container.
const PARENT: &str = "engine";

/// Which cgroup interface governs memory on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The legacy per-controller hierarchy (`memory.limit_in_bytes`).
    V1,
    /// The unified hierarchy (`memory.max`).
    V2,
}

/// Finds the hierarchy that has the memory controller: pure v2 at the root, v1's `memory`,
/// or hybrid v2 at `unified` when it holds memory. Returns its version and directory.
pub fn detect(root: &Path) -> Option<(CgroupVersion, PathBuf)> {
    let has_memory = |controllers: &Path| {
        fs::read_to_string(controllers)
            .map(|s| s.split_whitespace().any(|c| c == "memory"))
            .unwrap_or(false)
    };
    if has_memory(&root.join("cgroup.controllers")) {
        return Some((CgroupVersion::V2, root.to_path_buf()));
    }
    let v1 = root.join("memory");
    if v1.join("memory.limit_in_bytes").exists() {
        return Some((CgroupVersion::V1, v1));
    }
    let unified = root.join("unified");
    if has_memory(&unified.join("cgroup.controllers")) {
        return Some((CgroupVersion::V2, unified));
    }
    None
}

/// One container's cgroup directory.
#[derive(Debug)]
pub struct Cgroup {
    version: CgroupVersion,
    dir: PathBuf,
}

impl Cgroup {
    /// Creates `engine/<id>` in the memory hierarchy under `root` and applies the limits
    /// (`memory` bytes; `memory_swap` = memory plus swap, Docker's `--memory-swap`).
    /// Returns `Ok(None)` when the host has no memory controller and no limit was asked for.
    pub fn create(
        root: &Path,
        id: &str,
        memory: Option<u64>,
        memory_swap: Option<u64>,
    ) -> Result<Option<Cgroup>> {
        let Some((version, base)) = detect(root) else {
            if memory.is_some() {
                return Err(Error::io(
                    "find the memory cgroup controller under",
                    root,
                    std::io::Error::from_raw_os_error(libc::ENODEV),
                ));
            }
            tracing::warn!(root = %root.display(), "no memory cgroup controller; running without a cgroup");
            return Ok(None);
        };
        let parent = base.join(PARENT);
        fs::create_dir_all(&parent).ctx("create cgroup", &parent)?;
        if version == CgroupVersion::V2 {
            // Let children of the root and of engine/ have memory files; best effort, the
            // check for memory.max below says whether it worked.
            let _ = fs::write(base.join("cgroup.subtree_control"), "+memory");
            let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory");
        }
        let dir = parent.join(id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == IoErrorKind::AlreadyExists => {
                // A leftover of a crashed run: reuse it only if it is empty.
                fs::remove_dir(&dir).ctx("remove stale cgroup", &dir)?;
                fs::create_dir(&dir).ctx("create cgroup", &dir)?;
            }
            Err(e) => return Err(Error::io("create cgroup", dir, e)),
        }
        let cg = Cgroup { version, dir };
        if let Err(e) = cg.set_memory(memory, memory_swap) {
            cg.remove();
            return Err(e);
        }
        Ok(Some(cg))
    }

    fn set_memory(&self, memory: Option<u64>, memory_swap: Option<u64>) -> Result<()> {
        let Some(mem) = memory else { return Ok(()) };
        // Docker: without --memory-swap the container may use as much swap as memory.
        let total = memory_swap.unwrap_or(mem.saturating_mul(2));
        match self.version {
            CgroupVersion::V1 => {
                self.write("memory.limit_in_bytes", &mem.to_string())?;
                if self.dir.join("memory.memsw.limit_in_bytes").exists() {
                    self.write("memory.memsw.limit_in_bytes", &total.to_string())?;
                }
            }
            CgroupVersion::V2 => {
                if !self.dir.join("memory.max").exists() {
                    return Err(Error::io(
                        "enable the memory controller for",
                        &self.dir,
                        std::io::Error::from_raw_os_error(libc::ENODEV),
                    ));
                }
                self.write("memory.max", &mem.to_string())?;
                if self.dir.join("memory.swap.max").exists() {
                    self.write("memory.swap.max", &(total - mem).to_string())?;
                }
            }
        }
        Ok(())
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = self.dir.join(file);
        fs::write(&path, value).ctx("write cgroup file", path)
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Which interface it uses.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The file a process writes its pid to to join.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup: v1 `oom_kill` in
    /// `memory.oom_control` (older kernels: `memory.failcnt` > 0), v2 `oom_kill` in
    /// `memory.events`.
    pub fn oom_killed(&self) -> bool {
        let counter = |file: &str, key: &str| -> Option<u64> {
            let text = fs::read_to_string(self.dir.join(file)).ok()?;
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok()).flatten()
            })
        };
        match self.version {
            CgroupVersion::V1 => match counter("memory.oom_control", "oom_kill") {
                Some(n) => n > 0,
                None => fs::read_to_string(self.dir.join("memory.failcnt"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0),
            },
            CgroupVersion::V2 => counter("memory.events", "oom_kill").is_some_and(|n| n > 0),
        }
    }

    /// Removes the directory, retrying for a moment while exiting processes leave it.
    pub fn remove(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == IoErrorKind::NotFound => return,
                Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    tracing::warn!(cgroup = %self.dir.display(), error = %e, "cannot remove cgroup");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_layout() {
        let d = tempfile::tempdir().unwrap();
        assert!(detect(d.path()).is_none());
        fs::create_dir_all(d.path().join("unified")).unwrap();
        fs::write(d.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        assert!(detect(d.path()).is_none());
        fs::create_dir_all(d.path().join("memory")).unwrap();
        fs::write(d.path().join("memory/memory.limit_in_bytes"), "max").unwrap();
        assert_eq!(detect(d.path()).unwrap().0, CgroupVersion::V1);
        fs::write(d.path().join("cgroup.controllers"), "cpu memory io\n").unwrap();
        assert_eq!(
            detect(d.path()).unwrap(),
            (CgroupVersion::V2, d.path().to_path_buf())
        );
    }

    #[test]
    fn v1_limits_and_oom_on_a_plain_directory() {
        let d = tempfile::tempdir().unwrap();
        let mem = d.path().join("memory");
        fs::create_dir_all(&mem).unwrap();
        fs::write(mem.join("memory.limit_in_bytes"), "").unwrap();
        let cg = Cgroup::create(d.path(), "c1", None, None).unwrap().unwrap();
        assert_eq!(cg.version(), CgroupVersion::V1);
        assert_eq!(cg.path(), mem.join("engine/c1"));
        // A plain directory has no control files; create the memsw one as the kernel would.
        fs::write(cg.path().join("memory.memsw.limit_in_bytes"), "").unwrap();
        cg.set_memory(Some(32 << 20), None).unwrap();
        let read = |f: &str| fs::read_to_string(cg.path().join(f)).unwrap();
        assert_eq!(read("memory.limit_in_bytes"), (32u64 << 20).to_string());
        assert_eq!(
            read("memory.memsw.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert!(!cg.oom_killed());
        fs::write(
            cg.path().join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        assert!(cg.oom_killed());
    }

    #[test]
    fn v2_limits_and_oom_on_a_plain_directory() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("cgroup.controllers"), "memory\n").unwrap();
        let cg = Cgroup::create(d.path(), "c2", None, None).unwrap().unwrap();
        assert_eq!(cg.version(), CgroupVersion::V2);
        // Without memory.max the controller is not enabled: a limit is an error, not ignored.
        assert!(cg.set_memory(Some(1 << 30), None).is_err());
        fs::write(cg.path().join("memory.max"), "").unwrap();
        fs::write(cg.path().join("memory.swap.max"), "").unwrap();
        cg.set_memory(Some(1 << 30), Some(3 << 30)).unwrap();
        assert_eq!(
            fs::read_to_string(cg.path().join("memory.max")).unwrap(),
            (1u64 << 30).to_string()
        );
        assert_eq!(
            fs::read_to_string(cg.path().join("memory.swap.max")).unwrap(),
            (2u64 << 30).to_string()
        );
        fs::write(
            cg.path().join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n",
        )
        .unwrap();
        assert!(!cg.oom_killed());
        fs::write(cg.path().join("memory.events"), "oom 1\noom_kill 2\n").unwrap();
        assert!(cg.oom_killed());
    }

    #[test]
    fn a_limit_without_a_controller_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert!(
            Cgroup::create(d.path(), "c3", None, None)
                .unwrap()
                .is_none()
        );
        assert!(Cgroup::create(d.path(), "c3", Some(64 << 20), None).is_err());
    }
}
