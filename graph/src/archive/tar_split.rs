//! Byte-exact layer tars, as Docker's tar-split keeps them.
//!
//! A layer's identity (its diff id) is the sha256 of the exact tar it came in, but a driver
//! stores files, not the tar. To hand the same bytes back (`save`, `push`), registration
//! records everything in the tar except file content: header blocks, PAX and GNU extension
//! records, padding and the end-of-archive blocks go verbatim into *segments*; each regular
//! file's content becomes a *file* entry naming the path and size. Reassembly writes the
//! segments back and reads file content from the mounted layer.
//!
//! The record is gzip-compressed JSON lines in Docker's shape:
//! `{"type":2,"payload":"<base64>","position":N}` for a segment and
//! `{"type":1,"name":"etc/passwd","size":N,"position":N}` for a file (`name_raw` in base64
//! when the name is not UTF-8).
//!
//! A GNU PAX sparse file's content is its map (1.0: kept as a segment) and its data fragments,
//! each a file entry with an `offset` into the file on disk (our addition to Docker's shape,
//! absent when 0), so the holes are neither stored nor read back.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use super::entry_path;
use super::entry_size;
use super::safe_root::SafeRoot;
use super::sparse;
use crate::error::{Error, IoContext, Result};

const FILE: u8 = 1;
const SEGMENT: u8 = 2;
/// Raw bytes are written out as a segment once this many have gathered.
const SEGMENT_LIMIT: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_raw: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    size: u64,
    /// Where in the file the content starts (a sparse file's fragment).
    #[serde(default, skip_serializing_if = "is_zero")]
    offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    position: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Entry {
    fn name_bytes(&self) -> Result<Vec<u8>> {
        match (&self.name_raw, &self.name) {
            (Some(raw), _) => BASE64
                .decode(raw)
                .map_err(|e| corrupt(format!("bad name_raw: {e}"))),
            (None, Some(name)) => Ok(name.as_bytes().to_vec()),
            (None, None) => Err(corrupt("file entry without a name")),
        }
    }
}

fn corrupt(reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: "<tar-split>".into(),
        reason: reason.into(),
    }
}

/// What the recording reader has gathered so far.
struct Recording<W: Write> {
    out: GzEncoder<W>,
    /// Bytes of the tar read so far.
    pos: u64,
    /// File content runs up to here; those bytes are not recorded.
    skip_until: u64,
    pending: Vec<u8>,
    entries: u64,
}

impl<W: Write> Recording<W> {
    fn emit(&mut self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry)
            .map_err(|e| Error::InvalidInput(format!("encoding tar-split: {e}")))?;
        line.push(b'\n');
        self.out.write_all(&line).ctx("write", "<tar-split>")?;
        self.entries += 1;
        Ok(())
    }

    fn flush_segment(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let payload = BASE64.encode(&self.pending);
        self.pending.clear();
        let entry = Entry {
            kind: SEGMENT,
            name: None,
            name_raw: None,
            size: 0,
            offset: 0,
            payload: Some(payload),
            position: self.entries,
        };
        self.emit(&entry)
    }

    fn file(&mut self, name: &[u8], data_pos: u64, size: u64) -> Result<()> {
        self.file_at(name, data_pos, size, 0)
    }

    /// `size` bytes of the file `name` from its byte `offset` are the tar's bytes from
    /// `data_pos` on.
    fn file_at(&mut self, name: &[u8], data_pos: u64, size: u64, offset: u64) -> Result<()> {
        if data_pos != self.pos {
            return Err(corrupt(format!(
                "content of {:?} starts at byte {data_pos} but {} were read",
                String::from_utf8_lossy(name),
                self.pos
            )));
        }
        self.flush_segment()?;
        let (name, name_raw) = match std::str::from_utf8(name) {
            Ok(s) => (Some(s.to_string()), None),
            Err(_) => (None, Some(BASE64.encode(name))),
        };
        let entry = Entry {
            kind: FILE,
            name,
            name_raw,
            size,
            offset,
            payload: None,
            position: self.entries,
        };
        self.emit(&entry)?;
        self.skip_until = data_pos + size;
        Ok(())
    }

    fn take(&mut self, bytes: &[u8]) {
        let start = self.pos;
        self.pos += bytes.len() as u64;
        if self.skip_until >= self.pos {
            return;
        }
        let keep_from = self.skip_until.saturating_sub(start) as usize;
        self.pending.extend_from_slice(&bytes[keep_from..]);
    }
}

/// The reader the tar parser reads through: it feeds every byte to the recording.
struct Recorder<R, W: Write> {
    inner: R,
    state: Rc<RefCell<Recording<W>>>,
}

impl<R: Read, W: Write> Read for Recorder<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.state.borrow_mut();
        state.take(&buf[..n]);
        if state.pending.len() >= SEGMENT_LIMIT {
            state.flush_segment().map_err(io::Error::other)?;
        }
        Ok(n)
    }
}

