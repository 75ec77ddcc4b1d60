//! Per-case fixtures: a fresh temp data root with one driver in it, and ref-counted mounts,
//! all released in `Drop` so a failing case leaves no mount behind.

use std::fs;
use std::path::{Path, PathBuf};

use crate::driver::{CreateOpts, Driver};
use crate::error::{ErrorKind, Result};
use crate::id::LayerId;

/// What every case takes: builds a driver whose home is the given directory.
pub type Factory<'a> = &'a dyn Fn(&Path) -> Result<Box<dyn Driver>>;

/// Where temp data roots go: `$ENGINE_TEST_TMPDIR`, else `/var/tmp` (a real disk, where
/// overlayfs upper directories and xattrs work), else the default temp dir.
fn temp_base() -> PathBuf {
    if let Some(dir) = std::env::var_os("ENGINE_TEST_TMPDIR") {
        return PathBuf::from(dir);
    }
    let var_tmp = Path::new("/var/tmp");
    if var_tmp.is_dir() {
        return var_tmp.to_path_buf();
    }
    std::env::temp_dir()
}

/// A fresh temp directory tagged with the suite's name, for a data root or an oracle tree.
pub fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("engine-conformance-{tag}-"))
        .tempdir_in(temp_base())
        .expect("create a temp data root")
}

/// One driver on a fresh temp data root. Dropping it calls [`Driver::cleanup`], detaches any
/// mount still left under the root, then deletes the root.
#[derive(Debug)]
pub struct Store {
    driver: Option<Box<dyn Driver>>,
    root: tempfile::TempDir,
}

impl Store {
    /// Builds a driver with `factory` in a new temp data root (home `<root>/driver`).
    ///
    /// A driver this host cannot run (init says NotSupported) skips the case, as moby's
    /// graphtest does: `None`, after [`skip`](super::skip) printed why (or panicked, under
    /// `ENGINE_REQUIRE_ROOT_TESTS=1`). Any other init error fails the case.
    pub fn new(factory: Factory<'_>, tag: &str) -> Option<Store> {
        let root = temp_dir(tag);
        let home = root.path().join("driver");
        let driver = match factory(&home) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotSupported => {
                super::skip(tag, &format!("driver not supported here: {e}"));
                return None;
            }
            Err(e) => panic!("driver init at {}: {e}", home.display()),
        };
        Some(Store {
            driver: Some(driver),
            root,
        })
    }

    /// The driver under test.
    pub fn d(&self) -> &dyn Driver {
        self.driver.as_deref().expect("driver present until drop")
    }

    /// Creates an image layer, panicking with the driver's error.
    pub fn create(&self, id: &LayerId, parent: Option<&LayerId>) {
        if let Err(e) = self.d().create(id, parent, &CreateOpts::default()) {
            panic!("{}: create {id} on {parent:?}: {e}", self.d().name());
        }
    }

    /// Creates a read-write layer, panicking with the driver's error.
    pub fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>) {
        if let Err(e) = self.d().create_rw(id, parent, &CreateOpts::default()) {
            panic!("{}: create_rw {id} on {parent:?}: {e}", self.d().name());
        }
    }

    /// Mounts `id`; the returned guard puts it on drop.
    pub fn mount(&self, id: &LayerId) -> Mount<'_> {
        match self.d().get(id) {
            Ok(path) => Mount {
                driver: self.d(),
                id: id.clone(),
                path,
            },
            Err(e) => panic!("{}: get {id}: {e}", self.d().name()),
        }
    }

    /// Removes `id`, panicking with the driver's error.
    pub fn remove(&self, id: &LayerId) {
        if let Err(e) = self.d().remove(id) {
            panic!("{}: remove {id}: {e}", self.d().name());
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            if let Err(e) = driver.cleanup() {
                eprintln!("{}: cleanup: {e}", driver.name());
            }
            drop(driver);
        }
        detach_mounts_under(self.root.path());
    }
}

/// Lazily unmounts whatever is still mounted below `root` (deepest first), so deleting the
/// temp root never walks into a live mount.
pub fn detach_mounts_under(root: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn unescape_mountinfo(field: &str) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        if let (b'\\', Some(v)) = (bytes[i], octal) {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// A `get` reference that is `put` on drop.
#[derive(Debug)]
pub struct Mount<'a> {
    driver: &'a dyn Driver,
    id: LayerId,
    path: PathBuf,
}

impl Mount<'_> {
    /// The mounted layer root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path()/rel`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for Mount<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.driver.put(&self.id) {
            eprintln!("{}: put {}: {e}", self.driver.name(), self.id);
        }
    }
}

/// A layer id from a fixed name (panics on an invalid one: names are the suite's own).
pub fn id(name: &str) -> LayerId {
    LayerId::new(name).expect("valid layer id")
}

impl Store {
    /// A fresh directory `<root>/<name>` beside the driver's home, for oracle trees.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        dir
    }
}
