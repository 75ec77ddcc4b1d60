//! `cp` and the API's `/containers/{id}/archive`: reading and writing paths of a container
//! as the container sees them, volumes, bind mounts and its /etc files included.
//!
//! The work runs on a thread of its own whose filesystem view is the container's: for a
//! running container the thread joins the container's mount namespace (its root becomes the
//! container's root, as for `exec`); for a stopped one the thread gets a private mount
//! namespace where the writable layer is mounted and the container's volumes and binds are
//! bound onto it, and it chroots there. Every path is then resolved by the kernel inside the
//! container's root: `..` stops at it and symlinks (absolute or not) resolve inside it, so
//! no path given by a user or found in the container can reach the host. The thread ends
//! with the job, taking its namespace (and, for a stopped container, the binds) with it.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use serde::Serialize;

use super::record::Record;
use super::store::ContainerStore;
use crate::engine::Engine;
use crate::volume::local;
use crate::volume::store::VolumeStore;

/// A path that is not in the container (Docker's 404).
#[derive(Debug)]
pub struct NoSuchPath(pub String);

impl std::fmt::Display for NoSuchPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoSuchPath {}

/// Docker's `ContainerPathStat` (`X-Docker-Container-Path-Stat`, base64 JSON).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits.
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    /// Where a symlink leads, as a path in the container.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// The header value: base64 of the JSON.
    pub fn header(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// A directory (Go's `ModeDir`).
    pub fn is_dir(&self) -> bool {
        self.mode & GO_DIR != 0
    }
}

const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;

/// Unix mode bits as Go's `os.FileMode`.
fn go_mode(meta: &fs::Metadata) -> u32 {
    let m = meta.mode();
    let ft = meta.file_type();
    let mut out = m & 0o777;
    if ft.is_dir() {
        out |= GO_DIR;
    } else if ft.is_symlink() {
        out |= GO_SYMLINK;
    } else if ft.is_fifo() {
        out |= GO_PIPE;
    } else if ft.is_socket() {
        out |= GO_SOCKET;
    } else if ft.is_block_device() {
        out |= GO_DEVICE;
    } else if ft.is_char_device() {
        out |= GO_DEVICE | GO_CHARDEV;
    }
    if m & 0o4000 != 0 {
        out |= GO_SETUID;
    }
    if m & 0o2000 != 0 {
        out |= GO_SETGID;
    }
    if m & 0o1000 != 0 {
        out |= GO_STICKY;
    }
    out
}

/// `path` as given, made absolute, with its last component (Docker's `filepath.Base` of it:
/// `"."` for `/x/.` and `/`).
pub fn base_name(path: &str) -> String {
    if path.ends_with("/.") || path.trim_end_matches('/').is_empty() {
        return ".".into();
    }
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(".")
        .to_string()
}

/// The path made absolute in the container (relative paths are from `/`, as Docker's).
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Stats `path` in the current view: the last component is not followed unless the path
/// ends with `/` or `/.` (Docker's rule).
fn stat_here(path: &str) -> Result<PathStat> {
    let abs = absolute(path);
    let follow = abs.ends_with('/') || abs.ends_with("/.");
    let meta = if follow {
        fs::metadata(&abs)
    } else {
        fs::symlink_metadata(&abs)
    };
    let meta = meta.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::Error::new(NoSuchPath(format!("no such file or directory: {path}")))
        } else {
            anyhow::anyhow!("stat {path}: {e}")
        }
    })?;
    let link_target = if meta.file_type().is_symlink() {
        match fs::canonicalize(&abs) {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(_) => {
                // Dangling: where it points, made absolute from its directory.
                let target = fs::read_link(&abs)?;
                let dir = Path::new(&abs).parent().unwrap_or(Path::new("/"));
                dir.join(target).to_string_lossy().into_owned()
            }
        }
    } else {
        String::new()
    };
    let mtime = meta
        .modified()
        .map(|t| humantime::format_rfc3339_nanos(t).to_string())
        .unwrap_or_else(|_| super::record::ZERO_TIME.into());
    Ok(PathStat {
        name: base_name(path),
        size: meta.len() as i64,
        mode: go_mode(&meta),
        mtime,
        link_target,
    })
}

