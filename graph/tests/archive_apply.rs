//! Layer tar apply and export: every entry type and property, whiteouts in both formats,
//! compressed input, round trips through export.

// Test code: a failed setup step should panic right there.
#![allow(clippy::unwrap_used)]

mod tar_fixtures;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use graph::archive::{
    ApplyOptions, WhiteoutFormat, apply_layer, decompress, export_changes, export_tree,
};
use graph::{Change, ChangeKind};
use tar_fixtures::{Entry, TarBuilder, current_ids, names_in};

fn opts(whiteouts: WhiteoutFormat) -> ApplyOptions {
    ApplyOptions { whiteouts }
}

fn apply(root: &Path, tar: &[u8], whiteouts: WhiteoutFormat) -> graph::Result<u64> {
    apply_layer(root, &mut &tar[..], &opts(whiteouts))
}

fn mkdir(parent: &Path, name: &str) -> PathBuf {
    let p = parent.join(name);
    fs::create_dir_all(&p).unwrap();
    p
}

/// A v2 file capability granting CAP_NET_BIND_SERVICE, effective.
fn capability_blob() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes());
    v.extend_from_slice(&(1u32 << 10).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

fn long_dir() -> String {
    format!("long/{}", "n".repeat(150))
}

fn long_file() -> String {
    format!("{}/{}", long_dir(), "f".repeat(200))
}

fn long_target() -> String {
    format!("/{}", "t".repeat(299))
}

/// A GNU sparse entry `sparse` (8 MiB, data at 1 MiB and at the end), as the tar crate
/// writes it, without end-of-archive blocks.
fn sparse_entry(scratch: &Path) -> Vec<u8> {
    let path = scratch.join("sparse-src");
    let mut f = fs::File::create(&path).unwrap();
    f.set_len(8 << 20).unwrap();
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(1 << 20)).unwrap();
    f.write_all(&[7u8; 4096]).unwrap();
    f.seek(SeekFrom::Start((8 << 20) - 4096)).unwrap();
    f.write_all(&[9u8; 4096]).unwrap();
    drop(f);
    let mut b = tar::Builder::new(Vec::new());
    b.sparse(true);
    b.append_path_with_name(&path, "sparse").unwrap();
    let bytes = b.get_ref().clone();
    drop(b);
    assert_eq!(
        bytes[156], b'S',
        "the tar crate did not write a GNU sparse entry"
    );
    bytes
}

/// The full fixture: every entry type and property. Returns the tar and the regular-file
/// bytes it holds.
fn full_fixture(scratch: &Path) -> (Vec<u8>, u64) {
    let mut t = TarBuilder::new();
    t.add(Entry::dir("etc/").owner(0, 0).mtime(1_100_000_000));
    t.add(Entry::file("etc/conf", "v1").owner(0, 0));
    t.add(Entry::file("etc/conf", "version 2").owner(0, 0).mode(0o600));
    t.add(Entry::dir("bin/").owner(0, 0));
    t.add(
        Entry::file("bin/ping", "#!ping")
            .owner(0, 0)
            .mode(0o4755)
            .mtime(1_200_000_000)
            .xattr("security.capability", capability_blob())
            .xattr("user.note", "hi"),
    );
    t.add(Entry::dir("home/").owner(0, 0));
    t.add(
        Entry::dir("home/user/")
            .owner(1000, 1000)
            .mode(0o2750)
            .mtime(1_300_000_000)
            .xattr("user.dirnote", "d"),
    );
    t.add(
        Entry::file("home/user/file", "hello world")
            .owner(1000, 1000)
            .mode(0o640)
            .mtime(1_400_000_000)
            .xattr("user.a", "b"),
    );
    t.add(Entry::hardlink("home/user/hard", "home/user/file").owner(1000, 1000));
    t.add(
        Entry::symlink("home/user/sym", "file")
            .owner(1000, 1000)
            .mtime(1_450_000_000)
            .xattr("trusted.symnote", "s"),
    );
    t.add(Entry::dir("tmp/").owner(0, 0).mode(0o1777));
    t.add(Entry::dir("dev/").owner(0, 0));
    let mut null = Entry::new("dev/null", b'3')
        .owner(0, 0)
        .mode(0o666)
        .xattr("trusted.devnote", "n");
    null.device = (1, 3);
    t.add(null);
    let mut lp = Entry::new("dev/loop9", b'4').owner(0, 6).mode(0o660);
    lp.device = (7, 9);
    t.add(lp);
    t.add(Entry::new("dev/fifo", b'6').owner(0, 0).mode(0o640));
    t.add(Entry::dir(format!("{}/", long_dir())).owner(0, 0));
    t.add(Entry::file(long_file(), "long").owner(0, 0));
    t.add(Entry::symlink("long-sym", long_target()).owner(0, 0));
    t.add(Entry::file("implied/parent/file", "implied").owner(0, 0));
    t.raw(&sparse_entry(scratch));
    let bytes = 2 + 9 + 6 + 11 + 4 + 7 + (8 << 20);
    (t.finish(), bytes)
}

