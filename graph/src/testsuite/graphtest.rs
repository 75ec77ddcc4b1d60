//! moby's graphtest cases (`daemon/graphdriver/graphtest`), with moby's assertions.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::driver::{Change, CreateOpts};
use crate::error::ErrorKind;
use crate::id::LayerId;

use super::content::{
    add_many_files, change_many_files, check_many_files, chmod, mkdir, random_content, read,
    read_dir_names, write_file,
};
use super::fixture::{Factory, Store, id};

const S_IFMT: u32 = libc::S_IFMT;

/// moby `verifyFile`: type, permissions, setuid/setgid/sticky and owner are exactly these.
#[track_caller]
fn verify_file(path: &Path, file_type: u32, mode: u32, uid: u32, gid: u32) {
    let md = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    assert_eq!(
        md.mode() & S_IFMT,
        file_type,
        "{}: file type {:o}, want {file_type:o}",
        path.display(),
        md.mode() & S_IFMT
    );
    assert_eq!(
        md.mode() & 0o7777,
        mode,
        "{}: mode {:o}, want {mode:o}",
        path.display(),
        md.mode() & 0o7777
    );
    assert_eq!(
        (md.uid(), md.gid()),
        (uid, gid),
        "{}: owner {}:{}, want {uid}:{gid}",
        path.display(),
        md.uid(),
        md.gid()
    );
}

/// moby `DriverTestCreateEmpty`: an empty layer is an empty 0755 root-owned directory.
pub fn create_empty(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "create-empty") else {
        return;
    };
    let empty = id("empty");
    s.create(&empty, None);
    assert!(s.d().exists(&empty), "exists(empty) after create");
    {
        let m = s.mount(&empty);
        verify_file(m.path(), libc::S_IFDIR, 0o755, 0, 0);
        let names = read_dir_names(m.path());
        assert!(names.is_empty(), "new empty layer has entries {names:?}");
    }
    s.remove(&empty);
}

/// moby `createBase`: a read-write layer with `a subdir` (0705|sticky, 1:2) and `a file`
/// ("Some data", 0222|setuid). Modes are set with chmod, not through the umask.
fn create_base_layer(s: &Store, name: &LayerId) {
    if let Err(e) = s.d().create_rw(name, None, &CreateOpts::default()) {
        panic!("{}: create_rw {name}: {e}", s.d().name());
    }
    let m = s.mount(name);
    let subdir = m.join("a subdir");
    fs::create_dir(&subdir).unwrap_or_else(|e| panic!("mkdir {}: {e}", subdir.display()));
    chmod(&subdir, 0o1705);
    std::os::unix::fs::lchown(&subdir, Some(1), Some(2)).expect("lchown a subdir 1:2");
    write_file(&m.join("a file"), b"Some data", 0o4222);
}

/// moby `verifyBase`.
fn verify_base(s: &Store, name: &LayerId) {
    let m = s.mount(name);
    verify_file(&m.join("a subdir"), libc::S_IFDIR, 0o1705, 1, 2);
    verify_file(&m.join("a file"), libc::S_IFREG, 0o4222, 0, 0);
    let names = read_dir_names(m.path());
    assert_eq!(names.len(), 2, "base layer entries: {names:?}");
}

/// moby `DriverTestCreateBase`.
pub fn create_base(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "create-base") else {
        return;
    };
    let base = id("Base");
    create_base_layer(&s, &base);
    verify_base(&s, &base);
    s.remove(&base);
}

/// moby `DriverTestCreateSnap`: a child sees the base exactly.
pub fn create_snap(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "create-snap") else {
        return;
    };
    let base = id("Base");
    let snap = id("Snap");
    create_base_layer(&s, &base);
    s.create(&snap, Some(&base));
    verify_base(&s, &snap);
    s.remove(&snap);
    s.remove(&base);
}