/// Writes `path` (in the current view) as a tar whose top entry is named `rebase` (`"."`:
/// the directory's content at the top); symlinks are stored, never followed, except that a
/// path ending in `/` or `/.` is followed to what it names.
pub fn write_tar_here(path: &Path, rebase: &str, out: &mut dyn Write) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let as_str = path.to_string_lossy();
    let follow = as_str.ends_with('/') || as_str.ends_with("/.");
    let meta = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .with_context(|| format!("stat {}", path.display()))?;
    append(&mut builder, path, Path::new(rebase), &meta)?;
    builder.into_inner()?.flush()?;
    Ok(())
}

fn append(
    b: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    name: &Path,
    meta: &fs::Metadata,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    let ft = meta.file_type();
    if ft.is_dir() {
        // "." itself has no entry: its content is the top.
        if name != Path::new(".") {
            h.set_size(0);
            b.append_data(&mut h, name, std::io::empty())
                .with_context(|| format!("archiving {}", path.display()))?;
        }
        let mut children: Vec<_> = fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .collect::<std::io::Result<_>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let child_path = child.path();
            let Ok(child_meta) = fs::symlink_metadata(&child_path) else {
                continue; // removed while we walked
            };
            let child_name = if name == Path::new(".") {
                PathBuf::from(child.file_name())
            } else {
                name.join(child.file_name())
            };
            append(b, &child_path, &child_name, &child_meta)?;
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path)?;
        h.set_size(0);
        b.append_link(&mut h, name, &target)
            .with_context(|| format!("archiving {}", path.display()))?;
    } else if ft.is_file() {
        let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        b.append_data(&mut h, name, file)
            .with_context(|| format!("archiving {}", path.display()))?;
    } else {
        // Devices, FIFOs: the header says it all.
        h.set_size(0);
        b.append_data(&mut h, name, std::io::empty())
            .with_context(|| format!("archiving {}", path.display()))?;
    }
    Ok(())
}

/// Extracts the tar `input` into the directory `dir` (in the current view), keeping modes,
/// ownership, times and xattrs. With `no_overwrite_dir_non_dir`, a directory never replaces
/// a non-directory nor the reverse (Docker's `noOverwriteDirNonDir`); with `owner`, every
/// entry gets that uid and gid (Docker's `copyUIDGID`).
pub fn extract_tar_here(
    dir: &Path,
    input: &mut dyn Read,
    no_overwrite_dir_non_dir: bool,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let meta = fs::metadata(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::Error::new(NoSuchPath(format!(
                "no such file or directory: {}",
                dir.display()
            )))
        } else {
            anyhow::anyhow!("stat {}: {e}", dir.display())
        }
    })?;
    if !meta.is_dir() {
        return Err(
            crate::error::EngineError::invalid("extraction point is not a directory").into(),
        );
    }
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    for entry in archive.entries().context("reading the tar")? {
        let mut entry = entry.context("reading the tar")?;
        let rel = entry.path().context("reading the tar")?.into_owned();
        let target = dir.join(&rel);
        if no_overwrite_dir_non_dir && let Ok(existing) = fs::symlink_metadata(&target) {
            let incoming_dir = entry.header().entry_type().is_dir();
            if existing.is_dir() && !incoming_dir {
                return Err(crate::error::EngineError::invalid(format!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    target.display().to_string(),
                    rel.display().to_string()
                ))
                .into());
            }
            if !existing.is_dir() && incoming_dir {
                return Err(crate::error::EngineError::invalid(format!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    target.display().to_string(),
                    rel.display().to_string()
                ))
                .into());
            }
        }
        let unpacked = entry
            .unpack_in(dir)
            .with_context(|| format!("extracting {}", rel.display()))?;
        if unpacked && let Some((uid, gid)) = owner {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                &target,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .with_context(|| format!("chown {}", target.display()))?;
        }
    }
    Ok(())
}

