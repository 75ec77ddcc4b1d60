//! `engine bench`: the storage workloads of `benches/workloads/mod.rs` (the code the criterion
//! bench runs) on this host's disk, for each storage driver this host supports, against the
//! bare filesystem, measured one way for all of them:
//!
//! - Each driver gets a suite on a filesystem made for it: an image file in `--dir` (the data
//!   root by default; 4 GiB, 1 GiB with `--quick`, allocated up front, made without discard),
//!   loop-mounted, fresh, so earlier deletes, discards and other activity on the disk do not
//!   bleed into its rows.
//!   The suite's data root is on it.
//! - The same program (this binary, `bench --run-workloads DIR`) runs the workloads inside a
//!   container of the suite's image in every case: on the container's root (the driver under
//!   test) and on a directory of the same scratch filesystem bind-mounted at `/bare`, holding
//!   the image's files (the limit), nested in the suite's data root like the drivers' layers. Only the directory written to differs: same process
//!   context (namespaces, cgroup), same filesystem, same code.
//! - The program is not copied into the image: it and the directories of its shared libraries
//!   are bind-mounted read-only, and it is started through its own dynamic loader.
//!
//! Each workload times its own I/O (an untimed `syncfs` first), so container start-up is not
//! in the figures.

#[path = "../../../benches/workloads/mod.rs"]
mod workloads;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use serde::Serialize;

use crate::bench_args::BenchArgs;
use engine_core::config::Settings;
use workloads::{Sizes, Timings};

/// The image each suite imports (the image layer of the workloads).
const IMAGE: &str = "engine-bench:base";
/// Where the container sees the limit's directory.
const BARE_IN_CONTAINER: &str = "/bare";
/// Where the benchmark program and its libraries appear in the container.
const PROGRAM_DIR: &str = "/.engine-bench";

/// The four workloads, in the order they run, by their key in [`Timings`].
const WORKLOADS: [&str; 4] = [
    "create_files",
    "seq_write",
    "random_overwrite",
    "append_byte",
];