/// moby `DriverTestDeepLayerRead(layerCount)`: `count` image layers (made with `create`,
/// written through `get`) on a base holding `testfile.txt`; the top sees every layer's files.
pub fn deep_layer_read(factory: Factory<'_>, count: usize) {
    let Some(s) = Store::new(factory, "deep-layer-read") else {
        return;
    };
    let base = LayerId::random();
    s.create(&base, None);
    {
        let m = s.mount(&base);
        write_file(&m.join("testfile.txt"), b"test content", 0o755);
    }
    let mut last = base;
    for i in 1..=count {
        let next = LayerId::random();
        s.create(&next, Some(&last));
        let m = s.mount(&next);
        write_file(&m.join("top-id"), next.as_str().as_bytes(), 0o755);
        let dir = m.join(format!("layer-{i}"));
        mkdir(&dir, 0o755);
        write_file(&dir.join("layer-id"), next.as_str().as_bytes(), 0o755);
        write_file(&dir.join("parent-id"), last.as_str().as_bytes(), 0o755);
        drop(m);
        last = next;
    }
    let m = s.mount(&last);
    let mut want = read(&m.join("top-id"));
    assert_eq!(want, last.as_str().as_bytes(), "top-id of the top layer");
    for i in (1..=count).rev() {
        let dir = m.join(format!("layer-{i}"));
        let got = read(&dir.join("layer-id"));
        assert_eq!(
            got,
            want,
            "layer-{i}/layer-id: {:?}, want {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        want = read(&dir.join("parent-id"));
    }
    assert_eq!(
        read(&m.join("testfile.txt")),
        b"test content",
        "testfile.txt of the base"
    );
}

/// moby `DriverTestDiffApply(fileCount)`.
pub fn diff_apply(factory: Factory<'_>, file_count: usize) {
    let Some(s) = Store::new(factory, "diff-apply") else {
        return;
    };
    let d = s.d();
    let base = LayerId::random();
    let upper = LayerId::random();
    let delete_file = "file-remove.txt";
    let delete_content = b"This file should get removed in upper!";
    let delete_dir = "var/lib";

    s.create(&base, None);
    {
        let m = s.mount(&base);
        add_many_files(m.path(), file_count, 3);
        write_file(&m.join(delete_file), delete_content, 0o755);
        mkdir(&m.join(delete_dir), 0o755);
    }
    s.create(&upper, Some(&base));
    {
        let m = s.mount(&upper);
        add_many_files(m.path(), file_count, 6);
        fs::remove_file(m.join(delete_file)).expect("remove file-remove.txt in upper");
        fs::remove_dir_all(m.join(delete_dir)).expect("remove var/lib in upper");
    }
    let diff_size = d
        .diff_size(&upper, None)
        .unwrap_or_else(|e| panic!("{}: diff_size(upper, None): {e}", d.name()));

    let diff = LayerId::random();
    s.create(&diff, Some(&base));
    {
        let m = s.mount(&diff);
        check_many_files(m.path(), file_count, 3);
        assert_eq!(read(&m.join(delete_file)), delete_content);
    }
    let mut tar = Vec::new();
    d.diff(&upper, Some(&base), &mut tar)
        .unwrap_or_else(|e| panic!("{}: diff(upper, base): {e}", d.name()));
    let applied = d
        .apply_diff(&diff, Some(&base), &mut tar.as_slice())
        .unwrap_or_else(|e| panic!("{}: apply_diff(diff, base): {e}", d.name()));
    assert_eq!(
        applied, diff_size,
        "apply diff size different, got {applied}, expected {diff_size}"
    );
    let m = s.mount(&diff);
    check_many_files(m.path(), file_count, 6);
    for gone in [delete_file, delete_dir] {
        assert!(
            fs::symlink_metadata(m.join(gone)).is_err(),
            "{gone} still exists after applying the diff that removes it"
        );
    }
}

/// moby `DriverTestChanges`: 20 files of seed 3, then `changeManyFiles(20, seed 6)`: exactly
/// 21 changes (the directory Modify, 7 Modify, 7 Add, 6 Delete), compared sorted.
pub fn changes(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "changes") else {
        return;
    };
    let d = s.d();
    let base = LayerId::random();
    let upper = LayerId::random();
    s.create(&base, None);
    {
        let m = s.mount(&base);
        add_many_files(m.path(), 20, 3);
    }
    s.create(&upper, Some(&base));
    let mut expected = {
        let m = s.mount(&upper);
        change_many_files(m.path(), 20, 6)
    };
    let mut got = d
        .changes(&upper, Some(&base))
        .unwrap_or_else(|e| panic!("{}: changes(upper, base): {e}", d.name()));
    expected.sort();
    got.sort();
    assert_eq!(expected.len(), 21, "the suite's own expectation");
    assert_eq!(
        got.len(),
        expected.len(),
        "changes: got {} {}, want {}",
        got.len(),
        show(&got),
        show(&expected)
    );
    for (g, w) in got.iter().zip(&expected) {
        assert_eq!(
            (&g.path, g.kind),
            (&w.path, w.kind),
            "changes: got {}, want {}",
            show(&got),
            show(&expected)
        );
    }
}

