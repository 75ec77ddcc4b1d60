//! The overlay2 storage driver: layers as overlayfs directories, laid out as Docker lays them.
//!
//! # Layout
//!
//! The driver home (`<data-root>/overlay2`) holds one directory per layer and a directory `l/`
//! of short symlinks (see [`layout`] for the full picture). A layer's own files live in
//! `<id>/diff`; a layer with a parent also has `<id>/lower`, the chain of its ancestors as
//! `l/<LID>` links (parent first), and `<id>/work`, overlay's work directory. The 26-character
//! links exist so that the mount options for 128 lowers fit in one page.
//!
//! # Life of a layer
//!
//! - **create** builds the layer under `.tmp-<id>` and renames it into place, so a crash never
//!   leaves a half-made layer that [`graph::Driver::exists`] would report; leftovers are swept
//!   when the driver starts. Creating a child marks the parent `committed`; a chain deeper than
//!   128 lowers is refused ("max depth exceeded"), as Docker refuses it.
//! - **get** mounts `lowerdir=<lowers>,upperdir=<id>/diff,workdir=<id>/work` on `<id>/merged`
//!   (read-only, with the layer's own diff as top lower, once the layer is committed). Gets are
//!   counted: only the first mounts, and the last **put** unmounts (`MNT_DETACH`) and removes
//!   `merged`. A base layer is not mounted at all: its `diff` is the tree. If the mount data
//!   with absolute paths exceeds a page, the mount is made with paths relative to the home
//!   from a thread that unshared its working directory ([`mount`]). A `merged` that is already
//!   a mount point (another process, or a crash) is reused rather than mounted twice.
//! - **remove** refuses a layer this process has mounted, or one that is the parent of another
//!   layer (both `Busy`; Docker allows the latter and breaks the child); otherwise it renames the
//!   layer to `.del-<id>` (invisible at once), drops its link and deletes it.
//!
//! # Diffs
//!
//! The upper directory *is* the layer's change set, with overlay's own whiteouts (character
//! device 0/0, `trusted.overlay.opaque`). So when asked for the diff against the direct parent
//! the driver tars `diff/` converting whiteouts to `.wh.` entries, and applies a layer tar
//! straight into `diff/` converting the other way. This is unsafe on kernels whose overlay
//! copies the opaque flag up or uses `redirect_dir`; the driver probes for both at start
//! ([`probe`]) and then falls back to the naive tree comparison, as it does for any other
//! parent. `changes` is always naive.
//!
//! # Start-up checks
//!
//! Construction probes by doing: a real overlay mount (else `NotSupported`, so driver
//! selection moves on), the backing filesystem (overlay cannot sit on overlay), d_type support,
//! native-diff safety and metacopy. Size limits (`overlay2.size`, `--storage-opt size`) need xfs
//! project quotas (`src/quota.rs`).
#![warn(missing_docs)]

mod backing_fs;
mod create;
mod diff;
mod id_locks;
pub mod layout;
pub mod mount;
pub mod mount_opts;
mod mounting;
mod options;
pub mod probe;
mod probe_cache;
mod quota;
mod remove;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use graph::refcount::RefCounts;
use graph::{Change, CreateOpts, Driver, DriverConfig, Error, IoContext, LayerId, Result};
use tracing::{debug, debug_span, info, warn};

pub use backing_fs::BackingFs;
pub use options::Options;

use id_locks::IdLocks;
use layout::Layout;
use quota::Quota;

/// The driver's name.
pub const NAME: &str = "overlay2";

const INDEX_PARAM: &str = "/sys/module/overlay/parameters/index";

/// The overlay2 driver.
#[derive(Debug)]
pub struct Overlay2Driver {
    layout: Layout,
    backing_fs: BackingFs,
    native_diff: bool,
    metacopy: bool,
    index_off: bool,
    page_size: usize,
    options: Options,
    quota: Option<Quota>,
    refs: RefCounts,
    locks: IdLocks,
}

/// Builds the driver for the engine's driver table ([`graph::DriverEntry::init`]).
pub fn init(config: &DriverConfig) -> Result<Box<dyn Driver>> {
    Ok(Box::new(Overlay2Driver::new(config)?))
}

