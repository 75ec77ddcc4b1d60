//! `save`, `load` and `export` end to end, and their interoperability with real peers:
//! Docker 20.10's dockerd (`docker load`/`docker save`), skopeo and umoci, as root.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest as _, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The diff ids of an image, from `image inspect`.
fn layers_of(e: &Engine, image: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["image", "inspect", image])).unwrap();
    v[0]["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

fn image_id(e: &Engine, image: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["image", "inspect", image])).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

/// Runs `engine` with `input` on standard input.
fn engine_with_stdin(e: &Engine, args: &[&str], input: &[u8]) -> Output {
    let mut child = e
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// busybox plus a second layer made by a container (a file added, one deleted), committed.
fn two_layer_image(e: &Engine, tag: &str) {
    e.ok(&[
        "run",
        "--name",
        "maker",
        "busybox",
        "sh",
        "-c",
        "echo second layer > /added && rm /etc/notexec",
    ]);
    e.ok(&["commit", "maker", tag]);
    e.ok(&["rm", "maker"]);
}

fn layer_count(e: &Engine) -> usize {
    e.ok(&["layer", "ls", "-q"]).lines().count()
}

fn save_load_round_trip(e: &Engine) {
    two_layer_image(e, "app:v1");
    let id = image_id(e, "app:v1");
    let layers = layers_of(e, "app:v1");
    assert_eq!(layers.len(), 2);
    let saved = e.path().join("app.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), "app:v1"]);
    let bytes = std::fs::read(&saved).unwrap();

    // The archive is an OCI layout and a docker archive; layer blobs hash to their diff ids.
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&bytes[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if let Some(hex) = name.strip_prefix("blobs/sha256/")
            && !hex.is_empty()
        {
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            assert_eq!(
                sha256_hex(&body),
                hex,
                "blob {name} does not match its name"
            );
        }
        names.push(name);
    }
    for needed in ["manifest.json", "index.json", "oci-layout"] {
        assert!(
            names.iter().any(|n| n == needed),
            "{needed} missing: {names:?}"
        );
    }
    for l in &layers {
        let blob = format!("blobs/sha256/{}", l.trim_start_matches("sha256:"));
        assert!(names.contains(&blob), "layer blob {blob} missing");
    }

    // Saving again (to stdout) gives the same bytes.
    let again = e.command(&["save", "app:v1"]).output().unwrap();
    assert!(again.status.success());
    assert!(again.stdout == bytes, "a second save differs");

    e.ok(&["rmi", "app:v1"]);
    e.ok(&["rmi", "busybox"]);
    assert_eq!(layer_count(e), 0);
    let out = e.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: app:v1");
    assert_eq!(image_id(e, "app:v1"), id);
    assert_eq!(layers_of(e, "app:v1"), layers);
    // Go templates, as docker's --format flags take them.
    assert_eq!(
        e.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{len .RootFS.Layers}}",
            "app:v1"
        ])
        .trim(),
        format!("{id} 2")
    );
    assert_eq!(
        e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", "app"]),
        "app:v1\n"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "app:v1", "cat", "/added"]),
        "second layer\n"
    );
    let listing = e.ok(&["run", "--rm", "app:v1", "ls", "/etc"]);
    assert!(!listing.contains("notexec"), "{listing}");

    // From a pipe, gzip-compressed: the same image, nothing new stored.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let out = engine_with_stdin(e, &["load"], &gz.finish().unwrap());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "Loaded image: app:v1");
    assert_eq!(layer_count(e), 2);

    // --format oci: no manifest.json, loads back (untagged: an OCI ref name is a bare tag).
    let oci = e.path().join("oci.tar");
    e.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        oci.to_str().unwrap(),
        "app:v1",
    ]);
    let listing = Command::new("tar").arg("-tf").arg(&oci).output().unwrap();
    assert!(!stdout(&listing).contains("manifest.json"));
    e.ok(&["rmi", "app:v1"]);
    let out = e.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("Loaded image: app:v1"));
    assert_eq!(image_id(e, "app:v1"), id);
}

