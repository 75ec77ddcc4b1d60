//! Pausing a container: the cgroup v1 `freezer` controller (`freezer.state`) or cgroup v2's
//! `cgroup.freeze`. Functions take the cgroup filesystem root (normally
//! [`crate::cgroup::CGROUP_ROOT`]) and the container id, so the logic runs on plain
//! directories in unit tests.
//!
//! On v1, the container's processes must be in `freezer/engine/<id>`; [`freeze`] puts every
//! process of the container's memory cgroup there first (a no-op for processes already in
//! it), repeating until no new process appears, so a fork racing the move cannot escape.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroup::{CgroupVersion, detect};
use crate::{Error, IoContext, Result};

/// How long a freeze or thaw may take to settle.
const SETTLE: Duration = Duration::from_secs(10);

/// Where a container is frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Freezer {
    /// v1: the freezer cgroup, and the memory cgroup that lists the container's processes.
    V1 { dir: PathBuf, members: PathBuf },
    /// v2: the container's own cgroup.
    V2 { dir: PathBuf },
}

fn locate(root: &Path, id: &str) -> Result<Freezer> {
    let Some((version, base)) = detect(root) else {
        return Err(Error::io(
            "find the cgroup of the container under",
            root,
            std::io::Error::from_raw_os_error(libc::ENODEV),
        ));
    };
    let own = base.join("engine").join(id);
    match version {
        CgroupVersion::V2 => Ok(Freezer::V2 { dir: own }),
        CgroupVersion::V1 => {
            let hierarchy = root.join("freezer");
            if !hierarchy.join("freezer.state").exists() && !hierarchy.join("tasks").exists() {
                return Err(Error::io(
                    "find the freezer cgroup controller under",
                    root,
                    std::io::Error::from_raw_os_error(libc::ENODEV),
                ));
            }
            Ok(Freezer::V1 {
                dir: hierarchy.join("engine").join(id),
                members: own,
            })
        }
    }
}

fn pids(file: &Path) -> Result<Vec<String>> {
    Ok(fs::read_to_string(file)
        .ctx("read cgroup processes", file)?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Freezes every process of container `id`; returns once they are all frozen.
pub fn freeze(root: &Path, id: &str) -> Result<()> {
    match locate(root, id)? {
        Freezer::V1 { dir, members } => {
            fs::create_dir_all(&dir).ctx("create freezer cgroup", &dir)?;
            enroll(&dir, &members.join("cgroup.procs"))?;
            write(&dir.join("freezer.state"), "FROZEN")?;
            let settled = settle(|| Ok(read(&dir.join("freezer.state"))? == "FROZEN"));
            // A process forked while the move ran is in the memory cgroup only: take it too
            // (it is frozen on arrival, the cgroup being frozen).
            enroll(&dir, &members.join("cgroup.procs"))?;
            settled
        }
        Freezer::V2 { dir } => {
            write(&dir.join("cgroup.freeze"), "1")?;
            settle(|| frozen_v2(&dir))
        }
    }
}

/// Thaws container `id`. A cgroup already gone (the container ended, as a fatal signal
/// may end even frozen processes) is thawed, including one removed while this runs: a
/// cgroup file read after its cgroup's removal fails with ENODEV, not ENOENT.
pub fn thaw(root: &Path, id: &str) -> Result<()> {
    match thaw_inner(root, id) {
        Err(e) if e.kind() == crate::ErrorKind::NotFound || cgroup_gone(root, id) => Ok(()),
        other => other,
    }
}

/// Whether the cgroup container `id` is frozen in no longer exists.
fn cgroup_gone(root: &Path, id: &str) -> bool {
    match locate(root, id) {
        Ok(Freezer::V1 { dir, .. } | Freezer::V2 { dir }) => !dir.exists(),
        Err(_) => false,
    }
}

fn thaw_inner(root: &Path, id: &str) -> Result<()> {
    match locate(root, id)? {
        Freezer::V1 { dir, .. } => {
            if !dir.exists() {
                return Ok(());
            }
            write(&dir.join("freezer.state"), "THAWED")?;
            settle(|| Ok(read(&dir.join("freezer.state"))? == "THAWED"))
        }
        Freezer::V2 { dir } => {
            write(&dir.join("cgroup.freeze"), "0")?;
            settle(|| Ok(!frozen_v2(&dir)?))
        }
    }
}

/// Whether container `id` is frozen now (a cgroup that is gone, or goes while this reads
/// it, is not).
pub fn is_frozen(root: &Path, id: &str) -> Result<bool> {
    let frozen = match locate(root, id)? {
        Freezer::V1 { dir, .. } if dir.exists() => {
            read(&dir.join("freezer.state")).map(|s| s == "FROZEN")
        }
        Freezer::V1 { .. } => Ok(false),
        Freezer::V2 { dir } => frozen_v2(&dir),
    };
    match frozen {
        Err(_) if cgroup_gone(root, id) => Ok(false),
        other => other,
    }
}

/// Removes the v1 freezer cgroup of a container that has ended (nothing on v2, where the
/// container's own cgroup goes with it).
pub fn remove(root: &Path, id: &str) {
    if let Ok(Freezer::V1 { dir, .. }) = locate(root, id)
        && dir.exists()
        && let Err(e) = fs::remove_dir(&dir)
    {
        tracing::warn!(cgroup = %dir.display(), error = %e, "cannot remove the freezer cgroup");
    }
}

/// Moves every process listed in `members` into the freezer cgroup `dir`, until a pass finds
/// none to move.
fn enroll(dir: &Path, members: &Path) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    for _ in 0..100 {
        let here = pids(&procs)?;
        let missing: Vec<String> = pids(members)?
            .into_iter()
            .filter(|p| !here.contains(p))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        for pid in missing {
            match fs::write(&procs, &pid) {
                Ok(()) => {}
                // Exited meanwhile.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    return Err(Error::io(
                        "move a process into the freezer cgroup",
                        &procs,
                        e,
                    ));
                }
            }
        }
    }
    Err(Error::io(
        "move the container's processes into",
        dir,
        std::io::Error::from_raw_os_error(libc::EAGAIN),
    ))
}

