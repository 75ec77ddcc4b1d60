//! `/networks`: list, inspect, create, connect, disconnect, remove, prune, in Docker 1.41's
//! JSON, over the CLI's own functions (`commands::network`).

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
use engine_core::network::ops as network;
use engine_core::network::store::CreateNetwork;

/// `GET /networks?filters=`.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters: BTreeMap<String, Vec<String>> =
        super::images::parse_filters(params.get("filters"))?
            .into_iter()
            .collect();
    let rows = blocking(&state, move |engine| {
        network::list(engine, &filters)?
            .iter()
            .map(|n| network::summary_json(engine, n))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await?;
    Ok(Json(Value::Array(rows)))
}

/// `GET /networks/{id}`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let doc = blocking(&state, move |engine| {
        let n = network::find(engine, &id)?;
        network::inspect_json(engine, &n)
    })
    .await?;
    Ok(Json(doc))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    check_duplicate: Option<bool>,
    driver: Option<String>,
    internal: Option<bool>,
    attachable: Option<bool>,
    ingress: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<IpamBody>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    config_only: Option<bool>,
    config_from: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamBody {
    driver: Option<String>,
    config: Option<Vec<IpamConfigBody>>,
    options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfigBody {
    subnet: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
    gateway: Option<String>,
    auxiliary_addresses: Option<BTreeMap<String, String>>,
}

impl CreateBody {
    fn into_request(self) -> ApiResult<CreateNetwork> {
        let _ = self.check_duplicate;
        if self.name.is_empty() {
            return Err(ApiError::bad_request("network name is required (Name)"));
        }
        if self.ingress == Some(true) {
            return Err(ApiError::bad_request(
                "Ingress networks need swarm mode, which is not supported",
            ));
        }
        if self.config_only == Some(true) || self.config_from.as_ref().is_some_and(|v| !v.is_null())
        {
            return Err(ApiError::bad_request(
                "ConfigOnly and ConfigFrom networks are not supported",
            ));
        }
        let ipam = self.ipam.unwrap_or_default();
        if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(ApiError::bad_request("IPAM.Options are not supported"));
        }
        let mut configs = ipam.config.unwrap_or_default();
        if configs.len() > 1 {
            return Err(ApiError::bad_request(
                "only one IPAM config (one IPv4 subnet) is supported",
            ));
        }
        let config = configs.pop().unwrap_or_default();
        if config
            .auxiliary_addresses
            .as_ref()
            .is_some_and(|a| !a.is_empty())
        {
            return Err(ApiError::bad_request(
                "IPAM AuxiliaryAddresses are not supported",
            ));
        }
        Ok(CreateNetwork {
            name: self.name,
            driver: self.driver.unwrap_or_default(),
            subnet: config.subnet.filter(|s| !s.is_empty()),
            gateway: config.gateway.filter(|s| !s.is_empty()),
            ip_range: config.ip_range.filter(|s| !s.is_empty()),
            internal: self.internal.unwrap_or(false),
            attachable: self.attachable.unwrap_or(false),
            ipv6: self.enable_ipv6.unwrap_or(false),
            labels: self.labels.unwrap_or_default(),
            options: self.options.unwrap_or_default(),
            ipam_driver: ipam.driver.unwrap_or_default(),
        })
    }
}

/// `POST /networks/create`: `{"Id": ..., "Warning": ""}`, 201.
pub async fn create(State(state): State<AppState>, body: axum::body::Bytes) -> ApiResult<Response> {
    let body: CreateBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid network create body: {e}")))?;
    let req = body.into_request()?;
    let n = blocking(&state, move |engine| network::create(engine, &req)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": n.id, "Warning": "" })),
    )
        .into_response())
}

/// `DELETE /networks/{id}`: 204.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&state, move |engine| network::remove(engine, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/prune?filters=`: `{"NetworksDeleted": [...]}`.
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let removed = blocking(&state, move |engine| network::prune(engine, &filters)).await?;
    Ok(Json(json!({ "NetworksDeleted": removed })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointBody {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
    aliases: Option<Vec<String>>,
    links: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    ipv6_address: Option<String>,
}

/// `POST /networks/{id}/connect`: 200.
pub async fn connect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body: ConnectBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid connect body: {e}")))?;
    let ep = body.endpoint_config.unwrap_or_default();
    if ep.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::bad_request(
            "EndpointConfig.Links (legacy links) are not supported",
        ));
    }
    let ipam = ep.ipam_config.unwrap_or_default();
    if ipam.ipv6_address.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::bad_request("IPv6 addresses are not supported"));
    }
    let aliases = ep.aliases.unwrap_or_default();
    blocking(&state, move |engine| {
        network::connect(
            engine,
            &id,
            &body.container,
            &aliases,
            ipam.ipv4_address.as_deref(),
        )
    })
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DisconnectBody {
    container: String,
    force: bool,
}

/// `POST /networks/{id}/disconnect`: 200.
pub async fn disconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body: DisconnectBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid disconnect body: {e}")))?;
    blocking(&state, move |engine| {
        network::disconnect(engine, &id, &body.container, body.force)
    })
    .await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_create_body_becomes_a_request() {
        let body: CreateBody = serde_json::from_value(json!({
            "Name": "app_default", "CheckDuplicate": true, "Driver": "bridge",
            "Internal": false, "Attachable": true, "Ingress": false,
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}], "Options": {}},
            "EnableIPv6": false, "Options": {}, "Labels": {"com.docker.compose.project": "app"}
        }))
        .unwrap();
        let r = body.into_request().unwrap();
        assert_eq!(r.name, "app_default");
        assert_eq!(r.subnet.as_deref(), Some("10.9.0.0/24"));
        assert_eq!(r.labels["com.docker.compose.project"], "app");
        let aux: CreateBody = serde_json::from_value(json!({
            "Name": "x", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "AuxiliaryAddresses": {"a": "10.9.0.5"}}]}
        }))
        .unwrap();
        assert!(aux.into_request().is_err());
    }
}
