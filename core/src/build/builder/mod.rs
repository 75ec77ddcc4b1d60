//! The build itself: stages, steps, the cache, and Docker's classic output.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use graph::Digest;
use graph::image::oci::Platform;
use graph::image::{History, Image, ImageConfig, RunConfig, now_rfc3339, top_chain};
use runtime::Network;

mod base;
mod cache_from;
mod copy_step;
mod run_step;

use super::cache::{BuildCache, Key};
use super::context::BuildContext;
use super::copy::{self, Owner};
use super::expand;
use super::instructions::{self, shell_of};
use super::limits::RunLimits;
use super::parser::{self, Instruction};
use super::sandbox::{self, Interrupt, Sandbox};
use crate::engine::Engine;
use base::set_platform;
use distribution::ingest::Ingest;

/// Build arguments usable without an ARG instruction, as Docker predefines them.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What to build and how.
#[derive(Debug)]
pub struct Options {
    /// The Dockerfile text.
    pub dockerfile: String,
    /// `--build-arg` values.
    pub build_args: Vec<(String, String)>,
    /// Ignore the cache.
    pub no_cache: bool,
    /// Stop after this stage.
    pub target: Option<String>,
    /// RUN's network.
    pub network: Network,
    /// Print only the final image id.
    pub quiet: bool,
    /// Where messages and RUN output go.
    pub output: super::Output,
    /// Take SIGINT/SIGTERM/SIGHUP to interrupt the build (the CLI); a daemon leaves its
    /// signals alone.
    pub handle_signals: bool,
    /// Interrupted from elsewhere (the daemon, when the client goes).
    pub cancel: Option<Interrupt>,
    /// `--label`s: LABEL steps at the end of the last stage built, as Docker adds them.
    pub labels: Vec<(String, String)>,
    /// `--platform`: the platform of every base image (checked, or pulled), and of scratch.
    pub platform: Option<Platform>,
    /// Resources and host entries of every RUN container.
    pub limits: RunLimits,
    /// `--pull`: pull every base image, even one that is here.
    pub pull: bool,
    /// `--cache-from` images.
    pub cache_from: Vec<String>,
}

/// One finished (or current) stage.
#[derive(Debug)]
struct Stage {
    name: Option<String>,
    /// The image of the last step (None: scratch and nothing done yet).
    image: Option<Digest>,
    config: ImageConfig,
    /// ARGs declared in this stage, with their values.
    args: Vec<(String, String)>,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
}

/// A running build.
pub struct Builder<'a> {
    engine: &'a Engine,
    opts: &'a Options,
    context: &'a BuildContext,
    cache: BuildCache,
    escape: char,
    /// ARGs before the first FROM.
    global_args: Vec<(String, String)>,
    stages: Vec<Stage>,
    used_args: BTreeSet<String>,
    step: usize,
    total: usize,
    interrupt: Interrupt,
    /// The `--cache-from` images found (see [`cache_from`]).
    cache_sources: Vec<Image>,
}

impl std::fmt::Debug for Builder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("step", &self.step).finish()
    }
}

impl<'a> Builder<'a> {
    /// A builder over the engine's stores.
    pub fn new(engine: &'a Engine, opts: &'a Options, context: &'a BuildContext) -> Self {
        let image_root = engine
            .settings
            .data_root
            .join("image")
            .join(engine.driver.name());
        Builder {
            engine,
            opts,
            context,
            cache: BuildCache::open(&image_root),
            escape: '\\',
            global_args: Vec::new(),
            stages: Vec::new(),
            used_args: BTreeSet::new(),
            step: 0,
            total: 0,
            interrupt: Interrupt::default(),
            cache_sources: Vec::new(),
        }
    }

    fn say(&self, line: &str) {
        if !self.opts.quiet {
            self.opts.output.line(line);
        }
    }

