//! Hostile layer tars: nothing in an archive may create, write or follow anything outside
//! the layer root. Each case applies into `<tmp>/g1/g2/sentinel/root` and then checks that
//! `sentinel` still holds exactly `root` and the untouched `outside` file, and that `g2` and
//! `g1` hold nothing else either. The two guard levels keep a regression from reaching past
//! the temp dir: relative escapes (`../..`, `../../..`) land in the guards, and absolute ones
//! only ever name `/engine-hostile-<unique>`, which Drop removes should it appear.

// Test code: a failed setup step should panic right there.
#![allow(clippy::unwrap_used)]

mod tar_fixtures;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use graph::ErrorKind;
use graph::archive::{ApplyOptions, WhiteoutFormat, apply_layer, decompress};
use tar_fixtures::{Entry, TarBuilder, names_in, raw_header, set_checksum};

/// A temp dir nesting the layer root three levels deep, with an `outside` file next to it.
struct Sentinel {
    tmp: tempfile::TempDir,
    sentinel: PathBuf,
    root: PathBuf,
    /// A unique name that must never appear at the host's `/`.
    unique: String,
}

impl Sentinel {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let sentinel = tmp.path().join("g1/g2/sentinel");
        let root = sentinel.join("root");
        fs::create_dir_all(&root).unwrap();
        fs::write(sentinel.join("outside"), "original").unwrap();
        let unique = format!(
            "engine-hostile-{}",
            tmp.path().file_name().unwrap().to_string_lossy()
        );
        Sentinel {
            tmp,
            sentinel,
            root,
            unique,
        }
    }

    fn path(&self) -> &Path {
        &self.sentinel
    }

    fn apply(&self, tar: &[u8]) -> graph::Result<u64> {
        apply_layer(
            &self.root,
            &mut &tar[..],
            &ApplyOptions {
                whiteouts: WhiteoutFormat::Delete,
            },
        )
    }

    /// Nothing was created, written or linked outside the root.
    fn assert_untouched(&self) {
        assert_eq!(
            names_in(self.tmp.path()),
            ["g1"],
            "something was created above the root"
        );
        assert_eq!(
            names_in(&self.tmp.path().join("g1")),
            ["g2"],
            "something was created above the root"
        );
        assert_eq!(
            names_in(&self.tmp.path().join("g1/g2")),
            ["sentinel"],
            "something was created above the root"
        );
        assert_eq!(
            names_in(self.path()),
            ["outside", "root"],
            "something was created next to the root"
        );
        let outside = self.path().join("outside");
        assert_eq!(
            fs::read(&outside).unwrap(),
            b"original",
            "the outside file was written"
        );
        assert_eq!(
            fs::symlink_metadata(&outside).unwrap().nlink(),
            1,
            "the outside file was hard linked"
        );
        assert!(
            !Path::new("/").join(&self.unique).exists(),
            "/{} was created on the host",
            self.unique
        );
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        // Only a broken apply_layer creates this; don't leave it behind on the host.
        let _ = fs::remove_dir_all(Path::new("/").join(&self.unique));
    }
}

fn assert_rejected(result: graph::Result<u64>, needle: &str) {
    let err = result.expect_err("the archive must be rejected");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string().contains(needle),
        "error {err:?} does not mention {needle:?}"
    );
}

fn one(entry: Entry) -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.add(entry);
    t.finish()
}

#[test]
fn dotdot_names_are_rejected() {
    for name in [
        "../escape",
        "a/../../escape",
        "./../outside",
        "a/b/../../../outside",
    ] {
        let s = Sentinel::new();
        assert_rejected(
            s.apply(&one(Entry::file(name, "pwned"))),
            "escapes the layer root",
        );
        s.assert_untouched();
    }
    // `..` that stays inside is cleaned, as Docker does.
    let s = Sentinel::new();
    s.apply(&one(Entry::file("a/../b", "fine"))).unwrap();
    assert_eq!(fs::read(s.root.join("b")).unwrap(), b"fine");
    s.assert_untouched();
}

#[test]
fn dotdot_in_long_pax_name_is_rejected() {
    let s = Sentinel::new();
    // 60 levels down, 61 up: one above the root, in a name only PAX can carry.
    let name = format!("{}{}outside", "a/".repeat(60), "../".repeat(61));
    assert!(name.len() > 100);
    assert_rejected(
        s.apply(&one(Entry::file(name, "x"))),
        "escapes the layer root",
    );
    s.assert_untouched();
}

