//! Manifests and indexes: Docker's v2 schema 2 manifest and manifest list, OCI's image
//! manifest and index, and choosing a platform from a list.

use anyhow::{Result, bail};
use serde::Deserialize;

pub use graph::image::oci::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, Index,
    Manifest as ImageManifest, OCI_INDEX, OCI_MANIFEST, Platform,
};
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

/// What a manifest request returned.
#[derive(Debug)]
pub enum Manifest {
    /// One image's manifest (Docker schema 2 or OCI).
    Image(ImageManifest),
    /// A manifest list or OCI index: one manifest per platform.
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
        assert!(
            Platform::parse("linux/amd64")
                .unwrap()
                .matches(&Platform::host())
        );
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
