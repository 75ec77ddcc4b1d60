//! The layer store over real drivers (root tier: layers are applied with ownership, overlay2
//! mounts). Each test gets its own data root.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use graph::{
    ChainId, CreateOpts, Digest, Driver, DriverConfig, ErrorKind, LayerId, LayerStore, chain_id,
};
use sha2::{Digest as _, Sha256};

fn open(root: &Path, driver: &str) -> LayerStore {
    let config = DriverConfig {
        home: root.join(driver),
        options: vec![],
    };
    let d: Box<dyn Driver> = match driver {
        "vfs" => vfs::init(&config).unwrap(),
        "overlay2" => overlay2::init(&config).unwrap(),
        other => panic!("no driver {other}"),
    };
    LayerStore::open(&root.join("image").join(driver), Arc::from(d)).unwrap()
}

/// A layer tar with the given (path, content) files.
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha(bytes: &[u8]) -> Digest {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
        .parse()
        .unwrap()
}

fn driver_layer_count(root: &Path, driver: &str) -> usize {
    let dir = match driver {
        "vfs" => root.join("vfs/dir"),
        _ => root.join(driver),
    };
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                // Layers only: not l/ nor dot entries (.refs: mount counts).
                .filter(|e| {
                    e.file_name() != "l" && !e.file_name().to_string_lossy().starts_with('.')
                })
                .count()
        })
        .unwrap_or(0)
}

fn tmp_is_empty(root: &Path, driver: &str) -> bool {
    std::fs::read_dir(root.join("image").join(driver).join("layerdb/tmp"))
        .unwrap()
        .next()
        .is_none()
}

macro_rules! for_each_driver {
    ($($name:ident => $body:ident),* $(,)?) => {
        mod vfs_driver {
            $(#[test] fn $name() {
                if !graph::testsuite::root_available(concat!("vfs::", stringify!($name))) { return; }
                super::$body("vfs");
            })*
        }
        mod overlay2_driver {
            $(#[test] fn $name() {
                if !graph::testsuite::root_available(concat!("overlay2::", stringify!($name))) { return; }
                super::$body("overlay2");
            })*
        }
    };
}

for_each_driver! {
    root_register_computes_docker_digests => register_computes_docker_digests,
    root_compressed_input_hashes_the_uncompressed_tar => compressed_input_hashes_the_uncompressed_tar,
    root_duplicate_register_keeps_one_layer => duplicate_register_keeps_one_layer,
    root_bad_archive_leaves_nothing_behind => bad_archive_leaves_nothing_behind,
    root_layers_in_use_cannot_be_removed => layers_in_use_cannot_be_removed,
    root_interrupted_operations_are_swept_at_open => interrupted_operations_are_swept_at_open,
    root_commit_of_a_writable_layer_makes_a_new_layer => commit_of_a_writable_layer_makes_a_new_layer,
    root_concurrent_stores_do_not_corrupt_each_other => concurrent_stores_do_not_corrupt_each_other,
    root_export_reproduces_the_layer => export_reproduces_the_layer,
    root_export_is_byte_exact => export_is_byte_exact,
}

fn register_computes_docker_digests(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let base_tar = tar_of(&[("etc/os", "base\n"), ("bin/sh", "#!\n")]);
    let base = store.register(&base_tar[..], None).unwrap();
    assert_eq!(base.diff_id, sha(&base_tar));
    assert_eq!(
        base.chain_id, base.diff_id,
        "the bottom layer's chain id is its diff id"
    );
    assert_eq!(base.size, 8);
    let top_tar = tar_of(&[("etc/os", "top\n")]);
    let top = store.register(&top_tar[..], Some(&base.chain_id)).unwrap();
    assert_eq!(top.diff_id, sha(&top_tar));
    let expected = sha(format!("{} {}", base.chain_id, top.diff_id).as_bytes());
    assert_eq!(top.chain_id, expected);
    assert_eq!(chain_id(Some(&base.chain_id), &top.diff_id), expected);
    assert_eq!(top.parent.as_ref(), Some(&base.chain_id));

    // The metadata is Docker's layerdb layout.
    let dir = root.path().join(format!(
        "image/{driver}/layerdb/sha256/{}",
        top.chain_id.hex()
    ));
    assert_eq!(
        std::fs::read_to_string(dir.join("diff")).unwrap(),
        top.diff_id.to_string()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("parent")).unwrap(),
        base.chain_id.to_string()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("cache-id")).unwrap(),
        top.cache_id.as_str()
    );
    assert_eq!(std::fs::read_to_string(dir.join("size")).unwrap(), "4");

    // The mounted top layer shows both layers, the upper file winning.
    let d = store.driver();
    let path = d.get(&top.cache_id).unwrap();
    assert_eq!(
        std::fs::read_to_string(path.join("etc/os")).unwrap(),
        "top\n"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("bin/sh")).unwrap(),
        "#!\n"
    );
    d.put(&top.cache_id).unwrap();

    // A reopened store sees the same layers.
    let again = open(root.path(), driver);
    assert_eq!(again.get(&top.chain_id).unwrap(), top);
    assert_eq!(again.list().unwrap().len(), 2);
    again.driver().cleanup().unwrap();
    store.driver().cleanup().unwrap();
}

