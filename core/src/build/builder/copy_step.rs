//! COPY and ADD: sources from the context (or another stage's or image's rootfs with
//! `--from`) into a writable layer of the current image, keyed in the cache by a digest of
//! their content.

use anyhow::{Result, anyhow, bail};
use graph::image::{ImageConfig, top_chain};
use sha2::{Digest as _, Sha256};

use super::Builder;
use crate::build::cache::Key;
use crate::build::context::SourceRoot;
use crate::build::copy::{self, CopyRequest, Owner};
use crate::build::dockerignore::Ignore;
use crate::build::expand;
use crate::build::instructions;
use crate::build::parser::{Instruction, json_form};
use crate::build::sandbox::Sandbox;

impl Builder<'_> {
    pub(super) fn copy(&mut self, instr: &Instruction) -> Result<()> {
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
        if sources.len() + heredocs.len() > 1 && !dest.ends_with('/') {
            bail!(
                "When using {kw} with more than one source file, the destination must be a directory and end with a /"
            );
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
        let after = self.stage().config.clone();
        if self.use_cache(&key, &created_by, &after)? {
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
        let step = sandbox.commit(&self.stage().config.rootfs.diff_ids)?;
        let config = self.stage().config.clone();
        self.finish(config, created_by, Some(step), &key)
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
