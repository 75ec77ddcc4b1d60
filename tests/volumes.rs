//! Volumes through the CLI and through Docker's CLI on `engine daemon`, as root: named and
//! anonymous volumes, image `VOLUME`s, copy-up, `--mount` (bind, volume, tmpfs),
//! `--volumes-from`, the `local` driver's tmpfs and bind options, in-use refusals, prune.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use common::*;

/// Mount points under `dir` in this (the host's) mount namespace.
fn host_mounts_under(dir: &std::path::Path) -> Vec<String> {
    let want = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| mp.starts_with(&want))
        .map(str::to_string)
        .collect()
}

fn volumes_cli(e: &Engine) {
    // A named volume is created on first use and filled from the image (/www has
    // index.html), with the image directory's owner and mode.
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "site:/www",
        "busybox",
        "sh",
        "-c",
        "cat /www/index.html; echo added > /www/new.txt",
    ]);
    assert_eq!(out, "hello from httpd\n");
    let v: Vec<serde_json::Value> =
        serde_json::from_str(&e.ok(&["volume", "inspect", "site"])).unwrap();
    let mountpoint = v[0]["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(
        mountpoint,
        e.path().join("volumes/site/_data").to_str().unwrap()
    );
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(
        std::fs::read_to_string(format!("{mountpoint}/new.txt")).unwrap(),
        "added\n"
    );
    // Not empty any more: a second container sees what the first left, nothing re-copied.
    std::fs::remove_file(format!("{mountpoint}/index.html")).unwrap();
    let out = e.ok(&["run", "--rm", "-v", "site:/www:ro", "busybox", "ls", "/www"]);
    assert_eq!(out, "new.txt\n");
    // Read-only means read-only.
    let ro = e.engine(&[
        "run",
        "--rm",
        "-v",
        "site:/www:ro",
        "busybox",
        "touch",
        "/www/x",
    ]);
    assert!(!ro.status.success());
    assert!(
        stderr(&ro).contains("Read-only file system"),
        "{}",
        stderr(&ro)
    );
    // nocopy: a new volume stays empty.
    let out = e.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=bare,dst=/www,volume-nocopy",
        "busybox",
        "ls",
        "-A",
        "/www",
    ]);
    assert_eq!(out, "");

    // Labels, filters, the listing.
    e.ok(&[
        "volume", "create", "--label", "team=a", "--label", "tier=db", "labelled",
    ]);
    let ls = e.ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=team=a",
        "--filter",
        "label=tier",
    ]);
    assert_eq!(ls, "labelled\n");
    let ls = e.ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=team=a",
        "--filter",
        "label=other",
    ]);
    assert_eq!(ls, "", "label filters are ANDed");
    let ls = e.ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.split_whitespace().eq(["local", "labelled"])),
        "{ls}"
    );

    // In use (by a stopped container too): refused with Docker's message, then removable.
    let id = e.ok(&[
        "create",
        "--name",
        "user",
        "-v",
        "labelled:/data",
        "busybox",
        "true",
    ]);
    let refused = e.engine(&["volume", "rm", "labelled"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(&format!(
            "remove labelled: volume is in use - [{}]",
            id.trim()
        )),
        "{}",
        stderr(&refused)
    );
    let forced = e.engine(&["volume", "rm", "-f", "labelled"]);
    assert!(
        !forced.status.success(),
        "-f does not remove a volume in use"
    );
    assert!(e.path().join("volumes/labelled/_data").exists());
    e.ok(&["volume", "rm", "-f", "never-was"]);
    let inspect = e.inspect("user");
    let m = &inspect["Mounts"][0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Name"], "labelled");
    assert_eq!(m["Destination"], "/data");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["RW"], true);
    assert_eq!(m["Mode"], "z");
    assert!(m.get("Anonymous").is_none(), "{m}");
    e.ok(&["rm", "user"]);
    assert_eq!(e.ok(&["volume", "rm", "labelled"]), "labelled\n");
    let missing = e.engine(&["volume", "inspect", "labelled"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("No such volume: labelled"));

    // Anonymous volumes: -v /path and an image's VOLUME; rm -v takes them, rm alone keeps.
    e.ok(&[
        "commit",
        "--change",
        "VOLUME [\"/www\"]",
        e.ok(&["create", "busybox", "true"]).trim(),
        "withvol",
    ]);
    e.ok(&["container", "prune", "-f"]);
    let before = e.ok(&["volume", "ls", "-q"]);
    e.ok(&[
        "create", "--name", "anon", "-v", "/scratch", "withvol", "true",
    ]);
    let inspect = e.inspect("anon");
    let mounts = inspect["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert!(
        inspect["Config"]["Volumes"].get("/www").is_some(),
        "{inspect}"
    );
    assert!(
        inspect["Config"]["Volumes"].get("/scratch").is_some(),
        "{inspect}"
    );
    let www = mounts.iter().find(|m| m["Destination"] == "/www").unwrap();
    let anon_name = www["Name"].as_str().unwrap().to_string();
    assert_eq!(anon_name.len(), 64);
    // The image's VOLUME was filled from the image.
    assert!(
        e.path()
            .join(format!("volumes/{anon_name}/_data/index.html"))
            .exists()
    );
    e.ok(&["rm", "-v", "anon"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), before, "rm -v removed them");
    e.ok(&[
        "create", "--name", "keep", "-v", "/scratch", "busybox", "true",
    ]);
    let kept = e.inspect("keep")["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    e.ok(&["rm", "keep"]);
    assert!(
        e.ok(&["volume", "ls", "-q"]).contains(&kept),
        "rm without -v keeps it"
    );
    // --rm removes a run's anonymous volumes, never a named one.
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "/gone",
        "-v",
        "named:/named",
        "busybox",
        "true",
    ]);
    let ls = e.ok(&["volume", "ls", "-q"]);
    assert!(ls.contains("named\n"), "{ls}");
    assert_eq!(ls.lines().count(), before.lines().count() + 2, "{ls}");

    // --volumes-from: the same volumes, read-only when asked.
    e.ok(&[
        "create",
        "--name",
        "holder",
        "-v",
        "shared:/shared",
        "busybox",
        "true",
    ]);
    e.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /shared/one",
    ]);
    let ro = e.engine(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder:ro",
        "busybox",
        "sh",
        "-c",
        "cat /shared/one; echo 2 > /shared/two",
    ]);
    assert_eq!(stdout(&ro), "1\n");
    assert!(
        stderr(&ro).contains("Read-only file system"),
        "{}",
        stderr(&ro)
    );

    // --mount bind and tmpfs, with their options.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "host file\n").unwrap();
    let src = host.path().to_str().unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,source={src},target=/h,readonly"),
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
        "busybox",
        "sh",
        "-c",
        "cat /h/f; grep ' /t ' /proc/mounts; stat -c %a /t; touch /h/x 2>&1 || true",
    ]);
    assert!(out.starts_with("host file\n"), "{out}");
    assert!(
        out.contains("tmpfs /t tmpfs rw,nosuid,nodev,noexec"),
        "{out}"
    );
    assert!(out.contains("size=1024k"), "{out}");
    assert!(out.contains("1770\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    // Refused clearly: unsupported propagation, a missing bind source, a bad key, a dup.
    for (args, want) in [
        (
            vec!["--mount", "type=bind,src=/,dst=/x,bind-propagation=rshared"],
            "bind propagation \"rshared\" is not supported",
        ),
        (
            vec!["--mount", "type=bind,src=/no/such/dir,dst=/x"],
            "bind source path does not exist: /no/such/dir",
        ),
        (
            vec!["--mount", "type=tmpfs,dst=/x,foo=1"],
            "unexpected key 'foo'",
        ),
        (
            vec!["-v", "a1:/x", "-v", "a2:/x"],
            "Duplicate mount point: /x",
        ),
        (vec!["-v", "data:relative"], "mount path must be absolute"),
    ] {
        let mut full = vec!["run", "--rm"];
        full.extend(args);
        full.extend(["busybox", "true"]);
        let out = e.engine(&full);
        assert!(!out.status.success(), "{full:?}");
        assert!(stderr(&out).contains(want), "{full:?}: {}", stderr(&out));
    }

    // The local driver's options: a tmpfs volume is mounted while used, shared by its users,
    // and unmounted after the last one.
    e.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "tv",
    ]);
    let data = e.path().join("volumes/tv/_data");
    e.ok(&[
        "run", "-d", "--name", "t1", "-v", "tv:/tv", "busybox", "sleep", "600",
    ]);
    e.ok(&[
        "run", "-d", "--name", "t2", "-v", "tv:/tv", "busybox", "sleep", "600",
    ]);
    assert_eq!(host_mounts_under(&data).len(), 1);
    e.ok(&["exec", "t1", "sh", "-c", "echo x > /tv/f"]);
    assert_eq!(e.ok(&["exec", "t2", "cat", "/tv/f"]), "x\n");
    assert!(
        e.ok(&["exec", "t2", "grep", " /tv ", "/proc/mounts"])
            .contains("tmpfs")
    );
    e.ok(&["rm", "-f", "t1"]);
    assert_eq!(host_mounts_under(&data).len(), 1, "t2 still uses it");
    e.ok(&["rm", "-f", "t2"]);
    assert!(
        host_mounts_under(&data).is_empty(),
        "unmounted after the last user"
    );
    // A bind volume (type=none,o=bind) shows the host directory.
    e.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        &format!("device={src}"),
        "-o",
        "o=bind",
        "bv",
    ]);
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "bv:/b", "busybox", "cat", "/b/f"]),
        "host file\n"
    );
    assert!(host_mounts_under(&e.path().join("volumes/bv")).is_empty());
    e.ok(&["volume", "rm", "bv"]);
    assert!(
        host.path().join("f").exists(),
        "removing a bind volume keeps its device"
    );
    let bad = e.engine(&["volume", "create", "-o", "foo=1", "badopt"]);
    assert!(
        stderr(&bad).contains("invalid option key: \"foo\""),
        "{}",
        stderr(&bad)
    );
    let bad = e.engine(&["volume", "create", "bad/name"]);
    assert!(
        stderr(&bad).contains("includes invalid characters"),
        "{}",
        stderr(&bad)
    );

    // Prune takes every unused volume, and only those.
    e.ok(&[
        "create",
        "--name",
        "pinned",
        "-v",
        "pinnedvol:/p",
        "busybox",
        "true",
    ]);
    let pruned = e.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("Deleted Volumes:"), "{pruned}");
    assert!(pruned.contains("site\n"), "{pruned}");
    assert!(!pruned.contains("pinnedvol"), "{pruned}");
    // `holder` (stopped) still uses `shared`.
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "pinnedvol\nshared\n");
}

