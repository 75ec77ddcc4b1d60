//! containerd's snapshotter cases (`core/snapshots/testsuite`): a chain of layers, each built
//! by one list of steps. The same steps are applied to a plain directory ("flat"), and every
//! layer, mounted, must equal flat so far. Each layer's diff against its parent is also
//! applied to a new layer on that parent, which must equal the original to the second.

use std::fs;
use std::path::{Path, PathBuf};

use crate::id::LayerId;

use super::content::{chmod, write_file};
use super::fixture::{Factory, Store, id};
use super::tree_snapshot::{assert_trees_eq, snapshot_tree, without_mtimes};

/// One filesystem step (containerd `fstest.Applier`). Paths are relative to the tree root.
#[derive(Debug, Clone)]
pub enum Step {
    /// Creates a directory with exactly this mode.
    CreateDir(String, u32),
    /// Writes a file (replacing any) and sets exactly this mode.
    CreateFile(String, Vec<u8>, u32),
    /// Removes a path and everything under it.
    RemoveAll(String),
    /// `lchown`.
    Chown(String, u32, u32),
    /// Sets the mode bits.
    Chmod(String, u32),
    /// Hard links the first path as the second.
    Link(String, String),
    /// Renames the first path to the second.
    Rename(String, String),
    /// Sets an extended attribute (not following symlinks).
    SetXattr(String, &'static str, Vec<u8>),
}

impl Step {
    /// Applies the step under `root`, panicking on failure (steps are the suite's own).
    pub fn apply(&self, root: &Path) {
        let at = |p: &str| -> PathBuf { root.join(p.trim_start_matches('/')) };
        let fail = |what: &str, p: &str, e: std::io::Error| -> ! { panic!("{what} {p}: {e}") };
        match self {
            Step::CreateDir(p, mode) => {
                fs::create_dir(at(p)).unwrap_or_else(|e| fail("mkdir", p, e));
                chmod(&at(p), *mode);
            }
            Step::CreateFile(p, data, mode) => write_file(&at(p), data, *mode),
            Step::RemoveAll(p) => {
                let path = at(p);
                let res = match fs::symlink_metadata(&path) {
                    Ok(md) if md.is_dir() => fs::remove_dir_all(&path),
                    Ok(_) => fs::remove_file(&path),
                    Err(_) => Ok(()),
                };
                res.unwrap_or_else(|e| fail("remove", p, e));
            }
            Step::Chown(p, uid, gid) => std::os::unix::fs::lchown(at(p), Some(*uid), Some(*gid))
                .unwrap_or_else(|e| fail("chown", p, e)),
            Step::Chmod(p, mode) => chmod(&at(p), *mode),
            Step::Link(old, new) => {
                fs::hard_link(at(old), at(new)).unwrap_or_else(|e| fail("link", new, e))
            }
            Step::Rename(old, new) => {
                fs::rename(at(old), at(new)).unwrap_or_else(|e| fail("rename", old, e))
            }
            Step::SetXattr(p, name, value) => {
                xattr::set(at(p), name, value).unwrap_or_else(|e| fail("setxattr", p, e))
            }
        }
    }
}

/// containerd `checkSnapshots`: builds one layer per step list (each on the previous one,
/// with `create`, written through `get`) and checks every layer against flat and its diff.
pub fn check_chain(factory: Factory<'_>, tag: &str, layers: &[Vec<Step>]) {
    let Some(s) = Store::new(factory, tag) else {
        return;
    };
    let flat = s.scratch("flat");
    chmod(&flat, 0o755);
    std::os::unix::fs::lchown(&flat, Some(0), Some(0)).expect("chown flat root");
    let mut parent: Option<LayerId> = None;
    for (i, steps) in layers.iter().enumerate() {
        let layer = id(&format!("layer-{i}"));
        s.create(&layer, parent.as_ref());
        {
            let m = s.mount(&layer);
            for step in steps {
                step.apply(m.path());
            }
        }
        for step in steps {
            step.apply(&flat);
        }
        let got = {
            let m = s.mount(&layer);
            snapshot_tree(m.path())
        };
        assert_trees_eq(
            &without_mtimes(snapshot_tree(&flat)),
            &without_mtimes(got),
            &format!("{tag}: layer {i} (left: flat directory, right: mounted layer)"),
        );
        check_diff_reapplies(&s, &layer, parent.as_ref(), &format!("{tag}: layer {i}"));
        parent = Some(layer);
    }
}

/// `diff(layer, parent)` applied to a new layer on `parent` gives the same tree as `layer`.
pub fn check_diff_reapplies(s: &Store, layer: &LayerId, parent: Option<&LayerId>, what: &str) {
    let d = s.d();
    let mut tar = Vec::new();
    d.diff(layer, parent, &mut tar)
        .unwrap_or_else(|e| panic!("{what}: diff({layer}, {parent:?}): {e}"));
    let copy = id(&format!("copy-of-{layer}"));
    s.create(&copy, parent);
    d.apply_diff(&copy, parent, &mut tar.as_slice())
        .unwrap_or_else(|e| panic!("{what}: apply_diff of its diff: {e}"));
    let want = {
        let m = s.mount(layer);
        snapshot_tree(m.path())
    };
    let got = {
        let m = s.mount(&copy);
        snapshot_tree(m.path())
    };
    assert_trees_eq(
        &want,
        &got,
        &format!("{what}: its diff re-applied (left: layer, right: re-applied copy)"),
    );
}

fn file(p: &str, data: &str, mode: u32) -> Step {
    Step::CreateFile(p.into(), data.as_bytes().to_vec(), mode)
}

fn dir(p: &str, mode: u32) -> Step {
    Step::CreateDir(p.into(), mode)
}

fn rm(p: &str) -> Step {
    Step::RemoveAll(p.into())
}

fn chown(p: &str, uid: u32, gid: u32) -> Step {
    Step::Chown(p.into(), uid, gid)
}

/// containerd `LayerFileupdate`: a child rewrites files and modes of its parent's files.
pub fn layer_file_update(factory: Factory<'_>) {
    let l1 = vec![
        dir("/etc", 0o700),
        file("/etc/hosts", "mydomain 10.0.0.1", 0o644),
        file("/etc/profile", "PATH=/usr/bin", 0o644),
    ];
    let l2 = vec![
        file("/etc/hosts", "mydomain 10.0.0.2", 0o644),
        file("/etc/profile", "PATH=/usr/bin", 0o666),
        dir("/root", 0o700),
        file("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0o644),
    ];
    check_chain(factory, "layer-file-update", &[l1, l2]);
}

/// containerd `RemoveDirectoryInLowerLayer`: a child removes a parent's directory and makes a
/// new one of the same name (an opaque directory); a grandchild does it again.
pub fn remove_directory_in_lower_layer(factory: Factory<'_>) {
    let l1 = vec![
        dir("/lib", 0o700),
        file("/lib/hidden", "", 0o644),
        dir("/lib/sub", 0o755),
        file("/lib/sub/deep", "deep", 0o644),
    ];
    let l2 = vec![
        rm("/lib"),
        dir("/lib", 0o700),
        file("/lib/pxelinux.0", "", 0o755),
    ];
    let l3 = vec![
        rm("/lib"),
        dir("/lib", 0o750),
        file("/lib/hidden", "back", 0o600),
    ];
    check_chain(factory, "remove-dir-in-lower", &[l1, l2, l3]);
}

/// containerd `Chown`: a child changes the owner of a parent's directories and file.
pub fn chown_in_child(factory: Factory<'_>) {
    let l1 = vec![
        dir("/opt", 0o700),
        dir("/opt/a", 0o700),
        dir("/opt/a/b", 0o700),
        file("/opt/a/b/file.txt", "hello", 0o644),
    ];
    let l2 = vec![
        chown("/opt", 1, 1),
        chown("/opt/a", 1, 1),
        chown("/opt/a/b", 1, 1),
        chown("/opt/a/b/file.txt", 1, 1),
    ];
    check_chain(factory, "chown", &[l1, l2]);
}

/// containerd `DirectoryPermissionOnCommit`: directory owners and modes from lower layers
/// survive children that add files in them, chown them or chmod them.
pub fn directory_permission_on_commit(factory: Factory<'_>) {
    let l1 = vec![
        dir("/dir1", 0o700),
        dir("/dir2", 0o700),
        dir("/dir3", 0o700),
        dir("/dir4", 0o700),
        file("/dir4/foo", "foo\n", 0o777),
        dir("/dir5", 0o700),
        file("/dir5/foo", "foo\n", 0o777),
        chown("/dir1", 1, 1),
        chown("/dir2", 1, 1),
        chown("/dir3", 1, 1),
        chown("/dir5", 1, 1),
        chown("/dir5/foo", 1, 1),
    ];
    let l2 = vec![
        dir("/dir6", 0o700),
        dir("/dir6/foo", 0o700),
        chown("/dir1", 2, 2),
        chown("/dir6", 2, 2),
        chown("/dir6/foo", 2, 2),
        Step::Chmod("/dir4".into(), 0o2755),
        file("/dir2/new", "new\n", 0o644),
    ];
    let l3 = vec![
        file("/dir1/foo", "foo\n", 0o777),
        file("/dir3/foo", "foo\n", 0o777),
        file("/dir4/bar", "bar\n", 0o777),
        file("/dir6/foo/foo", "foo\n", 0o777),
        Step::Chmod("/dir5".into(), 0o1777),
    ];
    check_chain(factory, "dir-permission", &[l1, l2, l3]);
}

/// containerd `DeletedFilesInChildSnapshot`: deletions in a child stay deleted in its children,
/// and a path deleted by one layer can come back in the next.
pub fn deleted_files_in_child(factory: Factory<'_>) {
    let l1 = vec![
        file("/foo", "foo\n", 0o777),
        file("/bar", "bar\n", 0o777),
        dir("/dir", 0o755),
        file("/dir/inner", "inner\n", 0o644),
    ];
    let l2 = vec![rm("/foo"), rm("/dir/inner")];
    let l3 = vec![rm("/bar"), file("/foo", "foo again\n", 0o600)];
    let l4 = vec![rm("/dir")];
    check_chain(factory, "deleted-in-child", &[l1, l2, l3, l4]);
}

/// containerd `MoveFileFromLowerLayer`: a child renames and hard links files of its parent into
/// a new directory and removes the parent's directories.
pub fn move_file_from_lower_layer(factory: Factory<'_>) {
    let l1 = vec![
        dir("/dir1", 0o700),
        file("/dir1/f1", "Hello", 0o644),
        dir("/dir2", 0o700),
        file("/dir2/f2", "...", 0o644),
        file("/dir2/f3", "moved", 0o640),
    ];
    let l2 = vec![
        dir("/dir3", 0o700),
        file("/dir3/f1", "Hello", 0o644),
        rm("/dir1"),
        Step::Link("/dir2/f2".into(), "/dir3/f2".into()),
        Step::Rename("/dir2/f3".into(), "/dir3/f3".into()),
        rm("/dir2"),
    ];
    check_chain(factory, "move-from-lower", &[l1, l2]);
}

/// Extended attributes on files and directories, set in a base and changed in a child,
/// with values an archive must carry byte for byte: empty, text with newlines, binary
/// (a `security.capability`-like blob, set as `user.*` so no capability is granted).
pub fn xattrs_in_layers(factory: Factory<'_>) {
    let xattr = |p: &str, name: &'static str, v: &[u8]| Step::SetXattr(p.into(), name, v.to_vec());
    let cap = [
        0u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let l1 = vec![
        dir("/etc", 0o755),
        file("/etc/plain", "plain", 0o644),
        xattr("/etc/plain", "user.plain", b"value"),
        xattr("/etc", "user.dir", b"on a directory"),
        file("/bin-ping", "ELF", 0o755),
        xattr("/bin-ping", "user.cap", &cap),
        xattr("/bin-ping", "user.empty", b""),
    ];
    let l2 = vec![
        xattr("/etc/plain", "user.plain", b"line one\nline two\n"),
        xattr("/etc", "user.newline", b"\n"),
        file("/etc/new", "new", 0o600),
        xattr("/etc/new", "user.nul", b"a\0b"),
    ];
    check_chain(factory, "xattrs", &[l1, l2]);
}

/// containerd `128LayersMount`: 128 layers, each overwriting one file, adding one, and
/// replacing a directory of the layers below; every layer equals flat.
pub fn layers_128_mount(factory: Factory<'_>) {
    let mut layers = vec![vec![
        file("/bottom", "way at the bottom\n", 0o777),
        file("/overwriteme", "FIRST!\n", 0o777),
        dir("/ADDHERE", 0o755),
        dir("/ONLYME", 0o755),
        file("/ONLYME/bottom", "bye!\n", 0o777),
    ]];
    for i in 1..=127usize {
        layers.push(vec![
            Step::CreateFile(
                "/overwriteme".into(),
                format!("{i} WAS HERE!\n").into_bytes(),
                0o777,
            ),
            Step::CreateFile(format!("/ADDHERE/file-{i}"), b"same\n".to_vec(), 0o755),
            rm("/ONLYME"),
            dir("/ONLYME", 0o755),
            Step::CreateFile(format!("/ONLYME/file-{i}"), b"only me!\n".to_vec(), 0o777),
        ]);
    }
    check_chain(factory, "128-layers", &layers);
}
