//! `run`/`create` options Docker users rely on, and `update`, checked where they take effect:
//! inside the container (its /proc, /etc, /sys/fs/cgroup) and on its cgroup, through the
//! engine's CLI, Docker's CLI and the Python SDK. Root tier.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::process::Output;

use common::*;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether this host's cgroups are v1 (memory.swappiness and the v1 layout inside).
fn cgroup_v1() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

/// The in-container effect of each option, through a client given as `run` (stdout of a
/// command that must succeed) and `output` (any command). `gateway` is the default
/// bridge's address, what `host-gateway` must resolve to.
fn host_options_take_effect(
    run: &dyn Fn(&[&str]) -> String,
    output: &dyn Fn(&[&str]) -> Output,
    gateway: &str,
) {
    let v1 = cgroup_v1();
    let mut args = vec![
        "run",
        "--rm",
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        "--oom-score-adj",
        "500",
        "--group-add",
        "staff",
        "--group-add",
        "4242",
        "--dns-option",
        "ndots:3",
        "--dns-option",
        "timeout:1",
        "--domainname",
        "example.test",
        "--add-host",
        "gw.internal:host-gateway",
        "--volume-driver",
        "local",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=10k",
    ];
    if v1 {
        args.extend(["--memory-swappiness", "0"]);
    }
    let script = "cat /proc/1/oom_score_adj; grep ^Groups: /proc/self/status; \
        grep ^options /etc/resolv.conf; cat /proc/sys/kernel/domainname; \
        grep gw.internal /etc/hosts; \
        if [ -e /sys/fs/cgroup/memory/memory.swappiness ]; then \
          echo swappiness=$(cat /sys/fs/cgroup/memory/memory.swappiness); \
          echo soft=$(cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes); \
        else echo low=$(cat /sys/fs/cgroup/memory.low); fi";
    args.extend(["busybox", "sh", "-c", script]);
    let out = run(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "500", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["Groups:", "50", "4242"],
        "{out}"
    );
    assert_eq!(lines[2], "options ndots:3 timeout:1", "{out}");
    assert_eq!(lines[3], "example.test", "{out}");
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        [gateway, "gw.internal"],
        "{out}"
    );
    if v1 {
        assert_eq!(lines[5], "swappiness=0", "{out}");
        assert_eq!(lines[6], format!("soft={}", 32u64 << 20), "{out}");
    } else {
        assert_eq!(lines[5], format!("low={}", 32u64 << 20), "{out}");
    }

    // The cgroup namespace: host (v1's default) shows the container's cgroup path,
    // private shows the namespace's root; /sys/fs/cgroup is the container's own, read-only.
    let cgroup_of = |mode: &str| -> String {
        run(&[
            "run",
            "--rm",
            "--cgroupns",
            mode,
            "busybox",
            "sh",
            "-c",
            "grep -E '^[0-9]+:(memory)?:' /proc/self/cgroup | head -1; touch /sys/fs/cgroup/x 2>/dev/null && echo writable; \
             ls /sys/fs/cgroup | head -3 >/dev/null; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; true",
        ])
    };
    let private = cgroup_of("private");
    let first = private.lines().next().unwrap_or_default();
    assert!(first.ends_with(":/"), "private cgroupns: {private}");
    assert!(!private.contains("writable"), "{private}");
    let host = cgroup_of("host");
    let first = host.lines().next().unwrap_or_default();
    assert!(first.contains("/engine/"), "host cgroupns: {host}");
    let limited = run(&[
        "run",
        "--rm",
        "--pids-limit",
        "33",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; true",
    ]);
    assert_eq!(
        limited.trim(),
        "33",
        "the container's own limit at /sys/fs/cgroup"
    );

    // What cannot be done is refused, naming it.
    for (flags, want) in [
        (vec!["--log-driver", "syslog"], "syslog"),
        (vec!["--log-opt", "labels=a"], "labels"),
        (vec!["--volume-driver", "nfs"], "nfs"),
        // Docker's CLI refuses it itself ("invalid CGROUP mode").
        (vec!["--cgroupns", "shared"], "mode"),
        (vec!["--oom-score-adj", "1001"], "oom score adj"),
        (vec!["--memory-swappiness", "101"], "swappiness"),
        (vec!["--group-add", "nosuchgroup"], "nosuchgroup"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(flags.iter().copied());
        a.extend(["busybox", "true"]);
        let out = output(&a);
        assert!(!out.status.success(), "{a:?} must fail");
        assert!(text(&out).contains(want), "{a:?}: {}", text(&out));
    }
}