on_both_drivers!(volumes_cli);

#[test]
fn root_docker_cli_drives_volumes() {
    let test = "root_docker_cli_drives_volumes";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    assert_eq!(d.ok(&["volume", "create", "--label", "k=v", "dv"]), "dv\n");
    let ls = d.ok(&[
        "volume",
        "ls",
        "--format",
        "{{.Driver}} {{.Name}} {{.Labels}}",
    ]);
    assert_eq!(ls, "local dv k=v\n");
    let mp = d.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}} {{.Scope}}",
        "dv",
    ]);
    assert_eq!(
        mp.trim(),
        format!("{} local", e.path().join("volumes/dv/_data").display())
    );
    // run -v NAME, --mount, and inspect's Mounts as Docker shows them.
    let out = d.ok(&[
        "run",
        "--name",
        "c1",
        "-v",
        "dv:/www",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1048576",
        "busybox",
        "sh",
        "-c",
        "cat /www/index.html; grep ' /t ' /proc/mounts",
    ]);
    assert!(out.starts_with("hello from httpd\n"), "{out}");
    assert!(out.contains("size=1024k"), "{out}");
    let mounts = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}}:{{.RW}};{{end}}",
        "c1",
    ]);
    assert_eq!(mounts.trim(), "volume:dv:/www:true;tmpfs::/t:true;");
    let hc = d.ok(&["inspect", "-f", "{{json .HostConfig.Mounts}}", "c1"]);
    assert!(hc.contains("\"Type\":\"tmpfs\""), "{hc}");
    // In use: Docker's 409 and message.
    let refused = d.docker(&["volume", "rm", "dv"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("volume is in use"),
        "{}",
        stderr(&refused)
    );
    // system df counts volumes.
    let df = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(df.contains("Local Volumes 1 1"), "{df}");
    // docker rm -v removes the anonymous volumes.
    d.ok(&["create", "--name", "c2", "-v", "/anon", "busybox", "true"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    d.ok(&["rm", "-v", "c2"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "dv\n");
    d.ok(&["rm", "c1"]);
    let pruned = d.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("dv"), "{pruned}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
    let missing = d.docker(&["volume", "inspect", "dv"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("No such volume"),
        "{}",
        stderr(&missing)
    );
}
