//! End-to-end tests of `engine build`, as root, through the `engine` binary: each test has its
//! own data root (busybox imported from /bin/busybox) and its own context directories. The
//! central cases run on vfs and overlay2.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// The build helpers of these tests, on the shared fixture.
trait Builds {
    fn build(&self, context: &Path, args: &[&str]) -> Output;
    fn build_ok(&self, context: &Path, args: &[&str]) -> String;
    fn image_json(&self, name: &str) -> serde_json::Value;
    fn image_id(&self, name: &str) -> String;
    fn layer_count(&self) -> usize;
    fn assert_no_leftovers(&self);
}

impl Builds for Engine {
    /// `engine build ARGS... CONTEXT`.
    fn build(&self, context: &Path, args: &[&str]) -> Output {
        let mut all: Vec<&str> = vec!["build"];
        all.extend_from_slice(args);
        all.push(context.to_str().unwrap());
        self.engine(&all)
    }

    /// A build that must succeed; returns its standard output.
    fn build_ok(&self, context: &Path, args: &[&str]) -> String {
        let out = self.build(context, args);
        assert!(
            out.status.success(),
            "build {args:?} failed ({:?}):\n{}\n{}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    fn image_json(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["image", "inspect", name]);
        let mut v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        v.remove(0)
    }

    fn image_id(&self, name: &str) -> String {
        self.image_json(name)["Id"].as_str().unwrap().to_string()
    }

    fn layer_count(&self) -> usize {
        self.ok(&["layer", "ls", "-q"]).lines().count()
    }

    /// Nothing of a build step may stay behind: no writable layers, no containers.
    fn assert_no_leftovers(&self) {
        let mounts = self
            .root
            .path()
            .join("image")
            .join(self.driver)
            .join("layerdb/mounts");
        let left: Vec<_> = std::fs::read_dir(&mounts)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "writable layers left: {left:?}");
        assert_eq!(self.ok(&["ps", "-aq"]), "");
        let driver_dir = match self.driver {
            "vfs" => self.root.path().join("vfs/dir"),
            d => self.root.path().join(d),
        };
        let dirs = std::fs::read_dir(driver_dir)
            .unwrap()
            .flatten()
            // Layers only: not l/ (links) nor dot entries (.refs: mount counts).
            .filter(|d| {
                d.file_name() != "l"
                    && !d.file_name().to_string_lossy().starts_with('.')
                    && d.path().is_dir()
            })
            .count();
        assert_eq!(
            dirs,
            self.layer_count(),
            "driver layers besides the store's"
        );
    }
}

/// A context directory with these files (parents created).
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("engine-build-ctx-")
        .tempdir()
        .unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const CLASSIC: &str = "FROM busybox
