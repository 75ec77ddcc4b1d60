//! Prune filters, `/build/prune`, list filters and `system df`, driven by Docker's own CLI
//! against `engine daemon` and by `engine` itself on the same data root, as root.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use common::*;

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// A failed command's stderr, asserting that it failed.
fn refused(out: std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn root_docker_prune_honours_filters() {
    let test = "root_docker_prune_honours_filters";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);

    // Images: two made from a container (one labelled), busybox used by that container.
    d.ok(&["create", "--name", "base", "busybox", "true"]);
    d.ok(&["commit", "-c", "LABEL keep=1", "base", "keepimg"]);
    d.ok(&["commit", "-c", "LABEL other=1", "base", "plainimg"]);
    let repos = || lines(&d.ok(&["images", "--format", "{{.Repository}}"]));
    let all_three = ["busybox", "keepimg", "plainimg"];
    assert_eq!(repos(), all_three);
    // Everything is younger than an hour: nothing to prune.
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "until=1h"]);
    assert!(!out.contains("deleted"), "{out}");
    assert_eq!(repos(), all_three);
    // Unix seconds and RFC 3339 in the future select all unused images, by label.
    d.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2100-01-01T00:00:00Z",
        "--filter",
        "label=nothing=1",
    ]);
    assert_eq!(repos(), all_three);
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "label=keep=1"]);
    assert!(out.contains("untagged: keepimg:latest"), "{out}");
    assert_eq!(repos(), ["busybox", "plainimg"]);
    let err = refused(d.docker(&["image", "prune", "-f", "--filter", "bogus=1"]));
    assert!(err.contains("invalid filter 'bogus'"), "{err}");
    // The engine's own CLI takes the same filters from the same core.
    let err = refused(e.engine(&["image", "prune", "-f", "--filter", "bogus=1"]));
    assert!(err.contains("invalid filter 'bogus'"), "{err}");
    e.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=4102444800",
        "--filter",
        "label!=other",
    ]);
    assert_eq!(repos(), ["busybox", "plainimg"]);
    e.ok(&["image", "prune", "-a", "-f", "--filter", "label=other"]);
    // busybox stays: a container was created from it.
    assert_eq!(repos(), ["busybox"]);

    // Containers.
    d.ok(&[
        "create", "--name", "labelled", "--label", "keep=1", "busybox", "true",
    ]);
    d.ok(&["create", "--name", "plain", "busybox", "true"]);
    let names = || lines(&d.ok(&["ps", "-a", "--format", "{{.Names}}"]));
    let out = d.ok(&["container", "prune", "-f", "--filter", "label=nothing=1"]);
    assert!(!out.contains("Deleted"), "{out}");
    d.ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(names(), ["base", "labelled", "plain"]);
    let err = refused(d.docker(&["container", "prune", "-f", "--filter", "dangling=1"]));
    assert!(err.contains("invalid filter 'dangling'"), "{err}");
    d.ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    assert_eq!(names(), ["labelled"]);
    e.ok(&["container", "prune", "-f", "--filter", "label=nothing"]);
    assert_eq!(names(), ["labelled"]);
    e.ok(&["container", "prune", "-f", "--filter", "label=keep=1"]);
    assert!(names().is_empty());

    // Networks.
    d.ok(&["network", "create", "--label", "keep=1", "nkeep"]);
    d.ok(&["network", "create", "nplain"]);
    let nets = || {
        let mut v = lines(&d.ok(&["network", "ls", "--format", "{{.Name}}"]));
        v.retain(|n| n.starts_with('n') && n != "none");
        v
    };
    let out = d.ok(&["network", "prune", "-f", "--filter", "label=nothing=1"]);
    assert!(!out.contains("nkeep") && !out.contains("nplain"), "{out}");
    d.ok(&["network", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(nets(), ["nkeep", "nplain"]);
    let err = refused(d.docker(&["network", "prune", "-f", "--filter", "driver=bridge"]));
    assert!(err.contains("invalid filter 'driver'"), "{err}");
    let out = d.ok(&["network", "prune", "-f", "--filter", "label!=keep=1"]);
    assert!(out.contains("nplain"), "{out}");
    assert_eq!(nets(), ["nkeep"]);
    e.ok(&["network", "prune", "-f", "--filter", "label=keep"]);
    assert!(nets().is_empty());

    // Volumes (1.41: named ones too; no `until`).
    d.ok(&["volume", "create", "--label", "keep=1", "vkeep"]);
    d.ok(&["volume", "create", "vplain"]);
    let vols = || lines(&d.ok(&["volume", "ls", "--format", "{{.Name}}"]));
    let err = refused(d.docker(&["volume", "prune", "-f", "--filter", "until=1h"]));
    assert!(err.contains("invalid filter 'until'"), "{err}");
    d.ok(&["volume", "prune", "-f", "--filter", "label=nothing"]);
    assert_eq!(vols(), ["vkeep", "vplain"]);
    d.ok(&["volume", "prune", "-f", "--filter", "label!=keep"]);
    assert_eq!(vols(), ["vkeep"]);

    // system prune passes its filters to each prune, and succeeds.
    d.ok(&["network", "create", "--label", "keep=1", "nsys"]);
    d.ok(&["create", "--name", "sys", "busybox", "true"]);
    let out = d.ok(&["system", "prune", "-f", "--filter", "label=nothing=1"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(names(), ["sys"]);
    assert_eq!(nets(), ["nsys"]);
    d.ok(&["system", "prune", "-f", "--filter", "label!=keep"]);
    assert!(names().is_empty());
    assert_eq!(nets(), ["nsys"]);
}

#[test]
fn root_docker_list_filters_match_like_docker() {
    let test = "root_docker_list_filters_match_like_docker";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    d.ok(&["network", "create", "lnet"]);
    d.ok(&["volume", "create", "lvol"]);
    d.ok(&["create", "--name", "lg", "busybox", "true"]);
    d.ok(&[
        "create",
        "--name",
        "lgx",
        "--network",
        "lnet",
        "busybox",
        "true",
    ]);
    d.ok(&[
        "create",
        "--name",
        "other",
        "-v",
        "lvol:/data",
        "busybox",
        "true",
    ]);
    let ps = |filters: &[&str]| {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        lines(&d.ok(&args))
    };
    // Regular expressions, the leading '/' available.
    assert_eq!(ps(&["name=^/lg$"]), ["lg"]);
    assert_eq!(ps(&["name=lg"]), ["lg", "lgx"]);
    assert_eq!(ps(&["name=^l.x$"]), ["lgx"]);
    assert_eq!(ps(&["name=^lg$"]), ["lg"]);
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "other"]);
    assert_eq!(ps(&[&format!("id={}", &id[..10])]), ["other"]);
    assert_eq!(ps(&["before=other"]), ["lg", "lgx"]);
    assert_eq!(ps(&["since=lg"]), ["lgx", "other"]);
    assert_eq!(ps(&["network=lnet"]), ["lgx"]);
    assert_eq!(ps(&["volume=lvol"]), ["other"]);
    assert_eq!(ps(&["volume=/data"]), ["other"]);
    assert!(ps(&["publish=80"]).is_empty());
    let err = refused(d.docker(&["ps", "--filter", "is-task=true"]));
    assert!(err.contains("is-task"), "{err}");
    let err = refused(d.docker(&["ps", "--filter", "colour=red"]));
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    // The engine's CLI reads them the same way.
    assert_eq!(
        e.ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            "name=^/lg$"
        ])
        .trim(),
        "lg"
    );

    // Images: label, before, since.
    d.ok(&["commit", "-c", "LABEL tier=a", "lg", "ia"]);
    d.ok(&["commit", "-c", "LABEL tier=b", "lg", "ib"]);
    let images = |f: &str| lines(&d.ok(&["images", "--format", "{{.Repository}}", "--filter", f]));
    assert_eq!(images("label=tier=a"), ["ia"]);
    assert_eq!(images("label=tier"), ["ia", "ib"]);
    assert_eq!(images("reference=i*"), ["ia", "ib"]);
    let err = refused(d.docker(&["images", "--filter", "colour=red"]));
    assert!(err.contains("invalid filter 'colour'"), "{err}");
}