    /// Runs the whole Dockerfile; returns the final image.
    pub fn build(mut self) -> Result<Image> {
        let file = parser::parse(&self.opts.dockerfile)?;
        if self.opts.handle_signals {
            self.interrupt = Interrupt::install()?;
        } else if let Some(cancel) = &self.opts.cancel {
            self.interrupt = cancel.clone();
        }
        self.escape = file.escape;
        if file.instructions.is_empty() {
            bail!("the Dockerfile cannot be empty");
        }
        if let Some(t) = &self.opts.target {
            let found = file.instructions.iter().any(|i| {
                i.keyword == "FROM"
                    && stage_name(&i.args).is_some_and(|n| n.eq_ignore_ascii_case(t))
            });
            if !found {
                bail!("failed to reach build target {t} in Dockerfile");
            }
        }
        self.total = file.instructions.len() + self.opts.labels.len();
        self.cache_sources = self.cache_from_sources();
        for instr in &file.instructions {
            if instr.keyword == "FROM"
                && let Some(t) = &self.opts.target
                && self
                    .stages
                    .last()
                    .and_then(|s| s.name.as_ref())
                    .is_some_and(|n| n.eq_ignore_ascii_case(t))
            {
                break;
            }
            self.interrupt.check()?;
            self.step += 1;
            self.say(&format!(
                "Step {}/{} : {}",
                self.step, self.total, instr.original
            ));
            self.dispatch(instr)
                .with_context(|| format!("Dockerfile line {}: {}", instr.line, instr.original))?;
        }
        // `--label`s: one LABEL step each, sorted, on the last stage built (Docker's order).
        let mut labels = self.opts.labels.clone();
        labels.sort();
        for (key, value) in labels {
            if self.stages.is_empty() {
                break;
            }
            self.interrupt.check()?;
            self.step += 1;
            let text = format!("LABEL {key}={value}");
            self.say(&format!("Step {}/{} : {text}", self.step, self.total));
            // Given as they are: no variable expansion, as Docker adds them.
            self.commit_config(&text, |c| {
                c.config
                    .get_or_insert_with(Default::default)
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert(key.clone(), value.clone());
                Ok(())
            })?;
        }
        let unused: Vec<&str> = self
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !self.used_args.contains(*k) && !PREDEFINED_ARGS.contains(k))
            .collect();
        if !unused.is_empty() {
            self.say(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        let Some(stage) = self.stages.last() else {
            bail!("no FROM instruction in the Dockerfile: it must start with FROM (or ARG)");
        };
        let Some(id) = &stage.image else {
            bail!("No image was generated. Is your Dockerfile empty?");
        };
        Ok(self.engine.images.get(id)?)
    }

    fn dispatch(&mut self, instr: &Instruction) -> Result<()> {
        if instr.keyword == "FROM" {
            return self.from(instr);
        }
        if self.stages.is_empty() {
            if instr.keyword == "ARG" {
                return self.global_arg(instr);
            }
            bail!(
                "no FROM instruction before {}: a Dockerfile must start with FROM (or ARG)",
                instr.keyword
            );
        }
        match instr.keyword.as_str() {
            "ARG" => self.arg(instr),
            "RUN" => self.run(instr),
            "COPY" | "ADD" => self.copy(instr),
            "WORKDIR" => self.workdir(instr),
            _ => self.metadata(instr),
        }
    }

    fn stage(&self) -> &Stage {
        self.stages.last().expect("a stage exists after FROM")
    }

    fn stage_mut(&mut self) -> &mut Stage {
        self.stages.last_mut().expect("a stage exists after FROM")
    }

    /// Variables for expansion: the stage's ARGs, then its ENV (which wins).
    fn vars(&self) -> Vec<(String, String)> {
        let stage = self.stage();
        let mut v = stage.args.clone();
        for e in stage
            .config
            .config
            .as_ref()
            .and_then(|c| c.env.as_ref())
            .into_iter()
            .flatten()
        {
            if let Some((k, val)) = e.split_once('=') {
                v.push((k.to_string(), val.to_string()));
            }
        }
        v
    }

    fn build_arg(&self, name: &str) -> Option<String> {
        self.opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn global_arg(&mut self, instr: &Instruction) -> Result<()> {
        let vars = self.global_args.clone();
        for (name, default) in arg_decls(&instr.args, &vars, self.escape)? {
            self.used_args.insert(name.clone());
            let value = self.build_arg(&name).or(default);
            if let Some(v) = value {
                self.global_args.push((name, v));
            }
        }
        Ok(())
    }

    fn from(&mut self, instr: &Instruction) -> Result<()> {
        let words = expand::words(&instr.args, &self.global_args, self.escape)?;
        let (base, name) = match words.as_slice() {
            [b] => (b.clone(), None),
            [b, as_, n] if as_.eq_ignore_ascii_case("as") => (b.clone(), Some(n.clone())),
            _ => bail!("FROM requires either one or three arguments (FROM image [AS name])"),
        };
        if let Some(n) = &name
            && self
                .stages
                .iter()
                .any(|s| s.name.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(n)))
        {
            bail!("duplicate name {n:?}: stage names must be unique");
        }
        let (image, config) = if base.eq_ignore_ascii_case("scratch") {
            let mut c = ImageConfig::new_for_host(Vec::new());
            c.config = Some(RunConfig::default());
            if let Some(p) = &self.opts.platform {
                set_platform(&mut c, p);
            }
            (None, c)
        } else if let Some(s) = self.stages.iter().find(|s| {
            s.name
                .as_ref()
                .is_some_and(|x| x.eq_ignore_ascii_case(&base))
        }) {
            (s.image.clone(), s.config.clone())
        } else {
            let image = self.base_image(&base)?;
            (Some(image.id.clone()), image.config.clone())
        };
        match &image {
            Some(id) => self.say(&format!(" ---> {}", &id.hex()[..12])),
            None => self.say(" ---> "),
        }
        let triggers: Vec<String> = config
            .config
            .as_ref()
            .and_then(|c| c.extra.get("OnBuild"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let mut config = config;
        let rc = config.config.get_or_insert_with(Default::default);
        // A child image does not inherit the triggers it runs.
        rc.extra.remove("OnBuild");
        let env = rc.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, format!("PATH={}", runtime::DEFAULT_PATH));
        }
        self.stages.push(Stage {
            name,
            image,
            config,
            args: Vec::new(),
            cmd_set: false,
        });
        if !triggers.is_empty() {
            self.say(&format!("# Executing {} build trigger(s)", triggers.len()));
            for t in triggers {
                let file = parser::parse(&t).with_context(|| format!("ONBUILD trigger {t:?}"))?;
                for i in &file.instructions {
                    self.dispatch(i)
                        .with_context(|| format!("ONBUILD trigger {:?}", i.original))?;
                }
            }
        }
        Ok(())
    }

    fn arg(&mut self, instr: &Instruction) -> Result<()> {
        let vars = self.vars();
        let decls = arg_decls(&instr.args, &vars, self.escape)?;
        let shown = instr.args.trim().to_string();
        for (name, default) in decls {
            self.used_args.insert(name.clone());
            let value = self.build_arg(&name).or(default).or_else(|| {
                self.global_args
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            });
            if let Some(v) = value {
                let stage = self.stage_mut();
                stage.args.retain(|(k, _)| *k != name);
                stage.args.push((name, v));
            }
        }
        self.commit_config(&format!("ARG {shown}"), |_| Ok(()))
    }

    fn metadata(&mut self, instr: &Instruction) -> Result<()> {
        if !instr.flags.is_empty() && instr.keyword != "HEALTHCHECK" {
            bail!("Unknown flag: {}", instr.flags[0].0);
        }
        let vars = self.vars();
        let escape = self.escape;
        let mut config = self.stage().config.clone();
        let cmd_set = self.stage().cmd_set;
        let text = instructions::apply(instr, &mut config, &vars, escape)?;
        if instr.keyword == "ENTRYPOINT" && !cmd_set {
            // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
            if let Some(rc) = config.config.as_mut() {
                rc.cmd = None;
            }
        }
        if instr.keyword == "CMD" {
            self.stage_mut().cmd_set = true;
        }
        self.commit_config(&text, move |c| {
            c.config = config.config;
            c.author = config.author;
            Ok(())
        })
    }

    fn parent(&self) -> Option<Digest> {
        self.stage().image.clone()
    }

    /// `/bin/sh -c #(nop)  TEXT`, with the stage's shell.
    fn nop(&self, text: &str) -> String {
        format!(
            "{} #(nop)  {}",
            shell_of(&self.stage().config).join(" "),
            text
        )
    }

    /// A step that changes only the config.
    fn commit_config(
        &mut self,
        text: &str,
        change: impl FnOnce(&mut ImageConfig) -> Result<()>,
    ) -> Result<()> {
        let created_by = self.nop(text);
        let key = Key::new(self.parent().as_ref(), &created_by, "");
        let mut config = self.stage().config.clone();
        change(&mut config)?;
        if self.use_cache(&key, &created_by, &config)? {
            return Ok(());
        }
        self.finish(config, created_by, None, &key)
    }

    /// Records the new image of a step and makes it the stage's current one.
    /// Makes the step's image: `config` with the history entry, and the layer of `step` (its
    /// ingest then creates the image) unless the step made none.
    fn finish(
        &mut self,
        mut config: ImageConfig,
        created_by: String,
        step: Option<(Ingest<'_>, graph::Layer)>,
        key: &Key,
    ) -> Result<()> {
        let now = now_rfc3339();
        config.created = Some(now.clone());
        let empty_layer = step.is_none();
        if let Some((_, layer)) = &step {
            config.rootfs.diff_ids.push(layer.diff_id.clone());
        }
        config.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            author: None,
            comment: None,
            empty_layer,
        });
        let raw = serde_json::to_vec(&config)?;
        let image = match step {
            Some((ingest, _)) => ingest.commit(&raw)?,
            None => self.engine.images.create(&raw)?,
        };
        if let Some(parent) = self.parent() {
            self.engine.images.set_parent(&image.id, &parent)?;
        }
        self.cache.put(key, &image.id)?;
        self.say(&format!(" ---> {}", &image.id.hex()[..12]));
        let stage = self.stage_mut();
        stage.image = Some(image.id);
        stage.config = config;
        Ok(())
    }

