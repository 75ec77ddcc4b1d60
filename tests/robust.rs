//! Kills for real (SIGKILL, of the CLI and of the daemon) in the middle of build, load and
//! commit, then checks what the next start leaves: no process, mount, writable layer,
//! cgroup, lease or spool without a live owner, and every image still runs. And a data root
//! on a 100%-full filesystem, where listing and removing must still work.

#![allow(clippy::unwrap_used)] // tests: a failed setup is a failed test

use test_support as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Engine};

/// A unique argument for the RUN steps' `sleep`, to find (and, on failure, kill) them.
fn marker() -> String {
    format!("{}", 100_000 + (std::process::id() % 800_000))
}

/// Pids of processes whose command line is `sleep <marker>`.
fn sleepers(marker: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.trim() == format!("sleep {marker}") {
            // A zombie is dead: only its parent has not looked yet.
            let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            if !state.starts_with('Z') {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Kills the marked sleepers and removes the cgroups of the build ids seen, even when the
/// test fails half-way.
struct Reaper {
    marker: String,
    cgroups: std::cell::RefCell<Vec<String>>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in sleepers(&self.marker) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(100));
        for id in self.cgroups.borrow().iter() {
            for d in cgroup_dirs(id) {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup/engine").join(id)];
    if let Ok(h) = std::fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(h.flatten().map(|h| h.path().join("engine").join(id)));
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// The build ids whose lease exists now.
fn build_leases(e: &Engine) -> Vec<String> {
    names_in(&e.path().join("leases"))
        .into_iter()
        .filter_map(|n| n.strip_prefix("build-").map(str::to_string))
        .collect()
}

fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root))
        .map(str::to_string)
        .collect()
}

/// What must hold after the next start: nothing left without a live owner, and the images
/// run. `builds` are the build ids that were in flight at the kill.
fn assert_clean(e: &Engine, builds: &[String], marker: &str, what: &str) {
    // The next start: its sweep does the work. A process it SIGKILLed (or one another start's
    // sweep is killing at this moment) takes a moment to be gone; one that stays is a leftover.
    e.ok(&["ps", "-a"]);
    wait_until(10, || sleepers(marker).is_empty());
    assert_eq!(
        sleepers(marker),
        Vec::<i32>::new(),
        "{what}: RUN processes left"
    );
    for id in builds {
        assert_eq!(
            cgroup_dirs(id),
            Vec::<PathBuf>::new(),
            "{what}: cgroup of build {id} left"
        );
    }
    assert_eq!(
        mounts_under(e.path()),
        Vec::<String>::new(),
        "{what}: mounts left"
    );
    let layerdb = e.path().join("image").join(e.driver).join("layerdb");
    let containers = names_in(&e.path().join("containers"));
    for rw in names_in(&layerdb.join("mounts")) {
        assert!(
            containers.contains(&rw),
            "{what}: writable layer {rw} of no container left"
        );
    }
    assert_eq!(
        names_in(&layerdb.join("tmp")),
        Vec::<String>::new(),
        "{what}: layer store leftovers"
    );
    assert_eq!(
        names_in(&e.path().join("leases")),
        Vec::<String>::new(),
        "{what}: leases left"
    );
    assert_eq!(
        names_in(&e.path().join("tmp")),
        Vec::<String>::new(),
        "{what}: spools left"
    );
    // The driver holds no layer the layer store does not know.
    let ids = std::fs::read_dir(e.path().join(e.driver))
        .unwrap()
        .flatten()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .count();
    let known = names_in(&layerdb.join("sha256")).len() + names_in(&layerdb.join("mounts")).len();
    assert_eq!(ids, known, "{what}: driver layers the store does not know");
    for image in e.ok(&["images", "-q"]).lines() {
        let out = e.ok(&["run", "--rm", image, "true"]);
        assert_eq!(out, "", "{what}: image {image} runs");
    }
}

/// Waits until `cond` holds or `secs` pass; returns whether it held.
fn wait_until(secs: u64, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn context(e: &Engine, marker: &str) -> PathBuf {
    let dir = e.path().join("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM busybox\nRUN echo one > /one\nRUN echo two > /two && sleep {marker}\nRUN echo never\n"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn root_killed_build_leaves_nothing_after_the_next_start() {
    let Some(e) = Engine::new(
        "root_killed_build_leaves_nothing_after_the_next_start",
        "overlay2",
    ) else {
        return;
    };
    let marker = marker();
    let reaper = Reaper {
        marker: marker.clone(),
        cgroups: Default::default(),
    };
    let ctx = context(&e, &marker);
    // Instants: while the RUN process sleeps (mount, layer, cgroup, process all live), and
    // early, at a few points during the first steps.
    for delay_ms in [None, Some(30), Some(150)] {
        let mut child = e
            .command(&["build", "-t", "never", ctx.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut builds = Vec::new();
        match delay_ms {
            None => {
                assert!(
                    wait_until(30, || !sleepers(&marker).is_empty()),
                    "the RUN step never started"
                );
                builds = build_leases(&e);
                assert_eq!(builds.len(), 1, "one step in flight");
                assert!(!cgroup_dirs(&builds[0]).is_empty(), "the step has a cgroup");
            }
            Some(ms) => std::thread::sleep(Duration::from_millis(ms)),
        }
        builds.extend(build_leases(&e));
        reaper.cgroups.borrow_mut().extend(builds.iter().cloned());
        kill9(&mut child);
        assert_clean(
            &e,
            &builds,
            &marker,
            &format!("build killed at {delay_ms:?}"),
        );
    }
}

#[test]
fn root_daemon_build_and_load_cleaned_after_kills() {
    let test = "root_daemon_build_and_load_cleaned_after_kills";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = common::docker_cli(test) else {
        return;
    };
    let marker = marker();
    let reaper = Reaper {
        marker: marker.clone(),
        cgroups: Default::default(),
    };
    let ctx = context(&e, &marker);

    // A client that goes cancels its build: the daemon kills the step and removes it.
    let d = Daemon::start(&e, docker.clone());
    let mut client = d
        .command(&["build", "-t", "never", ctx.to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(30, || !sleepers(&marker).is_empty()),
        "RUN never started"
    );
    let builds = build_leases(&e);
    reaper.cgroups.borrow_mut().extend(builds.iter().cloned());
    kill9(&mut client);
    assert!(
        wait_until(10, || sleepers(&marker).is_empty()
            && build_leases(&e).is_empty()),
        "the daemon kept building after its client went"
    );
    assert_eq!(mounts_under(e.path()), Vec::<String>::new());

    // The daemon killed during a build.
    let mut client = d
        .command(&["build", "-t", "never", ctx.to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(30, || !sleepers(&marker).is_empty()),
        "RUN never started"
    );
    let builds = build_leases(&e);
    reaper.cgroups.borrow_mut().extend(builds.iter().cloned());
    drop(d);
    kill9(&mut client);
    assert_clean(&e, &builds, &marker, "daemon killed during a build");

    // The daemon killed during `load`, at a few instants of a 64 MiB archive.
    let bigctx = e.path().join("bigctx");
    std::fs::create_dir_all(&bigctx).unwrap();
    std::fs::write(bigctx.join("blob"), vec![7u8; 64 << 20]).unwrap();
    std::fs::write(bigctx.join("Dockerfile"), "FROM busybox\nCOPY blob /blob\n").unwrap();
    e.ok(&["build", "-q", "-t", "big", bigctx.to_str().unwrap()]);
    std::fs::remove_dir_all(&bigctx).unwrap();
    let saved = e.path().join("big-saved.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), "big"]);
    e.ok(&["rmi", "big"]);
    for delay_ms in [100, 400, 900] {
        let d = Daemon::start(&e, docker.clone());
        let mut client = d
            .command(&["load", "-i", saved.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        drop(d);
        kill9(&mut client);
        assert_clean(
            &e,
            &[],
            &marker,
            &format!("daemon killed {delay_ms} ms into a load"),
        );
        // What did load is whole; what did not is absent.
        let _ = e.engine(&["rmi", "big"]);
    }
}

#[test]
fn root_killed_commit_leaves_no_mount_and_no_layer() {
    let Some(e) = Engine::new(
        "root_killed_commit_leaves_no_mount_and_no_layer",
        "overlay2",
    ) else {
        return;
    };
    // A 96 MiB layer, so a commit takes long enough to be killed half-way.
    e.ok(&[
        "run",
        "--name",
        "fat",
        "busybox",
        "sh",
        "-c",
        "busybox dd if=/dev/zero of=/fat bs=1M count=96 2>/dev/null",
    ]);
    for delay_ms in [20, 150, 400] {
        let mut child = e
            .command(&["commit", "fat", "fat-image"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill9(&mut child);
        assert_clean(&e, &[], "none", &format!("commit killed at {delay_ms} ms"));
        // The committed layer exists only with its image: busybox's layer, or both.
        let committed = e
            .engine(&["image", "inspect", "fat-image"])
            .status
            .success();
        let layerdb = e.path().join("image").join(e.driver).join("layerdb");
        assert_eq!(
            names_in(&layerdb.join("sha256")).len(),
            if committed { 2 } else { 1 },
            "commit killed at {delay_ms} ms (image made: {committed}): a layer of no image left"
        );
        let _ = e.engine(&["rmi", "fat-image"]);
    }
    // And a commit left alone still works.
    e.ok(&["commit", "fat", "fat-image"]);
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "fat-image",
            "sh",
            "-c",
            "test -s /fat && echo yes"
        ]),
        "yes\n"
    );
}

/// A loop-mounted ext4 of `mib` MiB at `dir`; unmounted and its loop device freed on drop.
struct LoopFs {
    dir: tempfile::TempDir,
    image: PathBuf,
}

impl LoopFs {
    fn new(mib: u64) -> Option<LoopFs> {
        let dir = tempfile::Builder::new()
            .prefix("engine-full-")
            .tempdir()
            .unwrap();
        let image = dir.path().with_extension("img");
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(mib << 20).unwrap();
        drop(f);
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&image)
            .status();
        if !mkfs.is_ok_and(|s| s.success()) {
            let _ = std::fs::remove_file(&image);
            return None;
        }
        let fs = LoopFs { dir, image };
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&fs.image)
            .arg(fs.dir.path())
            .status();
        mounted.is_ok_and(|s| s.success()).then_some(fs)
    }

    /// Fills the filesystem to the last block.
    fn fill(&self) {
        for i in 0.. {
            let p = self.dir.path().join(format!("fill-{i}"));
            let Ok(mut f) = std::fs::File::create(&p) else {
                return;
            };
            let chunk = vec![0u8; 4096];
            let mut wrote = false;
            while std::io::Write::write_all(&mut f, &chunk).is_ok() {
                wrote = true;
            }
            let _ = f.sync_all();
            if !wrote {
                return;
            }
        }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        common::kill_processes_mentioning(self.dir.path());
        common::unmount_under(&self.dir.path().join("root"));
        // umount -d frees the loop device with the mount.
        let _ = Command::new("umount")
            .arg("-d")
            .arg(self.dir.path())
            .status();
        let _ = std::fs::remove_file(&self.image);
    }
}

#[test]
fn root_full_disk_lists_and_removes() {
    let test = "root_full_disk_lists_and_removes";
    if !graph::testsuite::root_available(test) {
        return;
    }
    let Some(fs) = LoopFs::new(64) else {
        graph::testsuite::skip(test, "needs mkfs.ext4 and a loop device");
        return;
    };
    let root = fs.dir.path().join("root");
    let engine = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_engine"))
            .arg("--data-root")
            .arg(&root)
            .arg("--storage-driver")
            .arg("overlay2")
            .args(args)
            .stdin(Stdio::null())
            .env_remove("ENGINE_LOG")
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| {
        let out = engine(args);
        assert!(
            out.status.success(),
            "engine {args:?} on a full disk: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let tar = fs.dir.path().join("busybox.tar");
    std::fs::write(&tar, common::busybox_tar()).unwrap();
    ok(&["import", tar.to_str().unwrap(), "busybox"]);
    std::fs::remove_file(&tar).unwrap();
    ok(&["tag", "busybox", "other"]);
    ok(&["create", "--name", "one", "busybox", "true"]);
    ok(&["create", "--name", "two", "busybox", "true"]);
    ok(&[
        "run",
        "--name",
        "fat",
        "busybox",
        "sh",
        "-c",
        "busybox dd if=/dev/zero of=/fat bs=1M count=8 2>/dev/null",
    ]);

    // A commit that runs out of space half-way says so (not "Broken pipe"). 1 MiB is left
    // so the commit starts; the 8 MiB layer cannot fit.
    let reserve = fs.dir.path().join("reserve");
    std::fs::write(&reserve, vec![0u8; 1 << 20]).unwrap();
    fs.fill();
    std::fs::remove_file(&reserve).unwrap();
    let out = engine(&["commit", "fat", "fat-image"]);
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success());
    assert!(err.contains("no space left on device"), "{err}");
    assert!(!err.contains("broken pipe"), "{err}");

    // Before each command the disk is filled again: each works at 100%.
    fs.fill();
    let snapshot = |dir: &Path| {
        let mut v = Vec::new();
        for e in walkdir(dir) {
            v.push(e);
        }
        v
    };
    let before = snapshot(&root);
    assert!(ok(&["ps", "-a"]).contains("one"));
    assert!(ok(&["images"]).contains("other"));
    assert_eq!(
        snapshot(&root),
        before,
        "read-only commands wrote in the data root"
    );
    for args in [
        &["rm", "one"][..],
        &["rmi", "other"],
        &["container", "prune", "-f"],
        &["image", "prune", "-a", "-f"],
    ] {
        fs.fill();
        ok(args);
    }
    assert_eq!(ok(&["ps", "-aq"]), "");
    assert_eq!(ok(&["images", "-q"]), "");
}

/// Every path under `dir` with its length and modification time.
fn walkdir(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() && !m.file_type().is_symlink() {
                stack.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().ok()));
        }
    }
    out.sort();
    out
}
