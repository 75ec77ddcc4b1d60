//! `/images/...`: list, inspect, history, delete, tag, prune; the transfers (pull, push,
//! save, load, import) are in `transfer.rs`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{AppState, blocking};
use engine_core::image;

/// Docker's `filters` query parameter: `{"dangling":["true"],"reference":["x*"]}` (also the
/// old `{"dangling":{"true":true}}` shape).
pub fn parse_filters(raw: Option<&str>) -> ApiResult<HashMap<String, Vec<String>>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter {raw:?}: {e}")))?;
    let mut out = HashMap::new();
    for (k, vals) in v.as_object().into_iter().flatten() {
        let list = match vals {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Value::Object(m) => m.keys().cloned().collect(),
            _ => vec![],
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: Option<String>,
    filters: Option<String>,
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true" | "True"))
}

/// `GET /images/json`.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let filters = parse_filters(q.filters.as_deref())?;
    let all = truthy(q.all.as_deref());
    let rows = blocking(&state, move |engine| {
        let mut args_filters = Vec::new();
        for (k, vals) in &filters {
            for v in vals {
                args_filters.push(format!("{k}={v}"));
            }
        }
        image::summaries(engine, all, &args_filters)
    })
    .await?;
    Ok(Json(Value::Array(rows)))
}

/// `GET /images/{name}/json|history|get`, names with slashes included.
pub async fn by_name(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/get") {
        return super::transfer::save(state, vec![name.to_string()]).await;
    }
    by_name_json(state, path)
        .await
        .map(IntoResponse::into_response)
}

async fn by_name_json(state: AppState, path: String) -> ApiResult<Json<Value>> {
    if let Some(name) = path.strip_suffix("/json") {
        let name = name.to_string();
        let doc = blocking(&state, move |engine| {
            let img = image::resolve(engine, &name).map_err(|_| {
                engine_core::EngineError::not_found(format!("No such image: {name}"))
            })?;
            image::inspect_json(engine, &img)
        })
        .await?;
        return Ok(Json(doc));
    }
    if let Some(name) = path.strip_suffix("/history") {
        let name = name.to_string();
        let rows = blocking(&state, move |engine| {
            let img = image::resolve(engine, &name).map_err(|_| {
                engine_core::EngineError::not_found(format!("No such image: {name}"))
            })?;
            image::history_json(engine, &img)
        })
        .await?;
        return Ok(Json(rows));
    }
    Err(ApiError::not_found(format!(
        "page not found: /images/{path}"
    )))
}

#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    force: Option<String>,
}

/// `DELETE /images/{name}`: `[{"Untagged": ...}, {"Deleted": ...}]`.
pub async fn by_name_delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Json<Value>> {
    let force = truthy(q.force.as_deref());
    let events = blocking(&state, move |engine| {
        image::resolve(engine, &name)
            .map_err(|_| engine_core::EngineError::not_found(format!("No such image: {name}")))?;
        image::remove_image(engine, &name, force)
    })
    .await?;
    Ok(Json(Value::Array(
        events.into_iter().map(|(k, v)| json!({ k: v })).collect(),
    )))
}

/// `POST /images/{name}/tag?repo=&tag=` and `POST /images/{name}/push?tag=`.
pub async fn by_name_post(
    State(state): State<AppState>,
    Path(path): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/tag") {
        let Some(repo) = params.non_empty("repo") else {
            return Err(ApiError::bad_request("repo is required"));
        };
        let target = match params.non_empty("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        };
        let name = name.to_string();
        blocking(&state, move |engine| image::tag(engine, &name, &target))
            .await
            .map_err(|e| {
                if e.status == StatusCode::INTERNAL_SERVER_ERROR {
                    ApiError::bad_request(e.message)
                } else {
                    e
                }
            })?;
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = path.strip_suffix("/push") {
        return super::transfer::push(state, name.to_string(), params, headers).await;
    }
    Err(ApiError::not_found(format!(
        "page not found: POST /images/{path}"
    )))
}

/// `POST /images/prune?filters=`: dangling images, or (`dangling=false`) every unused one,
/// narrowed by `until`, `label`, `label!` (the core's rules, which are Docker's).
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let (deleted, reclaimed) =
        blocking(&state, move |engine| image::prune_images(engine, &filters)).await?;
    let rows: Vec<Value> = deleted.into_iter().map(|(k, v)| json!({ k: v })).collect();
    Ok(Json(json!({
        "ImagesDeleted": if rows.is_empty() { Value::Null } else { Value::Array(rows) },
        "SpaceReclaimed": reclaimed,
    })))
}
