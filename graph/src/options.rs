//! Storage options (`--storage-opt` / daemon.json `storage-opts`): `driver.key=value` strings.

use crate::error::{Error, Result};

/// One parsed option: `overlay2.size=10G` is key `size` for driver `overlay2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageOpt {
    /// The key after the driver prefix, lowercased.
    pub key: String,
    /// The value as given.
    pub value: String,
}

/// Parses `opts` for `driver`: each must be `<driver>.<key>=<value>`. Options for other
/// drivers are an error, as are malformed ones; unknown keys are for the driver to reject.
pub fn parse_storage_opts(driver: &str, opts: &[String]) -> Result<Vec<StorageOpt>> {
    opts.iter()
        .map(|raw| {
            let (key, value) = raw.split_once('=').ok_or_else(|| {
                Error::InvalidInput(format!("storage option {raw:?}: want KEY=VALUE, e.g. {driver}.size=10G"))
            })?;
            let key = key.trim().to_ascii_lowercase();
            let (prefix, key) = key.split_once('.').ok_or_else(|| {
                Error::InvalidInput(format!("storage option {raw:?}: the key needs a driver prefix, e.g. {driver}.{key}"))
            })?;
            let wanted = driver_option_prefix(driver);
            if prefix != wanted {
                return Err(Error::InvalidInput(format!(
                    "storage option {raw:?} is for driver {prefix:?}, but the storage driver is {driver}"
                )));
            }
            Ok(StorageOpt { key: key.to_string(), value: value.trim().to_string() })
        })
        .collect()
}

/// The option prefix a driver's options carry (Docker's devicemapper options are `dm.*`).
pub fn driver_option_prefix(driver: &str) -> &str {
    match driver {
        "devicemapper" => "dm",
        other => other,
    }
}

/// The error a driver returns for an option key it does not know.
pub fn unknown_option(driver: &str, opt: &StorageOpt, known: &[&str]) -> Error {
    let prefix = driver_option_prefix(driver);
    let known: Vec<String> = known.iter().map(|k| format!("{prefix}.{k}")).collect();
    Error::InvalidInput(format!(
        "{driver}: unknown option {prefix}.{}; known options: {}",
        opt.key,
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// Parses a byte size as Docker does (`units.RAMInBytes`): a number with an optional
/// binary suffix b, k, m, g, t, p (case-insensitive, optional trailing "b"/"ib"): `10G`, `512m`, `4096`.
pub fn parse_bytes(s: &str) -> Result<u64> {
    let bad = || {
        Error::InvalidInput(format!(
            "invalid size {s:?}: want a number with an optional unit (k, m, g, t), e.g. 10G"
        ))
    };
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(bad()),
    };
    let value: f64 = num.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let bytes = value * mult as f64;
    if bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_like_docker() {
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("10G").unwrap(), 10 << 30);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        for bad in ["", "G", "10X", "-1", "1e400"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_need_the_driver_prefix() {
        let o = parse_storage_opts("overlay2", &["overlay2.size=10G".into()]).unwrap();
        assert_eq!(
            o,
            vec![StorageOpt {
                key: "size".into(),
                value: "10G".into()
            }]
        );
        let dm = parse_storage_opts("devicemapper", &["dm.basesize=20G".into()]).unwrap();
        assert_eq!(dm[0].key, "basesize");
        assert!(parse_storage_opts("overlay2", &["size=10G".into()]).is_err());
        assert!(parse_storage_opts("overlay2", &["dm.basesize=1G".into()]).is_err());
        assert!(parse_storage_opts("vfs", &["vfs.size".into()]).is_err());
    }
}