fn lstat(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()))
}

fn lxattr(p: &Path, key: &str) -> Option<Vec<u8>> {
    xattr::get(p, key).unwrap()
}

/// `holes`: whether the sparse file must still be sparse (true straight from the GNU sparse
/// entry; an export writes it as a plain file, whose zeros are data).
fn verify_fixture(root: &Path, holes: bool) {
    let conf = root.join("etc/conf");
    assert_eq!(fs::read(&conf).unwrap(), b"version 2");
    assert_eq!(lstat(&conf).mode() & 0o7777, 0o600);

    let ping = root.join("bin/ping");
    let md = lstat(&ping);
    assert_eq!(md.mode() & 0o7777, 0o4755, "setuid survives chown");
    assert_eq!(md.mtime(), 1_200_000_000);
    assert_eq!(
        lxattr(&ping, "security.capability"),
        Some(capability_blob())
    );
    assert_eq!(lxattr(&ping, "user.note").as_deref(), Some(&b"hi"[..]));

    let user = root.join("home/user");
    let md = lstat(&user);
    assert!(md.is_dir());
    assert_eq!((md.uid(), md.gid()), (1000, 1000));
    assert_eq!(md.mode() & 0o7777, 0o2750);
    assert_eq!(
        md.mtime(),
        1_300_000_000,
        "directory mtime is set after its children"
    );
    assert_eq!(lxattr(&user, "user.dirnote").as_deref(), Some(&b"d"[..]));
    assert_eq!(lstat(&root.join("etc")).mtime(), 1_100_000_000);

    let file = root.join("home/user/file");
    let md = lstat(&file);
    assert_eq!(fs::read(&file).unwrap(), b"hello world");
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777, md.mtime()),
        (1000, 1000, 0o640, 1_400_000_000)
    );
    assert_eq!(lxattr(&file, "user.a").as_deref(), Some(&b"b"[..]));
    let hard = lstat(&root.join("home/user/hard"));
    assert_eq!(hard.ino(), md.ino(), "hard link shares the inode");
    assert_eq!(md.nlink(), 2);

    let sym = root.join("home/user/sym");
    let md = lstat(&sym);
    assert!(md.file_type().is_symlink());
    assert_eq!(fs::read_link(&sym).unwrap(), Path::new("file"));
    assert_eq!(
        (md.uid(), md.gid(), md.mtime()),
        (1000, 1000, 1_450_000_000)
    );
    assert_eq!(lxattr(&sym, "trusted.symnote").as_deref(), Some(&b"s"[..]));

    assert_eq!(lstat(&root.join("tmp")).mode() & 0o7777, 0o1777);

    let null = root.join("dev/null");
    let md = lstat(&null);
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), libc::makedev(1, 3));
    assert_eq!(md.mode() & 0o7777, 0o666);
    assert_eq!(lxattr(&null, "trusted.devnote").as_deref(), Some(&b"n"[..]));
    let md = lstat(&root.join("dev/loop9"));
    assert!(md.file_type().is_block_device());
    assert_eq!(md.rdev(), libc::makedev(7, 9));
    assert_eq!((md.gid(), md.mode() & 0o7777), (6, 0o660));
    let md = lstat(&root.join("dev/fifo"));
    assert!(md.file_type().is_fifo());
    assert_eq!(md.mode() & 0o7777, 0o640);

    assert_eq!(fs::read(root.join(long_file())).unwrap(), b"long");
    assert_eq!(
        fs::read_link(root.join("long-sym")).unwrap(),
        PathBuf::from(long_target())
    );

    let implied = root.join("implied/parent");
    let md = lstat(&implied);
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o755, 0, 0));
    assert_eq!(fs::read(implied.join("file")).unwrap(), b"implied");

    let sparse = root.join("sparse");
    let content = fs::read(&sparse).unwrap();
    assert_eq!(content.len(), 8 << 20);
    assert!(content[(1 << 20)..(1 << 20) + 4096].iter().all(|b| *b == 7));
    assert!(content[(8 << 20) - 4096..].iter().all(|b| *b == 9));
    assert!(content[..1 << 20].iter().all(|b| *b == 0));
    if holes {
        assert!(
            lstat(&sparse).blocks() * 512 < 1 << 20,
            "sparse file keeps its holes"
        );
    }
}