/// Reads the plain (uncompressed) layer tar `input` to its very end and writes its
/// tar-split record to `out`. The input is always read to its end, even when it is not a
/// valid tar, so a writer feeding it through a pipe never blocks. Gives `out` back, flushed.
pub fn record<W: Write>(input: impl Read, out: W) -> Result<W> {
    let state = Rc::new(RefCell::new(Recording {
        out: GzEncoder::new(out, Compression::fast()),
        pos: 0,
        skip_until: 0,
        pending: Vec::new(),
        entries: 0,
    }));
    let mut archive = tar::Archive::new(Recorder {
        inner: input,
        state: Rc::clone(&state),
    });
    let scanned = scan(&mut archive, &state);
    let mut rest = archive.into_inner();
    let drained = io::copy(&mut rest, &mut io::sink());
    drop(rest);
    scanned?;
    drained.map_err(|e| Error::bad_archive("<end of archive>", e.to_string()))?;
    let state = Rc::try_unwrap(state)
        .map_err(|_| corrupt("recording still shared"))?
        .into_inner();
    finish(state)
}

fn scan<R: Read, W: Write>(
    archive: &mut tar::Archive<Recorder<R, W>>,
    state: &Rc<RefCell<Recording<W>>>,
) -> Result<()> {
    let mut last: Option<String> = None;
    let entries = archive
        .entries()
        .map_err(|e| entry_size::header_error(e, None))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| entry_size::header_error(e, last.as_deref()))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let size = entry_size::checked_size(&mut entry, &name)?;
        if let Some(sparse) = sparse::from_pax(&mut entry, &name)? {
            let real = sparse
                .name
                .clone()
                .unwrap_or_else(|| entry.path_bytes().into_owned());
            record_sparse(&mut entry, state, &real, sparse, size, &name)?;
            last = Some(name);
            continue;
        }
        if kind.is_gnu_sparse() {
            // Old GNU sparse ('S'): its raw bytes go into segments as they are; reading it
            // would expand the holes.
            last = Some(name);
            continue;
        }
        if size > 0 && (kind.is_file() || kind.is_contiguous()) {
            state
                .borrow_mut()
                .file(&entry.path_bytes(), entry.raw_file_position(), size)?;
        }
        // Read (not skip) the content, so a stream that ends inside it is named here.
        entry_size::drain(&mut entry, &name, size)?;
        last = Some(name);
    }
    Ok(())
}

/// A PAX sparse file: the 1.0 map stays in the segments; each data fragment is recorded as
/// a file entry at its offset.
fn record_sparse<R: Read, W: Write>(
    entry: &mut tar::Entry<'_, Recorder<R, W>>,
    state: &Rc<RefCell<Recording<W>>>,
    real_name: &[u8],
    mut sparse: sparse::Sparse,
    size: u64,
    name: &str,
) -> Result<()> {
    let (fragments, map_bytes) = sparse.checked_fragments(entry, size, name)?;
    let mut data = 0u64;
    for (offset, len) in fragments {
        if len == 0 {
            continue;
        }
        let pos = state.borrow().pos;
        state.borrow_mut().file_at(real_name, pos, len, offset)?;
        let got = io::copy(&mut (&mut *entry).take(len), &mut io::sink())
            .map_err(|e| Error::bad_archive(name, format!("reading content: {e}")))?;
        data += got;
        if got < len {
            return Err(entry_size::runs_past_the_end(name, size, map_bytes + data));
        }
    }
    Ok(())
}

fn finish<W: Write>(mut state: Recording<W>) -> Result<W> {
    state.flush_segment()?;
    let mut out = state.out.finish().ctx("write", "<tar-split>")?;
    out.flush().ctx("flush", "<tar-split>")?;
    Ok(out)
}

/// The length of the tar a tar-split record reassembles to.
pub fn reassembled_size(split: impl Read) -> Result<u64> {
    let mut total = 0;
    for entry in entries(split) {
        let entry = entry?;
        total += match entry.kind {
            SEGMENT => segment_payload(&entry)?.len() as u64,
            _ => entry.size,
        };
    }
    Ok(total)
}

