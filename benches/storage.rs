//! Storage benchmarks (criterion): the write workloads of `workloads/mod.rs` in a container's
//! writable layer, and the layer store's own operations, once per storage driver.
//!
//! ```text
//! sudo cargo bench --bench storage                                  overlay2 and vfs (and
//!                                                                   devicemapper where it exists)
//! sudo ENGINE_BENCH_DRIVERS=vfs cargo bench --bench storage         one driver
//! sudo ENGINE_BENCH_QUICK=1 cargo bench --bench storage             smoke run, small sizes
//! sudo cargo bench --bench storage -- seq_write                     criterion's name filter
//! scripts/bench-devicemapper.sh                                     devicemapper, in the VM
//! ```
//!
//! Each driver gets a fresh data root under `$ENGINE_BENCH_TMPDIR` (default `/var/tmp`, which
//! must not be tmpfs: the point is the disk) with one image layer registered (a 64 MiB and a
//! 100 MiB file and a few thousand small ones). Bodies, as `<body>/<driver>` (`<driver>-quick`
//! with `ENGINE_BENCH_QUICK=1`, so criterion never compares a smoke run with a real one):
//!
//! - `create_files`, `seq_write`, `random_overwrite`, `append_byte`: the workload, timed by
//!   itself, in a fresh writable layer (`LayerStore::create_rw` + `mount_rw`) on the image;
//!   the layer is made and removed outside the timing.
//! - `commit`: `LayerStore::commit_rw` of a writable layer holding all four workloads' changes.
//! - `apply`: `LayerStore::register` of a 150 MB / 10,000-file layer tar.
//! - `snapshot`: `create_rw` then `remove_rw` of a writable layer on the image.
//! - `mount_chain`: `Driver::get` of the top of a 128-deep chain of registered layers.
//!
//! Every sample of the container bodies is one container, so criterion is told a tiny target
//! time and prints "Unable to complete 10 samples" for them: that is expected. The data root
//! is unmounted and removed when a driver is done, also when a body panics; roots left by a
//! killed run (their lock file free) are swept at the next start. HTML report:
//! `target/criterion/report/index.html`.

#[path = "workloads/mod.rs"]
mod workloads;

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, Criterion, SamplingMode, Throughput};
#[cfg(feature = "devicemapper")]
use graph::options::StorageOpt;
use graph::{ChainId, CreateOpts, Driver, DriverConfig, LayerStore};
use workloads::Sizes;

fn main() {
    let sizes = Sizes::pick(env_flag("ENGINE_BENCH_QUICK"));
    if !nix::unistd::geteuid().is_root() {
        println!(
            "SKIP: storage benchmarks: need root (they mount overlayfs and apply layers with \
             ownership); run `sudo cargo bench --bench storage`"
        );
        return;
    }
    let drivers = match selected_drivers() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("storage benchmarks: {e:#}");
            std::process::exit(2);
        }
    };
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    for driver in drivers {
        let bench = match DriverBench::open(driver, sizes) {
            Ok(b) => b,
            Err(e) => {
                println!("SKIP: storage benchmarks on {driver}: {e:#}");
                continue;
            }
        };
        bench.run(&mut c);
    }
    c.final_summary();
}

/// `ENGINE_BENCH_DRIVERS` (comma-separated), else overlay2, vfs and, where this kernel has
/// device-mapper, devicemapper.
fn selected_drivers() -> Result<Vec<&'static str>> {
    let known: &[&'static str] = &["overlay2", "vfs", "devicemapper"];
    let Ok(list) = std::env::var("ENGINE_BENCH_DRIVERS") else {
        let mut d = vec!["overlay2", "vfs"];
        if dm_available() {
            d.push("devicemapper");
        }
        return Ok(d);
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            known
                .iter()
                .copied()
                .find(|k| *k == name)
                .with_context(|| {
                    format!("ENGINE_BENCH_DRIVERS: unknown driver {name:?} (known: overlay2, vfs, devicemapper)")
                })
        })
        .collect()
}

