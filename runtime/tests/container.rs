//! Root tier: real containers on a busybox rootfs.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Rootfs, cgroup_dirs, pipe, read_all, root_available, run, start};
use runtime::{
    BindMount, Container, ErrorKind, Network, ProcessSpec, Stdio, StdioSet, resolve_user,
};

#[test]
fn root_echo_output_is_captured() {
    if !root_available("root_echo_output_is_captured") {
        return;
    }
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec("echo", "echo hello; echo oops >&2"));
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(out.status.code, 0);
    assert!(!out.status.oom_killed);
}

#[test]
fn root_exit_code_is_the_containers() {
    if !root_available("root_exit_code_is_the_containers") {
        return;
    }
    let rootfs = Rootfs::new();
    let spec = rootfs.spec("exit3", "exit 3");
    let out = run(&spec);
    assert_eq!((out.status.code, out.status.signal), (3, None));
    for dir in cgroup_dirs(&spec.id) {
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
}

#[test]
fn root_sigkill_gives_137() {
    if !root_available("root_sigkill_gives_137") {
        return;
    }
    let rootfs = Rootfs::new();
    let (mut c, _out, _err) = start(&rootfs.spec("kill", "sleep 100"));
    c.kill(libc::SIGKILL).unwrap();
    let status = c.wait().unwrap();
    assert_eq!((status.code, status.signal), (137, Some(libc::SIGKILL)));
    assert!(!status.oom_killed);
    // Signalling a container that has ended is an error, not a signal to a recycled pid.
    assert_eq!(
        c.kill(libc::SIGKILL).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn root_command_not_found_is_127() {
    if !root_available("root_command_not_found_is_127") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("notfound", "");
    spec.process.args = vec!["foo".into()];
    let err = Container::create(&spec, StdioSet::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandNotFound);
    assert_eq!(err.exit_code(), Some(127));
    assert_eq!(
        err.to_string(),
        "exec: \"foo\": executable file not found in $PATH"
    );
    for dir in cgroup_dirs(&spec.id) {
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
}

#[test]
fn root_not_executable_is_126() {
    if !root_available("root_not_executable_is_126") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("noexec", "");
    spec.process.args = vec!["/etc/not-executable".into()];
    let err = Container::create(&spec, StdioSet::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotExecutable);
    assert_eq!(err.exit_code(), Some(126));
    assert_eq!(
        err.to_string(),
        "exec: \"/etc/not-executable\": permission denied"
    );
}

#[test]
fn root_hostname_and_pid_1() {
    if !root_available("root_hostname_and_pid_1") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("uts", "hostname; echo $$");
    spec.hostname = Some("box1".into());
    let out = run(&spec);
    assert_eq!(out.stdout, "box1\n1\n", "stderr: {}", out.stderr);
}

#[test]
fn root_proc_shows_only_container_processes() {
    if !root_available("root_proc_shows_only_container_processes") {
        return;
    }
    let rootfs = Rootfs::new();
    // The glob is expanded by PID 1 itself, with no other process alive: nothing of the host.
    let out = run(&rootfs.spec("proc", "echo /proc/[0-9]*"));
    assert_eq!(out.stdout, "/proc/1\n", "stderr: {}", out.stderr);
}

#[test]
fn root_network_has_only_loopback_and_it_is_up() {
    if !root_available("root_network_has_only_loopback_and_it_is_up") {
        return;
    }
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec(
        "net",
        "ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags",
    ));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "lo", "{}", out.stdout);
    // IFF_UP (0x1) is set on lo.
    let flags = u32::from_str_radix(lines[2].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "{}", out.stdout);

    let mut host = rootfs.spec("hostnet", "ls /sys/class/net | wc -l");
    host.network = Network::Host;
    let out = run(&host);
    let host_count = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(out.stdout.trim(), host_count.to_string());
}

#[test]
fn root_sys_is_read_only_and_paths_are_masked() {
    if !root_available("root_sys_is_read_only_and_paths_are_masked") {
        return;
    }
    let rootfs = Rootfs::new();
    let script = "touch /sys/kernel/x 2>/dev/null && echo sys-writable; \
                  echo kcore=$(cat /proc/kcore | wc -c); \
                  echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo procsys-writable; \
                  ls /sys/firmware | wc -l; echo done";
    let out = run(&rootfs.spec("ro", script));
    assert_eq!(out.stdout, "kcore=0\n0\ndone\n", "stderr: {}", out.stderr);
}

#[test]
fn root_dev_has_the_minimal_nodes() {
    if !root_available("root_dev_has_the_minimal_nodes") {
        return;
    }
    let rootfs = Rootfs::new();
    let script = "for d in null zero full random urandom tty; do [ -c /dev/$d ] || echo missing $d; done; \
                  readlink /dev/ptmx; readlink /dev/fd; \
                  head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; \
                  [ -d /dev/shm ] && [ -d /dev/mqueue ] && [ -d /dev/pts ] && echo dirs-ok";
    let out = run(&rootfs.spec("dev", script));
    assert_eq!(
        out.stdout, "pts/ptmx\n/proc/self/fd\n3\nnull-ok\ndirs-ok\n",
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn root_capabilities_are_dockers_default() {
    if !root_available("root_capabilities_are_dockers_default") {
        return;
    }
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec(
        "caps",
        "grep -E '^(CapBnd|CapEff|CapInh|CapAmb|NoNewPrivs)' /proc/self/status",
    ));
    assert!(
        out.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapEff:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapInh:\t0000000000000000"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapAmb:\t0000000000000000"),
        "{}",
        out.stdout
    );
    // Docker leaves no_new_privs off unless asked (--security-opt no-new-privileges).
    assert!(out.stdout.contains("NoNewPrivs:\t0"), "{}", out.stdout);
    let mut spec = rootfs.spec("nnp", "grep NoNewPrivs /proc/self/status");
    spec.process.no_new_privileges = true;
    assert!(run(&spec).stdout.contains("NoNewPrivs:\t1"));

    let mut spec = rootfs.spec("caps-app", "grep -E '^(CapBnd|CapEff)' /proc/self/status");
    spec.process.user = resolve_user(rootfs.path(), "app").unwrap();
    let out = run(&spec);
    assert!(
        out.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        out.stdout
    );
}

#[test]
fn root_user_resolution() {
    if !root_available("root_user_resolution") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("user", "id -u; id -g; id -G; echo $HOME");
    spec.process.user = resolve_user(rootfs.path(), "app").unwrap();
    let out = run(&spec);
    assert_eq!(
        out.stdout, "1000\n1000\n1000 50\n/home/app\n",
        "stderr: {}",
        out.stderr
    );

    let mut spec = rootfs.spec("user-group", "id -u; id -g");
    spec.process.user = resolve_user(rootfs.path(), "app:staff").unwrap();
    assert_eq!(run(&spec).stdout, "1000\n50\n");

    let mut spec = rootfs.spec("user-num", "id -u; id -g");
    spec.process.user = resolve_user(rootfs.path(), "1234:99").unwrap();
    assert_eq!(run(&spec).stdout, "1234\n99\n");

    assert_eq!(
        resolve_user(rootfs.path(), "ghost").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn root_env_and_working_directory() {
    if !root_available("root_env_and_working_directory") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("env", "echo $FOO; pwd; echo $PATH");
    spec.process.env = vec!["FOO=bar baz".into()];
    spec.process.cwd = "/work/dir".into();
    let out = run(&spec);
    assert_eq!(
        out.stdout,
        format!("bar baz\n/work/dir\n{}\n", runtime::DEFAULT_PATH),
        "stderr: {}",
        out.stderr
    );
    // The container's PATH is used for the lookup: a PATH without /bin cannot find sh.
    let mut spec = rootfs.spec("env-path", "");
    spec.process.env = vec!["PATH=/nowhere".into()];
    let err = Container::create(&spec, StdioSet::default()).unwrap_err();
    assert_eq!(err.exit_code(), Some(127));
}

#[test]
fn root_bind_mounts_read_write_and_read_only() {
    if !root_available("root_bind_mounts_read_write_and_read_only") {
        return;
    }
    let rootfs = Rootfs::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in.txt"), "from host\n").unwrap();
    let mut spec = rootfs.spec(
        "bind",
        "cat /rw/in.txt; echo from-container > /rw/out.txt; \
         cat /ro/in.txt; touch /ro/nope 2>/dev/null && echo ro-writable; echo done",
    );
    spec.mounts = vec![
        BindMount {
            source: host.path().to_path_buf(),
            destination: "/rw".into(),
            readonly: false,
        },
        BindMount {
            source: host.path().to_path_buf(),
            destination: "/ro".into(),
            readonly: true,
        },
    ];
    let out = run(&spec);
    assert_eq!(
        out.stdout, "from host\nfrom host\ndone\n",
        "stderr: {}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("out.txt")).unwrap(),
        "from-container\n"
    );
    assert!(!host.path().join("nope").exists());
    // Nothing was mounted on the host side.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(rootfs.path().to_str().unwrap()));
}

#[test]
fn root_bad_bind_mount_is_reported() {
    if !root_available("root_bad_bind_mount_is_reported") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("badbind", "true");
    spec.mounts.push(BindMount {
        source: "/nonexistent/source/dir".into(),
        destination: "/data".into(),
        readonly: false,
    });
    let err = Container::create(&spec, StdioSet::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("/nonexistent/source/dir"), "{err}");
    for dir in cgroup_dirs(&spec.id) {
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
}

#[test]
fn root_memory_hog_is_oom_killed() {
    if !root_available("root_memory_hog_is_oom_killed") {
        return;
    }
    let rootfs = Rootfs::new();
    // The string doubles until the shell is over the limit.
    let mut spec = rootfs.spec("oom", "a=xxxxxxxx; while :; do a=$a$a; done");
    spec.memory_limit = Some(32 << 20);
    let (mut c, _out, _err) = start(&spec);
    let cgroup = c.cgroup_path().map(|p| p.to_path_buf());
    if let Some(dir) = &cgroup {
        let limit = std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
            .or_else(|_| std::fs::read_to_string(dir.join("memory.max")))
            .unwrap();
        assert_eq!(limit.trim(), (32u64 << 20).to_string());
    }
    let status = c.wait().unwrap();
    assert_eq!(status.code, 137, "{status:?}");
    assert!(status.oom_killed, "{status:?}");
    assert!(!cgroup.unwrap().exists(), "cgroup left behind");

    // A container under its limit is not reported as OOM-killed.
    let mut spec = rootfs.spec("oom-not", "echo fine");
    spec.memory_limit = Some(32 << 20);
    let out = run(&spec);
    assert_eq!((out.status.code, out.status.oom_killed), (0, false));
}

#[test]
fn root_tty_through_the_pty_master() {
    if !root_available("root_tty_through_the_pty_master") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec(
        "tty",
        "[ -t 0 ] && [ -t 1 ] && echo is-a-tty; read line; echo got:$line",
    );
    spec.process.tty = true;
    spec.process.stdin = true;
    let mut c = Container::create(&spec, StdioSet::default()).unwrap();
    let master = c.take_pty_master().expect("a pty master");
    runtime::set_window_size(std::os::fd::AsFd::as_fd(&master), 40, 100).unwrap();
    let mut file = std::fs::File::from(master);
    file.write_all(b"ping\n").unwrap();
    // Read until EIO: the container has ended and the slave is closed everywhere.
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("read pty: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("is-a-tty"), "{text:?}");
    assert!(text.contains("got:ping"), "{text:?}");
    assert_eq!(c.wait().unwrap().code, 0);
}

#[test]
fn root_stdin_is_forwarded() {
    if !root_available("root_stdin_is_forwarded") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("stdin", "cat");
    spec.process.stdin = true;
    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    let mut c = Container::create(
        &spec,
        StdioSet {
            stdin: Stdio::Fd(in_r),
            stdout: Stdio::Fd(out_w),
            stderr: Stdio::Inherit,
        },
    )
    .unwrap();
    let mut w = std::fs::File::from(in_w);
    w.write_all(b"through stdin\n").unwrap();
    drop(w);
    assert_eq!(read_all(out_r.into()), "through stdin\n");
    assert_eq!(c.wait().unwrap().code, 0);

    // Without `stdin`, the container reads /dev/null.
    let out = run(&rootfs.spec("stdin-null", "cat; echo eof"));
    assert_eq!(out.stdout, "eof\n");
}

#[test]
fn root_exec_joins_a_running_container() {
    if !root_available("root_exec_joins_a_running_container") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("exec", "sleep 100");
    spec.hostname = Some("exec-box".into());
    let (mut c, _out, _err) = start(&spec);

    let mut p = ProcessSpec::new(vec![
        "sh".into(),
        "-c".into(),
        // PID 1 may still be the `sh -c` that is about to exec `sleep`: wait (bounded) for it.
        "i=0; until grep -q sleep /proc/1/cmdline || [ $i -gt 2000 ]; do i=$((i+1)); done; \
         hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /sys/class/net"
            .into(),
    ]);
    p.user = resolve_user(rootfs.path(), "app").unwrap();
    let (out_r, out_w) = pipe();
    let mut proc = runtime::exec(
        c.pid(),
        &p,
        StdioSet {
            stdin: Stdio::Null,
            stdout: Stdio::Fd(out_w),
            stderr: Stdio::Inherit,
        },
    )
    .unwrap();
    let out = read_all(out_r.into());
    assert_eq!(proc.wait().unwrap().code, 0);
    // busybox sh execs its last command, so PID 1 is the sleep itself.
    assert_eq!(out, "exec-box\nsleep 100 \nlo\n");

    // A missing command in exec is reported like in run.
    let err = runtime::exec(
        c.pid(),
        &ProcessSpec::new(vec!["nope".into()]),
        StdioSet::default(),
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), Some(127));

    c.kill(libc::SIGKILL).unwrap();
    assert_eq!(c.wait().unwrap().code, 137);
}

#[test]
fn root_published_port_reaches_the_container() {
    if !root_available("root_published_port_reaches_the_container") {
        return;
    }
    let rootfs = Rootfs::new();
    let (mut c, _out, _err) =
        start(&rootfs.spec("port", "while :; do nc -l -p 80 -e echo hello; done"));
    let proxy = runtime::publish_tcp(c.pid(), "127.0.0.1:0".parse().unwrap(), 80).unwrap();
    let addr = proxy.local_addr();
    // The server may not be listening yet: retry until it answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let got = TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok(r)
        });
        match got {
            Ok(r) if !r.is_empty() => break r,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("no answer through the proxy: {other:?}"),
        }
    };
    assert_eq!(reply, "hello\n");

    // The same host port cannot be published twice.
    let taken: SocketAddr = addr;
    let err = runtime::publish_tcp(c.pid(), taken, 80).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);

    proxy.stop();
    assert!(TcpStream::connect(addr).is_err());
    c.kill(libc::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn root_dropped_container_is_killed_and_cleaned_up() {
    if !root_available("root_dropped_container_is_killed_and_cleaned_up") {
        return;
    }
    let rootfs = Rootfs::new();
    let spec = rootfs.spec("drop", "sleep 100");
    let (c, _out, _err) = start(&spec);
    let pid = c.pid();
    let cgroup = c.cgroup_path().map(|p| p.to_path_buf());
    drop(c);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    if let Some(dir) = cgroup {
        assert!(!dir.exists());
    }
}

#[test]
fn root_pid_1_receives_signals() {
    if !root_available("root_pid_1_receives_signals") {
        return;
    }
    let rootfs = Rootfs::new();
    let (mut c, out, _err) = start(&rootfs.spec(
        "sigterm",
        "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
    ));
    // Wait for the trap to be installed before signalling.
    let mut reader = std::io::BufReader::new(out);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    c.kill(runtime::parse_signal("TERM").unwrap()).unwrap();
    let status = c.wait().unwrap();
    assert_eq!((status.code, status.signal), (7, None));
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
}

#[test]
fn root_copy_pty_runs_an_interactive_shell() {
    if !root_available("root_copy_pty_runs_an_interactive_shell") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("copy-pty", "");
    spec.process.args = vec!["sh".into()];
    spec.process.tty = true;
    spec.process.stdin = true;
    let mut c = Container::create(&spec, StdioSet::default()).unwrap();
    let master = c.take_pty_master().unwrap();
    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    let copier = std::thread::spawn(move || {
        use std::os::fd::AsFd;
        runtime::copy_pty(master.as_fd(), in_r.as_fd(), out_w.as_fd())
    });
    let mut input = std::fs::File::from(in_w);
    input.write_all(b"echo from-$((6*7))\nexit 4\n").unwrap();
    drop(input);
    copier.join().unwrap().unwrap();
    let output = read_all(out_r.into());
    assert!(output.contains("from-42"), "{output:?}");
    assert_eq!(c.wait().unwrap().code, 4);
}

#[test]
fn root_exec_with_a_tty_and_in_the_containers_cgroup() {
    if !root_available("root_exec_with_a_tty_and_in_the_containers_cgroup") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("exec-tty", "sleep 100");
    spec.memory_limit = Some(64 << 20);
    let (mut c, _out, _err) = start(&spec);
    let mut p = ProcessSpec::new(vec![
        "sh".into(),
        "-c".into(),
        "[ -t 1 ] && echo tty-yes; grep -c engine/ /proc/self/cgroup".into(),
    ]);
    p.tty = true;
    let mut proc = runtime::exec(c.pid(), &p, StdioSet::default()).unwrap();
    let mut master = std::fs::File::from(proc.take_pty_master().unwrap());
    let mut output = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("read pty: {e}"),
        }
    }
    assert_eq!(proc.wait().unwrap().code, 0);
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("tty-yes"), "{text:?}");
    // The exec joined the container's cgroups (one line per hierarchy names engine/).
    if c.cgroup_path().is_some() {
        assert!(
            text.lines()
                .any(|l| l.trim().parse::<u32>().is_ok_and(|n| n >= 1)),
            "{text:?}"
        );
    }
    c.kill(libc::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn root_default_confinement_blocks_devices_seccomp_and_keeps_the_basics() {
    if !root_available("root_default_confinement_blocks_devices_seccomp_and_keeps_the_basics") {
        return;
    }
    let rootfs = Rootfs::new();
    // A node of a block device (the host's /dev/loop0: 7:0) can be made, as in Docker, but
    // the device cgroup refuses opening it; /dev/null and a new pty still work.
    let out = run(&rootfs.spec(
        "confine",
        "mknod /tmp/lp b 7 0 && echo mknod-ok; head -c1 /tmp/lp || echo open-denied; \
         head -c1 /dev/null && echo null-ok; \
         grep Seccomp: /proc/self/status; \
         unshare -U true && echo unshare-ok; \
         true",
    ));
    assert!(out.stdout.contains("mknod-ok"), "{}", out.stdout);
    assert!(out.stdout.contains("open-denied"), "{}", out.stdout);
    assert!(out.stdout.contains("null-ok"), "{}", out.stdout);
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.stdout);
    assert!(!out.stdout.contains("unshare-ok"), "{}", out.stdout);

    // A device given with --device semantics: node and rule, read only.
    let mut spec = rootfs.spec(
        "device",
        "head -c0 /dev/xloop && echo read-ok; echo x > /dev/xloop || echo write-denied",
    );
    let node = runtime::DeviceNode::from_host(
        std::path::Path::new("/dev/loop0"),
        std::path::Path::new("/dev/xloop"),
    )
    .unwrap();
    spec.resources
        .devices
        .push(node.rule(runtime::devices::READ | runtime::devices::MKNOD));
    spec.devices.push(node);
    let out = run(&spec);
    assert!(
        out.stdout.contains("read-ok"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("write-denied"), "{}", out.stdout);
}

#[test]
fn root_v2_device_program_denies_what_the_rules_do_not_allow() {
    if !root_available("root_v2_device_program_denies_what_the_rules_do_not_allow") {
        return;
    }
    // A hybrid host (v1 controllers) still has a cgroup2 hierarchy where device programs
    // attach: put a shell there under Docker's default rules.
    let unified = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.join("cgroup.controllers").exists());
    let Some(unified) = unified else {
        graph_skip(
            "root_v2_device_program_denies_what_the_rules_do_not_allow",
            "no cgroup2 hierarchy",
        );
        return;
    };
    let dir = unified.join(format!("engine-bpftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prog = runtime::devices::bpf::program(&runtime::devices::default_rules());
    let attached = runtime::cgroup::attach_device_program(&dir, &prog);
    let out = attached.as_ref().ok().map(|()| {
        std::process::Command::new("/bin/busybox")
            .args(["sh", "-c"])
            .arg(format!(
                "echo $$ > {}/cgroup.procs; head -c0 /dev/null && echo null-ok; head -c1 /dev/loop0 || echo loop-denied",
                dir.display()
            ))
            .output()
            .unwrap()
    });
    let _ = std::fs::remove_dir(&dir);
    attached.unwrap();
    let out = out.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("null-ok"), "{stdout} {stderr}");
    assert!(stdout.contains("loop-denied"), "{stdout} {stderr}");
    assert!(stderr.contains("not permitted"), "{stderr}");
}

fn graph_skip(test: &str, why: &str) {
    println!("SKIP: {test}: {why}");
    if std::env::var_os("ENGINE_REQUIRE_ROOT_TESTS").is_some() {
        panic!("{test} was required to run: {why}");
    }
}

#[test]
fn root_limits_readonly_tmpfs_sysctl_ulimit_and_init() {
    if !root_available("root_limits_readonly_tmpfs_sysctl_ulimit_and_init") {
        return;
    }
    let rootfs = Rootfs::new();
    // --pids-limit: a fork loop stops at the limit.
    let mut spec = rootfs.spec(
        "pids",
        "i=0; while [ $i -lt 40 ]; do sleep 1 & i=$((i+1)); done; echo started; wait",
    );
    spec.resources.pids_limit = Some(10);
    let out = run(&spec);
    // The shell gives up at the first failed fork, long before 40 children.
    assert!(!out.stdout.contains("started"), "{}", out.stdout);
    assert!(out.stderr.contains("can't fork"), "{}", out.stderr);

    // --read-only with a --tmpfs and a sysctl and a ulimit.
    let mut spec = rootfs.spec(
        "ro",
        "touch /x 2>/dev/null && echo root-writable; touch /scratch/y && echo tmpfs-ok; \
         grep ' /scratch ' /proc/mounts; cat /proc/sys/kernel/shmmni; ulimit -n; \
         grep ' /dev/shm ' /proc/mounts",
    );
    spec.readonly_rootfs = true;
    spec.tmpfs.push(runtime::TmpfsMount {
        destination: "/scratch".into(),
        options: "size=1m,mode=1777".into(),
    });
    spec.sysctls.push(("kernel.shmmni".into(), "1234".into()));
    spec.process
        .rlimits
        .push(runtime::Rlimit::parse("nofile=321:654").unwrap());
    spec.shm_size = Some(8 << 20);
    let out = run(&spec);
    assert!(!out.stdout.contains("root-writable"), "{}", out.stdout);
    assert!(
        out.stdout.contains("tmpfs-ok"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("noexec"), "{}", out.stdout);
    assert!(out.stdout.contains("size=1024k"), "{}", out.stdout);
    assert!(out.stdout.contains("\n1234\n"), "{}", out.stdout);
    assert!(out.stdout.contains("\n321\n"), "{}", out.stdout);
    assert!(out.stdout.contains("size=8192k"), "{}", out.stdout);

    // A sysctl of the host's own namespace is refused before anything starts.
    let mut spec = rootfs.spec("sysctl-bad", "true");
    spec.sysctls.push(("kernel.panic".into(), "1".into()));
    assert!(Container::create(&spec, StdioSet::default()).is_err());

    // --init: PID 1 is the reaper, the command is PID 2, and a SIGTERM reaches it.
    let mut spec = rootfs.spec(
        "init",
        "echo pid=$$; trap 'echo got-term; exit 7' TERM; sleep 30 & wait",
    );
    spec.init = true;
    let (mut c, out, _err) = start(&spec);
    let reader = std::thread::spawn(move || read_all(out));
    std::thread::sleep(Duration::from_millis(300));
    c.kill(libc::SIGTERM).unwrap();
    let status = c.wait().unwrap();
    let text = reader.join().unwrap();
    assert!(text.contains("pid=2"), "{text}");
    assert!(text.contains("got-term"), "{text}");
    assert_eq!(status.code, 7);
}

/// Everything the pty gives until its slave is closed everywhere (EIO on the master).
fn read_pty(master: &mut std::fs::File) -> String {
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("read pty: {e}"),
        }
    }
    String::from_utf8_lossy(&output).replace("\r\n", "\n")
}

/// The device of the filesystem the pty master lives on: a devpts instance.
fn devpts_of(master: &std::fs::File) -> u64 {
    use std::os::unix::fs::MetadataExt;
    master.metadata().expect("fstat the pty master").dev()
}

/// The host's own devpts (its /dev/pts), which a container's pty must never come from.
fn host_devpts() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/dev/pts").expect("stat /dev/pts").dev()
}

