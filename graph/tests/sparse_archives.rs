//! Sparse files as GNU tar writes them (`--sparse` with `--format=posix`, versions 0.0, 0.1
//! and 1.0, and old GNU `S` entries): applied as the sparse file they are (real name, real
//! size, holes left as holes), and their tar-split reassembles the archive byte for byte.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use graph::archive::{ApplyOptions, WhiteoutFormat, apply_layer, tar_split};

const LOGICAL: u64 = 10 << 20;
const MARKS: [(u64, &[u8]); 3] = [(0, b"HEAD"), (5_000_000, b"MIDDLE"), (LOGICAL - 4, b"TAIL")];

/// A directory with `dir/sparse.img` (10 MiB, three small data runs) and a plain file.
fn source(dir: &Path) {
    fs::create_dir_all(dir.join("dir")).unwrap();
    let f = fs::File::create(dir.join("dir/sparse.img")).unwrap();
    f.set_len(LOGICAL).unwrap();
    for (at, data) in MARKS {
        f.write_all_at(data, at).unwrap();
    }
    fs::write(dir.join("plain.txt"), "plain\n").unwrap();
}

/// GNU tar's archive of `src`, or None (and SKIP) without GNU tar.
fn gnu_tar(src: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("tar")
        .args(args)
        .arg("-C")
        .arg(src)
        .args(["-cf", "-", "dir", "plain.txt"])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(o.stdout),
        _ => {
            graph::testsuite::skip("sparse_archives", "needs GNU tar");
            None
        }
    }
}

fn check(args: &[&str]) {
    let src = tempfile::tempdir().unwrap();
    source(src.path());
    let Some(tar) = gnu_tar(src.path(), args) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    apply_layer(
        root.path(),
        &mut &tar[..],
        &ApplyOptions {
            whiteouts: WhiteoutFormat::Delete,
        },
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mut top: Vec<_> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["dir", "plain.txt"], "{args:?}");
    let names: Vec<_> = fs::read_dir(root.path().join("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["sparse.img"], "{args:?}: junk beside the file");
    let path = root.path().join("dir/sparse.img");
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), LOGICAL, "{args:?}: logical size");
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "{args:?}: {} bytes allocated: the holes were written",
        meta.blocks() * 512
    );
    let f = fs::File::open(&path).unwrap();
    for (at, data) in MARKS {
        let mut buf = vec![0u8; data.len()];
        f.read_exact_at(&mut buf, at).unwrap();
        assert_eq!(buf, data, "{args:?}: at {at}");
    }
    let mut gap = vec![1u8; 4096];
    f.read_exact_at(&mut gap, 1 << 20).unwrap();
    assert!(
        gap.iter().all(|b| *b == 0),
        "{args:?}: a hole reads as zeros"
    );
    assert_eq!(fs::read(root.path().join("plain.txt")).unwrap(), b"plain\n");

    // The tar-split rebuilds GNU tar's exact bytes from the applied files.
    let mut split = Vec::new();
    tar_split::record(&tar[..], &mut split).unwrap();
    let mut again = Vec::new();
    let n = tar_split::reassemble(&split[..], root.path(), &mut again).unwrap();
    assert_eq!(n, tar.len() as u64, "{args:?}");
    assert!(again == tar, "{args:?}: the reassembled tar differs");
    assert_eq!(
        tar_split::reassembled_size(&split[..]).unwrap(),
        tar.len() as u64
    );
    // The holes are not in the record.
    assert!(
        split.len() < 64 << 10,
        "{args:?}: tar-split is {} bytes",
        split.len()
    );
}

#[test]
fn pax_sparse_1_0_is_applied_as_a_sparse_file() {
    check(&["--sparse", "--format=posix"]);
    check(&["--sparse", "--format=posix", "--sparse-version=1.0"]);
}

#[test]
fn pax_sparse_0_1_is_applied_as_a_sparse_file() {
    check(&["--sparse", "--format=posix", "--sparse-version=0.1"]);
}

#[test]
fn pax_sparse_0_0_is_applied_as_a_sparse_file() {
    check(&["--sparse", "--format=posix", "--sparse-version=0.0"]);
}

#[test]
fn old_gnu_sparse_is_applied_as_a_sparse_file() {
    check(&["--sparse", "--format=gnu"]);
}
