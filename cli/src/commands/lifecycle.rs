//! `engine` commands: lifecycle.

use crate::args::{KillArgs, RmArgs, StopArgs, WaitArgs};
use anyhow::Result;
use engine_core::container::lifecycle::{
    POLL, kill_one, pause_one, prune_stopped, remove_one_with_volumes, restart_one, stop_one,
    store, unpause_one,
};
use engine_core::engine::Engine;
use nix::sys::signal::Signal;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `f` on each name, printing the name on success and the error otherwise; fails at the
/// end when any failed, as Docker's CLI does.
pub(super) fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<ExitCode> {
    let mut failed = false;
    for name in names {
        match f(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = true;
            }
        }
    }
    let _ = std::io::stdout().flush();
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn stop(engine: &Engine, args: StopArgs) -> Result<ExitCode> {
    let store = store(engine)?;
    each(&args.containers, |name| {
        let record = store.resolve(name)?;
        stop_one(&store, &record, args.time.map(Duration::from_secs))
    })
}

pub fn restart(engine: &Engine, args: StopArgs) -> Result<ExitCode> {
    let store = store(engine)?;
    each(&args.containers, |name| {
        let record = store.resolve(name)?;
        restart_one(engine, &store, &record, args.time.map(Duration::from_secs)).map(drop)
    })
}

pub fn pause(engine: &Engine, args: WaitArgs) -> Result<ExitCode> {
    let store = store(engine)?;
    each(&args.containers, |name| {
        let record = store.resolve(name)?;
        pause_one(&store, &record)
    })
}

pub fn unpause(engine: &Engine, args: WaitArgs) -> Result<ExitCode> {
    let store = store(engine)?;
    each(&args.containers, |name| {
        let record = store.resolve(name)?;
        unpause_one(&store, &record)
    })
}

pub fn kill(engine: &Engine, args: KillArgs) -> Result<ExitCode> {
    let store = store(engine)?;
    let sig = Signal::try_from(runtime::parse_signal(&args.signal)?)?;
    each(&args.containers, |name| {
        let record = store.resolve(name)?;
        kill_one(&store, &record, name, sig)
    })
}

pub fn rm(engine: &Engine, args: RmArgs) -> Result<ExitCode> {
    let store = store(engine)?;
    each(&args.containers, |name| {
        let record = store.resolve(name)?;
        remove_one_with_volumes(engine, &store, &record, args.force, args.volumes)
    })
}

pub fn wait(engine: &Engine, args: WaitArgs) -> Result<ExitCode> {
    let store = store(engine)?;
    let mut failed = false;
    for name in &args.containers {
        let mut record = match store.resolve(name) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = true;
                continue;
            }
        };
        while record.state.running && store.monitor_alive(&record.id) {
            std::thread::sleep(POLL);
            match store.load(&record.id) {
                Ok(r) => record = r,
                Err(_) => break,
            }
        }
        println!("{}", record.state.exit_code);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn prune(engine: &Engine, force: bool, filters: &[String]) -> Result<ExitCode> {
    // Bad filters are refused before the question is asked.
    engine_core::prune::PruneFilter::parse(engine_core::prune::Kind::Containers, filters)?;
    if !force {
        print!(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let (deleted, reclaimed) = prune_stopped(engine, filters)?;
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in deleted {
            println!("{id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        distribution::human::size(reclaimed)
    );
    Ok(ExitCode::SUCCESS)
}
