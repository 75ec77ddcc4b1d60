//! Where everything lives under the driver's home, and reading the small files that describe
//! a layer (`link`, `lower`).
//!
//! ```text
//! <home>/                 0710
//!   l/                    0700  short names: l/<LID> -> ../<id>/diff
//!   <id>/                 0710
//!     diff/               0755  the layer's own files (overlay upperdir, a lowerdir for children)
//!     link                      the LID
//!     lower                     only with a parent: "l/<LID>:l/<LID>..." parent first
//!     work/               0700  only with a parent: overlay workdir
//!     merged/             0700  mount point, exists only while mounted
//!     committed                 empty; a child was created on this layer
//!   .tmp-<id>/                  a layer being created (invisible; swept at start)
//!   .del-<id>/                  a layer being removed (invisible; swept at start)
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use graph::{Error, IoContext, LayerId, Result};

/// Name of the directory of short links.
pub const LINK_DIR: &str = "l";
/// A layer's own files.
pub const DIFF_DIR: &str = "diff";
/// The overlay work directory.
pub const WORK_DIR: &str = "work";
/// The mount point.
pub const MERGED_DIR: &str = "merged";
/// The file holding the layer's LID.
pub const LINK_FILE: &str = "link";
/// The file holding the lower chain.
pub const LOWER_FILE: &str = "lower";
/// Marker: a child layer exists, so this layer is mounted read-only.
pub const COMMITTED_FILE: &str = "committed";
/// Prefix of a layer directory being built (layer ids cannot start with `.`).
pub const TMP_PREFIX: &str = ".tmp-";
/// Prefix of a layer directory being removed.
pub const DEL_PREFIX: &str = ".del-";
/// Docker's limit on the number of lower layers.
pub const MAX_DEPTH: usize = 128;
/// Length of a short link name.
pub const LID_LEN: usize = 26;

/// Paths under one driver home.
#[derive(Debug, Clone)]
pub struct Layout {
    home: PathBuf,
}

impl Layout {
    /// The layout of `home` (absolute, without symlinks, so it matches mountinfo).
    pub fn new(home: PathBuf) -> Self {
        Layout { home }
    }

    /// The driver home.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `<home>/l`.
    pub fn link_dir(&self) -> PathBuf {
        self.home.join(LINK_DIR)
    }

    /// `<home>/l/<lid>`.
    pub fn link_path(&self, lid: &str) -> PathBuf {
        self.link_dir().join(lid)
    }

    /// `<home>/<id>`.
    pub fn layer_dir(&self, id: &LayerId) -> PathBuf {
        self.home.join(id.as_str())
    }

    /// `<home>/<id>/diff`.
    pub fn diff_dir(&self, id: &LayerId) -> PathBuf {
        self.layer_dir(id).join(DIFF_DIR)
    }

    /// `<home>/<id>/work`.
    pub fn work_dir(&self, id: &LayerId) -> PathBuf {
        self.layer_dir(id).join(WORK_DIR)
    }

    /// `<home>/<id>/merged`.
    pub fn merged_dir(&self, id: &LayerId) -> PathBuf {
        self.layer_dir(id).join(MERGED_DIR)
    }

    /// `<home>/.tmp-<id>`.
    pub fn tmp_dir(&self, id: &LayerId) -> PathBuf {
        self.home.join(format!("{TMP_PREFIX}{id}"))
    }

    /// `<home>/.del-<id>`.
    pub fn del_dir(&self, id: &LayerId) -> PathBuf {
        self.home.join(format!("{DEL_PREFIX}{id}"))
    }

    /// Whether layer `id` exists (fully created, not being removed).
    pub fn exists(&self, id: &LayerId) -> bool {
        self.layer_dir(id).is_dir()
    }

    /// The layer's LID, from its `link` file.
    pub fn read_link(&self, id: &LayerId) -> Result<String> {
        let path = self.layer_dir(id).join(LINK_FILE);
        let text = fs::read_to_string(&path).map_err(|e| missing_layer(id, &path, e))?;
        let lid = text.trim().to_string();
        if !is_lid(&lid) {
            return Err(Error::Corrupt {
                path,
                reason: format!("{lid:?} is not a short link name"),
            });
        }
        Ok(lid)
    }

    /// The layer's lower chain (`l/<LID>` entries, parent first); empty for a base layer.
    pub fn read_lowers(&self, id: &LayerId) -> Result<Vec<String>> {
        let path = self.layer_dir(id).join(LOWER_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let lowers = parse_lowers(text.trim());
                if let Some(bad) = lowers.iter().find(|l| !is_lower_entry(l)) {
                    return Err(Error::Corrupt {
                        path,
                        reason: format!("{bad:?} is not an l/<LID> entry"),
                    });
                }
                Ok(lowers)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.exists(id) {
                    Ok(Vec::new())
                } else {
                    Err(not_found(id))
                }
            }
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Whether a child has been created on `id`.
    pub fn is_committed(&self, id: &LayerId) -> bool {
        self.layer_dir(id).join(COMMITTED_FILE).exists()
    }

    /// Resolves an `l/<LID>` entry to the absolute diff directory it names.
    pub fn resolve_lower(&self, entry: &str) -> Result<PathBuf> {
        let link = self.home.join(entry);
        let target = fs::read_link(&link).ctx("read symlink", &link)?;
        // Targets are relative to l/: "../<id>/diff".
        let resolved = self.link_dir().join(&target);
        Ok(normalize(&resolved))
    }
}

/// The error for a layer that is not there.
pub fn not_found(id: &LayerId) -> Error {
    Error::not_found(format!("overlay2 layer {id}"))
}

fn missing_layer(id: &LayerId, path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        not_found(id)
    } else {
        Error::io("read", path, e)
    }
}

/// Splits a `lower` file's content.
pub fn parse_lowers(text: &str) -> Vec<String> {
    text.split(':')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `s` looks like a LID: 26 characters of base32 (`A-Z2-7`).
pub fn is_lid(s: &str) -> bool {
    s.len() == LID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

fn is_lower_entry(s: &str) -> bool {
    s.strip_prefix("l/").is_some_and(is_lid)
}

/// A fresh LID: 16 random bytes in RFC 4648 base32 without padding (26 characters).
pub fn random_lid() -> String {
    let bytes: [u8; 16] = rand::random();
    base32(&bytes)
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Removes `.` and `..` components lexically (the link targets hold no symlinks of their own).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(&[0xff; 16]).len(), 26);
    }

    #[test]
    fn random_lids_are_valid_and_differ() {
        let a = random_lid();
        let b = random_lid();
        assert!(is_lid(&a), "{a}");
        assert!(is_lid(&b), "{b}");
        assert_ne!(a, b);
    }

    #[test]
    fn lower_entries_are_checked() {
        assert!(is_lower_entry("l/ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
        assert!(!is_lower_entry("l/../../etc"));
        assert!(!is_lower_entry("/abs/ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
        assert_eq!(parse_lowers("l/A:l/B"), vec!["l/A", "l/B"]);
        assert!(parse_lowers("").is_empty());
    }

    #[test]
    fn normalize_resolves_parent_components() {
        assert_eq!(
            normalize(Path::new("/h/l/../abc/diff")),
            PathBuf::from("/h/abc/diff")
        );
    }
}
