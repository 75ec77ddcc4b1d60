//! `engine inspect` (containers, then images) and `container inspect`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::image;
use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::engine::Engine;
use crate::template::Template;

/// Docker's container inspect document.
pub fn container_json(engine: &Engine, record: &Record) -> Result<Value> {
    let mut v = serde_json::to_value(record)?;
    let graph_data = engine
        .layers
        .rw_layer(&record.id)
        .ok()
        .and_then(|rw| engine.driver.metadata(&rw.mount_id).ok())
        .unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.remove("HasBeenManuallyStopped");
        map.insert(
            "Mounts".into(),
            Value::Array(record.mounts.iter().map(|m| m.public_json()).collect()),
        );
        map.insert("Platform".into(), json!("linux"));
        map.insert("ProcessLabel".into(), json!(""));
        map.insert("AppArmorProfile".into(), json!(""));
        map.insert(
            "GraphDriver".into(),
            json!({ "Name": record.driver, "Data": graph_data }),
        );
        // docker-compose reads logs only of containers whose log driver it knows.
        if let Some(hc) = map.get_mut("HostConfig").and_then(Value::as_object_mut) {
            hc.entry("LogConfig")
                .or_insert_with(|| json!({ "Type": "json-file", "Config": {} }));
        }
    }
    super::inspect_fields::container(&mut v);
    Ok(v)
}

/// The container's sizes: its writable layer's changes (`SizeRw`) and its whole filesystem
/// (`SizeRootFs`, the image's layers too), as `?size=1` shows them.
pub fn sizes(engine: &Engine, record: &Record) -> (u64, u64) {
    let rw = engine.layers.diff_size_rw(&record.id).unwrap_or(0);
    let image = record
        .image
        .parse()
        .ok()
        .and_then(|id| engine.images.get(&id).ok())
        .map(|i| image::image_size(engine, &i))
        .unwrap_or(0);
    (rw, rw + image)
}

/// `engine inspect NAME...`: containers first, then images (or only `--type`).
pub fn run(
    engine: &Engine,
    names: &[String],
    kind: Option<&str>,
    format: Option<&str>,
) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let (containers, images) = match kind {
        None => (true, true),
        Some("container") => (true, false),
        Some("image") => (false, true),
        Some(k) => bail!("\"{k}\" is not a valid value for --type"),
    };
    let mut docs = Vec::new();
    let mut failed = false;
    for name in names {
        if containers && let Ok(r) = store.resolve(name) {
            docs.push(container_json(engine, &r)?);
            continue;
        }
        if images && let Ok(i) = image::resolve(engine, name) {
            docs.push(image::inspect_json(engine, &i)?);
            continue;
        }
        eprintln!("Error: No such object: {name}");
        failed = true;
    }
    print_docs(&docs, format)?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints inspect documents: a JSON array, or each through the `--format` template.
pub fn print_docs(docs: &[Value], format: Option<&str>) -> Result<()> {
    let Some(format) = format else {
        println!("{}", serde_json::to_string_pretty(docs)?);
        return Ok(());
    };
    let template = Template::parse(format)?;
    let mut out = String::new();
    for doc in docs {
        out.push_str(&template.render(doc)?);
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}
