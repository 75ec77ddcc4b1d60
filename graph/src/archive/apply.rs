//! The apply loop: one tar entry at a time, every path resolved inside the layer root.
//!
//! Entries are created with `*at` calls on a parent directory opened by [`SafeRoot`], never
//! through a path the archive controls. Content streams through one reusable buffer.
//! Directory mtimes are set last, deepest first, since creating children changes them.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};
use tar::EntryType;

use super::entry_meta::EntryMeta;
use super::entry_path::{self, MAX_PATH, RelPath};
use super::entry_size;
use super::remove::{self, Removed};
use super::safe_root::SafeRoot;
use super::sparse;
use super::whiteout::{self, OVERLAY_OPAQUE_XATTR, Whiteout};
use super::{ApplyOptions, WhiteoutFormat, dir_listing, xattrs};
use crate::error::{Error, IoContext, Result};

/// Size of the buffer file content streams through.
const COPY_BUFFER: usize = 1 << 20;
/// The largest old GNU sparse (`S`) file applied. The tar crate hands such a file over with
/// its holes expanded to zeros, so a tiny hostile archive claiming exabytes would keep the
/// apply loop reading zeros for ever; 64 GiB of zeros take seconds.
const OLD_GNU_SPARSE_MAX: u64 = 64 << 30;

pub(super) fn apply_layer(root: &Path, tar: &mut dyn Read, opts: &ApplyOptions) -> Result<u64> {
    let span =
        tracing::debug_span!("apply_layer", root = %root.display(), whiteouts = ?opts.whiteouts);
    let _guard = span.enter();
    let mut applier = Applier::new(root, opts.whiteouts)?;
    let mut archive = tar::Archive::new(super::pax_escape::PaxEscaper::new(tar));
    let entries = archive
        .entries()
        .map_err(|e| entry_size::header_error(e, None))?;
    let mut last: Option<String> = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| entry_size::header_error(e, last.as_deref()))?;
        last = Some(applier.apply(&mut entry)?);
    }
    // Read past the end-of-archive blocks to the end of the stream, so a compressed input's
    // trailer (gzip CRC, zstd checksum) is checked and a caller's digest covers everything.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| Error::bad_archive("<end of archive>", e.to_string()))?;
    applier.finish()
}

