//! The build itself: stages, steps, the cache, and Docker's classic output.

use std::collections::BTreeSet;

use anyhow::{Context, Result, anyhow, bail};
use graph::Digest;
use graph::image::{History, Image, ImageConfig, Reference, RunConfig, now_rfc3339, top_chain};
use runtime::Network;
use sha2::{Digest as _, Sha256};

use super::cache::{BuildCache, Key};
use super::context::{BuildContext, SourceRoot};
use super::copy::{self, CopyRequest, Owner};
use super::dockerignore::Ignore;
use super::expand;
use super::instructions::{self, shell_of};
use super::parser::{self, Instruction, json_form};
use super::sandbox::{self, Interrupt, RunSpec, Sandbox};
use crate::engine::Engine;

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
        }
    }

    fn say(&self, line: &str) {
        if !self.opts.quiet {
            println!("{line}");
        }
    }

    /// Runs the whole Dockerfile; returns the final image.
    pub fn build(mut self) -> Result<Image> {
        let file = parser::parse(&self.opts.dockerfile)?;
        self.interrupt = Interrupt::install()?;
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
        self.total = file.instructions.len();
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
        let unused: Vec<&str> = self
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !self.used_args.contains(*k) && !PREDEFINED_ARGS.contains(k))
            .collect();
        if !unused.is_empty() && !self.opts.quiet {
            println!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            );
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
            (None, c)
        } else if let Some(s) = self.stages.iter().find(|s| {
            s.name
                .as_ref()
                .is_some_and(|x| x.eq_ignore_ascii_case(&base))
        }) {
            (s.image.clone(), s.config.clone())
        } else {
            let image = self.resolve_image(&base)?;
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

    fn resolve_image(&self, name: &str) -> Result<Image> {
        self.engine.images.resolve(name).map_err(|e| match e.kind() {
            graph::ErrorKind::NotFound => {
                let shown = Reference::parse(name)
                    .map(|r| {
                        if r.tag().is_none() && r.digest().is_none() {
                            r.with_tag("latest").familiar()
                        } else {
                            r.familiar()
                        }
                    })
                    .unwrap_or_else(|_| name.to_string());
                anyhow!(
                    "pull access denied for {shown}: No such image: {shown} (this engine has no registry client; `engine import` or `engine load` the image first)"
                )
            }
            _ => e.into(),
        })
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
        if self.use_cache(&key)? {
            return Ok(());
        }
        let mut config = self.stage().config.clone();
        change(&mut config)?;
        self.finish(config, created_by, None, &key)
    }

    /// Records the new image of a step and makes it the stage's current one.
    fn finish(
        &mut self,
        mut config: ImageConfig,
        created_by: String,
        layer: Option<graph::DiffId>,
        key: &Key,
    ) -> Result<()> {
        let now = now_rfc3339();
        config.created = Some(now.clone());
        let empty_layer = layer.is_none();
        if let Some(d) = layer {
            config.rootfs.diff_ids.push(d);
        }
        config.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            author: None,
            comment: None,
            empty_layer,
        });
        let raw = serde_json::to_vec(&config)?;
        let image = self.engine.images.create(&raw)?;
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

    /// On a hit, moves the stage onto the cached image.
    fn use_cache(&mut self, key: &Key) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.cache.get(key) else {
            return Ok(false);
        };
        let Ok(image) = self.engine.images.get(&id) else {
            return Ok(false);
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

    fn run(&mut self, instr: &Instruction) -> Result<()> {
        if let Some((f, _)) = instr.flags.first() {
            bail!("RUN --{f} is not supported (a BuildKit feature)");
        }
        let shell = shell_of(&self.stage().config);
        let args = match json_form(&instr.args) {
            Some(v) => v,
            None => {
                let mut v = shell.clone();
                v.push(shell_command(instr));
                v
            }
        };
        if args.is_empty() || args.iter().all(String::is_empty) {
            bail!("RUN requires at least one argument");
        }
        let rc = self.stage().config.config.clone().unwrap_or_default();
        let mut env: Vec<String> = rc.env.clone().unwrap_or_default();
        let env_keys: BTreeSet<String> = env
            .iter()
            .filter_map(|e| e.split_once('=').map(|(k, _)| k.to_string()))
            .collect();
        let mut arg_env: Vec<String> = Vec::new();
        for (k, v) in &self.stage().args {
            if !env_keys.contains(k) {
                arg_env.push(format!("{k}={v}"));
            }
        }
        for (k, v) in &self.opts.build_args {
            if PREDEFINED_ARGS.contains(&k.as_str()) && !env_keys.contains(k) {
                env.push(format!("{k}={v}"));
            }
        }
        env.extend(arg_env.iter().cloned());
        let joined = args.join(" ");
        let created_by = if arg_env.is_empty() {
            joined.clone()
        } else {
            format!("|{} {} {}", arg_env.len(), arg_env.join(" "), joined)
        };
        let key = Key::new(self.parent().as_ref(), &created_by, "");
        if self.use_cache(&key)? {
            return Ok(());
        }
        let mut sandbox = Sandbox::create(self.engine, self.top_layer().as_ref())?;
        self.say(&format!(" ---> Running in {}", sandbox.short_id()));
        let spec = RunSpec {
            args,
            env,
            cwd: rc.working_dir.clone(),
            user: rc.user.clone(),
            network: self.opts.network,
            quiet: self.opts.quiet,
        };
        let code = sandbox::run(&mut sandbox, &spec, &self.interrupt)?;
        if code != 0 {
            bail!("The command '{joined}' returned a non-zero code: {code}");
        }
        let short = sandbox.short_id().to_string();
        let layer = sandbox.commit()?;
        self.say(&format!("Removing intermediate container {short}"));
        let config = self.stage().config.clone();
        self.finish(config, created_by, Some(layer.diff_id), &key)
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
        if self.use_cache(&key)? {
            return Ok(());
        }
        let mut sandbox = Sandbox::create(self.engine, self.top_layer().as_ref())?;
        let rootfs = sandbox.rootfs()?;
        if sandbox::is_dir_in(&rootfs, &dir)? {
            drop(sandbox);
            return self.finish(config, created_by, None, &key);
        }
        let user = config
            .config
            .as_ref()
            .map(|c| c.user.clone())
            .unwrap_or_default();
        // The directory belongs to the USER in effect, as Docker makes it.
        let owner = runtime::resolve_user(&rootfs, &user)
            .map(|u| Owner {
                uid: u.uid,
                gid: u.gid,
            })
            .unwrap_or_default();
        copy::make_dirs(&rootfs, &dir, owner)?;
        let layer = sandbox.commit()?;
        self.finish(config, created_by, Some(layer.diff_id), &key)
    }

    fn copy(&mut self, instr: &Instruction) -> Result<()> {
        let kw = instr.keyword.as_str();
        let vars = self.vars();
        let mut from = None;
        let mut chown = None;
        let mut chmod = None;
        for (name, value) in &instr.flags {
            match name.as_str() {
                "from" if kw == "COPY" => from = Some(expand::word(value, &vars, self.escape)?),
                "chown" => chown = Some(expand::word(value, &vars, self.escape)?),
                "chmod" => {
                    chmod = Some(u32::from_str_radix(value, 8).map_err(|_| {
                        anyhow!("invalid --chmod value {value:?}: want an octal mode")
                    })?)
                }
                "link" => {}
                other => bail!("Unknown flag: {other}"),
            }
        }
        let mut words = match json_form(&instr.args) {
            Some(v) => v,
            None => expand::words(&instr.args, &vars, self.escape)?,
        };
        if words.len() < 2 {
            bail!(
                "{kw} requires at least two arguments, but got {}",
                words.len()
            );
        }
        let dest_word = words.pop().unwrap_or_default();
        let workdir = self
            .stage()
            .config
            .config
            .as_ref()
            .map(|c| c.working_dir.clone())
            .unwrap_or_default();
        let mut dest = instructions::join_workdir(&workdir, &dest_word);
        if dest_word.ends_with('/') || dest_word == "." {
            dest.push('/');
        }
        // Heredoc sources: `<<EOF` words.
        let mut heredocs = Vec::new();
        let mut paths = Vec::new();
        for w in words {
            match instr.heredocs.iter().find(|h| {
                w.trim_start_matches("<<")
                    .trim_start_matches('-')
                    .trim_matches(['"', '\''])
                    == h.name
                    && w.starts_with("<<")
            }) {
                Some(h) => {
                    let content = if h.quoted {
                        h.content.clone()
                    } else {
                        expand::word(&h.content, &vars, self.escape)
                            .unwrap_or_else(|_| h.content.clone())
                    };
                    heredocs.push((h.name.clone(), content));
                }
                None => paths.push(w),
            }
        }
        for p in &paths {
            if p.starts_with("http://") || p.starts_with("https://") || p.starts_with("git@") {
                bail!(
                    "{kw} from a URL is not supported: {p}; download it into the build context and COPY it"
                );
            }
        }
        if paths.len() + heredocs.len() > 1 && !dest.ends_with('/') {
            bail!(
                "When using {kw} with more than one source file, the destination must be a directory and end with a /"
            );
        }
        // The source: the context, or another stage's (or image's) root filesystem.
        let mut source_sandbox = None;
        let from_root = match &from {
            None => None,
            Some(f) => {
                let (top, _) = self.source_image(f)?;
                let mut sb = Sandbox::create(self.engine, top.as_ref())?;
                let root = sb.rootfs()?;
                source_sandbox = Some(sb);
                Some(SourceRoot {
                    root,
                    ignore: Ignore::default(),
                    is_rootfs: true,
                })
            }
        };
        let source: &SourceRoot = from_root.as_ref().unwrap_or(&self.context.source);
        let mut sources = Vec::new();
        for p in &paths {
            let found = source.resolve(p, kw)?;
            if found.is_empty() {
                bail!("{kw} failed: no source files were specified (nothing matches {p})");
            }
            sources.extend(found);
        }
        let mut h = Sha256::new();
        h.update(source.digest(&sources)?.as_bytes());
        for (name, content) in &heredocs {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(content.as_bytes());
        }
        let digest = hex::encode(h.finalize());
        let kind = if sources.len() + heredocs.len() > 1 {
            "multi"
        } else if sources.first().is_some_and(|s| s.path.is_dir()) {
            "dir"
        } else {
            "file"
        };
        let created_by = self
            .nop(&format!("{kw} {kind}:{digest} in {dest} "))
            .replacen("#(nop)  ", "#(nop) ", 1);
        let key_extra = format!(
            "from={} chown={} chmod={:?}",
            from.as_deref().unwrap_or(""),
            chown.as_deref().unwrap_or(""),
            chmod
        );
        let key = Key::new(self.parent().as_ref(), &created_by, &key_extra);
        if self.use_cache(&key)? {
            return Ok(());
        }
        let mut sandbox = Sandbox::create(self.engine, self.top_layer().as_ref())?;
        let rootfs = sandbox.rootfs()?;
        let owner = match &chown {
            Some(spec) => copy::resolve_chown(&rootfs, spec)?,
            None => Owner::default(),
        };
        copy::copy(
            &rootfs,
            &CopyRequest {
                from: source,
                sources: &sources,
                dest: dest.clone(),
                owner,
                extract: kw == "ADD",
                chmod,
            },
        )?;
        for (name, content) in &heredocs {
            let file = if dest.ends_with('/') {
                format!("{dest}{name}")
            } else {
                dest.clone()
            };
            copy::write_file(
                &rootfs,
                &file,
                content.as_bytes(),
                owner,
                chmod.unwrap_or(0o644),
            )?;
        }
        drop(source_sandbox);
        let layer = sandbox.commit()?;
        let config = self.stage().config.clone();
        self.finish(config, created_by, Some(layer.diff_id), &key)
    }

    /// The top layer and config of a stage (by name or index) or an image, for `--from`.
    fn source_image(&self, name: &str) -> Result<(Option<graph::ChainId>, ImageConfig)> {
        let done = &self.stages[..self.stages.len() - 1];
        let stage = done
            .iter()
            .find(|s| {
                s.name
                    .as_ref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .or_else(|| name.parse::<usize>().ok().and_then(|i| done.get(i)));
        if let Some(s) = stage {
            return Ok((top_chain(&s.config.rootfs.diff_ids), s.config.clone()));
        }
        let image = self.resolve_image(name)?;
        Ok((image.top_layer(), image.config))
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

/// RUN's shell-form command, heredocs included: a RUN that is only a heredoc runs its body as
/// the script; otherwise the shell gets the heredocs after the command, as it would read them.
fn shell_command(instr: &Instruction) -> String {
    if instr.heredocs.is_empty() {
        return instr.args.clone();
    }
    let only_heredoc = parser::heredoc_markers(&instr.args).len() == 1 && {
        let t = instr.args.trim();
        t.starts_with("<<") && !t.contains(char::is_whitespace)
    };
    if only_heredoc {
        return instr.heredocs[0].content.clone();
    }
    let mut s = instr.args.clone();
    for h in &instr.heredocs {
        s.push('\n');
        s.push_str(&h.content);
        s.push_str(&h.name);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_runs_as_the_script_or_after_the_command() {
        let d = parser::parse("RUN <<EOF\necho a\necho b\nEOF\nRUN cat <<X > /f\nhi\nX\n").unwrap();
        assert_eq!(shell_command(&d.instructions[0]), "echo a\necho b\n");
        assert_eq!(shell_command(&d.instructions[1]), "cat <<X > /f\nhi\nX");
    }

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
