//! `engine inspect` (containers, then images) and `container inspect`.

use anyhow::Result;
use serde_json::{Value, json};

use crate::container::record::Record;
use crate::engine::Engine;
use crate::image;

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
    crate::inspect_fields::container(&mut v);
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
