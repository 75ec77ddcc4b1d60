//! `--change` instructions (`engine import -c`, later `commit -c`): Dockerfile syntax applied
//! to an image's run config.

use anyhow::{Result, bail};
use graph::image::RunConfig;

/// Applies one instruction such as `CMD ["sh"]`, `ENV A=b`, `WORKDIR /app` to `config`.
pub fn apply(config: &mut RunConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(command_form(rest)?),
        "ENTRYPOINT" => config.entrypoint = Some(command_form(rest)?),
        "ENV" => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(rest, "ENV")? {
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = config.labels.get_or_insert_with(Default::default);
            for (k, v) in key_values(rest, "LABEL")? {
                labels.insert(k, v);
            }
        }
        "WORKDIR" => config.working_dir = nonempty(rest, "WORKDIR")?.to_string(),
        "USER" => config.user = nonempty(rest, "USER")?.to_string(),
        "STOPSIGNAL" => config.stop_signal = Some(nonempty(rest, "STOPSIGNAL")?.to_string()),
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(Default::default);
            for p in rest.split_whitespace() {
                let key = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(key, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = config.volumes.get_or_insert_with(Default::default);
            let list = if rest.starts_with('[') {
                json_array(rest)?
            } else {
                rest.split_whitespace().map(String::from).collect()
            };
            for v in list {
                vols.insert(v, serde_json::json!({}));
            }
        }
        other => bail!(
            "{other} is not a valid change command; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR"
        ),
    }
    Ok(())
}

fn nonempty<'a>(s: &'a str, instr: &str) -> Result<&'a str> {
    if s.is_empty() {
        bail!("{instr} requires exactly one argument");
    }
    Ok(s)
}

fn json_array(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| anyhow::anyhow!("invalid JSON array {s:?}: {e}"))
}

/// Exec form `["a", "b"]`, or shell form wrapped in `/bin/sh -c`.
fn command_form(s: &str) -> Result<Vec<String>> {
    if s.starts_with('[')
        && let Ok(v) = json_array(s)
    {
        return Ok(v);
    }
    Ok(vec![
        "/bin/sh".into(),
        "-c".into(),
        nonempty(s, "CMD")?.into(),
    ])
}

/// `K=V K2="v 2"` or the legacy single `K V` form.
fn key_values(s: &str, instr: &str) -> Result<Vec<(String, String)>> {
    let s = nonempty(s, instr)?;
    let first = s.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        let mut value = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                }
                (_, c) => value.push(c),
            }
        }
        if key.is_empty() {
            bail!("{instr} {s:?}: a name is missing before '='");
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_dockerfile_style_changes() {
        let mut c = RunConfig::default();
        apply(&mut c, r#"CMD ["echo", "hi"]"#).unwrap();
        apply(&mut c, "ENTRYPOINT /bin/run --x").unwrap();
        apply(&mut c, r#"ENV A=1 B="two words""#).unwrap();
        apply(&mut c, "ENV A 3").unwrap();
        apply(&mut c, "WORKDIR /srv").unwrap();
        apply(&mut c, "EXPOSE 80 53/udp").unwrap();
        assert_eq!(c.cmd.unwrap(), ["echo", "hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/run --x"]);
        assert_eq!(c.env.unwrap(), ["B=two words", "A=3"]);
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(
            c.exposed_ports.unwrap().keys().cloned().collect::<Vec<_>>(),
            ["53/udp", "80/tcp"]
        );
        assert!(apply(&mut RunConfig::default(), "RUN rm -rf /").is_err());
        assert!(apply(&mut RunConfig::default(), "WORKDIR").is_err());
    }
}