fn dm_available() -> bool {
    #[cfg(feature = "devicemapper")]
    {
        devmapper::available()
    }
    #[cfg(not(feature = "devicemapper"))]
    {
        false
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Where data roots go: `$ENGINE_BENCH_TMPDIR`, else `/var/tmp` (a disk, unlike `/tmp` on
/// many systems).
fn bench_tmpdir() -> PathBuf {
    std::env::var_os("ENGINE_BENCH_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"))
}

/// The driver `name` from the engine's own table, with the options a bench needs.
fn open_driver(name: &str, home: PathBuf) -> Result<Box<dyn Driver>> {
    let entry = engine_core::drivers::table()
        .iter()
        .find(|e| e.name == name)
        .with_context(|| format!("no {name} driver in this build"))?;
    let opt = |key: &str, value: &str| StorageOpt {
        key: key.into(),
        value: value.into(),
    };
    let options = match name {
        // Sparse loop files: room for the image, a container's changes (~500 MiB) and the
        // apply layer, several times over.
        "devicemapper" => {
            if !dm_available() {
                bail!("this kernel has no device-mapper (run scripts/bench-devicemapper.sh)");
            }
            vec![
                opt("loopdatasize", "8G"),
                opt("loopmetadatasize", "256M"),
                opt("basesize", "2G"),
                opt("min_free_space", "1%"),
            ]
        }
        _ => vec![],
    };
    Ok((entry.init)(&DriverConfig { home, options })?)
}

/// One driver's data root with the image layer registered; unmounts and removes everything
/// on drop.
struct DriverBench {
    name: &'static str,
    /// The benchmark id under each body: the driver, `-quick` appended for the smoke sizes
    /// so criterion never compares a quick run with a full one.
    label: String,
    sizes: Sizes,
    store: LayerStore,
    base: ChainId,
    counter: Cell<u64>,
    /// Held while the root is in use, so a sweep by another run leaves it alone.
    _lock: File,
    /// Criterion's target time for the bodies that run many times per sample.
    target: Duration,
    root: tempfile::TempDir,
}

impl DriverBench {
    fn open(name: &'static str, sizes: Sizes) -> Result<DriverBench> {
        let tmp = bench_tmpdir();
        if is_tmpfs(&tmp) {
            eprintln!(
                "storage benchmarks: warning: {} is tmpfs, so these are memory, not disk, \
                 figures (set ENGINE_BENCH_TMPDIR)",
                tmp.display()
            );
        }
        sweep_leftovers(&tmp);
        let root = tempfile::Builder::new()
            .prefix(&format!("{ROOT_PREFIX}{name}-"))
            .tempdir_in(&tmp)
            .with_context(|| format!("creating a data root in {}", tmp.display()))?;
        let lock = hold_lock(root.path())?;
        // From here on a failure drops the root, which unmounts what the driver mounted.
        let mut guard = RootGuard {
            root: Some(root),
            driver: None,
        };
        let path = guard.path().to_path_buf();
        let driver: Arc<dyn Driver> = Arc::from(open_driver(name, path.join(name))?);
        guard.driver = Some(Arc::clone(&driver));
        let store = LayerStore::open(&path.join("image").join(name), driver)?;
        let tar = path.join("base.tar");
        write_tar(&tar, |out| workloads::write_base_layer(out, &sizes, None))?;
        let base = store
            .register(open_tar(&tar)?, None)
            .context("registering the image layer")?
            .chain_id;
        std::fs::remove_file(&tar).with_context(|| format!("removing {}", tar.display()))?;
        let root = guard.disarm();
        let quick = sizes == Sizes::quick();
        Ok(DriverBench {
            name,
            label: if quick {
                format!("{name}-quick")
            } else {
                name.to_string()
            },
            sizes,
            store,
            base,
            counter: Cell::new(0),
            _lock: lock,
            target: if quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            },
            root,
        })
    }

    fn run(&self, c: &mut Criterion) {
        let s = self.sizes;
        self.container_body(
            c,
            "create_files",
            Some(Throughput::Elements(s.new_files as u64)),
            |root| workloads::create_files(root, &s),
        );
        self.container_body(
            c,
            "seq_write",
            Some(Throughput::Bytes(s.seq_bytes)),
            |root| workloads::seq_write(root, &s),
        );
        self.container_body(
            c,
            "random_overwrite",
            Some(Throughput::Elements(s.overwrites as u64)),
            |root| workloads::random_overwrite(root, &s),
        );
        // No throughput: on overlay2 it is a copy-up of the whole file, elsewhere one byte.
        self.container_body(c, "append_byte", None, workloads::append_byte);
        self.commit(c);
        self.apply(c);
        self.snapshot(c);
        self.mount_chain(c);
    }

    /// A group whose every sample is one run (made for bodies with costly untimed setup).
    fn one_run_group<'c>(
        &self,
        c: &'c mut Criterion,
        body: &str,
        throughput: Option<Throughput>,
    ) -> BenchmarkGroup<'c, WallTime> {
        let mut g = c.benchmark_group(body);
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_millis(1));
        if let Some(t) = throughput {
            g.throughput(t);
        }
        g
    }

    /// A workload timed by itself in a fresh writable layer per run.
    fn container_body(
        &self,
        c: &mut Criterion,
        body: &str,
        throughput: Option<Throughput>,
        work: impl Fn(&Path) -> io::Result<Duration>,
    ) {
        let mut g = self.one_run_group(c, body, throughput);
        g.bench_function(&self.label, |b| {
            self.runs(b, |ctr| {
                work(&ctr.root).unwrap_or_else(|e| panic!("{body} on {}: {e}", self.name))
            })
        });
        g.finish();
    }

    fn commit(&self, c: &mut Criterion) {
        let s = self.sizes;
        let mut g = self.one_run_group(c, "commit", Some(Throughput::Bytes(s.changed_bytes())));
        g.bench_function(&self.label, |b| {
            self.runs(b, |ctr| {
                workloads::run_all(&ctr.root, &s).expect("workloads before the commit");
                let t = Instant::now();
                let layer = self.store.commit_rw(&ctr.name).expect("commit_rw");
                let took = t.elapsed();
                self.store
                    .remove(&layer.chain_id)
                    .expect("removing the committed layer");
                took
            })
        });
        g.finish();
    }

    fn apply(&self, c: &mut Criterion) {
        let s = self.sizes;
        let tar = self.root.path().join("apply.tar");
        write_tar(&tar, |out| workloads::write_apply_layer(out, &s)).expect("writing the layer");
        let mut g = c.benchmark_group("apply");
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(self.target)
            .throughput(Throughput::Bytes(s.apply_bytes()));
        g.bench_function(&self.label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = open_tar(&tar).expect("opening the layer tar");
                    let t = Instant::now();
                    let layer = self.store.register(input, None).expect("register");
                    total += t.elapsed();
                    self.store
                        .remove(&layer.chain_id)
                        .expect("removing the layer");
                }
                total
            })
        });
        g.finish();
        let _ = std::fs::remove_file(&tar);
    }

    fn snapshot(&self, c: &mut Criterion) {
        let mut g = c.benchmark_group("snapshot");
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(self.target);
        g.bench_function(&self.label, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    let name = self.next_name();
                    self.store
                        .create_rw(&name, Some(&self.base), &CreateOpts::default())
                        .expect("create_rw");
                    self.store.remove_rw(&name).expect("remove_rw");
                }
                t.elapsed()
            })
        });
        g.finish();
    }

    fn mount_chain(&self, c: &mut Criterion) {
        let mut parent: Option<ChainId> = None;
        let mut top = None;
        for n in 0..self.sizes.chain_depth {
            let mut tar = Vec::new();
            workloads::write_chain_layer(&mut tar, n).expect("writing a chain layer");
            let layer = self
                .store
                .register(&tar[..], parent.as_ref())
                .expect("registering a chain layer");
            parent = Some(layer.chain_id.clone());
            top = Some(layer.cache_id);
        }
        let Some(top) = top else { return };
        let driver = self.store.driver();
        let mut g = c.benchmark_group("mount_chain");
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(self.target);
        g.bench_function(&self.label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let path = driver.get(&top).expect("get of the chain's top");
                    total += t.elapsed();
                    assert!(
                        path.join("chain/l000").exists(),
                        "the chain's bottom is visible"
                    );
                    driver.put(&top).expect("put");
                }
                total
            })
        });
        g.finish();
    }

    /// Runs `timed` on a fresh mounted writable layer per iteration; sums what it reports.
    fn runs(&self, b: &mut Bencher<'_>, mut timed: impl FnMut(&Container<'_>) -> Duration) {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ctr = self.container();
                total += timed(&ctr);
            }
            total
        })
    }

    fn next_name(&self) -> String {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        format!("bench-{n}")
    }

    fn container(&self) -> Container<'_> {
        let name = self.next_name();
        self.store
            .create_rw(&name, Some(&self.base), &CreateOpts::default())
            .expect("create_rw");
        let mut ctr = Container {
            store: &self.store,
            name,
            root: PathBuf::new(),
            mounted: false,
        };
        ctr.root = self.store.mount_rw(&ctr.name).expect("mount_rw");
        ctr.mounted = true;
        ctr
    }
}

