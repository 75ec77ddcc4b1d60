//! COPY and ADD into a mounted root filesystem, with Docker's semantics: a directory source
//! copies its contents, a file lands in a destination directory (ending in `/` or existing)
//! or becomes the destination; files keep their mode and mtime and belong to root unless
//! `--chown` says otherwise; ADD unpacks local tar archives (plain, gzip, zstd). Every path
//! written is resolved inside the rootfs, so symlinks in the image never lead outside it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use graph::archive::{ApplyOptions, WhiteoutFormat};
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

use super::context::{Source, SourceRoot};

/// Owner of what is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Resolves `--chown=user[:group]` against the rootfs's /etc/passwd and /etc/group. A user
/// without a group uses the user's id as the group id, as Docker does.
pub fn resolve_chown(rootfs: &Path, spec: &str) -> Result<Owner> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = runtime::resolve_user(rootfs, user)
        .with_context(|| format!("unable to convert uid/gid chown string to host mapping: {spec}"))?
        .uid;
    let gid = match group {
        Some(g) => {
            runtime::resolve_user(rootfs, &format!("0:{g}"))
                .with_context(|| {
                    format!("unable to convert uid/gid chown string to host mapping: {spec}")
                })?
                .gid
        }
        None => uid,
    };
    Ok(Owner { uid, gid })
}

/// One COPY/ADD: sources into `dest` (absolute, in the rootfs).
#[derive(Debug)]
pub struct CopyRequest<'a> {
    /// Where sources come from.
    pub from: &'a SourceRoot,
    /// The sources.
    pub sources: &'a [Source],
    /// The destination as written (after expansion), made absolute.
    pub dest: String,
    /// Owner of everything written.
    pub owner: Owner,
    /// ADD: unpack archives.
    pub extract: bool,
    /// Mode for every file copied (`--chmod`).
    pub chmod: Option<u32>,
}

/// Performs the copy into `rootfs`.
pub fn copy(rootfs: &Path, req: &CopyRequest<'_>) -> Result<()> {
    let dest_is_dir = req.dest.ends_with('/')
        || req.sources.len() > 1
        || fs::metadata(in_root(rootfs, &req.dest)?).is_ok_and(|m| m.is_dir());
    for s in req.sources {
        let meta =
            fs::symlink_metadata(&s.path).with_context(|| format!("stat {}", s.path.display()))?;
        if meta.is_dir() {
            make_dirs(rootfs, &req.dest, req.owner)?;
            copy_dir_contents(req, &s.rel, &s.path, rootfs, &req.dest)?;
            continue;
        }
        if req.extract && meta.is_file() && is_archive(&s.path)? {
            make_dirs(rootfs, &req.dest, req.owner)?;
            let target = in_root(rootfs, &req.dest)?;
            let f = File::open(&s.path).with_context(|| format!("open {}", s.path.display()))?;
            let (_, mut plain) = graph::archive::decompress(f)?;
            graph::archive::apply_layer(
                &target,
                &mut plain,
                &ApplyOptions {
                    whiteouts: WhiteoutFormat::Delete,
                },
            )
            .with_context(|| format!("unpacking {}", s.rel))?;
            continue;
        }
        let name = Path::new(&s.rel)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = if dest_is_dir {
            format!("{}/{}", req.dest.trim_end_matches('/'), name)
        } else {
            req.dest.clone()
        };
        if let Some(parent) = Path::new(&dest).parent() {
            make_dirs(rootfs, &parent.to_string_lossy(), req.owner)?;
        }
        let target = in_root(rootfs, &dest)?;
        copy_entry(req, &s.path, &meta, &target)?;
    }
    Ok(())
}

/// Writes `content` as the file `dest` (a COPY heredoc).
pub fn write_file(
    rootfs: &Path,
    dest: &str,
    content: &[u8],
    owner: Owner,
    mode: u32,
) -> Result<()> {
    if let Some(parent) = Path::new(dest).parent() {
        make_dirs(rootfs, &parent.to_string_lossy(), owner)?;
    }
    let target = in_root(rootfs, dest)?;
    replace_non_dir(&target)?;
    fs::write(&target, content).with_context(|| format!("writing {dest}"))?;
    fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
    chown(&target, owner)
}

