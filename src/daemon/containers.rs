//! The container routes `docker run` needs besides attach and wait: create, start, inspect.
//! They call the same code as `engine create`/`start`/`inspect`; a container started here is
//! owned by its own monitor, as one started by the CLI.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::server::{AppState, blocking};
use crate::cli::RunArgs;
use crate::container::create;
use crate::container::store::ContainerStore;

#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /containers/create`.
pub async fn create(
    State(state): State<AppState>,
    Query(q): Query<CreateQuery>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let args = run_args(&body, q.name.filter(|n| !n.is_empty()))?;
    let (id, warnings) = blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let (record, warnings) = create::create(engine, &store, &args)?;
        Ok((record.id, warnings))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": id, "Warnings": warnings })),
    ))
}

/// The `engine run` flags a create body stands for.
fn run_args(body: &Value, name: Option<String>) -> ApiResult<RunArgs> {
    let hc = &body["HostConfig"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let image = text(&body["Image"]).ok_or_else(|| ApiError::bad_request("no image given"))?;
    let mut command = strings(&body["Cmd"]);
    let entrypoint = match &body["Entrypoint"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => {
            let mut parts = strings(v);
            if parts.is_empty() {
                Some(String::new())
            } else {
                let first = parts.remove(0);
                parts.append(&mut command);
                command = parts;
                Some(first)
            }
        }
    };
    let mut publish = Vec::new();
    let bindings: BTreeMap<String, Value> =
        serde_json::from_value(hc["PortBindings"].clone()).unwrap_or_default();
    for (port, list) in bindings {
        for b in list.as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let host = b["HostPort"].as_str().unwrap_or("");
            publish.push(match (ip, host) {
                ("", "") => port.clone(),
                ("", h) => format!("{h}:{port}"),
                (i, h) => format!("{i}:{h}:{port}"),
            });
        }
    }
    let bytes = |v: &Value| v.as_i64().filter(|n| *n != 0).map(|n| n.to_string());
    let restart = match text(&hc["RestartPolicy"]["Name"]).as_deref() {
        None => "no".to_string(),
        Some("on-failure") => match hc["RestartPolicy"]["MaximumRetryCount"].as_u64() {
            Some(n) if n > 0 => format!("on-failure:{n}"),
            _ => "on-failure".to_string(),
        },
        Some(other) => other.to_string(),
    };
    Ok(RunArgs {
        detach: true,
        name,
        rm: hc["AutoRemove"].as_bool().unwrap_or(false),
        env: strings(&body["Env"]),
        env_file: Vec::new(),
        workdir: text(&body["WorkingDir"]),
        user: text(&body["User"]),
        hostname: text(&body["Hostname"]),
        entrypoint,
        volumes: strings(&hc["Binds"]),
        network: text(&hc["NetworkMode"]).unwrap_or_else(|| "bridge".into()),
        publish,
        memory: bytes(&hc["Memory"]),
        memory_swap: bytes(&hc["MemorySwap"]),
        restart,
        interactive: body["OpenStdin"].as_bool().unwrap_or(false),
        tty: body["Tty"].as_bool().unwrap_or(false),
        argv: Vec::new(),
        image,
        command,
    })
}

/// `POST /containers/{id}/start`: 204, or 304 when a monitor already owns it.
pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let record = store.resolve(&name)?;
        if store.monitor_alive(&record.id) {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        store.update(&record.id, |r| r.has_been_manually_stopped = false)?;
        crate::commands::run::spawn_monitor(engine, &record.id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
    .map_err(|mut e| {
        // A start that failed in the runtime is the caller's problem (Docker answers 400).
        if e.status == StatusCode::INTERNAL_SERVER_ERROR {
            e.status = StatusCode::BAD_REQUEST;
        }
        e
    })
}

/// `GET /containers/{id}/json`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let doc = blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let record = store.resolve(&name)?;
        crate::commands::inspect::container_json(engine, &record)
    })
    .await?;
    Ok(Json(doc))
}
