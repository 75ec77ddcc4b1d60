//! The driver's storage options (`--storage-opt overlay2.KEY=VALUE`).

use graph::Result;
use graph::options::{StorageOpt, parse_bytes, unknown_option};

use crate::NAME;

/// Parsed overlay2 options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `overlay2.size`: the default size limit of read-write layers, in bytes.
    pub size: Option<u64>,
}

impl Options {
    /// Parses `opts`; unknown keys are an error.
    pub fn parse(opts: &[StorageOpt]) -> Result<Self> {
        let mut out = Options::default();
        for opt in opts {
            match opt.key.as_str() {
                "size" => out.size = Some(parse_bytes(&opt.value)?),
                _ => return Err(unknown_option(NAME, opt, &["size"])),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(key: &str, value: &str) -> StorageOpt {
        StorageOpt {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn size_parses_and_unknown_keys_fail() {
        assert_eq!(
            Options::parse(&[opt("size", "10G")]).unwrap().size,
            Some(10 << 30)
        );
        let err = Options::parse(&[opt("override_kernel_check", "true")]).unwrap_err();
        assert_eq!(err.kind(), graph::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("overlay2.size"), "{err}");
        assert!(Options::parse(&[opt("size", "lots")]).is_err());
    }
}