ENV GREETING=hello
RUN echo \"$GREETING from run\" > /greeting
RUN mkdir /data && echo second > /data/second
CMD [\"cat\", \"/greeting\", \"/data/second\"]
";

on_both_drivers!(classic_example);
/// FROM, ENV, two RUNs, CMD: Docker's output, one layer per RUN, the history, and the image
/// runs with its CMD.
fn classic_example(e: &Engine) {
    let ctx = context(&[("Dockerfile", CLASSIC)]);
    let base_layers = e.layer_count();
    let out = e.build_ok(ctx.path(), &["-t", "classic"]);
    let id = e.image_id("classic");
    for want in [
        "Step 1/5 : FROM busybox\n",
        "Step 2/5 : ENV GREETING=hello\n",
        "Step 3/5 : RUN echo \"$GREETING from run\" > /greeting\n ---> Running in ",
        "Removing intermediate container ",
        "Step 5/5 : CMD [\"cat\", \"/greeting\", \"/data/second\"]\n",
        &format!("Successfully built {}\n", &id[7..19]),
        "Successfully tagged classic:latest\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let v = e.image_json("classic");
    let layers = v["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "the base layer and one per RUN: {v:#}");
    assert_eq!(e.layer_count(), base_layers + 2);
    assert_eq!(
        v["Config"]["Cmd"],
        serde_json::json!(["cat", "/greeting", "/data/second"])
    );
    let history = e.ok(&["history", "--no-trunc", "classic"]);
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{history}");
    assert!(
        rows[0].contains("/bin/sh -c #(nop)  CMD [\"cat\" \"/greeting\" \"/data/second\"]"),
        "{history}"
    );
    assert!(
        rows[1].contains("/bin/sh -c mkdir /data && echo second > /data/second"),
        "{history}"
    );
    assert!(
        rows[2].contains("/bin/sh -c echo \"$GREETING from run\" > /greeting"),
        "{history}"
    );
    assert!(
        rows[3].contains("/bin/sh -c #(nop)  ENV GREETING=hello"),
        "{history}"
    );
    assert!(
        rows[3].trim_end().ends_with(" 0B"),
        "metadata rows have no layer: {history}"
    );
    // Each row names the image its step made, down to the base, as Docker's history does.
    let ids = e.ok(&["history", "-q", "classic"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids[0], &id[7..19]);
    assert_eq!(ids[4], &e.image_id("busybox")[7..19]);
    assert!(!ids.contains(&"<missing>"), "{ids:?}");
    let run = e.ok(&["run", "--rm", "classic"]);
    assert_eq!(run, "hello from run\nsecond\n");
    e.assert_no_leftovers();
    // The steps' images are intermediate: hidden from `images`, removed with the image.
    let images = e.ok(&["images"]);
    assert_eq!(images.lines().count(), 3, "{images}");
    assert_eq!(
        e.ok(&["images", "-aq"]).lines().count(),
        5,
        "busybox and one per step"
    );
    e.ok(&["rmi", "classic"]);
    assert_eq!(e.ok(&["images", "-aq"]).lines().count(), 1);
    assert_eq!(e.layer_count(), base_layers);
}

on_both_drivers!(cache_hits_and_misses);
/// An unchanged rebuild reuses every step (no new layers, same id); a changed context file
/// misses from its COPY on; --no-cache rebuilds everything.
fn cache_hits_and_misses(e: &Engine) {
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN echo one > /one\nCOPY app.txt /app/\nRUN cat /app/app.txt > /copy\n",
        ),
        ("app.txt", "version 1\n"),
    ]);
    e.build_ok(ctx.path(), &["-t", "cached"]);
    let first = e.image_id("cached");
    let layers = e.layer_count();
    let images = e.ok(&["images", "-aq"]).lines().count();
    let out = e.build_ok(ctx.path(), &["-t", "cached"]);
    assert_eq!(out.matches(" ---> Using cache").count(), 3, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    assert_eq!(e.image_id("cached"), first);
    assert_eq!(e.layer_count(), layers);
    assert_eq!(e.ok(&["images", "-aq"]).lines().count(), images);

    std::fs::write(ctx.path().join("app.txt"), "version 2\n").unwrap();
    let out = e.build_ok(ctx.path(), &["-t", "cached"]);
    assert_eq!(
        out.matches(" ---> Using cache").count(),
        1,
        "only the first RUN hits:\n{out}"
    );
    assert_ne!(e.image_id("cached"), first);
    assert_eq!(
        e.ok(&["run", "--rm", "cached", "cat", "/copy"]),
        "version 2\n"
    );

    let out = e.build_ok(ctx.path(), &["--no-cache", "-t", "cached"]);
    assert!(!out.contains("Using cache"), "{out}");
    e.assert_no_leftovers();
}

#[test]
fn root_scratch_multistage_and_target() {
    let Some(e) = Engine::new("root_scratch_multistage_and_target", "vfs") else {
        return;
    };
    let ctx = context(&[(
        "Dockerfile",
        "ARG BASE=scratch
FROM ${BASE} AS tools
COPY busybox /bin/busybox
SHELL [\"/bin/busybox\", \"sh\", \"-c\"]
RUN /bin/busybox mkdir /out && /bin/busybox echo built > /out/result

FROM tools AS second
ARG WHO=world
RUN /bin/busybox echo \"hello $WHO\" > /out/who

FROM scratch
COPY --from=second /bin/busybox /bin/
COPY --from=1 /out /out
COPY --from=busybox /etc/passwd /etc/
ENTRYPOINT [\"/bin/busybox\"]
CMD [\"cat\", \"/out/result\", \"/out/who\", \"/etc/passwd\"]
",
    )]);
    std::fs::copy(BUSYBOX, ctx.path().join("busybox")).unwrap();
    e.build_ok(ctx.path(), &["-t", "multi", "--build-arg", "WHO=you"]);
    let run = e.ok(&["run", "--rm", "multi"]);
    assert!(run.starts_with("built\nhello you\nroot:x:0:0"), "{run}");
    let v = e.image_json("multi");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 3);

    let out = e.build_ok(ctx.path(), &["--target", "tools", "-t", "tools"]);
    assert!(out.contains("Step 5/14"), "{out}");
    assert!(
        !out.contains("Step 6/14"),
        "the build stops at the target:\n{out}"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "tools", "/bin/busybox", "cat", "/out/result"]),
        "built\n"
    );
    let out = e.build(ctx.path(), &["--target", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("failed to reach build target nope"),
        "{}",
        stderr(&out)
    );
    e.assert_no_leftovers();
}

#[test]
fn root_every_instruction_and_the_run_config() {
    let Some(e) = Engine::new("root_every_instruction_and_the_run_config", "overlay2") else {
        return;
    };
    let ctx = context(&[
        (
            "Dockerfile",
            r#"# syntax=docker/dockerfile:1
FROM busybox
ARG VERSION=0.1
ARG FROM_CLI
ENV APP_HOME=/srv/app \
    MODE="two words"
LABEL org.example.version=$VERSION maintainer="me"
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=2 CMD cat /etc/passwd
ONBUILD RUN echo triggered
WORKDIR $APP_HOME
COPY --chown=app:staff conf/ ./conf/
COPY *.txt notes/
ADD bundle.tar.gz /opt/
RUN echo "version=$VERSION cli=$FROM_CLI mode=$MODE" > built \
 && ls /srv/app/notes > listing
RUN <<EOF
echo from heredoc > /srv/app/heredoc
EOF
COPY <<EOF /srv/app/generated
home ${APP_HOME:-unset} ${NOPE:-default}
EOF
USER app
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["id -u; id -g; pwd; echo $MODE; cat built listing heredoc generated; stat -c '%u:%g %a' conf/app.conf"]
"#,
        ),
        ("conf/app.conf", "setting=1\n"),
        ("conf/secret.key", "do not copy\n"),
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
        ("c.log", "c\n"),
        (
            ".dockerignore",
            "# keep secrets out\n**/*.key\n!conf/public.key\n",
        ),
        ("conf/public.key", "may be copied\n"),
    ]);
    // A gzipped tar for ADD to unpack.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(7);
    h.set_mode(0o644);
    tar.append_data(&mut h, "bundle/inside.txt", &b"inside\n"[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    std::fs::write(ctx.path().join("bundle.tar.gz"), gz.finish().unwrap()).unwrap();

    e.build_ok(ctx.path(), &["-t", "every", "--build-arg", "FROM_CLI=yes"]);
    let run = e.ok(&["run", "--rm", "every"]);
    assert_eq!(
        run,
        "1000\n1000\n/srv/app\ntwo words\nversion=0.1 cli=yes mode=two words\na.txt\nb.txt\nfrom heredoc\nhome /srv/app default\n1000:50 644\n"
    );
    let v = e.image_json("every");
    let c = &v["Config"];
    assert_eq!(c["User"], "app");
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["Labels"]["org.example.version"], "0.1");
    assert_eq!(c["Labels"]["maintainer"], "me");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object(), "{c:#}");
    assert!(c["ExposedPorts"]["53/udp"].is_object(), "{c:#}");
    assert!(c["Volumes"]["/data"].is_object(), "{c:#}");
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "cat /etc/passwd"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo triggered"]));
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"APP_HOME=/srv/app") && env.contains(&"MODE=two words"),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("VERSION=")),
        "ARGs do not persist: {env:?}"
    );
    // .dockerignore kept the key out; ADD unpacked the archive.
    let out = e.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "",
        "every",
        "ls",
        "conf",
        "/opt/bundle",
    ]);
    assert!(
        out.contains("app.conf") && !out.contains("secret.key"),
        "{out}"
    );
    assert!(
        out.contains("public.key"),
        "a ! exception brings a file back: {out}"
    );
    assert!(out.contains("inside.txt"), "{out}");
    // The history: one row per instruction after FROM, metadata rows without a layer.
    let history = e.ok(&["history", "--no-trunc", "every"]);
    assert!(
        history.contains("/bin/sh -c #(nop)  ARG VERSION=0.1"),
        "{history}"
    );
    assert!(
        history.contains("/bin/sh -c #(nop)  EXPOSE 8080/tcp 53/udp"),
        "{history}"
    );
    assert!(
        history.contains("|2 VERSION=0.1 FROM_CLI=yes /bin/sh -c echo"),
        "RUN rows show the build args as Docker does: {history}"
    );
    let layers = v["RootFS"]["Layers"].as_array().unwrap().len();
    // busybox, WORKDIR (creates /srv/app), two COPYs, ADD, two RUNs, COPY heredoc.
    assert_eq!(layers, 8, "{history}");

    // ONBUILD triggers run in a child build.
    let child = context(&[("Dockerfile", "FROM every\nUSER root\nRUN echo child\n")]);
    let out = e.build_ok(child.path(), &["-t", "child"]);
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert!(out.contains("\ntriggered\n"), "{out}");
    let v = e.image_json("child");
    assert!(v["Config"]["OnBuild"].is_null(), "{:#}", v["Config"]);
    e.assert_no_leftovers();
}

