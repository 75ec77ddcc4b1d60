//! The `local` driver's options, as Docker's: `type` (a filesystem type, or `none` for a
//! bind), `device` (what to mount) and `o` (mount(8) options, `bind` among them). A volume
//! with options is a mount on its `_data`, made when the first process starts using it and
//! undone when the last stops. The users are counted in `users` beside `_data` (one line per
//! use: the user's pid and its start time), under the store's lock, so the count is shared by
//! every engine process and a user that died without releasing is dropped, never counted for
//! ever.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::mount::{MntFlags, MsFlags};

use super::store::{Volume, VolumeStore};

/// The option keys of Docker's `local` driver that this engine carries out.
const KEYS: &[&str] = &["type", "device", "o"];

/// Checks a new volume's options: Docker's keys, and what a mount needs.
pub fn validate_options(options: &BTreeMap<String, String>) -> Result<()> {
    for key in options.keys() {
        if key == "size" {
            bail!(
                "quota size requested but no quota support (use type=tmpfs,device=tmpfs,o=size=... for a sized volume)"
            );
        }
        if !KEYS.contains(&key.as_str()) {
            bail!("invalid option key: {key:?}");
        }
    }
    if options.is_empty() {
        return Ok(());
    }
    let Some(kind) = options.get("type").filter(|t| !t.is_empty()) else {
        bail!("missing required option: \"type\"");
    };
    let Some(device) = options.get("device").filter(|d| !d.is_empty()) else {
        bail!("missing required option: \"device\"");
    };
    let (flags, _) = parse_o(options.get("o").map_or("", String::as_str));
    if flags.contains(MsFlags::MS_BIND) {
        if !Path::new(device).is_absolute() || !Path::new(device).exists() {
            bail!("bind device {device:?} must be an existing absolute path");
        }
    } else if kind == "none" {
        bail!("type \"none\" needs o=bind (a bind mount of the device)");
    }
    Ok(())
}

/// `o=` split into mount flags and the filesystem's data.
fn parse_o(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) - clear;
    }
    (flags, data.join(","))
}

fn users_path(store: &VolumeStore, name: &str) -> PathBuf {
    store.data_path(name).with_file_name("users")
}

/// This process as a user: its pid and start time (a recycled pid has another).
fn me() -> String {
    let pid = std::process::id() as i32;
    format!("{pid} {}", start_time(pid).unwrap_or_default())
}

fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22, counted after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn alive(user: &str) -> bool {
    let mut f = user.split_whitespace();
    let (Some(pid), Some(start)) = (f.next(), f.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    start_time(pid).is_some_and(|s| s.to_string() == start)
}

fn read_users(store: &VolumeStore, name: &str) -> Vec<String> {
    fs::read_to_string(users_path(store, name))
        .unwrap_or_default()
        .lines()
        .filter(|l| alive(l))
        .map(str::to_string)
        .collect()
}

fn write_users(store: &VolumeStore, name: &str, users: &[String]) -> Result<()> {
    let mut text = users.join("\n");
    text.push('\n');
    graph::atomic_file::write_atomic(&users_path(store, name), text.as_bytes())?;
    Ok(())
}

/// Whether `path` is a mount point (in this process's mount namespace).
pub fn is_mounted(path: &Path) -> bool {
    let want = path.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == want)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(code) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts a use of `volume`: mounts it when it has options and is not mounted yet. Returns
/// the path containers bind.
pub fn acquire(store: &VolumeStore, volume: &Volume) -> Result<PathBuf> {
    let data = store.data_path(&volume.name);
    if volume.options.is_empty() {
        return Ok(data);
    }
    let _lock = store.lock()?;
    let mut users = read_users(store, &volume.name);
    if !is_mounted(&data) {
        mount(volume, &data).with_context(|| format!("mounting volume {}", volume.name))?;
    }
    users.push(me());
    write_users(store, &volume.name, &users)?;
    Ok(data)
}

/// Ends one use of `volume` by this process; the last user unmounts it.
pub fn release(store: &VolumeStore, volume: &Volume) -> Result<()> {
    if volume.options.is_empty() {
        return Ok(());
    }
    let _lock = store.lock()?;
    let mut users = read_users(store, &volume.name);
    let me = me();
    if let Some(i) = users.iter().position(|u| *u == me) {
        users.remove(i);
    }
    write_users(store, &volume.name, &users)?;
    let data = store.data_path(&volume.name);
    if users.is_empty() && is_mounted(&data) {
        nix::mount::umount2(&data, MntFlags::MNT_DETACH)
            .with_context(|| format!("unmounting volume {} at {}", volume.name, data.display()))?;
    }
    Ok(())
}

/// Before a volume is removed: undoes a mount left by users that died (with its users gone,
/// nothing else will), and makes sure nothing is mounted there, so removing `_data` can
/// never delete what a bind volume points at.
pub fn unmount_stale(store: &VolumeStore, volume: &Volume) -> Result<()> {
    let data = store.data_path(&volume.name);
    if is_mounted(&data) {
        nix::mount::umount2(&data, MntFlags::MNT_DETACH)
            .with_context(|| format!("unmounting volume {} at {}", volume.name, data.display()))?;
    }
    if is_mounted(&data) {
        bail!(
            "remove {}: {} is still mounted",
            volume.name,
            data.display()
        );
    }
    Ok(())
}

fn mount(volume: &Volume, target: &Path) -> Result<()> {
    let opt = |k: &str| volume.options.get(k).map_or("", String::as_str);
    let (flags, data) = parse_o(opt("o"));
    let kind = opt("type");
    let device = opt("device");
    let fstype = (kind != "none").then_some(kind);
    let data = (!data.is_empty()).then_some(data.as_str());
    nix::mount::mount(Some(device), target, fstype, flags, data)
        .with_context(|| format!("mount {device} ({kind}) on {}", target.display()))?;
    // A bind takes its flags (ro, nosuid, ...) only on a remount.
    let extra = flags - MsFlags::MS_BIND - MsFlags::MS_REC;
    if flags.contains(MsFlags::MS_BIND) && !extra.is_empty() {
        let remounted = nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
            None::<&str>,
        );
        if let Err(e) = remounted {
            let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
            return Err(e).with_context(|| format!("remount {}", target.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_checked_as_docker_does() {
        assert!(validate_options(&opts(&[])).is_ok());
        assert!(
            validate_options(&opts(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m")
            ]))
            .is_ok()
        );
        let e = validate_options(&opts(&[("foo", "1")])).unwrap_err();
        assert_eq!(e.to_string(), "invalid option key: \"foo\"");
        assert!(validate_options(&opts(&[("type", "tmpfs")])).is_err());
        assert!(validate_options(&opts(&[("type", "none"), ("device", "/")])).is_err());
        assert!(
            validate_options(&opts(&[("type", "none"), ("device", "/"), ("o", "bind")])).is_ok()
        );
        assert!(
            validate_options(&opts(&[
                ("type", "none"),
                ("device", "/no/such/dir"),
                ("o", "bind")
            ]))
            .is_err()
        );
    }

    #[test]
    fn o_splits_flags_from_data() {
        let (f, d) = parse_o("bind,ro,size=1m,uid=1000");
        assert!(f.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY));
        assert_eq!(d, "size=1m,uid=1000");
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
