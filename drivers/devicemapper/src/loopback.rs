//! Sparse backing files on loop devices for the loop-lvm pool.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use graph::{IoContext, Result};
use loopdev::{LoopControl, LoopDevice};
use tracing::{info, warn};

/// Makes `path` a sparse file of at least `size` bytes; returns whether it was created.
/// An existing file is grown to `size` but never shrunk (that would cut off pool data).
pub fn ensure_sparse_file(path: &Path, size: u64) -> Result<bool> {
    let created = !path.exists();
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx("open", path)?;
    let len = f.metadata().ctx("stat", path)?.len();
    if len < size {
        if !created {
            info!(path = %path.display(), from = len, to = size, "growing loop file");
        }
        f.set_len(size).ctx("size sparse file", path)?;
    } else if len > size {
        warn!(path = %path.display(), len, size, "loop file is larger than asked; it cannot shrink");
    }
    if created {
        f.sync_all().ctx("fsync", path)?;
    }
    Ok(created)
}

/// Attaches `file` to a free loop device that detaches itself once its last user (the pool)
/// lets go. Retries the race with other attachers a few times.
pub fn attach(file: &Path) -> Result<LoopDevice> {
    let ctl = LoopControl::open().ctx("open", "/dev/loop-control")?;
    let mut tries = 0;
    loop {
        let dev = ctl
            .next_free()
            .ctx("find a free loop device", "/dev/loop-control")?;
        match dev.with().autoclear(true).attach(file) {
            Ok(()) => return Ok(dev),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 10 => {
                tries += 1;
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).ctx("attach loop device to", file),
        }
    }
}

/// The loop devices (`/dev/loopN`) whose backing file is `file`.
pub fn devices_backed_by(file: &Path) -> Vec<PathBuf> {
    let want = fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let Ok(entries) = fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let backing = entry.path().join("loop/backing_file");
        if let Ok(b) = fs::read_to_string(&backing)
            && Path::new(b.trim_end()) == want
        {
            found.push(PathBuf::from("/dev").join(name));
        }
    }
    found
}
