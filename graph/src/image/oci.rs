//! The OCI image-layout and distribution documents (Docker's schema 2 uses the same shape):
//! descriptors, manifests and indexes, with the media types they are labelled with.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, uncompressed.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer, gzip.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker layer, uncompressed.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The annotation an OCI layout names a tag with (`latest`, or a full reference).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd and Docker put the full image name in.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Whether a media type is an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// A pointer to a blob: what it is, its digest and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// sha256 of the blob.
    pub digest: Digest,
    /// Its length in bytes.
    pub size: u64,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform of the manifest it points to (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An operating system and CPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`, ...
    pub os: String,
    /// `v7`, `v8`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Everything else, kept.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Platform {
    /// `linux/<this host's architecture>`.
    pub fn host() -> Self {
        Platform {
            os: "linux".into(),
            architecture: super::host_architecture().into(),
            variant: None,
            extra: BTreeMap::new(),
        }
    }

    /// Parses `OS/ARCH[/VARIANT]` (or just `OS`, meaning this host's architecture).
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let lower = |p: &str| p.to_ascii_lowercase();
        let platform = |os: &str, arch: &str, variant: Option<&str>| Platform {
            os: lower(os),
            architecture: normalise_arch(&lower(arch)),
            variant: variant.map(lower),
            extra: BTreeMap::new(),
        };
        match parts.as_slice() {
            [os] if !os.is_empty() => Ok(Platform {
                os: lower(os),
                ..Platform::host()
            }),
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(platform(os, arch, None)),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(platform(os, arch, Some(variant)))
            }
            _ => Err(Error::InvalidInput(format!(
                "invalid platform {s:?}: want OS/ARCH[/VARIANT], e.g. linux/amd64"
            ))),
        }
    }

    /// Whether an index entry for `other` serves this (wanted) platform, as Docker matches
    /// (arm64 means arm64/v8; no variant wanted takes any).
    pub fn matches(&self, other: &Platform) -> bool {
        let variant = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        self.os == other.os
            && self.architecture == normalise_arch(&other.architecture)
            && (self.variant.is_none() || variant(self) == variant(other))
    }
}

fn normalise_arch(arch: &str) -> String {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        other => other,
    }
    .to_string()
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest: a config and layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// OCI or Docker manifest media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// The layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An index (manifest list): manifests for several platforms or tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// OCI index or Docker manifest list media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The entry for `wanted`, or Docker's error naming it.
    pub fn select(&self, wanted: &Platform) -> Result<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "no matching manifest for {wanted} in the manifest list entries"
                ))
            })
    }
}