#[test]
fn root_context_on_stdin_quiet_and_network() {
    let Some(e) = Engine::new("root_context_on_stdin_quiet_and_network", "overlay2") else {
        return;
    };
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY hello.txt /\nRUN cat /proc/net/dev | grep -c : > /ifaces\nCMD [\"cat\", \"/hello.txt\", \"/ifaces\"]\n",
        ),
        ("hello.txt", "hello from stdin\n"),
    ]);
    let tar = Command::new("tar")
        .arg("-C")
        .arg(ctx.path())
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut child = e
        .command(&["build", "-q", "-t", "stdin", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert_eq!(printed.trim(), e.image_id("stdin"), "-q prints only the id");
    let host_ifaces = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .filter(|l| l.contains(':'))
        .count();
    let run = e.ok(&["run", "--rm", "stdin"]);
    assert_eq!(
        run,
        format!("hello from stdin\n{host_ifaces}\n"),
        "RUN sees the host's network by default"
    );
    e.build_ok(
        ctx.path(),
        &["--network", "none", "--no-cache", "-t", "isolated"],
    );
    let run = e.ok(&["run", "--rm", "isolated"]);
    assert_eq!(
        run, "hello from stdin\n1\n",
        "--network none leaves only loopback"
    );
    // Proxy build args reach RUN without an ARG, and stay out of the history.
    let proxy = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo \"proxy=$no_proxy\" > /proxy\nCMD [\"cat\", \"/proxy\"]\n",
    )]);
    let out = e.build_ok(
        proxy.path(),
        &["--build-arg", "no_proxy=internal.example", "-t", "proxy"],
    );
    assert!(!out.contains("were not consumed"), "{out}");
    assert_eq!(e.ok(&["run", "--rm", "proxy"]), "proxy=internal.example\n");
    assert!(
        !e.ok(&["history", "--no-trunc", "proxy"])
            .contains("no_proxy=")
    );
    e.assert_no_leftovers();
}

