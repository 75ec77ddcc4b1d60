//! A new container's mounts, in Docker's order: `--volumes-from` first, then `-v` (binds and
//! named volumes; a bind's missing source directory is created), then `--mount`, then the
//! anonymous volumes (`-v /path`, the image's `VOLUME`s) at destinations nothing else took.
//! Volumes named and not yet existing are created; anonymous ones get a random name.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::spec::{self, MountSpec};
use super::store::{VolumeStore, valid_name};
use crate::container::record::MountPoint;
use crate::container::store::ContainerStore;

/// What a container asks to have mounted.
#[derive(Debug, Default)]
pub struct Wanted<'a> {
    /// `-v` / `HostConfig.Binds`.
    pub binds: &'a [String],
    /// `--mount` / `HostConfig.Mounts`.
    pub mounts: &'a [MountSpec],
    /// `--volumes-from CONTAINER[:ro|rw]`.
    pub volumes_from: &'a [String],
    /// Destinations of anonymous volumes (`Config.Volumes`, the image's included).
    pub anonymous: &'a [String],
}

/// The mount points of `wanted`; the caller holds the volume store's lock (so no volume
/// taken here is removed before the container is recorded).
pub fn resolve(
    volumes: &VolumeStore,
    containers: &ContainerStore,
    wanted: &Wanted,
) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let result = resolve_into(volumes, containers, wanted, &mut out, &mut created);
    if result.is_err() {
        // Nothing half-made stays behind: anonymous volumes made for this container go.
        for name in created {
            let _ = volumes.remove_locked(&name, &[]);
        }
    }
    result.map(|()| out)
}