fn compressed_input_hashes_the_uncompressed_tar(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let plain = tar_of(&[("a", "gzip me")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let layer = store.register(&gz[..], None).unwrap();
    assert_eq!(layer.diff_id, sha(&plain));
    store.driver().cleanup().unwrap();
}

fn duplicate_register_keeps_one_layer(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let t = tar_of(&[("a", "1")]);
    let first = store.register(&t[..], None).unwrap();
    let second = store.register(&t[..], None).unwrap();
    assert_eq!(first, second);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(driver_layer_count(root.path(), driver), 1);
    assert!(tmp_is_empty(root.path(), driver));
    store.driver().cleanup().unwrap();
}

fn bad_archive_leaves_nothing_behind(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let mut t = tar_of(&[("big", &"x".repeat(10_000))]);
    t.truncate(3000); // cut inside the file's content
    let err = store.register(&t[..], None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let garbage = b"this is not a tar archive at all, just some text that goes on".repeat(20);
    assert!(store.register(&garbage[..], None).is_err());
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend_from_slice(b"corrupt deflate data");
    assert!(store.register(&gz[..], None).is_err());
    assert_eq!(store.list().unwrap().len(), 0);
    assert_eq!(
        driver_layer_count(root.path(), driver),
        0,
        "a half layer was left in the driver"
    );
    assert!(tmp_is_empty(root.path(), driver));
    let missing: ChainId = sha(b"nope");
    assert_eq!(
        store
            .register(&tar_of(&[])[..], Some(&missing))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    store.driver().cleanup().unwrap();
}

fn layers_in_use_cannot_be_removed(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let base = store.register(&tar_of(&[("a", "1")])[..], None).unwrap();
    let child = store
        .register(&tar_of(&[("b", "2")])[..], Some(&base.chain_id))
        .unwrap();
    assert_eq!(
        store.remove(&base.chain_id).unwrap_err().kind(),
        ErrorKind::Busy
    );

    store.hold(&child.chain_id, "image-1").unwrap();
    assert_eq!(
        store.remove(&child.chain_id).unwrap_err().kind(),
        ErrorKind::Busy
    );
    store.unhold(&child.chain_id, "image-1").unwrap();

    store
        .create_rw("container1", Some(&child.chain_id), &CreateOpts::default())
        .unwrap();
    let err = store.remove(&child.chain_id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy);
    assert!(err.to_string().contains("container1"), "{err}");
    store.remove_rw("container1").unwrap();

    store.remove(&child.chain_id).unwrap();
    store.remove(&base.chain_id).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert_eq!(driver_layer_count(root.path(), driver), 0);
    assert_eq!(
        store.get(&base.chain_id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    store.driver().cleanup().unwrap();
}

fn interrupted_operations_are_swept_at_open(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let kept = store.register(&tar_of(&[("k", "keep")])[..], None).unwrap();
    // A crash after the driver layer was made but before its metadata landed.
    let orphan = LayerId::random();
    store
        .driver()
        .create(&orphan, None, &CreateOpts::default())
        .unwrap();
    let tmp = root.path().join(format!("image/{driver}/layerdb/tmp"));
    std::fs::write(tmp.join(format!("{orphan}.creating")), b"").unwrap();
    // A crash in the middle of removing a layer: metadata moved aside, driver layer still there.
    let doomed = store
        .register(&tar_of(&[("d", "doomed")])[..], None)
        .unwrap();
    let meta = root.path().join(format!(
        "image/{driver}/layerdb/sha256/{}",
        doomed.chain_id.hex()
    ));
    std::fs::rename(&meta, tmp.join("deleting-x")).unwrap();
    store.driver().cleanup().unwrap();
    drop(store);

    let store = open(root.path(), driver);
    assert!(
        !store.driver().exists(&orphan),
        "orphan driver layer survived the sweep"
    );
    assert!(!store.driver().exists(&doomed.cache_id));
    assert!(store.driver().exists(&kept.cache_id));
    assert_eq!(store.list().unwrap(), vec![kept]);
    assert!(tmp_is_empty(root.path(), driver));
    store.driver().cleanup().unwrap();
}

fn commit_of_a_writable_layer_makes_a_new_layer(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let base = store
        .register(
            &tar_of(&[("etc/hostname", "base"), ("gone", "x")])[..],
            None,
        )
        .unwrap();
    store
        .create_rw("c1", Some(&base.chain_id), &CreateOpts::default())
        .unwrap();
    let rootfs = store.mount_rw("c1").unwrap();
    std::fs::write(rootfs.join("etc/hostname"), "changed").unwrap();
    std::fs::write(rootfs.join("new"), "new file").unwrap();
    std::fs::remove_file(rootfs.join("gone")).unwrap();
    store.unmount_rw("c1").unwrap();

    let mut changes: Vec<String> = store
        .changes_rw("c1")
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c.kind, c.path.display()))
        .collect();
    changes.sort();
    assert_eq!(changes, ["A /new", "C /etc", "C /etc/hostname", "D /gone"]);

    let committed = store.commit_rw("c1").unwrap();
    assert_eq!(committed.parent.as_ref(), Some(&base.chain_id));
    store.remove_rw("c1").unwrap();
    assert!(store.rw_layers().unwrap().is_empty());

    let d = store.driver();
    let path = d.get(&committed.cache_id).unwrap();
    assert_eq!(
        std::fs::read_to_string(path.join("etc/hostname")).unwrap(),
        "changed"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("new")).unwrap(),
        "new file"
    );
    assert!(!path.join("gone").exists());
    d.put(&committed.cache_id).unwrap();
    // The base is untouched by the container.
    let path = d.get(&base.cache_id).unwrap();
    assert_eq!(
        std::fs::read_to_string(path.join("etc/hostname")).unwrap(),
        "base"
    );
    assert!(path.join("gone").exists());
    d.put(&base.cache_id).unwrap();
    d.cleanup().unwrap();
}

fn concurrent_stores_do_not_corrupt_each_other(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let base = open(root.path(), driver)
        .register(&tar_of(&[("base", "b")])[..], None)
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let root = root.path().to_path_buf();
            let parent = base.chain_id.clone();
            let driver = driver.to_string();
            std::thread::spawn(move || {
                // Separate store instances, as separate engine processes would have.
                let store = open(&root, &driver);
                let name = format!("f{i}");
                let content = i.to_string();
                let layer = store
                    .register(
                        &tar_of(&[(name.as_str(), content.as_str())])[..],
                        Some(&parent),
                    )
                    .unwrap();
                store
                    .create_rw(
                        &format!("c{i}"),
                        Some(&layer.chain_id),
                        &CreateOpts::default(),
                    )
                    .unwrap();
                store.driver().cleanup().unwrap();
                layer
            })
        })
        .collect();
    let layers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let store = open(root.path(), driver);
    assert_eq!(store.list().unwrap().len(), 5);
    assert_eq!(store.rw_layers().unwrap().len(), 4);
    for l in layers {
        assert_eq!(store.get(&l.chain_id).unwrap(), l);
    }
    store.driver().cleanup().unwrap();
}

fn export_reproduces_the_layer(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let original = tar_of(&[("a/one", "1"), ("a/two", "2")]);
    let base = store.register(&original[..], None).unwrap();
    let mut tar = Vec::new();
    store.export(&base.chain_id, &mut tar).unwrap();
    assert!(tar == original, "export differs from the registered tar");
    // Registering the export in a fresh store gives the same tree.
    let other = tempfile::tempdir().unwrap();
    let store2 = open(other.path(), driver);
    let again = store2.register(&tar[..], None).unwrap();
    assert_eq!(again.diff_id, base.diff_id);
    let p = store2.driver().get(&again.cache_id).unwrap();
    assert_eq!(std::fs::read_to_string(p.join("a/two")).unwrap(), "2");
    store2.driver().put(&again.cache_id).unwrap();
    store2.driver().cleanup().unwrap();
    store.driver().cleanup().unwrap();
}

/// A tar with what real layers hold and naive re-taring would change: PAX records, GNU
/// long names and links, hard links, symlinks, odd mtimes and owners, whiteouts, a file
/// listed before its directory, and the zero padding GNU tar adds up to a 10 KiB record.
fn awkward_tar(whiteout: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(mode);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mtime(987_654_321);
        b.append_data(&mut h, path, body).unwrap();
    };
    file(
        &mut b,
        "deep/dir/first.txt",
        b"listed before its directory\n",
        0o640,
    );
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o750);
    dir.set_size(0);
    dir.set_mtime(1);
    b.append_data(&mut dir, "deep/", &[][..]).unwrap();
    let long = format!("deep/{}/file", "x".repeat(150));
    file(&mut b, &long, &vec![0xA5; 70_000], 0o755);
    let mut pax = tar::Builder::new(Vec::new());
    pax.append_pax_extensions([
        ("path", &b"pax/named/by/a/record"[..]),
        ("mtime", &b"1700000000.5"[..]),
    ])
    .unwrap();
    b.get_mut()
        .extend_from_slice(&pax.into_inner().unwrap()[..512 * 2]);
    file(&mut b, "placeholder", b"pax body", 0o600);
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Link);
    link.set_size(0);
    b.append_link(&mut link, "hard", "deep/dir/first.txt")
        .unwrap();
    let mut sym = tar::Header::new_gnu();
    sym.set_entry_type(tar::EntryType::Symlink);
    sym.set_size(0);
    b.append_link(&mut sym, format!("sym-{}", "y".repeat(120)), "/etc/passwd")
        .unwrap();
    file(&mut b, "empty", b"", 0o644);
    if whiteout {
        file(&mut b, "deep/.wh.gone", b"", 0o644);
    }
    let mut out = b.into_inner().unwrap();
    out.resize(out.len().div_ceil(10240) * 10240, 0);
    out
}

