//! `/volumes`: list, create, inspect, remove, prune, with `engine volume`'s functions.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{AppState, blocking};
use engine_core::volume::ops as volume;

/// `GET /volumes?filters=`.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let docs = blocking(&state, move |engine| volume::list_json(engine, &filters))
        .await
        .map_err(as_bad_request)?;
    Ok(Json(json!({ "Volumes": docs, "Warnings": null })))
}

/// Docker's `VolumeCreateBody`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// `POST /volumes/create`: 201 and the volume.
pub async fn create(State(state): State<AppState>, body: axum::body::Bytes) -> ApiResult<Response> {
    let body: CreateBody = if body.is_empty() {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid volume create body: {e}")))?
    };
    let doc = blocking(&state, move |engine| {
        let v = volume::create(
            engine,
            body.name.as_deref(),
            body.driver.as_deref().unwrap_or(""),
            body.labels.unwrap_or_default(),
            body.driver_opts.unwrap_or_default(),
        )?;
        volume::inspect_json(engine, &v.name)
    })
    .await
    .map_err(as_bad_request)?;
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

/// `GET /volumes/{name}`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let doc = blocking(&state, move |engine| volume::inspect_json(engine, &name)).await?;
    Ok(Json(doc))
}

/// `DELETE /volumes/{name}?force=`: 204; 409 while in use.
pub async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let force = params.flag("force");
    blocking(&state, move |engine| volume::remove(engine, &name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune?filters=`.
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let (deleted, bytes) = blocking(&state, move |engine| volume::prune(engine, &filters))
        .await
        .map_err(as_bad_request)?;
    Ok(Json(json!({
        "VolumesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": bytes,
    })))
}

/// Bad names, options and filters are the client's fault.
fn as_bad_request(e: ApiError) -> ApiError {
    if e.status == StatusCode::INTERNAL_SERVER_ERROR {
        ApiError::bad_request(e.message)
    } else {
        e
    }
}
