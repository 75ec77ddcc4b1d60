//! Confinement, tried the way an attacker inside a container would: each test makes the
//! escape attempt for real and asserts it fails, and that what Docker allows by default still
//! works. Root tier.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::process::Command;

use common::*;

/// A loop device over a file holding `marker`, detached on drop.
struct LoopDevice {
    dev: String,
    _file: tempfile::NamedTempFile,
}

impl LoopDevice {
    fn new(marker: &str) -> LoopDevice {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut data = marker.as_bytes().to_vec();
        data.resize(1 << 20, 0);
        std::fs::write(file.path(), data).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        LoopDevice {
            dev: String::from_utf8(out.stdout).unwrap().trim().to_string(),
            _file: file,
        }
    }

    fn minor(&self) -> String {
        self.dev.trim_start_matches("/dev/loop").to_string()
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn root_a_default_container_cannot_reach_host_block_devices() {
    let test = "root_a_default_container_cannot_reach_host_block_devices";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let marker = format!("engine-marker-{}", std::process::id());
    let lo = LoopDevice::new(&marker);
    let script = format!(
        "mknod /tmp/lp b 7 {minor} && echo mknod-ok; head -c 64 /tmp/lp; echo x > /tmp/lp",
        minor = lo.minor()
    );
    let out = e.engine(&["run", "--rm", "busybox", "sh", "-c", &script]);
    let all = text(&out);
    assert!(
        !all.contains(&marker),
        "the container read the host's disk: {all}"
    );
    // Making the node is allowed (Docker's default); opening it, to read or write, is not.
    assert!(all.contains("mknod-ok"), "{all}");
    assert_eq!(all.matches("Operation not permitted").count(), 2, "{all}");

    // --device hands that one device in, with the permissions asked.
    let dev = format!("{}:/dev/xvdb:r", lo.dev);
    let out = e.engine(&[
        "run",
        "--rm",
        "--device",
        &dev,
        "busybox",
        "sh",
        "-c",
        "head -c 64 /dev/xvdb; echo; echo x > /dev/xvdb || echo write-denied",
    ]);
    let all = text(&out);
    assert!(all.contains(&marker), "{all}");
    assert!(all.contains("write-denied"), "{all}");
    // --device-cgroup-rule opens the type/number to the access asked.
    let rule = format!("b 7:{} rm", lo.minor());
    let out = e.engine(&[
        "run",
        "--rm",
        "--device-cgroup-rule",
        &rule,
        "busybox",
        "sh",
        "-c",
        &format!("mknod /tmp/lp b 7 {} && head -c 64 /tmp/lp", lo.minor()),
    ]);
    assert!(text(&out).contains(&marker), "{}", text(&out));
    // --privileged sees the host's devices.
    let out = e.engine(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "head",
        "-c",
        "64",
        &lo.dev,
    ]);
    assert!(text(&out).contains(&marker), "{}", text(&out));
    // A device that does not exist is refused at create, naming it.
    let out = e.engine(&[
        "run",
        "--rm",
        "--device",
        "/dev/engine-nope",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out).contains("/dev/engine-nope"), "{}", text(&out));
}

#[test]
fn root_seccomp_blocks_new_namespaces_and_keys_and_can_be_chosen() {
    let test = "root_seccomp_blocks_new_namespaces_and_keys_and_can_be_chosen";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let out = e.engine(&["run", "--rm", "busybox", "sh", "-c",
        "grep Seccomp: /proc/self/status; unshare -U true && echo userns-ok; unshare -m true && echo mountns-ok"]);
    let all = text(&out);
    assert!(all.contains("Seccomp:\t2"), "{all}");
    assert!(
        !all.contains("userns-ok") && !all.contains("mountns-ok"),
        "{all}"
    );
    // unconfined: no filter.
    let out = e.engine(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]);
    assert!(text(&out).contains("Seccomp:\t0"), "{}", text(&out));
    // A profile file in Docker's format: deny mkdir, allow the rest.
    let profile = e.path().join("no-mkdir.json");
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = e.engine(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "mkdir /tmp/d && echo made; touch /tmp/f && echo touched",
    ]);
    let all = text(&out);
    assert!(
        !all.contains("made") && all.contains("Permission denied"),
        "{all}"
    );
    assert!(all.contains("touched"), "{all}");
    // A broken profile is refused at create.
    std::fs::write(&profile, "{not json").unwrap();
    let out = e.engine(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out).contains("seccomp"), "{}", text(&out));
    // no-new-privileges.
    let out = e.engine(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "NoNewPrivs:",
        "/proc/self/status",
    ]);
    assert!(text(&out).contains("NoNewPrivs:\t1"), "{}", text(&out));
    let out = e.engine(&[
        "run",
        "--rm",
        "--security-opt",
        "apparmor=docker-default",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out).contains("AppArmor"), "{}", text(&out));
}

