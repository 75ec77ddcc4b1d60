//! The driver's storage options (`--storage-opt dm.KEY=VALUE`), parsed once into [`Options`].

use graph::options::{StorageOpt, parse_bytes, unknown_option};
use graph::{Error, Result};

use crate::NAME;

/// The keys this driver accepts, as Docker's devicemapper named them.
const KNOWN: &[&str] = &[
    "basesize",
    "loopdatasize",
    "loopmetadatasize",
    "blocksize",
    "thinpooldev",
    "fs",
    "mkfsarg",
    "mountopt",
    "min_free_space",
    "use_deferred_removal",
    "use_deferred_deletion",
];

/// The filesystem made on the base device (and so inside every layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// ext4, made with lazy init off so no background writes follow.
    Ext4,
    /// xfs, mounted with `nouuid` because every snapshot carries the base's UUID.
    Xfs,
}

impl Filesystem {
    /// The name `mount` and `mkfs.<name>` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Filesystem::Ext4 => "ext4",
            Filesystem::Xfs => "xfs",
        }
    }

    /// Parses a stored or given name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ext4" => Some(Filesystem::Ext4),
            "xfs" => Some(Filesystem::Xfs),
            _ => None,
        }
    }
}

/// The parsed configuration of one driver instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Size of the base device, and so of every layer (`dm.basesize`, default 10G).
    pub base_size: u64,
    /// Size of the sparse data file of a loop-backed pool (`dm.loopdatasize`, default 100G).
    pub loop_data_size: u64,
    /// Size of the sparse metadata file (`dm.loopmetadatasize`, default 2G).
    pub loop_metadata_size: u64,
    /// Pool allocation unit in bytes (`dm.blocksize`, default 64K; 64K..1G, multiple of 64K).
    pub block_size: u64,
    /// An existing thin pool to use instead of loop files (`dm.thinpooldev`), by dm name.
    pub thin_pool_dev: Option<String>,
    /// The base filesystem (`dm.fs`, default ext4).
    pub fs: Filesystem,
    /// Extra `mkfs` arguments (`dm.mkfsarg`, repeatable).
    pub mkfs_args: Vec<String>,
    /// Extra mount options (`dm.mountopt`, repeatable, joined with commas).
    pub mount_opts: Vec<String>,
    /// Creating a layer fails when free data or metadata space is below this percentage
    /// (`dm.min_free_space`, default 10%).
    pub min_free_space_percent: u32,
    /// Deactivate busy devices lazily (`dm.use_deferred_removal`, default false).
    pub deferred_removal: bool,
    /// Delete busy devices later instead of failing (`dm.use_deferred_deletion`, default false;
    /// needs deferred removal).
    pub deferred_deletion: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_size: 10 << 30,
            loop_data_size: 100 << 30,
            loop_metadata_size: 2 << 30,
            block_size: 64 << 10,
            thin_pool_dev: None,
            fs: Filesystem::Ext4,
            mkfs_args: Vec::new(),
            mount_opts: Vec::new(),
            min_free_space_percent: 10,
            deferred_removal: false,
            deferred_deletion: false,
        }
    }
}

impl Options {
    /// Parses the driver's options; an unknown key or a malformed value is `InvalidInput`.
    pub fn parse(opts: &[StorageOpt]) -> Result<Options> {
        let mut o = Options::default();
        for opt in opts {
            let v = opt.value.as_str();
            match opt.key.as_str() {
                "basesize" => o.base_size = size(opt, 1 << 20)?,
                "loopdatasize" => o.loop_data_size = size(opt, 1 << 20)?,
                "loopmetadatasize" => o.loop_metadata_size = size(opt, 1 << 20)?,
                "blocksize" => {
                    let b = size(opt, 64 << 10)?;
                    if b % (64 << 10) != 0 || b > 1 << 30 {
                        return Err(bad(opt, "want a multiple of 64K up to 1G"));
                    }
                    o.block_size = b;
                }
                "thinpooldev" => {
                    let name = v.strip_prefix("/dev/mapper/").unwrap_or(v);
                    if name.is_empty() || name.contains('/') {
                        return Err(bad(opt, "want a device-mapper name or /dev/mapper/NAME"));
                    }
                    o.thin_pool_dev = Some(name.to_string());
                }
                "fs" => o.fs = Filesystem::parse(v).ok_or_else(|| bad(opt, "want ext4 or xfs"))?,
                "mkfsarg" => o.mkfs_args.push(v.to_string()),
                "mountopt" => o.mount_opts.push(v.to_string()),
                "min_free_space" => {
                    let pct = v.strip_suffix('%').unwrap_or(v);
                    o.min_free_space_percent = match pct.parse::<u32>() {
                        Ok(p) if p < 100 => p,
                        _ => return Err(bad(opt, "want a percentage below 100, e.g. 10%")),
                    };
                }
                "use_deferred_removal" => o.deferred_removal = boolean(opt)?,
                "use_deferred_deletion" => o.deferred_deletion = boolean(opt)?,
                _ => return Err(unknown_option(NAME, opt, KNOWN)),
            }
        }
        if o.deferred_deletion && !o.deferred_removal {
            return Err(Error::InvalidInput(
                "devicemapper: dm.use_deferred_deletion=true needs dm.use_deferred_removal=true"
                    .into(),
            ));
        }
        Ok(o)
    }
}