/// Everything `ls -l` and `getfattr` would show about a tree, by relative path.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let md = lstat(entry.path());
        let ft = md.file_type();
        let mut desc = format!(
            "mode={:o} uid={} gid={} rdev={}",
            md.mode(),
            md.uid(),
            md.gid(),
            md.rdev()
        );
        if !ft.is_symlink() {
            desc += &format!(" mtime={}", md.mtime());
        }
        if ft.is_file() {
            desc += &format!(
                " content={:?}",
                fs::read(entry.path())
                    .unwrap()
                    .iter()
                    .map(|b| u64::from(*b))
                    .sum::<u64>()
            );
            desc += &format!(" size={}", md.len());
            if md.nlink() > 1 {
                let first = inodes.entry(md.ino()).or_insert_with(|| rel.clone());
                desc += &format!(" linkgroup={first}");
            }
        }
        if ft.is_symlink() {
            desc += &format!(" target={}", fs::read_link(entry.path()).unwrap().display());
        }
        let mut keys: Vec<_> = xattr::list(entry.path()).unwrap().collect();
        keys.sort();
        for k in keys {
            let v = xattr::get(entry.path(), &k).unwrap().unwrap_or_default();
            desc += &format!(" {}={:?}", k.to_string_lossy(), v);
        }
        out.insert(rel, desc);
    }
    out
}

#[test]
fn root_round_trip_keeps_every_property() {
    if !graph::testsuite::root_available("root_round_trip_keeps_every_property") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (mkdir(tmp.path(), "a"), mkdir(tmp.path(), "b"));
    let (tar, bytes) = full_fixture(tmp.path());
    assert_eq!(apply(&a, &tar, WhiteoutFormat::Delete).unwrap(), bytes);
    verify_fixture(&a, true);

    let mut exported = Vec::new();
    export_tree(&a, &mut exported, WhiteoutFormat::Delete).unwrap();
    // Deterministic: exporting twice gives the same bytes.
    let mut again = Vec::new();
    export_tree(&a, &mut again, WhiteoutFormat::Delete).unwrap();
    assert_eq!(exported, again);

    // Entries are relative, sorted with parents first, directories with a trailing slash,
    // and the second name of an inode is a hard link.
    let mut archive = tar::Archive::new(&exported[..]);
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        assert!(!name.starts_with('/') && !name.starts_with("./"), "{name}");
        if name == "home/user/hard" {
            assert_eq!(entry.header().entry_type(), tar::EntryType::Link);
            assert_eq!(&*entry.link_name_bytes().unwrap(), b"home/user/file");
        }
        if entry.header().entry_type().is_dir() {
            assert!(name.ends_with('/'), "{name}");
        }
        names.push(name);
    }
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("{n} missing in {names:?}"))
    };
    assert!(pos("home/") < pos("home/user/") && pos("home/user/") < pos("home/user/file"));
    assert!(pos("home/user/file") < pos("home/user/hard"));

    apply(&b, &exported, WhiteoutFormat::Delete).unwrap();
    verify_fixture(&b, false);
    assert_eq!(snapshot(&a), snapshot(&b));
}

