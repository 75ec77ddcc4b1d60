//! The vfs driver on its own: layer lifecycle, errors, and the fidelity of the parent copy.

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
    assert_eq!(d.status()[0].0, "Backing Filesystem");
    assert_eq!(d.status()[0].1, "extfs");
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
    let d = driver(&home);
    assert!(!home.join("dir/.tmp-half").exists());
    assert!(!d.exists(&id("half")));
}