fn show(changes: &[Change]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {}", c.kind, c.path.display()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// `diff_size(child, base)` equals what `apply_diff` of that diff reports, and the size of
/// the re-applied layer: new, modified, hard-linked (counted once) and deleted files.
pub fn diff_size_equals_applied_size(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "diff-size") else {
        return;
    };
    let d = s.d();
    let base = id("base");
    let child = id("child");
    s.create(&base, None);
    {
        let m = s.mount(&base);
        mkdir(&m.join("dir"), 0o755);
        write_file(&m.join("dir/keep"), &random_content(1000, 1), 0o644);
        write_file(&m.join("dir/modify"), &random_content(500, 2), 0o644);
        write_file(&m.join("delete"), &random_content(300, 3), 0o644);
        write_file(&m.join("chmod"), &random_content(70, 4), 0o644);
    }
    s.create_rw(&child, Some(&base));
    {
        let m = s.mount(&child);
        write_file(&m.join("dir/modify"), &random_content(4000, 5), 0o644);
        write_file(&m.join("dir/new"), &random_content(12345, 6), 0o600);
        fs::hard_link(m.join("dir/new"), m.join("new-link")).expect("hard link");
        mkdir(&m.join("newdir/sub"), 0o750);
        write_file(&m.join("newdir/sub/empty"), b"", 0o644);
        fs::remove_file(m.join("delete")).expect("remove");
        chmod(&m.join("chmod"), 0o600);
    }
    let want_size: u64 = 4000 + 12345 + 70;
    let size = d
        .diff_size(&child, Some(&base))
        .unwrap_or_else(|e| panic!("{}: diff_size(child, base): {e}", d.name()));
    assert_eq!(size, want_size, "diff_size(child, base)");

    let mut tar = Vec::new();
    d.diff(&child, Some(&base), &mut tar)
        .unwrap_or_else(|e| panic!("{}: diff(child, base): {e}", d.name()));
    let copy = id("copy");
    s.create(&copy, Some(&base));
    let applied = d
        .apply_diff(&copy, Some(&base), &mut tar.as_slice())
        .unwrap_or_else(|e| panic!("{}: apply_diff(copy, base): {e}", d.name()));
    assert_eq!(applied, size, "apply_diff size vs diff_size(child, base)");
    let copy_size = d
        .diff_size(&copy, Some(&base))
        .unwrap_or_else(|e| panic!("{}: diff_size(copy, base): {e}", d.name()));
    assert_eq!(
        copy_size, size,
        "diff_size(copy, base) vs diff_size(child, base)"
    );
}

/// moby `DriverTestSetQuota(required)`: a 50 MiB read-write layer takes 25 MiB and refuses
/// 50 MiB more with EDQUOT or ENOSPC. A driver without quotas says NotSupported: then the case
/// is skipped when not `required` (a missing feature, not a missing privilege: it never
/// fails under `ENGINE_REQUIRE_ROOT_TESTS`).
pub fn set_quota(factory: Factory<'_>, required: bool) {
    const MIB: u64 = 1 << 20;
    let Some(s) = Store::new(factory, "set-quota") else {
        return;
    };
    let d = s.d();
    let base = id("Base");
    create_base_layer(&s, &base);
    let layer = id(&format!("{}Test", d.name()));
    let opts = CreateOpts {
        size: Some(50 * MIB),
    };
    match d.create_rw(&layer, Some(&base), &opts) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotSupported && !required => {
            crate::testsuite::report_skip(&format!("set_quota: {}", d.name()), &e.to_string());
            return;
        }
        Err(e) => panic!("{}: create_rw with size 50 MiB: {e}", d.name()),
    }
    let m = s.mount(&layer);
    if let Err(e) = write_random_file(&m.join("smallfile"), 25 * MIB) {
        panic!("writing 25 MiB into a 50 MiB layer failed: {e}");
    }
    match write_random_file(&m.join("bigfile"), 50 * MIB) {
        Ok(()) => panic!("expected the write of 50 MiB more to fail, instead had success"),
        Err(e) => {
            let errno = e.raw_os_error();
            assert!(
                errno == Some(libc::EDQUOT) || errno == Some(libc::ENOSPC),
                "expected write() to fail with EDQUOT or ENOSPC, got {e}"
            );
        }
    }
}

fn write_random_file(path: &Path, size: u64) -> std::io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.set_permissions(fs::Permissions::from_mode(0o644))?;
    let chunk = random_content(1 << 20, 42);
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}
