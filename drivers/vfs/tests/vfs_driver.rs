//! The vfs driver on its own: layer lifecycle, errors, and the fidelity of the parent copy.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use graph::{CreateOpts, Driver, DriverConfig, ErrorKind, LayerId};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use vfs::VfsDriver;

fn driver(home: &Path) -> VfsDriver {
    VfsDriver::new(&DriverConfig {
        home: home.to_path_buf(),
        options: vec![],
    })
    .unwrap()
}

fn id(s: &str) -> LayerId {
    LayerId::new(s).unwrap()
}

#[test]
fn root_lifecycle_and_error_kinds() {
    if !graph::testsuite::root_available("root_lifecycle_and_error_kinds") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = driver(&t.path().join("vfs"));
    let none = CreateOpts::default();
    d.create(&id("base"), None, &none).unwrap();
    assert!(d.exists(&id("base")));
    assert_eq!(
        d.create(&id("base"), None, &none).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        d.create(&id("x"), Some(&id("nope")), &none)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(!d.exists(&id("x")));
    let sized = CreateOpts {
        size: Some(1 << 20),
    };
    assert_eq!(
        d.create(&id("s"), None, &sized).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        d.create_rw(&id("s"), None, &sized).unwrap_err().kind(),
        ErrorKind::NotSupported
    );

    let p = d.get(&id("base")).unwrap();
    assert_eq!(p, t.path().join("vfs/dir/base"));
    let md = fs::metadata(&p).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o755, 0, 0));
    assert_eq!(d.remove(&id("base")).unwrap_err().kind(), ErrorKind::Busy);
    d.put(&id("base")).unwrap();
    d.remove(&id("base")).unwrap();
    assert!(!d.exists(&id("base")));
    d.remove(&id("base")).unwrap(); // removing a missing layer is not an error
    assert_eq!(d.get(&id("base")).unwrap_err().kind(), ErrorKind::NotFound);
    let status = d.status();
    assert_eq!(status[0].0, "Backing Filesystem");
    assert_eq!(status[0].1, vfs::filesystem_name(t.path()));
    assert!(!status[0].1.starts_with("unknown"), "{status:?}");
    assert!(d.metadata(&id("gone")).is_err());
}

#[test]
fn options_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let opts = graph::options::parse_storage_opts("vfs", &["vfs.size=1G".into()]).unwrap();
    let err = VfsDriver::new(&DriverConfig {
        home: t.path().join("vfs"),
        options: opts,
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("vfs.size"), "{err}");
}