#[test]
fn root_the_hosts_session_keyring_is_out_of_reach() {
    let test = "root_the_hosts_session_keyring_is_out_of_reach";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    if !std::path::Path::new("/usr/bin/python3").exists() {
        graph::testsuite::skip(test, "needs /usr/bin/python3 to add and search keys");
        return;
    }
    // The host's python, bound in, searches its session keyring for the host's key.
    let desc = format!("engine-test-{}", std::process::id());
    let search = format!(
        "import ctypes; l = ctypes.CDLL(None, use_errno=True); \
         r = l.syscall(250, 10, -3, b'user', b'{desc}', 0); \
         print('found' if r > 0 else 'errno=%d' % ctypes.get_errno())"
    );
    let binds = [
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/lib:/lib:ro",
        "-v",
        "/lib64:/lib64:ro",
    ];
    // The engine runs from a process whose session keyring holds the key (as a host root
    // shell's does).
    let engine = env!("CARGO_BIN_EXE_engine");
    let mut args: Vec<String> = vec![
        "--data-root".into(),
        e.path().display().to_string(),
        "--storage-driver".into(),
        "overlay2".into(),
        "run".into(),
        "--rm".into(),
    ];
    args.extend(binds.iter().map(|s| s.to_string()));
    let run_with = |extra: &[&str]| -> String {
        let mut a = args.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend([
            "busybox".into(),
            "/usr/bin/python3".into(),
            "-c".into(),
            search.clone(),
        ]);
        let launcher = format!(
            "import ctypes, os, sys; l = ctypes.CDLL(None, use_errno=True); \
             assert l.syscall(250, 1, b'engine-test-host') > 0; \
             assert l.syscall(248, b'user', b'{desc}', b'secret', 6, -3) > 0; \
             r = l.syscall(250, 10, -3, b'user', b'{desc}', 0); assert r > 0, 'host cannot see its key'; \
             os.execv(sys.argv[1], sys.argv[1:])"
        );
        let out = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(&launcher)
            .arg(engine)
            .args(&a)
            .output()
            .unwrap();
        text(&out)
    };
    // Default: keyctl is not even allowed (seccomp).
    let all = run_with(&[]);
    assert!(all.contains("errno=1"), "{all}");
    // Without seccomp, the container's own session keyring does not hold the host's key.
    let all = run_with(&["--security-opt", "seccomp=unconfined"]);
    assert!(all.contains("errno=126"), "ENOKEY expected: {all}");
}

