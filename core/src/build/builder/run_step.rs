//! RUN: the command in a container on a writable layer of the current image, committed as
//! the step's layer.

use std::collections::BTreeSet;

use anyhow::{Result, bail};

use super::{Builder, PREDEFINED_ARGS};
use crate::build::cache::Key;
use crate::build::instructions::shell_of;
use crate::build::parser::{self, Instruction, json_form};
use crate::build::sandbox::{self, RunSpec, Sandbox};

impl Builder<'_> {
    pub(super) fn run(&mut self, instr: &Instruction) -> Result<()> {
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
        // Proxies given with --build-arg reach RUN undeclared, and stay out of the history.
        let declared: BTreeSet<&str> = self.stage().args.iter().map(|(k, _)| k.as_str()).collect();
        for (k, v) in &self.opts.build_args {
            if PREDEFINED_ARGS.contains(&k.as_str())
                && !env_keys.contains(k)
                && !declared.contains(k.as_str())
            {
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
        let after = self.stage().config.clone();
        if self.use_cache(&key, &created_by, &after)? {
            return Ok(());
        }
        let mut sandbox = Sandbox::create(self.engine, self.top_layer().as_ref())?;
        self.say(&format!(" ---> Running in {}", sandbox.short_id()));
        let spec = RunSpec {
            args,
            env,
            cwd: rc.working_dir.clone(),
            user: rc.user.clone(),
            network: self.opts.network.clone(),
            quiet: self.opts.quiet,
            output: self.opts.output.clone(),
            limits: self.opts.limits.clone(),
        };
        let code = sandbox::run(&mut sandbox, &spec, &self.interrupt)?;
        if code != 0 {
            bail!("The command '{joined}' returned a non-zero code: {code}");
        }
        let short = sandbox.short_id().to_string();
        let step = sandbox.commit(&self.stage().config.rootfs.diff_ids)?;
        self.say(&format!("Removing intermediate container {short}"));
        let config = self.stage().config.clone();
        self.finish(config, created_by, Some(step), &key)
    }
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
}
