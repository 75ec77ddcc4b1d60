//! Events (`GET /events`, `docker events`, `engine events`) from the event journal: written
//! by whichever process acts (the CLI, a container's monitor, the daemon), read by the
//! daemon and the CLI. As root, with real processes.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

/// Now as Docker's CLI sends `--since`: Unix seconds with nanoseconds.
fn stamp() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// `GET /events?QUERY` over the daemon's socket (HTTP/1.0: the body ends with the
/// connection); the events it answered.
fn api_events(d: &Daemon, query: &str) -> Vec<Value> {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET /v1.41/events?{query} HTTP/1.0\r\nHost: engine\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{raw}"
    );
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `filters` as the API takes it, URL-encoded.
fn filters(pairs: &[(&str, &str)]) -> String {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        map.entry(k.to_string())
            .or_insert_with(|| Value::Array(vec![]))
            .as_array_mut()
            .unwrap()
            .push(Value::String(v.to_string()));
    }
    let json = Value::Object(map).to_string();
    json.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|v| v["Action"].as_str().unwrap().to_string())
        .collect()
}

/// A `docker events` process, killed on drop; its lines arrive on `lines`.
struct Watch {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Watch {
    fn start(d: &Daemon, args: &[&str]) -> Watch {
        let mut child = d
            .command(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    /// Lines until one starts with `want` (panics after a minute without it).
    fn until(&self, want: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = Vec::new();
        while !got.iter().any(|l: &String| l.starts_with(want)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(_) => panic!("no {want:?} in the stream: {got:?}"),
            }
        }
        got
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn root_events_of_a_short_lived_container_each_have_their_moment() {
    let test = "root_events_of_a_short_lived_container_each_have_their_moment";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let since = stamp();
    // Run by the daemonless CLI: the daemon only reads what the CLI and the monitor wrote.
    e.ok(&["run", "--rm", "--name", "brief", "busybox", "true"]);
    let failing = e.engine(&[
        "run", "--rm", "--name", "failing", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(failing.status.code(), Some(3), "{}", stderr(&failing));
    let until = stamp();
    let window = format!("since={since}&until={until}");
    let got = api_events(
        &d,
        &format!("{window}&filters={}", filters(&[("container", "brief")])),
    );
    assert_eq!(
        actions(&got),
        ["create", "start", "die", "destroy"],
        "{got:#?}"
    );
    for w in got.windows(2) {
        assert!(
            w[0]["timeNano"].as_u64().unwrap() < w[1]["timeNano"].as_u64().unwrap(),
            "{w:#?}"
        );
    }
    for v in &got {
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Actor"]["Attributes"]["name"], "brief");
        assert_eq!(v["Actor"]["Attributes"]["image"], "busybox");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["id"], v["Actor"]["ID"]);
    }
    assert_eq!(got[2]["Actor"]["Attributes"]["exitCode"], "0");
    // Filters: by event, by type, by container name and id prefix.
    let dies = api_events(
        &d,
        &format!("{window}&filters={}", filters(&[("event", "die")])),
    );
    let codes: Vec<(&str, &str)> = dies
        .iter()
        .map(|v| {
            (
                v["Actor"]["Attributes"]["name"].as_str().unwrap(),
                v["Actor"]["Attributes"]["exitCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(codes, [("brief", "0"), ("failing", "3")]);
    let id = got[0]["Actor"]["ID"].as_str().unwrap();
    let by_id = api_events(
        &d,
        &format!("{window}&filters={}", filters(&[("container", &id[..12])])),
    );
    assert_eq!(by_id.len(), 4, "{by_id:#?}");
    let images = api_events(
        &d,
        &format!("{window}&filters={}", filters(&[("type", "image")])),
    );
    assert!(images.is_empty(), "{images:#?}");
    // Docker's CLI over the same window, with its own formats for the times.
    let out = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=failing",
        "--format",
        "{{.Action}} {{.Actor.Attributes.exitCode}}",
    ]);
    // Go templates print a map's missing key as <no value>, as Docker's CLI does.
    assert_eq!(
        out,
        "create <no value>\nstart <no value>\ndie 3\ndestroy <no value>\n"
    );
    let out = d.docker(&["events", "--filter", "colour=red", "--until", &until]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid filter 'colour'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_events_carry_the_name_of_their_moment() {
    let test = "root_events_carry_the_name_of_their_moment";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let since = stamp();
    e.ok(&["run", "-d", "--name", "before", "busybox", "sleep", "600"]);
    d.ok(&["rename", "before", "after"]);
    e.ok(&["kill", "after"]);
    e.wait_for("after", 30, |v| v["State"]["Status"] == "exited");
    e.ok(&["rm", "after"]);
    let until = stamp();
    let got = api_events(&d, &format!("since={since}&until={until}"));
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|v| {
            (
                v["Action"].as_str().unwrap().to_string(),
                v["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    // The network events name the network (the default bridge).
    let want: Vec<(String, String)> = [
        ("create", "before"),
        ("connect", "bridge"),
        ("start", "before"),
        ("rename", "after"),
        ("kill", "after"),
        ("die", "after"),
        ("disconnect", "bridge"),
        ("destroy", "after"),
    ]
    .iter()
    .map(|(a, n)| (a.to_string(), n.to_string()))
    .collect();
    assert_eq!(seen, want, "{got:#?}");
    assert_eq!(got[3]["Actor"]["Attributes"]["oldName"], "/before");
    assert_eq!(got[4]["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(got[5]["Actor"]["Attributes"]["exitCode"], "137");
}

#[test]
fn root_events_of_the_cli_reach_the_daemons_stream() {
    let test = "root_events_of_the_cli_reach_the_daemons_stream";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let watch = Watch::start(
        &d,
        &[
            "events",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    // The stream is live once an event of a later action shows up in it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    loop {
        n += 1;
        let marker = format!("marker{n}");
        e.ok(&["network", "create", &marker]);
        if watch
            .lines
            .recv_timeout(Duration::from_secs(2))
            .is_ok_and(|l| l.starts_with("network create marker"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the event stream never started");
    }
    // An image tag by the CLI, in its own process: the daemon never saw it happen.
    e.ok(&["tag", "busybox", "tagged:by-cli"]);
    let got = watch.until("image tag tagged:by-cli");
    assert!(!got.iter().any(|l| l.contains("container")), "{got:?}");
    e.ok(&["rmi", "tagged:by-cli"]);
    // Docker names an untag by the image's id.
    watch.until("image untag sha256:");
}

#[test]
fn root_events_since_and_until_bound_the_window() {
    let test = "root_events_since_and_until_bound_the_window";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    e.ok(&["tag", "busybox", "one:1"]);
    let t1 = stamp();
    e.ok(&["tag", "busybox", "two:2"]);
    e.ok(&["volume", "create", "middle"]);
    let t2 = stamp();
    e.ok(&["tag", "busybox", "three:3"]);
    let names = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|v| {
                format!(
                    "{} {}",
                    v["Action"].as_str().unwrap(),
                    v["Actor"]["Attributes"]["name"]
                        .as_str()
                        .or(v["Actor"]["ID"].as_str())
                        .unwrap()
                )
            })
            .collect()
    };
    let inside = api_events(&d, &format!("since={t1}&until={t2}"));
    assert_eq!(
        names(&inside),
        ["tag two:2", "create middle"],
        "{inside:#?}"
    );
    assert_eq!(inside[0]["Actor"]["ID"], inside[0]["id"]);
    assert!(
        inside[0]["Actor"]["ID"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let typed = api_events(
        &d,
        &format!(
            "since={t1}&until={t2}&filters={}",
            filters(&[("type", "volume")])
        ),
    );
    assert_eq!(names(&typed), ["create middle"]);
    // `until` alone replays what is kept up to it (the fixture's import first), as
    // Docker's does.
    let upto = names(&api_events(&d, &format!("until={t1}")));
    assert_eq!(upto.last().unwrap(), "tag one:1", "{upto:#?}");
    assert!(
        upto.iter().any(|n| n.starts_with("import sha256:")),
        "{upto:#?}"
    );
    // A duration back from now, as Docker's CLI and API take it.
    let recent = names(&api_events(&d, &format!("since=10m&until={}", stamp())));
    assert!(
        recent.ends_with(&[
            "tag one:1".to_string(),
            "tag two:2".to_string(),
            "create middle".to_string(),
            "tag three:3".to_string()
        ]),
        "{recent:#?}"
    );
    let bad = d.docker(&["events", "--since", &t2, "--until", &t1]);
    assert!(!bad.status.success());
    // The CLI reads the same journal, without the daemon.
    let out = e.ok(&[
        "events",
        "--since",
        &t1,
        "--until",
        &t2,
        "--filter",
        "type=image",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains(" image tag sha256:"), "{out}");
    assert!(lines[0].ends_with("(name=two:2)"), "{out}");
    let out = e.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        &t2,
        "--format",
        "{{.Action}}",
    ]);
    assert!(out.ends_with("tag\ntag\ncreate\n"), "{out}");
    assert!(out.starts_with("tag\nimport\n"), "{out}");
}

#[test]
fn root_events_of_networks_follow_the_containers_on_them() {
    let test = "root_events_of_networks_follow_the_containers_on_them";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    e.ok(&["network", "create", "--subnet", &e.net.subnet(1), "front"]);
    e.ok(&["network", "create", "--subnet", &e.net.subnet(2), "back"]);
    let front = e.ok(&["network", "inspect", "-f", "{{.Id}}", "front"]);
    let back = e.ok(&["network", "inspect", "-f", "{{.Id}}", "back"]);
    let (front, back) = (front.trim(), back.trim());
    let since = stamp();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--label",
        "tier=web",
        "busybox",
        "sleep",
        "600",
    ]);
    let id = e.inspect("web")["Id"].as_str().unwrap().to_string();
    // A running container is connected and disconnected live (Docker's CLI, through the
    // daemon), then stops.
    d.ok(&["network", "connect", "back", "web"]);
    d.ok(&["network", "disconnect", "back", "web"]);
    e.ok(&["kill", "web"]);
    e.wait_for("web", 30, |v| v["State"]["Status"] == "exited");
    // A stopped container: connecting it is reported when it starts (Docker records no
    // event now); disconnecting it is reported at once.
    e.ok(&["network", "connect", "back", "web"]);
    e.ok(&["network", "disconnect", "back", "web"]);
    let until = stamp();
    let got = api_events(&d, &format!("since={since}&until={until}"));
    let seen: Vec<String> = got
        .iter()
        .map(|v| {
            let attrs = &v["Actor"]["Attributes"];
            match v["Type"].as_str().unwrap() {
                "network" => format!(
                    "network {} {}",
                    v["Action"].as_str().unwrap(),
                    attrs["name"].as_str().unwrap()
                ),
                kind => format!("{kind} {}", v["Action"].as_str().unwrap()),
            }
        })
        .collect();
    assert_eq!(
        seen,
        [
            "container create",
            "network connect front",
            "container start",
            "network connect back",
            "network disconnect back",
            "container kill",
            "container die",
            "network disconnect front",
            "network disconnect back",
        ],
        "{got:#?}"
    );
    for v in got.iter().filter(|v| v["Type"] == "network") {
        let attrs = &v["Actor"]["Attributes"];
        assert_eq!(attrs["container"], id.as_str(), "{v:#?}");
        assert_eq!(attrs["type"], "bridge", "{v:#?}");
        let want = if attrs["name"] == "front" {
            front
        } else {
            back
        };
        assert_eq!(v["Actor"]["ID"], want, "{v:#?}");
        // The pre-1.22 fields are for containers and images only, as in Docker.
        assert!(v.get("status").is_none(), "{v:#?}");
    }
    // Container events carry the container's labels.
    for v in got.iter().filter(|v| v["Type"] == "container") {
        assert_eq!(v["Actor"]["Attributes"]["tier"], "web", "{v:#?}");
    }
    // Filters by network name and id, and by event, through both CLIs.
    let window = ["--since", &since, "--until", &until];
    let format = "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}";
    let mut args = vec!["events"];
    args.extend(window);
    args.extend(["--filter", "network=back", "--format", format]);
    let want = format!("connect back {id}\ndisconnect back {id}\ndisconnect back {id}\n");
    assert_eq!(d.ok(&args), want);
    assert_eq!(e.ok(&args), want);
    let network_filter = format!("network={}", &front[..12]);
    let mut args = vec!["events"];
    args.extend(window);
    args.extend([
        "--filter",
        network_filter.as_str(),
        "--filter",
        "event=disconnect",
        "--format",
        format,
    ]);
    let want = format!("disconnect front {id}\n");
    assert_eq!(d.ok(&args), want);
    assert_eq!(e.ok(&args), want);
    // The next start connects it again, to the network it is on.
    let since = stamp();
    e.ok(&["start", "web"]);
    let until = stamp();
    let got = api_events(
        &d,
        &format!(
            "since={since}&until={until}&filters={}",
            filters(&[("type", "network")])
        ),
    );
    assert_eq!(actions(&got), ["connect"], "{got:#?}");
    assert_eq!(got[0]["Actor"]["Attributes"]["name"], "front");
    e.ok(&["rm", "-f", "web"]);
}

#[test]
fn root_events_of_images_carry_their_labels() {
    let test = "root_events_of_images_carry_their_labels";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    e.ok(&["create", "--name", "base", "busybox", "true"]);
    let archive = e.path().join("labelled.tar");
    let archive = archive.to_str().unwrap();
    let since = stamp();
    e.ok(&[
        "commit",
        "--change",
        "LABEL colour=blue shape=round",
        "base",
        "labelled:1",
    ]);
    e.ok(&["tag", "labelled:1", "labelled:2"]);
    d.ok(&["save", "-o", archive, "labelled:1"]);
    e.ok(&["rmi", "labelled:2"]);
    e.ok(&["rm", "base"]);
    e.ok(&["rmi", "labelled:1"]);
    e.ok(&["load", "-i", archive]);
    let until = stamp();
    let got = api_events(
        &d,
        &format!(
            "since={since}&until={until}&filters={}",
            filters(&[("type", "image")])
        ),
    );
    let seen: Vec<(String, String, String)> = got
        .iter()
        .map(|v| {
            let attrs = &v["Actor"]["Attributes"];
            (
                v["Action"].as_str().unwrap().to_string(),
                attrs["name"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    attrs["colour"].as_str().unwrap_or("-"),
                    attrs["shape"].as_str().unwrap_or("-")
                ),
            )
        })
        .collect();
    let image = got[0]["Actor"]["ID"].as_str().unwrap().to_string();
    let row = |a: &str, n: &str, l: &str| (a.to_string(), n.to_string(), l.to_string());
    assert_eq!(
        seen,
        [
            row("tag", "labelled:1", "blue/round"),
            row("tag", "labelled:2", "blue/round"),
            row("save", &image, "blue/round"),
            row("untag", &image, "blue/round"),
            row("untag", &image, "blue/round"),
            // Docker looks the labels up as it reports, and a deleted image has none.
            row("delete", &image, "-/-"),
            row("load", &image, "blue/round"),
        ],
        "{got:#?}"
    );
    // A label filter picks the image's events, in both CLIs.
    let args = [
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "label=colour=blue",
        "--filter",
        "type=image",
        "--format",
        "{{.Action}}",
    ];
    let want = "tag\ntag\nsave\nuntag\nuntag\nload\n";
    assert_eq!(d.ok(&args), want);
    assert_eq!(e.ok(&args), want);
}
