//! Networks end to end, as root: each test has its own data root, default bridge subnet and
//! bridge name (the fixture's `TestNet`), and only talks to addresses in namespaces and
//! bridges it made. The fixture tears down namespaces, veths and bridges even on failure.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Engine, stderr, stdout};

fn engine(test: &str) -> Option<Engine> {
    Engine::new(test, "overlay2")
}

/// A container serving busybox httpd on port 80 from /www (which says its hostname when
/// `whoami` is set).
fn web(e: &Engine, name: &str, extra: &[&str], whoami: bool) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.push("busybox");
    if whoami {
        args.extend([
            "sh",
            "-c",
            "hostname > /www/index.html; exec httpd -f -h /www -p 80",
        ]);
    } else {
        args.extend(["httpd", "-f", "-h", "/www", "-p", "80"]);
    }
    e.ok(&args).trim().to_string()
}

fn ip_of(e: &Engine, name: &str, network: &str) -> String {
    e.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs `sh -c script` in a fresh container on `network`; returns its output.
fn client(e: &Engine, network: &str, script: &str) -> std::process::Output {
    e.engine(&[
        "run",
        "--rm",
        "--network",
        network,
        "busybox",
        "sh",
        "-c",
        script,
    ])
}

/// A shell command fetching `url`, retried for a while: a server just started may not
/// listen yet, and aardvark-dns reloads its names asynchronously after `netavark setup`.
fn fetch(url: &str) -> String {
    format!("timeout 10 sh -c 'until wget -qO- {url}; do sleep 0.2; done'")
}

fn http_get(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn root_network_http_by_name_and_short_id() {
    let Some(e) = engine("root_network_http_by_name_and_short_id") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.net.subnet(0), "app"]);
    let id = web(&e, "web", &["--network", "app"], false);
    let out = client(
        &e,
        "app",
        &format!("wget -qO- http://web/ && wget -qO- http://{}/", &id[..12]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from httpd\nhello from httpd\n");
    // A user network's resolv.conf names the network's DNS server, its gateway.
    let gw = e.inspect("web")["NetworkSettings"]["Networks"]["app"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let resolv = client(&e, "app", "cat /etc/resolv.conf");
    assert!(
        stdout(&resolv).contains(&format!("nameserver {gw}\n")),
        "{}",
        stdout(&resolv)
    );
    // The default bridge has no DNS by name, as Docker's.
    let out = e.engine(&[
        "run",
        "--rm",
        "busybox",
        "timeout",
        "3",
        "wget",
        "-qO-",
        "http://web/",
    ]);
    assert!(!out.status.success());
}

#[test]
fn root_network_alias_resolves_to_every_replica() {
    let Some(e) = engine("root_network_alias_resolves_to_every_replica") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.net.subnet(1), "svcnet"]);
    let mut ips = Vec::new();
    for i in 0..3 {
        let name = format!("replica{i}");
        web(
            &e,
            &name,
            &["--network", "svcnet", "--network-alias", "svc"],
            true,
        );
        ips.push(ip_of(&e, &name, "svcnet"));
    }
    let out = client(&e, "svcnet", "nslookup svc");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for ip in &ips {
        assert!(
            text.contains(&format!("Address: {ip}")),
            "{ip} missing from\n{text}"
        );
    }
    // Each address is a different replica.
    let script: String = ips
        .iter()
        .map(|ip| format!("wget -qO- http://{ip}/;"))
        .collect();
    let out = client(&e, "svcnet", &script);
    let mut who: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    who.sort();
    who.dedup();
    assert_eq!(who.len(), 3, "{}", stdout(&out));
}

#[test]
fn root_network_internal_has_no_way_out() {
    let Some(e) = engine("root_network_internal_has_no_way_out") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.net.subnet(2), "outside"]);
    e.ok(&["network", "create", "--subnet", &e.net.subnet(3), "other"]);
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &e.net.subnet(4),
        "sealed",
    ]);
    web(&e, "target", &["--network", "outside"], false);
    let target = ip_of(&e, "target", "outside");
    // (busybox's `wget -T` crashes; `timeout` bounds it instead.)
    let attempt = format!("timeout 3 wget -qO- http://{target}/");
    // From an ordinary network, the host routes to the test's own other bridge...
    let out = client(&e, "other", &fetch(&format!("http://{target}/")));
    assert!(out.status.success(), "control failed: {}", stderr(&out));
    // ...from an internal one, nothing leaves: no default route, and the address is unreachable.
    let out = client(&e, "sealed", &attempt);
    assert!(
        !out.status.success(),
        "an internal network reached {target}"
    );
    let routes = client(&e, "sealed", "ip route");
    assert!(!stdout(&routes).contains("default"), "{}", stdout(&routes));
}

