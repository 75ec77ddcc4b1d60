//! `engine exec`: another process in a running container, through `runtime::exec`.

use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::Result;
use runtime::StdioSet;

use crate::args::ExecArgs;
use engine_core::container::store::ContainerStore;
use engine_core::container::{monitor, spec};
use engine_core::engine::Engine;

pub fn run(engine: &Engine, args: ExecArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    if !record.state.running || record.state.pid <= 0 || !store.monitor_alive(&record.id) {
        eprintln!(
            "Error response from daemon: Container {} is not running",
            record.id
        );
        return Ok(ExitCode::from(1));
    }
    if record.state.paused {
        eprintln!(
            "Error response from daemon: Container {} is paused, unpause the container before exec",
            record.id
        );
        return Ok(ExitCode::from(1));
    }
    let pid = record.state.pid;
    // The container's root as its init sees it: users and groups resolve there.
    let rootfs = PathBuf::from(format!("/proc/{pid}/root"));
    let mut record = record;
    record.exec_overrides(args.user.as_deref(), args.workdir.as_deref(), &args.env);
    let mut process = spec::process(&record, &rootfs, args.tty, args.interactive)?;
    process.args = args.command.clone();
    spec::privileged_exec(&mut process, args.privileged);
    let current = Arc::new(AtomicI32::new(0));
    if !args.tty && !args.detach {
        monitor::forward_signals(Arc::clone(&current))?;
    }
    let mut proc = match runtime::exec(pid, &process, StdioSet::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown"
            );
            return Ok(ExitCode::from(e.exit_code().unwrap_or(126) as u8));
        }
    };
    let root = &engine.settings.data_root;
    let events = engine_core::events::ExecEvents::new(
        root,
        &record,
        &engine_core::container::create::random_id(),
        &args.command,
    );
    events.created();
    events.started();
    if args.detach {
        // The process lives on with the container; nobody waits for it here.
        std::mem::forget(proc);
        return Ok(ExitCode::SUCCESS);
    }
    current.store(proc.pid(), Ordering::SeqCst);
    if let Some(master) = proc.take_pty_master() {
        let stdin = io::stdin();
        let stdout = io::stdout();
        runtime::copy_pty(master.as_fd(), stdin.as_fd(), stdout.as_fd())?;
    }
    let status = proc.wait()?;
    events.died(status.code);
    Ok(ExitCode::from(u8::try_from(status.code).unwrap_or(1)))
}