#[test]
fn root_capabilities_read_only_pids_and_the_defaults_that_must_work() {
    let test = "root_capabilities_read_only_pids_and_the_defaults_that_must_work";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let capeff = |extra: &[&str]| -> String {
        let mut a = vec!["run", "--rm"];
        a.extend(extra);
        a.extend(["busybox", "grep", "CapEff:", "/proc/self/status"]);
        e.ok(&a)
            .trim()
            .trim_start_matches("CapEff:")
            .trim()
            .to_string()
    };
    assert_eq!(capeff(&[]), "00000000a80425fb");
    assert_eq!(capeff(&["--cap-drop", "ALL"]), "0000000000000000");
    // NET_ADMIN only (bit 12).
    assert_eq!(
        capeff(&["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]),
        "0000000000001000"
    );
    assert_eq!(capeff(&["--cap-drop", "chown"]), "00000000a80425fa");
    // --privileged: every capability the engine itself holds.
    let mine = std::fs::read_to_string("/proc/self/status").unwrap();
    let mine = mine.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    assert_eq!(
        capeff(&["--privileged"]),
        mine.trim_start_matches("CapBnd:").trim()
    );
    let out = e.engine(&["run", "--rm", "--cap-add", "CAP_NOPE", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out).contains("unknown capability: \"CAP_NOPE\""),
        "{}",
        text(&out)
    );

    // exec runs under the container's confinement; exec --privileged gets every capability.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "dropped",
        "--cap-drop",
        "ALL",
        "busybox",
        "sleep",
        "60",
    ]);
    let out = e.ok(&[
        "exec",
        "dropped",
        "grep",
        "-E",
        "^(CapEff|Seccomp):",
        "/proc/self/status",
    ]);
    assert!(
        out.contains("CapEff:\t0000000000000000") && out.contains("Seccomp:\t2"),
        "{out}"
    );
    let out = e.ok(&[
        "exec",
        "--privileged",
        "dropped",
        "grep",
        "CapEff:",
        "/proc/self/status",
    ]);
    assert!(
        out.contains(mine.trim_start_matches("CapBnd:").trim()),
        "{out}"
    );
    e.ok(&["rm", "-f", "dropped"]);

    // --read-only: / is not writable, a --tmpfs is, /dev/shm and /tmp of a tmpfs too.
    let out = e.engine(&["run", "--rm", "--read-only", "--tmpfs", "/run:size=1m", "busybox", "sh", "-c",
        "echo x > /etc/x && echo wrote-root; echo x > /run/x && echo wrote-tmpfs; echo x > /dev/shm/x && echo wrote-shm"]);
    let all = text(&out);
    assert!(
        !all.contains("wrote-root") && all.contains("Read-only file system"),
        "{all}"
    );
    assert!(
        all.contains("wrote-tmpfs") && all.contains("wrote-shm"),
        "{all}"
    );

    // --pids-limit: a fork bomb stops at the limit (the loop is bounded too).
    let out = e.engine(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 100 ]; do sleep 2 & i=$((i+1)); done; echo all-started",
    ]);
    let all = text(&out);
    assert!(
        !all.contains("all-started") && all.contains("can't fork"),
        "{all}"
    );
    let id = e.ok(&["create", "--pids-limit", "20", "busybox", "true"]);
    assert_eq!(e.inspect(id.trim())["HostConfig"]["PidsLimit"], 20);

    // What Docker allows by default still works: /dev/null, /dev/zero, a pty, ping of
    // loopback (NET_RAW), chown, and a tty for -t.
    let out = e.engine(&["run", "--rm", "busybox", "sh", "-c",
        "echo hi > /dev/null && head -c 4 /dev/zero | wc -c && ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping-ok && touch /tmp/f && chown 1:1 /tmp/f && echo chown-ok"]);
    let all = text(&out);
    assert!(
        all.contains("4") && all.contains("ping-ok") && all.contains("chown-ok"),
        "{all}"
    );

    // --init: PID 1 is the engine's init, the command is its child.
    assert_eq!(
        e.ok(&["run", "--rm", "--init", "busybox", "sh", "-c", "echo $$"])
            .trim(),
        "2"
    );
    // --ulimit, --sysctl, --shm-size, --cpus, --cpuset-cpus, --cpu-shares.
    let out = e.ok(&["run", "--rm", "--ulimit", "nofile=512:1024", "--sysctl", "net.ipv4.ip_forward=1",
        "--shm-size", "16m", "--cpus", "0.5", "--cpuset-cpus", "0", "--cpu-shares", "512", "busybox", "sh", "-c",
        "ulimit -n; cat /proc/sys/net/ipv4/ip_forward; grep /dev/shm /proc/mounts; grep Cpus_allowed_list /proc/self/status"]);
    assert!(out.contains("512\n1\n"), "{out}");
    assert!(out.contains("size=16384k"), "{out}");
    assert!(out.contains("Cpus_allowed_list:\t0\n"), "{out}");
    let out = e.engine(&[
        "run",
        "--rm",
        "--sysctl",
        "kernel.panic=1",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out).contains("not whitelisted"), "{}", text(&out));
}

