//! `docker build` options through Docker's own CLI (classic builder, DOCKER_BUILDKIT=0)
//! against `engine daemon`, and through `engine build`: the Dockerfile from standard input
//! (`-f -`), labels, platform, RUN resources and hosts, pull, cache-from, the refusals, and
//! COPY through an image's absolute symlinks. Root tier; each test has its own data root.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A context directory with these files.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("engine-build-opts-")
        .tempdir()
        .unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// `docker build ARGS` in `dir` (classic builder), with `stdin` fed.
fn docker_build(d: &Daemon, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let mut child = d
        .command(&all)
        .current_dir(dir)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn refused(out: &Output, want: &str, what: &str) {
    assert!(!out.status.success(), "{what} succeeded:\n{}", stdout(out));
    let err = stderr(out);
    assert!(err.contains(want), "{what}: {err:?} lacks {want:?}");
}

/// `engine build ARGS CONTEXT`, with `stdin` fed.
fn engine_build(e: &Engine, args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let mut child = e
        .command(&all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn tar_of(dir: &Path) -> Vec<u8> {
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    tar.stdout
}

#[test]
fn root_docker_build_reads_the_dockerfile_from_stdin() {
    let test = "root_docker_build_reads_the_dockerfile_from_stdin";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let ctx = context(&[("a.txt", "from the context\n")]);
    // Docker's CLI sends the Dockerfile as the tar's last entry, without the padding and the
    // end-of-archive blocks.
    let dockerfile = b"FROM busybox\nCOPY a.txt /\nCMD [\"cat\", \"/a.txt\"]\n";
    let out = docker_build(&d, ctx.path(), &["-f-", "-t", "fromstdin", "."], dockerfile);
    let text = ok(&out, "docker build -f- .");
    assert!(
        text.contains("Successfully tagged fromstdin:latest"),
        "{text}"
    );
    assert_eq!(d.ok(&["run", "--rm", "fromstdin"]), "from the context\n");

    // A tar cut inside an entry's data stays an error naming the entry and its source.
    let big = "x".repeat(5000);
    let cut_ctx = context(&[("Dockerfile", "FROM busybox\n"), ("big.txt", &big)]);
    let full = tar_of(cut_ctx.path());
    let at = full
        .windows(7)
        .position(|w| w == b"big.txt")
        .expect("big.txt in the tar");
    let truncated = &full[..at + 512 + 1000];
    let out = docker_build(&d, cut_ctx.path(), &["-"], truncated);
    refused(&out, "big.txt", "docker build - with a truncated tar");
    refused(
        &out,
        "the request body",
        "docker build - with a truncated tar",
    );
    let out = engine_build(&e, &["-"], truncated);
    refused(&out, "big.txt", "engine build - with a truncated tar");
    refused(
        &out,
        "standard input",
        "engine build - with a truncated tar",
    );
    // Nothing is left of the failed builds.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

/// The values of the cgroup of the process `pid`, read on the host: memory limit, CFS quota
/// and period, CPU shares and cpuset.
fn cgroup_values(pid: u32) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let files: &[&str] = match controllers {
            "" => &["memory.max", "cpu.max", "cpu.weight", "cpuset.cpus"],
            c if c.split(',').any(|c| c == "memory") => &["memory.limit_in_bytes"],
            c if c.split(',').any(|c| c == "cpu") => {
                &["cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"]
            }
            "cpuset" => &["cpuset.cpus"],
            _ => &[],
        };
        let dir = if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}")
        } else {
            let mount = controllers.split(',').collect::<Vec<_>>().join(",");
            let base = if Path::new(&format!("/sys/fs/cgroup/{mount}")).exists() {
                mount
            } else {
                controllers.split(',').next().unwrap().to_string()
            };
            format!("/sys/fs/cgroup/{base}{path}")
        };
        for f in files {
            if let Ok(v) = std::fs::read_to_string(format!("{dir}/{f}")) {
                out.push((f.to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

/// The parent of `pid` (0 when it is gone).
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The pid of a `sleep` with these exact arguments run by this test's build, once it runs:
/// one that descends from this test process (the daemon it started, or what that daemon
/// detached and this process, a subreaper, adopted), not another checkout's.
fn wait_for_sleep(arg: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(120);
    let me = std::process::id();
    let descends = |mut pid: u32| {
        while pid > 1 {
            if pid == me {
                return true;
            }
            pid = parent_of(pid);
        }
        false
    };
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline == format!("sleep\0{arg}\0").as_bytes() && descends(pid) {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "the RUN step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn root_docker_build_applies_labels_limits_and_hosts_to_run_steps() {
    let test = "root_docker_build_applies_labels_limits_and_hosts_to_run_steps";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN df -k /dev/shm | tail -n 1 | awk '{print $2}' > /shm && ulimit -n > /nofile && grep myhost /etc/hosts > /hosts\n\
         RUN sleep 7071 || true\n\
         CMD [\"cat\", \"/shm\", \"/nofile\", \"/hosts\"]\n",
    )]);
    let args = [
        "--label",
        "org.example.built-by=build options test",
        "--label",
        "second=$NOT_EXPANDED",
        "--shm-size",
        "96m",
        "--ulimit",
        "nofile=1234:2345",
        "--add-host",
        "myhost:10.1.2.3",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "-t",
        "opts",
        ".",
    ];
    let build = {
        let mut all = vec!["build"];
        all.extend_from_slice(&args);
        d.command(&all)
            .current_dir(ctx.path())
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The second RUN's cgroup, seen from the host while it runs.
    let pid = wait_for_sleep("7071");
    let values = cgroup_values(pid);
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let out = build.wait_with_output().unwrap();
    let text = ok(&out, "docker build with options");
    let value = |k: &str| {
        values
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in {values:?}"))
    };
    if values.iter().any(|(f, _)| f == "memory.limit_in_bytes") {
        assert_eq!(value("memory.limit_in_bytes"), "67108864");
        assert_eq!(value("cpu.cfs_quota_us"), "50000");
        assert_eq!(value("cpu.cfs_period_us"), "100000");
        assert_eq!(value("cpu.shares"), "512");
    } else {
        assert_eq!(value("memory.max"), "67108864");
        assert_eq!(value("cpu.max"), "50000 100000");
    }
    assert_eq!(value("cpuset.cpus"), "0");
    // The labels: one LABEL step each, sorted, values as given.
    assert!(
        text.contains("LABEL org.example.built-by=build options test"),
        "{text}"
    );
    let labels = d.ok(&["image", "inspect", "-f", "{{json .Config.Labels}}", "opts"]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["org.example.built-by"], "build options test");
    assert_eq!(labels["second"], "$NOT_EXPANDED");
    assert_eq!(
        d.ok(&["run", "--rm", "opts"]),
        "98304\n1234\n10.1.2.3\tmyhost\n"
    );

    // The same through `engine build` (without the step that waits to be looked at).
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN df -k /dev/shm | tail -n 1 | awk '{print $2}' > /shm && ulimit -n > /nofile && grep myhost /etc/hosts > /hosts\n\
         CMD [\"cat\", \"/shm\", \"/nofile\", \"/hosts\"]\n",
    )]);
    let out = e.engine(&[
        "build",
        "--no-cache",
        "--label",
        "via=engine",
        "--shm-size",
        "80m",
        "--ulimit",
        "nofile=999:999",
        "--add-host",
        "myhost:10.9.9.9",
        "-t",
        "opts2",
        "-f",
        ctx.path().join("Dockerfile").to_str().unwrap(),
        ctx.path().to_str().unwrap(),
    ]);
    ok(&out, "engine build with options");
    assert_eq!(
        e.ok(&["run", "--rm", "opts2"]),
        "81920\n999\n10.9.9.9\tmyhost\n"
    );
    assert!(
        e.ok(&["image", "inspect", "-f", "{{json .Config.Labels}}", "opts2"])
            .contains("\"via\":\"engine\"")
    );

    // Refused, by name, before anything runs.
    let plain = context(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    for (flags, want) in [
        (&["--rm=false"][..], "--rm=false"),
        (&["--squash"][..], "experimental"),
        (&["--isolation", "hyperv"][..], "isolation"),
        (&["--cgroup-parent", "/elsewhere"][..], "cgroup"),
        (&["-m", "1k"][..], "Minimum memory limit"),
        (&["--ulimit", "bogus=1"][..], "bogus"),
        (&["--add-host", "nocolon"][..], "add-host"),
    ] {
        let mut all = flags.to_vec();
        all.push(".");
        let out = docker_build(&d, plain.path(), &all, b"");
        refused(&out, want, &format!("docker build {flags:?}"));
        let mut all = flags.to_vec();
        all.push(plain.path().to_str().unwrap());
        let out = engine_build(&e, &all, b"");
        refused(&out, want, &format!("engine build {flags:?}"));
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn root_docker_build_platform_pull_and_cache_from() {
    let test = "root_docker_build_platform_pull_and_cache_from";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let host = d
        .ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}}",
            "busybox",
        ])
        .trim()
        .to_string();
    let other = if host == "linux/arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN echo $RANDOM > /r\nCMD [\"cat\", \"/r\"]\n",
        ),
        ("a.txt", "a\n"),
    ]);
    // This host's platform builds; another is never built from this host's busybox.
    ok(
        &docker_build(
            &d,
            ctx.path(),
            &["--platform", &host, "-t", "same", "."],
            b"",
        ),
        "docker build --platform (this host's)",
    );
    let out = docker_build(&d, ctx.path(), &["--platform", other, "."], b"");
    refused(
        &out,
        &format!("does not match the specified platform: wanted {other}, actual: {host}"),
        "docker build --platform (another)",
    );
    let out = engine_build(
        &e,
        &["--platform", other, ctx.path().to_str().unwrap()],
        b"",
    );
    refused(
        &out,
        "does not match the specified platform",
        "engine build --platform",
    );
    // From scratch, the image is of the platform asked for.
    let scratch = context(&[
        ("Dockerfile", "FROM scratch\nCOPY a.txt /\n"),
        ("a.txt", "a\n"),
    ]);
    ok(
        &docker_build(
            &d,
            scratch.path(),
            &["--platform", other, "-t", "foreign", "."],
            b"",
        ),
        "docker build --platform from scratch",
    );
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}}",
            "foreign"
        ])
        .trim(),
        other
    );

    // --pull tries the registry even when the base is here (nothing listens on port 9).
    d.ok(&["tag", "busybox", "127.0.0.1:9/bb"]);
    let pulled = context(&[("Dockerfile", "FROM 127.0.0.1:9/bb\nRUN true\n")]);
    ok(
        &docker_build(&d, pulled.path(), &["."], b""),
        "docker build of a local base",
    );
    let out = docker_build(&d, pulled.path(), &["--pull", "."], b"");
    refused(&out, "127.0.0.1:9", "docker build --pull");
    let out = engine_build(&e, &["--pull", pulled.path().to_str().unwrap()], b"");
    refused(&out, "127.0.0.1:9", "engine build --pull");

    // --cache-from: an image loaded from elsewhere (no build cache of its own) serves the
    // build's steps, and the result is that image.
    let first = ok(
        &docker_build(&d, ctx.path(), &["--no-cache", "-t", "cached", "."], b""),
        "first build",
    );
    assert!(first.contains("Running in"), "{first}");
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "cached"]);
    let saved = d.command(&["save", "cached"]).output().unwrap();
    assert!(saved.status.success(), "{}", stderr(&saved));
    d.ok(&["rmi", "cached", "same"]);
    let mut load = d
        .command(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    load.stdin.take().unwrap().write_all(&saved.stdout).unwrap();
    assert!(load.wait().unwrap().success());
    // Without it, the step runs again: the image brought no build cache.
    let fresh = ok(
        &docker_build(&d, ctx.path(), &["-t", "fresh", "."], b""),
        "docker build without --cache-from",
    );
    assert!(fresh.contains("Running in"), "{fresh}");
    // With it, the loaded image serves every step (not the local cache of `fresh`, which
    // is no ancestor of it), and the result is that image.
    let again = ok(
        &docker_build(
            &d,
            ctx.path(),
            &["--cache-from", "cached", "-t", "again", "."],
            b"",
        ),
        "docker build --cache-from",
    );
    assert!(!again.contains("Running in"), "{again}");
    assert!(again.contains("Using cache"), "{again}");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "again"]), id);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn root_copy_follows_absolute_symlinks_inside_the_rootfs() {
    let test = "root_copy_follows_absolute_symlinks_inside_the_rootfs";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    // A name no host has: if the copy escaped the rootfs, it would appear in the host's /etc.
    let name = format!("engine-escape-{}.txt", std::process::id());
    let dockerfile = format!(
        "FROM busybox\n\
         RUN mkdir /data && ln -s /data /out && ln -s /../../etc /esc && ln -s /nowhere /dangling\n\
         COPY a.txt /out/\n\
         COPY a.txt /esc/{name}\n\
         COPY a.txt /dangling/\n\
         CMD cat /data/a.txt /etc/{name} /nowhere/a.txt\n"
    );
    let ctx = context(&[("Dockerfile", &dockerfile), ("a.txt", "copied\n")]);
    ok(
        &docker_build(&d, ctx.path(), &["-t", "links", "."], b""),
        "docker build COPY through symlinks",
    );
    assert_eq!(d.ok(&["run", "--rm", "links"]), "copied\ncopied\ncopied\n");
    assert!(
        !Path::new("/etc").join(&name).exists(),
        "the copy left the rootfs"
    );
    // The same through `engine build`.
    let out = e.engine(&[
        "build",
        "--no-cache",
        "-t",
        "links2",
        ctx.path().to_str().unwrap(),
    ]);
    ok(&out, "engine build COPY through symlinks");
    assert_eq!(e.ok(&["run", "--rm", "links2"]), "copied\ncopied\ncopied\n");
    assert!(
        !Path::new("/etc").join(&name).exists(),
        "the copy left the rootfs"
    );
}