fn frozen_v2(dir: &Path) -> Result<bool> {
    let events = read(&dir.join("cgroup.events"))?;
    Ok(events.lines().any(|l| l.trim() == "frozen 1"))
}

fn read(path: &Path) -> Result<String> {
    Ok(fs::read_to_string(path)
        .ctx("read cgroup file", path)?
        .trim()
        .to_string())
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).ctx("write cgroup file", path)
}

fn settle(mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if done()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::io(
                "wait for the freezer to settle",
                "",
                std::io::Error::from_raw_os_error(libc::ETIMEDOUT),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_moves_the_processes_then_freezes() {
        let d = tempfile::tempdir().unwrap();
        let mem = d.path().join("memory/engine/c1");
        fs::create_dir_all(&mem).unwrap();
        fs::write(d.path().join("memory/memory.limit_in_bytes"), "").unwrap();
        fs::write(mem.join("cgroup.procs"), "").unwrap();
        fs::create_dir_all(d.path().join("freezer")).unwrap();
        fs::write(d.path().join("freezer/freezer.state"), "THAWED").unwrap();
        // On a plain directory nobody moves anything: enroll would never see the pid arrive.
        let f = locate(d.path(), "c1").unwrap();
        assert_eq!(
            f,
            Freezer::V1 {
                dir: d.path().join("freezer/engine/c1"),
                members: mem.clone()
            }
        );
        let dir = d.path().join("freezer/engine/c1");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.procs"), "").unwrap();
        fs::write(dir.join("freezer.state"), "THAWED").unwrap();
        freeze(d.path(), "c1").unwrap();
        assert!(is_frozen(d.path(), "c1").unwrap());
        thaw(d.path(), "c1").unwrap();
        assert!(!is_frozen(d.path(), "c1").unwrap());
        remove(d.path(), "c1");
    }

    #[test]
    fn v2_uses_cgroup_freeze() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("cgroup.controllers"), "memory\n").unwrap();
        let dir = d.path().join("engine/c2");
        fs::create_dir_all(&dir).unwrap();
        // The kernel would report the freeze in cgroup.events; here it is written ahead.
        fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        freeze(d.path(), "c2").unwrap();
        assert_eq!(fs::read_to_string(dir.join("cgroup.freeze")).unwrap(), "1");
        assert!(is_frozen(d.path(), "c2").unwrap());
    }
}
