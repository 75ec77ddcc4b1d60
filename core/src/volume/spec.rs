//! Docker's mount specification (`HostConfig.Mounts`, API 1.41's `Mount`), `--mount`'s CSV
//! form of it, and `-v`'s `[SOURCE:]DESTINATION[:MODE]`, parsed and checked with Docker's
//! rules and messages.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// One `HostConfig.Mounts` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MountSpec {
    /// bind, volume or tmpfs.
    #[serde(rename = "Type", default, deserialize_with = "nullable")]
    pub kind: String,
    /// A host path (bind) or a volume name (volume; empty: an anonymous volume).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub source: String,
    /// The path in the container.
    #[serde(default, deserialize_with = "nullable")]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    /// Docker Desktop's file sharing hint; no effect on Linux (as in Docker).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub consistency: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub bind_options: Option<BindOptions>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume_options: Option<VolumeOptions>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Docker's clients send `null` for what they leave unset (the Python SDK's `"Source":
/// null`): the field's empty value.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !b
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BindOptions {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub propagation: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub non_recursive: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub no_copy: bool,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub driver_config: Option<DriverConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DriverConfig {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TmpfsOptions {
    /// Bytes (0: the kernel's default, half the memory).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub size_bytes: i64,
    /// Permission bits (0: tmpfs's default, 1777).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero_u32"
    )]
    pub mode: u32,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// `--mount` CSV (`type=volume,source=data,target=/data,readonly`) as Docker's CLI reads it.
pub fn parse_mount_flag(value: &str) -> Result<MountSpec> {
    let mut m = MountSpec::default();
    let mut volume = VolumeOptions::default();
    let mut bind = BindOptions::default();
    let mut tmpfs = TmpfsOptions::default();
    let (mut has_volume, mut has_bind, mut has_tmpfs) = (false, false, false);
    for field in csv_fields(value)? {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let required = || -> Result<String> {
            val.clone()
                .ok_or_else(|| anyhow::anyhow!("invalid field '{field}' must be a key=value pair"))
        };
        let boolean = || -> Result<bool> {
            match val.as_deref() {
                None => Ok(true),
                Some("1" | "true" | "True" | "TRUE" | "t") => Ok(true),
                Some("0" | "false" | "False" | "FALSE" | "f") => Ok(false),
                Some(v) => bail!("invalid value for {key}: {v}"),
            }
        };
        match key.as_str() {
            "type" => m.kind = required()?,
            "source" | "src" => m.source = required()?,
            "target" | "dst" | "destination" => m.target = required()?,
            "readonly" | "ro" => m.read_only = boolean()?,
            "consistency" => m.consistency = required()?,
            "bind-propagation" => {
                has_bind = true;
                bind.propagation = required()?;
            }
            "bind-nonrecursive" => {
                has_bind = true;
                bind.non_recursive = boolean()?;
            }
            "volume-nocopy" => {
                has_volume = true;
                volume.no_copy = boolean()?;
            }
            "volume-label" => {
                has_volume = true;
                let (k, v) = split_pair(&required()?);
                volume.labels.get_or_insert_default().insert(k, v);
            }
            "volume-driver" => {
                has_volume = true;
                volume.driver_config.get_or_insert_default().name = required()?;
            }
            "volume-opt" => {
                has_volume = true;
                let (k, v) = split_pair(&required()?);
                volume
                    .driver_config
                    .get_or_insert_default()
                    .options
                    .get_or_insert_default()
                    .insert(k, v);
            }
            "tmpfs-size" => {
                has_tmpfs = true;
                let v = required()?;
                tmpfs.size_bytes = graph::options::parse_bytes(&v)
                    .map_err(|_| anyhow::anyhow!("invalid value for {key}: {v}"))?
                    as i64;
            }
            "tmpfs-mode" => {
                has_tmpfs = true;
                let v = required()?;
                tmpfs.mode = u32::from_str_radix(&v, 8)
                    .map_err(|_| anyhow::anyhow!("invalid value for {key}: {v}"))?;
            }
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if m.kind.is_empty() {
        m.kind = "volume".into();
    }
    if m.target.is_empty() {
        bail!("target is required");
    }
    let mix =
        |what: &str| anyhow::anyhow!("cannot mix '{what}-*' options with mount type '{}'", m.kind);
    if has_volume && m.kind != "volume" {
        return Err(mix("volume"));
    }
    if has_bind && m.kind != "bind" {
        return Err(mix("bind"));
    }
    if has_tmpfs && m.kind != "tmpfs" {
        return Err(mix("tmpfs"));
    }
    if has_volume {
        m.volume_options = Some(volume);
    }
    if has_bind {
        m.bind_options = Some(bind);
    }
    if has_tmpfs {
        m.tmpfs_options = Some(tmpfs);
    }
    Ok(m)
}

fn split_pair(s: &str) -> (String, String) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// Comma-separated fields; a field may be double-quoted (Go's encoding/csv, as Docker's CLI).
fn csv_fields(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        bail!("invalid argument {s:?} for \"--mount\" flag: unterminated quote");
    }
    out.push(cur);
    Ok(out.into_iter().filter(|f| !f.is_empty()).collect())
}

/// The daemon's checks of one mount specification (Docker's messages).
pub fn validate(m: &MountSpec) -> Result<()> {
    let kind = m.kind.as_str();
    let err = |msg: String| anyhow::anyhow!("invalid mount config for type {kind:?}: {msg}");
    if m.target.is_empty() {
        return Err(err("field Target must not be empty".into()));
    }
    if !m.target.starts_with('/') {
        return Err(err(format!(
            "invalid mount path: '{}' mount path must be absolute",
            m.target
        )));
    }
    if clean(&m.target) == "/" {
        return Err(err("invalid specification: destination can't be '/'".into()));
    }
    match m.consistency.as_str() {
        "" | "default" | "consistent" | "cached" | "delegated" => {}
        other => return Err(err(format!("invalid consistency mode {other:?}"))),
    }
    match kind {
        "bind" => {
            if m.source.is_empty() {
                return Err(err("field Source must not be empty".into()));
            }
            if m.volume_options.is_some() {
                return Err(err("field VolumeOptions must not be specified".into()));
            }
            if m.tmpfs_options.is_some() {
                return Err(err("field TmpfsOptions must not be specified".into()));
            }
            if !m.source.starts_with('/') {
                return Err(err(format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if let Some(b) = &m.bind_options {
                check_propagation(&b.propagation)?;
                if b.non_recursive {
                    bail!(
                        "invalid mount config for type \"bind\": bind-nonrecursive is not supported by this engine (its binds are always recursive)"
                    );
                }
            }
            if !std::path::Path::new(&m.source).exists() {
                return Err(err(format!(
                    "bind source path does not exist: {}",
                    m.source
                )));
            }
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified".into()));
            }
            if m.tmpfs_options.is_some() {
                return Err(err("field TmpfsOptions must not be specified".into()));
            }
            if !m.source.is_empty() && !super::store::valid_name(&m.source) {
                return Err(err(format!(
                    "invalid volume name {:?}: only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed",
                    m.source
                )));
            }
            if let Some(d) = m
                .volume_options
                .as_ref()
                .and_then(|v| v.driver_config.as_ref())
                && !d.name.is_empty()
                && d.name != super::store::DRIVER
            {
                return Err(err(format!(
                    "volume driver {:?} not found (only \"local\" exists)",
                    d.name
                )));
            }
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(err("field Source must not be specified".into()));
            }
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified".into()));
            }
            if m.volume_options.is_some() {
                return Err(err("field VolumeOptions must not be specified".into()));
            }
            if let Some(t) = &m.tmpfs_options
                && t.size_bytes < 0
            {
                return Err(err(format!("invalid tmpfs size {}", t.size_bytes)));
            }
        }
        "npipe" => return Err(err("npipe mounts are Windows-only".into())),
        "" => {
            return Err(anyhow::anyhow!(
                "invalid mount config: the mount type is required"
            ));
        }
        other => bail!("invalid mount config for type {other:?}: mount type unknown"),
    }
    Ok(())
}

/// Propagation modes: the container's mounts are private (Docker's default `rprivate`);
/// sharing mounts back to the host is not done here, so it is refused rather than ignored.
pub fn check_propagation(p: &str) -> Result<()> {
    match p {
        "" | "private" | "rprivate" => Ok(()),
        "shared" | "rshared" | "slave" | "rslave" => bail!(
            "bind propagation {p:?} is not supported by this engine (mounts in a container are always rprivate)"
        ),
        other => bail!("invalid propagation mode: {other}"),
    }
}

/// One `-v` value, split: `(source, destination, mode)`; an empty source is an anonymous
/// volume.
pub fn parse_volume_flag(raw: &str) -> Result<(String, String, String)> {
    let invalid = || anyhow::anyhow!("invalid volume specification: '{raw}'");
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [_, m] if valid_mode(m) => return Err(invalid()),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid()),
    };
    if dst.is_empty() {
        return Err(invalid());
    }
    if !dst.starts_with('/') {
        bail!(
            "invalid volume specification: '{raw}': invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
        );
    }
    if clean(dst) == "/" {
        bail!(
            "invalid volume specification: '{raw}': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
        );
    }
    if !mode.is_empty() && !valid_mode(mode) {
        bail!("invalid mode: {mode}");
    }
    if !src.is_empty() && !src.starts_with('/') && !super::store::valid_name(src) {
        bail!(
            "{src:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }
    Ok((src.to_string(), dst.to_string(), mode.to_string()))
}

/// A `-v` mode: at most one each of rw/ro, z/Z, a propagation, nocopy and a consistency.
pub fn valid_mode(mode: &str) -> bool {
    let groups: [&[&str]; 5] = [
        &["rw", "ro"],
        &["z", "Z"],
        &[
            "shared", "rshared", "slave", "rslave", "private", "rprivate",
        ],
        &["nocopy"],
        &["consistent", "cached", "delegated"],
    ];
    let mut counts = [0; 5];
    for part in mode.split(',') {
        let Some(g) = groups.iter().position(|g| g.contains(&part)) else {
            return false;
        };
        counts[g] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

/// Read-only per the mode.
pub fn mode_read_only(mode: &str) -> bool {
    mode.split(',').any(|m| m == "ro")
}

/// The propagation in a mode, if any.
pub fn mode_propagation(mode: &str) -> &str {
    mode.split(',')
        .find(|m| {
            matches!(
                *m,
                "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
            )
        })
        .unwrap_or("")
}

/// `/a//b/` -> `/a/b`, `/` stays `/`.
pub fn clean(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_parse_as_dockers_cli() {
        let m = parse_mount_flag(
            "type=volume,source=data,target=/data,readonly,volume-nocopy,volume-label=a=b",
        )
        .unwrap();
        assert_eq!(m.kind, "volume");
        assert_eq!(m.source, "data");
        assert!(m.read_only);
        let v = m.volume_options.unwrap();
        assert!(v.no_copy);
        assert_eq!(v.labels.unwrap()["a"], "b");
        let t = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700").unwrap();
        assert_eq!(t.tmpfs_options.as_ref().unwrap().size_bytes, 1 << 20);
        assert_eq!(t.tmpfs_options.as_ref().unwrap().mode, 0o700);
        assert_eq!(parse_mount_flag("target=/x").unwrap().kind, "volume");
        assert_eq!(
            parse_mount_flag("type=bind,src=/a,dst=/b,foo=1")
                .unwrap_err()
                .to_string(),
            "unexpected key 'foo' in 'foo=1'"
        );
        assert!(parse_mount_flag("type=bind,source=/a").is_err());
        assert!(parse_mount_flag("type=bind,source=/a,target=/b,volume-nocopy").is_err());
        assert!(parse_mount_flag("type=tmpfs,target=/b,ro=maybe").is_err());
    }

    #[test]
    fn mount_specs_take_nulls_as_unset() {
        let m: MountSpec = serde_json::from_value(serde_json::json!({
            "Type": "tmpfs", "Source": null, "Target": "/t", "ReadOnly": null,
            "Consistency": null, "TmpfsOptions": {"SizeBytes": 1048576, "Mode": null}
        }))
        .unwrap();
        assert_eq!(m.source, "");
        assert_eq!(m.tmpfs_options.unwrap().size_bytes, 1 << 20);
        assert!(
            serde_json::from_value::<MountSpec>(serde_json::json!({"Type": "bind", "Bogus": 1}))
                .is_err()
        );
    }

    #[test]
    fn mount_specs_are_validated_as_dockers_daemon() {
        let bind = |src: &str, dst: &str| MountSpec {
            kind: "bind".into(),
            source: src.into(),
            target: dst.into(),
            ..Default::default()
        };
        assert!(validate(&bind("/", "/x")).is_ok());
        assert!(
            validate(&bind("/no/such/dir/x", "/x"))
                .unwrap_err()
                .to_string()
                .contains("bind source path does not exist")
        );
        assert!(validate(&bind("/", "x")).is_err());
        assert!(validate(&bind("/", "/")).is_err());
        let mut shared = bind("/", "/x");
        shared.bind_options = Some(BindOptions {
            propagation: "rshared".into(),
            non_recursive: false,
        });
        assert!(
            validate(&shared)
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        let tmpfs = MountSpec {
            kind: "tmpfs".into(),
            source: "x".into(),
            target: "/t".into(),
            ..Default::default()
        };
        assert!(
            validate(&tmpfs)
                .unwrap_err()
                .to_string()
                .contains("Source must not be specified")
        );
    }

    #[test]
    fn volume_flags_parse_as_dockers() {
        assert_eq!(
            parse_volume_flag("data:/d:ro").unwrap(),
            ("data".into(), "/d".into(), "ro".into())
        );
        assert_eq!(
            parse_volume_flag("/anon").unwrap(),
            (String::new(), "/anon".into(), String::new())
        );
        assert!(parse_volume_flag("/d:ro").is_err());
        assert!(parse_volume_flag("data:rel").is_err());
        assert!(parse_volume_flag("data:/d:bogus").is_err());
        assert!(parse_volume_flag("data:/d:ro,rw").is_err());
        assert!(parse_volume_flag("a/b:/d").is_err());
        assert!(valid_mode("ro,z,nocopy"));
        assert!(mode_read_only("z,ro"));
        assert_eq!(clean("/a//b/"), "/a/b");
    }
}
