//! Unpacking an uploaded build context (a tar from standard input or a `POST /build` body).
//!
//! Docker's CLI, given `-f -` with a context directory, appends the Dockerfile to the
//! context tar as a last entry (`.dockerfile.<random>`) and closes its stream right after
//! that entry's data: without the padding to a 512-byte block and without the two zero
//! blocks that end an archive. Docker's daemon reads that as the end of the archive, so this
//! does too; but only there. A stream that ends inside an entry's data (or inside a header,
//! or part-way through the padding) is refused, naming the entry, as Docker's daemon refuses
//! it.

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, Result};

/// Bytes read so far from the stream under the tar reader, and whether it has ended.
#[derive(Debug, Default)]
struct Progress {
    pos: Cell<u64>,
    ended: Cell<bool>,
}

/// The plain (decompressed) stream, counted.
struct Counted<R> {
    inner: R,
    progress: Rc<Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.progress.ended.set(true);
        }
        self.progress.pos.set(self.progress.pos.get() + n as u64);
        Ok(n)
    }
}

/// Unpacks the tar `plain` into `dest`; `source` names where it came from in messages
/// ("standard input", "the request body").
pub(super) fn unpack(plain: impl Read, dest: &Path, source: &str) -> Result<()> {
    let progress = Rc::new(Progress::default());
    let mut archive = tar::Archive::new(Counted {
        inner: plain,
        progress: Rc::clone(&progress),
    });
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    let dest = dest
        .canonicalize()
        .with_context(|| format!("resolving {}", dest.display()))?;
    let mut entries = archive
        .entries()
        .with_context(|| format!("reading the context tar from {source}"))?;
    // Directories are made last, so that a read-only one does not stop its own files.
    let mut dirs = Vec::new();
    // The last entry read whole, for messages and for the missing-trailer case.
    let mut last: Option<String> = None;
    loop {
        let before = progress.pos.get();
        let mut entry = match entries.next() {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(e)) => {
                // The stream ended exactly where the last entry's data did: no padding, no
                // end-of-archive blocks. That is the end of the archive (see the module doc).
                if progress.ended.get() && progress.pos.get() == before && last.is_some() {
                    break;
                }
                let after = match &last {
                    Some(name) => format!(" after the entry {name:?}"),
                    None => String::new(),
                };
                let what = if progress.ended.get() {
                    "the tar ends early"
                } else {
                    "the tar is not valid"
                };
                return Err(e).with_context(|| {
                    format!("unpacking the context tar from {source}: {what}{after}")
                });
            }
        };
        let name = entry.path().map_or_else(
            |_| String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            |p| p.display().to_string(),
        );
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            dirs.push((name.clone(), entry));
            last = Some(name);
            continue;
        }
        let start = entry.raw_file_position();
        let size = entry.size();
        let truncated = |name: &str| {
            anyhow::anyhow!(
                "unpacking the context tar from {source}: the tar ends inside the data of {name:?} ({size} bytes declared)"
            )
        };
        if let Err(e) = entry.unpack_in(&dest) {
            if progress.ended.get() {
                return Err(truncated(&name));
            }
            return Err(e)
                .with_context(|| format!("unpacking {name:?} from the context tar from {source}"));
        }
        // What unpacking left unread (the data of an entry that is not a file).
        io::copy(&mut entry, &mut io::sink())
            .with_context(|| format!("reading {name:?} from the context tar from {source}"))?;
        // A sparse entry's size is its logical size; unpacking checked its chunks.
        if !kind.is_gnu_sparse() && progress.pos.get() - start < size {
            return Err(truncated(&name));
        }
        last = Some(name);
    }
    for (name, mut dir) in dirs {
        dir.unpack_in(&dest).with_context(|| {
            format!("unpacking the directory {name:?} from the context tar from {source}")
        })?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A tar of `files` with the standard trailer; also the offset where the last entry's
    /// data ends.
    fn tar_of(files: &[(&str, &[u8])]) -> (Vec<u8>, usize) {
        let mut b = tar::Builder::new(Vec::new());
        let mut end = 0;
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
            let len = b.get_ref().len();
            end = len - (512 - data.len() % 512) % 512;
        }
        (b.into_inner().unwrap(), end)
    }

    #[test]
    fn a_stream_ending_right_after_the_last_entrys_data_is_a_whole_archive() {
        let (full, end) = tar_of(&[
            ("a.txt", &b"hello\n"[..]),
            (".dockerfile.abc", &b"FROM busybox\n"[..]),
        ]);
        // Whole; without the end-of-archive blocks; without the padding too.
        for cut in [full.len(), end.div_ceil(512) * 512, end] {
            let dir = tempfile::tempdir().unwrap();
            unpack(&full[..cut], dir.path(), "standard input").unwrap();
            assert_eq!(
                std::fs::read(dir.path().join(".dockerfile.abc")).unwrap(),
                b"FROM busybox\n"
            );
            assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"hello\n");
        }
    }

    #[test]
    fn a_stream_ending_inside_data_header_or_padding_is_refused() {
        let (full, end) = tar_of(&[("a.txt", &b"hello\n"[..]), ("big.bin", &[7u8; 3000][..])]);
        let cases = [
            (end - 10, "inside the data of \"big.bin\""),
            // Part of the padding: Docker's daemon refuses that too.
            (end + 5, "the tar ends early after the entry \"big.bin\""),
            // Inside the second header.
            (1024 + 100, "the tar ends early after the entry \"a.txt\""),
        ];
        for (cut, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let e = format!(
                "{:#}",
                unpack(&full[..cut], dir.path(), "the request body").unwrap_err()
            );
            assert!(e.contains(want), "cut at {cut}: {e}");
            assert!(e.contains("from the request body"), "{e}");
        }
    }
}
