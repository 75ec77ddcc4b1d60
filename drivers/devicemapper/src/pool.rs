//! The thin pool: a loop-lvm pool this driver makes from two sparse files, or one given by
//! `dm.thinpooldev`; its messages and its status.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use devicemapper::{ThinPoolStatus, ThinPoolStatusSummary};
use graph::{Error, IoContext, Result};
use tracing::{info, warn};

use crate::dm::{Dm, os_errno};
use crate::loopback;
use crate::options::Options;

/// Low-water mark (in data blocks) the pool signals at, as Docker set it.
const LOW_WATER_MARK: u64 = 32768;
/// Metadata blocks are always 4 KiB.
const META_BLOCK: u64 = 4096;

/// A thin pool this driver uses.
#[derive(Debug)]
pub struct Pool {
    /// Its device-mapper name.
    pub name: String,
    /// Whether this driver made it (and so tears it down in `cleanup`).
    pub owned: bool,
    /// The loop files, for a loop-lvm pool.
    pub files: Option<(PathBuf, PathBuf)>,
}

/// What the pool reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStatus {
    /// The pool's transaction id.
    pub transaction_id: u64,
    /// Data bytes per block.
    pub block_size: u64,
    /// Data blocks used / total.
    pub data_used: u64,
    /// Data blocks in the pool.
    pub data_total: u64,
    /// Metadata blocks (4 KiB) used.
    pub meta_used: u64,
    /// Metadata blocks in the pool.
    pub meta_total: u64,
    /// "rw", "ro" or "out_of_data_space".
    pub mode: &'static str,
}

impl PoolStatus {
    /// Free data bytes.
    pub fn data_free_bytes(&self) -> u64 {
        (self.data_total - self.data_used.min(self.data_total)) * self.block_size
    }
    /// Free metadata bytes.
    pub fn meta_free_bytes(&self) -> u64 {
        (self.meta_total - self.meta_used.min(self.meta_total)) * META_BLOCK
    }
}

/// The pool name for a driver home: unique per home directory, as Docker made it.
pub fn name_prefix(home: &Path) -> Result<String> {
    let md = std::fs::metadata(home).ctx("stat", home)?;
    let dev = md.dev();
    Ok(format!(
        "engine-{}:{}-{}",
        libc::major(dev),
        libc::minor(dev),
        md.ino()
    ))
}

impl Pool {
    /// Opens the pool the options name, or (re)creates the loop-lvm pool under `home`.
    pub fn open(dm: &Dm, home: &Path, prefix: &str, opts: &Options) -> Result<Pool> {
        if let Some(name) = &opts.thin_pool_dev {
            let (target, _) = dm.table(name)?;
            if target != "thin-pool" {
                return Err(Error::InvalidInput(format!(
                    "devicemapper: dm.thinpooldev={name} is a {target} device, not a thin-pool"
                )));
            }
            return Ok(Pool {
                name: name.clone(),
                owned: false,
                files: None,
            });
        }
        let name = format!("{prefix}-pool");
        let dir = home.join("devicemapper");
        std::fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let data = dir.join("data");
        let meta = dir.join("metadata");
        let pool = Pool {
            name: name.clone(),
            owned: true,
            files: Some((data.clone(), meta.clone())),
        };
        if dm.exists(&name)? {
            info!(pool = %name, "reusing the active thin pool");
            return Ok(pool);
        }
        warn!(
            pool = %name,
            "using loop devices for the thin pool: fine for tests, slow for production (set dm.thinpooldev)"
        );
        loopback::ensure_sparse_file(&data, opts.loop_data_size)?;
        loopback::ensure_sparse_file(&meta, opts.loop_metadata_size)?;
        // The loops detach themselves when the pool (their only user) goes; until the pool
        // holds them, these handles do.
        let data_loop = loopback::attach(&data)?;
        let meta_loop = loopback::attach(&meta)?;
        let devno = |l: &loopdev::LoopDevice, f: &Path| -> Result<String> {
            Ok(format!(
                "{}:{}",
                l.major().ctx("stat loop of", f)?,
                l.minor().ctx("stat loop of", f)?
            ))
        };
        let data_len = std::fs::metadata(&data).ctx("stat", &data)?.len() / 512;
        let params = format!(
            "{} {} {} {} 2 skip_block_zeroing error_if_no_space",
            devno(&meta_loop, &meta)?,
            devno(&data_loop, &data)?,
            opts.block_size / 512,
            LOW_WATER_MARK,
        );
        dm.create(&name, data_len, "thin-pool", &params)?;
        drop((data_loop, meta_loop));
        Ok(pool)
    }

    /// Sends a message to the pool.
    pub fn message(&self, dm: &Dm, msg: &str) -> Result<()> {
        dm.message(&self.name, msg)
    }

    /// Creates thin device `id` as a snapshot of `origin`, or empty. EEXIST means the id is
    /// taken.
    pub fn create(&self, dm: &Dm, id: u32, origin: Option<u32>) -> Result<()> {
        match origin {
            Some(o) => self.message(dm, &format!("create_snap {id} {o}")),
            None => self.message(dm, &format!("create_thin {id}")),
        }
    }

    /// Deletes thin device `id`; one the pool does not have is not an error.
    pub fn delete(&self, dm: &Dm, id: u32) -> Result<()> {
        match self.message(dm, &format!("delete {id}")) {
            Err(e) if matches!(os_errno(&e), Some(libc::ENODATA) | Some(libc::ENOENT)) => Ok(()),
            other => other,
        }
    }

    /// Moves the pool's transaction id from `old` to `new` (the commit point).
    pub fn set_transaction_id(&self, dm: &Dm, old: u64, new: u64) -> Result<()> {
        self.message(dm, &format!("set_transaction_id {old} {new}"))
    }

    /// The pool's status.
    pub fn status(&self, dm: &Dm) -> Result<PoolStatus> {
        let (_, table) = dm.table(&self.name)?;
        let block_sectors: u64 = table
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "devicemapper: unexpected thin-pool table {table:?} of {}",
                    self.name
                ))
            })?;
        let (_, line) = dm.status(&self.name)?;
        let bad = |why: String| Error::Io {
            op: "read pool status",
            path: PathBuf::from("/dev/mapper").join(&self.name),
            source: std::io::Error::other(why),
        };
        match ThinPoolStatus::from_str(&line).map_err(|e| bad(e.to_string()))? {
            ThinPoolStatus::Working(w) => Ok(PoolStatus {
                transaction_id: w.transaction_id,
                block_size: block_sectors * 512,
                data_used: w.usage.used_data.0,
                data_total: w.usage.total_data.0,
                meta_used: w.usage.used_meta.0,
                meta_total: w.usage.total_meta.0,
                mode: match w.summary {
                    ThinPoolStatusSummary::Good => "rw",
                    ThinPoolStatusSummary::ReadOnly => "ro",
                    ThinPoolStatusSummary::OutOfSpace => "out_of_data_space",
                },
            }),
            ThinPoolStatus::Fail | ThinPoolStatus::Error => Err(bad(format!(
                "thin pool {} has failed (status {line:?}); repair it with thin_check/thin_repair",
                self.name
            ))),
        }
    }

    /// Removes the pool if this driver made it (its loops then detach themselves).
    pub fn teardown(&self, dm: &Dm) -> Result<()> {
        if self.owned {
            dm.remove(&self.name, false)?;
        }
        Ok(())
    }
}
