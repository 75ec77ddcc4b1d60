//! Room kept for removals on a full disk: untagging or removing still writes small metadata
//! files (written next to the old and renamed over it), which a 100%-full filesystem
//! refuses. Commands that write keep `<root>/.reserve/<n>` (8 files of 256 KiB, real
//! blocks); each removal command frees one first, so a row
//! of removals each gets room. Read-only commands neither use nor refill it.

use std::fs;
use std::path::{Path, PathBuf};

const CHUNK: u64 = 256 << 10;
const CHUNKS: usize = 8;

fn dir(data_root: &Path) -> PathBuf {
    data_root.join(".reserve")
}

/// Bytes free for root on the data root's filesystem.
fn free(data_root: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(data_root).ok()?;
    Some(s.blocks_free() as u64 * s.fragment_size() as u64)
}

/// Frees one chunk. Always, not only when `statvfs` says the disk is full: ext4 counts as
/// free some blocks no file may take, so "free" is no sign of room; the chunk is allocated
/// again after the command (cheap: `fallocate`).
pub fn make_room(data_root: &Path) {
    let Ok(entries) = fs::read_dir(dir(data_root)) else {
        return;
    };
    if let Some(chunk) = entries.flatten().next() {
        tracing::info!(path = %chunk.path().display(), "the disk is full: freeing reserved room");
        let _ = fs::remove_file(chunk.path());
    }
}

/// Fills the reserve back up where the disk has room to spare (best effort).
pub fn refill(data_root: &Path) {
    let d = dir(data_root);
    for n in 0..CHUNKS {
        let path = d.join(n.to_string());
        if path.exists() {
            continue;
        }
        if free(data_root).is_none_or(|f| f < 8 * CHUNK) || fs::create_dir_all(&d).is_err() {
            return;
        }
        let Ok(file) = fs::File::create(&path) else {
            return;
        };
        if nix::fcntl::posix_fallocate(&file, 0, CHUNK as i64).is_err() {
            let _ = fs::remove_file(&path);
            return;
        }
    }
}
