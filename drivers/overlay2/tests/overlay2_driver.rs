//! overlay2 driver tests. All `root_` tier: they mount overlays. Every fixture unmounts
//! whatever is left under its temp root in `Drop`, so a failing test leaves no mounts behind.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use graph::options::StorageOpt;
use graph::{CreateOpts, Driver, DriverConfig, ErrorKind, LayerId};
use overlay2::{Overlay2Driver, mount};

fn id(s: &str) -> LayerId {
    LayerId::new(s).unwrap()
}

fn none() -> CreateOpts {
    CreateOpts::default()
}

/// Mount points under `root`.
fn mounts_under(root: &Path) -> Vec<PathBuf> {
    mount::mount_points()
        .unwrap()
        .into_iter()
        .filter(|m| m.starts_with(root))
        .collect()
}

/// A temp root with the driver home inside; unmounts everything under the root on drop.
struct Fixture {
    root: tempfile::TempDir,
    driver: Option<Overlay2Driver>,
}

impl Fixture {
    fn new() -> Self {
        Self::with_options(&[]).unwrap()
    }

    fn with_options(opts: &[(&str, &str)]) -> graph::Result<Self> {
        let root = tempfile::tempdir().unwrap();
        let mut f = Fixture { root, driver: None };
        f.driver = Some(Overlay2Driver::new(&config(&f.home(), opts))?);
        Ok(f)
    }

    fn root(&self) -> PathBuf {
        fs::canonicalize(self.root.path()).unwrap()
    }

    fn home(&self) -> PathBuf {
        self.root().join("data").join("overlay2")
    }

    fn d(&self) -> &Overlay2Driver {
        self.driver.as_ref().unwrap()
    }
}

/// A home under a long path, so absolute mount options for 128 lowers exceed a page.
fn long_home(root: &Path) -> PathBuf {
    let mut p = root.to_path_buf();
    for _ in 0..5 {
        p.push("a-rather-long-directory-name-to-push-the-data-root-past-one-page");
    }
    p.join("overlay2")
}

