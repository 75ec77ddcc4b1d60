//! Writing a directory tree, or a list of changes in it, as a layer tar.
//!
//! Entries come in path order (siblings sorted bytewise, each directory before its children),
//! with ownership, mode, mtime, xattrs and hard links; everything is read through descriptors
//! opened inside the root, never by following a symlink the tree contains.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat, major, minor};
use tar::EntryType;

use super::entry_path;
use super::safe_root::SafeRoot;
use super::tar_writer::{EntryHeader, TarWriter};
use super::whiteout::{self, OPAQUE, OVERLAY_OPAQUE_XATTR};
use super::{WhiteoutFormat, dir_listing, xattrs};
use crate::driver::{Change, ChangeKind};
use crate::error::{Error, IoContext, Result};

pub(super) fn export_tree(
    root: &Path,
    out: &mut dyn Write,
    whiteouts: WhiteoutFormat,
) -> Result<()> {
    let span = tracing::debug_span!("export_tree", root = %root.display(), whiteouts = ?whiteouts);
    let _guard = span.enter();
    let safe = SafeRoot::open(root)?;
    let top = safe.open_dir(b"").ctx("open layer root", root)?;
    let mut exporter = Exporter::new(root, out, whiteouts);
    exporter.walk(&top, b"")?;
    exporter.finish()
}

pub(super) fn export_changes(root: &Path, changes: &[Change], out: &mut dyn Write) -> Result<()> {
    let span =
        tracing::debug_span!("export_changes", root = %root.display(), changes = changes.len());
    let _guard = span.enter();
    let mut sorted: Vec<&Change> = changes.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path).then(a.kind.cmp(&b.kind)));
    sorted.dedup_by(|a, b| a.path == b.path);
    let mut safe = SafeRoot::open(root)?;
    let mut exporter = Exporter::new(root, out, WhiteoutFormat::Delete);
    for change in sorted {
        let raw = change.path.as_os_str().as_bytes();
        let rel = entry_path::clean(raw).map_err(|reason| {
            Error::InvalidInput(format!("change {}: {reason}", change.path.display()))
        })?;
        if rel.is_root() {
            continue;
        }
        let (parent, base) = rel.split();
        if change.kind == ChangeKind::Delete {
            let name = entry_path::join(parent, &whiteout::name_for(base));
            exporter.append(
                &EntryHeader::new(name, EntryType::Regular),
                &mut io::empty(),
                rel.as_bytes(),
            )?;
            continue;
        }
        let host = root.join(OsStr::from_bytes(rel.as_bytes()));
        let dir = safe
            .existing_dir(parent)?
            .ok_or_else(|| Error::io("export changed path", &host, Errno::ENOENT.into()))?;
        let st = fstatat(&*dir, OsStr::from_bytes(base), AtFlags::AT_SYMLINK_NOFOLLOW)
            .ctx("stat changed path", &host)?;
        exporter.emit(&dir, rel.as_bytes(), base, &st)?;
    }
    exporter.finish()
}

