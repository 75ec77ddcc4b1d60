//! `engine` commands: ps.

use crate::args::PsArgs;
use crate::template;
use anyhow::Result;
use distribution::human;
use engine_core::container::list::{command, list, status, status_word, unix_secs};
use engine_core::container::record::Record;
use engine_core::engine::Engine;
use std::io::{self, Write};
use std::process::ExitCode;

pub fn run(engine: &Engine, args: PsArgs) -> Result<ExitCode> {
    let limit = args.latest.then_some(1);
    let rows = list(engine, args.all, limit, &args.filters)?;
    let mut out = io::stdout().lock();
    if args.quiet {
        for r in &rows {
            writeln!(out, "{}", id(r, args.no_trunc))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let header = template::row(FIELDS, &|f| header(f));
    let values: Vec<_> = rows
        .iter()
        .map(|r| template::row(FIELDS, &|f| field(r, f, args.no_trunc)))
        .collect();
    let format = args.format.as_deref().unwrap_or(DEFAULT_TABLE);
    template::print_listing(&mut out, format, DEFAULT_TABLE, &header, &values)?;
    Ok(ExitCode::SUCCESS)
}

fn header(name: &str) -> Option<String> {
    FIELDS
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, h)| h.to_string())
}

/// The value of one template field for a container.
fn field(r: &Record, name: &str, no_trunc: bool) -> Option<String> {
    Some(match name {
        "ID" => id(r, no_trunc),
        "Image" => r.config.image.clone(),
        "Command" => {
            let mut cmd = command(r);
            if !no_trunc && cmd.chars().count() > 20 {
                cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
            }
            format!("\"{cmd}\"")
        }
        "CreatedAt" => r.created.clone(),
        "RunningFor" => human::ago(unix_secs(&r.created)),
        "Status" => status(r),
        "State" => status_word(r).to_string(),
        "Ports" => ports(r),
        "Names" => r.short_name().to_string(),
        "Mounts" => r
            .mounts
            .iter()
            .map(|m| {
                if m.name.is_empty() {
                    m.source.clone()
                } else {
                    m.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => return None,
    })
}

fn id(r: &Record, no_trunc: bool) -> String {
    if no_trunc {
        r.id.clone()
    } else {
        r.short_id().to_string()
    }
}

/// Template fields and their `table` headers.
const FIELDS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Mounts", "MOUNTS"),
];

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Docker's PORTS column: "0.0.0.0:8080->80/tcp", and exposed ports not published.
fn ports(r: &Record) -> String {
    let mut out = Vec::new();
    if !r.state.running {
        return String::new();
    }
    for key in r.config.exposed_ports.keys() {
        match r.network_settings.ports.get(key) {
            Some(Some(bindings)) => {
                for b in bindings {
                    out.push(format!("{}:{}->{key}", b.host_ip, b.host_port));
                }
            }
            _ => out.push(key.clone()),
        }
    }
    out.join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_fields_and_reject_unknown_ones() {
        let value = template::row(FIELDS, &|f: &str| (f == "ID").then(|| "abc".to_string()));
        let render = |t: &str| template::Template::parse_strict(t).and_then(|t| t.render(&value));
        assert_eq!(render("{{.ID}}: {{ .ID }}").unwrap(), "abc: abc");
        assert!(render("{{.Nope}}").is_err());
        assert!(render("{{.ID").is_err());
    }
}