#[test]
fn directory_mtime_is_set_after_children() {
    let tmp = tempfile::tempdir().unwrap();
    let root = mkdir(tmp.path(), "root");
    fs::write(mkdir(&root, "d").join("old"), "x").unwrap();
    let mut t = TarBuilder::new();
    t.add(Entry::dir("d/").mtime(1_000_000_000));
    t.add(Entry::dir("d/sub/").mtime(1_000_000_100));
    t.add(Entry::file("d/sub/f", "1"));
    t.add(Entry::file("d/g", "2"));
    t.add(Entry::file("d/.wh.old", ""));
    t.add(Entry::symlink("d/sub/link", "../g"));
    apply(&root, &t.finish(), WhiteoutFormat::Delete).unwrap();
    assert!(!root.join("d/old").exists());
    assert_eq!(lstat(&root.join("d")).mtime(), 1_000_000_000);
    assert_eq!(lstat(&root.join("d/sub")).mtime(), 1_000_000_100);
}

#[test]
fn returns_regular_file_bytes_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = mkdir(tmp.path(), "root");
    let mut t = TarBuilder::new();
    t.add(Entry::file("a", vec![1u8; 1000]));
    t.add(Entry::file("b", vec![2u8; 24]));
    t.add(Entry::hardlink("c", "a"));
    t.add(Entry::symlink("d", "a"));
    t.add(Entry::dir("e/"));
    t.add(Entry::file(".wh.nothing", ""));
    assert_eq!(
        apply(&root, &t.finish(), WhiteoutFormat::Delete).unwrap(),
        1024
    );
    assert_eq!(names_in(&root), ["a", "b", "c", "d", "e"]);
}

#[test]
fn delete_whiteouts_remove_lower_entries_and_keep_this_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let root = mkdir(tmp.path(), "root");
    // What the lower layers left (a vfs layer starts as a copy of its parent).
    fs::write(root.join("gone.txt"), "x").unwrap();
    fs::write(mkdir(&root, "gonedir/deep").join("x"), "x").unwrap();
    fs::write(mkdir(&root, "opq").join("old1"), "x").unwrap();
    fs::write(mkdir(&root, "opq/olddir").join("y"), "y").unwrap();
    fs::write(mkdir(&root, "opq/kept").join("old2"), "x").unwrap();
    fs::write(root.join("survivor"), "x").unwrap();

    let mut t = TarBuilder::new();
    t.add(Entry::dir("opq/"));
    t.add(Entry::file("opq/new", "n"));
    t.add(Entry::dir("opq/kept/"));
    t.add(Entry::file("opq/kept/new2", "n"));
    t.add(Entry::file("opq/.wh..wh..opq", ""));
    t.add(Entry::file("opq/newer", "n"));
    t.add(Entry::file(".wh.gone.txt", ""));
    t.add(Entry::file(".wh.gonedir", ""));
    t.add(Entry::file("meta/.wh..wh.plnk", ""));
    t.add(Entry::file(".wh.never-existed", ""));
    apply(&root, &t.finish(), WhiteoutFormat::Delete).unwrap();

    assert_eq!(names_in(&root), ["meta", "opq", "survivor"]);
    assert_eq!(names_in(&root.join("opq")), ["kept", "new", "newer"]);
    assert_eq!(
        names_in(&root.join("opq/kept")),
        ["new2"],
        "kept dir is pruned too"
    );
    assert!(
        names_in(&root.join("meta")).is_empty(),
        "meta whiteouts are not created"
    );
}

