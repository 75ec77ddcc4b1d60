//! The API daemon against hostile clients, as root: Dockerfile names that point out of the
//! build context, slow and idle connections, more connections than the cap, and the TCP
//! listener with mutual TLS driven by Docker's own CLI.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;

/// One HTTP/1.0 request on the daemon's socket; the whole answer (the server closes).
fn raw_request(d: &Daemon, head: &str, body: &[u8]) -> String {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A build context tar: a Dockerfile and a symlink `link` to `target`.
fn context_tar(target: &std::path::Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let df = b"FROM busybox\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(df.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "Dockerfile", &df[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "link", target).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn root_build_reads_the_dockerfile_only_from_the_context() {
    let test = "root_build_reads_the_dockerfile_only_from_the_context";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    // A host file outside the context, that would parse as a Dockerfile if it were read.
    let secret = e.path().join("secret");
    std::fs::write(&secret, "FROM busybox\nLABEL leaked=host-secret\n").unwrap();
    let tar = context_tar(&secret);
    let climb = format!("../../../../../../..{}", secret.display());
    for (name, want) in [
        (climb.as_str(), "Forbidden path outside the build context"),
        (
            secret.to_str().unwrap(),
            "Cannot locate specified Dockerfile",
        ),
        ("link", "Cannot locate specified Dockerfile"),
    ] {
        let query: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
        let head = format!(
            "POST /v1.41/build?t=leak&dockerfile={query} HTTP/1.0\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
            tar.len()
        );
        let answer = raw_request(&d, &head, &tar);
        assert!(answer.contains(want), "{name}: {answer}");
        assert!(!answer.contains("Successfully built"), "{name}: {answer}");
    }
    assert!(
        e.ok(&["images", "-q", "leak"]).is_empty(),
        "an image was built"
    );
    // The context's own Dockerfile still builds.
    let head = format!(
        "POST /v1.41/build?t=fine HTTP/1.0\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.len()
    );
    let answer = raw_request(&d, &head, &tar);
    assert!(
        answer.contains("Successfully tagged fine:latest"),
        "{answer}"
    );
}

/// Reads until the server closes the connection (or answers 408 and closes); panics if it is
/// still open after a minute. Gives what was read.
fn read_until_closed(s: &mut UnixStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the daemon kept the connection open: {e} (read so far: {:?})",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn root_api_drops_slow_and_idle_clients_but_keeps_streams() {
    let test = "root_api_drops_slow_and_idle_clients_but_keeps_streams";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start_with(&e, docker, &["--api-header-timeout", "1"]);

    // Slowloris: a header line every 200 ms never completes the request; the daemon hangs
    // up once the header timeout is over, however busy the client looks.
    let mut slow = UnixStream::connect(&d.socket).unwrap();
    slow.write_all(b"GET /_ping HTTP/1.1\r\nHost: engine\r\n")
        .unwrap();
    let mut trickle = slow.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        for i in 0..300 {
            if trickle
                .write_all(format!("X-Slow-{i}: x\r\n").as_bytes())
                .is_err()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    });
    let answer = read_until_closed(&mut slow);
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(trickler.join().unwrap(), "the daemon never hung up");

    // Idle keep-alive: answered, then closed once idle for the timeout.
    let mut idle = UnixStream::connect(&d.socket).unwrap();
    idle.write_all(b"GET /_ping HTTP/1.1\r\nHost: engine\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");

    // Hijacked and streaming answers last longer than the timeout.
    let out = d.docker(&[
        "run",
        "--name",
        "late",
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 3; echo late",
    ]);
    assert_eq!(stdout(&out), "early\nlate\n", "{}", stderr(&out));
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slowlog",
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 3; echo two",
    ]);
    let out = d.docker(&["logs", "-f", "slowlog"]);
    assert_eq!(stdout(&out), "one\ntwo\n", "{}", stderr(&out));
    let out = d.docker(&["exec", "late", "true"]);
    // `late` has exited: Docker's 409, proving the exec path still answers.
    assert!(!out.status.success());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = d.docker(&["events", "--until", &(now + 3).to_string()]);
    assert!(out.status.success(), "events: {}", stderr(&out));
}