/// Creates the directory `dir` (absolute in the rootfs) and its missing parents.
pub fn make_dirs(rootfs: &Path, dir: &str, owner: Owner) -> Result<()> {
    let mut path = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        let host = in_root(rootfs, &path)?;
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("cannot create directory {path}: a file is in the way"),
            Err(_) => {
                fs::create_dir(&host).with_context(|| format!("creating {path}"))?;
                fs::set_permissions(&host, fs::Permissions::from_mode(0o755))?;
                chown(&host, owner)?;
            }
        }
    }
    Ok(())
}

fn in_root(rootfs: &Path, path: &str) -> Result<PathBuf> {
    Ok(runtime::secure_join(rootfs, Path::new(path))?)
}

fn copy_dir_contents(
    req: &CopyRequest<'_>,
    rel: &str,
    src: &Path,
    rootfs: &Path,
    dest: &str,
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = e.path();
        let meta = fs::symlink_metadata(&path)?;
        if req.from.skips(&child_rel) && (!meta.is_dir() || req.from.skips_dir(&child_rel)) {
            continue;
        }
        let child_dest = format!("{}/{}", dest.trim_end_matches('/'), name);
        // Resolved afresh: an image symlink at this name is followed inside the rootfs.
        let child_target = in_root(rootfs, &child_dest)?;
        if meta.is_dir() {
            match fs::symlink_metadata(&child_target) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&child_target)?;
                    fs::create_dir(&child_target)?;
                }
                Err(_) => fs::create_dir(&child_target)
                    .with_context(|| format!("creating {child_dest}"))?,
            }
            copy_dir_contents(req, &child_rel, &path, rootfs, &child_dest)?;
            fs::set_permissions(
                &child_target,
                fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
            )?;
            chown(&child_target, req.owner)?;
            set_mtime(&child_target, &meta)?;
        } else {
            copy_entry(req, &path, &meta, &child_target)?;
        }
    }
    Ok(())
}

fn replace_non_dir(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => bail!(
            "cannot copy to {}: it is a directory (end the destination with / to copy into it)",
            target.display()
        ),
        Ok(_) => fs::remove_file(target).with_context(|| format!("replacing {}", target.display())),
        Err(_) => Ok(()),
    }
}

fn copy_entry(req: &CopyRequest<'_>, src: &Path, meta: &fs::Metadata, target: &Path) -> Result<()> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        replace_non_dir(target)?;
        symlink(fs::read_link(src)?, target)
            .with_context(|| format!("creating symlink {}", target.display()))?;
        chown(target, req.owner)?;
        return Ok(());
    }
    if !ft.is_file() {
        tracing::warn!(path = %src.display(), "skipping a special file in COPY");
        return Ok(());
    }
    replace_non_dir(target)?;
    let mut input = File::open(src).with_context(|| format!("open {}", src.display()))?;
    let mut out = File::create(target).with_context(|| format!("create {}", target.display()))?;
    io::copy(&mut input, &mut out).with_context(|| format!("copying {}", src.display()))?;
    drop(out);
    let mode = req.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
    chown(target, req.owner)?;
    // After chown, which clears setuid/setgid bits.
    fs::set_permissions(target, fs::Permissions::from_mode(mode))?;
    set_mtime(target, meta)
}

fn chown(path: &Path, owner: Owner) -> Result<()> {
    fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        Some(Uid::from_raw(owner.uid)),
        Some(Gid::from_raw(owner.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("chown {}", path.display()))
}

fn set_mtime(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let t = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .with_context(|| format!("setting the mtime of {}", path.display()))
}

/// A tar archive, plain or compressed (what ADD unpacks).
fn is_archive(path: &Path) -> Result<bool> {
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let Ok((_, mut plain)) = graph::archive::decompress(f) else {
        return Ok(false);
    };
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match plain.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return Ok(false),
        }
    }
    Ok(n == 512 && &head[257..262] == b"ustar")
}