/// Runs `job` on a thread whose filesystem view is `record`'s container (see the module
/// doc); `job` sees the container's paths as absolute paths.
pub fn in_container<T, F>(engine: &Engine, record: &Record, job: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let store = ContainerStore::open(&engine.settings.data_root)?;
    if let Some(ns) = running_mount_ns(&store, record) {
        return std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::unshare(CloneFlags::CLONE_FS).context("unshare the fs context")?;
                nix::sched::setns(&ns, CloneFlags::CLONE_NEWNS)
                    .context("joining the container's mount namespace")?;
                nix::unistd::chdir("/").context("chdir /")?;
                job()
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the copy thread panicked"))?
        });
    }
    let rootfs = engine
        .layers
        .mount_rw(&record.id)
        .context("mounting the container's filesystem")?;
    let volumes = VolumeStore::open(&engine.settings.data_root)?;
    let mut held = Vec::new();
    let mut acquired = Ok(());
    for m in record.mounts.iter().filter(|m| m.kind == "volume") {
        match volumes
            .get(&m.name)
            .and_then(|v| local::acquire(&volumes, &v).map(|_| v))
        {
            Ok(v) => held.push(v),
            Err(e) => {
                acquired = Err(e);
                break;
            }
        }
    }
    let result = acquired.and_then(|()| {
        let binds = binds(record);
        let rootfs = rootfs.clone();
        let readonly_root = record.host_config.confinement.readonly_rootfs;
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
                    .context("unshare the mount namespace")?;
                nix::mount::mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .context("making mounts private")?;
                if readonly_root {
                    // --read-only: the root is read-only here too, its volumes are not.
                    nix::mount::mount(
                        Some(&rootfs),
                        &rootfs,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None::<&str>,
                    )
                    .context("binding the container's root")?;
                }
                for (source, dest, readonly) in &binds {
                    bind_into(&rootfs, source, dest, *readonly)?;
                }
                if readonly_root {
                    nix::mount::mount(
                        None::<&str>,
                        &rootfs,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                        None::<&str>,
                    )
                    .context("making the container's root read-only")?;
                }
                nix::unistd::chroot(&rootfs).context("chroot into the container")?;
                nix::unistd::chdir("/").context("chdir /")?;
                job()
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the copy thread panicked"))?
        })
    });
    for v in held {
        let _ = local::release(&volumes, &v);
    }
    let released = engine.layers.unmount_rw(&record.id);
    let out = result?;
    released?;
    Ok(out)
}

/// The mount namespace of the container's init, when it runs (and is ours: a pid reused by
/// another process would name another namespace).
fn running_mount_ns(store: &ContainerStore, record: &Record) -> Option<fs::File> {
    let pid = record.state.pid;
    if !record.state.running || pid <= 0 || !store.monitor_alive(&record.id) {
        return None;
    }
    let ns = fs::File::open(format!("/proc/{pid}/ns/mnt")).ok()?;
    let ours = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|c| c.contains(&format!("/engine/{}", record.id)));
    ours.then_some(ns)
}

/// What a stopped container's view binds: its volumes and bind mounts, then the /etc files
/// (as a start would, parents first).
fn binds(record: &Record) -> Vec<(PathBuf, PathBuf, bool)> {
    let mut out: Vec<(PathBuf, PathBuf, bool)> = record
        .mounts
        .iter()
        .filter(|m| m.kind != "tmpfs")
        .map(|m| {
            (
                PathBuf::from(&m.source),
                PathBuf::from(&m.destination),
                !m.rw,
            )
        })
        .collect();
    for (file, dest) in [
        (&record.resolv_conf_path, "/etc/resolv.conf"),
        (&record.hostname_path, "/etc/hostname"),
        (&record.hosts_path, "/etc/hosts"),
    ] {
        if !record.mounts.iter().any(|m| m.destination == dest) {
            out.push((PathBuf::from(file), PathBuf::from(dest), false));
        }
    }
    out.sort_by_key(|(_, dest, _)| dest.components().count());
    out
}

fn bind_into(rootfs: &Path, source: &Path, dest: &Path, readonly: bool) -> Result<()> {
    let target = runtime::secure_join(rootfs, dest)?;
    let meta = fs::metadata(source).with_context(|| format!("stat {}", source.display()))?;
    if meta.is_dir() {
        fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    } else if !target.exists() {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::File::create(&target).with_context(|| format!("creating {}", target.display()))?;
    }
    nix::mount::mount(
        Some(source),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("binding {} on {}", source.display(), target.display()))?;
    if readonly {
        let remounted = nix::mount::mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        );
        if let Err(e) = remounted {
            let _ = nix::mount::umount2(&target, MntFlags::MNT_DETACH);
            return Err(e).context("remount read-only");
        }
    }
    Ok(())
}

/// `HEAD /containers/{id}/archive`: the stat of `path` in the container.
pub fn stat(engine: &Engine, record: &Record, path: &str) -> Result<PathStat> {
    let path = path.to_string();
    in_container(engine, record, move || stat_here(&path)).map_err(|e| not_found(e, record))
}

