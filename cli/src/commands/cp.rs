//! `engine cp`: between a container and the host, either way, with Docker's rules for what
//! the destination becomes (an existing directory receives the source under its name, a
//! missing path becomes a copy, `SRC/.` copies a directory's content) and `-` for a tar on
//! standard input or output.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};

use crate::args::CpArgs;
use engine_core::container::copy::{self, Ownership, PathStat};
use engine_core::container::record::Record;
use engine_core::container::store::ContainerStore;
use engine_core::engine::Engine;

/// One side of a copy: `CONTAINER:PATH` or a local path (`-`: standard input or output).
#[derive(Debug, PartialEq, Eq)]
enum Side {
    Container(String, String),
    Local(String),
}

/// Docker's split: a local path when it starts with `/` or `.` or has no `:`.
fn side(arg: &str) -> Side {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Local(arg.to_string());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => Side::Container(c.to_string(), p.to_string()),
        _ => Side::Local(arg.to_string()),
    }
}

pub fn run(engine: &Engine, args: CpArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    // Docker's CLI names what was missing as CONTAINER:PATH.
    let missing = match (side(&args.src), side(&args.dest)) {
        (Side::Container(c, p), _) | (_, Side::Container(c, p)) => format!("{c}:{p}"),
        _ => String::new(),
    };
    match (side(&args.src), side(&args.dest)) {
        (Side::Container(..), Side::Container(..)) => {
            bail!("copying between containers is not supported")
        }
        (Side::Local(_), Side::Local(_)) => {
            bail!("must specify at least one container source")
        }
        (Side::Container(c, path), Side::Local(dest)) => {
            let record = store.resolve(&c)?;
            from_container(engine, &record, &path, &dest, &args)
        }
        (Side::Local(src), Side::Container(c, path)) => {
            let record = store.resolve(&c)?;
            to_container(engine, &record, &src, &path, &args)
        }
    }
    .map_err(|e| match e.downcast_ref::<copy::NoSuchPath>() {
        Some(_) => anyhow!("No such container:path: {missing}"),
        None => e,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Where to extract and under which top name: `(directory, name)`; name `"."` puts a
/// directory's content straight into the directory.
fn placement(
    src_path: &str,
    src_is_dir: bool,
    dest: &str,
    dest_is_dir: Option<bool>,
) -> Result<(String, String)> {
    let contents = src_is_dir && (src_path.ends_with("/.") || src_path == ".");
    match dest_is_dir {
        Some(true) => Ok((
            dest.to_string(),
            if contents {
                ".".into()
            } else {
                copy::base_name(src_path)
            },
        )),
        Some(false) => {
            if src_is_dir {
                bail!("cannot copy a directory to a file: {dest}");
            }
            Ok((parent(dest), copy::base_name(dest)))
        }
        None => {
            if dest.ends_with('/') && !src_is_dir {
                bail!("destination directory {dest} does not exist");
            }
            Ok((parent(dest), copy::base_name(dest)))
        }
    }
}

fn parent(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((dir, _)) => dir.to_string(),
        None => ".".into(),
    }
}

fn from_container(
    engine: &Engine,
    record: &Record,
    path: &str,
    dest: &str,
    args: &CpArgs,
) -> Result<()> {
    let mut path = path.to_string();
    if args.follow_link {
        let st = copy::stat(engine, record, &path)?;
        if !st.link_target.is_empty() {
            path = st.link_target;
        }
    }
    if dest == "-" {
        let mut out = io::BufWriter::new(io::stdout());
        copy::read(engine, record, &path, None, &mut |_| Ok(()), &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let st: PathStat = copy::stat(engine, record, &path)?;
    let dest_is_dir = std::fs::metadata(dest).ok().map(|m| m.is_dir());
    let (dir, name) = placement(&path, st.is_dir(), dest, dest_is_dir)?;
    if !Path::new(&dir).is_dir() {
        bail!("no such directory: {dir}");
    }
    // Files land owned by whoever runs the copy, unless -a keeps the container's owners.
    let owner = (!args.archive).then(|| {
        (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    });
    let (reader, mut writer) = io::pipe().context("creating a pipe")?;
    let dir = PathBuf::from(dir);
    let extractor = std::thread::spawn(move || {
        let mut reader = reader;
        let r = copy::extract_tar_here(&dir, &mut reader, false, owner);
        // Drain, so the writer never blocks on a reader that gave up.
        let _ = io::copy(&mut reader, &mut io::sink());
        r
    });
    let read = copy::read(
        engine,
        record,
        &path,
        Some(&name),
        &mut |_| Ok(()),
        &mut writer,
    );
    drop(writer);
    let extracted = extractor
        .join()
        .map_err(|_| anyhow!("the extraction thread panicked"))?;
    read?;
    extracted
}

fn to_container(
    engine: &Engine,
    record: &Record,
    src: &str,
    path: &str,
    args: &CpArgs,
) -> Result<()> {
    let ownership = if args.archive {
        Ownership::ContainerUser
    } else {
        Ownership::Root
    };
    if src == "-" {
        let mut input = io::stdin();
        return copy::write(
            engine,
            record,
            path,
            &mut input,
            true,
            Ownership::FromArchive,
        );
    }
    let meta = if args.follow_link {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    }
    .with_context(|| format!("lstat {src}"))?;
    let dest_is_dir = match copy::stat(engine, record, path) {
        Ok(st) => Some(st.is_dir()),
        Err(e) if e.downcast_ref::<copy::NoSuchPath>().is_some() => None,
        Err(e) => return Err(e),
    };
    let (dir, name) = placement(src, meta.is_dir(), path, dest_is_dir)?;
    let (mut reader, writer) = io::pipe().context("creating a pipe")?;
    let source = if args.follow_link && !src.ends_with('/') {
        // Follow the last symlink: archive what it names, under the link's name.
        std::fs::canonicalize(src).with_context(|| format!("resolving {src}"))?
    } else {
        PathBuf::from(src)
    };
    let archiver = std::thread::spawn(move || {
        let mut writer = writer;
        copy::write_tar_here(&source, &name, &mut writer)
    });
    let written = copy::write(engine, record, &dir, &mut reader, true, ownership);
    let _ = io::copy(&mut reader, &mut io::sink());
    let archived = archiver
        .join()
        .map_err(|_| anyhow!("the archive thread panicked"))?;
    written?;
    archived
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_split_as_dockers() {
        assert_eq!(
            side("web:/etc/hosts"),
            Side::Container("web".into(), "/etc/hosts".into())
        );
        assert_eq!(side("/tmp/a:b"), Side::Local("/tmp/a:b".into()));
        assert_eq!(side("./x"), Side::Local("./x".into()));
        assert_eq!(side("-"), Side::Local("-".into()));
    }

    #[test]
    fn destinations_follow_dockers_rules() {
        assert_eq!(
            placement("/etc/hosts", false, "/tmp", Some(true)).unwrap(),
            ("/tmp".into(), "hosts".into())
        );
        assert_eq!(
            placement("/etc/hosts", false, "/tmp/new", None).unwrap(),
            ("/tmp".into(), "new".into())
        );
        assert_eq!(
            placement("/etc/.", true, "/tmp/x", Some(true)).unwrap(),
            ("/tmp/x".into(), ".".into())
        );
        assert_eq!(
            placement("/etc", true, "/tmp/x", None).unwrap(),
            ("/tmp".into(), "x".into())
        );
        assert!(placement("/etc", true, "/tmp/file", Some(false)).is_err());
        assert!(placement("/etc/hosts", false, "/tmp/nodir/", None).is_err());
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("rel"), ".");
    }
}