#[test]
fn absolute_names_land_inside_the_root() {
    let s = Sentinel::new();
    let name = format!("/{}/path", s.unique);
    s.apply(&one(Entry::file(&name, "inside"))).unwrap();
    assert_eq!(
        fs::read(s.root.join(&s.unique).join("path")).unwrap(),
        b"inside"
    );
    let outside = format!("/../../{}/x", s.unique);
    s.apply(&one(Entry::file(&outside, "also inside"))).unwrap();
    assert_eq!(
        fs::read(s.root.join(&s.unique).join("x")).unwrap(),
        b"also inside"
    );
    s.assert_untouched();
}

#[test]
fn writes_through_escaping_symlinks_stay_inside() {
    for target in ["/".to_string(), "../../..".to_string()] {
        let s = Sentinel::new();
        let mut t = TarBuilder::new();
        t.add(Entry::symlink("evil", &target));
        t.add(Entry::file(format!("evil/{}/x", s.unique), "in root"));
        s.apply(&t.finish()).unwrap();
        // The symlink exists as written; the file went through it as through a chroot.
        assert_eq!(
            fs::read_link(s.root.join("evil")).unwrap(),
            PathBuf::from(&target)
        );
        assert_eq!(
            fs::read(s.root.join(&s.unique).join("x")).unwrap(),
            b"in root"
        );
        s.assert_untouched();
    }
}

#[test]
fn symlinked_parent_directory_never_reaches_outside() {
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    // d points at the real sentinel directory on the host.
    t.add(Entry::symlink("d", s.path().as_os_str().as_encoded_bytes()));
    t.add(Entry::file("d/file", "pwned"));
    t.add(Entry::file("d/outside", "pwned"));
    let result = s.apply(&t.finish());
    // Inside the root that path does not exist: a dangling symlink is a bad parent.
    assert_rejected(result, "symlink to a missing directory");
    s.assert_untouched();

    // Relative form: d2 -> ../.. resolves to the root itself.
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::symlink("d2", "../.."));
    t.add(Entry::file("d2/outside", "in root"));
    s.apply(&t.finish()).unwrap();
    assert_eq!(fs::read(s.root.join("outside")).unwrap(), b"in root");
    s.assert_untouched();
}

#[test]
fn symlink_replaced_parent_is_not_followed_for_existing_dirs() {
    // A directory entry over a symlink replaces the symlink; nothing is written at its target.
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::symlink("etc", "/"));
    t.add(Entry::dir("etc/"));
    t.add(Entry::file("etc/passwd", "inside"));
    s.apply(&t.finish()).unwrap();
    assert!(fs::symlink_metadata(s.root.join("etc")).unwrap().is_dir());
    assert_eq!(fs::read(s.root.join("etc/passwd")).unwrap(), b"inside");
    s.assert_untouched();
}

#[test]
fn hardlinks_to_absolute_paths_resolve_inside_the_root() {
    let host_passwd = fs::metadata("/etc/passwd").unwrap();
    // No etc/passwd in the layer: the link target is missing.
    let s = Sentinel::new();
    assert_rejected(
        s.apply(&one(Entry::hardlink("pw", "/etc/passwd"))),
        "does not exist",
    );
    s.assert_untouched();
    // With one in the layer, the link is to that one.
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::file("etc/passwd", "layer's own"));
    t.add(Entry::hardlink("pw", "/etc/passwd"));
    s.apply(&t.finish()).unwrap();
    let pw = fs::metadata(s.root.join("pw")).unwrap();
    assert_eq!(
        pw.ino(),
        fs::metadata(s.root.join("etc/passwd")).unwrap().ino()
    );
    assert_ne!((pw.dev(), pw.ino()), (host_passwd.dev(), host_passwd.ino()));
    assert_eq!(
        fs::metadata("/etc/passwd").unwrap().nlink(),
        host_passwd.nlink()
    );
    s.assert_untouched();
}

#[test]
fn hardlinks_escaping_the_root_are_rejected() {
    for target in ["../outside", "../../outside", "a/../../outside"] {
        let s = Sentinel::new();
        assert_rejected(
            s.apply(&one(Entry::hardlink("h", target))),
            "escapes the layer root",
        );
        s.assert_untouched();
    }
}

