//! End-to-end tests of `pull`, `push`, `login` and `logout` against a real registry (Debian's
//! `docker-registry`, distribution 2.x) on a free loopback port, with `skopeo` as the second
//! client. Each test has its own data root, registry storage, credentials file and certs dir
//! (test-support's `Engine` and `Registry` fixtures), all removed (and the registry killed)
//! by Drop guards even when the test fails.
//!
//! Root tier: `engine run` and the storage drivers need root. When the registry or skopeo is
//! missing, the tests print SKIP, or fail under `ENGINE_REQUIRE_ROOT_TESTS=1`.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::registry::{Registry, RegistryOpts, free_port_on, registry_available};
use common::{Engine, stderr, stdout};
use sha2::{Digest as _, Sha256};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An engine (the shared fixture, on vfs) with this file's small busybox image, its own
/// credentials file and certs dir. The caller checked [`registry_available`].
fn engine(test: &str) -> Engine {
    Engine::with_image(test, "vfs", &busybox_tar()).expect("the tier was checked")
}

fn images_rows(e: &Engine) -> Vec<String> {
    e.ok(&["images", "--digests", "--no-trunc"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// A root filesystem with a static busybox, `sh`, `echo` and `cat`.
fn busybox_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin", &[][..]).unwrap();
    let data = std::fs::read(common::BUSYBOX).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", &data[..]).unwrap();
    for applet in ["sh", "echo", "cat"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let msg = b"made by the registry tests\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(msg.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "hello.txt", &msg[..]).unwrap();
    b.into_inner().unwrap()
}

/// The value after `prefix` on the line that starts with it.
fn line_value(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"))
        .to_string()
}

/// `TAG: digest: sha256:... size: N` -> (digest, N).
fn pushed_digest(out: &str, tag: &str) -> (String, usize) {
    let rest = line_value(out, &format!("{tag}: digest: "));
    let (digest, size) = rest.split_once(" size: ").unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{out}");
    (digest.to_string(), size.parse().unwrap())
}

fn run_cat(e: &Engine, image: &str) -> String {
    e.ok(&["run", "--rm", image, "cat", "/hello.txt"])
}

#[test]
fn root_push_rmi_pull_run_round_trip() {
    let test = "root_push_rmi_pull_run_round_trip";
    if !registry_available(test, &[]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let e = engine(test);
    let name = format!("{}/bb:v1", reg.host);
    e.ok(&["tag", "busybox", &name]);
    let local_id = e.inspect(&name)["Id"].clone();
    let out = e.ok(&["push", &name]);
    assert!(
        out.starts_with(&format!("The push refers to repository [{}/bb]", reg.host)),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let (digest, size) = pushed_digest(&out, "v1");
    // The registry has exactly that manifest.
    let manifest = ureq::get(&format!("http://{}/v2/bb/manifests/v1", reg.host))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert_eq!(sha256(&manifest), digest);
    assert_eq!(manifest.len(), size);

    // A second push sends nothing again.
    let again = e.ok(&["push", &name]);
    assert!(again.contains(": Layer already exists"), "{again}");
    assert!(!again.contains(": Pushed"), "{again}");
    assert_eq!(pushed_digest(&again, "v1").0, digest);

    e.ok(&["rmi", &name, "busybox"]);
    assert!(images_rows(&e).is_empty(), "{:?}", images_rows(&e));

    let out = e.ok(&["pull", &name]);
    assert!(out.starts_with("v1: Pulling from bb\n"), "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert_eq!(line_value(&out, "Digest: "), digest);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}\n")),
        "{out}"
    );
    assert_eq!(out.lines().last().unwrap(), name);
    assert_eq!(run_cat(&e, &name), "made by the registry tests\n");

    // The image id is the digest of the config the manifest names.
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let inspect = e.inspect(&name);
    assert_eq!(inspect["Id"], m["config"]["digest"]);
    // Layers export byte for byte (tar-split): the registry's image is the local one.
    assert_eq!(inspect["Id"], local_id);
    assert_eq!(
        inspect["RepoDigests"],
        serde_json::json!([format!("{}/bb@{digest}", reg.host)])
    );
    let rows = images_rows(&e);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains(&digest), "{rows:?}");

    let out = e.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {name}\n")),
        "{out}"
    );
    assert!(!out.contains("Pull complete"), "{out}");
    assert_eq!(e.ok(&["pull", "-q", &name]), format!("{name}\n"));
    assert_eq!(e.ok(&["push", "-q", &name]), format!("{name}\n"));

    // By digest: the same image, no tag added.
    let by_digest = format!("{}/bb@{digest}", reg.host);
    let out = e.ok(&["pull", &by_digest]);
    assert!(out.contains(&format!("{digest}: Pulling from bb")), "{out}");
    assert_eq!(out.lines().last().unwrap(), by_digest);

    // Pushing the pulled image back: its layers are known, nothing is recompressed or sent.
    let out = e.ok(&["push", &name]);
    assert!(out.contains(": Layer already exists"), "{out}");
    assert_eq!(pushed_digest(&out, "v1").0, digest);
}

#[test]
fn root_pull_errors_name_what_failed() {
    let test = "root_pull_errors_name_what_failed";
    if !registry_available(test, &[]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let e = engine(test);
    let name = format!("{}/bb:v1", reg.host);
    e.ok(&["tag", "busybox", &name]);
    e.ok(&["push", &name]);

    let err = e.fails(&["pull", &format!("{}/bb:nope", reg.host)]);
    assert!(
        err.contains(&format!(
            "manifest for {}/bb:nope not found: manifest unknown",
            reg.host
        )),
        "{err}"
    );
    let err = e.fails(&["pull", &format!("{}/nothere", reg.host)]);
    assert!(err.contains("not found"), "{err}");
    assert!(err.contains("unknown"), "{err}");

    let missing = format!("{}/bb@sha256:{}", reg.host, "0".repeat(64));
    let err = e.fails(&["pull", &missing]);
    assert!(err.contains("manifest unknown"), "{err}");

    let dead = format!(
        "127.0.0.1:{}",
        free_port_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    let err = e.fails(&["pull", &format!("{dead}/x")]);
    assert!(
        err.contains(&format!("cannot reach registry {dead}")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");

    let err = e.fails(&["push", &format!("{}/bb:absent", reg.host)]);
    assert!(
        err.contains("An image does not exist locally with the tag"),
        "{err}"
    );
    let err = e.fails(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("does not match the specified platform"),
        "{err}"
    );
    assert!(err.contains("wanted linux/s390x"), "{err}");
    // Failed pulls leave no layers and no temp files behind.
    let layers = e.ok(&["layer", "ls", "-q"]);
    assert_eq!(layers.lines().count(), 1, "{layers}");
    let tmp = e.root.path().join("tmp");
    // The scratch area's own lock file is not a leftover.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| !p.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// A `docker save` archive of busybox: what skopeo copies from.
fn docker_archive(dir: &Path) -> (PathBuf, String) {
    let layer = busybox_tar();
    let diff_id = sha256(&layer);
    let config = serde_json::json!({
        "architecture": graph::image::host_architecture(),
        "os": "linux",
        "config": { "Cmd": ["sh"], "Env": ["PATH=/bin"] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created_by": "registry tests" }],
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["sk:latest"],
        "Layers": ["layer/layer.tar"],
    }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("layer/layer.tar", &layer);
    add(&config_name, &config);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let path = dir.join("archive.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    (path, sha256(&config))
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn root_skopeo_pushes_docker_and_oci_manifests_that_engine_pulls_and_runs() {
    let test = "root_skopeo_pushes_docker_and_oci_manifests_that_engine_pulls_and_runs";
    if !registry_available(test, &["skopeo"]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let e = engine(test);
    let work = tempfile::tempdir().unwrap();
    let (archive, config_digest) = docker_archive(work.path());
    for (tag, format) in [("v2s2", "v2s2"), ("oci", "oci")] {
        let digest_file = work.path().join(format!("{tag}.digest"));
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--format",
            format,
            "--digestfile",
            digest_file.to_str().unwrap(),
            &format!("docker-archive:{}", archive.display()),
            &format!("docker://{}/sk:{tag}", reg.host),
        ]);
        let digest = std::fs::read_to_string(&digest_file).unwrap();
        let name = format!("{}/sk:{tag}", reg.host);
        let out = e.ok(&["pull", &name]);
        assert_eq!(line_value(&out, "Digest: "), digest.trim(), "{out}");
        assert!(
            out.contains("Pull complete") || out.contains("Already exists"),
            "{out}"
        );
        // The config's bytes are kept exactly: the image id is the digest the manifest names.
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{name}"),
        ]);
        assert_eq!(sha256(raw.as_bytes()), digest.trim());
        let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(
            e.inspect(&name)["Id"],
            manifest["config"]["digest"],
            "{tag}"
        );
        if tag == "v2s2" {
            assert_eq!(manifest["config"]["digest"], config_digest.as_str());
        } else {
            assert_eq!(
                manifest["mediaType"],
                "application/vnd.oci.image.manifest.v1+json"
            );
        }
        assert_eq!(run_cat(&e, &name), "made by the registry tests\n");
    }
}

#[test]
fn root_run_and_build_pull_a_missing_image() {
    let test = "root_run_and_build_pull_a_missing_image";
    if !registry_available(test, &[]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let e = engine(test);
    let name = format!("{}/auto:v1", reg.host);
    e.ok(&["tag", "busybox", &name]);
    e.ok(&["push", "-q", &name]);
    e.ok(&["rmi", &name, "busybox"]);

    // run: "Unable to find image" on stderr, the container's output alone on stdout.
    let out = e.engine(&["run", "--rm", &name, "cat", "/hello.txt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "made by the registry tests\n");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Unable to find image '{name}' locally")),
        "{err}"
    );
    assert!(
        err.contains(&format!("Status: Downloaded newer image for {name}")),
        "{err}"
    );

    // build: a missing base image is pulled too.
    e.ok(&["rmi", &name]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {name}\nRUN cat /hello.txt > /copy.txt\n"),
    )
    .unwrap();
    e.ok(&["build", "-t", "built:1", ctx.path().to_str().unwrap()]);
    assert_eq!(
        e.ok(&["run", "--rm", "built:1", "cat", "/copy.txt"]),
        "made by the registry tests\n"
    );

    // A name no registry has: the pull's error, status 125.
    let missing = format!("{}/nosuch:v1", reg.host);
    let out = e.engine(&["run", "--rm", &missing, "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("manifest unknown") || stderr(&out).contains("not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_engine_push_is_read_by_skopeo() {
    let test = "root_engine_push_is_read_by_skopeo";
    if !registry_available(test, &["skopeo"]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let e = engine(test);
    let name = format!("{}/app:1.0", reg.host);
    e.ok(&["tag", "busybox", &name]);
    let (digest, _) = pushed_digest(&e.ok(&["push", &name]), "1.0");
    let v: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]))
    .unwrap();
    assert_eq!(v["Digest"], digest);
    assert_eq!(v["Architecture"], graph::image::host_architecture());
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("copy");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("dir:{}", dest.display()),
    ]);
    let manifest = std::fs::read(dest.join("manifest.json")).unwrap();
    assert_eq!(sha256(&manifest), digest);
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(v["Layers"][0], layer);
    let blob = std::fs::read(dest.join(layer.strip_prefix("sha256:").unwrap())).unwrap();
    assert_eq!(sha256(&blob), layer);
    // The pushed config's diff id is the digest of the layer blob uncompressed.
    let config_digest = m["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dest.join(config_digest.strip_prefix("sha256:").unwrap())).unwrap(),
    )
    .unwrap();
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&blob[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"][0], sha256(&plain));
}

#[test]
fn root_manifest_list_selects_the_platform() {
    let test = "root_manifest_list_selects_the_platform";
    if !registry_available(test, &[]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let e = engine(test);
    let single = format!("{}/multi:single", reg.host);
    e.ok(&["tag", "busybox", &single]);
    let (digest, size) = pushed_digest(&e.ok(&["push", &single]), "single");
    let entry = |arch: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "size": size,
            "digest": digest,
            "platform": { "architecture": arch, "os": "linux" },
        })
    };
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [entry("s390x"), entry(graph::image::host_architecture())],
    });
    let list = serde_json::to_vec(&list).unwrap();
    let response = ureq::put(&format!("http://{}/v2/multi/manifests/list", reg.host))
        .header(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .send(&list[..])
        .unwrap();
    assert_eq!(response.status(), 201);
    e.ok(&["rmi", &single, "busybox"]);

    let name = format!("{}/multi:list", reg.host);
    let out = e.ok(&["pull", &name]);
    // The repo digest is the list's, as Docker records it.
    assert_eq!(line_value(&out, "Digest: "), sha256(&list));
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(run_cat(&e, &name), "made by the registry tests\n");

    let err = e.fails(&["pull", "--platform", "linux/riscv64", &name]);
    assert!(
        err.contains("no matching manifest for linux/riscv64 in the manifest list entries"),
        "{err}"
    );
    // The s390x entry exists but its config says otherwise.
    let err = e.fails(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("does not match the specified platform"),
        "{err}"
    );
}

fn htpasswd(user: &str, password: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .unwrap();
    assert!(out.status.success(), "htpasswd: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn root_basic_auth_login_push_pull_logout() {
    let test = "root_basic_auth_login_push_pull_logout";
    if !registry_available(test, &["htpasswd"]) {
        return;
    }
    let reg = Registry::start(RegistryOpts {
        htpasswd: Some(htpasswd("alice", "s3cret")),
        ..RegistryOpts::default()
    });
    let e = engine(test);
    let name = format!("{}/private:v1", reg.host);
    e.ok(&["tag", "busybox", &name]);
    let err = e.fails(&["push", &name]);
    assert!(err.contains("unauthorized"), "{err}");

    let out = e.with_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        "wrong\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("incorrect username or password"),
        "{}",
        stderr(&out)
    );
    assert!(!e.credentials_file().exists());

    let out = e.with_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.host],
        "s3cret\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Login Succeeded\n");
    let file = e.credentials_file();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        stored["auths"][&reg.host]["auth"],
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    );

    let (digest, _) = pushed_digest(&e.ok(&["push", &name]), "v1");
    e.ok(&["rmi", &name, "busybox"]);
    let out = e.ok(&["pull", &name]);
    assert_eq!(line_value(&out, "Digest: "), digest);
    assert_eq!(run_cat(&e, &name), "made by the registry tests\n");

    assert_eq!(
        e.ok(&["logout", &reg.host]),
        format!("Removing login credentials for {}\n", reg.host)
    );
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(stored["auths"].get(&reg.host).is_none(), "{stored}");
    assert_eq!(
        e.ok(&["logout", &reg.host]),
        format!("Not logged in to {}\n", reg.host)
    );
    let err = e.fails(&["pull", &format!("{}/private:v1", reg.host)]);
    assert!(err.contains("unauthorized"), "{err}");
}

/// What the token server saw.
#[derive(Default)]
struct TokenLog {
    requests: Vec<BTreeMap<String, String>>,
}

/// An HTTP front for the registry that demands Bearer tokens, and the token server that
/// issues them (to alice:s3cret only), on one loopback port. Each connection carries one
/// request; the registry's answer is relayed as it comes.
struct BearerFront {
    host: String,
    log: Arc<Mutex<TokenLog>>,
}

const TOKEN: &str = "tok-0123456789";

impl BearerFront {
    fn start(upstream: String) -> BearerFront {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(TokenLog::default()));
        let (front_host, front_log) = (host.clone(), Arc::clone(&log));
        // The thread ends with the test process; its port is never reused within it.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (host, log, upstream) =
                    (front_host.clone(), Arc::clone(&front_log), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &host, &upstream, &log);
                });
            }
        });
        BearerFront { host, log }
    }
}