#[test]
fn root_tty_is_a_pts_of_the_containers_own_devpts_and_its_console() {
    if !root_available("root_tty_is_a_pts_of_the_containers_own_devpts_and_its_console") {
        return;
    }
    let rootfs = Rootfs::new();
    // The slave: its name, owner, group and mode; /dev/console is the same device; the
    // container's devpts holds it; the size set on the master reaches `stty size`.
    let mut spec = rootfs.spec(
        "tty-pts",
        "read go; tty; stat -c 'slave %u %g %a %t:%T' $(tty); stat -c 'console %t:%T' /dev/console; \
         echo pts: $(ls /dev/pts); stty size",
    );
    spec.process.tty = true;
    spec.process.stdin = true;
    spec.process.user = resolve_user(rootfs.path(), "app").unwrap();
    let mut c = Container::create(&spec, StdioSet::default()).unwrap();
    let master = c.take_pty_master().expect("a pty master");
    runtime::set_window_size(std::os::fd::AsFd::as_fd(&master), 33, 111).unwrap();
    let mut master = std::fs::File::from(master);
    assert_ne!(
        devpts_of(&master),
        host_devpts(),
        "the pty came from the host's devpts"
    );
    master.write_all(b"go\n").unwrap();
    let text = read_pty(&mut master);
    assert_eq!(c.wait().unwrap().code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"/dev/pts/0"), "{text:?}");
    // Owned by the user the process runs as (as runc does), group tty (5), mode 620.
    let slave = lines
        .iter()
        .find_map(|l| l.strip_prefix("slave "))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(slave, "1000 5 620 88:0", "{text:?}");
    assert!(lines.contains(&"console 88:0"), "{text:?}");
    assert!(lines.contains(&"pts: 0 ptmx"), "{text:?}");
    assert!(lines.contains(&"33 111"), "{text:?}");
}

