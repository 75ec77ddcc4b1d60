//! Manifests and indexes: Docker's v2 schema 2 manifest and manifest list, OCI's image
//! manifest and index, and choosing a platform from a list.

use std::fmt;

use anyhow::{Result, bail};
use graph::Digest;
use serde::{Deserialize, Serialize};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The `Accept` header of a manifest request: every format this engine can pull.
pub fn accept_header() -> String {
    [
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        OCI_INDEX,
    ]
    .join(", ")
}

/// A content descriptor: what a manifest says about a blob or another manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub size: u64,
    pub digest: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// The platform of one entry of a manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<this host's architecture>`.
    pub fn host() -> Self {
        Platform {
            os: "linux".into(),
            architecture: graph::image::host_architecture().into(),
            variant: None,
        }
    }

    /// Parses `OS/ARCH[/VARIANT]` (or just `OS`, meaning this host's architecture).
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let lower = |p: &str| p.to_ascii_lowercase();
        match parts.as_slice() {
            [os] if !os.is_empty() => Ok(Platform {
                os: lower(os),
                ..Platform::host()
            }),
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: lower(os),
                architecture: normalise_arch(&lower(arch)),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform {
                    os: lower(os),
                    architecture: normalise_arch(&lower(arch)),
                    variant: Some(lower(variant)),
                })
            }
            _ => bail!("invalid platform {s:?}: want OS/ARCH[/VARIANT], e.g. linux/amd64"),
        }
    }

    /// Whether a manifest list entry for `other` serves this (wanted) platform.
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

/// An image manifest (Docker v2 schema 2 or OCI).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A manifest list or OCI index.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// What a manifest request returned.
#[derive(Debug)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

impl Manifest {
    /// Parses manifest bytes by their content type (or, when the registry sent none that
    /// helps, by their `mediaType` field and shape).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            #[serde(default)]
            schema_version: u32,
            #[serde(default)]
            media_type: Option<String>,
            #[serde(default)]
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| anyhow::anyhow!("invalid manifest: {e}"))?;
        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim())
            .filter(|c| !c.is_empty() && *c != "application/json");
        let kind = content_type
            .map(str::to_string)
            .or(probe.media_type.clone())
            .unwrap_or_default();
        if SCHEMA1.contains(&kind.as_str()) || probe.schema_version == 1 {
            bail!("unsupported manifest format: Docker image manifest schema 1 ({kind})");
        }
        let is_index = match kind.as_str() {
            DOCKER_MANIFEST_LIST | OCI_INDEX => true,
            DOCKER_MANIFEST | OCI_MANIFEST => false,
            "" => probe.manifests.is_some(),
            other => bail!("unsupported manifest media type {other}"),
        };
        if is_index {
            Ok(Manifest::Index(serde_json::from_slice(bytes).map_err(
                |e| anyhow::anyhow!("invalid manifest list: {e}"),
            )?))
        } else {
            Ok(Manifest::Image(serde_json::from_slice(bytes).map_err(
                |e| anyhow::anyhow!("invalid image manifest: {e}"),
            )?))
        }
    }
}

impl Index {
    /// The entry for `wanted`, or Docker's error.
    pub fn select(&self, wanted: &Platform) -> Result<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
            .ok_or_else(|| {
                anyhow::anyhow!("no matching manifest for {wanted} in the manifest list entries")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn platforms_parse_and_match_like_docker() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches(&Platform::parse("linux/arm64/v8").unwrap()));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!v7.matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(Platform::parse("linux/amd64").unwrap().matches(&Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None
        }));
        assert!(Platform::parse("a/b/c/d").is_err());
        assert_eq!(v7.to_string(), "linux/arm/v7");
    }

    #[test]
    fn lists_select_the_platform_or_say_which_is_missing() {
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
            {{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"{D}","platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
        );
        let Manifest::Index(index) = Manifest::parse(text.as_bytes(), None).unwrap() else {
            panic!("not an index");
        };
        assert!(
            index
                .select(&Platform::parse("linux/arm64").unwrap())
                .is_ok()
        );
        let err = index
            .select(&Platform::parse("linux/s390x").unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no matching manifest for linux/s390x in the manifest list entries"
        );
    }

    #[test]
    fn schema1_is_refused_by_name() {
        let err = Manifest::parse(br#"{"schemaVersion":1,"name":"x"}"#, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("schema 1"), "{err}");
    }
}