fn serve_one(
    mut conn: TcpStream,
    host: &str,
    upstream: &str,
    log: &Mutex<TokenLog>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = head[0].clone();
    let header = |name: &str| {
        head.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let target = request_line.split(' ').nth(1).unwrap_or("/").to_string();
    let reply = |conn: &mut TcpStream, status: &str, headers: &str, body: &str| {
        write!(
            conn,
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    if let Some(query) = target.strip_prefix("/token") {
        let params: BTreeMap<String, String> = query
            .trim_start_matches('?')
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        log.lock().unwrap().requests.push(params);
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
        );
        if header("authorization").as_deref() == Some(good.as_str()) {
            let token = format!("{{\"token\":\"{TOKEN}\"}}");
            return reply(
                &mut conn,
                "200 OK",
                "Content-Type: application/json\r\n",
                &token,
            );
        }
        return reply(
            &mut conn,
            "401 Unauthorized",
            "",
            "{\"details\":\"bad credentials\"}",
        );
    }
    if header("authorization").as_deref() != Some(&format!("Bearer {TOKEN}")) {
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"test-registry\"\r\nContent-Type: application/json\r\n"
        );
        return reply(
            &mut conn,
            "401 Unauthorized",
            &challenge,
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
        );
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(request_line.as_bytes())?;
    for line in head.iter().skip(1) {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !matches!(name.as_str(), "connection" | "authorization" | "\r\n") {
            up.write_all(line.as_bytes())?;
        }
    }
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&body)?;
    std::io::copy(&mut up, &mut conn)?;
    Ok(())
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn root_bearer_token_flow_login_push_pull() {
    let test = "root_bearer_token_flow_login_push_pull";
    if !registry_available(test, &[]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let front = BearerFront::start(reg.host.clone());
    let e = engine(test);
    let name = format!("{}/tok/app:v1", front.host);
    e.ok(&["tag", "busybox", &name]);

    // Anonymous: the token server refuses, and the push says so.
    let err = e.fails(&["push", &name]);
    assert!(err.contains("incorrect username or password"), "{err}");

    let out = e.with_stdin(
        &["login", "-u", "alice", "--password-stdin", &front.host],
        "nope\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("incorrect username or password"),
        "{}",
        stderr(&out)
    );
    let out = e.with_stdin(
        &["login", "-u", "alice", "--password-stdin", &front.host],
        "s3cret\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"));

    let (digest, _) = pushed_digest(&e.ok(&["push", &name]), "v1");
    e.ok(&["rmi", &name, "busybox"]);
    let out = e.ok(&["pull", &name]);
    assert_eq!(line_value(&out, "Digest: "), digest);
    assert_eq!(run_cat(&e, &name), "made by the registry tests\n");

    let log = front.log.lock().unwrap();
    let scopes: Vec<&str> = log
        .requests
        .iter()
        .filter_map(|r| r.get("scope").map(String::as_str))
        .collect();
    assert!(
        scopes.contains(&"repository:tok/app:pull,push"),
        "{scopes:?}"
    );
    assert!(scopes.contains(&"repository:tok/app:pull"), "{scopes:?}");
    assert!(
        log.requests
            .iter()
            .all(|r| r.get("service").map(String::as_str) == Some("test-registry")),
        "{:?}",
        log.requests
    );
    assert!(
        log.requests
            .iter()
            .any(|r| r.get("account").map(String::as_str) == Some("alice"))
    );
}

/// This machine's first non-loopback IPv4 address: loopback registries are insecure (no
/// certificate check) by Docker's rule, so a TLS test needs another address.
fn non_loopback_ip() -> Option<IpAddr> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter_map(|a| a.address)
        .filter_map(|a| a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())))
        .find(|ip| !ip.is_loopback())
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