#[test]
fn root_child_is_a_faithful_copy() {
    if !graph::testsuite::root_available("root_child_is_a_faithful_copy") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = driver(&t.path().join("vfs"));
    d.create(&id("p"), None, &CreateOpts::default()).unwrap();
    let p = d.get(&id("p")).unwrap();
    fs::create_dir(p.join("sticky")).unwrap();
    fs::set_permissions(p.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(p.join("suid"), "s").unwrap();
    std::os::unix::fs::lchown(p.join("suid"), Some(1), Some(2)).unwrap();
    fs::set_permissions(p.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(p.join("cap"), "c").unwrap();
    let cap = [
        1u8, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    xattr::set(p.join("cap"), "security.capability", &cap).unwrap();
    xattr::set(p.join("cap"), "user.note", b"hello").unwrap();
    fs::hard_link(p.join("cap"), p.join("cap-link")).unwrap();
    std::os::unix::fs::symlink("/nowhere/abs", p.join("link")).unwrap();
    mknod(
        &p.join("fifo"),
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o640),
        0,
    )
    .unwrap();
    mknod(
        &p.join("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .unwrap();
    let sparse = fs::File::create(p.join("sparse")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"end", (64 << 20) - 3).unwrap();
    drop(sparse);
    d.put(&id("p")).unwrap();

    d.create(&id("c"), Some(&id("p")), &CreateOpts::default())
        .unwrap();
    let c = d.get(&id("c")).unwrap();
    let pm = |name: &str| fs::symlink_metadata(p.join(name)).unwrap();
    let cm = |name: &str| fs::symlink_metadata(c.join(name)).unwrap();
    for name in ["sticky", "suid", "cap", "link", "fifo", "null", "sparse"] {
        let (a, b) = (pm(name), cm(name));
        assert_eq!(
            (a.mode(), a.uid(), a.gid(), a.rdev()),
            (b.mode(), b.uid(), b.gid(), b.rdev()),
            "{name}"
        );
        if !a.is_dir() {
            assert_eq!(
                (a.mtime(), a.mtime_nsec(), a.size()),
                (b.mtime(), b.mtime_nsec(), b.size()),
                "{name}"
            );
        }
    }
    assert_eq!(cm("suid").mode() & 0o7777, 0o4755);
    assert_eq!(cm("sticky").mode() & 0o7777, 0o1777);
    assert_eq!(
        xattr::get(c.join("cap"), "security.capability")
            .unwrap()
            .unwrap(),
        cap
    );
    assert_eq!(
        xattr::get(c.join("cap"), "user.note").unwrap().unwrap(),
        b"hello"
    );
    assert_eq!(
        cm("cap").ino(),
        cm("cap-link").ino(),
        "hard link became two files"
    );
    assert_ne!(cm("cap").ino(), pm("cap").ino());
    assert_eq!(
        fs::read_link(c.join("link")).unwrap(),
        Path::new("/nowhere/abs")
    );
    assert!(
        cm("sparse").blocks() * 512 < 1 << 20,
        "the hole was filled: {} blocks",
        cm("sparse").blocks()
    );
    assert_eq!(
        &fs::read(c.join("sparse")).unwrap()[(64 << 20) - 3..],
        b"end"
    );
    // Writing in the child leaves the parent alone.
    fs::write(c.join("suid"), "changed").unwrap();
    assert_eq!(fs::read_to_string(p.join("suid")).unwrap(), "s");
    d.put(&id("c")).unwrap();
}

#[test]
fn root_interrupted_create_is_swept() {
    if !graph::testsuite::root_available("root_interrupted_create_is_swept") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("vfs");
    drop(driver(&home));
    fs::create_dir_all(home.join("dir/.tmp-half/etc")).unwrap();
    fs::write(home.join("dir/.tmp-file"), "x").unwrap();
    {
        // Another process in the middle of a create: its copy must survive our start.
        let _busy = graph::store_lock::StoreLock::shared(&home.join(".work.lock")).unwrap();
        drop(driver(&home));
        assert!(home.join("dir/.tmp-half/etc").exists());
    }
    let d = driver(&home);
    assert!(!home.join("dir/.tmp-half").exists());
    assert!(!home.join("dir/.tmp-file").exists());
    assert!(!d.exists(&id("half")));
}

/// The names in `<home>/dir`.
fn layer_names(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(home.join("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn root_concurrent_creates_of_one_id() {
    if !graph::testsuite::root_available("root_concurrent_creates_of_one_id") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("vfs");
    let d = driver(&home);
    d.create(&id("parent"), None, &CreateOpts::default())
        .unwrap();
    let p = d.get(&id("parent")).unwrap();
    for i in 0..50 {
        fs::write(p.join(format!("f{i}")), vec![i as u8; 4096]).unwrap();
    }
    d.put(&id("parent")).unwrap();
    for parent in [None, Some(id("parent"))] {
        let name = if parent.is_some() { "child" } else { "empty" };
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| s.spawn(|| d.create(&id(name), parent.as_ref(), &CreateOpts::default())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "{name}: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(r.kind(), ErrorKind::AlreadyExists, "{r}");
        }
    }
    assert_eq!(layer_names(&home), ["child", "empty", "parent"]);
    assert_eq!(fs::read_dir(home.join("dir/child")).unwrap().count(), 50);
}

#[test]
fn root_remove_leaves_nothing_behind() {
    if !graph::testsuite::root_available("root_remove_leaves_nothing_behind") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("vfs");
    let d = driver(&home);
    d.create(&id("a"), None, &CreateOpts::default()).unwrap();
    let p = d.get(&id("a")).unwrap();
    fs::create_dir_all(p.join("x/y")).unwrap();
    fs::set_permissions(p.join("x"), fs::Permissions::from_mode(0o000)).unwrap();
    d.put(&id("a")).unwrap();
    d.create(&id("b"), Some(&id("a")), &CreateOpts::default())
        .unwrap();
    d.remove(&id("a")).unwrap();
    assert_eq!(layer_names(&home), ["b"]);
    assert!(home.join("dir/b/x/y").is_dir());
    d.remove(&id("b")).unwrap();
    assert!(layer_names(&home).is_empty());
}

#[test]
fn root_empty_layer_is_root_owned_0755_and_empty() {
    if !graph::testsuite::root_available("root_empty_layer_is_root_owned_0755_and_empty") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = driver(&t.path().join("vfs"));
    d.create_rw(&id("rw"), None, &CreateOpts::default())
        .unwrap();
    let p = d.get(&id("rw")).unwrap();
    let md = fs::symlink_metadata(&p).unwrap();
    assert!(md.is_dir());
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o755, 0, 0));
    assert_eq!(fs::read_dir(&p).unwrap().count(), 0);
    assert!(d.metadata(&id("rw")).unwrap().is_empty());
    d.put(&id("rw")).unwrap();
}

mod property {
    use super::*;
    use graph::testsuite::fs_ops::{base_op, child_op};
    use graph::testsuite::{assert_trees_eq, snapshot_tree};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any tree the random operations build copies to one that compares equal, both by
        /// the naive diff (no changes) and by the conformance suite's snapshot.
        #[test]
        fn root_copy_of_random_tree_is_identical(
            base in proptest::collection::vec(base_op(), 0..25),
            more in proptest::collection::vec(child_op(), 0..25),
        ) {
            if !graph::testsuite::root_available("root_copy_of_random_tree_is_identical") {
                return Ok(());
            }
            let t = tempfile::tempdir().unwrap();
            let src = t.path().join("src");
            fs::create_dir(&src).unwrap();
            for op in base.iter().chain(&more) {
                op.apply(&src);
            }
            let dst = t.path().join("dst");
            fs::create_dir(&dst).unwrap();
            vfs::copy_tree(&src, &dst).unwrap();
            prop_assert_eq!(graph::naive::changes_dirs(&dst, Some(&src)).unwrap(), vec![]);
            assert_trees_eq(&snapshot_tree(&src), &snapshot_tree(&dst), "copy");
        }
    }
}