/// Runs `engine bench`.
pub fn run(args: BenchArgs, settings: &Settings) -> Result<ExitCode> {
    if let Some(dir) = &args.run_workloads {
        return run_workloads(dir, args.quick);
    }
    if args.print_program {
        let exe = std::env::current_exe().context("finding this program")?;
        let program = Program::resolve(&exe)?;
        let doc = serde_json::json!({ "binds": program.binds, "argv": program.argv });
        println!("{doc}");
        return Ok(ExitCode::SUCCESS);
    }
    let format = match args.format.as_str() {
        "table" | "json" => args.format.as_str(),
        other => bail!("invalid --format {other:?}: use table or json"),
    };
    let backing = match args.backing_fs.as_str() {
        "ext4" => BackingFs::Ext4,
        "xfs" => BackingFs::Xfs,
        other => bail!("invalid --backing-fs {other:?}: use ext4 or xfs"),
    };
    let reps = args.reps.unwrap_or(if args.quick { 1 } else { 3 });
    if reps == 0 {
        bail!("invalid --reps 0: at least one repetition is needed");
    }
    let names: Vec<&str> = engine_core::drivers::table()
        .iter()
        .map(|e| e.name)
        .collect();
    let (drivers, explicit) = match &settings.storage_driver {
        Some(d) if names.contains(&d.as_str()) => (vec![d.clone()], true),
        Some(d) => bail!(
            "unknown storage driver {d:?} for bench; available: {}",
            names.join(", ")
        ),
        None => (names.iter().map(|s| s.to_string()).collect(), false),
    };
    if !nix::unistd::geteuid().is_root() {
        bail!("engine bench must run as root: it mounts scratch filesystems and runs containers");
    }
    for tool in backing.tools() {
        which(tool)
            .with_context(|| format!("engine bench with --backing-fs {}", args.backing_fs))?;
    }

    let sizes = Sizes::pick(args.quick);
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| settings.data_root.clone());
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("engine-bench-")
        .tempdir_in(&dir)
        .with_context(|| format!("creating a scratch directory in {}", dir.display()))?;
    let exe = std::env::current_exe().context("finding this program")?;
    let program = Program::resolve(&exe)?;

    progress(&format!(
        "writing the image layer ({} sizes)",
        if args.quick { "quick" } else { "full" }
    ));
    let base_tar = scratch.path().join("base.tar");
    let file =
        fs::File::create(&base_tar).with_context(|| format!("creating {}", base_tar.display()))?;
    workloads::write_base_layer(BufWriter::new(file), &sizes, None)
        .with_context(|| format!("writing {}", base_tar.display()))?;
    // An empty configuration: the suites' engines must not pick up the host's daemon.json
    // (its data-root or storage-driver would conflict with the suite's flags).
    let config = scratch.path().join("daemon.json");
    fs::write(&config, "{}\n").with_context(|| format!("writing {}", config.display()))?;

    catch_interrupts()?;
    let mut suites = Vec::new();
    for driver in &drivers {
        if INTERRUPTED.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        let mut suite = Suite {
            driver: driver.clone(),
            status: "ok".into(),
            limit: Vec::new(),
            measured: Vec::new(),
        };
        let setup = SuiteSetup {
            exe: &exe,
            program: &program,
            config: &config,
            base_tar: &base_tar,
            quick: args.quick,
            backing,
            user_opts: &settings.storage_opts,
        };
        match setup.run(scratch.path(), driver, reps, &mut suite) {
            Ok(()) => {}
            Err(SuiteError::Unsupported(why)) if !explicit => {
                progress(&format!("{driver}: not supported on this host: {why}"));
                suite.status = format!("not supported on this host: {why}");
            }
            Err(SuiteError::Unsupported(why)) => {
                bail!("storage driver {driver} is not supported on this host: {why}")
            }
            Err(SuiteError::Failed(e)) => return Err(e.context(format!("bench suite {driver}"))),
        }
        suites.push(suite);
    }
    drop(scratch);

    let report = Report::new(&sizes, reps, &dir, backing, &suites);
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// The hidden mode the benchmark containers run: the workloads on `dir`, timings as JSON.
fn run_workloads(dir: &Path, quick: bool) -> Result<ExitCode> {
    let sizes = Sizes::pick(quick);
    let timings = workloads::run_all(dir, &sizes)
        .with_context(|| format!("running the workloads on {}", dir.display()))?;
    let doc = serde_json::json!({ "timings": timings, "sizes": sizes });
    println!("{doc}");
    Ok(ExitCode::SUCCESS)
}

/// Set by SIGINT/SIGTERM: Ctrl-C also stops the running engine child (same process group),
/// its suite fails, and the suite's guards unmount and delete what it made before exiting.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_interrupts() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }.with_context(|| format!("catching {sig}"))?;
    }
    Ok(())
}

fn progress(msg: &str) {
    eprintln!("bench: {msg}");
}

fn which(tool: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("{tool} not found (Debian: e2fsprogs, xfsprogs, mount)"))
}

#[derive(Debug, Clone, Copy)]
enum BackingFs {
    Ext4,
    Xfs,
}

impl BackingFs {
    fn name(self) -> &'static str {
        match self {
            BackingFs::Ext4 => "ext4",
            BackingFs::Xfs => "xfs (reflink=1)",
        }
    }

    fn tools(self) -> [&'static str; 2] {
        match self {
            BackingFs::Ext4 => ["mkfs.ext4", "mount"],
            BackingFs::Xfs => ["mkfs.xfs", "mount"],
        }
    }

    fn mkfs(self, image: &Path) -> Command {
        let mut c = match self {
            // The journal is what the default mkfs makes: an ext4 without one checks every
            // free inode it passes for a recent delete (fs/ext4/ialloc.c recently_deleted),
            // which made file creation crawl after deletes in earlier benchmarks.
            // No discard at mkfs: on an image file, mkfs.ext4's discard punches holes, which
            // undid the image's allocation up front (a 1 GiB image was left with 33 MiB
            // allocated), so a workload's first write to a region paid for allocating it in
            // the filesystem below, and the limit's files met more of those regions than the
            // driver's (docs/benchmarks.md). mkfs.xfs punched none here; -K all the same.
            BackingFs::Ext4 => {
                let mut c = Command::new("mkfs.ext4");
                c.args(["-q", "-F", "-E", "nodiscard"]);
                c
            }
            BackingFs::Xfs => {
                let mut c = Command::new("mkfs.xfs");
                c.args(["-q", "-f", "-K", "-m", "reflink=1"]);
                c
            }
        };
        c.arg(image);
        c
    }

    fn mount_opts(self) -> &'static str {
        match self {
            // No lazy inode-table initialisation thread writing in the background of the
            // measurements.
            BackingFs::Ext4 => "loop,noinit_itable",
            BackingFs::Xfs => "loop",
        }
    }
}

