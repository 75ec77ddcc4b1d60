//! Docker's copy-up: when a container is created with a volume that is empty, whatever the
//! image has at the volume's destination is copied into it (content, ownership, modes,
//! times, xattrs, links), and the volume's directory takes the image directory's owner and
//! mode. `nocopy` turns it off; a volume with anything in it is left alone.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use super::local;
use super::store::VolumeStore;
use crate::container::record::MountPoint;

/// Whether any of `mounts` may need the image's content.
pub fn wanted(mounts: &[MountPoint]) -> bool {
    mounts.iter().any(|m| m.kind == "volume" && m.copy_data)
}

/// Copies the image's content under `rootfs` into each empty volume of `mounts` that asks
/// for it.
pub fn populate(volumes: &VolumeStore, rootfs: &Path, mounts: &[MountPoint]) -> Result<()> {
    for m in mounts.iter().filter(|m| m.kind == "volume" && m.copy_data) {
        let source = runtime::secure_join(rootfs, Path::new(&m.destination))?;
        let Ok(meta) = std::fs::metadata(&source) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let volume = volumes.get(&m.name)?;
        let data = local::acquire(volumes, &volume)?;
        let copied = copy_if_empty(&source, &data)
            .with_context(|| format!("copying {} into volume {}", m.destination, m.name));
        let released = local::release(volumes, &volume);
        copied?;
        released?;
    }
    Ok(())
}

fn copy_if_empty(source: &Path, dest: &Path) -> Result<()> {
    let empty = std::fs::read_dir(dest)
        .with_context(|| format!("reading {}", dest.display()))?
        .next()
        .is_none();
    if !empty {
        return Ok(());
    }
    let (reader, mut writer) = std::io::pipe().context("creating a pipe")?;
    let src = source.to_path_buf();
    let exporter = std::thread::spawn(move || {
        graph::archive::export_tree(&src, &mut writer, graph::archive::WhiteoutFormat::Delete)
    });
    let mut reader = reader;
    let applied = graph::archive::apply_layer(
        dest,
        &mut reader,
        &graph::archive::ApplyOptions {
            whiteouts: graph::archive::WhiteoutFormat::Delete,
        },
    );
    drop(reader);
    let exported = exporter
        .join()
        .map_err(|_| anyhow::anyhow!("the copy thread panicked"))?;
    exported?;
    applied?;
    let meta = std::fs::metadata(source)?;
    nix::unistd::chown(
        dest,
        Some(nix::unistd::Uid::from_raw(meta.uid())),
        Some(nix::unistd::Gid::from_raw(meta.gid())),
    )
    .with_context(|| format!("chown {}", dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .with_context(|| format!("chmod {}", dest.display()))?;
    Ok(())
}
