//! `engine build`: the command line around [`crate::build`].

use std::fs;
use std::io;

use anyhow::{Context, Result, bail};
use graph::image::oci::Platform;
use graph::image::{Image, Reference};
use runtime::Network;

use crate::build::limits::RunLimits;
use crate::build::{BuildContext, Builder, Options, Output};
use crate::engine::Engine;

/// What to build, from `engine build`'s flags or the API's query.
#[derive(Debug, Default)]
pub struct BuildRequest {
    /// `-t` names (a missing tag is `latest`).
    pub tags: Vec<String>,
    /// `--build-arg` values.
    pub build_args: Vec<(String, String)>,
    pub no_cache: bool,
    pub target: Option<String>,
    /// `--network`: host (default, bridge) or none.
    pub network: String,
    pub quiet: bool,
    /// Interrupts the build from elsewhere (the daemon: the client has gone).
    pub cancel: Option<crate::build::Interrupt>,
    /// `--label`s of the final image.
    pub labels: Vec<(String, String)>,
    /// `--platform` (OS/ARCH[/VARIANT]).
    pub platform: Option<String>,
    /// Resources and host entries of every RUN container.
    pub limits: RunLimits,
    /// `--rm` (Docker's default: true). False is refused: see [`BuildRequest::validate`].
    pub remove: bool,
    /// `--pull`: pull every base image, even one that is here.
    pub pull: bool,
    /// `--cache-from` images.
    pub cache_from: Vec<String>,
}

impl BuildRequest {
    /// A request with Docker's defaults.
    pub fn new() -> BuildRequest {
        BuildRequest {
            remove: true,
            ..BuildRequest::default()
        }
    }

    /// Checks the options before the context is read, with Docker's messages.
    pub fn validate(&self) -> Result<()> {
        parse_tags(&self.tags)?;
        if !self.remove {
            bail!(
                "--rm=false is not supported: this engine's builder removes every intermediate container (keeping them is not implemented)"
            );
        }
        if let Some(p) = &self.platform {
            wanted_platform(p)?;
        }
        self.limits.validate()?;
        Ok(())
    }
}

/// The platform a build asked for: parsed, its OS checked (only Linux images run here).
pub fn wanted_platform(text: &str) -> Result<Platform> {
    let p = Platform::parse(text)?;
    if p.os != "linux" {
        bail!("\"{text}\": operating system is not supported");
    }
    Ok(p)
}

/// Builds `dockerfile` in `context`, tags the image and reports as Docker does ("Successfully
/// built ...", or only the id when quiet) to `output`. The CLI and the API both build here.
pub fn build(
    engine: &Engine,
    request: &BuildRequest,
    context: &BuildContext,
    dockerfile: String,
    output: Output,
    handle_signals: bool,
) -> Result<Image> {
    request.validate()?;
    let tags = parse_tags(&request.tags)?;
    let network = match request.network.as_str() {
        "" | "host" | "default" | "bridge" => Network::Host,
        "none" => Network::None,
        other => bail!("network mode {other:?} not supported for build: use host or none"),
    };
    let opts = Options {
        dockerfile,
        build_args: request.build_args.clone(),
        no_cache: request.no_cache,
        target: request.target.clone().filter(|t| !t.is_empty()),
        network,
        quiet: request.quiet,
        output: output.clone(),
        handle_signals,
        cancel: request.cancel.clone(),
        labels: request.labels.clone(),
        platform: request
            .platform
            .as_deref()
            .map(wanted_platform)
            .transpose()?,
        limits: request.limits.clone(),
        pull: request.pull,
        cache_from: request.cache_from.clone(),
    };
    let image = Builder::new(engine, &opts, context).build()?;
    for t in &tags {
        engine.images.tag(t, &image.id)?;
        crate::events::tagged(&engine.settings.data_root, &image, &t.familiar());
    }
    if request.quiet {
        output.line(&image.id.to_string());
        return Ok(image);
    }
    output.line(&format!("Successfully built {}", &image.id.hex()[..12]));
    for t in &tags {
        output.line(&format!("Successfully tagged {}", t.familiar()));
    }
    Ok(image)
}

/// The Dockerfile in a context: `name` relative to its root (default `Dockerfile`).
/// The name is confined to the context (see `SourceRoot::dockerfile_path`); a missing
/// `Dockerfile` falls back to `dockerfile`, as Docker's daemon does.
pub fn context_dockerfile(context: &BuildContext, name: Option<&str>) -> Result<String> {
    let name = name.filter(|n| !n.is_empty()).unwrap_or("Dockerfile");
    let mut path = context.source.dockerfile_path(name)?;
    if name == "Dockerfile" && !path.exists() {
        path = context.source.dockerfile_path("dockerfile")?;
    }
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("Cannot locate specified Dockerfile: {name}")
        }
        Err(e) => return Err(e).with_context(|| format!("reading the Dockerfile {name}")),
    };
    if !meta.is_file() {
        bail!("the Dockerfile {name} in the build context is not a regular file");
    }
    fs::read_to_string(&path).with_context(|| format!("reading the Dockerfile {name}"))
}

pub fn parse_tags(tags: &[String]) -> Result<Vec<Reference>> {
    let mut out = Vec::new();
    for t in tags {
        let r = Reference::parse(t).with_context(|| format!("invalid tag {t:?}"))?;
        if r.digest().is_some() {
            bail!("invalid tag {t:?}: a tag cannot contain a digest");
        }
        out.push(if r.tag().is_none() {
            r.with_tag("latest")
        } else {
            r
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A tar context as a client would upload it, with a symlink pointing at `outside`.
    fn context_with_link(outside: &Path, data_root: &Path) -> BuildContext {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(12);
        h.set_mode(0o644);
        b.append_data(&mut h, "sub/Real.df", &b"FROM scratch"[..])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", outside).unwrap();
        BuildContext::tar(&b.into_inner().unwrap()[..], data_root, "standard input").unwrap()
    }

    #[test]
    fn the_dockerfile_named_by_a_client_stays_inside_the_context() {
        let host = tempfile::tempdir().unwrap();
        let secret = host.path().join("secret");
        fs::write(&secret, "FROM host-secret").unwrap();
        let data_root = tempfile::tempdir().unwrap();
        let ctx = context_with_link(&secret, data_root.path());
        let read = |name: &str| context_dockerfile(&ctx, Some(name));
        assert_eq!(read("sub/Real.df").unwrap(), "FROM scratch");
        assert_eq!(read("./sub/../sub/Real.df").unwrap(), "FROM scratch");
        // `..` out of the context: Docker's error.
        let climb = format!("../../../../../../..{}", secret.display());
        let e = read(&climb).unwrap_err().to_string();
        assert!(
            e.contains("Forbidden path outside the build context"),
            "{e}"
        );
        // An absolute name, and a symlink to a host file, resolve inside the context.
        for name in [secret.to_str().unwrap(), "link"] {
            let e = read(name).unwrap_err().to_string();
            assert!(
                e.contains("Cannot locate specified Dockerfile"),
                "{name}: {e}"
            );
        }
        let e = context_dockerfile(&ctx, None).unwrap_err().to_string();
        assert!(
            e.contains("Cannot locate specified Dockerfile: Dockerfile"),
            "{e}"
        );
    }
}