/// This program as the containers run it: bind mounts and the command line's prefix.
#[derive(Debug)]
struct Program {
    /// `-v` values: the program and its libraries' directories, read-only.
    binds: Vec<String>,
    /// The command up to (and including) the program's path.
    argv: Vec<String>,
}

impl Program {
    /// Finds `exe`'s loader and libraries with `ldd`; a static program needs neither.
    fn resolve(exe: &Path) -> Result<Program> {
        let exe = fs::canonicalize(exe).with_context(|| format!("resolving {}", exe.display()))?;
        let in_container = format!("{PROGRAM_DIR}/engine");
        let mut binds = vec![bind(&exe, &in_container)?];
        let out = Command::new("ldd")
            .arg(&exe)
            .output()
            .context("running ldd (Debian: libc-bin) to find this program's libraries")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || text.contains("statically linked") {
            let err = String::from_utf8_lossy(&out.stderr);
            if text.contains("statically linked")
                || text.contains("not a dynamic executable")
                || err.contains("not a dynamic executable")
            {
                return Ok(Program {
                    binds,
                    argv: vec![in_container],
                });
            }
            bail!("ldd {}: {}", exe.display(), err.trim());
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut loader: Option<PathBuf> = None;
        for line in text.lines().map(str::trim) {
            let path = match line.split_once(" => ") {
                Some((name, rest)) => {
                    let path = rest.split(" (").next().unwrap_or("").trim();
                    if !path.starts_with('/') {
                        bail!("ldd {}: {name} {path}", exe.display());
                    }
                    PathBuf::from(path)
                }
                None if line.starts_with('/') => {
                    let path = PathBuf::from(line.split(" (").next().unwrap_or(line));
                    loader = Some(fs::canonicalize(&path).with_context(|| {
                        format!("resolving the dynamic loader {}", path.display())
                    })?);
                    continue;
                }
                None => continue, // linux-vdso.so.1: in the kernel
            };
            // The directory as the loader searches it (where the soname links are).
            let dir = path
                .parent()
                .map(fs::canonicalize)
                .transpose()
                .with_context(|| format!("resolving {}", path.display()))?
                .ok_or_else(|| anyhow!("ldd printed a library without a directory: {line}"))?;
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        let loader = loader.ok_or_else(|| {
            anyhow!(
                "ldd {} named no dynamic loader: cannot start it in a container",
                exe.display()
            )
        })?;
        let loader_dir = loader
            .parent()
            .ok_or_else(|| anyhow!("the dynamic loader {} has no directory", loader.display()))?
            .to_path_buf();
        if !dirs.contains(&loader_dir) {
            dirs.push(loader_dir.clone());
        }
        let mut lib_path = Vec::new();
        let mut loader_in = String::new();
        for (i, dir) in dirs.iter().enumerate() {
            let target = format!("{PROGRAM_DIR}/lib{i}");
            binds.push(bind(dir, &target)?);
            if *dir == loader_dir {
                let name = loader.file_name().unwrap_or_default().to_string_lossy();
                loader_in = format!("{target}/{name}");
            }
            lib_path.push(target);
        }
        Ok(Program {
            binds,
            argv: vec![
                loader_in,
                "--library-path".into(),
                lib_path.join(":"),
                in_container,
            ],
        })
    }
}

fn bind(source: &Path, target: &str) -> Result<String> {
    let s = source
        .to_str()
        .filter(|s| !s.contains(':'))
        .ok_or_else(|| {
            anyhow!(
                "{} cannot be bind-mounted with -v (a ':' or non-UTF-8 in its path)",
                source.display()
            )
        })?;
    Ok(format!("{s}:{target}:ro"))
}

/// One driver's results.
#[derive(Debug, Serialize)]
struct Suite {
    driver: String,
    status: String,
    /// The workloads on the bind-mounted bare directory, one entry per repetition.
    limit: Vec<Timings>,
    /// The workloads on the container's root (the driver), one entry per repetition.
    measured: Vec<Timings>,
}

enum SuiteError {
    Unsupported(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for SuiteError {
    fn from(e: anyhow::Error) -> Self {
        SuiteError::Failed(e)
    }
}

struct SuiteSetup<'a> {
    exe: &'a Path,
    program: &'a Program,
    config: &'a Path,
    base_tar: &'a Path,
    quick: bool,
    backing: BackingFs,
    user_opts: &'a [String],
}

impl SuiteSetup<'_> {
    fn run(
        &self,
        scratch: &Path,
        driver: &str,
        reps: u32,
        suite: &mut Suite,
    ) -> std::result::Result<(), SuiteError> {
        let image_bytes: u64 = if self.quick { 1 << 30 } else { 4 << 30 };
        progress(&format!(
            "{driver}: making a fresh {} filesystem ({} GiB image)",
            self.backing.name(),
            image_bytes >> 30
        ));
        let fsys = ScratchFs::make(scratch, driver, image_bytes, self.backing)?;
        let mut opts = self.user_opts.to_vec();
        if driver == "devicemapper" && opts.is_empty() {
            // The loop-lvm pool's sparse files live on the scratch filesystem: size them to
            // fit it (the defaults are 100 GiB of data and a 10 GiB base device).
            let data = image_bytes * 6 / 10;
            opts.push(format!("dm.loopdatasize={}M", data >> 20));
            opts.push("dm.loopmetadatasize=256M".into());
            opts.push("dm.basesize=4G".into());
        }
        let engine = SuiteEngine {
            exe: self.exe,
            config: self.config,
            root: fsys.mnt.join("root"),
            driver,
            opts: &opts,
        };
        let guard = DriverCleanup {
            root: engine.root.clone(),
            driver: driver.to_string(),
            opts: opts.clone(),
        };
        if let Err(e) = engine.output(&[OsString::from("info")]) {
            return Err(SuiteError::Unsupported(format!("{e:#}")));
        }
        progress(&format!("{driver}: importing the image"));
        engine.output(&["import".into(), self.base_tar.into(), IMAGE.into()])?;
        // Nested in the data root like the drivers' layer directories, not at the top of the
        // filesystem: ext4 places top-level directories apart (Orlov), and a top-level bare
        // directory wrote 256 MiB ~30% slower than a vfs layer beside it (docs/benchmarks.md).
        let bare = engine.root.join("bench-bare").join("dir");
        for rep in 1..=reps {
            // Alternate which goes first, so neither always meets the other's writeback.
            let order = if rep % 2 == 1 {
                [true, false]
            } else {
                [false, true]
            };
            for on_bare in order {
                if INTERRUPTED.load(Ordering::SeqCst) {
                    return Err(anyhow!("interrupted").into());
                }
                progress(&format!(
                    "{driver}: {rep}/{reps}: workloads on {}",
                    if on_bare {
                        "the bare directory (limit)"
                    } else {
                        "the container's root"
                    }
                ));
                if on_bare {
                    fs::create_dir_all(&bare).context("creating the bare directory")?;
                    unpack(self.base_tar, &bare)?;
                    suite.limit.push(self.container(&engine, Some(&bare))?);
                    fs::remove_dir_all(&bare)
                        .with_context(|| format!("removing {}", bare.display()))?;
                } else {
                    suite.measured.push(self.container(&engine, None)?);
                }
            }
        }
        engine.output(&["rmi".into(), IMAGE.into()])?;
        drop(guard);
        drop(fsys);
        Ok(())
    }

    /// One fresh container running the workloads on its root, or on `bare` mounted at
    /// [`BARE_IN_CONTAINER`].
    fn container(&self, engine: &SuiteEngine, bare: Option<&Path>) -> Result<Timings> {
        workloads::syncfs(&engine.root)?;
        let mut args: Vec<OsString> = vec![
            "run".into(),
            "--rm".into(),
            "--network".into(),
            "none".into(),
        ];
        for b in &self.program.binds {
            args.push("-v".into());
            args.push(b.into());
        }
        if let Some(bare) = bare {
            args.push("-v".into());
            args.push(
                bind(bare, BARE_IN_CONTAINER)?
                    .trim_end_matches(":ro")
                    .into(),
            );
        }
        args.push(IMAGE.into());
        args.extend(self.program.argv.iter().map(OsString::from));
        args.extend(["bench".into(), "--run-workloads".into()]);
        args.push(
            if bare.is_some() {
                BARE_IN_CONTAINER
            } else {
                "/"
            }
            .into(),
        );
        if self.quick {
            args.push("--quick".into());
        }
        let out = engine.output(&args)?;
        #[derive(serde::Deserialize)]
        struct Doc {
            timings: Timings,
        }
        let doc: Doc = serde_json::from_str(out.trim())
            .with_context(|| format!("reading the workloads' timings from {out:?}"))?;
        Ok(doc.timings)
    }
}

/// The suite's engine: this program on the suite's data root.
struct SuiteEngine<'a> {
    exe: &'a Path,
    config: &'a Path,
    root: PathBuf,
    driver: &'a str,
    opts: &'a [String],
}

impl SuiteEngine<'_> {
    /// Runs one engine command; its stdout, or an error with its stderr.
    fn output(&self, args: &[OsString]) -> Result<String> {
        let mut cmd = Command::new(self.exe);
        cmd.arg("--config")
            .arg(self.config)
            .arg("--data-root")
            .arg(&self.root)
            .arg("--storage-driver")
            .arg(self.driver);
        for o in self.opts {
            cmd.arg("--storage-opt").arg(o);
        }
        cmd.args(args).stdin(Stdio::null());
        let out = cmd
            .output()
            .with_context(|| format!("running {}", self.exe.display()))?;
        if !out.status.success() {
            let what: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
            bail!(
                "engine {} failed ({}): {}",
                what.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Releases what the suite's driver holds at the end (devicemapper's pool and loop devices;
/// leftover mounts of the others), even when the suite failed.
struct DriverCleanup {
    root: PathBuf,
    driver: String,
    opts: Vec<String>,
}

impl Drop for DriverCleanup {
    fn drop(&mut self) {
        let Some(entry) = engine_core::drivers::table()
            .iter()
            .find(|e| e.name == self.driver)
        else {
            return;
        };
        let Ok(options) = graph::options::parse_storage_opts(entry.name, &self.opts) else {
            return;
        };
        let config = graph::DriverConfig {
            home: self.root.join(entry.name),
            options,
        };
        if !config.home.exists() {
            return;
        }
        match (entry.init)(&config) {
            Ok(driver) => {
                if let Err(e) = driver.cleanup() {
                    progress(&format!("{}: cleanup: {e}", self.driver));
                }
            }
            Err(e) => progress(&format!("{}: cleanup: {e}", self.driver)),
        }
    }
}

/// A fresh filesystem on a sparse image file, loop-mounted; unmounted and deleted on drop.
struct ScratchFs {
    image: PathBuf,
    mnt: PathBuf,
}

impl ScratchFs {
    fn make(scratch: &Path, name: &str, bytes: u64, backing: BackingFs) -> Result<ScratchFs> {
        let image = scratch.join(format!("{name}.img"));
        let mnt = scratch.join(name);
        fs::create_dir_all(&mnt).with_context(|| format!("creating {}", mnt.display()))?;
        let f =
            fs::File::create(&image).with_context(|| format!("creating {}", image.display()))?;
        // Allocated up front, so no workload pays for allocating its region of the image in
        // the filesystem below.
        nix::fcntl::fallocate(&f, nix::fcntl::FallocateFlags::empty(), 0, bytes as i64)
            .with_context(|| {
                format!(
                    "allocating {} GiB for {} (free space in --dir is needed)",
                    bytes >> 30,
                    image.display()
                )
            })?;
        drop(f);
        check(backing.mkfs(&image), "mkfs")?;
        check(
            {
                let mut c = Command::new("mount");
                c.arg("-o").arg(backing.mount_opts()).arg(&image).arg(&mnt);
                c
            },
            "mount",
        )?;
        let scratch = ScratchFs { image, mnt };
        scratch.direct_io()?;
        Ok(scratch)
    }
}

impl ScratchFs {
    /// Puts the loop device under the scratch filesystem in direct-I/O mode: a buffered loop
    /// caches every block twice (the filesystem's page cache and the image file's), and a
    /// write then costs more on blocks never written since the image was made than on blocks
    /// still cached from an earlier write, so the limit and the driver, whose files land on
    /// different blocks, were not measured alike (docs/benchmarks.md). The loop device stays
    /// the one `mount -o loop` made (it detaches itself on unmount).
    /// `ENGINE_BENCH_BUFFERED_LOOP=1` keeps the buffered loop, to measure the difference.
    fn direct_io(&self) -> Result<()> {
        if buffered_loop() {
            return Ok(());
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
        // Field 5 is the mount point; the source follows the " - fstype " separator.
        let dev = mountinfo
            .lines()
            .filter(|l| l.split(' ').nth(4).map(Path::new) == Some(self.mnt.as_path()))
            .filter_map(|l| l.split(" - ").nth(1)?.split(' ').nth(1))
            .next_back()
            .filter(|d| d.starts_with("/dev/loop"))
            .ok_or_else(|| anyhow!("no loop device under {}", self.mnt.display()))?;
        check(
            {
                let mut c = Command::new("losetup");
                c.arg("--direct-io=on").arg(dev);
                c
            },
            "losetup --direct-io=on",
        )
    }
}

/// `ENGINE_BENCH_BUFFERED_LOOP=1`: the scratch filesystems on buffered loop devices.
fn buffered_loop() -> bool {
    std::env::var_os("ENGINE_BENCH_BUFFERED_LOOP").is_some_and(|v| v == "1")
}

impl Drop for ScratchFs {
    fn drop(&mut self) {
        // Anything a failed suite left mounted under it first (deepest first), then itself.
        let mut under: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
            .filter(|p| p.starts_with(&self.mnt) && *p != self.mnt)
            .collect();
        under.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in under {
            let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Err(e) = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::empty()) {
            progress(&format!(
                "unmounting {}: {e}; detaching it",
                self.mnt.display()
            ));
            let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_dir(&self.mnt);
        let _ = fs::remove_file(&self.image);
    }
}

fn check(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn unpack(tar_path: &Path, dir: &Path) -> Result<()> {
    let f = fs::File::open(tar_path).with_context(|| format!("opening {}", tar_path.display()))?;
    let mut archive = tar::Archive::new(f);
    archive.set_preserve_permissions(true);
    archive
        .unpack(dir)
        .with_context(|| format!("unpacking the image layer into {}", dir.display()))
}

/// Median, minimum and maximum of one workload over the repetitions (seconds).
#[derive(Debug, Serialize, Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(mut v: Vec<f64>) -> Option<Stat> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// The spread of the repetitions, relative to the median.
    fn noise(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

fn pick(t: &Timings, key: &str) -> f64 {
    match key {
        "create_files" => t.create_files,
        "seq_write" => t.seq_write,
        "random_overwrite" => t.random_overwrite,
        _ => t.append_byte,
    }
}

#[derive(Debug, Serialize)]
struct Row {
    workload: &'static str,
    description: String,
    driver: String,
    limit: Stat,
    measured: Stat,
    /// measured / limit, medians: above 1 is slower than the bare filesystem.
    ratio: f64,
    /// The limit's spread over the repetitions, relative to its median.
    limit_noise: f64,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    method: &'static str,
    backing_filesystem: &'static str,
    /// How the scratch filesystems' loop devices do I/O: "direct-io" or "buffered".
    scratch_loop: &'static str,
    dir: PathBuf,
    repetitions: u32,
    sizes: Sizes,
    rows: Vec<Row>,
    suites: &'a [Suite],
}

impl<'a> Report<'a> {
    fn new(sizes: &Sizes, reps: u32, dir: &Path, backing: BackingFs, suites: &'a [Suite]) -> Self {
        let mut rows = Vec::new();
        for w in WORKLOADS {
            for s in suites {
                let (Some(limit), Some(measured)) = (
                    Stat::of(s.limit.iter().map(|t| pick(t, w)).collect()),
                    Stat::of(s.measured.iter().map(|t| pick(t, w)).collect()),
                ) else {
                    continue;
                };
                rows.push(Row {
                    workload: w,
                    description: describe(w, sizes),
                    driver: s.driver.clone(),
                    ratio: if limit.median > 0.0 {
                        measured.median / limit.median
                    } else {
                        f64::NAN
                    },
                    limit_noise: limit.noise(),
                    limit,
                    measured,
                });
            }
        }
        Report {
            method: "each driver on a fresh loop-mounted filesystem; the same program in a container \
                     writes to the container's root (driver) or to a bind-mounted directory of that \
                     filesystem (limit)",
            backing_filesystem: backing.name(),
            scratch_loop: if buffered_loop() {
                "buffered"
            } else {
                "direct-io"
            },
            dir: dir.to_path_buf(),
            repetitions: reps,
            sizes: *sizes,
            rows,
            suites,
        }
    }
}

fn describe(w: &str, s: &Sizes) -> String {
    let mib = |b: u64| b >> 20;
    match w {
        "create_files" => format!(
            "create {} files of {} KiB + syncfs",
            s.new_files,
            s.new_file_bytes / 1024
        ),
        "seq_write" => format!("sequential write {} MiB + fsync", mib(s.seq_bytes)),
        "random_overwrite" => format!(
            "{} random 4 KiB overwrites + fdatasync, {} MiB lower file",
            s.overwrites,
            mib(s.hot_bytes)
        ),
        _ => format!(
            "append 1 byte to a {} MiB lower file + fsync",
            mib(s.big_bytes)
        ),
    }
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

fn print_table(r: &Report) {
    println!(
        "Storage benchmark: {} on a fresh loop image per driver in {}; {} repetition(s), medians.",
        r.backing_filesystem,
        r.dir.display(),
        r.repetitions
    );
    println!(
        "Limit: the same workloads in the same kind of container, on a bind-mounted directory of \
         that filesystem."
    );
    println!();
    let mut table: Vec<[String; 6]> = vec![[
        "WORKLOAD".into(),
        "DRIVER".into(),
        "LIMIT (BARE)".into(),
        "DRIVER TIME".into(),
        "VS LIMIT".into(),
        "LIMIT NOISE".into(),
    ]];
    for row in &r.rows {
        table.push([
            row.description.clone(),
            row.driver.clone(),
            secs(row.limit.median),
            secs(row.measured.median),
            format!("{:.2}x", row.ratio),
            format!("{:.0}%", row.limit_noise * 100.0),
        ]);
    }
    let mut widths = [0usize; 6];
    for line in &table {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for line in &table {
        let cells: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("   ").trim_end());
    }
    let skipped: BTreeMap<&str, &str> = r
        .suites
        .iter()
        .filter(|s| s.status != "ok")
        .map(|s| (s.driver.as_str(), s.status.as_str()))
        .collect();
    for (d, why) in skipped {
        println!("{d}: {why}");
    }
}
