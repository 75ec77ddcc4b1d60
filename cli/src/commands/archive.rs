//! `save` and `load`: the command-line side of [`distribution::archive`].

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::args::{LoadArgs, SaveArgs, SaveFormat};
use distribution::archive::{Format, Loaded, Source};
use distribution::progress::Progress;
use engine_core::engine::Engine;

pub fn save(engine: &Engine, args: SaveArgs) -> Result<()> {
    if let Some(path) = &args.output {
        validate_output_path(path).context("failed to save image")?;
    }
    let format = match args.format {
        SaveFormat::Docker => Format::Docker,
        SaveFormat::Oci => Format::Oci,
    };
    write_output(args.output.as_deref(), &mut |out| {
        engine_core::transfer::save(engine, &args.images, format, out)
    })
}

/// Refuses an output path that exists and is neither a regular file nor absent, as Docker's CLI
/// does for `save -o` and `export -o`: the temp file renamed into place would replace a device
/// node or a FIFO (`/dev/null`) with a regular file. A directory is refused too, before any
/// work, where Docker fails only at the final rename. A symlink is judged by what it points to.
pub(super) fn validate_output_path(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir
        && !dir.exists()
    {
        bail!(
            "invalid output path: directory {:?} does not exist",
            dir.display().to_string()
        );
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    };
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    if t.is_dir() {
        bail!(
            "invalid output path: {:?} is a directory: name a file to write",
            path.display().to_string()
        );
    }
    let got = if t.is_block_device() || t.is_char_device() {
        "got a device"
    } else if t.is_fifo() {
        "got a named pipe"
    } else if t.is_socket() {
        "got a socket"
    } else {
        "got an irregular file"
    };
    bail!(
        "invalid output path: {:?} must be a directory or a regular file: {got}",
        path.display().to_string()
    )
}

/// Runs `write` on `path`, or on standard output (never a terminal) when there is none. A
/// file is written aside and renamed into place, so a failure never leaves a partial file
/// under the name asked for.
pub(super) fn write_output(
    path: Option<&Path>,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let Some(path) = path else {
        if io::stdout().is_terminal() {
            bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        }
        let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
        write(&mut out)?;
        return Ok(out.flush()?);
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".engine-out-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    // What a plain create would give under the usual umask (tempfile makes 0600).
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
    write(&mut out)?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    drop(out);
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn load(engine: &Engine, args: LoadArgs) -> Result<()> {
    let scratch = engine.settings.data_root.clone();
    let source = match &args.input {
        Some(path) => Source::open(path, &scratch)?,
        None => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            let fd0 = File::open("/proc/self/fd/0")
                .and_then(|f| f.metadata())
                .map(|m| m.file_type());
            match fd0 {
                Ok(t) if t.is_file() => Source::open(Path::new("/proc/self/fd/0"), &scratch)?,
                Ok(t) if t.is_block_device() => bail!("cannot load from a block device"),
                _ => Source::extract(stdin.lock(), &scratch)?,
            }
        }
    };
    // Docker shows a bar per layer on a terminal and nothing but the result elsewhere.
    let progress = Progress::new(args.quiet || !io::stdout().is_terminal());
    let loaded = engine_core::transfer::load(engine, &source, &progress);
    source.close();
    for l in loaded? {
        match l {
            Loaded::Tag(r) => progress.result(&format!("Loaded image: {}", r.familiar())),
            Loaded::Id(id) => progress.result(&format!("Loaded image ID: {id}")),
        }
    }
    Ok(())
}