impl Drop for DriverBench {
    fn drop(&mut self) {
        release(self.root.path(), Some(self.store.driver()));
    }
}

/// A mounted writable layer; unmounted and removed on drop.
struct Container<'a> {
    store: &'a LayerStore,
    name: String,
    root: PathBuf,
    mounted: bool,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if self.mounted
            && let Err(e) = self.store.unmount_rw(&self.name)
        {
            eprintln!("storage benchmarks: unmounting {}: {e}", self.name);
        }
        if let Err(e) = self.store.remove_rw(&self.name) {
            eprintln!("storage benchmarks: removing {}: {e}", self.name);
        }
    }
}

/// The data root while a driver bench is being set up: released on drop unless disarmed.
struct RootGuard {
    root: Option<tempfile::TempDir>,
    driver: Option<Arc<dyn Driver>>,
}

impl RootGuard {
    fn path(&self) -> &Path {
        self.root
            .as_ref()
            .map_or(Path::new("/nonexistent"), |r| r.path())
    }

    fn disarm(mut self) -> tempfile::TempDir {
        self.driver = None;
        self.root.take().expect("disarmed once")
    }
}

impl Drop for RootGuard {
    fn drop(&mut self) {
        if let Some(root) = &self.root {
            release(root.path(), self.driver.as_ref());
        }
    }
}