#[test]
fn root_exec_tty_is_a_pts_of_the_containers_devpts_and_resizes() {
    if !root_available("root_exec_tty_is_a_pts_of_the_containers_devpts_and_resizes") {
        return;
    }
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("exec-pts", "sleep 100");
    spec.process.tty = true;
    let mut c = Container::create(&spec, StdioSet::default()).unwrap();
    // Held open until the end: closing a master frees its pts.
    let init_master = std::fs::File::from(c.take_pty_master().unwrap());
    let mut p = ProcessSpec::new(vec![
        "sh".into(),
        "-c".into(),
        "read go; tty; echo pts: $(ls /dev/pts); stty size".into(),
    ]);
    p.tty = true;
    p.stdin = true;
    let mut proc = runtime::exec(c.pid(), &p, StdioSet::default()).unwrap();
    let master = proc.take_pty_master().unwrap();
    runtime::set_window_size(std::os::fd::AsFd::as_fd(&master), 21, 77).unwrap();
    let mut master = std::fs::File::from(master);
    // Both ptys are of one devpts: the container's, not the host's.
    assert_eq!(devpts_of(&master), devpts_of(&init_master));
    assert_ne!(devpts_of(&master), host_devpts());
    master.write_all(b"go\n").unwrap();
    let text = read_pty(&mut master);
    assert_eq!(proc.wait().unwrap().code, 0, "{text}");
    c.kill(libc::SIGKILL).unwrap();
    c.wait().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The init has pts 0, the exec'd process the next one, listed in the container.
    assert!(lines.contains(&"/dev/pts/1"), "{text:?}");
    assert!(lines.contains(&"pts: 0 1 ptmx"), "{text:?}");
    assert!(lines.contains(&"21 77"), "{text:?}");
}