#[test]
fn root_https_registry_with_a_private_ca() {
    let test = "root_https_registry_with_a_private_ca";
    if !registry_available(test, &["openssl"]) {
        return;
    }
    let Some(ip) = non_loopback_ip() else {
        graph::testsuite::skip(test, "needs a non-loopback IPv4 address");
        return;
    };
    let pki = tempfile::tempdir().unwrap();
    let p = |f: &str| pki.path().join(f).to_string_lossy().into_owned();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=engine test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.crt"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        &format!("/CN={ip}"),
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(
        p("ext.cnf"),
        format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("server.crt"),
    ]);
    let reg = Registry::start(RegistryOpts {
        tls: Some((p("server.crt").into(), p("server.key").into())),
        ip: Some(ip),
        ..RegistryOpts::default()
    });
    let mut e = engine(test);
    let name = format!("{}/secure:v1", reg.host);
    e.ok(&["tag", "busybox", &name]);

    // Unknown CA: refused, naming the certificate problem.
    let err = e.fails(&["push", &name]);
    assert!(
        err.contains(&format!("cannot reach registry {}", reg.host)),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let certs = e.certs.path().join(&reg.host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(p("ca.crt"), certs.join("ca.crt")).unwrap();
    let (digest, _) = pushed_digest(&e.ok(&["push", &name]), "v1");
    e.ok(&["rmi", &name, "busybox"]);
    let out = e.ok(&["pull", &name]);
    assert_eq!(line_value(&out, "Digest: "), digest);
    assert_eq!(run_cat(&e, &name), "made by the registry tests\n");

    // Without the CA but declared insecure (flag, or daemon.json): TLS without checks, as
    // Docker does.
    std::fs::remove_dir_all(&certs).unwrap();
    e.ok(&["rmi", &name]);
    e.extra_flags = vec!["--insecure-registry".into(), reg.host.clone()];
    let out = e.ok(&["pull", &name]);
    assert_eq!(line_value(&out, "Digest: "), digest);
    e.ok(&["rmi", &name]);
    let daemon_json = pki.path().join("daemon.json");
    std::fs::write(
        &daemon_json,
        serde_json::json!({ "insecure-registries": [reg.host] }).to_string(),
    )
    .unwrap();
    e.extra_flags = vec![
        "--config".into(),
        daemon_json.to_string_lossy().into_owned(),
    ];
    let out = e.ok(&["pull", &name]);
    assert_eq!(line_value(&out, "Digest: "), digest);
}

#[test]
fn root_corrupt_blob_fails_the_pull_and_leaves_nothing_behind() {
    let test = "root_corrupt_blob_fails_the_pull_and_leaves_nothing_behind";
    if !registry_available(test, &[]) {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let e = engine(test);
    // Two layers: busybox, and a commit on it.
    e.ok(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo two > /two.txt",
    ]);
    let name = format!("{}/two:v1", reg.host);
    e.ok(&["commit", "c1", &name]);
    e.ok(&["rm", "c1"]);
    e.ok(&["push", &name]);
    let manifest = ureq::get(&format!("http://{}/v2/two/manifests/v1", reg.host))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["layers"].as_array().unwrap().len(), 2, "{m}");
    // With the base layer here (pulled as an image of its own), only the top one is fetched.
    let base_name = format!("{}/base:v1", reg.host);
    e.ok(&["tag", "busybox", &base_name]);
    e.ok(&["push", &base_name]);
    e.ok(&["rmi", &name, &base_name, "busybox"]);
    assert_eq!(e.ok(&["layer", "ls", "-q"]), "");
    e.ok(&["pull", &base_name]);
    let out = e.ok(&["pull", &name]);
    let base = m["layers"][0]["digest"].as_str().unwrap();
    let top = m["layers"][1]["digest"].as_str().unwrap();
    assert!(
        out.contains(&format!("{}: Already exists", &base[7..19])),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: Pull complete", &top[7..19])),
        "{out}"
    );
    assert_eq!(e.ok(&["run", "--rm", &name, "cat", "/two.txt"]), "two\n");
    e.ok(&["rmi", &name, &base_name]);
    assert_eq!(e.ok(&["layer", "ls", "-q"]), "");

    // A config whose second diff id is wrong: both layers are applied, the check fails, and
    // the pull takes back what it stored.
    let config_digest = m["config"]["digest"].as_str().unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(
        &ureq::get(&format!("http://{}/v2/two/blobs/{config_digest}", reg.host))
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap(),
    )
    .unwrap();
    let bogus = sha256(b"not this layer");
    config["rootfs"]["diff_ids"][1] = bogus.clone().into();
    let config = serde_json::to_vec(&config).unwrap();
    let upload = ureq::post(&format!("http://{}/v2/two/blobs/uploads/", reg.host))
        .send_empty()
        .unwrap();
    let location = upload.headers()["location"].to_str().unwrap().to_string();
    let sep = if location.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{location}{sep}digest={}", sha256(&config)))
        .send(&config[..])
        .unwrap();
    let mut bad = m.clone();
    bad["config"]["digest"] = sha256(&config).into();
    bad["config"]["size"] = config.len().into();
    ureq::put(&format!("http://{}/v2/two/manifests/bad", reg.host))
        .header(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send(&serde_json::to_vec(&bad).unwrap()[..])
        .unwrap();
    let err = e.fails(&["pull", &format!("{}/two:bad", reg.host)]);
    assert!(
        err.contains(&format!("but the image config says {bogus}")),
        "{err}"
    );
    assert_eq!(e.ok(&["layer", "ls", "-q"]), "");
    assert!(images_rows(&e).is_empty());

    let top = m["layers"][1]["digest"].as_str().unwrap().to_string();
    let hex = top.strip_prefix("sha256:").unwrap();
    let data = reg
        .storage()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    let err = e.fails(&["pull", &name]);
    assert!(
        err.contains(&format!("digest mismatch for blob {top}")),
        "{err}"
    );
    assert_eq!(e.ok(&["layer", "ls", "-q"]), "");
    assert!(images_rows(&e).is_empty());
    let left: Vec<_> = std::fs::read_dir(e.root.path().join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| !p.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