on_both_drivers!(failures_name_the_line_and_leave_nothing);
/// Each failure: non-zero exit, a message naming the line, the tag where it was, and no
/// writable layer or container left.
fn failures_name_the_line_and_leave_nothing(e: &Engine) {
    let ctx = context(&[("Dockerfile", "FROM busybox\nCMD [\"echo\", \"good\"]\n")]);
    e.build_ok(ctx.path(), &["-t", "app"]);
    let good = e.image_id("app");
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nRUN true\nFOO bar\n",
            "Dockerfile line 3: unknown instruction: FOO",
        ),
        (
            "FROM busybox\nRUN echo partial > /p\nRUN exit 3\n",
            "Dockerfile line 3: RUN exit 3: The command '/bin/sh -c exit 3' returned a non-zero code: 3",
        ),
        (
            "FROM busybox\n\nCOPY missing.txt /x\n",
            "Dockerfile line 3: COPY missing.txt /x: COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: no such file or directory",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "Dockerfile line 2: COPY ../outside /x: COPY failed: forbidden path outside the build context: ../outside",
        ),
        (
            "RUN true\n",
            "Dockerfile line 1: RUN true: no FROM instruction",
        ),
        (
            "FROM nosuchimage\n",
            "Dockerfile line 1: FROM nosuchimage: pull access denied for nosuchimage:latest",
        ),
        (
            "FROM busybox\nADD https://example.com/x.tar /x\n",
            "ADD from a URL is not supported: https://example.com/x.tar",
        ),
    ];
    for (dockerfile, message) in cases {
        std::fs::write(ctx.path().join("Dockerfile.bad"), dockerfile).unwrap();
        let df = ctx.path().join("Dockerfile.bad");
        let out = e.build(ctx.path(), &["-t", "app", "-f", df.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{dockerfile}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(message),
            "{dockerfile}: want {message:?} in {}",
            stderr(&out)
        );
        assert_eq!(e.image_id("app"), good, "the tag does not move on failure");
        e.assert_no_leftovers();
    }
    assert_eq!(e.ok(&["run", "--rm", "app"]), "good\n");
}

#[test]
fn root_an_interrupted_build_leaves_nothing() {
    let Some(e) = Engine::new("root_an_interrupted_build_leaves_nothing", "overlay2") else {
        return;
    };
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo started; sleep 30\nCMD [\"true\"]\n",
    )]);
    let mut child = e
        .command(&["build", "-t", "never", ctx.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("started") {
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        assert!(
            n > 0,
            "the build ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the step was not killed"
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("the build was interrupted"), "{err}");
    assert!(!e.engine(&["image", "inspect", "never"]).status.success());
    e.assert_no_leftovers();
}
