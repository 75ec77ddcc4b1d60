//! Images in and out: pull and import (`POST /images/create`), push, save (`GET
//! /images/get`, `/images/{name}/get`) and load, streamed both ways, through the code the
//! CLI runs (`registry::pull`/`push`, `image_archive`, `commands::image::import_from`) with
//! its progress turned into Docker's JSON messages.

use std::io::{BufWriter, Read, Write};

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use graph::image::{Reference, RunConfig};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{AppState, blocking};
use super::stream::{self, BodyReader, JSON, TAR};
use distribution::archive::{Format, Loaded, Source};
use distribution::progress::Progress;
use distribution::registry::auth::Credentials;
use distribution::registry::manifest::Platform;
use distribution::registry::open_repository_as;
use distribution::registry::pull::PullRequest;
use engine_core::changes;
use engine_core::{image, registry as registry_cmd};

/// `X-Registry-Auth`: base64url JSON `{"username","password","serveraddress"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthConfig {
    username: String,
    password: String,
    #[serde(rename = "identitytoken")]
    identity_token: String,
}

/// The credentials a request carries, if any (none: the daemon's stored ones are used).
fn registry_auth(headers: &HeaderMap) -> Option<Credentials> {
    let raw = headers.get("X-Registry-Auth")?.to_str().ok()?.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .ok()?;
    let auth: AuthConfig = serde_json::from_slice(&bytes).ok()?;
    if !auth.identity_token.is_empty() {
        // A token stands in for the password, with Docker's placeholder user.
        return Some(Credentials {
            username: "<token>".into(),
            password: auth.identity_token,
        });
    }
    (!auth.username.is_empty()).then_some(Credentials {
        username: auth.username,
        password: auth.password,
    })
}

/// `fromImage` + `tag` (a tag, or a digest) as one reference.
fn pull_reference(from: &str, tag: Option<&str>) -> ApiResult<Reference> {
    let whole = match tag {
        Some(t) if t.contains(':') => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_string(),
    };
    Reference::parse(&whole)
        .map_err(|e| ApiError::bad_request(format!("invalid reference format: {whole}: {e}")))
}