/// Sockets the process `pid` has open.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|f| {
            std::fs::read_link(f.path())
                .map(|t| t.to_string_lossy().starts_with("socket:"))
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn root_api_connections_beyond_the_cap_wait_without_taking_descriptors() {
    let test = "root_api_connections_beyond_the_cap_wait_without_taking_descriptors";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start_with(&e, docker, &["--api-max-connections", "4"]);
    let pid = d.child.id();
    // Four idle connections take the four slots (each answered once, so surely accepted).
    let mut held: Vec<UnixStream> = (0..4)
        .map(|_| {
            let mut s = UnixStream::connect(&d.socket).unwrap();
            s.write_all(b"GET /_ping HTTP/1.1\r\nHost: engine\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
            s
        })
        .collect();
    let base = open_sockets(pid);
    // 100 more: they connect (the kernel queues them) and send their requests, but the
    // daemon takes none of them while the slots are full.
    let mut waiting: Vec<UnixStream> = (0..100)
        .map(|_| {
            let mut s = UnixStream::connect(&d.socket).unwrap();
            s.write_all(b"GET /_ping HTTP/1.0\r\n\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        open_sockets(pid),
        base,
        "the daemon accepted connections past its cap"
    );
    // Freeing the slots lets every waiting client through, in turn.
    held.clear();
    for s in &mut waiting {
        let answer = read_until_closed(s);
        assert!(answer.starts_with("HTTP/1.0 200 OK"), "{answer}");
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl as
/// Docker's documentation makes them; and a client certificate from another CA.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new(test: &str) -> Option<Certs> {
        if !std::path::Path::new("/usr/bin/openssl").exists() {
            graph::testsuite::skip(test, "needs openssl (scripts/install-deps.sh installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
        };
        std::fs::write(
            dir.path().join("server.cnf"),
            "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("client.cnf"),
            "extendedKeyUsage = clientAuth\n",
        )
        .unwrap();
        for ca in ["ca", "otherca"] {
            run(&["genrsa", "-out", &format!("{ca}-key.pem"), "2048"]);
            run(&[
                "req",
                "-new",
                "-x509",
                "-days",
                "2",
                "-sha256",
                "-subj",
                &format!("/CN=engine-test-{ca}"),
                "-key",
                &format!("{ca}-key.pem"),
                "-out",
                &format!("{ca}.pem"),
            ]);
        }
        for (name, ca, ext) in [
            ("server", "ca", "server.cnf"),
            ("client", "ca", "client.cnf"),
            ("stranger", "otherca", "client.cnf"),
        ] {
            run(&["genrsa", "-out", &format!("{name}-key.pem"), "2048"]);
            run(&[
                "req",
                "-new",
                "-sha256",
                "-subj",
                &format!("/CN={name}"),
                "-key",
                &format!("{name}-key.pem"),
                "-out",
                &format!("{name}.csr"),
            ]);
            run(&[
                "x509",
                "-req",
                "-days",
                "2",
                "-sha256",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}-key.pem"),
                "-CAcreateserial",
                "-out",
                &format!("{name}-cert.pem"),
                "-extfile",
                ext,
            ]);
        }
        Some(Certs { dir })
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

/// `docker` against the TCP listener, as the user `who` (a cert name, or None for no cert).
fn docker_tcp(
    d: &Daemon,
    certs: &Certs,
    port: u16,
    who: Option<&str>,
    args: &[&str],
) -> std::process::Output {
    let mut c = d.command(&[]);
    c.env_remove("DOCKER_HOST")
        .arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"));
    match who {
        Some(name) => {
            c.arg("--tlsverify")
                .arg("--tlscacert")
                .arg(certs.path("ca.pem"))
                .arg("--tlscert")
                .arg(certs.path(&format!("{name}-cert.pem")))
                .arg("--tlskey")
                .arg(certs.path(&format!("{name}-key.pem")));
        }
        None => {
            c.arg("--tls").arg("--tlscacert").arg(certs.path("ca.pem"));
        }
    }
    c.args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn root_docker_cli_reaches_the_daemon_over_mutual_tls() {
    let test = "root_docker_cli_reaches_the_daemon_over_mutual_tls";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let Some(certs) = Certs::new(test) else {
        return;
    };
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let (ca, cert, key) = (
        certs.path("ca.pem"),
        certs.path("server-cert.pem"),
        certs.path("server-key.pem"),
    );
    // The UNIX socket and the TLS listener at once.
    let d = Daemon::start_with(
        &e,
        docker,
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
        ],
    );
    let out = docker_tcp(
        &d,
        &certs,
        port,
        Some("client"),
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1.41");
    let out = docker_tcp(
        &d,
        &certs,
        port,
        Some("client"),
        &["run", "--rm", "busybox", "echo", "over tls"],
    );
    assert_eq!(stdout(&out), "over tls\n", "{}", stderr(&out));
    let out = docker_tcp(
        &d,
        &certs,
        port,
        Some("client"),
        &["ps", "-a", "--format", "{{.Names}}"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // No client certificate, or one from another CA: refused in the handshake.
    for who in [None, Some("stranger")] {
        let out = docker_tcp(&d, &certs, port, who, &["ps"]);
        assert!(!out.status.success(), "{who:?} got in: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("certificate") || err.contains("tls"),
            "{who:?}: {err}"
        );
    }
    // Plain HTTP on the TLS port gets no API answer.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /_ping HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    // The UNIX socket still serves.
    d.ok(&["ps"]);
}

#[test]
fn root_daemon_json_hosts_and_tls_keys_and_the_loopback_rule() {
    let test = "root_daemon_json_hosts_and_tls_keys_and_the_loopback_rule";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let Some(certs) = Certs::new(test) else {
        return;
    };
    // Plain TCP off loopback: refused before anything is bound, naming the fix.
    let out = e.engine(&["daemon", "-H", "tcp://0.0.0.0:2375"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("without TLS") && stderr(&out).contains("--tlsverify"),
        "{}",
        stderr(&out)
    );
    // daemon.json's hosts/tlsverify/tlscacert/tlscert/tlskey, as dockerd reads them.
    let port = free_port();
    let config = e.path().join("daemon.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "hosts": [format!("unix://{}", e.path().join("engine.sock").display()), format!("tcp://127.0.0.1:{port}")],
            "tlsverify": true,
            "tlscacert": certs.path("ca.pem"),
            "tlscert": certs.path("server-cert.pem"),
            "tlskey": certs.path("server-key.pem"),
        })
        .to_string(),
    )
    .unwrap();
    // A host given both ways is dockerd's conflict error.
    let out = e.engine(&[
        "--config",
        config.to_str().unwrap(),
        "daemon",
        "-H",
        "unix:///x.sock",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("specified both as a flag and in the configuration file"),
        "{}",
        stderr(&out)
    );
    // Started from the file alone (the fixture's -H would conflict, so start by hand).
    let log = std::fs::File::create(e.path().join("daemon.log")).unwrap();
    let child = e
        .command(&["--config", config.to_str().unwrap(), "daemon"])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let d = Daemon::adopt(child, e.path().join("engine.sock"), docker);
    let out = docker_tcp(
        &d,
        &certs,
        port,
        Some("client"),
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    assert_eq!(stdout(&out).trim(), "1.41", "{}", stderr(&out));
    let out = docker_tcp(&d, &certs, port, None, &["version"]);
    assert!(!out.status.success());
    // Plain TCP on loopback needs no TLS.
    drop(d);
    let port = free_port();
    let d = Daemon::start_with(
        &e,
        docker_cli(test).unwrap(),
        &["-H", &format!("tcp://127.0.0.1:{port}")],
    );
    let out = d
        .command(&[
            "-H",
            &format!("tcp://127.0.0.1:{port}"),
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ])
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "1.41", "{}", stderr(&out));
}

#[test]
fn root_create_refuses_an_image_of_another_platform() {
    let test = "root_create_refuses_an_image_of_another_platform";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let body = br#"{"Image": "busybox", "Cmd": ["true"]}"#;
    let create = |query: &str| {
        raw_request(
            &d,
            &format!(
                "POST /v1.41/containers/create{query} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            body,
        )
    };
    let answer = create("?platform=linux/arm64");
    assert!(answer.starts_with("HTTP/1.0 404"), "{answer}");
    assert!(
        answer.contains("does not match the specified platform: wanted linux/arm64"),
        "{answer}"
    );
    let host = format!("linux/{}", graph::image::host_architecture());
    assert!(
        create(&format!("?platform={host}")).starts_with("HTTP/1.0 201"),
        "the host's own platform is accepted"
    );
    // A limit without a swap limit records twice the limit as swap, as Docker's inspect.
    let id = d.ok(&["create", "-m", "64m", "busybox", "true"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.MemorySwap}}", id.trim()])
            .trim(),
        "134217728"
    );
}
