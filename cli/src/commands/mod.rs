//! One module per command.

mod archive;
mod attach;
mod bench;
mod build;
mod container;
mod cp;
pub mod events;
mod exec;
mod image;
mod info;
mod inspect;
mod layer;
mod lifecycle;
mod logs;
mod network;
mod ps;
mod registry;
mod run;
mod run_request;
mod stats;
mod system;
mod update;
mod volume;

use std::process::ExitCode;

use anyhow::Result;

use crate::args::Command;
use engine_core::config::Settings;
use engine_core::engine::Engine;

/// Runs one command with the settings in effect.
pub fn run(command: Command, settings: Settings) -> Result<ExitCode> {
    // Logins need no data root.
    let command = match command {
        Command::Login(args) => return registry::login(&settings, args),
        Command::Bench(args) => return bench::run(args, &settings),
        Command::Logout { server } => return registry::logout(server.as_deref()),
        other => other,
    };
    let engine = Engine::open(settings)?;
    let root = engine.settings.data_root.clone();
    let kind = removal_or_write(&command);
    if kind == Some(true) {
        engine_core::reserve::make_room(&root);
    }
    let outcome = dispatch(command, engine);
    // A removal may have freed room, a write may have room to spare: the reserve is made
    // whole again for the next removal on a full disk.
    if kind.is_some() {
        engine_core::reserve::refill(&root);
    }
    outcome
}

/// `Some(true)` for commands that remove, `Some(false)` for others that write, `None` for
/// read-only ones (which never write).
fn removal_or_write(command: &Command) -> Option<bool> {
    match command {
        Command::Rm(_) | Command::Rmi(_) => Some(true),
        Command::Image(_) | Command::Container(_) => Some(true),
        Command::Import(_)
        | Command::Load(_)
        | Command::Pull(_)
        | Command::Build(_)
        | Command::Create(_)
        | Command::Run(_)
        | Command::Commit(_)
        | Command::Tag { .. } => Some(false),
        _ => None,
    }
}

fn dispatch(command: Command, engine: Engine) -> Result<ExitCode> {
    match command {
        Command::Info => info::run(&engine)?,
        Command::Layer(cmd) => layer::run(&engine, cmd)?,
        Command::Pull(args) => registry::pull(&engine, args)?,
        Command::Push(args) => registry::push(&engine, args)?,
        // Handled before the engine opens; kept here so the match stays exhaustive.
        Command::Login(args) => return registry::login(&engine.settings, args),
        Command::Logout { server } => return registry::logout(server.as_deref()),
        Command::Bench(args) => return bench::run(args, &engine.settings),
        Command::Import(args) => image::import(&engine, args)?,
        Command::Images(args) => image::list(&engine, args)?,
        Command::Tag { source, target } => engine_core::image::tag(&engine, &source, &target)?,
        Command::Rmi(args) => image::remove(&engine, args)?,
        Command::History(args) => image::history(&engine, args)?,
        Command::Save(args) => archive::save(&engine, args)?,
        Command::Load(args) => archive::load(&engine, args)?,
        Command::Image(cmd) => image::run(&engine, cmd)?,
        Command::Run(args) => return run::run(&engine, args),
        Command::Create(args) => return run::create(&engine, args),
        Command::Start(args) => return run::start(&engine, args),
        Command::Attach(args) => return attach::attach(&engine, args),
        Command::Stop(args) => return lifecycle::stop(&engine, args),
        Command::Restart(args) => return lifecycle::restart(&engine, args),
        Command::Kill(args) => return lifecycle::kill(&engine, args),
        Command::Rm(args) => return lifecycle::rm(&engine, args),
        Command::Ps(args) => return ps::run(&engine, args),
        Command::Logs(args) => return logs::run(&engine, args),
        Command::Inspect(args) => {
            return inspect::run(
                &engine,
                &args.names,
                args.kind.as_deref(),
                args.format.as_deref(),
            );
        }
        Command::Exec(args) => return exec::run(&engine, args),
        Command::Wait(args) => return lifecycle::wait(&engine, args),
        Command::Top(args) => return container::top(&engine, args),
        Command::Diff(args) => return container::diff(&engine, args),
        Command::Commit(args) => return container::commit(&engine, args),
        Command::Export(args) => return container::export(&engine, args),
        Command::Build(args) => build::run(&engine, args)?,
        Command::Container(cmd) => return container::dispatch(&engine, cmd),
        Command::Cp(args) => return cp::run(&engine, args),
        Command::Stats(args) => return stats::run(&engine, args),
        Command::System(cmd) => system::run(&engine, cmd)?,
        Command::Builder(crate::args::BuilderCommand::Prune {
            all,
            force,
            filters,
        }) => system::builder_prune(&engine, all, force, &filters)?,
        Command::Pause(args) => return lifecycle::pause(&engine, args),
        Command::Update(args) => return update::run(&engine, args),
        Command::Unpause(args) => return lifecycle::unpause(&engine, args),
        Command::Volume(cmd) => return volume::run(&engine, cmd),
        // The binary serves the API itself (engine-api), before it calls into the CLI.
        Command::Daemon(_) => anyhow::bail!("`engine daemon` is served by the engine binary"),
        Command::Network(cmd) => return network::run(&engine, cmd),
        Command::Port(args) => return network::port(&engine, args),
        Command::Events(args) => return events::run(&engine, args),
        Command::ContainerMonitor { id, ready_fd } => {
            let code = engine_core::container::spawn::monitor_main(&engine, &id, ready_fd)?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(125)));
        }
    }
    Ok(ExitCode::SUCCESS)
}
