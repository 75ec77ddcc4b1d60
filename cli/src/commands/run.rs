//! `engine` commands: run.

use crate::args::{RunArgs, StartArgs};
use anyhow::{Result, bail};
use engine_core::container::create::{self, Request};
use engine_core::container::monitor::{self, Mode};
use engine_core::container::spawn::spawn_monitor;
use engine_core::container::store::ContainerStore;
use engine_core::container::{ExitError, NoSuchImage};
use engine_core::engine::Engine;
use std::io::{self, IsTerminal};
use std::process::ExitCode;

/// `engine run`: exits with the container's status, or Docker's 125/126/127 when it could not
/// start.
pub fn run(engine: &Engine, args: RunArgs) -> Result<ExitCode> {
    let args = args.split();
    match run_inner(engine, &args) {
        Ok(code) => Ok(exit_code(code)),
        Err(e) => {
            let code = monitor::exit_code_of(&e);
            report_run_error(&e, "run");
            Ok(exit_code(code))
        }
    }
}

fn run_inner(engine: &Engine, args: &RunArgs) -> Result<i32> {
    if args.tty && args.interactive && !args.detach && !io::stdin().is_terminal() {
        return Err(ExitError::new(1, "the input device is not a TTY").into());
    }
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let (record, warnings) = create_pulling(engine, &store, &super::run_request::request(args)?)?;
    for w in warnings {
        eprintln!("{w}");
    }
    if args.detach {
        spawn_monitor(engine, &record.id)?;
        println!("{}", record.id);
        return Ok(0);
    }
    monitor::run(engine, &store, &record.id, Mode::Foreground)
}

/// Creates the container, pulling its image first when it is missing, as Docker's CLI does
/// ("Unable to find image ... locally" and the pull's status on stderr).
fn create_pulling(
    engine: &Engine,
    store: &ContainerStore,
    req: &Request,
) -> Result<(engine_core::container::record::Record, Vec<String>)> {
    match create::create(engine, store, req) {
        Err(e) if e.downcast_ref::<NoSuchImage>().is_some() => {
            let Some(NoSuchImage(familiar)) = e.downcast_ref::<NoSuchImage>() else {
                return Err(e);
            };
            eprintln!("Unable to find image '{familiar}' locally");
            let reference = graph::image::Reference::parse(familiar)?;
            if let Err(pull) =
                engine_core::registry::pull_missing(engine, &reference, &mut io::stderr())
            {
                return Err(ExitError::new(
                    125,
                    format!(
                        "{pull:#}\nTo use an image not in a registry, load it first: `engine load -i IMAGE.tar` (a `docker save` archive) or `engine import ROOTFS.tar {familiar}`."
                    ),
                )
                .into());
            }
            create::create(engine, store, req)
        }
        other => other,
    }
}

/// Prints a `run`/`create` failure as Docker's CLI does.
fn report_run_error(e: &anyhow::Error, command: &str) {
    let msg = format!("{e:#}");
    if let Some(NoSuchImage(familiar)) = e.downcast_ref::<NoSuchImage>() {
        eprintln!(
            "Unable to find image '{familiar}' locally\nengine: Error: No such image: {familiar}: this engine pulls only with `engine pull`.\nGet the image onto this machine: `engine pull {familiar}`, `engine import ROOTFS.tar {familiar}` (a root filesystem tarball) or `engine load -i IMAGE.tar` (a `docker save` archive)."
        );
    } else {
        let end = if msg.ends_with('.') { "" } else { "." };
        eprintln!("engine: Error: {msg}{end}");
    }
    eprintln!("See 'engine {command} --help'.");
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(125))
}

/// `engine create`: prints the new container's id.
pub fn create(engine: &Engine, args: RunArgs) -> Result<ExitCode> {
    let args = args.split();
    let store = ContainerStore::open(&engine.settings.data_root)?;
    match super::run_request::request(&args).and_then(|req| create_pulling(engine, &store, &req)) {
        Ok((record, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            println!("{}", record.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let code = monitor::exit_code_of(&e);
            report_run_error(&e, "create");
            Ok(exit_code(code))
        }
    }
}

/// `engine start`: starts each container in the background (or, with `-a`, the one given in
/// the foreground).
pub fn start(engine: &Engine, args: StartArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    if args.attach {
        return super::attach::start_attached(engine, &args);
    }
    let mut failed = Vec::new();
    for name in &args.containers {
        let result = store.resolve(name).and_then(|record| {
            engine_core::container::lifecycle::start_one(engine, &store, &record).map(drop)
        });
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed.push(name.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("failed to start containers: {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