#[test]
fn root_overlay_whiteouts_become_devices_and_export_back() {
    if !graph::testsuite::root_available("root_overlay_whiteouts_become_devices_and_export_back") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = mkdir(tmp.path(), "upper");
    let mut t = TarBuilder::new();
    t.add(Entry::file(".wh.gone", "").owner(1000, 1001));
    t.add(
        Entry::dir("opq/")
            .owner(5, 6)
            .mode(0o750)
            .mtime(1_234_567_890),
    );
    t.add(Entry::file("opq/.wh..wh..opq", ""));
    t.add(Entry::file("opq/f", "f"));
    // An archive cannot smuggle overlay internals in as xattrs.
    t.add(
        Entry::dir("sneaky/")
            .xattr("trusted.overlay.redirect", "/etc")
            .xattr("user.ok", "1"),
    );
    apply(&root, &t.finish(), WhiteoutFormat::Overlay).unwrap();

    let gone = lstat(&root.join("gone"));
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert_eq!((gone.uid(), gone.gid()), (1000, 1001));
    assert!(!root.join(".wh.gone").exists());
    assert_eq!(
        lxattr(&root.join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!root.join("opq/.wh..wh..opq").exists());
    assert_eq!(fs::read(root.join("opq/f")).unwrap(), b"f");
    assert_eq!(
        lxattr(&root.join("sneaky"), "trusted.overlay.redirect"),
        None
    );
    assert_eq!(
        lxattr(&root.join("sneaky"), "user.ok").as_deref(),
        Some(&b"1"[..])
    );

    // Overlay export: the device and the xattr turn back into .wh. entries.
    let mut out = Vec::new();
    export_tree(&root, &mut out, WhiteoutFormat::Overlay).unwrap();
    let mut seen = Vec::new();
    let mut archive = tar::Archive::new(&out[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let h = entry.header().clone();
        let pax: Vec<String> = entry
            .pax_extensions()
            .unwrap()
            .map(|p| p.map(|r| r.unwrap().key().unwrap().to_string()).collect())
            .unwrap_or_default();
        assert!(
            pax.iter()
                .all(|k| !k.starts_with("SCHILY.xattr.trusted.overlay.")),
            "{name}: {pax:?}"
        );
        match name.as_str() {
            ".wh.gone" => {
                assert_eq!(h.entry_type(), tar::EntryType::Regular);
                assert_eq!(h.size().unwrap(), 0);
                assert_eq!(
                    (h.uid().unwrap(), h.gid().unwrap(), h.mode().unwrap()),
                    (1000, 1001, 0o600)
                );
            }
            "opq/.wh..wh..opq" => {
                assert_eq!(h.entry_type(), tar::EntryType::Regular);
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (5, 6));
                assert_eq!(h.mtime().unwrap(), 1_234_567_890);
            }
            _ => {}
        }
        seen.push(name);
    }
    assert_eq!(
        seen,
        [".wh.gone", "opq/", "opq/.wh..wh..opq", "opq/f", "sneaky/"]
    );

    // Applying that export with the Delete format into a tree that has the lower entries
    // removes them, as a vfs layer would.
    let lower = mkdir(tmp.path(), "lower");
    fs::write(lower.join("gone"), "x").unwrap();
    fs::write(mkdir(&lower, "opq").join("old"), "x").unwrap();
    apply(&lower, &out, WhiteoutFormat::Delete).unwrap();
    assert_eq!(names_in(&lower), ["opq", "sneaky"]);
    assert_eq!(names_in(&lower.join("opq")), ["f"]);

    // Delete-format export leaves the device as a device.
    let mut plain = Vec::new();
    export_tree(&root, &mut plain, WhiteoutFormat::Delete).unwrap();
    let mut archive = tar::Archive::new(&plain[..]);
    let first = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(&*first.path_bytes(), b"gone");
    assert_eq!(first.header().entry_type(), tar::EntryType::Char);
}

fn simple_layer() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.add(Entry::dir("d/"));
    t.add(Entry::file("d/a", "alpha".repeat(1000)));
    t.add(Entry::file("b", "beta"));
    t.finish()
}