impl Overlay2Driver {
    /// Opens (creating if needed) the driver at `config.home` after probing that overlay
    /// works there. `NotSupported` when it does not, so driver selection can move on.
    pub fn new(config: &DriverConfig) -> Result<Self> {
        let _span = debug_span!("init", driver = NAME, home = %config.home.display()).entered();
        let options = Options::parse(&config.options)?;
        let home = &config.home;
        let parent = home.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(parent).ctx("create directory", parent)?;
        // Probe where the layers will be: the home if it already exists (it may be a mount of
        // its own), else its parent.
        let probe_dir = if home.is_dir() {
            home.as_path()
        } else {
            parent
        };

        let backing_fs = BackingFs::of(probe_dir)?;
        if let Some(why) = backing_fs.incompatibility() {
            return Err(Error::NotSupported(format!(
                "overlay2: {} is on {}: {why}; use a data root on another filesystem",
                probe_dir.display(),
                backing_fs.name()
            )));
        }
        // Results of an earlier start on this kernel and filesystem: no scratch mounts or
        // writes (a full disk must not stop `rm`).
        let probe_key = probe_cache::key(probe_dir, &backing_fs.name());
        let cached = probe_key
            .as_deref()
            .and_then(|k| probe_cache::load(home, k));
        if cached.is_none() {
            probe::check_overlay_mount(probe_dir)?;
            if !probe::supports_d_type(probe_dir)? {
                return Err(probe::d_type_error(&backing_fs));
            }
        }
        if options.size.is_some() && !backing_fs.is_xfs() {
            return Err(Error::NotSupported(format!(
                "overlay2: storage option overlay2.size only supported for backing filesystem xfs \
                 mounted with pquota (the backing filesystem of {} is {})",
                probe_dir.display(),
                backing_fs.name()
            )));
        }

        make_dir(home, 0o710)?;
        let home = fs::canonicalize(home).ctx("resolve path", home)?;
        let layout = Layout::new(home);
        make_dir(&layout.link_dir(), 0o700)?;
        let quota = if backing_fs.is_xfs() {
            Quota::new(layout.home())
                .inspect_err(|e| debug!(error = %e, "no project quotas"))
                .ok()
        } else {
            None
        };
        if options.size.is_some() && quota.is_none() {
            return Err(Error::NotSupported(format!(
                "overlay2: storage option overlay2.size only supported for backing filesystem xfs \
                 mounted with pquota; {} is xfs without project quotas (mount it with -o pquota)",
                layout.home().display()
            )));
        }

        let probed = match cached {
            Some(p) => p,
            None => {
                let native_diff = match probe::native_diff_problem(layout.home()) {
                    Ok(None) => true,
                    Ok(Some(why)) => {
                        warn!(reason = %why, "Not using native diff for overlay2, this may cause degraded performance for building images");
                        false
                    }
                    Err(e) => {
                        warn!(error = %e, "Not using native diff for overlay2, this may cause degraded performance for building images");
                        false
                    }
                };
                let metacopy = probe::uses_metacopy(layout.home()).unwrap_or_else(|e| {
                    warn!(error = %e, "could not probe overlay metacopy");
                    false
                });
                let p = probe_cache::Probed {
                    native_diff,
                    metacopy,
                };
                if let Some(k) = &probe_key {
                    probe_cache::store(layout.home(), k, p);
                }
                p
            }
        };
        let (native_diff, metacopy) = (probed.native_diff, probed.metacopy);
        let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(4096);

        let refs = RefCounts::new(layout.home().join(".refs"));
        let driver = Overlay2Driver {
            layout,
            backing_fs,
            native_diff,
            metacopy,
            index_off: Path::new(INDEX_PARAM).exists(),
            page_size,
            options,
            quota,
            refs,
            locks: IdLocks::default(),
        };
        driver.sweep()?;
        info!(
            home = %driver.layout.home().display(),
            backing_fs = %driver.backing_fs.name(),
            native_diff,
            metacopy,
            "overlay2 driver ready"
        );
        Ok(driver)
    }

    /// Whether diffs against the direct parent are taken natively from the upper directory.
    pub fn native_diff(&self) -> bool {
        self.native_diff
    }

    /// The backing filesystem of the home.
    pub fn backing_fs(&self) -> BackingFs {
        self.backing_fs
    }
}

/// Creates `dir` (and missing parents) and sets its mode exactly, whatever the umask.
fn make_dir(dir: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .ctx("create directory", dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).ctx("chmod", dir)
}

impl Driver for Overlay2Driver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn home(&self) -> &Path {
        self.layout.home()
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()> {
        let _span = debug_span!("create", driver = NAME, %id).entered();
        if opts.size.is_some() {
            return Err(Error::InvalidInput(
                "--storage-opt size is only supported for read-write layers".into(),
            ));
        }
        self.create_layer(id, parent, None)
    }

    fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()> {
        let _span = debug_span!("create_rw", driver = NAME, %id).entered();
        let size = opts.size.or(self.options.size);
        if size.is_some() && self.quota.is_none() {
            return Err(Error::NotSupported(format!(
                "overlay2: --storage-opt size is only supported for backing filesystem xfs \
                 mounted with pquota (the backing filesystem is {})",
                self.backing_fs.name()
            )));
        }
        self.create_layer(id, parent, size)
    }

    fn remove(&self, id: &LayerId) -> Result<()> {
        let _span = debug_span!("remove", driver = NAME, %id).entered();
        self.remove_layer(id)
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf> {
        let _span = debug_span!("get", driver = NAME, %id).entered();
        self.get_layer(id)
    }

    fn put(&self, id: &LayerId) -> Result<()> {
        let _span = debug_span!("put", driver = NAME, %id).entered();
        self.put_layer(id)
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.layout.exists(id)
    }

    fn status(&self) -> Vec<(String, String)> {
        let yes_no = |b: bool| if b { "true" } else { "false" }.to_string();
        vec![
            ("Backing Filesystem".into(), self.backing_fs.name()),
            ("Supports d_type".into(), "true".into()),
            ("Using metacopy".into(), yes_no(self.metacopy)),
            ("Native Overlay Diff".into(), yes_no(self.native_diff)),
            ("userxattr".into(), "false".into()),
            ("Copy-up".into(), copy_up_kind(self.layout.home())),
        ]
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>> {
        let _span = debug_span!("metadata", driver = NAME, %id).entered();
        if !self.layout.exists(id) {
            return Err(layout::not_found(id));
        }
        let show = |p: PathBuf| p.to_string_lossy().into_owned();
        let mut data = BTreeMap::new();
        data.insert("UpperDir".into(), show(self.layout.diff_dir(id)));
        data.insert("WorkDir".into(), show(self.layout.work_dir(id)));
        data.insert("MergedDir".into(), show(self.layout.merged_dir(id)));
        let lowers = self.layout.read_lowers(id)?;
        if !lowers.is_empty() {
            let dirs = lowers
                .iter()
                .map(|l| self.layout.resolve_lower(l).map(show))
                .collect::<Result<Vec<_>>>()?;
            data.insert("LowerDir".into(), dirs.join(":"));
        }
        Ok(data)
    }

    fn cleanup(&self) -> Result<()> {
        let _span = debug_span!("cleanup", driver = NAME).entered();
        self.cleanup_mounts()
    }

    fn sweep_mounts(&self) -> Result<()> {
        let _span = debug_span!("sweep_mounts", driver = NAME).entered();
        self.sweep_merged()
    }

    fn diff(&self, id: &LayerId, parent: Option<&LayerId>, out: &mut dyn Write) -> Result<()> {
        let _span = debug_span!("diff", driver = NAME, %id).entered();
        self.diff_layer(id, parent, out)
    }

    fn changes(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<Vec<Change>> {
        let _span = debug_span!("changes", driver = NAME, %id).entered();
        graph::naive::changes(self, id, parent)
    }

    fn apply_diff(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        diff: &mut dyn Read,
    ) -> Result<u64> {
        let _span = debug_span!("apply_diff", driver = NAME, %id).entered();
        self.apply_layer_diff(id, parent, diff)
    }

    fn diff_size(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<u64> {
        let _span = debug_span!("diff_size", driver = NAME, %id).entered();
        self.layer_diff_size(id, parent)
    }
}

/// How overlayfs copies a lower file up on the first write, for `info`: by cloning where the
/// backing filesystem shares extents (xfs made with reflink=1, btrfs), else by copying every
/// byte (appending one byte to a 100 MiB lower file then costs ~90 ms on ext4 against ~1 ms
/// on xfs with reflink: docs/benchmarks.md). Probed with FICLONE on two scratch files.
fn copy_up_kind(home: &Path) -> String {
    let probe = || -> std::io::Result<bool> {
        let dir = tempfile::Builder::new()
            .prefix(".clone-probe-")
            .tempdir_in(home)?;
        // FICLONE reads the source: it must be open for reading.
        let src = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("a"))?;
        std::io::Write::write_all(&mut &src, b"x")?;
        let dst = std::fs::File::create(dir.path().join("b"))?;
        // SAFETY: FICLONE takes the source descriptor as its argument; both are open files.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&dst),
                libc::FICLONE,
                std::os::fd::AsRawFd::as_raw_fd(&src),
            )
        };
        Ok(rc == 0)
    };
    match probe() {
        Ok(true) => "clone (the backing filesystem shares extents)".into(),
        Ok(false) => {
            "full copy (xfs with reflink=1 copies up by cloning: see docs/benchmarks.md)".into()
        }
        Err(e) => format!("unknown ({e})"),
    }
}
