//! The query of `POST /build` as a [`BuildRequest`]. Every parameter API 1.41 lists for it
//! (and those Docker's CLI adds: `securityopt`, `cpusetmems`, `cgroupparent`, `ulimits`,
//! `isolation`, `session`, `buildid`, `version`) is either applied or refused with a 400
//! naming it; none is dropped. Docker's CLI sends most of them with their empty values
//! (`memory=0`, `labels=null`, `cachefrom=[]`, ...), which are the defaults here too.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::params::Params;
use engine_core::build::limits::RunLimits;
use engine_core::build::request::BuildRequest;
use engine_core::container::confinement::{Confinement, Ulimit};

/// A JSON parameter (`null`, empty or missing: none).
fn json<T: DeserializeOwned>(params: &Params, key: &str) -> Result<Option<T>, ApiError> {
    match params.non_empty(key).filter(|v| *v != "null") {
        None => Ok(None),
        Some(raw) => serde_json::from_str(raw)
            .map(Some)
            .map_err(|e| ApiError::bad_request(format!("invalid {key} {raw:?}: {e}"))),
    }
}

/// A number parameter; 0 or missing: none.
fn number(params: &Params, key: &str) -> Result<i64, ApiError> {
    Ok(params.number(key)?.unwrap_or(0))
}

fn refuse(key: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("{key}: {why}"))
}

/// The request the query asks for.
pub fn request(params: &Params) -> Result<BuildRequest, ApiError> {
    if let Some(remote) = params.non_empty("remote") {
        return Err(refuse(
            "remote",
            &format!(
                "building from a remote context ({remote}) is not supported: send the context as a tar"
            ),
        ));
    }
    // Docker's message when its daemon is not experimental.
    if params.flag("squash") {
        return Err(refuse(
            "squash",
            "squash is only supported with experimental mode",
        ));
    }
    if let Some(i) = params.non_empty("isolation")
        && i != "default"
    {
        return Err(refuse(
            "isolation",
            &format!("Unsupported isolation: {i:?}"),
        ));
    }
    if let Some(v) = params.non_empty("version")
        && v != "1"
    {
        return Err(refuse(
            "version",
            &format!(
                "builder version {v:?} is not supported: this engine has the classic builder only (version 1; DOCKER_BUILDKIT=0)"
            ),
        ));
    }
    for key in ["session", "buildid"] {
        if params.non_empty(key).is_some() {
            return Err(refuse(
                key,
                "BuildKit sessions are not supported: this engine has the classic builder only",
            ));
        }
    }
    let outputs: Option<Vec<serde_json::Value>> = json(params, "outputs")?;
    if outputs.is_some_and(|o| !o.is_empty()) {
        return Err(refuse(
            "outputs",
            "build outputs are a BuildKit feature; this engine's classic builder makes an image",
        ));
    }
    if let Some(parent) = params.non_empty("cgroupparent") {
        return Err(refuse(
            "cgroupparent",
            &format!(
                "a cgroup parent ({parent}) is not supported: build steps run in the engine's own cgroup tree"
            ),
        ));
    }
    let build_args: BTreeMap<String, Option<String>> =
        json(params, "buildargs")?.unwrap_or_default();
    let labels: BTreeMap<String, String> = json(params, "labels")?.unwrap_or_default();
    let cache_from: Vec<String> = json(params, "cachefrom")?.unwrap_or_default();
    let ulimits: Option<Vec<Ulimit>> = json(params, "ulimits")?;
    let extra_hosts = RunLimits::parse_hosts(&params.all("extrahosts"))
        .map_err(|e| refuse("extrahosts", &format!("{e:#}")))?;
    let security_opt: Vec<String> = params
        .all("securityopt")
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let limits = RunLimits {
        memory: number(params, "memory")?,
        memory_swap: number(params, "memswap")?,
        confinement: Confinement {
            ulimits: ulimits.filter(|u| !u.is_empty()),
            cpu_shares: number(params, "cpushares")?,
            cpu_period: number(params, "cpuperiod")?,
            cpu_quota: number(params, "cpuquota")?,
            cpuset_cpus: params.get("cpusetcpus").unwrap_or("").to_string(),
            cpuset_mems: params.get("cpusetmems").unwrap_or("").to_string(),
            shm_size: number(params, "shmsize")?,
            security_opt: (!security_opt.is_empty()).then_some(security_opt),
            ..Confinement::default()
        },
        extra_hosts,
    };
    Ok(BuildRequest {
        tags: params
            .all("t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        // An argument given without a value (null) is left unset, as Docker leaves it.
        build_args: build_args
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        no_cache: params.flag("nocache"),
        target: params.non_empty("target").map(str::to_string),
        network: params.get("networkmode").unwrap_or("").to_string(),
        quiet: params.flag("q"),
        cancel: None,
        labels: labels.into_iter().collect(),
        platform: params.non_empty("platform").map(str::to_string),
        limits,
        // Docker: `rm` defaults to true when not given.
        remove: params.get("rm").is_none_or(|_| params.flag("rm")),
        // `forcerm`: intermediate containers are removed after a failed step too; they
        // always are here.
        pull: params.flag("pull"),
        cache_from,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dockers_cli_defaults_ask_for_nothing() {
        let q = "buildargs=%7B%7D&cachefrom=%5B%5D&cgroupparent=&cpuperiod=0&cpuquota=0&cpusetcpus=&cpusetmems=&cpushares=0&dockerfile=Dockerfile&labels=%7B%7D&memory=0&memswap=0&networkmode=default&rm=1&shmsize=0&target=&ulimits=null&version=1";
        let r = request(&Params::parse(q)).unwrap();
        assert!(r.remove && !r.pull && r.labels.is_empty() && r.cache_from.is_empty());
        assert_eq!(r.limits.memory, 0);
        assert!(r.limits.confinement.ulimits.is_none());
        r.validate().unwrap();
    }

    #[test]
    fn what_cannot_be_applied_is_refused_by_name() {
        for (q, name) in [
            ("squash=1", "squash"),
            ("isolation=hyperv", "isolation"),
            ("version=2", "version"),
            ("session=abc", "session"),
            ("cgroupparent=/x", "cgroupparent"),
            ("outputs=%5B%7B%22Type%22%3A%22local%22%7D%5D", "outputs"),
            ("extrahosts=nocolon", "extrahosts"),
            ("labels=notjson", "labels"),
        ] {
            let e = request(&Params::parse(q)).unwrap_err();
            assert!(format!("{e:?}").contains(name), "{q}: {e:?}");
        }
        let r = request(&Params::parse("rm=0")).unwrap();
        assert!(r.validate().unwrap_err().to_string().contains("--rm=false"));
        let r = request(&Params::parse("platform=windows/amd64")).unwrap();
        assert!(r.validate().is_err());
    }
}