/// Lets the driver unmount what it mounted (devicemapper also takes its pool down), then
/// detaches whatever is still mounted under `root`, deepest first, so the root can be removed.
fn release(root: &Path, driver: Option<&Arc<dyn Driver>>) {
    if let Some(d) = driver
        && let Err(e) = d.cleanup()
    {
        eprintln!("storage benchmarks: {} cleanup: {e}", d.name());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| Path::new(mp).starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for mp in points {
        let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Data roots are `<tmpdir>/engine-bench-<driver>-XXXXXX`.
const ROOT_PREFIX: &str = "engine-bench-";
/// The file a live run keeps locked in its data root.
const LOCK_FILE: &str = ".bench-lock";

fn hold_lock(root: &Path) -> Result<File> {
    let path = root.join(LOCK_FILE);
    let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    f.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(f)
}

/// Removes data roots that a killed run left behind (unmounting what is mounted there):
/// those whose lock file nobody holds. Roots of live runs, and roots without a lock file,
/// are left alone.
fn sweep_leftovers(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(ROOT_PREFIX) {
            continue;
        }
        let root = entry.path();
        let Ok(lock) = File::open(root.join(LOCK_FILE)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            eprintln!(
                "storage benchmarks: removing {}, left by an interrupted run",
                root.display()
            );
            release(&root, None);
            if let Err(e) = std::fs::remove_dir_all(&root) {
                eprintln!("storage benchmarks: removing {}: {e}", root.display());
            }
        }
    }
}

fn is_tmpfs(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

fn write_tar(path: &Path, write: impl FnOnce(BufWriter<File>) -> io::Result<()>) -> Result<()> {
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write(BufWriter::new(f)).with_context(|| format!("writing {}", path.display()))
}

fn open_tar(path: &Path) -> Result<BufReader<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 20, f))
}
