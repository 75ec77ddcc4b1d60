//! The instructions that only change the image configuration (ENV, LABEL, CMD, ENTRYPOINT,
//! USER, WORKDIR, EXPOSE, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER):
//! applied to a config, returning the text Docker records in the history
//! (`/bin/sh -c #(nop)  <text>`).

use anyhow::{Context, Result, bail};
use graph::image::ImageConfig;
use serde_json::{Value, json};

use super::expand::{self, Lookup};
use super::parser::{Instruction, json_form};
use crate::changes;

/// The default shell of RUN, CMD and ENTRYPOINT in shell form.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// The SHELL in effect in `config`.
pub fn shell_of(config: &ImageConfig) -> Vec<String> {
    config
        .config
        .as_ref()
        .and_then(|c| c.extra.get("Shell"))
        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(default_shell)
}

/// A command in exec form, or shell form wrapped in the shell.
pub fn command(args: &str, shell: &[String]) -> Vec<String> {
    match json_form(args) {
        Some(v) => v,
        None => {
            let mut v = shell.to_vec();
            v.push(args.to_string());
            v
        }
    }
}

/// Go's `%q`-ish rendering of a list, as Docker's history shows commands.
pub fn show_list(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// `KEY=value` pairs (or the legacy `KEY value`), each value processed.
pub fn key_values<L: Lookup + ?Sized>(
    args: &str,
    vars: &L,
    escape: char,
    instr: &str,
) -> Result<Vec<(String, String)>> {
    let raw = expand::split_raw(args, escape);
    let Some(first) = raw.first() else {
        bail!("{instr} requires at least one argument");
    };
    if !first.contains('=') {
        // Legacy form: the rest of the line is the value.
        let rest = args.trim_start()[first.len()..].trim();
        if rest.is_empty() && instr == "ENV" {
            bail!("ENV names can not be blank / ENV requires a value: {first}");
        }
        return Ok(vec![(
            expand::word(first, vars, escape)?,
            expand::word(rest, vars, escape)?,
        )]);
    }
    let mut out = Vec::new();
    for w in raw {
        let Some((k, v)) = w.split_once('=') else {
            bail!("{instr}: {w:?} is not of the form KEY=value");
        };
        let k = expand::word(k, vars, escape)?;
        if k.is_empty() {
            bail!("{instr}: a name is missing before '=' in {w:?}");
        }
        out.push((k, expand::word(v, vars, escape)?));
    }
    Ok(out)
}

/// Applies a metadata instruction to `config`; returns the history text.
pub fn apply(
    instr: &Instruction,
    config: &mut ImageConfig,
    vars: &[(String, String)],
    escape: char,
) -> Result<String> {
    let shell = shell_of(config);
    let rc = config.config.get_or_insert_with(Default::default);
    let args = instr.args.trim();
    let word = |s: &str| expand::word(s, vars, escape);
    Ok(match instr.keyword.as_str() {
        "ENV" => {
            let pairs = key_values(args, vars, escape, "ENV")?;
            let env = rc.env.get_or_insert_with(Vec::new);
            let mut shown = Vec::new();
            for (k, v) in pairs {
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
                shown.push(format!("{k}={v}"));
            }
            format!("ENV {}", shown.join(" "))
        }
        "LABEL" => {
            let pairs = key_values(args, vars, escape, "LABEL")?;
            let labels = rc.labels.get_or_insert_with(Default::default);
            let mut shown = Vec::new();
            for (k, v) in pairs {
                shown.push(format!("{k}={v}"));
                labels.insert(k, v);
            }
            format!("LABEL {}", shown.join(" "))
        }
        "CMD" => {
            let cmd = command(args, &shell);
            rc.cmd = Some(cmd.clone());
            format!("CMD {}", show_list(&cmd))
        }
        "ENTRYPOINT" => {
            let ep = command(args, &shell);
            rc.entrypoint = Some(ep.clone());
            format!("ENTRYPOINT {}", show_list(&ep))
        }
        "USER" => {
            let user = word(args)?;
            if user.is_empty() {
                bail!("USER requires exactly one argument");
            }
            rc.user = user.clone();
            format!("USER {user}")
        }
        "WORKDIR" => {
            let dir = word(args)?;
            if dir.is_empty() {
                bail!("WORKDIR requires exactly one argument");
            }
            let dir = join_workdir(&rc.working_dir, &dir);
            rc.working_dir = dir.clone();
            format!("WORKDIR {dir}")
        }
        "EXPOSE" | "VOLUME" | "STOPSIGNAL" => {
            let expanded = if instr.keyword == "VOLUME" && json_form(args).is_some() {
                args.to_string()
            } else {
                expand::words(args, vars, escape)?.join(" ")
            };
            if expanded.trim().is_empty() {
                bail!("{} requires at least one argument", instr.keyword);
            }
            changes::apply(rc, &format!("{} {expanded}", instr.keyword))?;
            let shown = if instr.keyword == "EXPOSE" {
                expanded
                    .split_whitespace()
                    .map(|p| {
                        if p.contains('/') {
                            p.to_string()
                        } else {
                            format!("{p}/tcp")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                expanded
            };
            format!("{} {shown}", instr.keyword)
        }
        "SHELL" => {
            let Some(v) = json_form(args).filter(|v| !v.is_empty()) else {
                bail!(
                    "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]"
                );
            };
            rc.extra.insert("Shell".into(), json!(v));
            format!("SHELL {}", show_list(&v))
        }
        "HEALTHCHECK" => {
            let hc = healthcheck(instr)?;
            rc.extra.insert("Healthcheck".into(), hc);
            format!("HEALTHCHECK {args}")
        }
        "ONBUILD" => {
            let (first, _) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            match first.to_ascii_uppercase().as_str() {
                "ONBUILD" => bail!("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
                "FROM" | "MAINTAINER" => bail!("{first} isn't allowed as an ONBUILD trigger"),
                "" => bail!("ONBUILD requires at least one argument"),
                _ => {}
            }
            let list = rc.extra.entry("OnBuild".to_string()).or_insert(Value::Null);
            if !list.is_array() {
                *list = json!([]);
            }
            if let Value::Array(a) = list {
                a.push(json!(args));
            }
            format!("ONBUILD {args}")
        }
        "MAINTAINER" => {
            config.author = Some(word(args)?);
            format!("MAINTAINER {args}")
        }
        other => bail!("{other} is not a configuration instruction"),
    })
}

/// WORKDIR relative to the current one.
pub fn join_workdir(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        let base = if current.is_empty() { "/" } else { current };
        format!("{}/{}", base.trim_end_matches('/'), dir)
    };
    let clean = super::dockerignore::clean(&joined);
    format!("/{clean}")
}

fn healthcheck(instr: &Instruction) -> Result<Value> {
    let args = instr.args.trim();
    if args.eq_ignore_ascii_case("NONE") {
        if !instr.flags.is_empty() {
            bail!("HEALTHCHECK NONE takes no options");
        }
        return Ok(json!({ "Test": ["NONE"] }));
    }
    let (kind, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    if !kind.eq_ignore_ascii_case("CMD") {
        bail!("Unknown type {kind:?} in HEALTHCHECK (try CMD)");
    }
    let rest = rest.trim();
    let test: Vec<String> = match json_form(rest) {
        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        None => vec!["CMD-SHELL".into(), rest.to_string()],
    };
    let mut hc = serde_json::Map::new();
    hc.insert("Test".into(), json!(test));
    for (name, value) in &instr.flags {
        let key = match name.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let n: i64 = value
                    .parse()
                    .with_context(|| format!("invalid --retries value {value:?}"))?;
                hc.insert("Retries".into(), json!(n));
                continue;
            }
            other => bail!("Unknown flag: {other}"),
        };
        let d = humantime::parse_duration(value)
            .with_context(|| format!("invalid --{name} duration {value:?}"))?;
        hc.insert(key.into(), json!(d.as_nanos() as u64));
    }
    Ok(Value::Object(hc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::parser::parse;

    fn run(lines: &str) -> (ImageConfig, Vec<String>) {
        let d = parse(lines).unwrap();
        let mut c = ImageConfig::default();
        let vars: Vec<(String, String)> = vec![("V".into(), "val".into())];
        let mut shown = Vec::new();
        for i in &d.instructions {
            shown.push(apply(i, &mut c, &vars, d.escape).unwrap());
        }
        (c, shown)
    }

    #[test]
    fn applies_config_instructions() {
        let (c, shown) = run(
            "ENV A=$V B=\"x y\"\nENV C legacy value\nLABEL l=1\nCMD echo hi\nENTRYPOINT [\"/bin/sh\",\"-c\"]\nUSER app\nWORKDIR /a\nWORKDIR b\nEXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGTERM\nSHELL [\"/bin/sh\", \"-ec\"]\nCMD echo again\nHEALTHCHECK --interval=5s --retries=2 CMD true\nONBUILD RUN echo child\n",
        );
        let rc = c.config.unwrap();
        assert_eq!(rc.env.unwrap(), ["A=val", "B=x y", "C=legacy value"]);
        assert_eq!(rc.labels.unwrap()["l"], "1");
        assert_eq!(rc.cmd.unwrap(), ["/bin/sh", "-ec", "echo again"]);
        assert_eq!(rc.entrypoint.unwrap(), ["/bin/sh", "-c"]);
        assert_eq!(rc.user, "app");
        assert_eq!(rc.working_dir, "/a/b");
        assert!(rc.exposed_ports.unwrap().contains_key("53/udp"));
        assert!(rc.volumes.unwrap().contains_key("/data"));
        assert_eq!(rc.stop_signal.as_deref(), Some("SIGTERM"));
        assert_eq!(rc.extra["Healthcheck"]["Interval"], 5_000_000_000u64);
        assert_eq!(
            rc.extra["Healthcheck"]["Test"],
            json!(["CMD-SHELL", "true"])
        );
        assert_eq!(rc.extra["OnBuild"], json!(["RUN echo child"]));
        assert_eq!(shown[0], "ENV A=val B=x y");
        assert_eq!(shown[3], "CMD [\"/bin/sh\" \"-c\" \"echo hi\"]");
    }
}
