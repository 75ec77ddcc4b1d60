//! `engine layer ...`: the layer store by hand.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use anyhow::{Context, Result};
use graph::ChainId;

use crate::args::LayerCommand;
use engine_core::engine::Engine;

pub fn run(engine: &Engine, cmd: LayerCommand) -> Result<()> {
    match cmd {
        LayerCommand::Import { file, parent } => {
            let parent: Option<ChainId> = parent.as_deref().map(parse_chain).transpose()?;
            let input: Box<dyn Read> = if file.as_os_str() == "-" {
                Box::new(io::stdin().lock())
            } else {
                Box::new(File::open(&file).with_context(|| format!("opening {}", file.display()))?)
            };
            let layer = engine
                .layers
                .register(input, parent.as_ref())
                .with_context(|| format!("importing layer from {}", file.display()))?;
            println!("{}", layer.chain_id);
        }
        LayerCommand::Ls { quiet } => {
            let mut layers = engine.layers.list()?;
            layers.sort_by(|a, b| a.chain_id.cmp(&b.chain_id));
            let mut out = io::stdout().lock();
            if !quiet {
                writeln!(
                    out,
                    "{:<71}  {:<71}  {:>10}  PARENT",
                    "CHAIN ID", "DIFF ID", "SIZE"
                )?;
            }
            for l in layers {
                if quiet {
                    writeln!(out, "{}", l.chain_id)?;
                } else {
                    let parent = l.parent.map(|p| p.to_string()).unwrap_or_default();
                    writeln!(
                        out,
                        "{:<71}  {:<71}  {:>10}  {parent}",
                        l.chain_id, l.diff_id, l.size
                    )?;
                }
            }
        }
        LayerCommand::Export { chain_id, output } => {
            let chain = parse_chain(&chain_id)?;
            match output {
                Some(path) => {
                    super::archive::validate_output_path(&path)?;
                    super::archive::write_output(Some(&path), &mut |w| {
                        Ok(engine.layers.export(&chain, w)?)
                    })?;
                }
                None => {
                    let mut w = BufWriter::new(io::stdout().lock());
                    engine.layers.export(&chain, &mut w)?;
                    w.flush()?;
                }
            }
        }
        LayerCommand::Diff { chain_id } => {
            let chain = parse_chain(&chain_id)?;
            let layer = engine.layers.get(&chain)?;
            let parent = layer
                .parent
                .as_ref()
                .map(|p| engine.layers.get(p))
                .transpose()?;
            let mut changes = engine
                .driver
                .changes(&layer.cache_id, parent.as_ref().map(|p| &p.cache_id))?;
            changes.sort();
            let mut out = io::stdout().lock();
            for c in changes {
                writeln!(out, "{} {}", c.kind, c.path.display())?;
            }
        }
        LayerCommand::Rm { chain_ids } => {
            let mut failed = false;
            for id in chain_ids {
                match parse_chain(&id).and_then(|c| Ok(engine.layers.remove(&c)?)) {
                    Ok(()) => println!("Deleted: {id}"),
                    Err(e) => {
                        eprintln!("Error: {id}: {e:#}");
                        failed = true;
                    }
                }
            }
            if failed {
                anyhow::bail!("some layers could not be removed");
            }
        }
    }
    Ok(())
}

/// Accepts a full `sha256:<hex>` chain id or its 64 hex digits.
fn parse_chain(s: &str) -> Result<ChainId> {
    let full = if s.starts_with("sha256:") {
        s.to_string()
    } else {
        format!("sha256:{s}")
    };
    Ok(full.parse()?)
}