#[test]
fn root_docker_system_prune_build_prune_and_df_count_like_docker() {
    let test = "root_docker_system_prune_build_prune_and_df_count_like_docker";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    // system prune ends with POST /build/prune: it has to answer.
    let out = d.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    d.ok(&["builder", "prune", "-f"]);

    // A build leaves step index entries; once its image is gone they are dangling cache.
    let ctx = e.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo hi > /x\n").unwrap();
    let built = d
        .command(&["build", "-q", "-t", "built", ctx.to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let out = d.ok(&["builder", "prune", "-f"]);
    assert!(!out.contains("Deleted build cache objects"), "{out}");
    d.ok(&["rmi", "built"]);
    let out = d.ok(&["builder", "prune", "-f"]);
    assert!(out.contains("Deleted build cache objects"), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    let out = e.ok(&["builder", "prune", "-a", "-f"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    let err = refused(d.docker(&["builder", "prune", "-f", "--filter", "type=regular"]));
    assert!(err.contains("invalid filter 'type'"), "{err}");

    // df: busybox used by two containers is not reclaimable; a committed image shares its
    // layer.
    d.ok(&["create", "--name", "c1", "busybox", "true"]);
    d.ok(&["create", "--name", "c2", "busybox", "true"]);
    let images_row = || {
        d.ok(&[
            "system",
            "df",
            "--format",
            "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}",
        ])
        .lines()
        .find(|l| l.starts_with("Images|"))
        .unwrap()
        .to_string()
    };
    let row = images_row();
    assert!(row.starts_with("Images|1|1|"), "{row}");
    assert!(row.ends_with("|0B (0%)"), "{row}");
    let engine_df = e.ok(&["system", "df"]);
    assert!(engine_df.contains("0B (0%)"), "{engine_df}");
    d.ok(&["start", "-a", "c1"]);
    d.ok(&["commit", "c1", "child1"]);
    d.ok(&["commit", "-c", "LABEL x=1", "c1", "child2"]);
    let verbose = d.ok(&["system", "df", "-v"]);
    let busybox = verbose
        .lines()
        .find(|l| l.starts_with("busybox"))
        .unwrap()
        .to_string();
    // REPOSITORY TAG ID CREATED SIZE SHARED SIZE UNIQUE SIZE CONTAINERS
    assert!(!busybox.contains("N/A"), "{verbose}");
    assert!(busybox.trim_end().ends_with('2'), "{verbose}");
    // Pruning everything frees each layer once: exactly the layers' total.
    d.ok(&["rm", "c1", "c2"]);
    let row = images_row();
    let total = row.split('|').nth(3).unwrap().to_string();
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.contains(&format!("Total reclaimed space: {total}")),
        "{row}\n{out}"
    );
    assert_eq!(d.ok(&["images", "-q"]), "");
}
