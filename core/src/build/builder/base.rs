//! The base image of a stage (FROM) or of `COPY --from`: the local one, pulled when missing
//! (or always, with `--pull`), and of the `--platform` asked for. A local image of another
//! platform is never used for it: it is pulled for that platform, or the build fails with
//! Docker's message.

use anyhow::{Context, Result, anyhow};
use graph::image::oci::Platform;
use graph::image::{Image, ImageConfig, Reference};

use super::Builder;
use distribution::progress::Progress;
use distribution::registry::open_repository;
use distribution::registry::pull::PullRequest;

/// The platform of an image config.
pub(super) fn platform_of(config: &ImageConfig) -> Platform {
    Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config
            .extra
            .get("variant")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        extra: Default::default(),
    }
}

/// Makes a (scratch) config of `platform`.
pub(super) fn set_platform(config: &mut ImageConfig, platform: &Platform) {
    config.os = platform.os.clone();
    config.architecture = platform.architecture.clone();
    match &platform.variant {
        Some(v) => {
            config.extra.insert("variant".into(), v.clone().into());
        }
        None => {
            config.extra.remove("variant");
        }
    }
}

impl Builder<'_> {
    /// The base image of a FROM.
    pub(super) fn base_image(&self, name: &str) -> Result<Image> {
        if self.opts.pull && !name.starts_with("sha256:") {
            let reference = Reference::parse(name)?;
            self.pull(&reference)?;
        }
        let image = self.resolve_image(name)?;
        let Some(wanted) = &self.opts.platform else {
            return Ok(image);
        };
        let actual = platform_of(&image.config);
        if wanted.matches(&actual) {
            return Ok(image);
        }
        let mismatch = format!(
            "image with reference {name} was found but does not match the specified platform: wanted {wanted}, actual: {actual}"
        );
        // As Docker does: pull the image for the platform asked for.
        let reference = Reference::parse(name).map_err(|_| anyhow!("{mismatch}"))?;
        self.pull(&reference)
            .map_err(|e| anyhow!("{mismatch} (pulling it for {wanted}: {e:#})"))?;
        let image = self.engine.images.resolve(name)?;
        let actual = platform_of(&image.config);
        if !wanted.matches(&actual) {
            return Err(anyhow!(
                "image with reference {name} was found but does not match the specified platform: wanted {wanted}, actual: {actual}"
            ));
        }
        Ok(image)
    }

    /// The image `name`, pulled first when it is missing (as `docker build` does).
    pub(super) fn resolve_image(&self, name: &str) -> Result<Image> {
        match self.engine.images.resolve(name) {
            Ok(image) => Ok(image),
            Err(e) if e.kind() == graph::ErrorKind::NotFound => {
                let reference = Reference::parse(name)?;
                self.pull(&reference)
                    .with_context(|| format!("pull access denied for {}", reference.familiar()))?;
                Ok(self.engine.images.resolve(name)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls `reference` (for the `--platform` asked for), saying so in the build's output.
    fn pull(&self, reference: &Reference) -> Result<()> {
        let progress = Progress::new(true);
        let repo = open_repository(
            reference,
            &crate::registry::options(&self.engine.settings),
            "pull",
        )?;
        let request = PullRequest {
            reference: reference.clone(),
            platform: self.opts.platform.clone(),
        };
        crate::transfer::pull(self.engine, &repo, &request, &progress)?;
        self.say(&format!(
            "Status: Downloaded newer image for {}",
            reference.familiar()
        ));
        Ok(())
    }
}
