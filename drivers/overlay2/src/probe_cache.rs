//! The probes' results, remembered in the driver's home.
//!
//! Probing mounts two scratch overlays and writes scratch directories; doing it at every
//! start of every `engine` command costs milliseconds each time and fails outright when the
//! data root's filesystem is full (so not even `rm` could run to free space). The results
//! depend only on the kernel and the backing filesystem, so they are kept in
//! `<home>/.probe`, keyed by the kernel release and the filesystem (type and device), and
//! probed again when either changes.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const FILE: &str = ".probe";

/// What the probes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probed {
    pub native_diff: bool,
    pub metacopy: bool,
}

/// The key the results are valid for: kernel release, filesystem type and device of `dir`.
pub(crate) fn key(dir: &Path, fs_name: &str) -> Option<String> {
    let release = nix::sys::utsname::uname()
        .ok()?
        .release()
        .to_string_lossy()
        .into_owned();
    let dev = fs::metadata(dir).ok()?.dev();
    Some(format!("{release} {fs_name} {dev}"))
}

/// The remembered results for `key`, if any.
pub(crate) fn load(home: &Path, key: &str) -> Option<Probed> {
    let text = fs::read_to_string(home.join(FILE)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != key {
        return None;
    }
    let flag = |l: Option<&str>| match l {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    Some(Probed {
        native_diff: flag(lines.next())?,
        metacopy: flag(lines.next())?,
    })
}

/// Remembers `probed` for `key` (best effort: a failure only means probing next time).
pub(crate) fn store(home: &Path, key: &str, probed: Probed) {
    let tmp = home.join(format!("{FILE}.tmp-{}", std::process::id()));
    let text = format!("{key}\n{}\n{}\n", probed.native_diff, probed.metacopy);
    if fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, home.join(FILE)))
        .is_err()
    {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_a_changed_key_probes_again() {
        let d = tempfile::tempdir().unwrap();
        let k = key(d.path(), "extfs").unwrap();
        assert_eq!(load(d.path(), &k), None);
        let p = Probed {
            native_diff: true,
            metacopy: false,
        };
        store(d.path(), &k, p);
        assert_eq!(load(d.path(), &k), Some(p));
        assert_eq!(load(d.path(), "other-kernel extfs 1"), None);
    }
}