/// Owner, then mode (`chmod`: not for symlinks), xattrs and times of the entry `base` that
/// was just created in `parent`, in that order: chown clears setuid bits and capabilities.
fn set_metadata_at(
    parent: &File,
    base: &[u8],
    meta: &EntryMeta,
    chmod: bool,
    host: &Path,
) -> Result<()> {
    let name = OsStr::from_bytes(base);
    fchownat(
        parent,
        name,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx("chown", host)?;
    if chmod {
        // The entry was made just above and is not a symlink: following is harmless.
        fchmodat(
            parent,
            name,
            Mode::from_bits_truncate(meta.mode),
            FchmodatFlags::FollowSymlink,
        )
        .ctx("chmod", host)?;
    }
    xattrs::set_at(parent, base, &meta.xattrs).ctx("set xattrs", host)?;
    utimensat(
        parent,
        name,
        &meta.mtime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .ctx("set times", host)
}

/// What a (non-whiteout) entry creates.
#[derive(Debug, Clone, Copy)]
enum Kind {
    File { sparse: bool },
    Dir,
    Symlink,
    Hardlink,
    Node(SFlag),
}

impl Kind {
    fn of(t: EntryType, name: &str) -> Result<Self> {
        Ok(match t {
            EntryType::Regular | EntryType::Continuous => Kind::File { sparse: false },
            EntryType::GNUSparse => Kind::File { sparse: true },
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::Hardlink,
            EntryType::Char => Kind::Node(SFlag::S_IFCHR),
            EntryType::Block => Kind::Node(SFlag::S_IFBLK),
            EntryType::Fifo => Kind::Node(SFlag::S_IFIFO),
            other => {
                return Err(Error::bad_archive(
                    name,
                    format!(
                        "unsupported entry type {:?} (type flag {:?})",
                        other,
                        other.as_byte() as char
                    ),
                ));
            }
        })
    }
}

/// The state of one apply run.
struct Applier {
    root: SafeRoot,
    whiteouts: WhiteoutFormat,
    buf: Vec<u8>,
    /// Every path this archive created or needed as a parent: what an opaque marker keeps.
    applied: HashSet<Vec<u8>>,
    last_parent: Option<Vec<u8>>,
    dir_times: Vec<(RelPath, TimeSpec)>,
    written: u64,
}

impl Applier {
    fn new(root: &Path, whiteouts: WhiteoutFormat) -> Result<Self> {
        Ok(Applier {
            root: SafeRoot::open(root)?,
            whiteouts,
            buf: vec![0; COPY_BUFFER],
            applied: HashSet::new(),
            last_parent: None,
            dir_times: Vec::new(),
            written: 0,
        })
    }

    /// Applies one entry; gives its name back (for messages about what follows it).
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<String> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            tracing::debug!(entry = %name, "skipping PAX global header");
            return Ok(name);
        }
        let size = entry_size::checked_size(entry, &name)?;
        // A PAX sparse file carries its real name in GNU.sparse.name (the header's is
        // GNUSparseFile.N/NAME).
        let sparse = sparse::from_pax(entry, &name)?;
        let (raw, name) = match sparse.as_ref().and_then(|s| s.name.clone()) {
            Some(real) => {
                let shown = String::from_utf8_lossy(&real).into_owned();
                (real, shown)
            }
            None => (raw, name),
        };

        let path = entry_path::clean(&raw).map_err(|reason| Error::bad_archive(&name, reason))?;
        if path.is_root() {
            if entry_type.is_dir() {
                // Docker leaves the layer root's own metadata alone.
                entry_size::drain(entry, &name, size)?;
                return Ok(name);
            }
            return Err(Error::bad_archive(
                &name,
                "entry names the layer root but is not a directory",
            ));
        }
        let meta = EntryMeta::read(entry, &name)?;
        let (parent, base) = path.split();
        let wh = whiteout::classify(base).map_err(|reason| Error::bad_archive(&name, reason))?;
        let kind = match wh {
            Whiteout::None => Some(Kind::of(entry_type, &name)?),
            _ => None,
        };
        if !matches!(kind, Some(Kind::File { .. })) {
            // Content of anything but a file is not used, but it must be there.
            entry_size::drain(entry, &name, size)?;
        }
        let parent_dir = self.root.dir(parent)?;
        self.note_parents(parent);
        match (kind, wh) {
            (Some(_), _) if let Some(sparse) = sparse => {
                self.write_pax_sparse(entry, &name, &path, &parent_dir, sparse, size, &meta)?;
                self.applied.insert(path.as_bytes().to_vec());
            }
            (Some(kind), _) => {
                self.create(entry, &name, &path, &parent_dir, kind, &meta)?;
                self.applied.insert(path.as_bytes().to_vec());
            }
            (None, Whiteout::Meta) => {
                tracing::debug!(entry = %name, "skipping whiteout meta entry")
            }
            (None, Whiteout::Remove(target)) => {
                self.whiteout(&parent_dir, parent, target, &meta)?
            }
            (None, Whiteout::Opaque) => self.opaque(&parent_dir, parent)?,
            (None, Whiteout::None) => {}
        }
        Ok(name)
    }

    /// Records `parent` and its ancestors as applied (they must stay under an opaque marker).
    fn note_parents(&mut self, parent: &[u8]) {
        if self.last_parent.as_deref() == Some(parent) {
            return;
        }
        let mut end = parent.len();
        while end > 0 {
            let prefix = &parent[..end];
            if !self.applied.insert(prefix.to_vec()) {
                break;
            }
            end = entry_path::split(prefix).0.len();
        }
        self.last_parent = Some(parent.to_vec());
    }

    fn create<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        path: &RelPath,
        parent: &File,
        kind: Kind,
        meta: &EntryMeta,
    ) -> Result<()> {
        match kind {
            Kind::File { sparse } => self.write_file(entry, name, path, parent, sparse, meta),
            Kind::Dir => self.make_dir(path, parent, meta),
            Kind::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .ok_or_else(|| Error::bad_archive(name, "symlink without a target"))?;
                self.make_symlink(name, path, parent, &target, meta)
            }
            Kind::Hardlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .ok_or_else(|| Error::bad_archive(name, "hard link without a target"))?;
                self.make_hardlink(name, path, parent, &target, meta)
            }
            Kind::Node(node) => self.make_node(path, parent, node, meta),
        }
    }

    /// Removes whatever stands at `path` so an entry can take its place.
    fn remove_existing(&mut self, parent: &File, path: &RelPath) -> Result<()> {
        let removed = remove::remove_all_at(parent, path.split().1).ctx(
            "remove existing entry",
            self.root.host_path(path.as_bytes()),
        )?;
        if removed == Removed::DirOrSymlink {
            self.root.invalidate_all();
        }
        Ok(())
    }

    /// Runs `make`; if the name is taken, removes what is there and runs it again.
    fn create_replacing<T>(
        &mut self,
        parent: &File,
        path: &RelPath,
        op: &'static str,
        mut make: impl FnMut() -> nix::Result<T>,
    ) -> Result<T> {
        match make() {
            Err(Errno::EEXIST) => {
                self.remove_existing(parent, path)?;
                make().ctx(op, self.root.host_path(path.as_bytes()))
            }
            other => other.ctx(op, self.root.host_path(path.as_bytes())),
        }
    }

    /// Creates (or replaces) the regular file `path`, empty, mode 0600 until its metadata.
    fn create_file(&mut self, parent: &File, path: &RelPath) -> Result<File> {
        let base = OsStr::from_bytes(path.split().1);
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = self.create_replacing(parent, path, "create file", || {
            openat(parent, base, flags, Mode::from_bits_truncate(0o600))
        })?;
        Ok(File::from(fd))
    }

    /// Copies up to `len` bytes of the entry's content into `file` at its offset; with
    /// `holes`, all-zero chunks are skipped over (left as holes). Returns the bytes copied
    /// (fewer than `len` only when the content ends) and whether a hole was left.
    fn copy_content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        file: &mut File,
        len: u64,
        holes: bool,
        name: &str,
        host: &Path,
    ) -> Result<(u64, bool)> {
        let mut done: u64 = 0;
        let mut skipped = false;
        while done < len {
            let want =
                usize::try_from(len - done).map_or(self.buf.len(), |l| l.min(self.buf.len()));
            let n = match entry.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::bad_archive(
                        name,
                        format!("reading file content: {e}"),
                    ));
                }
            };
            let chunk = &self.buf[..n];
            if holes && chunk.iter().all(|b| *b == 0) {
                file.seek(SeekFrom::Current(n as i64))
                    .ctx("seek in file", host)?;
                skipped = true;
            } else {
                file.write_all(chunk).ctx("write file", host)?;
            }
            done += n as u64;
        }
        Ok((done, skipped))
    }

    /// Owner, then mode, xattrs and times of a file just written (chown clears setuid/setgid
    /// and file capabilities, so it goes first).
    fn finish_file(file: &File, meta: &EntryMeta, host: &Path) -> Result<()> {
        fchown(
            file,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .ctx("chown file", host)?;
        fchmod(file, Mode::from_bits_truncate(meta.mode)).ctx("chmod file", host)?;
        xattrs::set_fd(file, &meta.xattrs).ctx("set xattrs on file", host)?;
        futimens(file, &meta.mtime, &meta.mtime).ctx("set file times", host)
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        path: &RelPath,
        parent: &File,
        sparse: bool,
        meta: &EntryMeta,
    ) -> Result<()> {
        let want = entry.size();
        if sparse && want > OLD_GNU_SPARSE_MAX {
            return Err(Error::bad_archive(
                name,
                format!(
                    "old GNU sparse file of {want} bytes: its holes would be read byte by byte; at most {OLD_GNU_SPARSE_MAX} are taken (PAX sparse files have no such limit)"
                ),
            ));
        }
        let mut file = self.create_file(parent, path)?;
        let host = self.root.host_path(path.as_bytes());
        let (done, holes) = self.copy_content(entry, &mut file, want, sparse, name, &host)?;
        if done != want {
            return Err(entry_size::runs_past_the_end(name, want, done));
        }
        if holes {
            file.set_len(done).ctx("extend sparse file", &host)?;
        }
        Self::finish_file(&file, meta, &host)?;
        self.written += done;
        Ok(())
    }

    /// A GNU PAX sparse file: each fragment written at its offset, the rest left as holes,
    /// the file extended to its real size. `size` is the entry's content (map and data).
    #[allow(clippy::too_many_arguments)] // one entry's parts, as write_file takes them
    fn write_pax_sparse<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        path: &RelPath,
        parent: &File,
        mut sparse: sparse::Sparse,
        size: u64,
        meta: &EntryMeta,
    ) -> Result<()> {
        let (fragments, map_bytes) = sparse.checked_fragments(entry, size, name)?;
        let mut file = self.create_file(parent, path)?;
        let host = self.root.host_path(path.as_bytes());
        let mut data = 0u64;
        for (offset, len) in fragments {
            file.seek(SeekFrom::Start(offset))
                .ctx("seek in file", &host)?;
            let (done, _) = self.copy_content(entry, &mut file, len, true, name, &host)?;
            data += done;
            if done != len {
                return Err(entry_size::runs_past_the_end(name, size, map_bytes + data));
            }
        }
        file.set_len(sparse.real_size)
            .ctx("extend sparse file", &host)?;
        Self::finish_file(&file, meta, &host)?;
        self.written += data;
        Ok(())
    }

    fn make_dir(&mut self, path: &RelPath, parent: &File, meta: &EntryMeta) -> Result<()> {
        let base = path.split().1;
        let host = self.root.host_path(path.as_bytes());
        let os_base = OsStr::from_bytes(base);
        match mkdirat(parent, os_base, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let st = fstatat(parent, os_base, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .ctx("stat existing entry", &host)?;
                if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
                    self.remove_existing(parent, path)?;
                    mkdirat(parent, os_base, Mode::from_bits_truncate(0o700))
                        .ctx("create directory", &host)?;
                }
            }
            Err(e) => return Err(Error::io("create directory", host, e.into())),
        }
        let dir = dir_listing::open_subdir(parent, base).ctx("open directory", &host)?;
        fchown(
            &dir,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .ctx("chown directory", &host)?;
        fchmod(&dir, Mode::from_bits_truncate(meta.mode)).ctx("chmod directory", &host)?;
        xattrs::set_fd(&dir, &meta.xattrs).ctx("set xattrs on directory", &host)?;
        self.dir_times.push((path.clone(), meta.mtime));
        Ok(())
    }

    fn make_symlink(
        &mut self,
        name: &str,
        path: &RelPath,
        parent: &File,
        target: &[u8],
        meta: &EntryMeta,
    ) -> Result<()> {
        if target.is_empty() || target.contains(&0) || target.len() > MAX_PATH {
            return Err(Error::bad_archive(
                name,
                "invalid symlink target (empty, NUL byte or too long)",
            ));
        }
        let base = OsStr::from_bytes(path.split().1);
        let os_target = OsStr::from_bytes(target);
        self.create_replacing(parent, path, "create symlink", || {
            symlinkat(os_target, parent, base)
        })?;
        let host = self.root.host_path(path.as_bytes());
        set_metadata_at(parent, path.split().1, meta, false, &host)
    }

    /// A hard link shares the target's inode, whose metadata came with the target's own
    /// entry; only xattrs the link entry lists are (re)applied.
    fn make_hardlink(
        &mut self,
        name: &str,
        path: &RelPath,
        parent: &File,
        raw_target: &[u8],
        meta: &EntryMeta,
    ) -> Result<()> {
        let target = entry_path::clean(raw_target)
            .map_err(|reason| Error::bad_archive(name, format!("hard link target: {reason}")))?;
        if target.is_root() {
            return Err(Error::bad_archive(
                name,
                "hard link target is the layer root",
            ));
        }
        let missing = || Error::bad_archive(name, "hard link target does not exist in the layer");
        let (target_parent, target_base) = target.split();
        let target_dir = match self.root.open_dir(target_parent) {
            Ok(dir) => dir,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(missing()),
            Err(e) => {
                return Err(Error::io(
                    "open hard link target directory",
                    self.root.host_path(target_parent),
                    e.into(),
                ));
            }
        };
        let (old, new) = (
            OsStr::from_bytes(target_base),
            OsStr::from_bytes(path.split().1),
        );
        let host = self.root.host_path(path.as_bytes());
        let link = || linkat(&target_dir, old, parent, new, AtFlags::empty());
        match link() {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let same = match (
                    fstatat(&target_dir, old, AtFlags::AT_SYMLINK_NOFOLLOW),
                    fstatat(parent, new, AtFlags::AT_SYMLINK_NOFOLLOW),
                ) {
                    (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
                    _ => false,
                };
                if !same {
                    self.remove_existing(parent, path)?;
                    link().map_err(|e| self.link_error(name, &host, &target_dir, old, e))?;
                }
            }
            Err(e) => return Err(self.link_error(name, &host, &target_dir, old, e)),
        }
        xattrs::set_at(parent, path.split().1, &meta.xattrs).ctx("set xattrs on hard link", &host)
    }

    fn link_error(
        &self,
        name: &str,
        host: &Path,
        target_dir: &File,
        old: &OsStr,
        e: Errno,
    ) -> Error {
        match e {
            Errno::ENOENT => {
                Error::bad_archive(name, "hard link target does not exist in the layer")
            }
            Errno::EPERM
                if fstatat(target_dir, old, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| {
                    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
                }) =>
            {
                Error::bad_archive(name, "hard link target is a directory")
            }
            e => Error::io("create hard link", host, e.into()),
        }
    }

    fn make_node(
        &mut self,
        path: &RelPath,
        parent: &File,
        node: SFlag,
        meta: &EntryMeta,
    ) -> Result<()> {
        let base = OsStr::from_bytes(path.split().1);
        let dev = makedev(meta.device.0, meta.device.1);
        self.create_replacing(parent, path, "create device node", || {
            mknodat(parent, base, node, Mode::from_bits_truncate(0o600), dev)
        })?;
        let host = self.root.host_path(path.as_bytes());
        set_metadata_at(parent, path.split().1, meta, true, &host)
    }

    /// `.wh.TARGET` in `parent`.
    fn whiteout(
        &mut self,
        parent: &File,
        parent_rel: &[u8],
        target: &[u8],
        meta: &EntryMeta,
    ) -> Result<()> {
        let target_rel = entry_path::join(parent_rel, target);
        let host = self.root.host_path(&target_rel);
        remove::remove_all_at(parent, target).ctx("remove whited-out entry", &host)?;
        self.root.invalidate_all();
        if self.whiteouts == WhiteoutFormat::Overlay {
            let os_target = OsStr::from_bytes(target);
            mknodat(
                parent,
                os_target,
                SFlag::S_IFCHR,
                Mode::empty(),
                makedev(0, 0),
            )
            .ctx("create whiteout device", &host)?;
            fchownat(
                parent,
                os_target,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .ctx("chown whiteout device", &host)?;
        }
        Ok(())
    }

    /// `.wh..wh..opq` in `parent`.
    fn opaque(&mut self, parent: &File, parent_rel: &[u8]) -> Result<()> {
        let host = self.root.host_path(parent_rel);
        match self.whiteouts {
            WhiteoutFormat::Overlay => {
                let attr = [(OVERLAY_OPAQUE_XATTR.as_bytes().to_vec(), b"y".to_vec())];
                xattrs::set_fd(parent, &attr).ctx("mark directory opaque", host)
            }
            WhiteoutFormat::Delete => {
                remove::prune_opaque(parent, parent_rel, &self.applied)
                    .ctx("empty opaque directory", host)?;
                self.root.invalidate_all();
                Ok(())
            }
        }
    }

    /// Sets directory mtimes, deepest first, and returns the bytes written.
    fn finish(mut self) -> Result<u64> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|(path, _)| Reverse(path.depth()));
        for (path, mtime) in &times {
            let (parent, base) = path.split();
            let Some(dir) = self.root.existing_dir(parent)? else {
                continue;
            };
            match utimensat(
                &*dir,
                OsStr::from_bytes(base),
                mtime,
                mtime,
                UtimensatFlags::NoFollowSymlink,
            ) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => {
                    return Err(Error::io(
                        "set directory times",
                        self.root.host_path(path.as_bytes()),
                        e.into(),
                    ));
                }
            }
        }
        tracing::debug!(bytes = self.written, "layer applied");
        Ok(self.written)
    }
}
