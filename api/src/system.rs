//! `/_ping`, `/version`, `/info`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{API_VERSION, AppState, MIN_API_VERSION, blocking};
use engine_core::info;

/// Docker's ping: `OK` and the headers clients negotiate the API version from.
pub async fn ping() -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert("API-Version", API_VERSION.parse().expect("static header"));
    headers.insert("OSType", "linux".parse().expect("static header"));
    headers.insert(
        "Docker-Experimental",
        "false".parse().expect("static header"),
    );
    headers.insert("Builder-Version", "1".parse().expect("static header"));
    headers.insert(
        "Cache-Control",
        "no-cache, no-store, must-revalidate"
            .parse()
            .expect("static header"),
    );
    (headers, "OK")
}

pub async fn version() -> Json<Value> {
    let uname = nix::sys::utsname::uname().ok();
    let kernel = uname
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let arch = graph::image::host_architecture();
    Json(json!({
        "Platform": { "Name": "engine" },
        "Components": [{
            "Name": "Engine",
            "Version": env!("CARGO_PKG_VERSION"),
            "Details": {
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
                "Arch": arch,
                "KernelVersion": kernel,
            }
        }],
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": concat!("rust (engine ", env!("CARGO_PKG_VERSION"), ")"),
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel,
        "BuildTime": "",
    }))
}

pub async fn info(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let (i, insecure) = blocking(&state, |engine| {
        Ok((
            info::gather(engine)?,
            engine.settings.insecure_registries.clone(),
        ))
    })
    .await?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let driver_status: Vec<[String; 2]> = i
        .driver_status
        .iter()
        .map(|(k, v)| [k.clone(), v.clone()])
        .collect();
    Ok(Json(json!({
        "ID": "",
        "Containers": i.containers,
        "ContainersRunning": i.running,
        "ContainersPaused": i.paused,
        "ContainersStopped": i.containers - i.running - i.paused,
        "Images": i.images,
        "Driver": i.driver,
        "DriverStatus": driver_status,
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": null,
            "Log": ["json-file"],
        },
        "MemoryLimit": true,
        "SwapLimit": false,
        "KernelMemory": false,
        "CpuCfsPeriod": false,
        "CpuCfsQuota": false,
        "CPUShares": false,
        "CPUSet": false,
        "PidsLimit": false,
        "IPv4Forwarding": true,
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "Debug": false,
        "NFd": 0,
        "OomKillDisable": false,
        "NGoroutines": 0,
        "SystemTime": engine_core::container::log::now(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": i.cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": i.kernel,
        "OperatingSystem": i.os,
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": i.arch,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {},
            "Mirrors": [],
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistries": insecure,
        },
        "NCPU": i.cpus,
        "MemTotal": i.memory_bytes,
        "GenericResources": null,
        "DockerRootDir": i.root_dir,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": { "engine": { "path": "engine" } },
        "DefaultRuntime": "engine",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null,
        },
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": { "ID": "", "Expected": "" },
        "RuncCommit": { "ID": "", "Expected": "" },
        "InitCommit": { "ID": "", "Expected": "" },
        "SecurityOptions": [],
        "Warnings": [],
    })))
}

/// `GET /system/df`: images (with how many containers use each), containers, and the
/// layers' total size.
pub async fn df(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let (images, containers, layers_size, volumes, cache) = blocking(&state, |engine| {
        let records = engine_core::container::list::list(engine, true, None, &[])?;
        let (images, layers_size) = engine_core::image::disk_usage(engine)?;
        let containers: Vec<Value> = records
            .iter()
            .map(|r| {
                let mut v = engine_core::container::list::summary_json(r);
                let (rw, root) = engine_core::container::inspect::sizes(engine, r);
                v["SizeRw"] = json!(rw);
                v["SizeRootFs"] = json!(root);
                v
            })
            .collect();
        let (volumes, _) = engine_core::volume::ops::usage_json(engine)?;
        // The build cache is the step index (see `build_prune`); its images are counted above.
        let cache: Vec<Value> = engine_core::build::cache::cache_of(engine)
            .usage()
            .into_iter()
            .map(|(key, size, modified)| {
                let at = modified
                    .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                    .unwrap_or_default();
                json!({
                    "ID": key, "Parent": "", "Type": "regular",
                    "Description": "build step index entry", "InUse": false, "Shared": false,
                    "Size": size, "CreatedAt": at, "LastUsedAt": at, "UsageCount": 0,
                })
            })
            .collect();
        Ok((images, containers, layers_size, volumes, cache))
    })
    .await?;
    Ok(Json(json!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": cache,
    })))
}

/// `POST /build/prune?all=&keep-storage=&filters=` (API 1.31+): the engine's build cache is
/// an index of step keys under `<data-root>/image/<driver>/buildcache/` (the images the
/// steps made are ordinary images, pruned by `image prune`); see
/// `engine_core::build::cache::BuildCache::prune` for what goes.
pub async fn build_prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let all = params.flag("all");
    if params.number("keep-storage")?.is_some_and(|n| n != 0) {
        return Err(ApiError::bad_request(
            "keep-storage is not supported: this engine's build cache is an index of a few bytes per step; prune it whole, with filters, or with all",
        ));
    }
    let (deleted, reclaimed) = blocking(&state, move |engine| {
        engine_core::build::cache::prune(engine, all, &filters)
    })
    .await?;
    Ok(Json(json!({
        "CachesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    })))
}

/// `POST /auth` body.
#[derive(Debug, serde::Deserialize)]
pub struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    serveraddress: String,
}

/// `POST /auth`: checks the credentials against the registry (the client stores them).
pub async fn auth(
    State(state): State<AppState>,
    Json(body): Json<AuthBody>,
) -> ApiResult<Json<Value>> {
    use engine_core::registry::{check_login, server_name};
    let server = server_name((!body.serveraddress.is_empty()).then_some(&*body.serveraddress));
    let credentials = distribution::registry::auth::Credentials {
        username: body.username,
        password: body.password,
    };
    blocking(&state, move |engine| {
        check_login(&engine.settings, &server, &credentials)
    })
    .await?;
    Ok(Json(
        json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
    ))
}