fn export_is_byte_exact(driver: &str) {
    let root = tempfile::tempdir().unwrap();
    let store = open(root.path(), driver);
    let lower = awkward_tar(false);
    let upper = awkward_tar(true);
    let base = store.register(&lower[..], None).unwrap();
    let top = store.register(&upper[..], Some(&base.chain_id)).unwrap();
    for (layer, original) in [(&base, &lower), (&top, &upper)] {
        assert_eq!(layer.diff_id, sha(original));
        let mut tar = Vec::new();
        store.export(&layer.chain_id, &mut tar).unwrap();
        assert_eq!(sha(&tar), layer.diff_id);
        assert!(&tar == original, "export differs from the registered tar");
        assert_eq!(
            store.export_size(&layer.chain_id).unwrap(),
            Some(original.len() as u64)
        );
    }
    // A committed layer exports the tar it was committed from.
    store
        .create_rw("c1", Some(&top.chain_id), &CreateOpts::default())
        .unwrap();
    let rootfs = store.mount_rw("c1").unwrap();
    std::fs::write(rootfs.join("added"), "by the container").unwrap();
    std::fs::remove_file(rootfs.join("empty")).unwrap();
    store.unmount_rw("c1").unwrap();
    let committed = store.commit_rw("c1").unwrap();
    let mut tar = Vec::new();
    store.export(&committed.chain_id, &mut tar).unwrap();
    assert_eq!(sha(&tar), committed.diff_id);
    store.remove_rw("c1").unwrap();
    assert!(tmp_is_empty(root.path(), driver));
    store.driver().cleanup().unwrap();
}
