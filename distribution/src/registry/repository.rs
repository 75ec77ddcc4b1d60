//! The registry API v2 calls on one repository: manifests and blobs.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use graph::Digest;
use sha2::{Digest as _, Sha256};
use ureq::http::{StatusCode, header};

use super::client::{Client, RequestBody, read_small, status_error};
use super::manifest::{Manifest, accept_header};

/// One repository (`library/busybox`) on a registry.
#[derive(Debug)]
pub struct Repository {
    /// The registry's client, with its authorisation state.
    pub client: Client,
    /// The path within the registry.
    pub path: String,
    /// The name users know it by (`busybox`, `127.0.0.1:5000/app`), for messages.
    pub name: String,
}

/// A fetched manifest and the digest of its exact bytes.
#[derive(Debug)]
pub struct FetchedManifest {
    /// The manifest, parsed.
    pub manifest: Manifest,
    /// The digest of the bytes the registry sent.
    pub digest: Digest,
}

impl Repository {
    /// GETs the manifest `reference` (a tag or a digest); a digest reference is checked
    /// against the bytes received.
    pub fn manifest(&self, reference: &str) -> Result<FetchedManifest> {
        let accept = accept_header();
        let mut response = self.client.request(
            "GET",
            &format!("/v2/{}/manifests/{reference}", self.path),
            &[("Accept", accept.as_str())],
            RequestBody::Empty,
        )?;
        if response.status() == StatusCode::NOT_FOUND {
            let what = if reference.starts_with("sha256:") {
                format!("manifest for {}@{reference} not found", self.name)
            } else {
                format!("manifest for {}:{reference} not found", self.name)
            };
            let detail = status_error(&what, response);
            return Err(super::ManifestUnknown(format!("{detail:#}")).into());
        }
        if !response.status().is_success() {
            return Err(status_error(
                &format!("fetching manifest {reference} of {}", self.name),
                response,
            ));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_small(&mut response, &format!("manifest {reference}"))?;
        let digest = Digest::of(&bytes);
        if reference.starts_with("sha256:") && digest.to_string() != reference {
            bail!(
                "manifest verification failed for digest {reference}: the registry sent content with digest {digest}"
            );
        }
        let manifest = Manifest::parse(&bytes, content_type.as_deref())
            .with_context(|| format!("manifest {reference} of {}", self.name))?;
        Ok(FetchedManifest { manifest, digest })
    }

    /// GETs a small blob (an image config) whole, checking its digest.
    pub fn small_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut response = self.client.request(
            "GET",
            &format!("/v2/{}/blobs/{digest}", self.path),
            &[],
            RequestBody::Empty,
        )?;
        if !response.status().is_success() {
            return Err(status_error(&format!("fetching blob {digest}"), response));
        }
        let bytes = read_small(&mut response, &format!("blob {digest}"))?;
        let got = Digest::of(&bytes);
        if &got != digest {
            bail!("digest mismatch for blob {digest}: the registry sent content with digest {got}");
        }
        Ok(bytes)
    }

    /// Streams blob `digest` into `out`, hashing on the way; `progress` hears of every chunk.
    /// Stops early when `cancel` is set.
    pub fn blob_to_file(
        &self,
        digest: &Digest,
        out: &Path,
        cancel: &AtomicBool,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        let mut response = self.client.request(
            "GET",
            &format!("/v2/{}/blobs/{digest}", self.path),
            &[],
            RequestBody::Empty,
        )?;
        if !response.status().is_success() {
            return Err(status_error(&format!("fetching blob {digest}"), response));
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            if cancel.load(Ordering::Relaxed) {
                bail!("download of blob {digest} cancelled");
            }
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("downloading blob {digest}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .with_context(|| format!("writing {}", out.display()))?;
            total += n as u64;
            progress(n as u64);
        }
        file.sync_all()
            .with_context(|| format!("writing {}", out.display()))?;
        let got = Digest::from_sha256(hasher);
        if &got != digest {
            bail!(
                "digest mismatch for blob {digest}: the registry sent {total} bytes with digest {got}"
            );
        }
        Ok(total)
    }

    /// Whether the registry has blob `digest` (HEAD).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let response = self.client.request(
            "HEAD",
            &format!("/v2/{}/blobs/{digest}", self.path),
            &[],
            RequestBody::Empty,
        )?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(&format!("checking blob {digest}"), response)),
        }
    }

    /// Uploads a blob in one piece: POST to start an upload, PUT the bytes with the digest.
    pub fn upload_blob(&self, digest: &Digest, body: RequestBody<'_>) -> Result<()> {
        let response = self.client.request(
            "POST",
            &format!("/v2/{}/blobs/uploads/", self.path),
            &[],
            RequestBody::Empty,
        )?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(status_error(
                &format!("starting the upload of blob {digest} to {}", self.name),
                response,
            ));
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .with_context(|| {
                format!("the registry started an upload of {digest} without a Location")
            })?
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let response = self.client.request(
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            body,
        )?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(
                &format!("uploading blob {digest} to {}", self.name),
                response,
            ));
        }
        Ok(())
    }

    /// PUTs a manifest under `tag`; returns its digest.
    pub fn put_manifest(&self, tag: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        let response = self.client.request(
            "PUT",
            &format!("/v2/{}/manifests/{tag}", self.path),
            &[("Content-Type", media_type)],
            RequestBody::Bytes(bytes),
        )?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(
                &format!("putting manifest {}:{tag}", self.name),
                response,
            ));
        }
        Ok(Digest::of(bytes))
    }
}
