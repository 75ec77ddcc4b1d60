//! Validated identifiers: driver layer ids and content digests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A storage driver's id for one layer (Docker's "cache-id"): 1 to 128 characters of
/// `[A-Za-z0-9_.-]`, not starting with `.` or `-`, so it is always one safe path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LayerId(String);

impl LayerId {
    /// Parses and validates an id.
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let valid = !s.is_empty()
            && s.len() <= 128
            && !s.starts_with(['.', '-'])
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if valid {
            Ok(LayerId(s))
        } else {
            Err(Error::InvalidInput(format!(
                "invalid layer id {s:?}: use 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"
            )))
        }
    }

    /// A fresh random id of 64 hex characters, as Docker makes cache ids.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        LayerId(hex::encode(bytes))
    }

    /// The id as a string (also a safe single path component).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Fills `buf` from the kernel's random source.
pub(crate) fn fill_random(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`, which we own mutably.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for LayerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        LayerId::new(s)
    }
}

impl TryFrom<String> for LayerId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        LayerId::new(s)
    }
}

impl From<LayerId> for String {
    fn from(id: LayerId) -> String {
        id.0
    }
}

/// A `sha256:<64 hex>` content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// Wraps a finished SHA-256 hash.
    pub fn from_sha256(hasher: Sha256) -> Self {
        Digest(hasher.finalize().into())
    }

    /// The 64 lowercase hex characters without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::InvalidInput(format!("invalid digest {s:?}: want sha256:<64 hex digits>"));
        let hex_part = s.strip_prefix("sha256:").ok_or_else(bad)?;
        if hex_part.len() != 64
            || !hex_part
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| bad())?;
        Ok(Digest(out))
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.to_string()
    }
}

/// The digest of a layer's uncompressed tar stream (Docker's and OCI's "diff id").
pub type DiffId = Digest;

/// The identity of a layer together with all its ancestors (OCI "chain id").
pub type ChainId = Digest;

/// The OCI chain-id rule: the bottom layer's chain id is its diff id; above it,
/// `sha256("<parent chain id> <diff id>")`.
pub fn chain_id(parent: Option<&ChainId>, diff_id: &DiffId) -> ChainId {
    match parent {
        None => diff_id.clone(),
        Some(parent) => Digest::of(format!("{parent} {diff_id}").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_id_rejects_path_tricks() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "-x",
            ".hidden",
            &"a".repeat(129),
            "a b",
        ] {
            assert!(LayerId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(LayerId::new("abc-1.2_x").unwrap().as_str(), "abc-1.2_x");
        assert_eq!(LayerId::random().as_str().len(), 64);
    }

    #[test]
    fn digest_round_trips_and_rejects_junk() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        for bad in [
            "sha256:xyz",
            "md5:00",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(bad.parse::<Digest>().is_err());
        }
    }

    #[test]
    fn chain_id_follows_the_oci_rule() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(chain_id(None, &a), a);
        assert_eq!(
            chain_id(Some(&a), &b),
            Digest::of(format!("{a} {b}").as_bytes())
        );
    }
}
