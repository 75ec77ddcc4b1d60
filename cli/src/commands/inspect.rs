//! `engine` commands: inspect.

use crate::template::Template;
use anyhow::{Result, bail};
use engine_core::container::inspect::container_json;
use engine_core::container::store::ContainerStore;
use engine_core::engine::Engine;
use engine_core::image;
use serde_json::Value;
use std::process::ExitCode;

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