fn config(home: &Path, opts: &[(&str, &str)]) -> DriverConfig {
    DriverConfig {
        home: home.to_path_buf(),
        options: opts
            .iter()
            .map(|(k, v)| StorageOpt {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(d) = &self.driver {
            let _ = d.cleanup();
        }
        let root = self.root();
        let mut left = mounts_under(&root);
        left.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in left {
            let _ = mount::unmount(&m);
        }
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

macro_rules! need_root {
    ($name:expr) => {
        if !graph::testsuite::root_available($name) {
            return;
        }
    };
}

#[test]
fn root_layout_files_and_modes() {
    need_root!("root_layout_files_and_modes");
    let f = Fixture::new();
    let d = f.d();
    let home = d.home().to_path_buf();
    d.create(&id("base"), None, &none()).unwrap();
    d.create(&id("child"), Some(&id("base")), &none()).unwrap();
    d.create_rw(&id("top"), Some(&id("child")), &none())
        .unwrap();

    assert_eq!(mode(&home), 0o710);
    assert_eq!(mode(&home.join("l")), 0o700);
    for layer in ["base", "child", "top"] {
        assert!(d.exists(&id(layer)));
        assert_eq!(mode(&home.join(layer)), 0o710, "{layer}");
        assert_eq!(mode(&home.join(layer).join("diff")), 0o755, "{layer}");
        let lid = read(&home.join(layer).join("link"));
        assert_eq!(lid.len(), 26, "{lid}");
        assert!(
            lid.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        let target = fs::read_link(home.join("l").join(&lid)).unwrap();
        assert_eq!(target, PathBuf::from(format!("../{layer}/diff")));
        assert!(
            home.join("l").join(&lid).join(".").is_dir(),
            "link resolves"
        );
        assert!(!home.join(layer).join("merged").exists());
    }
    let lid = |l: &str| read(&home.join(l).join("link"));
    assert!(!home.join("base/lower").exists());
    assert!(!home.join("base/work").exists());
    assert_eq!(
        read(&home.join("child/lower")),
        format!("l/{}", lid("base"))
    );
    assert_eq!(
        read(&home.join("top/lower")),
        format!("l/{}:l/{}", lid("child"), lid("base"))
    );
    assert_eq!(mode(&home.join("child/work")), 0o700);
    assert_eq!(mode(&home.join("top/work")), 0o700);
    assert_eq!(fs::metadata(home.join("base/committed")).unwrap().len(), 0);
    assert!(home.join("child/committed").exists());
    assert!(!home.join("top/committed").exists());
    // Nothing half-made is left.
    let names: Vec<String> = fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with('.') || [".work.lock", ".probe", ".refs"].contains(&n.as_str())),
        "{names:?}"
    );
}

#[test]
fn root_create_errors() {
    need_root!("root_create_errors");
    let f = Fixture::new();
    let d = f.d();
    d.create(&id("base"), None, &none()).unwrap();
    assert_eq!(
        d.create(&id("base"), None, &none()).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        d.create(&id("x"), Some(&id("missing")), &none())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(!d.exists(&id("x")));
    assert_eq!(
        d.get(&id("missing")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.metadata(&id("missing")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn root_base_layer_is_not_mounted() {
    need_root!("root_base_layer_is_not_mounted");
    let f = Fixture::new();
    let d = f.d();
    d.create(&id("base"), None, &none()).unwrap();
    let p = d.get(&id("base")).unwrap();
    assert_eq!(p, d.home().join("base/diff"));
    assert!(mounts_under(&f.root()).is_empty());
    // Counted all the same: in use means not removable.
    assert_eq!(d.remove(&id("base")).unwrap_err().kind(), ErrorKind::Busy);
    d.put(&id("base")).unwrap();
    d.remove(&id("base")).unwrap();
    assert!(!d.exists(&id("base")));
}

#[test]
fn root_get_put_refcount() {
    need_root!("root_get_put_refcount");
    let f = Fixture::new();
    let d = f.d();
    d.create(&id("base"), None, &none()).unwrap();
    fs::write(d.home().join("base/diff/hello"), "from base").unwrap();
    d.create_rw(&id("rw"), Some(&id("base")), &none()).unwrap();
    let merged = d.home().join("rw/merged");

    let p1 = d.get(&id("rw")).unwrap();
    let p2 = d.get(&id("rw")).unwrap();
    assert_eq!(p1, merged);
    assert_eq!(p2, merged);
    let count = |m: &Path| mounts_under(m).iter().filter(|x| x == &m).count();
    assert_eq!(count(&merged), 1, "two gets, one mount");
    assert_eq!(read(&merged.join("hello")), "from base");
    fs::write(merged.join("new"), "written").unwrap();
    assert_eq!(read(&d.home().join("rw/diff/new")), "written");

    d.put(&id("rw")).unwrap();
    assert_eq!(count(&merged), 1, "one reference left");
    d.put(&id("rw")).unwrap();
    assert_eq!(count(&merged), 0, "last put unmounts");
    assert!(!merged.exists(), "last put removes merged");
    // An extra put is harmless.
    d.put(&id("rw")).unwrap();
}

#[test]
fn root_remove_while_mounted_is_busy() {
    need_root!("root_remove_while_mounted_is_busy");
    let f = Fixture::new();
    let d = f.d();
    d.create(&id("base"), None, &none()).unwrap();
    d.create_rw(&id("rw"), Some(&id("base")), &none()).unwrap();
    let lid = read(&d.home().join("rw/link"));
    d.get(&id("rw")).unwrap();
    let err = d.remove(&id("rw")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(d.exists(&id("rw")));
    d.put(&id("rw")).unwrap();
    d.remove(&id("rw")).unwrap();
    assert!(!d.exists(&id("rw")));
    assert!(fs::symlink_metadata(d.home().join("l").join(lid)).is_err());
    d.remove(&id("rw")).unwrap();
    assert!(mounts_under(&f.root()).is_empty());

    // A parent goes only after its children.
    d.create(&id("mid"), Some(&id("base")), &none()).unwrap();
    d.create_rw(&id("top"), Some(&id("mid")), &none()).unwrap();
    for parent in ["base", "mid"] {
        let err = d.remove(&id(parent)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
        assert!(err.to_string().contains("remove the child first"), "{err}");
        assert!(d.exists(&id(parent)));
    }
    d.remove(&id("top")).unwrap();
    d.remove(&id("mid")).unwrap();
    d.remove(&id("base")).unwrap();
}

#[test]
fn root_deep_chain_128_layers_mounts_with_long_home() {
    need_root!("root_deep_chain_128_layers_mounts_with_long_home");
    let root = tempfile::tempdir().unwrap();
    let mut f = Fixture { root, driver: None };
    let home = long_home(&f.root());
    f.driver = Some(Overlay2Driver::new(&config(&home, &[])).unwrap());
    let d = f.d();
    assert!(d.home().to_str().unwrap().len() > 300);

    d.create(&id("base"), None, &none()).unwrap();
    let base = d.get(&id("base")).unwrap();
    fs::write(base.join("testfile.txt"), "test content").unwrap();
    d.put(&id("base")).unwrap();

    let mut parent = id("base");
    for i in 1..=128 {
        let layer = id(&format!("layer-{i}"));
        d.create(&layer, Some(&parent), &none()).unwrap();
        let p = d.get(&layer).unwrap();
        fs::create_dir(p.join(format!("layer-{i}"))).unwrap();
        fs::write(p.join(format!("layer-{i}/layer-id")), layer.as_str()).unwrap();
        fs::write(p.join("top-id"), layer.as_str()).unwrap();
        d.put(&layer).unwrap();
        parent = layer;
    }
    // Absolute options would not fit in a page: the mount is relative.
    let lowers = read(&d.home().join("layer-128/lower"));
    assert_eq!(lowers.split(':').count(), 128);
    assert!(128 * (d.home().to_str().unwrap().len() + 30) > 4096);

    let top = d.get(&id("layer-128")).unwrap();
    assert_eq!(read(&top.join("testfile.txt")), "test content");
    assert_eq!(read(&top.join("top-id")), "layer-128");
    for i in 1..=128 {
        assert_eq!(
            read(&top.join(format!("layer-{i}/layer-id"))),
            format!("layer-{i}")
        );
    }
    d.put(&id("layer-128")).unwrap();

    // A committed layer in the middle mounts read-only, with its own files on top.
    let mid = d.get(&id("layer-64")).unwrap();
    assert_eq!(read(&mid.join("top-id")), "layer-64");
    assert!(!mid.join("layer-65").exists());
    let err = fs::write(mid.join("nope"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    d.put(&id("layer-64")).unwrap();

    let err = d
        .create(&id("layer-129"), Some(&id("layer-128")), &none())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "max depth exceeded");
    assert!(!d.exists(&id("layer-129")));
    assert!(mounts_under(&f.root()).is_empty());
}

/// (path, kind byte) of every entry of a tar.
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, (tar::EntryType, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let kind = e.header().entry_type();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(path.trim_end_matches('/').to_string(), (kind, data));
    }
    out
}

#[test]
fn root_native_diff_writes_whiteouts() {
    need_root!("root_native_diff_writes_whiteouts");
    let f = Fixture::new();
    let d = f.d();
    assert!(d.native_diff(), "this kernel supports native diff");
    d.create(&id("base"), None, &none()).unwrap();
    let b = d.home().join("base/diff");
    fs::write(b.join("gone"), "x").unwrap();
    fs::write(b.join("kept"), "x").unwrap();
    fs::create_dir_all(b.join("dir")).unwrap();
    fs::write(b.join("dir/old"), "x").unwrap();
    d.create_rw(&id("rw"), Some(&id("base")), &none()).unwrap();
    let m = d.get(&id("rw")).unwrap();
    fs::remove_file(m.join("gone")).unwrap();
    fs::remove_dir_all(m.join("dir")).unwrap();
    fs::create_dir(m.join("dir")).unwrap();
    fs::write(m.join("dir/new"), "new!").unwrap();
    fs::write(m.join("added"), "hello").unwrap();
    d.put(&id("rw")).unwrap();

    let mut out = Vec::new();
    d.diff(&id("rw"), Some(&id("base")), &mut out).unwrap();
    let entries = tar_entries(&out);
    let names: Vec<&String> = entries.keys().collect();
    assert!(entries.contains_key(".wh.gone"), "{names:?}");
    assert!(entries.contains_key("dir/.wh..wh..opq"), "{names:?}");
    assert_eq!(entries["added"].1, b"hello");
    assert_eq!(entries["dir/new"].1, b"new!");
    assert!(!entries.contains_key("kept"), "{names:?}");
    assert!(!entries.contains_key("gone"), "{names:?}");
    assert!(!entries.contains_key("dir/old"), "{names:?}");
    assert_eq!(d.diff_size(&id("rw"), Some(&id("base"))).unwrap(), 9);

    // Against no parent the layer is not a base layer: the diff is the whole tree (naive).
    let mut full = Vec::new();
    d.diff(&id("rw"), None, &mut full).unwrap();
    let full = tar_entries(&full);
    assert!(full.contains_key("kept"), "{:?}", full.keys());
    assert!(
        !full.keys().any(|k| k.contains(".wh.")),
        "{:?}",
        full.keys()
    );
    assert!(mounts_under(&f.root()).is_empty());
}

fn tar_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    b.append_data(&mut h, path, data).unwrap();
}

fn tar_dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(1_600_000_000);
    b.append_data(&mut h, path, &[][..]).unwrap();
}

#[test]
fn root_apply_diff_makes_overlay_whiteouts() {
    need_root!("root_apply_diff_makes_overlay_whiteouts");
    let f = Fixture::new();
    let d = f.d();
    d.create(&id("base"), None, &none()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    tar_file(&mut b, "gone", b"x");
    tar_dir(&mut b, "dir");
    tar_file(&mut b, "dir/old", b"old");
    let base_tar = b.into_inner().unwrap();
    assert_eq!(
        d.apply_diff(&id("base"), None, &mut &base_tar[..]).unwrap(),
        4
    );

    d.create(&id("child"), Some(&id("base")), &none()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    tar_file(&mut b, ".wh.gone", b"");
    tar_dir(&mut b, "dir");
    tar_file(&mut b, "dir/.wh..wh..opq", b"");
    tar_file(&mut b, "dir/fresh", b"fresh");
    tar_file(&mut b, "new", b"hello");
    let tar = b.into_inner().unwrap();
    let size = d
        .apply_diff(&id("child"), Some(&id("base")), &mut &tar[..])
        .unwrap();
    assert_eq!(size, 10);

    let diff = d.home().join("child/diff");
    let wh = fs::symlink_metadata(diff.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert_eq!(
        xattr::get(diff.join("dir"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!diff.join(".wh.gone").exists());
    assert!(!diff.join("dir/.wh..wh..opq").exists());

    let m = d.get(&id("child")).unwrap();
    assert!(!m.join("gone").exists());
    assert!(!m.join("dir/old").exists());
    assert_eq!(read(&m.join("dir/fresh")), "fresh");
    assert_eq!(read(&m.join("new")), "hello");
    d.put(&id("child")).unwrap();
}

#[test]
fn root_metadata_keys() {
    need_root!("root_metadata_keys");
    let f = Fixture::new();
    let d = f.d();
    let h = d.home().to_path_buf();
    d.create(&id("base"), None, &none()).unwrap();
    d.create(&id("child"), Some(&id("base")), &none()).unwrap();
    d.create_rw(&id("top"), Some(&id("child")), &none())
        .unwrap();
    let s = |p: PathBuf| p.to_string_lossy().into_owned();

    let m = d.metadata(&id("base")).unwrap();
    assert_eq!(m.get("UpperDir"), Some(&s(h.join("base/diff"))));
    assert_eq!(m.get("WorkDir"), Some(&s(h.join("base/work"))));
    assert_eq!(m.get("MergedDir"), Some(&s(h.join("base/merged"))));
    assert!(!m.contains_key("LowerDir"));

    let m = d.metadata(&id("top")).unwrap();
    assert_eq!(
        m.get("LowerDir"),
        Some(&format!(
            "{}:{}",
            s(h.join("child/diff")),
            s(h.join("base/diff"))
        ))
    );
    assert_eq!(m.get("UpperDir"), Some(&s(h.join("top/diff"))));
    assert_eq!(m.len(), 4);
}

#[test]
fn root_status_keys() {
    need_root!("root_status_keys");
    let f = Fixture::new();
    let status: BTreeMap<String, String> = f.d().status().into_iter().collect();
    assert_eq!(status["Backing Filesystem"], "extfs");
    assert_eq!(status["Supports d_type"], "true");
    assert_eq!(status["Native Overlay Diff"], "true");
    assert_eq!(status["userxattr"], "false");
    // ext4 shares no extents: overlayfs copies whole files up, and info says where clones are.
    assert!(
        status["Copy-up"].starts_with("full copy") && status["Copy-up"].contains("reflink=1"),
        "{}",
        status["Copy-up"]
    );
    assert!(["true", "false"].contains(&status["Using metacopy"].as_str()));
    assert_eq!(status.len(), 6);
}

#[test]
fn root_size_option_not_supported_on_ext4() {
    need_root!("root_size_option_not_supported_on_ext4");
    let err = Fixture::with_options(&[("size", "10G")]).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    assert!(err.to_string().contains("xfs"), "{err}");
    assert!(err.to_string().contains("pquota"), "{err}");

    let f = Fixture::new();
    let d = f.d();
    let sized = CreateOpts {
        size: Some(1 << 30),
    };
    let err = d.create(&id("a"), None, &sized).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("read-write"), "{err}");
    let err = d.create_rw(&id("b"), None, &sized).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    assert!(!d.exists(&id("a")) && !d.exists(&id("b")));
}

#[test]
fn unknown_option_is_refused() {
    let err = Fixture::with_options(&[("override_kernel_check", "1")])
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("unknown option"), "{err}");
    assert!(err.to_string().contains("overlay2.size"), "{err}");
}

#[test]
fn root_cleanup_unmounts_everything() {
    need_root!("root_cleanup_unmounts_everything");
    let f = Fixture::new();
    let d = f.d();
    d.create(&id("base"), None, &none()).unwrap();
    for name in ["a", "b", "c"] {
        d.create_rw(&id(name), Some(&id("base")), &none()).unwrap();
        d.get(&id(name)).unwrap();
    }
    d.get(&id("a")).unwrap();
    assert_eq!(mounts_under(d.home()).len(), 3);
    d.cleanup().unwrap();
    assert!(mounts_under(&f.root()).is_empty());
    for name in ["a", "b", "c"] {
        assert!(!d.home().join(name).join("merged").exists());
        // References are forgotten: the layer can go.
        d.remove(&id(name)).unwrap();
    }
}

#[test]
fn root_existing_mount_is_reused() {
    need_root!("root_existing_mount_is_reused");
    let f = Fixture::new();
    let d = f.d();
    d.create(&id("base"), None, &none()).unwrap();
    d.create_rw(&id("rw"), Some(&id("base")), &none()).unwrap();
    let merged = d.get(&id("rw")).unwrap();

    // A second driver (another engine process) on the same home mounts nothing more, and
    // its put leaves the mount to the first one, which still uses it (counts are shared).
    let other = Overlay2Driver::new(&config(&f.home(), &[])).unwrap();
    assert_eq!(other.get(&id("rw")).unwrap(), merged);
    let count = || {
        mounts_under(&merged)
            .iter()
            .filter(|m| *m == &merged)
            .count()
    };
    assert_eq!(count(), 1);
    other.put(&id("rw")).unwrap();
    assert_eq!(count(), 1);
    assert!(merged.join("etc").exists() || fs::read_dir(&merged).is_ok());
    d.put(&id("rw")).unwrap();
    assert_eq!(count(), 0);
    assert!(mounts_under(&f.root()).is_empty());
}

#[test]
fn root_interrupted_create_is_swept() {
    need_root!("root_interrupted_create_is_swept");
    let f = Fixture::new();
    let home = f.d().home().to_path_buf();
    fs::create_dir_all(home.join(".tmp-half/diff")).unwrap();
    fs::create_dir_all(home.join(".del-gone/diff")).unwrap();
    std::os::unix::fs::symlink("../half/diff", home.join("l/AAAAAAAAAAAAAAAAAAAAAAAAAA")).unwrap();
    let d = Overlay2Driver::new(&config(&f.home(), &[])).unwrap();
    assert!(!d.exists(&id("half")));
    assert!(!home.join(".tmp-half").exists());
    assert!(!home.join(".del-gone").exists());
    assert!(fs::symlink_metadata(home.join("l/AAAAAAAAAAAAAAAAAAAAAAAAAA")).is_err());
    // And the id can be created for real now.
    d.create(&id("half"), None, &none()).unwrap();
    assert!(d.exists(&id("half")));
}

#[test]
fn root_overlay_backing_filesystem_is_refused() {
    need_root!("root_overlay_backing_filesystem_is_refused");
    let f = Fixture::new();
    let root = f.root();
    for dir in ["lo", "up", "wk", "mnt"] {
        fs::create_dir(root.join(dir)).unwrap();
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        root.join("lo").display(),
        root.join("up").display(),
        root.join("wk").display()
    );
    nix::mount::mount(
        Some("overlay"),
        &root.join("mnt"),
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .unwrap();
    let err = Overlay2Driver::new(&config(&root.join("mnt/data/overlay2"), &[])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    assert!(err.to_string().contains("overlayfs"), "{err}");
    // Fixture's Drop unmounts mnt.
}

/// An xfs filesystem in a sparse file, loop-mounted with the given options; unmounted on drop.
struct XfsMount {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl XfsMount {
    fn new(test: &str, mount_opts: &str) -> Option<Self> {
        let mkfs = ["/usr/sbin/mkfs.xfs", "/sbin/mkfs.xfs"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(mkfs) = mkfs else {
            graph::testsuite::skip(test, "mkfs.xfs is not installed (apt-get install xfsprogs)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("xfs.img");
        fs::File::create(&img).unwrap().set_len(320 << 20).unwrap();
        let ok = std::process::Command::new(mkfs)
            .arg("-q")
            .arg(&img)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfs.xfs failed");
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "xfs", "-o", mount_opts])
            .arg(&img)
            .arg(&mnt)
            .status()
            .unwrap()
            .success();
        if !ok {
            // e.g. "XFS: quota support not available in this kernel" (CONFIG_XFS_QUOTA unset).
            graph::testsuite::skip_unless_kernel_lacks(
                test,
                "CONFIG_XFS_QUOTA",
                &format!("mounting xfs with -o {mount_opts} failed; see dmesg"),
            );
            return None;
        }
        Some(XfsMount {
            mnt: fs::canonicalize(&mnt).unwrap(),
            _dir: dir,
        })
    }
}

impl Drop for XfsMount {
    fn drop(&mut self) {
        let mut left = mounts_under(&self.mnt);
        left.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in left {
            let _ = mount::unmount(&m);
        }
    }
}

#[test]
fn root_xfs_project_quota_limits_rw_layers() {
    need_root!("root_xfs_project_quota_limits_rw_layers");
    let Some(xfs) = XfsMount::new("root_xfs_project_quota_limits_rw_layers", "loop,pquota") else {
        return;
    };
    let home = xfs.mnt.join("data/overlay2");
    let d = Overlay2Driver::new(&config(&home, &[])).unwrap();
    struct Cleanup<'a>(&'a Overlay2Driver);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.cleanup();
        }
    }
    let _cleanup = Cleanup(&d);
    assert_eq!(
        d.status()
            .into_iter()
            .find(|(k, _)| k == "Backing Filesystem")
            .unwrap()
            .1,
        "xfs"
    );
    d.create(&id("base"), None, &none()).unwrap();
    let sized = CreateOpts {
        size: Some(20 << 20),
    };
    d.create_rw(&id("rw"), Some(&id("base")), &sized).unwrap();
    assert!(d.home().join("backingFsBlockDev").exists());
    let m = d.get(&id("rw")).unwrap();
    fs::write(m.join("small"), vec![7u8; 10 << 20]).unwrap();
    let err = fs::write(m.join("big"), vec![7u8; 30 << 20]).unwrap_err();
    assert!(
        matches!(err.raw_os_error(), Some(libc::EDQUOT) | Some(libc::ENOSPC)),
        "{err}"
    );
    // An unsized layer is not limited.
    d.create_rw(&id("free"), Some(&id("base")), &none())
        .unwrap();
    let f = d.get(&id("free")).unwrap();
    fs::write(f.join("big"), vec![7u8; 30 << 20]).unwrap();
    d.put(&id("free")).unwrap();
    d.put(&id("rw")).unwrap();

    // The daemon-wide default applies to every rw layer.
    drop(_cleanup);
    let d2 = Overlay2Driver::new(&config(&home, &[("size", "8M")])).unwrap();
    let _cleanup2 = Cleanup(&d2);
    d2.create_rw(&id("rw2"), Some(&id("base")), &none())
        .unwrap();
    let m2 = d2.get(&id("rw2")).unwrap();
    assert!(fs::write(m2.join("big"), vec![7u8; 16 << 20]).is_err());
    d2.put(&id("rw2")).unwrap();
}

#[test]
fn root_xfs_without_pquota_refuses_size() {
    need_root!("root_xfs_without_pquota_refuses_size");
    let Some(xfs) = XfsMount::new("root_xfs_without_pquota_refuses_size", "loop") else {
        return;
    };
    let home = xfs.mnt.join("data/overlay2");
    let err = Overlay2Driver::new(&config(&home, &[("size", "10G")])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    assert!(err.to_string().contains("pquota"), "{err}");
    let d = Overlay2Driver::new(&config(&home, &[])).unwrap();
    d.create(&id("base"), None, &none()).unwrap();
    let sized = CreateOpts {
        size: Some(1 << 20),
    };
    let err = d
        .create_rw(&id("rw"), Some(&id("base")), &sized)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    // mkfs.xfs makes reflink=1 filesystems by default (xfsprogs 5.1 and later): overlayfs
    // copies up by cloning there, and info says so.
    let status: BTreeMap<String, String> = d.status().into_iter().collect();
    assert!(
        status["Copy-up"].starts_with("clone"),
        "{}",
        status["Copy-up"]
    );
    d.cleanup().unwrap();
}
