//! Docker's own clients driving `engine daemon`, as root: the Python SDK (installed in a
//! venv under target/ by scripts/client-venv.sh) running tests/clients/sdk.py.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use common::*;

#[test]
fn root_python_sdk_drives_the_daemon() {
    let test = "root_python_sdk_drives_the_daemon";
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
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/sdk.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&d.socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sdk.py failed:\n{}\n{}\ndaemon log:\n{}",
        stdout(&out),
        stderr(&out),
        std::fs::read_to_string(e.path().join("daemon.log")).unwrap_or_default()
    );
    assert!(stdout(&out).ends_with("all ok\n"), "{}", stdout(&out));
}

#[test]
fn root_docker_cli_sees_dockers_inspect_fields_filters_and_sizes() {
    let test = "root_docker_cli_sees_dockers_inspect_fields_filters_and_sizes";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    // Image inspect always has Config and ContainerConfig, with Docker's null fields.
    let img = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .ContainerConfig}}|{{json .Config.Volumes}}|{{.Config.Hostname}}.",
        "busybox",
    ]);
    assert!(img.starts_with("{\""), "{img}");
    assert!(img.contains("\"Volumes\":null"), "{img}");
    assert!(img.trim().ends_with("|null|."), "{img}");
    // Container inspect: LogConfig and the rest of HostConfig.
    d.ok(&[
        "create",
        "--name",
        "aa",
        "--label",
        "x=1",
        "--label",
        "y=2",
        "busybox",
        "sh",
        "-c",
        "busybox head -c 5000 /dev/zero > /big",
    ]);
    d.ok(&[
        "create", "--name", "bb", "--label", "x=1", "busybox", "true",
    ]);
    let hc = d.ok(&[
        "inspect",
        "-f",
        "{{json .HostConfig.LogConfig}} {{.HostConfig.ShmSize}} {{json .Config.OnBuild}}",
        "aa",
    ]);
    assert_eq!(
        hc.trim(),
        r#"{"Type":"json-file","Config":{}} 67108864 null"#
    );
    // Several label filters: all must match (Docker ANDs them).
    let ps = d.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        "label=x=1",
        "--filter",
        "label=y=2",
    ]);
    assert_eq!(ps, "aa\n");
    let ps = d.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        "label=x=1",
    ]);
    assert_eq!(ps.lines().count(), 2, "{ps}");
    // Sizes: the writable layer's bytes once the container wrote a file.
    d.ok(&["start", "-a", "aa"]);
    let size = d.ok(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        "name=aa",
        "--format",
        "{{.Size}}",
    ]);
    assert!(size.starts_with("5kB (virtual "), "{size}");
    let doc = d.ok(&["inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "aa"]);
    let mut sizes = doc.split_whitespace().map(|s| s.parse::<u64>().unwrap());
    let (rw, root) = (sizes.next().unwrap(), sizes.next().unwrap());
    assert_eq!(rw, 5000);
    assert!(root > 1_000_000, "{doc}");
    // `rm` right after `start -a` returned: never "running".
    for _ in 0..5 {
        d.ok(&["create", "--name", "quick", "busybox", "true"]);
        d.ok(&["start", "-a", "quick"]);
        d.ok(&["rm", "quick"]);
    }
}

#[test]
fn root_docker_compose_keeps_a_named_volume_across_down_and_up() {
    let test = "root_docker_compose_keeps_a_named_volume_across_down_and_up";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    if !std::path::Path::new("/usr/bin/docker-compose").exists() {
        graph::testsuite::skip(
            test,
            "needs docker-compose (apt-get install docker-compose)",
        );
        return;
    }
    let d = Daemon::start(&e, docker);
    let project = tempfile::Builder::new().prefix("proj").tempdir().unwrap();
    // network_mode: bridge keeps compose from creating a project network (networks are
    // another issue's work); the service and its named volume are what is tested here.
    std::fs::write(
        project.path().join("docker-compose.yml"),
        r#"version: "3"
services:
  app:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo started >> /data/log; sleep 600 & wait"]
    network_mode: bridge
    volumes:
      - appdata:/data
volumes:
  appdata:
"#,
    )
    .unwrap();
    let name = project
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    let compose = |args: &[&str]| {
        let out = std::process::Command::new("/usr/bin/docker-compose")
            .args(args)
            .current_dir(project.path())
            .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        stderr(&out)
    };
    let volume = format!("{name}_appdata");
    compose(&["up", "-d"]);
    let again = compose(&["up", "-d"]);
    assert!(again.contains("is up-to-date"), "{again}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]), format!("{volume}\n"));
    compose(&["down"]);
    assert_eq!(
        d.ok(&["volume", "ls", "-q"]),
        format!("{volume}\n"),
        "down keeps it"
    );
    compose(&["up", "-d"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = d.ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{volume}:/data"),
            "busybox",
            "cat",
            "/data/log",
        ]);
        if log == "started\nstarted\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{log:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    compose(&["down", "-v"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "", "down -v removes it");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn root_skopeo_copies_an_oci_layout_into_the_daemon() {
    let test = "root_skopeo_copies_an_oci_layout_into_the_daemon";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    if !std::path::Path::new("/usr/bin/skopeo").exists() {
        graph::testsuite::skip(test, "needs skopeo (apt-get install skopeo)");
        return;
    }
    let d = Daemon::start(&e, docker);
    let tar = e.path().join("oci.tar");
    e.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        tar.to_str().unwrap(),
        "busybox",
    ]);
    let dir = e.path().join("oci");
    std::fs::create_dir(&dir).unwrap();
    tar::Archive::new(std::fs::File::open(&tar).unwrap())
        .unpack(&dir)
        .unwrap();
    // skopeo streams a tar it makes as it goes (a chunked POST /images/load, length
    // unknown) and stops at the first byte of answer: the daemon must read it all first.
    let out = std::process::Command::new("/usr/bin/skopeo")
        .args([
            "copy",
            "--dest-daemon-host",
            &format!("unix://{}", d.socket.display()),
            &format!("oci:{}", dir.display()),
            "docker-daemon:copied:v1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        d.ok(&["run", "--rm", "copied:v1", "echo", "copied"]),
        "copied\n"
    );
}
