//! A busybox root filesystem, for tests that run containers: the host's static busybox
//! (Debian's busybox-static) with its applets as symlinks.

/// The host's static busybox.
pub const BUSYBOX: &str = "/bin/busybox";

/// The applets the rootfs links to busybox.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "id", "hostname", "ls", "nc", "httpd", "tail", "top", "true",
    "false", "rm", "mkdir", "env", "pwd", "touch", "stat", "test", "wc", "grep", "wget",
    "nslookup", "ip", "cut", "sort", "uniq", "head", "timeout", "mknod", "unshare", "ping", "kill",
    "tty",
];

/// A root filesystem with a static busybox and its applets, /etc/passwd and /etc/group.
pub fn busybox_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, &[][..]).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, data).unwrap();
    };
    for d in ["bin", "etc", "tmp", "root", "www"] {
        dir(&mut b, d);
    }
    file(
        &mut b,
        "bin/busybox",
        &std::fs::read(BUSYBOX).unwrap(),
        0o755,
    );
    for applet in APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    file(
        &mut b,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n",
        0o644,
    );
    file(
        &mut b,
        "etc/group",
        b"root:x:0:\napp:x:1000:\nstaff:x:50:\n",
        0o644,
    );
    file(&mut b, "www/index.html", b"hello from httpd\n", 0o644);
    file(&mut b, "etc/notexec", b"not a program\n", 0o644);
    b.into_inner().unwrap()
}
