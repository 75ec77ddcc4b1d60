//! The registry client (HTTP API v2): `pull`, `push`, `login`.
//!
//! - [`client`]: finding a registry's endpoint (HTTPS, then HTTP when insecure), TLS roots,
//!   and authorisation (anonymous, Basic, Bearer tokens) retried on `401`.
//! - [`auth`]: credentials in Docker's `config.json`, and `WWW-Authenticate` challenges.
//! - [`repository`]: the API calls on one repository (manifests, blobs, uploads), every blob
//!   checked against its digest.
//! - [`manifest`]: Docker and OCI manifests and indexes, and platform choice.
//! - [`pull`] and [`push`]: the two transfers, over the engine's layer and image stores.
//! - [`metadata`]: which compressed blob holds which layer, per repository.

pub mod auth;
pub mod client;
pub mod manifest;
pub mod metadata;
pub mod pull;
pub mod push;
pub mod repository;

use anyhow::Result;
use graph::image::Reference;

use client::{Client, RegistryOptions};
use repository::Repository;

/// The registry has no manifest by that tag or digest (Docker's "manifest unknown").
#[derive(Debug)]
pub struct ManifestUnknown(pub String);

impl std::fmt::Display for ManifestUnknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManifestUnknown {}

/// Connects to the repository of `reference` with the stored credentials, for `actions`
/// (`pull` or `pull,push`).
pub fn open_repository(
    reference: &Reference,
    options: &RegistryOptions,
    actions: &str,
) -> Result<Repository> {
    let credentials = auth::load(reference.domain())?;
    open_repository_as(reference, options, actions, credentials)
}

/// [`open_repository`] with the credentials given (the API's `X-Registry-Auth`).
pub fn open_repository_as(
    reference: &Reference,
    options: &RegistryOptions,
    actions: &str,
    credentials: Option<auth::Credentials>,
) -> Result<Repository> {
    let scope = format!("repository:{}:{actions}", reference.path());
    let client = Client::connect(reference.domain(), options, credentials, Some(scope))?;
    Ok(Repository {
        client,
        path: reference.path().to_string(),
        name: reference.familiar_name(),
    })
}