#[test]
fn gzip_and_zstd_layers_apply_through_decompress() {
    let tar = simple_layer();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (label, input) in [("gzip", gz), ("zstd", zst), ("plain", tar.clone())] {
        let tmp = tempfile::tempdir().unwrap();
        let (_, mut reader) = decompress(&input[..]).unwrap();
        let n = apply_layer(tmp.path(), &mut reader, &opts(WhiteoutFormat::Delete)).unwrap();
        assert_eq!(n, 5004, "{label}");
        assert_eq!(
            fs::read(tmp.path().join("d/a")).unwrap(),
            "alpha".repeat(1000).as_bytes(),
            "{label}"
        );
        assert_eq!(fs::read(tmp.path().join("b")).unwrap(), b"beta", "{label}");
    }
}

#[test]
fn existing_entries_are_replaced_by_type() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(mkdir(root, "was-dir").join("child"), "x").unwrap();
    fs::write(root.join("was-file"), "x").unwrap();
    std::os::unix::fs::symlink("/", root.join("was-link")).unwrap();
    fs::write(mkdir(root, "stays-dir").join("child"), "x").unwrap();
    let mut t = TarBuilder::new();
    t.add(Entry::file("was-dir", "now a file"));
    t.add(Entry::dir("was-file/"));
    t.add(Entry::file("was-link", "now a file too"));
    t.add(Entry::dir("stays-dir/").mode(0o700));
    apply(root, &t.finish(), WhiteoutFormat::Delete).unwrap();
    assert_eq!(fs::read(root.join("was-dir")).unwrap(), b"now a file");
    assert!(lstat(&root.join("was-file")).is_dir());
    assert_eq!(fs::read(root.join("was-link")).unwrap(), b"now a file too");
    assert!(lstat(&root.join("was-link")).is_file());
    assert_eq!(
        names_in(&root.join("stays-dir")),
        ["child"],
        "an existing directory is kept"
    );
    assert_eq!(
        lstat(&root.join("stays-dir")).permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn export_changes_writes_changed_paths_and_whiteouts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("a"), "aaa").unwrap();
    fs::write(mkdir(root, "d").join("f"), "ff").unwrap();
    fs::write(root.join("d/untouched"), "not listed").unwrap();
    fs::hard_link(root.join("a"), root.join("d/hl")).unwrap();
    let change = |p: &str, kind| Change {
        path: PathBuf::from(p),
        kind,
    };
    let changes = [
        change("/d/hl", ChangeKind::Add),
        change("/old", ChangeKind::Delete),
        change("/d/f", ChangeKind::Add),
        change("/a", ChangeKind::Modify),
        change("/d", ChangeKind::Modify),
        change("/d/gone", ChangeKind::Delete),
    ];
    let mut out = Vec::new();
    export_changes(root, &changes, &mut out).unwrap();
    let mut archive = tar::Archive::new(&out[..]);
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let kind = entry.header().entry_type();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        match name.as_str() {
            "a" => assert_eq!(content, b"aaa"),
            "d/f" => assert_eq!(content, b"ff"),
            "d/hl" => {
                assert_eq!(kind, tar::EntryType::Link);
                assert_eq!(&*entry.link_name_bytes().unwrap(), b"a");
            }
            ".wh.old" | "d/.wh.gone" => {
                assert_eq!(kind, tar::EntryType::Regular);
                assert!(content.is_empty());
            }
            "d/" => assert_eq!(kind, tar::EntryType::Directory),
            other => panic!("unexpected entry {other}"),
        }
        seen.push(name);
    }
    // In the order of the changed paths (as Docker writes them): /a, /d, /d/f, /d/gone, /d/hl, /old.
    assert_eq!(seen, ["a", "d/", "d/f", "d/.wh.gone", "d/hl", ".wh.old"]);

    // The diff applies onto a lower tree.
    let lower = mkdir(root, "lower-copy");
    fs::write(lower.join("old"), "x").unwrap();
    fs::write(mkdir(&lower, "d").join("gone"), "x").unwrap();
    apply(&lower, &out, WhiteoutFormat::Delete).unwrap();
    assert_eq!(names_in(&lower), ["a", "d"]);
    assert_eq!(names_in(&lower.join("d")), ["f", "hl"]);
    assert_eq!(
        lstat(&lower.join("a")).ino(),
        lstat(&lower.join("d/hl")).ino()
    );

    // A change naming a path that is gone is an error, not a silent skip.
    let err = export_changes(
        root,
        &[change("/missing", ChangeKind::Add)],
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), graph::ErrorKind::NotFound);
}

