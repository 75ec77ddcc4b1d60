//! Device-mapper tier: needs root and /dev/mapper/control (run inside tests/vm/run.sh).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::Write;

use common::{Fixture, SMALL, dm_available, id, write};
use devmapper::CrashPoint;
use graph::{CreateOpts, Driver, ErrorKind};

const NONE: &CreateOpts = &CreateOpts { size: None };

#[test]
fn dm_pool_created_from_scratch() {
    if !dm_available("dm_pool_created_from_scratch") {
        return;
    }
    let f = Fixture::new(SMALL);
    let d = f.d();
    let status: std::collections::BTreeMap<_, _> = d.status().into_iter().collect();
    for key in [
        "Pool Name",
        "Pool Blocksize",
        "Base Device Size",
        "Backing Filesystem",
        "Data file",
        "Metadata file",
        "Data Space Used",
        "Data Space Total",
        "Data Space Available",
        "Metadata Space Used",
        "Metadata Space Total",
        "Metadata Space Available",
        "Thin Pool Minimum Free Space",
        "Deferred Removal Enabled",
        "Deferred Deletion Enabled",
    ] {
        assert!(status.contains_key(key), "missing {key}: {status:?}");
    }
    assert_eq!(status["Pool Blocksize"], "65.54 kB");
    assert_eq!(status["Backing Filesystem"], "ext4");
    assert!(status["Pool Name"].ends_with("-pool"));
    assert!(status["Data file"].starts_with("/dev/loop"), "{status:?}");
    assert_eq!(
        status["Data loop file"],
        f.config()
            .home
            .join("devicemapper/data")
            .display()
            .to_string()
    );
    // Sparse: 512M file, almost nothing allocated.
    let data = f.config().home.join("devicemapper/data");
    let md = std::fs::metadata(&data).unwrap();
    assert_eq!(md.len(), 512 << 20);
    assert!(std::os::unix::fs::MetadataExt::blocks(&md) * 512 < 64 << 20);

    d.create(&id("a"), None, NONE).unwrap();
    let root = d.get(&id("a")).unwrap();
    assert!(root.ends_with("rootfs"));
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "a root layer starts empty"
    );
    write(&root, "hello", b"world");
    d.put(&id("a")).unwrap();
    d.create(&id("b"), Some(&id("a")), NONE).unwrap();
    let rb = d.get(&id("b")).unwrap();
    assert_eq!(std::fs::read(rb.join("hello")).unwrap(), b"world");
    std::fs::remove_file(rb.join("hello")).unwrap();
    d.put(&id("b")).unwrap();
    let ra = d.get(&id("a")).unwrap();
    assert!(
        ra.join("hello").exists(),
        "the parent is untouched by its snapshot"
    );
    d.put(&id("a")).unwrap();

    let md = d.metadata(&id("b")).unwrap();
    assert_eq!(md["DeviceSize"], (64u64 << 20).to_string());
    assert!(md["DeviceName"].starts_with(&f.prefix()));
    assert_ne!(md["DeviceId"], d.metadata(&id("a")).unwrap()["DeviceId"]);
    assert_eq!(
        d.create(&id("a"), None, NONE).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        d.create(&id("c"), Some(&id("zz")), NONE)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(d.get(&id("zz")).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn dm_size_option_grows_the_layer() {
    if !dm_available("dm_size_option_grows_the_layer") {
        return;
    }
    let f = Fixture::new(SMALL);
    let d = f.d();
    let small = CreateOpts {
        size: Some(32 << 20),
    };
    assert_eq!(
        d.create_rw(&id("s"), None, &small).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    d.create_rw(
        &id("big"),
        None,
        &CreateOpts {
            size: Some(128 << 20),
        },
    )
    .unwrap();
    let root = d.get(&id("big")).unwrap();
    let st = nix::sys::statvfs::statvfs(&root).unwrap();
    let total = st.blocks() * st.fragment_size();
    assert!(total > 100 << 20, "filesystem grew to {total}");
    d.put(&id("big")).unwrap();
}

#[test]
fn dm_reopen_after_restart() {
    if !dm_available("dm_reopen_after_restart") {
        return;
    }
    let mut f = Fixture::new(SMALL);
    {
        let d = f.d();
        d.create(&id("base1"), None, NONE).unwrap();
        write(&d.get(&id("base1")).unwrap(), "f", b"1");
        d.put(&id("base1")).unwrap();
        d.create(&id("child"), Some(&id("base1")), NONE).unwrap();
    }
    let ids_before = f.d().device_ids();
    // A clean restart: cleanup tears the pool down, the new instance sets it up again.
    f.d().cleanup().unwrap();
    assert!(
        f.leftover_devices().is_empty(),
        "{:?}",
        f.leftover_devices()
    );
    f.reopen();
    assert_eq!(f.d().device_ids(), ids_before);
    assert!(f.d().exists(&id("child")));
    assert_eq!(
        std::fs::read(f.d().get(&id("child")).unwrap().join("f")).unwrap(),
        b"1"
    );
    f.d().put(&id("child")).unwrap();
    // A dirty restart: the process dies with the pool active; the new one reuses it.
    f.reopen();
    assert_eq!(f.d().device_ids(), ids_before);
    f.d()
        .create(&id("after"), Some(&id("child")), NONE)
        .unwrap();
    let ids: Vec<u32> = f.d().device_ids().values().copied().collect();
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "thin ids are unique: {ids:?}");
}

fn check_consistent(f: &Fixture, tx_id: u32) {
    let d = f.d();
    let recorded = d.device_ids().values().any(|&v| v == tx_id);
    assert_eq!(
        d.pool_has_id(tx_id).unwrap(),
        recorded,
        "thin id {tx_id}: pool and metadata disagree"
    );
    let (open, _, _) = d.open_transaction().unwrap().unwrap();
    assert!(
        open <= d.pool_transaction_id().unwrap(),
        "a transaction is still open"
    );
}

#[test]
fn dm_crash_between_transaction_steps_recovers() {
    if !dm_available("dm_crash_between_transaction_steps_recovers") {
        return;
    }
    let mut f = Fixture::new(SMALL);
    f.d().create(&id("parent"), None, NONE).unwrap();
    write(&f.d().get(&id("parent")).unwrap(), "p", b"p");
    f.d().put(&id("parent")).unwrap();
    for point in CrashPoint::ALL {
        // A create that dies at `point`.
        let name = format!("new-{point:?}");
        f.d().set_crash_point(Some(point));
        let err = f
            .d()
            .create(&id(&name), Some(&id("parent")), NONE)
            .unwrap_err();
        assert!(err.to_string().contains("fault injection"), "{err}");
        let (_, hash, tx_id) = f.d().open_transaction().unwrap().unwrap();
        assert_eq!(hash, name);
        f.reopen();
        check_consistent(&f, tx_id);
        assert_eq!(
            f.d().exists(&id(&name)),
            point == CrashPoint::Committed,
            "after a crash at {point:?}"
        );
        if !f.d().exists(&id(&name)) {
            f.d().create(&id(&name), Some(&id("parent")), NONE).unwrap();
        }
        assert_eq!(
            std::fs::read(f.d().get(&id(&name)).unwrap().join("p")).unwrap(),
            b"p"
        );
        f.d().put(&id(&name)).unwrap();

        // A remove that dies at `point`: the layer is gone after recovery either way.
        let tx_id = f.d().device_ids()[&name];
        f.d().set_crash_point(Some(point));
        f.d().remove(&id(&name)).unwrap_err();
        f.reopen();
        check_consistent(&f, tx_id);
        assert!(
            !f.d().exists(&id(&name)),
            "removal at {point:?} was rolled forward"
        );
        assert!(!f.d().pool_has_id(tx_id).unwrap());
    }
    assert!(f.d().exists(&id("parent")));
}

#[test]
fn dm_pool_full_is_no_space() {
    if !dm_available("dm_pool_full_is_no_space") {
        return;
    }
    let f = Fixture::new(&[
        ("loopdatasize", "128M"),
        ("loopmetadatasize", "16M"),
        ("basesize", "256M"),
        ("min_free_space", "40%"),
    ]);
    let d = f.d();
    d.create(&id("other"), None, NONE).unwrap();
    write(&d.get(&id("other")).unwrap(), "keep", b"keep");
    d.put(&id("other")).unwrap();
    d.create_rw(&id("filler"), None, NONE).unwrap();
    let root = d.get(&id("filler")).unwrap();
    // Use 90 MiB of the 128 MiB pool: free space drops below 40%.
    let mut file = std::fs::File::create(root.join("big")).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..90 {
        file.write_all(&chunk).unwrap();
    }
    file.sync_all().unwrap();
    drop(file);
    let err = d.create(&id("more"), Some(&id("other")), NONE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&f.prefix()) && msg.contains("free data space"),
        "{msg}"
    );

    // Writing past the pool's end fails inside the layer, not by hanging.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join("big"))
        .unwrap();
    let mut failed = false;
    for _ in 0..64 {
        if file.write_all(&chunk).is_err() {
            failed = true;
            break;
        }
    }
    failed |= file.sync_all().is_err();
    assert!(failed, "writing 154 MiB into a 128 MiB pool must fail");
    drop(file);
    d.put(&id("filler")).unwrap();
    // The other layers still read, and removing the filler frees the pool.
    assert_eq!(
        std::fs::read(d.get(&id("other")).unwrap().join("keep")).unwrap(),
        b"keep"
    );
    d.put(&id("other")).unwrap();
    d.remove(&id("filler")).unwrap();
    d.create(&id("more"), Some(&id("other")), NONE).unwrap();
    eprintln!("status after the pool filled: {:?}", d.status());
}

#[test]
fn dm_chain_of_128_layers() {
    if !dm_available("dm_chain_of_128_layers") {
        return;
    }
    let f = Fixture::new(SMALL);
    let d = f.d();
    let mut parent = None;
    for i in 0..128 {
        let layer = id(&format!("l{i}"));
        d.create(&layer, parent.as_ref(), NONE).unwrap();
        if i % 16 == 0 || i == 127 {
            let root = d.get(&layer).unwrap();
            write(&root, &format!("f{i}"), i.to_string().as_bytes());
            d.put(&layer).unwrap();
        }
        parent = Some(layer);
    }
    let top = d.get(&id("l127")).unwrap();
    for i in (0..128).filter(|i| i % 16 == 0 || *i == 127) {
        assert_eq!(
            std::fs::read(top.join(format!("f{i}"))).unwrap(),
            i.to_string().as_bytes()
        );
    }
    d.put(&id("l127")).unwrap();
    for i in (0..128).rev() {
        d.remove(&id(&format!("l{i}"))).unwrap();
    }
    assert_eq!(
        d.device_ids().len(),
        1,
        "only the base is left: {:?}",
        d.device_ids()
    );
}

#[test]
fn dm_remove_while_mounted_is_busy() {
    if !dm_available("dm_remove_while_mounted_is_busy") {
        return;
    }
    let f = Fixture::new(SMALL);
    let d = f.d();
    d.create(&id("m"), None, NONE).unwrap();
    let a = d.get(&id("m")).unwrap();
    let b = d.get(&id("m")).unwrap();
    assert_eq!(a, b);
    assert_eq!(d.remove(&id("m")).unwrap_err().kind(), ErrorKind::Busy);
    d.put(&id("m")).unwrap();
    assert_eq!(
        d.remove(&id("m")).unwrap_err().kind(),
        ErrorKind::Busy,
        "one reference left"
    );
    d.put(&id("m")).unwrap();
    d.remove(&id("m")).unwrap();
    assert!(!d.exists(&id("m")));
    d.remove(&id("m")).unwrap(); // removing what is gone is not an error, as in Docker
}

#[test]
fn dm_cleanup_leaves_no_devices_or_loops() {
    if !dm_available("dm_cleanup_leaves_no_devices_or_loops") {
        return;
    }
    let mut f = Fixture::new(SMALL);
    let d = f.d();
    d.create(&id("x"), None, NONE).unwrap();
    d.create(&id("y"), Some(&id("x")), NONE).unwrap();
    d.get(&id("x")).unwrap();
    d.get(&id("y")).unwrap();
    assert!(
        f.leftover_devices().len() >= 3,
        "pool and two layers are active: {:?}",
        f.leftover_devices()
    );
    assert_eq!(f.leftover_loops().len(), 2);
    d.cleanup().unwrap();
    assert!(
        f.leftover_devices().is_empty(),
        "{:?}",
        f.leftover_devices()
    );
    // Loops detach themselves when the pool goes (autoclear), maybe a moment later.
    for _ in 0..50 {
        if f.leftover_loops().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(f.leftover_loops().is_empty(), "{:?}", f.leftover_loops());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(f.home.path().to_str().unwrap()),
        "a mount is left"
    );
    f.driver = None;
}