#[test]
fn root_host_options_through_the_engine_cli() {
    let test = "root_host_options_through_the_engine_cli";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let gateway = e.net.bridge_gateway();
    host_options_take_effect(&|a| e.ok(a), &|a| e.engine(a), &gateway);
    if cgroup_v1() {
        let id = e.ok(&["create", "--memory-swappiness", "0", "busybox", "true"]);
        let doc = e.inspect(id.trim());
        assert_eq!(doc["HostConfig"]["MemorySwappiness"], 0);
        assert_eq!(doc["HostConfig"]["CgroupnsMode"], "host");
    }
}

#[test]
fn root_host_options_through_dockers_cli() {
    let test = "root_host_options_through_dockers_cli";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let gateway = e.net.bridge_gateway();
    host_options_take_effect(&|a| d.ok(a), &|a| d.docker(a), &gateway);
    let id = d.ok(&[
        "create",
        "--oom-score-adj",
        "-300",
        "--domainname",
        "d.test",
        "--cgroupns",
        "private",
        "--dns-option",
        "ndots:2",
        "--group-add",
        "staff",
        "--memory-reservation",
        "20m",
        "--log-opt",
        "max-size=1k",
        "busybox",
        "true",
    ]);
    let hc = d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.OomScoreAdj}} {{.Config.Domainname}} {{.HostConfig.CgroupnsMode}} {{.HostConfig.DnsOptions}} {{.HostConfig.GroupAdd}} {{.HostConfig.MemoryReservation}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Config}}",
        id.trim(),
    ]);
    assert_eq!(
        hc.trim(),
        format!(
            "-300 d.test private [ndots:2] [staff] {} json-file map[max-size:1k]",
            20u64 << 20
        )
    );
    if cgroup_v1() {
        let id = d.ok(&["create", "--memory-swappiness", "0", "busybox", "true"]);
        let s = d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.MemorySwappiness}}",
            id.trim(),
        ]);
        assert_eq!(s.trim(), "0");
        // Inside, the cgroup the kernel uses says 0 too.
        let s = d.ok(&[
            "run",
            "--rm",
            "--memory-swappiness",
            "0",
            "busybox",
            "cat",
            "/sys/fs/cgroup/memory/memory.swappiness",
        ]);
        assert_eq!(s.trim(), "0");
    }
}

/// Output lines `0..n` on stdout, then wait for the log to hold the last one.
fn chatty(n: u32) -> String {
    format!("i=0; while [ $i -lt {n} ]; do echo line-$i; i=$((i+1)); done")
}

#[test]
fn root_log_rotation_and_the_none_driver() {
    let test = "root_log_rotation_and_the_none_driver";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    for (who, via_docker) in [("engine", false), ("docker", true)] {
        let name = format!("rot-{who}");
        let args = [
            "run",
            "--name",
            &name,
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=2",
            "busybox",
            "sh",
            "-c",
            &chatty(300),
        ];
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        if via_docker {
            d.ok(&args);
        } else {
            e.ok(&args);
        }
        let doc = e.inspect(&name);
        let log = doc["LogPath"].as_str().unwrap().to_string();
        let current = std::fs::metadata(&log).unwrap().len();
        let rotated = std::fs::metadata(format!("{log}.1")).unwrap().len();
        assert!(current <= 1100 && rotated <= 1100, "{current} {rotated}");
        assert!(!std::path::Path::new(&format!("{log}.2")).exists());
        // `logs` reads across both files: the newest lines, in order, without the oldest.
        let out = if via_docker {
            d.ok(&["logs", &name])
        } else {
            e.ok(&["logs", &name])
        };
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.last(), Some(&"line-299"), "{out}");
        assert!(!lines.contains(&"line-0"), "{out}");
        let first: u32 = lines[0].trim_start_matches("line-").parse().unwrap();
        assert!(lines.len() > 10, "{out}");
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(*l, format!("line-{}", first as usize + i));
        }
    }
    // none: nothing kept, and `logs` says so as Docker does.
    let id = d.ok(&[
        "run",
        "-d",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hidden",
    ]);
    let id = id.trim();
    d.ok(&["wait", id]);
    let out = d.docker(&["logs", id]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("configured logging driver does not support reading"),
        "{}",
        text(&out)
    );
    let out = e.engine(&["logs", id]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not support reading"),
        "{}",
        text(&out)
    );
    let log = e.inspect(id)["LogPath"].as_str().unwrap().to_string();
    assert!(!std::path::Path::new(&log).exists());
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", id])
            .trim(),
        "none"
    );
}

/// The container's memory limit and pids limit as it sees them at /sys/fs/cgroup.
fn limits_inside(exec: &dyn Fn(&[&str]) -> String, id: &str) -> String {
    exec(&[
        "exec",
        id,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; \
         cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; true",
    ])
}