fn resolve_into(
    volumes: &VolumeStore,
    containers: &ContainerStore,
    wanted: &Wanted,
    out: &mut Vec<MountPoint>,
    created: &mut Vec<String>,
) -> Result<()> {
    for from in wanted.volumes_from {
        let (name, mode) = match from.rsplit_once(':') {
            Some((n, m)) => (n, m),
            None => (from.as_str(), ""),
        };
        let force_ro = match mode {
            "" | "rw" => false,
            "ro" => true,
            other => bail!("invalid mode for volumes-from: {other}"),
        };
        let source = containers
            .resolve(name)
            .with_context(|| format!("--volumes-from {from}"))?;
        for m in &source.mounts {
            let mut copy = m.clone();
            copy.rw = m.rw && !force_ro;
            copy.anonymous = false;
            copy.copy_data = false;
            if force_ro || mode == "rw" {
                copy.mode = mode.to_string();
            }
            out.retain(|o| spec::clean(&o.destination) != spec::clean(&copy.destination));
            out.push(copy);
        }
    }
    let inherited = std::mem::take(out);
    let mut own: Vec<MountPoint> = Vec::new();
    let taken = |own: &mut Vec<MountPoint>, mp: MountPoint| -> Result<()> {
        let dst = spec::clean(&mp.destination);
        if own.iter().any(|o| spec::clean(&o.destination) == dst) {
            bail!("Duplicate mount point: {dst}");
        }
        own.push(mp);
        Ok(())
    };
    for raw in wanted.binds {
        let (src, dst, mode) = spec::parse_volume_flag(raw)?;
        spec::check_propagation(spec::mode_propagation(&mode))
            .with_context(|| format!("invalid volume specification: '{raw}'"))?;
        let rw = !spec::mode_read_only(&mode);
        let mp = if src.is_empty() {
            anonymous(
                volumes,
                &dst,
                rw,
                &mode,
                !mode.split(',').any(|m| m == "nocopy"),
                created,
            )?
        } else if src.starts_with('/') {
            if mode.split(',').any(|m| m == "nocopy") {
                bail!("invalid mode: {mode}");
            }
            let p = Path::new(&src);
            if !p.exists() {
                std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
            }
            MountPoint {
                kind: "bind".into(),
                name: String::new(),
                source: src.clone(),
                destination: dst.clone(),
                driver: String::new(),
                mode: mode.clone(),
                rw,
                propagation: match spec::mode_propagation(&mode) {
                    "" => "rprivate".into(),
                    p => p.into(),
                },
                anonymous: false,
                copy_data: false,
                tmpfs_options: Vec::new(),
            }
        } else {
            named(
                volumes,
                &src,
                &dst,
                rw,
                if mode.is_empty() { "z" } else { &mode },
                !mode.split(',').any(|m| m == "nocopy"),
                &BTreeMap::new(),
                &BTreeMap::new(),
            )?
        };
        taken(&mut own, mp)?;
    }
    for m in wanted.mounts {
        spec::validate(m)?;
        let rw = !m.read_only;
        let mp = match m.kind.as_str() {
            "bind" => MountPoint {
                kind: "bind".into(),
                name: String::new(),
                source: m.source.clone(),
                destination: m.target.clone(),
                driver: String::new(),
                mode: String::new(),
                rw,
                propagation: m
                    .bind_options
                    .as_ref()
                    .map(|b| b.propagation.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rprivate".into()),
                anonymous: false,
                copy_data: false,
                tmpfs_options: Vec::new(),
            },
            "volume" => {
                let opts = m.volume_options.clone().unwrap_or_default();
                let copy = !opts.no_copy;
                let labels = opts.labels.unwrap_or_default();
                let driver_opts = opts
                    .driver_config
                    .and_then(|d| d.options)
                    .unwrap_or_default();
                if m.source.is_empty() {
                    anonymous(volumes, &m.target, rw, "", copy, created)?
                } else {
                    named(
                        volumes,
                        &m.source,
                        &m.target,
                        rw,
                        "",
                        copy,
                        &labels,
                        &driver_opts,
                    )?
                }
            }
            _ => {
                let t = m.tmpfs_options.clone().unwrap_or_default();
                let mut options = Vec::new();
                if t.size_bytes > 0 {
                    options.push(format!("size={}", t.size_bytes));
                }
                if t.mode != 0 {
                    options.push(format!("mode={:o}", t.mode));
                }
                MountPoint {
                    kind: "tmpfs".into(),
                    name: String::new(),
                    source: String::new(),
                    destination: m.target.clone(),
                    driver: String::new(),
                    mode: String::new(),
                    rw,
                    propagation: String::new(),
                    anonymous: false,
                    copy_data: false,
                    tmpfs_options: options,
                }
            }
        };
        taken(&mut own, mp)?;
    }
    // Our own mounts replace what --volumes-from brought to the same place.
    out.extend(inherited.into_iter().filter(|i| {
        let dst = spec::clean(&i.destination);
        !own.iter().any(|o| spec::clean(&o.destination) == dst)
    }));
    out.extend(own);
    for dst in wanted.anonymous {
        if !dst.starts_with('/') {
            bail!(
                "invalid volume specification: '{dst}': invalid mount path: '{dst}' mount path must be absolute"
            );
        }
        let clean = spec::clean(dst);
        if out.iter().any(|o| spec::clean(&o.destination) == clean) {
            continue;
        }
        let mp = anonymous(volumes, dst, true, "", true, created)?;
        out.push(mp);
    }
    Ok(())
}

fn anonymous(
    volumes: &VolumeStore,
    dst: &str,
    rw: bool,
    mode: &str,
    copy_data: bool,
    created: &mut Vec<String>,
) -> Result<MountPoint> {
    let v = volumes.create_locked(None, "", BTreeMap::new(), BTreeMap::new(), true)?;
    created.push(v.name.clone());
    Ok(MountPoint {
        kind: "volume".into(),
        name: v.name.clone(),
        source: volumes.data_path(&v.name).to_string_lossy().into_owned(),
        destination: dst.to_string(),
        driver: v.driver,
        mode: mode.to_string(),
        rw,
        propagation: String::new(),
        anonymous: true,
        copy_data,
        tmpfs_options: Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)] // one mount point's fields, named at the call
fn named(
    volumes: &VolumeStore,
    name: &str,
    dst: &str,
    rw: bool,
    mode: &str,
    copy_data: bool,
    labels: &BTreeMap<String, String>,
    options: &BTreeMap<String, String>,
) -> Result<MountPoint> {
    if !valid_name(name) {
        bail!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }
    let v = volumes.create_locked(Some(name), "", labels.clone(), options.clone(), false)?;
    Ok(MountPoint {
        kind: "volume".into(),
        name: v.name.clone(),
        source: volumes.data_path(&v.name).to_string_lossy().into_owned(),
        destination: dst.to_string(),
        driver: v.driver,
        mode: mode.to_string(),
        rw,
        propagation: String::new(),
        anonymous: false,
        copy_data,
        tmpfs_options: Vec::new(),
    })
}