/// Writes the tar recorded in `split` to `out`, reading file content from the layer mounted
/// at `root`. Returns the bytes written. A file that is missing, or shorter than recorded,
/// is an error naming it.
pub fn reassemble(split: impl Read, root: &Path, out: &mut dyn Write) -> Result<u64> {
    let root_dir = SafeRoot::open(root)?;
    let mut written = 0;
    let mut buf = vec![0; 1 << 20];
    for entry in entries(split) {
        let entry = entry?;
        match entry.kind {
            SEGMENT => {
                let bytes = segment_payload(&entry)?;
                out.write_all(&bytes).ctx("write", "<layer tar>")?;
                written += bytes.len() as u64;
            }
            FILE => {
                let name = entry.name_bytes()?;
                let mut file = open_content(&root_dir, &name)?;
                let host = root_dir.host_path(&name);
                if entry.offset > 0 {
                    file.seek(SeekFrom::Start(entry.offset))
                        .ctx("seek", &host)?;
                }
                let mut content = file.take(entry.size);
                let mut left = entry.size;
                while left > 0 {
                    let n = content.read(&mut buf).ctx("read", &host)?;
                    if n == 0 {
                        return Err(Error::Corrupt {
                            path: host,
                            reason: format!(
                                "the layer's file is {} bytes shorter than its tar entry",
                                left
                            ),
                        });
                    }
                    out.write_all(&buf[..n]).ctx("write", "<layer tar>")?;
                    left -= n as u64;
                }
                written += entry.size;
            }
            other => return Err(corrupt(format!("unknown entry type {other}"))),
        }
    }
    Ok(written)
}

fn segment_payload(entry: &Entry) -> Result<Vec<u8>> {
    BASE64
        .decode(entry.payload.as_deref().unwrap_or_default())
        .map_err(|e| corrupt(format!("bad segment payload: {e}")))
}

fn entries(split: impl Read) -> impl Iterator<Item = Result<Entry>> {
    BufReader::new(GzDecoder::new(split))
        .split(b'\n')
        .filter(|line| !matches!(line, Ok(l) if l.is_empty()))
        .map(|line| {
            let line = line.ctx("read", "<tar-split>")?;
            serde_json::from_slice(&line).map_err(|e| corrupt(format!("bad entry: {e}")))
        })
}

/// Opens the regular file `name` (a raw tar name) inside the layer, never leaving it.
fn open_content(root: &SafeRoot, name: &[u8]) -> Result<File> {
    let rel = entry_path::clean(name)
        .map_err(|reason| Error::bad_archive(String::from_utf8_lossy(name), reason))?;
    let (parent, base) = rel.split();
    let host = root.host_path(rel.as_bytes());
    let dir = root.open_dir(parent).ctx("open", &host)?;
    let fd = openat(
        &dir,
        OsStr::from_bytes(base),
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx("open", &host)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_600_000_000);
            b.append_data(&mut h, path, data).expect("append");
        };
        add("a.txt", b"hello\n");
        add("dir/b.bin", &[7u8; 5000]);
        add(&format!("long/{}", "n".repeat(200)), b"long name");
        add("empty", b"");
        let mut out = b.into_inner().expect("finish");
        // GNU tar pads archives to a 10 KiB record; keep some of that tail.
        out.extend_from_slice(&[0u8; 4096]);
        out
    }

    #[test]
    fn reassembles_the_same_bytes() {
        let tar = sample_tar();
        let mut split = Vec::new();
        record(&tar[..], &mut split).expect("record");
        let dir = tempfile::tempdir().expect("tempdir");
        tar::Archive::new(&tar[..])
            .unpack(dir.path())
            .expect("unpack");
        assert_eq!(
            reassembled_size(&split[..]).expect("size"),
            tar.len() as u64
        );
        let mut out = Vec::new();
        let n = reassemble(&split[..], dir.path(), &mut out).expect("reassemble");
        assert_eq!(n, tar.len() as u64);
        assert!(out == tar, "reassembled tar differs from the original");
    }

    #[test]
    fn a_changed_file_is_an_error_not_a_silent_difference() {
        let tar = sample_tar();
        let mut split = Vec::new();
        record(&tar[..], &mut split).expect("record");
        let dir = tempfile::tempdir().expect("tempdir");
        tar::Archive::new(&tar[..])
            .unpack(dir.path())
            .expect("unpack");
        std::fs::write(dir.path().join("dir/b.bin"), b"short").expect("write");
        let err = reassemble(&split[..], dir.path(), &mut Vec::new()).expect_err("must fail");
        assert!(err.to_string().contains("b.bin"), "{err}");
    }

    #[test]
    fn a_symlink_in_place_of_a_file_is_not_followed() {
        let tar = sample_tar();
        let mut split = Vec::new();
        record(&tar[..], &mut split).expect("record");
        let dir = tempfile::tempdir().expect("tempdir");
        tar::Archive::new(&tar[..])
            .unpack(dir.path())
            .expect("unpack");
        std::fs::remove_file(dir.path().join("a.txt")).expect("rm");
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("a.txt")).expect("symlink");
        assert!(reassemble(&split[..], dir.path(), &mut Vec::new()).is_err());
    }

    #[test]
    fn garbage_is_drained_and_rejected() {
        let junk = vec![0x41u8; 3000];
        assert!(record(&junk[..], &mut Vec::new()).is_err());
    }
}
