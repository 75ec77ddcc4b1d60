//! Tar entry names cleaned into paths relative to the layer root.
//!
//! Docker's rules: a leading `/` is dropped (an absolute name is relative to the layer root),
//! `.` and empty components vanish, `..` goes up one level, and a name that would climb above
//! the root after cleaning is rejected. For an absolute name `..` at the top stays at the root,
//! as `filepath.Clean("/../x")` is `/x`.

/// The longest entry name accepted, in bytes (Linux `PATH_MAX`).
pub(super) const MAX_PATH: usize = 4096;
/// The longest single component accepted, in bytes (Linux `NAME_MAX`).
pub(super) const MAX_NAME: usize = 255;

/// A cleaned path relative to the layer root: components joined by `/`, none empty, `.` or
/// `..`. The empty path is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct RelPath(Vec<u8>);

impl RelPath {
    /// The path as bytes, without leading or trailing slash.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the layer root itself.
    pub(super) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The parent directory (empty for a top-level name) and the last component.
    pub(super) fn split(&self) -> (&[u8], &[u8]) {
        split(&self.0)
    }

    /// How many components the path has.
    pub(super) fn depth(&self) -> usize {
        if self.0.is_empty() {
            0
        } else {
            self.0.iter().filter(|b| **b == b'/').count() + 1
        }
    }
}

/// Splits a cleaned path into its parent directory and last component.
pub(super) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Joins a cleaned directory path and one component.
pub(super) fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    if !dir.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// Cleans a raw tar name (or hard link target); the error is the reason to reject it.
pub(super) fn clean(raw: &[u8]) -> Result<RelPath, String> {
    if raw.contains(&0) {
        return Err("name contains a NUL byte".into());
    }
    if raw.len() > MAX_PATH {
        return Err(format!(
            "name is {} bytes long; the limit is {MAX_PATH}",
            raw.len()
        ));
    }
    let absolute = raw.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() && !absolute {
                    return Err("path escapes the layer root".into());
                }
            }
            name if name.len() > MAX_NAME => {
                return Err(format!(
                    "a path component is {} bytes long; the limit is {MAX_NAME}",
                    name.len()
                ));
            }
            name => parts.push(name),
        }
    }
    Ok(RelPath(parts.join(&b'/')))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        String::from_utf8(clean(raw.as_bytes()).unwrap().0).unwrap()
    }

    #[test]
    fn plain_names_stay() {
        assert_eq!(ok("a/b/c"), "a/b/c");
        assert_eq!(ok("dir/"), "dir");
        assert_eq!(ok("./a//b/./c/"), "a/b/c");
        assert_eq!(ok(".wh..wh..opq"), ".wh..wh..opq");
        assert_eq!(ok("..a/b.."), "..a/b..");
    }

    #[test]
    fn dot_and_root_names_clean_to_root() {
        assert!(clean(b".").unwrap().is_root());
        assert!(clean(b"./").unwrap().is_root());
        assert!(clean(b"/").unwrap().is_root());
        assert!(clean(b"").unwrap().is_root());
    }

    #[test]
    fn dotdot_inside_is_resolved() {
        assert_eq!(ok("a/../b"), "b");
        assert_eq!(ok("a/b/../../c"), "c");
    }

    #[test]
    fn escapes_are_rejected() {
        for raw in [
            "..",
            "../escape",
            "a/../../escape",
            "./../x",
            "a/b/../../../x",
        ] {
            let err = clean(raw.as_bytes()).unwrap_err();
            assert!(err.contains("escapes"), "{raw}: {err}");
        }
    }

    #[test]
    fn absolute_names_are_relative_to_root() {
        assert_eq!(ok("/abs/path"), "abs/path");
        assert_eq!(ok("//etc/passwd"), "etc/passwd");
        assert_eq!(ok("/../../etc/passwd"), "etc/passwd");
    }

    #[test]
    fn nul_and_long_names_are_rejected() {
        assert!(clean(b"a\0b").unwrap_err().contains("NUL"));
        let long_component = "x".repeat(256);
        assert!(
            clean(long_component.as_bytes())
                .unwrap_err()
                .contains("255")
        );
        assert_eq!(ok(&"y".repeat(255)), "y".repeat(255));
        let long_path = "abcdefgh/".repeat(500);
        assert!(clean(long_path.as_bytes()).unwrap_err().contains("4096"));
    }

    #[test]
    fn split_join_and_depth() {
        let p = clean(b"a/b/c").unwrap();
        assert_eq!(p.split(), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(p.depth(), 3);
        let top = clean(b"top").unwrap();
        assert_eq!(top.split(), (&b""[..], &b"top"[..]));
        assert_eq!(clean(b".").unwrap().depth(), 0);
        assert_eq!(join(b"", b"x"), b"x");
        assert_eq!(join(b"d", b"x"), b"d/x");
    }
}