/// One tar being written from a tree.
struct Exporter<'a> {
    root: PathBuf,
    tar: TarWriter<'a>,
    whiteouts: WhiteoutFormat,
    /// First path exported for each (device, inode) with more than one link.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<'a> Exporter<'a> {
    fn new(root: &Path, out: &'a mut dyn Write, whiteouts: WhiteoutFormat) -> Self {
        Exporter {
            root: root.to_path_buf(),
            tar: TarWriter::new(out),
            whiteouts,
            links: HashMap::new(),
        }
    }

    fn host(&self, rel: &[u8]) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel))
    }

    /// Exports everything under `dir` (at `rel`), depth first, siblings sorted.
    fn walk(&mut self, dir: &File, rel: &[u8]) -> Result<()> {
        for name in dir_listing::names(dir).ctx("list directory", self.host(rel))? {
            let child = entry_path::join(rel, &name);
            let st = match fstatat(dir, OsStr::from_bytes(&name), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::ENOENT) => continue, // removed while we walked
                Err(e) => return Err(Error::io("stat", self.host(&child), e.into())),
            };
            self.emit(dir, &child, &name, &st)?;
            if file_type(&st) == SFlag::S_IFDIR {
                let sub = dir_listing::open_subdir(dir, &name)
                    .ctx("open directory", self.host(&child))?;
                self.walk(&sub, &child)?;
            }
        }
        Ok(())
    }

    /// Exports the one entry `name` in `dir`, at `rel`, whose lstat is `st`.
    fn emit(&mut self, dir: &File, rel: &[u8], name: &[u8], st: &FileStat) -> Result<()> {
        let kind = file_type(st);
        let mut entry = EntryHeader::new(rel.to_vec(), EntryType::Regular);
        entry.mode = st.st_mode & 0o7777;
        entry.uid = u64::from(st.st_uid);
        entry.gid = u64::from(st.st_gid);
        entry.mtime = u64::try_from(st.st_mtime).unwrap_or(0);
        if kind == SFlag::S_IFSOCK {
            tracing::debug!(path = %self.host(rel).display(), "skipping socket");
            return Ok(());
        }
        if kind == SFlag::S_IFCHR && st.st_rdev == 0 && self.whiteouts == WhiteoutFormat::Overlay {
            let (parent, base) = entry_path::split(rel);
            entry.path = entry_path::join(parent, &whiteout::name_for(base));
            entry.mode = 0o600;
            return self.append(&entry, &mut io::empty(), rel);
        }
        if kind != SFlag::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                entry.kind = EntryType::Link;
                entry.link = Some(first.clone());
                return self.append(&entry, &mut io::empty(), rel);
            }
            self.links.insert(key, rel.to_vec());
        }
        entry.xattrs = xattrs::list_at(dir, name).ctx("list xattrs", self.host(rel))?;
        let os_name = OsStr::from_bytes(name);
        match kind {
            SFlag::S_IFREG => {
                entry.size = u64::try_from(st.st_size).unwrap_or(0);
                let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let file = File::from(
                    openat(dir, os_name, flags, Mode::empty()).ctx("open file", self.host(rel))?,
                );
                let mut content = ExactReader {
                    inner: file,
                    remaining: entry.size,
                };
                self.append(&entry, &mut content, rel)
            }
            SFlag::S_IFDIR => {
                entry.kind = EntryType::Directory;
                self.append(&entry, &mut io::empty(), rel)?;
                if self.whiteouts == WhiteoutFormat::Overlay
                    && xattrs::get_at(dir, name, OVERLAY_OPAQUE_XATTR)
                        .ctx("read opaque xattr", self.host(rel))?
                        .as_deref()
                        == Some(b"y")
                {
                    let mut marker =
                        EntryHeader::new(entry_path::join(rel, OPAQUE), EntryType::Regular);
                    marker.mode = entry.mode & 0o777;
                    marker.uid = entry.uid;
                    marker.gid = entry.gid;
                    marker.mtime = entry.mtime;
                    self.append(&marker, &mut io::empty(), rel)?;
                }
                Ok(())
            }
            SFlag::S_IFLNK => {
                entry.kind = EntryType::Symlink;
                let target = readlinkat(dir, os_name).ctx("read symlink", self.host(rel))?;
                entry.link = Some(target.as_bytes().to_vec());
                self.append(&entry, &mut io::empty(), rel)
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK => {
                entry.kind = if kind == SFlag::S_IFCHR {
                    EntryType::Char
                } else {
                    EntryType::Block
                };
                let (maj, min) = (major(st.st_rdev), minor(st.st_rdev));
                entry.device = (
                    u32::try_from(maj).map_err(|_| {
                        Error::InvalidInput(format!(
                            "{}: device major {maj} too large",
                            self.host(rel).display()
                        ))
                    })?,
                    u32::try_from(min).map_err(|_| {
                        Error::InvalidInput(format!(
                            "{}: device minor {min} too large",
                            self.host(rel).display()
                        ))
                    })?,
                );
                self.append(&entry, &mut io::empty(), rel)
            }
            SFlag::S_IFIFO => {
                entry.kind = EntryType::Fifo;
                self.append(&entry, &mut io::empty(), rel)
            }
            _ => {
                tracing::warn!(path = %self.host(rel).display(), mode = st.st_mode, "skipping file of unknown type");
                Ok(())
            }
        }
    }

    fn append(&mut self, entry: &EntryHeader, data: &mut dyn Read, rel: &[u8]) -> Result<()> {
        let host = self.host(rel);
        self.tar
            .append(entry, data)
            .ctx("write layer tar entry", host)
    }

    fn finish(self) -> Result<()> {
        self.tar.finish().ctx("finish layer tar", self.root)
    }
}

fn file_type(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// Yields exactly `remaining` bytes of a file: more is cut, less (the file shrank while
/// being exported) is an error rather than a corrupt tar.
struct ExactReader {
    inner: File,
    remaining: u64,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being exported",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