fn export_writes_the_container_filesystem(e: &Engine) {
    e.ok(&["create", "--name", "c1", "busybox", "true"]);
    let out = e.command(&["export", "c1"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names = Vec::new();
    for entry in tar::Archive::new(&out.stdout[..]).entries().unwrap() {
        let entry = entry.unwrap();
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(names.iter().any(|n| n == "etc/passwd"), "{names:?}");
    let file = e.path().join("c1.tar");
    e.ok(&["export", "-o", file.to_str().unwrap(), "c1"]);
    assert_eq!(std::fs::read(&file).unwrap(), out.stdout);
    // Importing the export gives a runnable image.
    e.ok(&["import", file.to_str().unwrap(), "flat"]);
    assert_eq!(e.ok(&["run", "--rm", "flat", "echo", "flat"]), "flat\n");
}

on_both_drivers!(save_load_round_trip, save_load_round_trip);
on_both_drivers!(
    export_writes_the_container_filesystem,
    export_writes_the_container_filesystem
);

#[test]
fn root_load_rejects_bad_archives_and_keeps_nothing() {
    let Some(e) = Engine::new("root_load_rejects_bad_archives_and_keeps_nothing", "vfs") else {
        return;
    };
    two_layer_image(&e, "app:v1");
    let saved = e.path().join("app.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), "app:v1"]);
    let bytes = std::fs::read(&saved).unwrap();
    let layers = layers_of(&e, "app:v1");
    e.ok(&["rmi", "app:v1"]);
    e.ok(&["rmi", "busybox"]);

    let write = |name: &str, data: &[u8]| -> PathBuf {
        let p = e.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let fails = |path: &Path, want: &str| {
        let out = e.engine(&["load", "-i", path.to_str().unwrap()]);
        assert!(
            !out.status.success(),
            "load of {} succeeded",
            path.display()
        );
        assert!(
            stderr(&out).contains(want),
            "load of {}: want {want:?} in: {}",
            path.display(),
            stderr(&out)
        );
        assert_eq!(e.ok(&["images", "-q"]), "", "an image was left behind");
        assert_eq!(layer_count(&e), 0, "a layer was left behind");
    };

    // Truncated in the middle of the first layer blob.
    fails(
        &write("truncated.tar", &bytes[..bytes.len() / 3]),
        "truncated",
    );
    // A byte of file content flipped: the layer no longer hashes to its diff id.
    let top = layers[1].trim_start_matches("sha256:");
    let mut flipped = bytes.clone();
    let marker = b"second layer\n";
    let at = flipped
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    flipped[at] = b'S';
    let out = e.engine(&[
        "load",
        "-i",
        write("flipped.tar", &flipped).to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("diff id") || err.contains(top), "{err}");
    assert_eq!(e.ok(&["images", "-q"]), "");
    assert_eq!(layer_count(&e), 0, "a layer was left behind: {err}");
    // Not an archive at all, and an archive without an index.
    fails(&write("junk.tar", &[0x5a; 3000]), "invalid archive");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, "hello.txt", &b"hi"[..]).unwrap();
    fails(
        &write("plain.tar", &b.into_inner().unwrap()),
        "neither manifest.json",
    );
    fails(&e.path().join("missing.tar"), "missing.tar");
    // Nothing was lost: the good archive still loads.
    e.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(layers_of(&e, "app:v1"), layers);
}

#[test]
fn root_save_refuses_a_missing_image_and_leaves_no_file() {
    let Some(e) = Engine::new(
        "root_save_refuses_a_missing_image_and_leaves_no_file",
        "vfs",
    ) else {
        return;
    };
    let out_file = e.path().join("out.tar");
    let out = e.engine(&[
        "save",
        "-o",
        out_file.to_str().unwrap(),
        "busybox",
        "nosuch:1",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nosuch:1"), "{}", stderr(&out));
    assert!(!out_file.exists());
    let leftovers: Vec<_> = std::fs::read_dir(e.path())
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with(".engine-out-"))
        .collect();
    assert!(leftovers.is_empty());
}

/// A peer tool, or a skip (a failure under ENGINE_REQUIRE_ROOT_TESTS=1).
fn tool(test: &str, name: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    graph::testsuite::skip(
        test,
        &format!("needs {name} (scripts/install-deps.sh installs it)"),
    );
    None
}

fn run_tool(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

#[test]
fn root_skopeo_reads_engine_archives_and_engine_reads_skopeo_archives() {
    let test = "root_skopeo_reads_engine_archives_and_engine_reads_skopeo_archives";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(skopeo) = tool(test, "skopeo") else {
        return;
    };
    two_layer_image(&e, "app:v1");
    let layers = layers_of(&e, "app:v1");
    let saved = e.path().join("app.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), "app:v1"]);

    // skopeo reads both faces of the archive.
    let inspect = run_tool(
        Command::new(&skopeo)
            .arg("inspect")
            .arg(format!("docker-archive:{}", saved.display())),
    );
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let seen: Vec<String> = v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, layers);
    let inspect = run_tool(
        Command::new(&skopeo)
            .arg("inspect")
            .arg("--config")
            .arg(format!("oci-archive:{}:v1", saved.display())),
    );
    assert!(inspect.contains("rootfs"), "{inspect}");

    // skopeo writes a docker archive under another tag and an OCI archive with gzip layers;
    // engine loads both and runs them.
    let docker_archive = e.path().join("skopeo-docker.tar");
    run_tool(
        Command::new(&skopeo)
            .arg("copy")
            .arg("-q")
            .arg(format!("docker-archive:{}", saved.display()))
            .arg(format!(
                "docker-archive:{}:copied:v2",
                docker_archive.display()
            )),
    );
    let oci_archive = e.path().join("skopeo-oci.tar");
    run_tool(
        Command::new(&skopeo)
            .arg("copy")
            .arg("-q")
            .arg("--dest-compress")
            .arg(format!("docker-archive:{}", saved.display()))
            .arg(format!(
                "oci-archive:{}:docker.io/library/gz:v3",
                oci_archive.display()
            )),
    );
    e.ok(&["rmi", "app:v1"]);
    e.ok(&["rmi", "busybox"]);
    let out = e.ok(&["load", "-i", docker_archive.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: copied:v2");
    assert_eq!(layers_of(&e, "copied:v2"), layers);
    let out = e.ok(&["load", "-i", oci_archive.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: gz:v3");
    assert_eq!(layers_of(&e, "gz:v3"), layers);
    assert_eq!(
        e.ok(&["run", "--rm", "gz:v3", "cat", "/added"]),
        "second layer\n"
    );
}

/// Every path under `root` with what it is: file content digest, link target or "dir".
fn tree(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let t = entry.file_type();
        let what = if t.is_symlink() {
            format!("-> {}", std::fs::read_link(entry.path()).unwrap().display())
        } else if t.is_dir() {
            "dir".to_string()
        } else {
            sha256_hex(&std::fs::read(entry.path()).unwrap())
        };
        out.push((rel, what));
    }
    out
}

#[test]
fn root_umoci_unpacks_the_saved_oci_layout_to_the_same_rootfs() {
    let test = "root_umoci_unpacks_the_saved_oci_layout_to_the_same_rootfs";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(umoci) = tool(test, "umoci") else {
        return;
    };
    two_layer_image(&e, "app:v1");
    let saved = e.path().join("app.tar");
    e.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        saved.to_str().unwrap(),
        "app:v1",
    ]);
    let layout = e.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    run_tool(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-xf")
            .arg(&saved),
    );
    let bundle = e.path().join("bundle");
    run_tool(
        Command::new(&umoci)
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:v1", layout.display()))
            .arg(&bundle),
    );
    // engine's view of the same image: a container's filesystem, exported.
    e.ok(&["create", "--name", "view", "app:v1"]);
    let exported = e.path().join("view.tar");
    e.ok(&["export", "-o", exported.to_str().unwrap(), "view"]);
    let mine = e.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    run_tool(
        Command::new("tar")
            .arg("-C")
            .arg(&mine)
            .arg("-xf")
            .arg(&exported),
    );
    let theirs = tree(&bundle.join("rootfs"));
    // The runtime's mount points exist in engine's container only.
    let ours: Vec<_> = tree(&mine)
        .into_iter()
        .filter(|(p, _)| {
            ![
                "proc",
                "sys",
                "dev",
                "etc/hostname",
                "etc/hosts",
                "etc/resolv.conf",
            ]
            .iter()
            .any(|m| p == m || p.starts_with(&format!("{m}/")))
        })
        .collect();
    assert_eq!(ours, theirs);
    assert!(theirs.iter().any(|(p, _)| p == "added"));
    assert!(!theirs.iter().any(|(p, _)| p == "etc/notexec"));
}

/// A dockerd (Docker 20.10 from Debian's docker.io) of our own: its own data root, exec
/// root and socket, no bridge or iptables; stopped and removed on drop.
struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
    docker: PathBuf,
}

impl Dockerd {
    fn start(test: &str) -> Option<Dockerd> {
        let dockerd = tool(test, "dockerd")?;
        let docker = ["/usr/bin/docker", "/usr/local/bin/docker"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let Some(docker) = docker else {
            graph::testsuite::skip(test, "needs the docker client (apt-get install docker.io)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("dockerd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(["--storage-driver", "overlay2"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let daemon = Dockerd { dir, child, docker };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if daemon.docker(&["version"]).status.success() {
                return Some(daemon);
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}",
                std::fs::read_to_string(daemon.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.docker)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("docker.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        stdout(&out)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // dockerd's containerd and shims: whatever still runs with our directory in its
        // command line; then their mounts.
        kill_processes_mentioning(self.dir.path());
        std::thread::sleep(Duration::from_millis(200));
        unmount_under(self.dir.path());
    }
}

#[test]
fn root_docker_and_engine_load_each_others_saves_with_equal_digests() {
    let test = "root_docker_and_engine_load_each_others_saves_with_equal_digests";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = Dockerd::start(test) else {
        return;
    };
    two_layer_image(&e, "app:v1");
    let layers = layers_of(&e, "app:v1");
    let id = image_id(&e, "app:v1");

    // engine save -> docker load -> docker run.
    let saved = e.path().join("engine.tar");
    e.ok(&["save", "-o", saved.to_str().unwrap(), "app:v1"]);
    let out = docker.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: app:v1"), "{out}");
    let inspect = docker.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{json .RootFS.Layers}}",
        "app:v1",
    ]);
    assert_eq!(
        inspect.trim(),
        format!("{id} {}", serde_json::to_string(&layers).unwrap())
    );
    assert_eq!(
        docker.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "app:v1",
            "cat",
            "/added"
        ]),
        "second layer\n"
    );

    // docker builds on it (a third layer), docker save -> engine load -> engine run.
    docker.ok(&[
        "run",
        "--name",
        "d1",
        "--network",
        "none",
        "app:v1",
        "sh",
        "-c",
        "echo made by docker > /docker-file && rm /added",
    ]);
    docker.ok(&["commit", "d1", "fromdocker:v2"]);
    let docker_layers: Vec<String> = serde_json::from_str(
        docker
            .ok(&[
                "image",
                "inspect",
                "-f",
                "{{json .RootFS.Layers}}",
                "fromdocker:v2",
            ])
            .trim(),
    )
    .unwrap();
    let docker_id = docker.ok(&["image", "inspect", "-f", "{{.Id}}", "fromdocker:v2"]);
    let from_docker = e.path().join("docker.tar");
    docker.ok(&["save", "-o", from_docker.to_str().unwrap(), "fromdocker:v2"]);
    let out = e.ok(&["load", "-i", from_docker.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: fromdocker:v2");
    assert_eq!(layers_of(&e, "fromdocker:v2"), docker_layers);
    assert_eq!(image_id(&e, "fromdocker:v2"), docker_id.trim());
    assert_eq!(&docker_layers[..2], &layers[..]);
    assert_eq!(
        e.ok(&["run", "--rm", "fromdocker:v2", "cat", "/docker-file"]),
        "made by docker\n"
    );
    let ls = e.ok(&["run", "--rm", "fromdocker:v2", "ls", "/"]);
    assert!(!ls.contains("added"), "{ls}");

    // And back: engine's save of docker's image is what docker had, byte for byte per layer.
    let resaved = e.path().join("resaved.tar");
    e.ok(&["save", "-o", resaved.to_str().unwrap(), "fromdocker:v2"]);
    docker.ok(&["rmi", "fromdocker:v2"]);
    let out = docker.ok(&["load", "-i", resaved.to_str().unwrap()]);
    assert!(out.contains("fromdocker:v2"), "{out}");
    assert_eq!(
        docker.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "fromdocker:v2",
            "cat",
            "/docker-file"
        ]),
        "made by docker\n"
    );
}

/// Serves `body` over HTTP on loopback at /rootfs.tar (404 for anything else), for as long as
/// the test runs; returns the base URL.
fn serve(body: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            let _ = if line.starts_with("GET /rootfs.tar ") {
                stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|()| stream.write_all(&body))
            } else {
                stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
            };
        }
    });
    url
}

#[test]
fn root_import_from_a_url() {
    let Some(e) = Engine::new("root_import_from_a_url", "overlay2") else {
        return;
    };
    let url = serve(busybox_tar());
    let out = e.ok(&["import", &format!("{url}/rootfs.tar"), "fromurl:1"]);
    assert!(out.trim().starts_with("sha256:"), "{out}");
    assert_eq!(
        e.ok(&["run", "--rm", "fromurl:1", "echo", "downloaded"]),
        "downloaded\n"
    );
    let missing = e.engine(&["import", &format!("{url}/nope.tar"), "nope:1"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));
    assert!(!e.ok(&["images"]).contains("nope"));
}

/// `save -o`/`export -o`/`layer export -o` onto a device node or a FIFO: refused as Docker's
/// CLI refuses it, and the node is still what it was (a rename would have replaced it with a
/// regular file). The device is a copy of /dev/null made in the test's own root, never the
/// host's /dev/null.
#[test]
fn root_save_and_export_refuse_device_nodes_and_fifos() {
    let Some(e) = Engine::new("root_save_and_export_refuse_device_nodes_and_fifos", "vfs") else {
        return;
    };
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    use std::os::unix::fs::FileTypeExt;
    let fifo = e.path().join("fifo");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
    let null = e.path().join("null");
    mknod(
        &null,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .unwrap();
    e.ok(&["create", "--name", "c1", "busybox", "true"]);
    let chain = e
        .ok(&["layer", "ls", "-q"])
        .lines()
        .next()
        .unwrap()
        .to_string();
    for (node, got) in [(&fifo, "got a named pipe"), (&null, "got a device")] {
        let p = node.to_str().unwrap();
        let cases: [(&[&str], &str); 3] = [
            (&["save", "-o", p, "busybox"], "failed to save image: "),
            (&["export", "-o", p, "c1"], "failed to export container: "),
            (&["layer", "export", "-o", p, &chain], ""),
        ];
        for (args, prefix) in cases {
            let out = e.engine(args);
            assert!(!out.status.success(), "{args:?} succeeded");
            let want = format!(
                "{prefix}invalid output path: {p:?} must be a directory or a regular file: {got}"
            );
            assert!(stderr(&out).contains(&want), "{args:?}: {}", stderr(&out));
        }
    }
    let t = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(t.is_fifo(), "the FIFO was replaced: {t:?}");
    let t = std::fs::symlink_metadata(&null).unwrap().file_type();
    assert!(t.is_char_device(), "the device node was replaced: {t:?}");
    // A directory and a missing parent get their own clear errors.
    let dir = e.path().to_str().unwrap();
    let out = e.engine(&["save", "-o", dir, "busybox"]);
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
    let missing = e.path().join("nodir/out.tar");
    let out = e.engine(&["save", "-o", missing.to_str().unwrap(), "busybox"]);
    assert!(
        stderr(&out).contains("directory") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
    // A regular file is still replaced whole.
    let file = e.path().join("out.tar");
    std::fs::write(&file, b"old").unwrap();
    e.ok(&["save", "-o", file.to_str().unwrap(), "busybox"]);
    assert!(std::fs::metadata(&file).unwrap().len() > 100_000);
}

/// A layer tar as GNU tar writes it with `--sparse --format=posix` (PAX sparse `version`):
/// busybox's root plus a 64 MiB file with three small data runs.
fn gnu_sparse_layer(e: &Engine, version: &str) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let src = e.path().join(format!("sparse-src-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    tar::Archive::new(&busybox_tar()[..]).unpack(&src).unwrap();
    let f = std::fs::File::create(src.join("sparse.img")).unwrap();
    f.set_len(64 << 20).unwrap();
    f.write_all_at(b"HEAD", 0).unwrap();
    f.write_all_at(b"MIDDLE", 30_000_000).unwrap();
    f.write_all_at(b"TAIL", (64 << 20) - 4).unwrap();
    let out = Command::new("tar")
        .args(["--sparse", "--format=posix"])
        .arg(format!("--sparse-version={version}"))
        .arg("-C")
        .arg(&src)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {}", stderr(&out));
    out.stdout
}

#[test]
fn root_gnu_pax_sparse_layers_import_run_export_and_save_byte_exact() {
    let test = "root_gnu_pax_sparse_layers_import_run_export_and_save_byte_exact";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    for version in ["1.0", "0.1", "0.0"] {
        let layer = gnu_sparse_layer(&e, version);
        let file = e.path().join(format!("sparse-{version}.tar"));
        std::fs::write(&file, &layer).unwrap();
        let image = format!("sparse:v{}", version.replace('.', ""));
        e.ok(&["import", file.to_str().unwrap(), &image]);
        // The diff id is the archive's own digest.
        let diff_id = format!("sha256:{}", sha256_hex(&layer));
        assert_eq!(layers_of(&e, &image), [diff_id], "{version}");
        // In a container: the real name, the logical size, the data, few blocks, no junk.
        let out = e.ok(&[
            "run",
            "--rm",
            &image,
            "sh",
            "-c",
            "stat -c '%s %b' /sparse.img; head -c 4 /sparse.img; tail -c 4 /sparse.img; echo; ls /",
        ]);
        let mut lines = out.lines();
        let stat: Vec<u64> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(stat[0], 64 << 20, "{version}: {out}");
        assert!(
            stat[1] * 512 < 4 << 20,
            "{version}: holes were filled: {out}"
        );
        assert_eq!(lines.next(), Some("HEADTAIL"), "{version}: {out}");
        assert!(!out.contains("GNUSparseFile"), "{version}: {out}");
        // export: the file as the sparse file it is, in a tar Docker's reader takes.
        e.ok(&["create", "--name", "sp", &image, "true"]);
        let exported = e.command(&["export", "sp"]).output().unwrap();
        assert!(exported.status.success(), "{}", stderr(&exported));
        let mut found = None;
        for entry in tar::Archive::new(&exported.stdout[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some("sparse.img") {
                let mut head = [0u8; 4];
                entry.read_exact(&mut head).unwrap();
                found = Some((entry.size(), head));
            }
        }
        assert_eq!(found, Some((64 << 20, *b"HEAD")), "{version}");
        e.ok(&["rm", "sp"]);
        // save: the layer blob is GNU tar's bytes again (save checks the digest as it goes).
        let saved = e.path().join(format!("saved-{version}.tar"));
        e.ok(&["save", "-o", saved.to_str().unwrap(), &image]);
        let blob = format!("blobs/sha256/{}", sha256_hex(&layer));
        let mut archive = tar::Archive::new(std::fs::File::open(&saved).unwrap());
        let mut got = None;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some(blob.as_str()) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                got = Some(bytes);
            }
        }
        assert!(
            got.as_deref() == Some(&layer[..]),
            "{version}: the saved layer differs"
        );
    }
}
