//! Resolving a container path under the rootfs on the host, following symlinks as the
//! container would see them, so an image's `/etc -> /` or `../../..` never escapes the rootfs.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// The longest chain of symlinks followed before giving up (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// Joins `unsafe_path` (absolute or relative, interpreted from the container's `/`) onto
/// `root`, resolving every symlink inside the root. Missing components are kept as they are,
/// so the result may not exist yet.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    // Components still to walk, in reverse so we can push a symlink's target in front.
    let mut pending: Vec<PathBuf> = vec![unsafe_path.to_path_buf()];
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0usize;
    while let Some(next) = pending.pop() {
        let mut comps: Vec<Component<'_>> = next.components().collect();
        comps.reverse();
        while let Some(c) = comps.pop() {
            match c {
                Component::RootDir | Component::Prefix(_) => resolved.clear(),
                Component::CurDir => {}
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => {
                    let candidate = build(root, &resolved).join(name);
                    match std::fs::read_link(&candidate) {
                        Ok(target) => {
                            links += 1;
                            if links > MAX_SYMLINKS {
                                return Err(Error::errno(
                                    "resolve path in rootfs",
                                    unsafe_path,
                                    libc::ELOOP,
                                ));
                            }
                            // Walk the target first, then whatever remained of this path.
                            let rest: PathBuf = comps.iter().rev().collect();
                            pending.push(rest);
                            pending.push(target);
                            break;
                        }
                        Err(_) => resolved.push(name.to_os_string()),
                    }
                }
            }
        }
    }
    Ok(build(root, &resolved))
}

fn build(root: &Path, parts: &[std::ffi::OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in parts {
        p.push(AsRef::<OsStr>::as_ref(part));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn stays_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/", root.join("escape")).unwrap();
        symlink("../../../..", root.join("usr/up")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();

        assert_eq!(
            secure_join(root, Path::new("/etc/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("/escape/etc")).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            secure_join(root, Path::new("/usr/up/x")).unwrap(),
            root.join("x")
        );
        assert_eq!(
            secure_join(root, Path::new("../../x")).unwrap(),
            root.join("x")
        );
        assert_eq!(
            secure_join(root, Path::new("/lib/a")).unwrap(),
            root.join("usr/lib/a")
        );
        assert!(secure_join(root, Path::new("/loop1/x")).is_err());
    }
}