    /// On a hit, moves the stage onto the cached image: from the local cache, else from a
    /// `--cache-from` image (whose step made `created_by` and leaves the config `after`).
    fn use_cache(&mut self, key: &Key, created_by: &str, after: &ImageConfig) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let local = self
            .cache
            .get(key)
            .filter(|id| self.local_hit_allowed(id))
            .and_then(|id| self.engine.images.get(&id).ok());
        let image = match local {
            Some(image) => image,
            None => match self.hit_in_cache_sources(created_by, after)? {
                Some(image) => {
                    self.cache.put(key, &image.id)?;
                    image
                }
                None => return Ok(false),
            },
        };
        self.say(" ---> Using cache");
        self.say(&format!(" ---> {}", &image.id.hex()[..12]));
        let stage = self.stage_mut();
        stage.image = Some(image.id);
        stage.config = image.config;
        Ok(true)
    }

    fn top_layer(&self) -> Option<graph::ChainId> {
        top_chain(&self.stage().config.rootfs.diff_ids)
    }

    fn workdir(&mut self, instr: &Instruction) -> Result<()> {
        let vars = self.vars();
        let mut config = self.stage().config.clone();
        let text = instructions::apply(instr, &mut config, &vars, self.escape)?;
        let dir = config
            .config
            .as_ref()
            .map(|c| c.working_dir.clone())
            .unwrap_or_default();
        let created_by = self.nop(&text);
        let key = Key::new(self.parent().as_ref(), &created_by, "");
        if self.use_cache(&key, &created_by, &config)? {
            return Ok(());
        }
        let mut sandbox = Sandbox::create(self.engine, self.top_layer().as_ref())?;
        let rootfs = sandbox.rootfs()?;
        if sandbox::is_dir_in(&rootfs, &dir)? {
            drop(sandbox);
            return self.finish(config, created_by, None, &key);
        }
        // Owned by root, as Docker's classic builder makes it (whatever the USER).
        copy::make_dirs(&rootfs, &dir, Owner::default())?;
        let step = sandbox.commit(&config.rootfs.diff_ids)?;
        self.finish(config, created_by, Some(step), &key)
    }
}

/// The name after `AS` in a FROM's arguments.
fn stage_name(args: &str) -> Option<String> {
    let w: Vec<&str> = args.split_whitespace().collect();
    match w.as_slice() {
        [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some((*n).to_string()),
        _ => None,
    }
}

/// `ARG NAME[=default] ...`.
fn arg_decls(
    args: &str,
    vars: &[(String, String)],
    escape: char,
) -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let raw = expand::split_raw(args, escape);
    if raw.is_empty() {
        bail!("ARG requires at least one argument");
    }
    for w in raw {
        match w.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), Some(expand::word(v, vars, escape)?))),
            None => out.push((w, None)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arg_declarations() {
        let v = vec![("A".to_string(), "x".to_string())];
        let d = arg_decls("B C=${A}y", &v, '\\').unwrap();
        assert_eq!(
            d,
            [
                ("B".to_string(), None),
                ("C".to_string(), Some("xy".to_string()))
            ]
        );
        assert_eq!(stage_name("busybox AS build"), Some("build".into()));
    }
}