fn bad(opt: &StorageOpt, want: &str) -> Error {
    Error::InvalidInput(format!(
        "{NAME}: invalid value {:?} for dm.{}: {want}",
        opt.value, opt.key
    ))
}

fn size(opt: &StorageOpt, min: u64) -> Result<u64> {
    let b = parse_bytes(&opt.value).map_err(|_| bad(opt, "want a size such as 10G"))?;
    if b < min {
        return Err(bad(opt, &format!("want at least {} KiB", min >> 10)));
    }
    Ok(b)
}

fn boolean(opt: &StorageOpt) -> Result<bool> {
    match opt.value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(opt, "want true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> Vec<StorageOpt> {
        kv.iter()
            .map(|(k, v)| StorageOpt {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn defaults_are_dockers() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(o.base_size, 10 << 30);
        assert_eq!(o.loop_data_size, 100 << 30);
        assert_eq!(o.loop_metadata_size, 2 << 30);
        assert_eq!(o.block_size, 64 << 10);
        assert_eq!(o.min_free_space_percent, 10);
        assert_eq!(o.fs, Filesystem::Ext4);
        assert!(!o.deferred_removal && !o.deferred_deletion);
    }

    #[test]
    fn parses_every_option() {
        let o = Options::parse(&opts(&[
            ("basesize", "64M"),
            ("loopdatasize", "512M"),
            ("loopmetadatasize", "64M"),
            ("blocksize", "512K"),
            ("thinpooldev", "/dev/mapper/mypool"),
            ("fs", "xfs"),
            ("mkfsarg", "-m 0"),
            ("mkfsarg", "-b 4096"),
            ("mountopt", "noatime"),
            ("min_free_space", "5%"),
            ("use_deferred_removal", "true"),
            ("use_deferred_deletion", "true"),
        ]))
        .unwrap();
        assert_eq!(o.base_size, 64 << 20);
        assert_eq!(o.block_size, 512 << 10);
        assert_eq!(o.thin_pool_dev.as_deref(), Some("mypool"));
        assert_eq!(o.fs, Filesystem::Xfs);
        assert_eq!(o.mkfs_args, ["-m 0", "-b 4096"]);
        assert_eq!(o.mount_opts, ["noatime"]);
        assert_eq!(o.min_free_space_percent, 5);
        assert!(o.deferred_removal && o.deferred_deletion);
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        let err = Options::parse(&opts(&[("datadev", "/dev/sdb")])).unwrap_err();
        assert_eq!(err.kind(), graph::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("dm.datadev"), "{err}");
        for (k, v) in [
            ("basesize", "ten"),
            ("basesize", "1K"),
            ("blocksize", "100K"),
            ("blocksize", "2G"),
            ("fs", "btrfs"),
            ("min_free_space", "100%"),
            ("min_free_space", "x"),
            ("use_deferred_removal", "maybe"),
            ("thinpooldev", ""),
        ] {
            let err = Options::parse(&opts(&[(k, v)])).unwrap_err();
            assert_eq!(err.kind(), graph::ErrorKind::InvalidInput, "{k}={v}");
            assert!(err.to_string().contains(k), "{err}");
        }
        let err = Options::parse(&opts(&[("use_deferred_deletion", "true")])).unwrap_err();
        assert!(err.to_string().contains("use_deferred_removal"), "{err}");
    }
}