/// `POST /images/create?fromImage=&tag=&platform=` (pull) or `?fromSrc=&repo=&tag=` (import).
pub async fn create(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if let Some(src) = params.non_empty("fromSrc") {
        return import(state, src.to_string(), params, body).await;
    }
    let Some(from) = params.non_empty("fromImage") else {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    };
    let reference = pull_reference(from, params.non_empty("tag"))?;
    let platform = params
        .non_empty("platform")
        .map(Platform::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let credentials = registry_auth(&headers);
    Ok(stream::stream_blocking(&state, JSON, move |engine, out| {
        let progress = Progress::json(out.json_sink(), false);
        let options = registry_cmd::options(&engine.settings);
        let repo = open_repository_as(&reference, &options, "pull", credentials)?;
        let request = PullRequest {
            reference: reference.clone(),
            platform,
        };
        engine_core::transfer::pull(engine, &repo, &request, &progress)?;
        Ok(())
    }))
}

async fn import(state: AppState, src: String, params: Params, body: Body) -> ApiResult<Response> {
    let reference = match params.non_empty("repo") {
        Some(repo) => Some(pull_reference(repo, params.non_empty("tag"))?),
        None => None,
    };
    let mut run_config = RunConfig::default();
    for change in params.all("changes") {
        changes::apply(&mut run_config, &change)
            .map_err(|e| ApiError::bad_request(format!("--change {change:?}: {e:#}")))?;
    }
    let message = params.non_empty("message").map(str::to_string);
    let reader = BodyReader::new(body);
    Ok(stream::deferred(&state, JSON, move |engine, out| {
        let input: Box<dyn Read> = if src == "-" {
            Box::new(reader)
        } else if src.starts_with("http://") || src.starts_with("https://") {
            out.json(&json!({ "status": format!("Downloading from {src}") }))?;
            distribution::registry::client::download(&src)?.1
        } else {
            anyhow::bail!("fromSrc must be - (the request body) or an http(s) URL, not {src:?}");
        };
        let image =
            image::import_from(engine, input, &src, reference.as_ref(), run_config, message)?;
        out.json(&json!({ "status": image.id.to_string() }))?;
        Ok(())
    })
    .await)
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    state: AppState,
    name: String,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let reference = pull_reference(&name, params.non_empty("tag"))?;
    if reference.digest().is_some() {
        return Err(ApiError::bad_request("cannot push a digest reference"));
    }
    let reference = if reference.tag().is_none() {
        reference.with_tag("latest")
    } else {
        reference
    };
    let credentials = registry_auth(&headers);
    let check = reference.clone();
    blocking(&state, move |engine| {
        if engine.images.lookup(&check)?.is_none() {
            return Err(engine_core::container::NoSuchImage(check.familiar()).into());
        }
        Ok(())
    })
    .await?;
    Ok(stream::stream_blocking(&state, JSON, move |engine, out| {
        let progress = Progress::json(out.json_sink(), false);
        let options = registry_cmd::options(&engine.settings);
        let repo = open_repository_as(&reference, &options, "pull,push", credentials)?;
        let (digest, size) = engine_core::transfer::push(engine, &repo, &reference, &progress)?;
        out.json(&json!({
            "progressDetail": {},
            "aux": {
                "Tag": reference.tag().unwrap_or("latest"),
                "Digest": digest.to_string(),
                "Size": size,
            },
        }))?;
        Ok(())
    }))
}

/// `GET /images/get?names=...` and `GET /images/{name}/get`: a `docker save` tar.
pub async fn save(state: AppState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no images to save (names=)"));
    }
    let checked = names.clone();
    blocking(&state, move |engine| {
        for n in &checked {
            image::resolve(engine, n)?;
        }
        Ok(())
    })
    .await?;
    Ok(stream::stream_blocking(&state, TAR, move |engine, out| {
        let mut buffered = BufWriter::with_capacity(1 << 20, out);
        engine_core::transfer::save(engine, &names, Format::Docker, &mut buffered)?;
        buffered.flush()?;
        Ok(())
    }))
}

/// `GET /images/get?names=a&names=b`.
pub async fn save_many(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    save(state, params.all("names")).await
}

/// `POST /images/load?quiet=`: `{"stream": "Loaded image: busybox:latest\n"}`.
pub async fn load(
    State(state): State<AppState>,
    params: Params,
    body: Body,
) -> ApiResult<Response> {
    let quiet = params.flag("quiet");
    let reader = BodyReader::new(body);
    Ok(stream::deferred(&state, JSON, move |engine, out| {
        let source = Source::extract(reader, &engine.settings.data_root)?;
        let progress = Progress::json(out.json_sink(), quiet);
        let loaded = engine_core::transfer::load(engine, &source, &progress);
        source.close();
        for l in loaded? {
            let text = match l {
                Loaded::Tag(r) => format!("Loaded image: {}", r.familiar()),
                Loaded::Id(id) => format!("Loaded image ID: {id}"),
            };
            progress.result(&text);
        }
        Ok(())
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_header_decodes() {
        let mut h = HeaderMap::new();
        let raw = base64::engine::general_purpose::URL_SAFE
            .encode(br#"{"username":"u","password":"p","serveraddress":"x"}"#);
        h.insert("X-Registry-Auth", raw.parse().unwrap());
        let c = registry_auth(&h).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        h.insert("X-Registry-Auth", "e30=".parse().unwrap());
        assert!(registry_auth(&h).is_none());
    }

    #[test]
    fn pull_references_join_name_and_tag() {
        assert_eq!(
            pull_reference("busybox", Some("1.36")).unwrap().familiar(),
            "busybox:1.36"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(
            pull_reference("busybox", Some(&d))
                .unwrap()
                .digest()
                .is_some()
        );
    }
}
