//! `engine container ...` dispatch, and `diff`, `top`, `commit`.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Context, Result, bail};
use graph::image::{History, Image, Reference};

use crate::changes;
use crate::container::log;
use crate::container::record::Record;
use crate::engine::Engine;
use distribution::ingest::Ingest;

/// The container's changes to its image, sorted by path, without the runtime's own.
pub fn changes(engine: &Engine, record: &Record) -> Result<Vec<graph::Change>> {
    let mut changes = engine
        .layers
        .changes_rw(&record.id)
        .context("reading the container's changes")?;
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(hide_runtime_paths(changes))
}

/// Writes the container's whole filesystem to `out` as a tar.
pub fn export_to(engine: &Engine, record: &Record, out: &mut dyn Write) -> Result<()> {
    let root = engine
        .layers
        .mount_rw(&record.id)
        .context("mounting the container's filesystem")?;
    let written = graph::archive::export_tree(&root, out, graph::archive::WhiteoutFormat::Delete)
        .context("exporting the container's filesystem");
    let released = engine.layers.unmount_rw(&record.id);
    written?;
    released?;
    crate::events::container(&engine.settings.data_root, "export", record);
    Ok(())
}

/// Paths the runtime itself adds to the writable layer (mount points of /proc, /sys, /dev and
/// the generated /etc files). Docker keeps them in a separate init layer, so `docker diff`
/// never shows them and `docker commit` never stores them; here they are left out of both.
const RUNTIME_PATHS: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
];

fn hide_runtime_paths(changes: Vec<graph::Change>) -> Vec<graph::Change> {
    use std::path::Path;
    let hidden = |c: &graph::Change| {
        c.kind == graph::ChangeKind::Add
            && RUNTIME_PATHS
                .iter()
                .any(|p| c.path == Path::new(p) || c.path.starts_with(Path::new(p)))
    };
    let (hide, keep): (Vec<_>, Vec<_>) = changes.into_iter().partition(hidden);
    // A directory shown as changed only because a hidden path was added in it.
    keep.iter()
        .filter(|c| {
            let only_for_hidden = c.kind == graph::ChangeKind::Modify
                && hide
                    .iter()
                    .any(|h| h.path.parent() == Some(c.path.as_path()))
                && !keep
                    .iter()
                    .any(|k| k.path != c.path && k.path.starts_with(&c.path));
            !only_for_hidden
        })
        .cloned()
        .collect()
}

/// `ps` (default `-ef`)'s header and the lines of the container's processes.
pub fn top_lines(record: &Record, ps_args: &[String]) -> Result<(String, Vec<String>)> {
    if !record.state.running || record.state.pid <= 0 {
        return Err(crate::error::EngineError::conflict(format!(
            "Container {} is not running",
            record.id
        ))
        .into());
    }
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(theirs) = ns(&record.state.pid.to_string()) else {
        return Err(crate::error::EngineError::conflict(format!(
            "Container {} is not running",
            record.id
        ))
        .into());
    };
    let mut pids = HashSet::new();
    for entry in std::fs::read_dir("/proc")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.bytes().all(|b| b.is_ascii_digit()) && ns(&name).as_ref() == Some(&theirs) {
            pids.insert(name);
        }
    }
    let ps_args = if ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        ps_args.to_vec()
    };
    let output = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .context("running ps")?;
    if !output.status.success() {
        bail!("ps: {}", String::from_utf8_lossy(&output.stderr).trim_end());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Ok((String::new(), Vec::new()));
    };
    let Some(pid_col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("Couldn't find PID field in ps output");
    };
    let rows = lines
        .filter(|line| {
            line.split_whitespace()
                .nth(pid_col)
                .is_some_and(|p| pids.contains(p))
        })
        .map(str::to_string)
        .collect();
    Ok((header.to_string(), rows))
}

/// What `commit` makes: `-c` changes, `-m`, `-a`.
#[derive(Debug, Default)]
pub struct CommitRequest {
    pub reference: Option<String>,
    pub changes: Vec<String>,
    pub author: Option<String>,
    pub message: Option<String>,
}

/// A new image from the image plus the container's writable layer, with the
/// container's configuration (and the changes asked for) as its config; tagged when asked.
pub fn commit_container(engine: &Engine, record: &Record, args: &CommitRequest) -> Result<Image> {
    let reference = args
        .reference
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(Reference::parse)
        .transpose()?;
    let base = engine.images.get(&record.image.parse()?)?;
    let mut run_config = base.config.config.clone().unwrap_or_default();
    let c = &record.config;
    run_config.user = c.user.clone();
    run_config.env = Some(c.env.clone());
    run_config.cmd = c.cmd.clone();
    run_config.entrypoint = c.entrypoint.clone();
    run_config.working_dir = c.working_dir.clone();
    run_config.exposed_ports = (!c.exposed_ports.is_empty()).then(|| c.exposed_ports.clone());
    run_config.labels = (!c.labels.is_empty()).then(|| c.labels.clone());
    for change in &args.changes {
        changes::apply(&mut run_config, change).with_context(|| format!("--change {change:?}"))?;
    }
    // What the runtime put in the layer (mount points, /etc/hosts...) stays out of the
    // image, as Docker's init layer keeps it out.
    let all = engine.layers.changes_rw(&record.id)?;
    let kept = hide_runtime_paths(all.clone());
    // Through an ingest, as every image is made: a commit that fails, or is killed, before
    // its image exists leaves no layer behind.
    let mut ingest = Ingest::new(engine.stores())?;
    for d in &base.config.rootfs.diff_ids {
        if !ingest.reuse(d)? {
            bail!("the layer {d} of the container's image is missing");
        }
    }
    let layer = ingest.adopt(|note| {
        if kept.len() == all.len() {
            engine.layers.commit_rw_noting(&record.id, note)
        } else {
            engine
                .layers
                .commit_rw_changes_noting(&record.id, &kept, note)
        }
        .context("committing the container's writable layer")
    })?;
    let mut config = base.config.clone();
    let now = log::now();
    config.created = Some(now.clone());
    config.author = args.author.clone();
    config.config = Some(run_config);
    config.rootfs.diff_ids.push(layer.diff_id.clone());
    let created_by = std::iter::once(record.path.as_str())
        .chain(record.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    config.history.push(History {
        created: Some(now),
        created_by: Some(created_by),
        author: args.author.clone(),
        comment: args.message.clone(),
        empty_layer: false,
    });
    let raw = serde_json::to_vec(&config)?;
    let image = ingest.commit(&raw)?;
    let mut tagged = None;
    if let Some(r) = &reference {
        let r = if r.tag().is_none() && r.digest().is_none() {
            r.with_tag("latest")
        } else {
            r.clone()
        };
        engine.images.tag(&r, &image.id)?;
        tagged = Some(r.familiar());
    }
    let root = &engine.settings.data_root;
    crate::events::committed(root, record, &image, tagged, args.message.as_deref());
    Ok(image)
}
