//! The API daemon against hostile clients, as root: Dockerfile names that point out of the
//! build context, slow and idle connections, more connections than the cap, and the TCP
//! listener with mutual TLS driven by Docker's own CLI.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

#[macro_use]
mod common;

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
