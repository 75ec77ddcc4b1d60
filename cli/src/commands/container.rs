//! `engine` commands: container.

use super::{exec, inspect, lifecycle, logs, ps, run};
use crate::args::{CommitArgs, ContainerCommand, DiffArgs, ExportArgs, TopArgs};
use anyhow::{Context, Result};
use engine_core::container::ops::{CommitRequest, changes, commit_container, export_to, top_lines};
use engine_core::container::store::ContainerStore;
use engine_core::engine::Engine;
use std::io::{self, Write};
use std::process::ExitCode;

pub fn dispatch(engine: &Engine, cmd: ContainerCommand) -> Result<ExitCode> {
    match cmd {
        ContainerCommand::Ls(a) => ps::run(engine, a),
        ContainerCommand::Run(a) => run::run(engine, a),
        ContainerCommand::Create(a) => run::create(engine, a),
        ContainerCommand::Start(a) => run::start(engine, a),
        ContainerCommand::Attach(a) => super::attach::attach(engine, a),
        ContainerCommand::Stop(a) => lifecycle::stop(engine, a),
        ContainerCommand::Restart(a) => lifecycle::restart(engine, a),
        ContainerCommand::Kill(a) => lifecycle::kill(engine, a),
        ContainerCommand::Rm(a) => lifecycle::rm(engine, a),
        ContainerCommand::Logs(a) => logs::run(engine, a),
        ContainerCommand::Inspect { containers, format } => {
            inspect::run(engine, &containers, Some("container"), format.as_deref())
        }
        ContainerCommand::Exec(a) => exec::run(engine, a),
        ContainerCommand::Wait(a) => lifecycle::wait(engine, a),
        ContainerCommand::Top(a) => top(engine, a),
        ContainerCommand::Diff(a) => diff(engine, a),
        ContainerCommand::Commit(a) => commit(engine, a),
        ContainerCommand::Export(a) => export(engine, a),
        ContainerCommand::Cp(a) => super::cp::run(engine, a),
        ContainerCommand::Stats(a) => super::stats::run(engine, a),
        ContainerCommand::Pause(a) => lifecycle::pause(engine, a),
        ContainerCommand::Update(a) => super::update::run(engine, a),
        ContainerCommand::Unpause(a) => lifecycle::unpause(engine, a),
        ContainerCommand::Prune { force, filters } => lifecycle::prune(engine, force, &filters),
    }
}

/// `engine diff`: A/C/D lines, sorted by path, as `docker diff` prints them.
pub fn diff(engine: &Engine, args: DiffArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    let mut out = io::stdout().lock();
    for c in changes(engine, &record)? {
        writeln!(out, "{} {}", c.kind, c.path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `export`: the container's whole filesystem as a tar.
pub fn export(engine: &Engine, args: ExportArgs) -> Result<ExitCode> {
    if let Some(path) = &args.output {
        super::archive::validate_output_path(path).context("failed to export container")?;
    }
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    super::archive::write_output(args.output.as_deref(), &mut |out| {
        export_to(engine, &record, out)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `engine top`: the host's `ps` (default `-ef`), keeping the rows of the container's
/// processes (those in its PID namespace), as Docker does.
pub fn top(engine: &Engine, args: TopArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    let (header, lines) = top_lines(&record, &args.ps_args)?;
    let mut out = io::stdout().lock();
    writeln!(out, "{header}")?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `engine commit`: prints the new image's id.
pub fn commit(engine: &Engine, args: CommitArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    let request = CommitRequest {
        reference: args.reference.clone(),
        changes: args.changes.clone(),
        author: args.author.clone(),
        message: args.message.clone(),
    };
    let image = commit_container(engine, &record, &request)?;
    println!("{}", image.id);
    Ok(ExitCode::SUCCESS)
}