/// Apply speed against GNU tar on ~10,000 files / 150 MB. Heavy: run it explicitly,
/// `cargo test --release -p graph --test archive_apply -- --ignored --nocapture`.
#[test]
#[ignore]
fn root_apply_speed_is_close_to_gnu_tar() {
    if !graph::testsuite::root_available("root_apply_speed_is_close_to_gnu_tar") {
        return;
    }
    use std::process::Command;
    use std::time::Instant;
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let src = mkdir(tmp.path(), "src");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut total = 0u64;
    for i in 0..10_000u64 {
        let dir = mkdir(&src, &format!("dir-{}/sub-{}", i / 500, i / 50));
        let len = 1_000 + (seed % 29_000) as usize;
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let data: Vec<u8> = (0..len).map(|j| (j as u64 ^ seed) as u8).collect();
        fs::write(dir.join(format!("file-{i}")), &data).unwrap();
        total += len as u64;
    }
    let tar_path = tmp.path().join("layer.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(&tar_path)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let tar = fs::read(&tar_path).unwrap();
    let _ = Command::new("sync").status();

    let ours = mkdir(tmp.path(), "ours");
    let start = Instant::now();
    let n = apply(&ours, &tar, WhiteoutFormat::Delete).unwrap();
    let ours_time = start.elapsed();
    assert_eq!(n, total);

    let gnu = mkdir(tmp.path(), "gnu");
    let start = Instant::now();
    let status = Command::new("tar")
        .arg("-C")
        .arg(&gnu)
        .arg("-xpf")
        .arg(&tar_path)
        .status()
        .unwrap();
    let gnu_time = start.elapsed();
    assert!(status.success());
    eprintln!(
        "apply_layer: {:?}, tar -xpf: {:?} ({} files, {} MB)",
        ours_time,
        gnu_time,
        10_000,
        total / 1_000_000
    );
    assert!(
        ours_time < gnu_time * 3,
        "apply_layer {ours_time:?} is far slower than tar {gnu_time:?}"
    );
}

#[test]
fn plain_user_can_apply_own_files() {
    // Ownership from the header equal to the caller's works without root.
    let (uid, gid) = current_ids();
    let tmp = tempfile::tempdir().unwrap();
    let mut t = TarBuilder::new();
    t.add(Entry::file("x", "1").owner(uid, gid).mode(0o751));
    apply(tmp.path(), &t.finish(), WhiteoutFormat::Delete).unwrap();
    let md = lstat(&tmp.path().join("x"));
    assert_eq!(
        (md.uid() as u64, md.gid() as u64, md.mode() & 0o7777),
        (uid, gid, 0o751)
    );
}

#[test]
fn gnu_long_names_and_links_apply() {
    let (uid, gid) = current_ids();
    let name = format!("{}/{}", "g".repeat(120), "h".repeat(180));
    let target = format!("../{}", "k".repeat(200));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(4);
    h.set_mode(0o644);
    h.set_mtime(1);
    h.set_uid(uid);
    h.set_gid(gid);
    b.append_data(&mut h, &name, &b"gnu!"[..]).unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    l.set_mode(0o777);
    l.set_mtime(1);
    l.set_uid(uid);
    l.set_gid(gid);
    b.append_link(&mut l, "lnk", &target).unwrap();
    let tar = b.into_inner().unwrap();
    assert!(
        tar.windows(13).any(|w| w == b"././@LongLink"),
        "GNU long name records were written"
    );
    let tmp = tempfile::tempdir().unwrap();
    apply(tmp.path(), &tar, WhiteoutFormat::Delete).unwrap();
    assert_eq!(fs::read(tmp.path().join(&name)).unwrap(), b"gnu!");
    assert_eq!(
        fs::read_link(tmp.path().join("lnk")).unwrap(),
        PathBuf::from(&target)
    );
}