#[test]
fn root_docker_cli_security_flags_are_applied_or_refused() {
    let test = "root_docker_cli_security_flags_are_applied_or_refused";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let status = |args: &[&str]| -> String {
        let mut a = vec!["run", "--rm"];
        a.extend(args);
        a.extend(["busybox", "sh", "-c",
            "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; echo x > /x 2>/dev/null && echo root-rw; true"]);
        d.ok(&a)
    };
    let out = status(&[]);
    assert!(
        out.contains("CapEff:\t00000000a80425fb") && out.contains("Seccomp:\t2"),
        "{out}"
    );
    let out = status(&[
        "--cap-drop",
        "ALL",
        "--read-only",
        "--security-opt",
        "no-new-privileges",
    ]);
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(
        out.contains("NoNewPrivs:\t1") && !out.contains("root-rw"),
        "{out}"
    );
    // systempaths=unconfined reaches the engine as empty MaskedPaths and ReadonlyPaths.
    let proc_mounts = |args: &[&str]| -> usize {
        let mut a = vec!["run", "--rm"];
        a.extend(args);
        a.extend([
            "busybox",
            "sh",
            "-c",
            "grep -c ' /proc/' /proc/mounts; true",
        ]);
        d.ok(&a).trim().parse().unwrap()
    };
    assert!(proc_mounts(&[]) > 0);
    assert_eq!(
        proc_mounts(&["--security-opt", "systempaths=unconfined"]),
        0
    );
    let out = status(&["--security-opt", "seccomp=unconfined"]);
    assert!(out.contains("Seccomp:\t0"), "{out}");
    let out = status(&["--privileged"]);
    assert!(
        out.contains("Seccomp:\t0") && out.contains("root-rw"),
        "{out}"
    );
    // The pids limit, through the API.
    let out = d.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 50 ]; do sleep 2 & i=$((i+1)); done; echo all-started",
    ]);
    assert!(!text(&out).contains("all-started"), "{}", text(&out));
    let id = d.ok(&[
        "create",
        "--pids-limit",
        "10",
        "--cap-add",
        "NET_ADMIN",
        "--tmpfs",
        "/run:size=1m",
        "busybox",
        "true",
    ]);
    let hc = d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.PidsLimit}} {{.HostConfig.CapAdd}} {{.HostConfig.Tmpfs}}",
        id.trim(),
    ]);
    assert_eq!(hc.trim(), "10 [NET_ADMIN] map[/run:size=1m]");
    // What the engine does not implement is refused by name, never dropped.
    let out = d.docker(&["run", "--rm", "--blkio-weight", "300", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("BlkioWeight"), "{}", text(&out));
    let out = d.docker(&["run", "--rm", "--runtime", "nvidia", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("Runtime"), "{}", text(&out));
    let out = d.docker(&["run", "--rm", "--cap-add", "NOPE", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown capability"), "{}", text(&out));
}

#[test]
fn root_sysctls_never_reach_the_hosts_namespaces() {
    let Some(e) = Engine::new("root_sysctls_never_reach_the_hosts_namespaces", "overlay2") else {
        return;
    };
    let host = |key: &str| std::fs::read_to_string(format!("/proc/sys/{key}")).unwrap();
    let (shmmax, domainname) = (host("kernel/shmmax"), host("kernel/domainname"));
    // In the container's own namespaces the sysctls apply there, and only there.
    let out = e.ok(&[
        "run",
        "--rm",
        "--sysctl",
        "kernel.shmmax=100000",
        "--sysctl",
        "kernel.domainname=inside",
        "busybox",
        "sh",
        "-c",
        "cat /proc/sys/kernel/shmmax /proc/sys/kernel/domainname",
    ]);
    assert_eq!(out, "100000\ninside\n");
    // In the host's, they are refused before anything runs.
    for (share, sysctl, ns) in [
        ("--ipc=host", "kernel.shmmax=100000", "ipc"),
        ("--ipc=host", "fs.mqueue.msg_max=11", "ipc"),
        ("--uts=host", "kernel.domainname=pwned", "uts"),
    ] {
        let out = e.engine(&["run", "--rm", share, "--sysctl", sysctl, "busybox", "true"]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{share} {sysctl}: {}",
            text(&out)
        );
        assert!(
            text(&out).contains(&format!("is not allowed in the host's {ns} namespace")),
            "{}",
            text(&out)
        );
    }
    assert_eq!(host("kernel/shmmax"), shmmax);
    assert_eq!(host("kernel/domainname"), domainname);
}

#[test]
fn root_init_shows_the_container_nothing_of_the_engine() {
    let Some(e) = Engine::new(
        "root_init_shows_the_container_nothing_of_the_engine",
        "overlay2",
    ) else {
        return;
    };
    let out = e
        .command(&[
            "run",
            "--rm",
            "--init",
            "-e",
            "MINE=1",
            "busybox",
            "sh",
            "-c",
            "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/environ 2>&1; echo; \
             head -c 16 /proc/1/mem 2>&1; echo; ls -l /proc/1/exe 2>&1; echo $$ $MINE",
        ])
        .env("ENGINE_TEST_SECRET", "s3cr3t")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        !all.contains("s3cr3t"),
        "the engine's environment shows: {all}"
    );
    assert!(
        !all.contains(&e.path().display().to_string()),
        "the engine's command line shows: {all}"
    );
    assert!(all.starts_with("init"), "{all}");
    // The command itself is PID 2 with its own environment.
    assert!(all.trim_end().ends_with("2 1"), "{all}");
}
