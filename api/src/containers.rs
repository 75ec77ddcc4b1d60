//! `/containers/...`: create, start, stop, restart, kill, remove, list, inspect, rename,
//! prune. Each runs the CLI's own function for the job (`container::create`,
//! `commands::lifecycle`, `commands::ps`), so the two behave alike.
//!
//! attach, wait and resize are in `attach.rs`, exec in `exec.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{AppState, blocking, reap};
use engine_core::container::confinement::Confinement;
use engine_core::container::create::{self, Request};
use engine_core::container::host_options::HostOptions;
use engine_core::container::record::{PortBinding, RestartPolicy};
use engine_core::container::restart;
use engine_core::container::store::ContainerStore;
use engine_core::container::{inspect, lifecycle, list as ps};
use engine_core::engine::Engine;

fn store(engine: &Engine) -> anyhow::Result<ContainerStore> {
    ContainerStore::open(&engine.settings.data_root)
}

/// A list Docker may send as one string (`"Cmd": "echo hi"`, old clients) or as a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StrSlice {
    One(String),
    Many(Vec<String>),
}

impl StrSlice {
    fn into_vec(self) -> Vec<String> {
        match self {
            StrSlice::One(s) => vec![s],
            StrSlice::Many(v) => v,
        }
    }
}

/// The create body (Docker's `ContainerConfig` with `HostConfig`). Every field may be null. A
/// field this engine does not implement is refused with a 400 naming it when it asks for
/// anything (a non-empty value); clients send many fields at their zero values, and those
/// ask for nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    image: Option<String>,
    cmd: Option<StrSlice>,
    entrypoint: Option<StrSlice>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    hostname: Option<String>,
    domainname: Option<String>,
    tty: Option<bool>,
    open_stdin: Option<bool>,
    labels: Option<BTreeMap<String, String>>,
    exposed_ports: Option<BTreeMap<String, Value>>,
    host_config: Option<HostConfigBody>,
    /// Anonymous volumes by destination.
    volumes: Option<BTreeMap<String, Value>>,
    /// Client-side attach settings: `docker run` attaches by itself after the start.
    attach_stdin: Option<bool>,
    attach_stdout: Option<bool>,
    attach_stderr: Option<bool>,
    stdin_once: Option<bool>,
    /// Windows only.
    args_escaped: Option<bool>,
    /// `--stop-signal`, `--stop-timeout`.
    stop_signal: Option<String>,
    stop_timeout: Option<i64>,
    networking_config: Option<NetworkingConfigBody>,
    healthcheck: Option<engine_core::container::health::HealthConfig>,
    /// Every other field, checked by [`refuse_unsupported`].
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// `NetworkingConfig`: the container's endpoint on each network it starts on.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfigBody {
    endpoints_config: Option<BTreeMap<String, Option<EndpointBody>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointBody {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamBody>,
    aliases: Option<Vec<String>>,
    links: Option<Vec<String>>,
    /// Every other field (MacAddress, DriverOpts, ...), checked by [`refuse_unsupported`].
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamBody {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    ipv6_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfigBody {
    auto_remove: Option<bool>,
    port_bindings: Option<BTreeMap<String, Option<Vec<PortBindingBody>>>>,
    memory: Option<i64>,
    memory_swap: Option<i64>,
    restart_policy: Option<RestartBody>,
    binds: Option<Vec<String>>,
    network_mode: Option<String>,
    mounts: Option<Vec<engine_core::volume::spec::MountSpec>>,
    volumes_from: Option<Vec<String>>,
    dns: Option<Vec<String>>,
    dns_search: Option<Vec<String>>,
    extra_hosts: Option<Vec<String>>,
    publish_all_ports: Option<bool>,
    ipc_mode: Option<String>,
    pid_mode: Option<String>,
    #[serde(rename = "UTSMode")]
    uts_mode: Option<String>,
    links: Option<Vec<String>>,
    /// `[rows, columns]` of the client's terminal (API 1.42; older clients resize after the
    /// start).
    console_size: Option<Value>,
    /// `--cidfile` is written by the client.
    #[serde(rename = "ContainerIDFile")]
    container_id_file: Option<String>,
    #[serde(flatten)]
    confinement: Confinement,
    #[serde(flatten)]
    options: HostOptions,
    /// Every other field, checked by [`refuse_unsupported`].
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// Whether a field's value asks for nothing: null, false, 0, "", an empty list or map, or
/// a list or map of such (`"LogConfig": {"Type": "", "Config": {}}`, `"ConsoleSize": [0, 0]`).
pub(crate) fn asks_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(asks_nothing),
        // A struct (PascalCase keys) asks nothing when its fields do; a map's keys are
        // requests of their own (`"Volumes": {"/data": {}}`).
        Value::Object(o) => {
            o.is_empty()
                || o.iter().all(|(k, v)| {
                    k.starts_with(|c: char| c.is_ascii_uppercase()) && asks_nothing(v)
                })
        }
    }
}

/// A 400 naming the first field of `rest` (under `prefix`) that asks for something this
/// engine does not do.
fn refuse_unsupported(prefix: &str, rest: &BTreeMap<String, Value>) -> ApiResult<()> {
    for (key, value) in rest {
        let default = match key.as_str() {
            // Docker's own "unset" values.
            "IpcMode" => matches!(value.as_str(), Some("private" | "shareable")),
            "Runtime" => value.as_str() == Some("runc"),
            "Isolation" => value.as_str() == Some("default"),
            _ => false,
        };
        if !default && !asks_nothing(value) {
            return Err(ApiError::bad_request(format!(
                "{prefix}{key} is not supported by this engine (got {value})"
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PortBindingBody {
    host_ip: Option<String>,
    host_port: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartBody {
    name: Option<String>,
    maximum_retry_count: Option<u32>,
}

/// "80" or "80/tcp" -> "80/tcp"; TCP and UDP are published here.
fn port_key(key: &str) -> ApiResult<String> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    if proto != "tcp" && proto != "udp" {
        return Err(ApiError::bad_request(format!(
            "invalid port {key:?}: only tcp and udp ports are supported"
        )));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(format!("{p}/{proto}")),
        _ => Err(ApiError::bad_request(format!("invalid port {key:?}"))),
    }
}

impl CreateBody {
    fn into_request(self, name: Option<String>) -> ApiResult<Request> {
        refuse_unsupported("Config.", &self.rest)?;
        let host = self.host_config.unwrap_or_default();
        refuse_unsupported("HostConfig.", &host.rest)?;
        let networking = networking(&host, self.networking_config)?;
        let image = self
            .image
            .filter(|i| !i.is_empty())
            .ok_or_else(|| ApiError::bad_request("Config.Image is required"))?;
        let mut port_bindings = BTreeMap::new();
        for (key, bindings) in host.port_bindings.unwrap_or_default() {
            let key = port_key(&key)?;
            let list: Vec<PortBinding> = bindings
                .unwrap_or_default()
                .into_iter()
                .map(|b| PortBinding {
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port: b.host_port.unwrap_or_default(),
                })
                .collect();
            for b in &list {
                if !b.host_port.is_empty() && b.host_port.parse::<u16>().is_err() {
                    return Err(ApiError::bad_request(format!(
                        "invalid host port {:?} for {key}",
                        b.host_port
                    )));
                }
                if !b.host_ip.is_empty() && b.host_ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(ApiError::bad_request(format!(
                        "invalid host IP {:?} for {key}",
                        b.host_ip
                    )));
                }
            }
            // A port with no binding is only exposed.
            if !list.is_empty() {
                port_bindings.insert(key, list);
            }
        }
        let exposed_ports = self
            .exposed_ports
            .unwrap_or_default()
            .keys()
            .map(|k| port_key(k))
            .collect::<ApiResult<Vec<_>>>()?;
        let policy = host.restart_policy.unwrap_or_default();
        let restart = match policy.name.as_deref() {
            None | Some("") => RestartPolicy::default(),
            Some(name) => {
                let mut p =
                    restart::parse(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
                p.maximum_retry_count = policy.maximum_retry_count.unwrap_or(0);
                if p.maximum_retry_count > 0 && p.name != "on-failure" {
                    return Err(ApiError::bad_request(
                        "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                    ));
                }
                p
            }
        };
        Ok(Request {
            name,
            image,
            // The `platform` query parameter, set by the handler.
            platform: None,
            console_size: host
                .console_size
                .as_ref()
                .and_then(|v| serde_json::from_value::<[u16; 2]>(v.clone()).ok())
                .unwrap_or_default(),
            cmd: self.cmd.map(StrSlice::into_vec).unwrap_or_default(),
            // `--entrypoint ""` arrives as `[""]`: no entrypoint.
            entrypoint: self.entrypoint.map(|e| {
                let v = e.into_vec();
                if v.iter().all(String::is_empty) {
                    Vec::new()
                } else {
                    v
                }
            }),
            env: self.env.unwrap_or_default(),
            working_dir: self.working_dir.filter(|w| !w.is_empty()),
            user: self.user.filter(|u| !u.is_empty()),
            hostname: self.hostname.filter(|h| !h.is_empty()),
            tty: self.tty.unwrap_or(false),
            open_stdin: self.open_stdin.unwrap_or(false),
            labels: self.labels.unwrap_or_default(),
            exposed_ports,
            port_bindings,
            memory: host.memory.unwrap_or(0),
            memory_swap: host.memory_swap.unwrap_or(0),
            restart,
            auto_remove: host.auto_remove.unwrap_or(false),
            binds: host.binds.unwrap_or_default(),
            network: host.network_mode.unwrap_or_default(),
            mounts: host.mounts.unwrap_or_default(),
            volumes_from: host.volumes_from.unwrap_or_default(),
            volumes: self.volumes.unwrap_or_default().into_keys().collect(),
            confinement: host.confinement,
            options: host.options,
            domainname: self.domainname.filter(|d| !d.is_empty()),
            stop_signal: self.stop_signal,
            stop_timeout: self.stop_timeout,
            healthcheck: self.healthcheck,
            networking,
        })
    }
}

/// The networking fields of `HostConfig` and `NetworkingConfig`. The endpoint of the
/// container's own network (by name or id) gives its aliases and address; the others are
/// further networks.
fn networking(
    host: &HostConfigBody,
    config: Option<NetworkingConfigBody>,
) -> ApiResult<create::Networking> {
    if host.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::bad_request(
            "HostConfig.Links (legacy links) are not supported: put the containers on a user-defined network and use their names",
        ));
    }
    let mut out = create::Networking {
        dns: host.dns.clone().unwrap_or_default(),
        dns_search: host.dns_search.clone().unwrap_or_default(),
        extra_hosts: host.extra_hosts.clone().unwrap_or_default(),
        publish_all: host.publish_all_ports.unwrap_or(false),
        ipc: host.ipc_mode.clone().unwrap_or_default(),
        pid: host.pid_mode.clone().unwrap_or_default(),
        uts: host.uts_mode.clone().unwrap_or_default(),
        missing_network_at_start: true,
        ..Default::default()
    };
    let mode = host.network_mode.clone().unwrap_or_default();
    let primary = match mode.as_str() {
        "" | "default" => "bridge",
        m => m,
    };
    for (name, ep) in config.and_then(|c| c.endpoints_config).unwrap_or_default() {
        let ep = ep.unwrap_or_default();
        refuse_unsupported(
            &format!("NetworkingConfig.EndpointsConfig.{name}."),
            &ep.rest,
        )?;
        if ep.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(ApiError::bad_request(
                "EndpointSettings.Links (legacy links) are not supported",
            ));
        }
        let ipam = ep.ipam_config.unwrap_or_default();
        if ipam.ipv6_address.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::bad_request("IPv6 addresses are not supported"));
        }
        let ip = ipam.ipv4_address.filter(|a| !a.is_empty());
        let aliases = ep.aliases.unwrap_or_default();
        if name == primary {
            out.aliases = aliases;
            out.ip = ip;
        } else {
            out.more
                .insert(name, create::EndpointRequest { aliases, ip });
        }
    }
    Ok(out)
}

/// `POST /containers/create?name=`: `{"Id": ..., "Warnings": [...]}`, 201.
pub async fn create(
    State(state): State<AppState>,
    params: Params,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let body: CreateBody = if body.is_empty() {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid create body: {e}")))?
    };
    let mut request = body.into_request(params.non_empty("name").map(str::to_string))?;
    request.platform = params.non_empty("platform").map(str::to_string);
    let created = blocking(&state, move |engine| {
        let store = store(engine)?;
        create::create(engine, &store, &request)
    })
    .await;
    let (record, warnings) = created.map_err(|e| {
        // Docker answers a create it cannot make as the client's fault, unless it is a
        // missing image (404) or a taken name (409).
        if e.status == StatusCode::INTERNAL_SERVER_ERROR {
            ApiError::bad_request(e.message)
        } else {
            e
        }
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": record.id, "Warnings": warnings })),
    )
        .into_response())
}

/// `GET /containers/json?all=&limit=&size=&filters=`.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let all = params.flag("all");
    let limit = params
        .number("limit")?
        .filter(|n| *n > 0)
        .map(|n| n as usize);
    let size = params.flag("size");
    let rows = blocking(&state, move |engine| {
        Ok(ps::list(engine, all, limit, &filters)?
            .iter()
            .map(|r| {
                let mut v = ps::summary_json(r);
                if size {
                    let (rw, root) = inspect::sizes(engine, r);
                    v["SizeRw"] = json!(rw);
                    v["SizeRootFs"] = json!(root);
                }
                v
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(Value::Array(rows)))
}

/// `GET /containers/{id}/json?size=`: the document `engine inspect` prints.
pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let size = params.flag("size");
    let doc = blocking(&state, move |engine| {
        let record = store(engine)?.resolve(&id)?;
        let mut doc = inspect::container_json(engine, &record)?;
        if size {
            let (rw, root) = inspect::sizes(engine, &record);
            doc["SizeRw"] = json!(rw);
            doc["SizeRootFs"] = json!(root);
        }
        Ok(doc)
    })
    .await?;
    Ok(Json(doc))
}

/// `POST /containers/{id}/start`: 204, or 304 when it runs already.
pub async fn start(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let started = blocking(&state, move |engine| {
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        lifecycle::start_one(engine, &store, &record)
    })
    .await?;
    match started {
        Some(child) => {
            reap(child);
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::not_modified()),
    }
}

/// `?t=`; `None` leaves it to the container's `StopTimeout` (else Docker's 10 s).
fn timeout(params: &Params) -> ApiResult<Option<Duration>> {
    Ok(match params.number("t")? {
        Some(t) if t >= 0 => Some(Duration::from_secs(t as u64)),
        // -1: wait for ever, as Docker does; a day is for ever enough.
        Some(_) => Some(Duration::from_secs(86_400)),
        None => None,
    })
}

/// `POST /containers/{id}/stop?t=`: 204, or 304 when it was not running.
pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let timeout = timeout(&params)?;
    let stopped = blocking(&state, move |engine| {
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        if !store.monitor_alive(&record.id) {
            store.update(&record.id, |r| r.has_been_manually_stopped = true)?;
            return Ok(false);
        }
        lifecycle::stop_one(&store, &record, timeout)?;
        Ok(true)
    })
    .await?;
    if stopped {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_modified())
    }
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let timeout = timeout(&params)?;
    let child = blocking(&state, move |engine| {
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        lifecycle::restart_one(engine, &store, &record, timeout)
    })
    .await?;
    reap(child);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let signal = params.non_empty("signal").unwrap_or("SIGKILL").to_string();
    blocking(&state, move |engine| {
        let sig = nix::sys::signal::Signal::try_from(runtime::parse_signal(&signal)?)?;
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        lifecycle::kill_one(&store, &record, &id, sig)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/{id}?force=&v=` (`v`: its anonymous volumes too).
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let force = params.flag("force");
    let volumes = params.flag("v");
    blocking(&state, move |engine| {
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        lifecycle::remove_one_with_volumes(engine, &store, &record, force, volumes)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/pause`: 204.
pub async fn pause(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    blocking(&state, move |engine| {
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        lifecycle::pause_one(&store, &record)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/unpause`: 204.
pub async fn unpause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&state, move |engine| {
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        lifecycle::unpause_one(&store, &record)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let Some(name) = params.non_empty("name").map(str::to_string) else {
        return Err(ApiError::bad_request("the new name is required (name=)"));
    };
    blocking(&state, move |engine| {
        let store = store(engine)?;
        let record = store.resolve(&id)?;
        store.rename(&record.id, &name)
    })
    .await
    .map_err(|e| {
        if e.status == StatusCode::INTERNAL_SERVER_ERROR {
            ApiError::bad_request(e.message)
        } else {
            e
        }
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/prune?filters=`: `{"ContainersDeleted": [...], "SpaceReclaimed": N}`.
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let (deleted, reclaimed) = blocking(&state, move |engine| {
        lifecycle::prune_stopped(engine, &filters)
    })
    .await?;
    Ok(Json(json!({
        "ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_create_body_becomes_a_request() {
        let body: CreateBody = serde_json::from_value(json!({
            "Image": "busybox",
            "Cmd": ["httpd", "-f"],
            "Entrypoint": null,
            "Env": null,
            "WorkingDir": "",
            "Labels": {"a": "b"},
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "Memory": 67108864,
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                "NetworkMode": "default",
                "AutoRemove": false,
                "Unknown": 0
            }
        }))
        .unwrap();
        let r = body.into_request(Some("web".into())).unwrap();
        assert_eq!(r.image, "busybox");
        assert_eq!(r.cmd, ["httpd", "-f"]);
        assert_eq!(r.entrypoint, None);
        assert_eq!(r.port_bindings["80/tcp"][0].host_port, "8080");
        assert_eq!(r.memory, 64 << 20);
        assert_eq!(r.restart.name, "on-failure");
        assert_eq!(r.restart.maximum_retry_count, 3);
        assert_eq!(r.exposed_ports, ["80/tcp"]);
        let cleared: CreateBody =
            serde_json::from_value(json!({"Image": "x", "Entrypoint": [""], "Cmd": "sh"})).unwrap();
        let r = cleared.into_request(None).unwrap();
        assert_eq!(r.entrypoint, Some(vec![]));
        assert_eq!(r.cmd, ["sh"]);
        let udp: CreateBody = serde_json::from_value(
            json!({"Image": "x", "HostConfig": {"PortBindings": {"53/udp": [{"HostPort": "53"}]}}}),
        )
        .unwrap();
        assert_eq!(
            udp.into_request(None).unwrap().port_bindings["53/udp"][0].host_port,
            "53"
        );
        let sctp: CreateBody = serde_json::from_value(
            json!({"Image": "x", "HostConfig": {"PortBindings": {"53/sctp": [{"HostPort": "53"}]}}}),
        )
        .unwrap();
        assert!(sctp.into_request(None).is_err());
        let net: CreateBody = serde_json::from_value(json!({
            "Image": "x",
            "HostConfig": {"NetworkMode": "app_default", "Dns": ["10.0.0.2"]},
            "NetworkingConfig": {"EndpointsConfig": {
                "app_default": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}},
                "other": {"Aliases": ["w2"]}
            }}
        }))
        .unwrap();
        let r = net.into_request(None).unwrap();
        assert_eq!(r.networking.aliases, ["web"]);
        assert_eq!(r.networking.ip.as_deref(), Some("10.1.0.5"));
        assert_eq!(r.networking.more["other"].aliases, ["w2"]);
        assert_eq!(r.networking.dns, ["10.0.0.2"]);
    }

    #[test]
    fn unsupported_fields_are_refused_by_name_and_zero_values_pass() {
        // What Docker's CLI 20.10 sends for `docker run busybox true`, abridged.
        let cli: CreateBody = serde_json::from_value(json!({
            "Image": "busybox", "AttachStdout": true, "StdinOnce": false, "Volumes": {},
            "Domainname": "", "OnBuild": null, "Healthcheck": null,
            "HostConfig": {"LogConfig": {"Type": "", "Config": {}}, "ConsoleSize": [0, 0],
                "MemorySwappiness": -1, "BlkioWeight": 0, "CapAdd": null, "Devices": [],
                "PidsLimit": null, "OomKillDisable": false, "IpcMode": "", "Privileged": false,
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Dns": [],
                "ContainerIDFile": ""}
        }))
        .unwrap();
        assert!(cli.into_request(None).is_ok());
        let stop: CreateBody =
            serde_json::from_value(json!({"Image": "x", "StopSignal": "SIGINT", "StopTimeout": 3}))
                .unwrap();
        let r = stop.into_request(None).unwrap();
        assert_eq!(
            (r.stop_signal.as_deref(), r.stop_timeout),
            (Some("SIGINT"), Some(3))
        );
        for (body, field) in [
            (
                json!({"Image": "x", "MacAddress": "02:42:ac:11:00:02"}),
                "Config.MacAddress",
            ),
            (
                json!({"Image": "x", "HostConfig": {"BlkioWeight": 300}}),
                "HostConfig.BlkioWeight",
            ),
        ] {
            let body: CreateBody = serde_json::from_value(body).unwrap();
            let err = body.into_request(None).unwrap_err();
            assert!(format!("{err:?}").contains(field), "{err:?}");
        }
        // Volumes arrive in the request (anonymous ones, mounts, --volumes-from).
        let body: CreateBody = serde_json::from_value(json!({"Image": "x",
            "Volumes": {"/data": {}},
            "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t"}], "VolumesFrom": ["c1:ro"]}}))
        .unwrap();
        let r = body.into_request(None).unwrap();
        assert_eq!(r.volumes, ["/data"]);
        assert_eq!(r.mounts[0].kind, "tmpfs");
        assert_eq!(r.volumes_from, ["c1:ro"]);
        // The security fields arrive in the request.
        let body: CreateBody = serde_json::from_value(json!({"Image": "x", "HostConfig":
            {"CapDrop": ["ALL"], "ReadonlyRootfs": true, "PidsLimit": 50}}))
        .unwrap();
        let r = body.into_request(None).unwrap();
        assert_eq!(r.confinement.cap_drop, Some(vec!["ALL".to_string()]));
        assert!(r.confinement.readonly_rootfs);
        assert_eq!(r.confinement.pids_limit, Some(50));
    }
}