/// `GET /containers/{id}/archive`: calls `with_stat` with the path's stat, then writes its
/// tar to `out`, its top entry named `rebase` (default: the path's last component).
pub fn read(
    engine: &Engine,
    record: &Record,
    path: &str,
    rebase: Option<&str>,
    with_stat: &mut (dyn FnMut(&PathStat) -> Result<()> + Send),
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let path = path.to_string();
    let rebase = rebase.map(str::to_string);
    in_container(engine, record, move || {
        let st = stat_here(&path)?;
        with_stat(&st)?;
        let name = rebase.unwrap_or_else(|| st.name.clone());
        write_tar_here(Path::new(&absolute(&path)), &name, out)
    })
    .map_err(|e| not_found(e, record))
}

/// Who owns what is extracted into a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// As the tar says (the API's default).
    FromArchive,
    /// The container's user (`copyUIDGID`, `cp -a`).
    ContainerUser,
    /// root (`engine cp` without `-a`, as Docker documents `docker cp`).
    Root,
}

/// `PUT /containers/{id}/archive`: extracts the tar `input` into the directory `path`.
pub fn write(
    engine: &Engine,
    record: &Record,
    path: &str,
    input: &mut (dyn Read + Send),
    no_overwrite_dir_non_dir: bool,
    ownership: Ownership,
) -> Result<()> {
    let path = absolute(path);
    let user = record.config.user.clone();
    in_container(engine, record, move || {
        let owner = match ownership {
            Ownership::FromArchive => None,
            Ownership::Root => Some((0, 0)),
            Ownership::ContainerUser => {
                let u = runtime::resolve_user(Path::new("/"), &user)?;
                Some((u.uid, u.gid))
            }
        };
        extract_tar_here(Path::new(&path), input, no_overwrite_dir_non_dir, owner)
    })
    .map_err(|e| not_found(e, record))
}

/// A missing path with Docker's message, naming the container.
fn not_found(e: anyhow::Error, record: &Record) -> anyhow::Error {
    match e.downcast_ref::<NoSuchPath>() {
        Some(NoSuchPath(m)) => {
            let path = m.trim_start_matches("no such file or directory: ");
            NoSuchPath(format!(
                "Could not find the file {path} in container {}",
                record.short_name()
            ))
            .into()
        }
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_modes_as_docker() {
        assert_eq!(base_name("/etc/hosts"), "hosts");
        assert_eq!(base_name("/etc/"), "etc");
        assert_eq!(base_name("/etc/."), ".");
        assert_eq!(base_name("/"), ".");
        assert_eq!(absolute("etc"), "/etc");
        let dir = tempfile::tempdir().unwrap();
        let meta = fs::metadata(dir.path()).unwrap();
        assert_ne!(go_mode(&meta) & GO_DIR, 0);
        std::os::unix::fs::symlink("x", dir.path().join("l")).unwrap();
        let meta = fs::symlink_metadata(dir.path().join("l")).unwrap();
        assert_ne!(go_mode(&meta) & GO_SYMLINK, 0);
    }

    #[test]
    fn tars_round_trip_with_rebased_names() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("d")).unwrap();
        fs::write(src.path().join("d/f"), "data").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("d/l")).unwrap();
        let mut tar = Vec::new();
        write_tar_here(&src.path().join("d"), "renamed", &mut tar).unwrap();
        let dst = tempfile::tempdir().unwrap();
        extract_tar_here(dst.path(), &mut &tar[..], true, None).unwrap();
        assert_eq!(
            fs::read_to_string(dst.path().join("renamed/f")).unwrap(),
            "data"
        );
        assert_eq!(
            fs::read_link(dst.path().join("renamed/l")).unwrap(),
            Path::new("/etc/passwd")
        );
        // The content only, with ".".
        let mut tar = Vec::new();
        write_tar_here(&src.path().join("d/."), ".", &mut tar).unwrap();
        let dst2 = tempfile::tempdir().unwrap();
        extract_tar_here(dst2.path(), &mut &tar[..], true, None).unwrap();
        assert!(dst2.path().join("f").exists());
        // A file over a directory is refused with noOverwriteDirNonDir.
        fs::create_dir(dst2.path().join("renamed")).unwrap();
        let mut tar = Vec::new();
        write_tar_here(&src.path().join("d/f"), "renamed", &mut tar).unwrap();
        let e = extract_tar_here(dst2.path(), &mut &tar[..], true, None).unwrap_err();
        assert!(e.to_string().contains("cannot overwrite directory"), "{e}");
        let e = extract_tar_here(&dst2.path().join("f"), &mut &tar[..], true, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("extraction point is not a directory")
        );
    }
}