#[test]
fn root_network_connect_and_disconnect_live() {
    let Some(e) = engine("root_network_connect_and_disconnect_live") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.net.subnet(5), "front"]);
    e.ok(&["network", "create", "--subnet", &e.net.subnet(6), "back"]);
    web(&e, "api", &["--network", "back"], false);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "gw",
        "--network",
        "front",
        "busybox",
        "sleep",
        "600",
    ]);
    let once = ["exec", "gw", "timeout", "3", "wget", "-qO-", "http://api/"];
    assert!(!e.engine(&once).status.success());
    e.ok(&["network", "connect", "--alias", "gateway", "back", "gw"]);
    let retried = fetch("http://api/");
    assert_eq!(
        e.ok(&["exec", "gw", "sh", "-c", &retried]),
        "hello from httpd\n"
    );
    assert!(!ip_of(&e, "gw", "back").is_empty());
    // Its alias on the new network resolves for the others there.
    let out = client(&e, "back", "nslookup gateway");
    assert!(out.status.success(), "{}", stdout(&out));
    e.ok(&["network", "disconnect", "back", "gw"]);
    assert!(!e.engine(&once).status.success());
    assert!(e.inspect("gw")["NetworkSettings"]["Networks"]["back"].is_null());
    // A network with a running container on it cannot go.
    let out = e.engine(&["network", "rm", "back"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("active endpoints"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_network_published_port_from_loopback_and_containers() {
    let Some(e) = engine("root_network_published_port_from_loopback_and_containers") else {
        return;
    };
    let port = common::free_port();
    web(&e, "pub", &["-p", &format!("{port}:80")], false);
    let reply = http_get(&format!("127.0.0.1:{port}")).unwrap();
    assert!(reply.contains("hello from httpd"), "{reply}");
    assert_eq!(
        e.ok(&["port", "pub"]),
        format!("80/tcp -> 0.0.0.0:{port}\n")
    );
    // Another container reaches it through the host's address on the bridge.
    let out = e.engine(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{}:{port}/", e.net.bridge_gateway()),
    ]);
    assert_eq!(stdout(&out), "hello from httpd\n", "{}", stderr(&out));
    // The port is taken while the container runs.
    let out = e.engine(&[
        "run",
        "-d",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "5",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );
    // -P publishes the exposed port on a random one.
    e.ok(&[
        "create", "--name", "all", "-P", "busybox", "httpd", "-f", "-h", "/www", "-p", "80",
    ]);
    let out = e.engine(&[
        "run",
        "-d",
        "--name",
        "all2",
        "-P",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    assert!(
        !out.status.success(),
        "-P with --network none must be refused"
    );
    e.ok(&["rm", "all"]);
    e.ok(&["stop", "-t", "1", "pub"]);
    assert!(http_get(&format!("127.0.0.1:{port}")).is_err());
}

/// The container's count of UDP datagrams that found no socket (/proc/net/snmp, read in
/// its network namespace).
fn udp_no_ports(e: &Engine, name: &str) -> u64 {
    let snmp = e.ok(&["exec", name, "cat", "/proc/net/snmp"]);
    let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    let (head, values) = (udp[0], udp[1]);
    let col = head
        .split_whitespace()
        .position(|h| h == "NoPorts")
        .unwrap();
    values.split_whitespace().nth(col).unwrap().parse().unwrap()
}

#[test]
fn root_network_udp_port() {
    let Some(e) = engine("root_network_udp_port") else {
        return;
    };
    // busybox has no UDP server; datagrams that reach the container's namespace and find
    // no socket there are counted, which is what is checked.
    let port = common::free_port();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        &format!("127.0.0.1:{port}:9999/udp"),
        "busybox",
        "sleep",
        "600",
    ]);
    let before = udp_no_ports(&e, "udp");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..5 {
        sock.send_to(b"ping-udp\n", ("127.0.0.1", port)).unwrap();
    }
    // Delivery is asynchronous (softirq, conntrack): give it time on a slow machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut after = udp_no_ports(&e, "udp");
    while after < before + 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        after = udp_no_ports(&e, "udp");
    }
    assert!(
        after >= before + 5,
        "datagrams did not reach the container: {before} -> {after}"
    );
    assert_eq!(
        e.ok(&["port", "udp", "9999/udp"]),
        format!("127.0.0.1:{port}\n")
    );
}

#[test]
fn root_network_container_mode_shares_the_namespace() {
    let Some(e) = engine("root_network_container_mode_shares_the_namespace") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.net.subnet(7), "pod"]);
    web(
        &e,
        "sandbox",
        &["--network", "pod", "--ipc", "shareable"],
        false,
    );
    let out = e.engine(&[
        "run", "--rm", "--network", "container:sandbox", "--ipc", "container:sandbox",
        "--pid", "container:sandbox", "busybox", "sh", "-c",
        "wget -qO- http://127.0.0.1/ && ip -4 addr show eth0 | grep -c inet && ls /proc | grep -c '^[0-9]'",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("hello from httpd\n1\n"), "{text}");
    // Joined PID namespace: the sandbox's httpd and our shell are both there.
    let procs: u32 = text.lines().last().unwrap().trim().parse().unwrap();
    assert!(procs >= 3, "{text}");
    let ip = ip_of(&e, "sandbox", "pod");
    let out = e.engine(&[
        "run",
        "--rm",
        "--network",
        "container:sandbox",
        "busybox",
        "sh",
        "-c",
        "ip -4 addr show eth0",
    ]);
    assert!(stdout(&out).contains(&ip), "{}", stdout(&out));
    let out = e.engine(&[
        "run",
        "--rm",
        "--network",
        "container:sandbox",
        "-p",
        "80:80",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("conflicting options"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_network_restart_keeps_address_and_name() {
    let Some(e) = engine("root_network_restart_keeps_address_and_name") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.net.subnet(0), "keep"]);
    web(
        &e,
        "db",
        &[
            "--network",
            "keep",
            "--ip",
            &e.net.subnet(0).replace(".0/24", ".77"),
        ],
        false,
    );
    web(&e, "cache", &["--network", "keep"], false);
    let before = (ip_of(&e, "db", "keep"), ip_of(&e, "cache", "keep"));
    assert!(before.0.ends_with(".77"));
    e.ok(&["restart", "-t", "1", "db", "cache"]);
    let after = (ip_of(&e, "db", "keep"), ip_of(&e, "cache", "keep"));
    assert_eq!(before, after);
    let out = client(
        &e,
        "keep",
        "wget -qO- http://db/ && wget -qO- http://cache/",
    );
    assert_eq!(
        stdout(&out),
        "hello from httpd\nhello from httpd\n",
        "{}",
        stderr(&out)
    );
    let taken = e.engine(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "--ip",
        &before.0,
        "busybox",
        "true",
    ]);
    assert!(!taken.status.success());
}

#[test]
fn root_network_killed_container_leaves_nothing_behind() {
    let Some(e) = engine("root_network_killed_container_leaves_nothing_behind") else {
        return;
    };
    let id = web(&e, "victim", &[], false);
    let pid = e.inspect("victim")["State"]["Pid"].as_i64().unwrap() as i32;
    let veths = || {
        let dir = format!("/sys/class/net/{}/brif", e.net.bridge);
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    };
    assert_eq!(veths(), 1);
    // The monitor and the container die at once: nobody runs the teardown.
    let monitors = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| {
            let cmd = std::fs::read(p.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).into_owned();
            (cmd.contains("container-monitor") && cmd.contains(&id)).then(|| p.file_name())
        });
    for m in monitors {
        let mpid: i32 = m.to_string_lossy().parse().unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(mpid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(e.path().join("netns").join(format!("{id}.json")).exists());
    // The next start sweeps it: the other container is the only one on the bridge.
    e.ok(&["run", "-d", "--name", "next", "busybox", "sleep", "600"]);
    assert!(!e.path().join("netns").join(format!("{id}.json")).exists());
    assert_eq!(veths(), 1);
    // The killed container restarts with its address.
    let ip = ip_of(&e, "victim", "bridge");
    e.ok(&["start", "victim"]);
    assert_eq!(ip_of(&e, "victim", "bridge"), ip);
    assert_eq!(veths(), 2);
}

#[test]
fn root_network_unknown_network_and_bad_flags() {
    let Some(e) = engine("root_network_unknown_network_and_bad_flags") else {
        return;
    };
    let out = e.engine(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("network nope not found"),
        "{}",
        stderr(&out)
    );
    let out = e.engine(&["run", "--rm", "--network-alias", "x", "busybox", "true"]);
    assert!(
        stderr(&out).contains("user defined networks"),
        "{}",
        stderr(&out)
    );
    let out = e.engine(&["network", "rm", "bridge"]);
    assert!(stderr(&out).contains("pre-defined"), "{}", stderr(&out));
    e.ok(&["network", "create", "--subnet", &e.net.subnet(1), "n1"]);
    let out = e.engine(&["network", "create", "--subnet", &e.net.subnet(1), "n2"]);
    assert!(stderr(&out).contains("overlaps"), "{}", stderr(&out));
    let ls = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls, "bridge\nhost\nn1\nnone\n");
    assert_eq!(e.ok(&["network", "prune", "-f"]), "Deleted Networks:\nn1\n");
    // --add-host, --dns-search, --hostname land in the files Docker writes.
    let out = e.ok(&[
        "run",
        "--rm",
        "--hostname",
        "box",
        "--add-host",
        "db.test:10.1.2.3",
        "--dns-search",
        "example.test",
        "busybox",
        "cat",
        "/etc/hosts",
        "/etc/resolv.conf",
    ]);
    assert!(out.contains("10.1.2.3\tdb.test\n"), "{out}");
    assert!(out.contains("\tbox\n"), "{out}");
    assert!(out.contains("search example.test\n"), "{out}");
}

/// Debian's docker-compose (1.29) against `engine daemon`: a web service and a client that
/// fetches it by its service name; scale, ps, logs, down. Then Docker's CLI on networks.
#[test]
fn root_network_compose_and_docker_cli() {
    let test = "root_network_compose_and_docker_cli";
    let Some(e) = engine(test) else {
        return;
    };
    let Some(docker) = common::docker_cli(test) else {
        return;
    };
    if !std::path::Path::new("/usr/bin/docker-compose").exists() {
        graph::testsuite::skip(
            test,
            "needs docker-compose (apt-get install docker-compose)",
        );
        return;
    }
    let d = common::Daemon::start(&e, docker);
    let project = e.path().join("app");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("docker-compose.yml"),
        "version: \"3\"\nservices:\n  web:\n    image: busybox\n    command: httpd -f -h /www -p 80\n  client:\n    image: busybox\n    command: sh -c 'until wget -qO- http://web/; do sleep 0.2; done; echo fetched; exec sleep 600'\n    depends_on: [web]\n",
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let out = std::process::Command::new("/usr/bin/docker-compose")
            .current_dir(&project)
            .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}{}",
            stderr(&out),
            stdout(&out)
        );
        stdout(&out)
    };
    compose(&["up", "-d"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let logs = compose(&["logs", "client"]);
        if logs.contains("hello from httpd") && logs.contains("fetched") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the client never fetched web: {logs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let ps = compose(&["ps"]);
    assert!(
        ps.contains("app_web_1") && ps.contains("app_client_1"),
        "{ps}"
    );
    compose(&["up", "-d", "--scale", "web=3"]);
    let ps = compose(&["ps", "-q", "web"]);
    assert_eq!(ps.lines().count(), 3, "{ps}");
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "app_default",
        "busybox",
        "nslookup",
        "web",
    ]);
    assert_eq!(out.matches("Address: 10.").count(), 3, "{out}");
    compose(&["down"]);
    assert!(!d.ok(&["network", "ls"]).contains("app_default"));
    // Docker's CLI: create, ls, inspect, connect, disconnect, rm.
    let subnet = e.net.subnet(3);
    d.ok(&[
        "network", "create", "--subnet", &subnet, "--label", "k=v", "dnet",
    ]);
    assert!(
        d.ok(&["network", "ls", "--format", "{{.Name}}"])
            .contains("dnet")
    );
    let shown = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels}}",
        "dnet",
    ]);
    assert_eq!(shown, format!("{subnet} map[k:v]\n"));
    d.ok(&["run", "-d", "--name", "dc", "busybox", "sleep", "600"]);
    d.ok(&["network", "connect", "--alias", "dca", "dnet", "dc"]);
    let aliases = d.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks.dnet.Aliases}}",
        "dc",
    ]);
    assert_eq!(aliases, "[\"dca\"]\n");
    let out = d.docker(&["network", "rm", "dnet"]);
    assert!(!out.status.success(), "a network in use was removed");
    d.ok(&["network", "disconnect", "dnet", "dc"]);
    d.ok(&["network", "rm", "dnet"]);
    // An unknown network is Docker's 404 at start, and the CLI does not try to pull.
    let out = d.docker(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("network nope not found"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("Unable to find image"),
        "{}",
        stderr(&out)
    );
}
