//! The AUFS/OCI whiteout names a layer tar uses for deletions.

/// Prefix of a whiteout: `.wh.NAME` deletes `NAME`.
pub(super) const PREFIX: &[u8] = b".wh.";
/// Prefix of whiteout meta entries (reserved, never files).
pub(super) const META_PREFIX: &[u8] = b".wh..wh.";
/// The opaque marker: `DIR/.wh..wh..opq` hides what lower layers have in `DIR`.
pub(super) const OPAQUE: &[u8] = b".wh..wh..opq";
/// The overlayfs xattr that marks a directory opaque.
pub(super) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Prefix of overlayfs's own xattrs, never exported nor taken from an archive.
pub(super) const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// What a tar entry's last path component says about whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Whiteout<'a> {
    /// Not a whiteout: a real entry.
    None,
    /// `.wh..wh..opq`: the parent directory is opaque.
    Opaque,
    /// Another `.wh..wh.` meta entry, ignored.
    Meta,
    /// `.wh.NAME`: delete `NAME` in the parent directory.
    Remove(&'a [u8]),
}

/// Classifies the last component `name` of an entry path; `Err` is why it is invalid.
pub(super) fn classify(name: &[u8]) -> Result<Whiteout<'_>, &'static str> {
    if name == OPAQUE {
        Ok(Whiteout::Opaque)
    } else if name.starts_with(META_PREFIX) {
        Ok(Whiteout::Meta)
    } else if let Some(target) = name.strip_prefix(PREFIX) {
        match target {
            b"" | b"." | b".." => Err("whiteout names no file"),
            target => Ok(Whiteout::Remove(target)),
        }
    } else {
        Ok(Whiteout::None)
    }
}

/// The whiteout name for `name`.
pub(super) fn name_for(name: &[u8]) -> Vec<u8> {
    [PREFIX, name].concat()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify(b"file"), Ok(Whiteout::None));
        assert_eq!(classify(b".wh.file"), Ok(Whiteout::Remove(b"file")));
        assert_eq!(classify(b".wh..hidden"), Ok(Whiteout::Remove(b".hidden")));
        assert_eq!(classify(b".wh..wh..opq"), Ok(Whiteout::Opaque));
        assert_eq!(classify(b".wh..wh.plnk"), Ok(Whiteout::Meta));
        assert!(classify(b".wh.").is_err());
        assert!(classify(b".wh..").is_err());
        assert!(classify(b".wh...").is_err());
        assert_eq!(name_for(b"x"), b".wh.x");
    }
}