#[test]
fn root_update_changes_a_running_containers_cgroup() {
    let test = "root_update_changes_a_running_containers_cgroup";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let id = d.ok(&[
        "run",
        "-d",
        "-m",
        "64m",
        "--pids-limit",
        "20",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = id.trim();
    assert_eq!(
        limits_inside(&|a| d.ok(a), id)
            .split_whitespace()
            .collect::<Vec<_>>(),
        [(64u64 << 20).to_string().as_str(), "20"]
    );
    // Docker's CLI: memory up (with swap), pids, CPUs and the restart policy.
    let out = d.ok(&[
        "update",
        "-m",
        "128m",
        "--memory-swap",
        "256m",
        "--pids-limit",
        "40",
        "--cpus",
        "0.5",
        "--restart",
        "on-failure:3",
        id,
    ]);
    assert_eq!(out.trim(), id);
    assert_eq!(
        limits_inside(&|a| d.ok(a), id)
            .split_whitespace()
            .collect::<Vec<_>>(),
        [(128u64 << 20).to_string().as_str(), "40"]
    );
    let hc = d.ok(&[
        "inspect", "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        id,
    ]);
    assert_eq!(
        hc.trim(),
        format!(
            "{} {} 40 500000000 on-failure:3",
            128u64 << 20,
            256u64 << 20
        )
    );
    if cgroup_v1() {
        let quota =
            std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/engine/{id}/cpu.cfs_quota_us"))
                .unwrap();
        assert_eq!(quota.trim(), "50000");
    }
    // Docker's conflicts and checks.
    let out = d.docker(&["update", "-m", "512m", id]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("Memory limit should be smaller than already set memoryswap limit"),
        "{}",
        text(&out)
    );
    let out = d.docker(&["update", "--cpu-quota", "20000", id]);
    assert!(
        text(&out).contains("NanoCPUs has already been set"),
        "{}",
        text(&out)
    );
    // Below what the container uses: the kernel refuses (v1; v2 reclaims or OOM-kills, as
    // with Docker), nothing changes.
    if cgroup_v1() {
        d.ok(&[
            "exec",
            id,
            "sh",
            "-c",
            "mkdir -p /dev/shm/x && dd if=/dev/zero of=/dev/shm/x/f bs=1M count=40 2>/dev/null",
        ]);
        let out = d.docker(&["update", "-m", "8m", "--memory-swap", "8m", id]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("Cannot update container {id}")),
            "{}",
            text(&out)
        );
        assert_eq!(
            d.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", id])
                .trim(),
            (128u64 << 20).to_string()
        );
    }
    // The engine's CLI, on the same container: pids back to unlimited.
    let out = e.ok(&["update", "--pids-limit", "-1", id]);
    assert_eq!(out.trim(), id);
    let inside = limits_inside(&|a| d.ok(a), id);
    assert_eq!(inside.split_whitespace().nth(1), Some("max"), "{inside}");
    let out = e.engine(&["update", id]);
    assert!(
        text(&out).contains("you must provide one or more flags"),
        "{}",
        text(&out)
    );
    let out = e.engine(&["update", "-m", "64m", "nosuch"]);
    assert!(!out.status.success());
    d.ok(&["rm", "-f", id]);

    // A stopped container: the record changes and the next start applies it.
    let id = d.ok(&["create", "-m", "64m", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; true"]);
    let id = id.trim();
    d.ok(&["update", "-m", "96m", "--memory-swap", "-1", id]);
    d.ok(&["start", id]);
    d.ok(&["wait", id]);
    assert_eq!(d.ok(&["logs", id]).trim(), (96u64 << 20).to_string());
    // --rm and a restart policy conflict.
    let rm = d.ok(&["create", "--rm", "busybox", "true"]);
    let out = d.docker(&["update", "--restart", "always", rm.trim()]);
    assert!(
        text(&out).contains("AutoRemove is enabled"),
        "{}",
        text(&out)
    );
}

#[test]
fn root_python_sdk_sets_host_options_logs_and_updates() {
    let test = "root_python_sdk_sets_host_options_logs_and_updates";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let Some(python) = sdk_python(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/sdk_flags.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&d.socket)
        .arg(if cgroup_v1() { "v1" } else { "v2" })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sdk_flags.py failed:\n{}\n{}\ndaemon log:\n{}",
        stdout(&out),
        stderr(&out),
        std::fs::read_to_string(e.path().join("daemon.log")).unwrap_or_default()
    );
    assert!(stdout(&out).ends_with("all ok\n"), "{}", stdout(&out));
}
