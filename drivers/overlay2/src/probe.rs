//! What the kernel and the backing filesystem can do, found out by trying it.
//!
//! Every probe works in a fresh temporary directory next to the driver home (so it is on the
//! same filesystem) and removes it, unmounting first, whatever happens.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use graph::{Error, IoContext, Result};
use nix::mount::MsFlags;
use tracing::debug;

use crate::backing_fs::BackingFs;
use crate::mount;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const REDIRECT_XATTR: &str = "trusted.overlay.redirect";
const METACOPY_XATTR: &str = "trusted.overlay.metacopy";

/// A scratch directory for one probe: unmounts `merged` and removes itself on drop.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(parent: &Path, what: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!(".overlay2-{what}-check-"))
            .tempdir_in(parent)
            .ctx("create probe directory in", parent)?;
        Ok(Scratch { dir })
    }

    fn mkdirs(&self, names: &[&str]) -> Result<()> {
        for name in names {
            let p = self.path(name);
            fs::create_dir(&p).ctx("create directory", &p)?;
        }
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let merged = self.path("merged");
        if let Err(e) = mount::unmount(&merged) {
            tracing::warn!(error = %e, "unmounting an overlay probe failed");
        }
    }
}

/// Checks that an overlay with two lower directories and an upper can be mounted on the
/// filesystem of `parent`; `NotSupported` when not, so driver selection moves on.
pub fn check_overlay_mount(parent: &Path) -> Result<()> {
    let s = Scratch::new(parent, "overlay")?;
    s.mkdirs(&["lower1", "lower2", "upper", "work", "merged"])?;
    let data = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        s.path("lower2").display(),
        s.path("lower1").display(),
        s.path("upper").display(),
        s.path("work").display()
    );
    mount::mount_overlay(&s.path("merged"), &data, MsFlags::empty()).map_err(|e| {
        Error::NotSupported(format!(
            "overlay2: overlay mounts do not work on the filesystem of {}: {e}",
            parent.display()
        ))
    })?;
    mount::unmount(&s.path("merged"))
}

/// Whether readdir on this filesystem reports file types (d_type); overlay needs it.
pub fn supports_d_type(parent: &Path) -> Result<bool> {
    let s = Scratch::new(parent, "dtype")?;
    let f = s.path("file");
    fs::write(&f, b"").ctx("create", &f)?;
    s.mkdirs(&["dir"])?;
    let mut dir = nix::dir::Dir::open(
        s.dir.path(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .ctx("open directory", s.dir.path())?;
    for entry in dir.iter() {
        let entry = entry.ctx("read directory", s.dir.path())?;
        if entry.file_type().is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The error for a backing filesystem without d_type, with Docker's advice.
pub fn d_type_error(fs: &BackingFs) -> Error {
    let name = fs.name();
    let mut msg = format!(
        "overlay2: the backing {name} filesystem is formatted without d_type support, which leads to incorrect behavior."
    );
    if fs.is_xfs() {
        msg.push_str(
            " The xfs filesystem was formatted with ftype=0; reformat it with ftype=1 to enable d_type support.",
        );
    } else if name == "extfs" {
        msg.push_str(
            " Reformat the filesystem (or use tune2fs) with -O filetype to enable d_type support.",
        );
    }
    msg.push_str(" Backing filesystems without d_type support are not supported.");
    Error::NotSupported(msg)
}

/// Why the native diff (tar the upper directory) would be wrong on this kernel, if it would:
/// an opaque directory's xattr copied up with it (kernels before 4.8), or `redirect_dir`, with
/// which a renamed directory's upper holds only a redirect, not its content.
pub fn native_diff_problem(parent: &Path) -> Result<Option<String>> {
    let s = Scratch::new(parent, "native-diff")?;
    s.mkdirs(&["l1", "l2", "l3", "work", "merged"])?;
    let opaque_dir = s.path("l2/d");
    fs::create_dir(&opaque_dir).ctx("create directory", &opaque_dir)?;
    xattr::set(&opaque_dir, OPAQUE_XATTR, b"y").ctx("set opaque xattr", &opaque_dir)?;
    let data = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        s.path("l2").display(),
        s.path("l1").display(),
        s.path("l3").display(),
        s.path("work").display()
    );
    let merged = s.path("merged");
    mount::mount_overlay(&merged, &data, MsFlags::empty())?;

    // Copy-up of the opaque directory must not carry the opaque xattr into the upper.
    let f = merged.join("d/f");
    fs::write(&f, b"").ctx("write", &f)?;
    let upper_d = s.path("l3/d");
    if xattr::get(&upper_d, OPAQUE_XATTR)
        .ctx("read xattr", &upper_d)?
        .is_some_and(|v| v == b"y")
    {
        return Ok(Some(
            "the kernel copies up the opaque flag of directories (fixed in Linux 4.8)".into(),
        ));
    }

    // A directory rename that succeeds leaves a redirect in the upper: redirect_dir is on.
    let renamed = merged.join("d2");
    match fs::rename(merged.join("d"), &renamed) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => return Ok(None),
        Err(e) => return Err(Error::io("rename directory in", &merged, e)),
        Ok(()) => {}
    }
    let upper_d2 = s.path("l3/d2");
    let redirect = xattr::get(&upper_d2, REDIRECT_XATTR).ctx("read xattr", &upper_d2)?;
    if redirect.is_some_and(|v| !v.is_empty()) {
        return Ok(Some("the kernel has overlay redirect_dir enabled".into()));
    }
    Ok(None)
}

/// Whether copy-up is metadata-only (`metacopy=on`): a chmod in the merged tree leaves a
/// metacopy xattr on the upper copy.
pub fn uses_metacopy(parent: &Path) -> Result<bool> {
    let s = Scratch::new(parent, "metacopy")?;
    s.mkdirs(&["l1", "l2", "work", "merged"])?;
    let f = s.path("l1/f");
    fs::write(&f, b"x").ctx("create", &f)?;
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        s.path("l1").display(),
        s.path("l2").display(),
        s.path("work").display()
    );
    let merged = s.path("merged");
    mount::mount_overlay(&merged, &data, MsFlags::empty())?;
    let mf = merged.join("f");
    fs::set_permissions(&mf, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .ctx("chmod", &mf)?;
    let upper = s.path("l2/f");
    let attr = match xattr::get(&upper, METACOPY_XATTR) {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read xattr", upper, e)),
    };
    debug!(metacopy = attr.is_some(), "overlay metacopy probe");
    Ok(attr.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d_type_error_gives_dockers_advice_for_xfs() {
        let msg = d_type_error(&BackingFs::from_magic(0x5846_5342)).to_string();
        assert!(msg.contains("without d_type support"), "{msg}");
        assert!(msg.contains("ftype=0") && msg.contains("ftype=1"), "{msg}");
        assert_eq!(
            d_type_error(&BackingFs::from_magic(0x5846_5342)).kind(),
            graph::ErrorKind::NotSupported
        );
    }
}