#[test]
fn hardlinks_through_symlinked_dirs_stay_inside() {
    // s -> the sentinel on the host: inside the root that is a missing path.
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::symlink("s", s.path().as_os_str().as_encoded_bytes()));
    t.add(Entry::hardlink("h", "s/outside"));
    assert_rejected(s.apply(&t.finish()), "does not exist");
    s.assert_untouched();

    // s -> ../.. is the root itself, so s/target is the layer's own file.
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::file("target", "t"));
    t.add(Entry::symlink("s", "../.."));
    t.add(Entry::hardlink("h", "s/target"));
    s.apply(&t.finish()).unwrap();
    assert_eq!(
        fs::metadata(s.root.join("h")).unwrap().ino(),
        fs::metadata(s.root.join("target")).unwrap().ino()
    );
    s.assert_untouched();

    // A hard link to a symlink links the symlink itself, never what it points to.
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::symlink("ln", "/outside"));
    t.add(Entry::hardlink("h2", "ln"));
    s.apply(&t.finish()).unwrap();
    assert!(
        fs::symlink_metadata(s.root.join("h2"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    s.assert_untouched();
}

#[test]
fn whiteouts_cannot_reach_outside() {
    let s = Sentinel::new();
    assert_rejected(
        s.apply(&one(Entry::file("../.wh.outside", ""))),
        "escapes the layer root",
    );
    s.assert_untouched();
    let s = Sentinel::new();
    assert_rejected(
        s.apply(&one(Entry::file("a/.wh..", ""))),
        "whiteout names no file",
    );
    s.assert_untouched();
    // A whiteout under a symlink to the host removes inside the root only.
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::symlink("up", "../.."));
    t.add(Entry::file("up/.wh.outside", ""));
    t.add(Entry::file("up/.wh..wh..opq", ""));
    s.apply(&t.finish()).unwrap();
    s.assert_untouched();
}

#[test]
fn root_device_nodes_are_created_inside_the_root() {
    if !graph::testsuite::root_available("root_device_nodes_are_created_inside_the_root") {
        return;
    }
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    let mut mem = Entry::new("/dev/mem", b'3').owner(0, 0).mode(0o640);
    mem.device = (1, 1);
    t.add(mem);
    let mut sda = Entry::new("../dev/sda", b'4').owner(0, 6).mode(0o660);
    sda.device = (8, 0);
    // devlink -> /<unique>: inside the root that is the directory made here; on the host
    // the path does not exist, so even a broken resolver could not replace a real device.
    t.add(Entry::dir(format!("{}/", s.unique)));
    t.add(Entry::symlink("devlink", format!("/{}", s.unique)));
    let mut via = Entry::new("devlink/zero", b'3').owner(0, 0).mode(0o666);
    via.device = (1, 5);
    t.add(via);
    t.add(Entry::new("fifo", b'6').owner(0, 0).mode(0o600));
    s.apply(&t.finish()).unwrap();
    let mem = fs::symlink_metadata(s.root.join("dev/mem")).unwrap();
    assert!(mem.file_type().is_char_device());
    assert_eq!(mem.rdev(), libc::makedev(1, 1));
    let zero = fs::symlink_metadata(s.root.join(&s.unique).join("zero")).unwrap();
    assert!(
        zero.file_type().is_char_device(),
        "devlink/zero lands inside the root"
    );
    assert_eq!(zero.rdev(), libc::makedev(1, 5));
    assert!(
        fs::symlink_metadata(s.root.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    s.assert_untouched();

    let s = Sentinel::new();
    assert_rejected(s.apply(&one(sda)), "escapes the layer root");
    s.assert_untouched();
}

#[test]
fn huge_names_are_rejected_clearly() {
    let s = Sentinel::new();
    let name = "x/".repeat(5_000);
    assert_rejected(s.apply(&one(Entry::file(name, "x"))), "the limit is 4096");
    s.assert_untouched();
    let s = Sentinel::new();
    assert_rejected(
        s.apply(&one(Entry::file("c".repeat(300), "x"))),
        "the limit is 255",
    );
    s.assert_untouched();
    let s = Sentinel::new();
    let target = "t".repeat(5_000);
    assert_rejected(
        s.apply(&one(Entry::symlink("l", target))),
        "invalid symlink target",
    );
    s.assert_untouched();
}

#[test]
fn nul_in_pax_name_is_rejected() {
    let s = Sentinel::new();
    let mut t = TarBuilder::new();
    t.add(Entry::file("plain", "x").pax("path", b"a\0/../../outside"));
    assert_rejected(s.apply(&t.finish()), "NUL");
    s.assert_untouched();
}

#[test]
fn unsupported_entry_types_are_rejected() {
    for kind in [b'V', b'M', b'D', b'N', b'Z'] {
        let s = Sentinel::new();
        assert_rejected(
            s.apply(&one(Entry::new("weird", kind))),
            "unsupported entry type",
        );
        s.assert_untouched();
    }
    // Non-directories cannot name the root.
    let s = Sentinel::new();
    assert_rejected(s.apply(&one(Entry::file("./", "x"))), "layer root");
    s.assert_untouched();
}

#[test]
fn truncated_tar_is_rejected() {
    let mut t = TarBuilder::new();
    t.add(Entry::file("a", "complete"));
    t.add(Entry::file("big", vec![b'z'; 10_000]));
    let tar = t.finish();
    // Cut inside big's content, then inside its header.
    for cut in [1024 + 512 + 5_000, 1024 + 200] {
        let s = Sentinel::new();
        let result = s.apply(&tar[..cut]);
        let err = result.expect_err("truncated archive must fail");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "cut at {cut}: {err}");
        s.assert_untouched();
    }
}

#[test]
fn corrupt_header_checksum_is_rejected() {
    let mut t = TarBuilder::new();
    t.add(Entry::file("a", "x"));
    let mut tar = t.finish();
    tar[0] = b'b'; // name changes, checksum does not
    let s = Sentinel::new();
    assert_rejected(s.apply(&tar), "checksum");
    s.assert_untouched();

    // A header whose size field is garbage (checksum fixed up) is rejected too.
    let mut h = raw_header(b"f", b'0', 0o644, 0, 0, 1, 0, b"", (0, 0));
    h[124..136].copy_from_slice(b"zzzzzzzzzzz\0");
    set_checksum(&mut h);
    let mut bad = h.to_vec();
    bad.extend_from_slice(&[0u8; 1536]);
    let s = Sentinel::new();
    let err = s.apply(&bad).expect_err("garbage size");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    s.assert_untouched();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn apply_compressed(s: &Sentinel, input: &[u8]) -> graph::Result<u64> {
    let (_, mut reader) = decompress(input)?;
    apply_layer(
        &s.root,
        &mut reader,
        &ApplyOptions {
            whiteouts: WhiteoutFormat::Delete,
        },
    )
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn truncated_and_corrupt_gzip_are_rejected() {
    let mut t = TarBuilder::new();
    t.add(Entry::file("a", pseudo_random(100_000)));
    t.add(Entry::file("b", "tail"));
    let gz = gzip(&t.finish());

    let s = Sentinel::new();
    let err = apply_compressed(&s, &gz[..gz.len() / 2]).expect_err("truncated gzip");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    s.assert_untouched();

    // Damage in the compressed body.
    let mut corrupt = gz.clone();
    for b in &mut corrupt[40..60] {
        *b ^= 0x55;
    }
    let s = Sentinel::new();
    let err = apply_compressed(&s, &corrupt).expect_err("corrupt gzip");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    s.assert_untouched();

    // Damage in the CRC trailer only: every entry decodes, the check at the end fails.
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let s = Sentinel::new();
    let err = apply_compressed(&s, &bad_crc).expect_err("bad gzip CRC");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    s.assert_untouched();

    // Truncated zstd as well.
    let zst = zstd::encode_all(&t.finish()[..], 3).unwrap();
    let s = Sentinel::new();
    let err = apply_compressed(&s, &zst[..zst.len() - 10]).expect_err("truncated zstd");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    s.assert_untouched();
}

/// Applies `tar` and records its tar-split: both must refuse it with `needle`, and the apply
/// must leave nothing outside the root.
fn assert_both_reject(tar: &[u8], needle: &str) {
    let s = Sentinel::new();
    assert_rejected(s.apply(tar), needle);
    s.assert_untouched();
    let err = graph::archive::tar_split::record(tar, Vec::new())
        .expect_err("the tar-split scanner must refuse it too");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains(needle), "{err:?} lacks {needle:?}");
}

/// A header for `name` whose size field is `field` (12 raw bytes), checksum fixed up.
fn header_with_size_field(name: &[u8], kind: u8, field: &[u8; 12]) -> Vec<u8> {
    let mut h = raw_header(name, kind, 0o644, 0, 0, 0, 0, b"", (0, 0));
    h[124..136].copy_from_slice(field);
    set_checksum(&mut h);
    h.to_vec()
}

#[test]
fn absurd_pax_sizes_are_rejected_not_taken_as_empty_files() {
    // The tar crate takes a PAX size it cannot parse as absent: with a header size of 0 the
    // entry was an empty file, its content then read as the next header.
    for bad in [
        "-1",
        "1e9",
        "",
        " 5",
        "18446744073709551616",
        "99999999999999999999999",
        "9223372036854775808",
    ] {
        let mut t = TarBuilder::new();
        t.add(Entry::new("empty-looking", b'0').pax("size", bad));
        t.add(Entry::file("next", "after"));
        assert_both_reject(&t.finish(), "in its PAX header");
    }
    // A PAX size past u64 once overflowed (a panic) in the PAX pre-reader.
    let mut t = TarBuilder::new();
    t.add(Entry::file("p", "hello").pax("size", u64::MAX.to_string()));
    assert_both_reject(&t.finish(), "size overflow");
}

#[test]
fn sizes_larger_than_the_rest_of_the_stream_are_rejected() {
    let runs_past = "runs past the end of the archive";
    // A PAX size bigger than what follows, then a real entry: the next header is never
    // read as content, nor skipped.
    let mut t = TarBuilder::new();
    t.add(Entry::file("p", "hello").pax("size", "100000"));
    t.add(Entry::file("q", "world"));
    assert_both_reject(&t.finish(), runs_past);
    let mut t = TarBuilder::new();
    t.add(Entry::file("p", "hello").pax("size", i64::MAX.to_string()));
    assert_both_reject(&t.finish(), runs_past);
    // The largest octal size field (8 GiB) over three bytes of content.
    let mut tar = header_with_size_field(b"big", b'0', b"77777777777\0");
    tar.extend_from_slice(b"abc");
    tar.resize(512 * 4, 0);
    assert_both_reject(&tar, runs_past);
    // A directory whose size field claims content that is not there.
    let mut tar = header_with_size_field(b"dir/", b'5', b"00010000000\0");
    tar.resize(512 * 4, 0);
    assert_both_reject(&tar, runs_past);
    // GNU base-256 sizes: one past any stream, and one beyond u64.
    let mut field = [0u8; 12];
    field[0] = 0x80;
    field[5] = 1; // 2^48
    let mut tar = header_with_size_field(b"b256", b'0', &field);
    tar.resize(512 * 4, 0);
    assert_both_reject(&tar, runs_past);
    let field = [0xffu8; 12];
    let mut tar = header_with_size_field(b"b256max", b'0', &field);
    tar.resize(512 * 4, 0);
    assert_both_reject(&tar, "size overflow");
}

/// A GNU PAX sparse 1.0 entry: `map` (the numbers, one a line) then `data`, real size `real`.
fn sparse_1_0(name: &str, real: u64, map: &str, data: &[u8]) -> Entry {
    let mut content = map.as_bytes().to_vec();
    content.resize(map.len().div_ceil(512).max(1) * 512, 0);
    content.extend_from_slice(data);
    Entry::file("GNUSparseFile.1/x", content)
        .pax("GNU.sparse.major", "1")
        .pax("GNU.sparse.minor", "0")
        .pax("GNU.sparse.name", name)
        .pax("GNU.sparse.realsize", real.to_string())
}

#[test]
fn hostile_sparse_maps_are_rejected() {
    let cases: Vec<(Entry, &str)> = vec![
        // A fragment past the real size would write (or seek) beyond the file.
        (
            sparse_1_0("f", 100, "1\n90\n20\n", &[1; 20]),
            "ends past the real size",
        ),
        // Overlapping or unordered fragments.
        (
            sparse_1_0("f", 100, "2\n10\n10\n15\n10\n", &[1; 20]),
            "out of order or overlapping",
        ),
        // The map's fragments do not add up to the content.
        (
            sparse_1_0("f", 100, "1\n0\n50\n", &[1; 20]),
            "hold 50 bytes but the entry has 20",
        ),
        // A fragment count no content could hold: the map runs out.
        (
            sparse_1_0("f", 100, "99999999999\n0\n1\n", &[]),
            "ends inside the sparse map",
        ),
        (
            sparse_1_0("f", u64::MAX, "1\n18446744073709551615\n5\n", &[1; 5]),
            "GNU sparse file",
        ),
        (
            sparse_1_0("f", 100, "1\n-1\n5\n", &[1; 5]),
            "invalid number",
        ),
        // 0.1 and 0.0 maps.
        (
            Entry::file("GNUSparseFile.1/x", [1u8; 8])
                .pax("GNU.sparse.size", "100")
                .pax("GNU.sparse.name", "f")
                .pax("GNU.sparse.map", "0,8,95"),
            "invalid GNU.sparse.map",
        ),
        (
            Entry::file("f", [1u8; 8])
                .pax("GNU.sparse.size", "100")
                .pax("GNU.sparse.offset", "96")
                .pax("GNU.sparse.numbytes", "8"),
            "ends past the real size",
        ),
        (
            Entry::file("f", [1u8; 8])
                .pax("GNU.sparse.size", "100")
                .pax("GNU.sparse.numbytes", "8"),
            "numbytes without an offset",
        ),
        (
            Entry::file("GNUSparseFile.1/x", [1u8; 8])
                .pax("GNU.sparse.major", "2")
                .pax("GNU.sparse.minor", "0")
                .pax("GNU.sparse.realsize", "8"),
            "unsupported version 2.0",
        ),
        // Sparse records on something that is not a file.
        (
            Entry::dir("d")
                .pax("GNU.sparse.size", "10")
                .pax("GNU.sparse.map", ""),
            "not a regular file",
        ),
    ];
    for (entry, needle) in cases {
        let s = Sentinel::new();
        assert_rejected(s.apply(&one(entry.clone())), needle);
        s.assert_untouched();
        let err = graph::archive::tar_split::record(&one(entry)[..], Vec::new())
            .expect_err("the tar-split scanner must refuse it too");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    // The real name is checked as any name is.
    let s = Sentinel::new();
    assert_rejected(
        s.apply(&one(sparse_1_0("../../outside", 4, "1\n0\n4\n", b"evil"))),
        "escapes the layer root",
    );
    s.assert_untouched();
    // An absolute real name lands inside the root, as the file it is.
    let s = Sentinel::new();
    let abs = format!("/{}", s.unique);
    s.apply(&one(sparse_1_0(&abs, 1 << 30, "1\n0\n4\n", b"fine")))
        .unwrap();
    let meta = fs::metadata(s.root.join(&s.unique)).unwrap();
    assert_eq!(meta.len(), 1 << 30);
    assert!(meta.blocks() < 64, "holes were written");
    s.assert_untouched();
}

/// An old GNU sparse (`S`) entry of `real` bytes whose only data is its last 512 bytes.
fn old_gnu_sparse(real: u64) -> Vec<u8> {
    let mut h = raw_header(b"huge", b'S', 0o644, 0, 0, 512, 0, b"", (0, 0));
    h[257..265].copy_from_slice(b"ustar  \0");
    let num = |field: &mut [u8], v: u64| {
        field.fill(0);
        field[0] = 0x80;
        field[4..12].copy_from_slice(&v.to_be_bytes());
    };
    num(&mut h[386..398], real - 512); // first fragment's offset
    num(&mut h[398..410], 512); // and length
    num(&mut h[483..495], real); // the real size
    set_checksum(&mut h);
    let mut tar = h.to_vec();
    tar.extend_from_slice(&[b'x'; 512]);
    tar.extend_from_slice(&[0; 1024]);
    tar
}

#[test]
fn old_gnu_sparse_files_claiming_exabytes_are_refused_not_expanded() {
    let s = Sentinel::new();
    assert_rejected(s.apply(&old_gnu_sparse(1 << 60)), "old GNU sparse file");
    s.assert_untouched();
    // The tar-split scanner does not expand it either: it records the raw bytes.
    let mut split = Vec::new();
    graph::archive::tar_split::record(&old_gnu_sparse(1 << 60)[..], &mut split).unwrap();
    // A modest one is applied, holes and all.
    let s = Sentinel::new();
    s.apply(&old_gnu_sparse(4 << 20)).unwrap();
    let meta = fs::metadata(s.root.join("huge")).unwrap();
    assert_eq!(meta.len(), 4 << 20);
    assert!(meta.blocks() < 64);
    s.assert_untouched();
}
