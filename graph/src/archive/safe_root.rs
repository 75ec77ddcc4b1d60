//! Directories of a layer opened strictly inside its root.
//!
//! Every parent directory is opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! relative to a descriptor of the root: `..` stops at the root and a symlink (even an
//! absolute one) is resolved as if the root were `/`, as in a chroot. All later operations are
//! `*at` calls on one final name with `O_NOFOLLOW` or `AT_SYMLINK_NOFOLLOW`, so nothing an
//! archive or a layer contains can lead outside the root.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, fchmod, mkdirat};

use crate::error::{Error, IoContext, Result};

/// How many times to retry an `openat2` that failed with `EAGAIN` (a concurrent rename).
const EAGAIN_RETRIES: usize = 16;

/// A layer root and a cache of the last parent directory used.
#[derive(Debug)]
pub(super) struct SafeRoot {
    path: PathBuf,
    fd: File,
    cached: Option<(Vec<u8>, Rc<File>)>,
}

impl SafeRoot {
    /// Opens the root directory `path` (trusted: it is the caller's, not the archive's).
    pub(super) fn open(path: &Path) -> Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx("open layer root", path)?;
        Ok(SafeRoot {
            path: path.to_path_buf(),
            fd: File::from(fd),
            cached: None,
        })
    }

    /// The host path of `rel`, for messages.
    pub(super) fn host_path(&self, rel: &[u8]) -> PathBuf {
        self.path.join(OsStr::from_bytes(rel))
    }

    /// Opens the directory `rel` inside the root, without creating anything.
    pub(super) fn open_dir(&self, rel: &[u8]) -> nix::Result<File> {
        let path = if rel.is_empty() {
            OsStr::new(".")
        } else {
            OsStr::from_bytes(rel)
        };
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let mut tries = 0;
        loop {
            match openat2(&self.fd, path, how) {
                Err(Errno::EAGAIN) if tries < EAGAIN_RETRIES => tries += 1,
                other => return other.map(File::from),
            }
        }
    }

    /// The directory `rel`, from the cache when it was the last one asked for. Missing
    /// directories are made (mode 0755, owned by the caller), as Docker does for parents an
    /// archive does not list.
    pub(super) fn dir(&mut self, rel: &[u8]) -> Result<Rc<File>> {
        if let Some(fd) = self.cached_dir(rel) {
            return Ok(fd);
        }
        let fd = match self.open_dir(rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => self.make_dirs(rel)?,
            Err(e) => return Err(self.open_error(rel, e)),
        };
        Ok(self.cache(rel, fd))
    }

    /// The directory `rel` if it exists (as a directory), from the cache when it can.
    pub(super) fn existing_dir(&mut self, rel: &[u8]) -> Result<Option<Rc<File>>> {
        if let Some(fd) = self.cached_dir(rel) {
            return Ok(Some(fd));
        }
        match self.open_dir(rel) {
            Ok(fd) => Ok(Some(self.cache(rel, fd))),
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(self.open_error(rel, e)),
        }
    }

    fn cached_dir(&self, rel: &[u8]) -> Option<Rc<File>> {
        match &self.cached {
            Some((path, fd)) if path == rel => Some(Rc::clone(fd)),
            _ => None,
        }
    }

    fn cache(&mut self, rel: &[u8], fd: File) -> Rc<File> {
        let fd = Rc::new(fd);
        self.cached = Some((rel.to_vec(), Rc::clone(&fd)));
        fd
    }

    /// Forgets the cached directory (a directory or symlink somewhere was replaced, so
    /// resolving the same path may now lead elsewhere).
    pub(super) fn invalidate_all(&mut self) {
        self.cached = None;
    }

    fn make_dirs(&self, rel: &[u8]) -> Result<File> {
        let mut parent = self.open_dir(b"").ctx("open layer root", &self.path)?;
        let mut end = 0;
        while end < rel.len() {
            let next = rel[end..]
                .iter()
                .position(|b| *b == b'/')
                .map_or(rel.len(), |i| end + i);
            let (prefix, name) = (&rel[..next], &rel[end..next]);
            end = next + 1;
            parent = match self.open_dir(prefix) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    match mkdirat(
                        &parent,
                        OsStr::from_bytes(name),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => {
                            return Err(Error::io(
                                "create parent directory",
                                self.host_path(prefix),
                                e.into(),
                            ));
                        }
                    }
                    let fd = match self.open_dir(prefix) {
                        Ok(fd) => fd,
                        // mkdir found a name that still does not open: a dangling symlink.
                        Err(Errno::ENOENT) => {
                            return Err(Error::bad_archive(
                                String::from_utf8_lossy(prefix),
                                "a parent of this entry is a symlink to a missing directory",
                            ));
                        }
                        Err(e) => return Err(self.open_error(prefix, e)),
                    };
                    // The umask must not narrow the 0755 Docker gives implied parents.
                    fchmod(&fd, Mode::from_bits_truncate(0o755))
                        .ctx("chmod parent directory", self.host_path(prefix))?;
                    fd
                }
                Err(e) => return Err(self.open_error(prefix, e)),
            };
        }
        Ok(parent)
    }

    fn open_error(&self, rel: &[u8], e: Errno) -> Error {
        match e {
            Errno::ENOSYS => Error::NotSupported(
                "openat2 is missing (Linux 5.6 or later is needed to apply layers safely)".into(),
            ),
            Errno::ENOTDIR => Error::bad_archive(
                String::from_utf8_lossy(rel),
                "a parent of this entry is not a directory in the layer",
            ),
            Errno::ELOOP => Error::bad_archive(
                String::from_utf8_lossy(rel),
                "too many levels of symbolic links",
            ),
            e => Error::io("open directory in layer", self.host_path(rel), e.into()),
        }
    }
}
