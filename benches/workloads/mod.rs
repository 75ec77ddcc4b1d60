//! The write workloads, and the layers they run on, shared by every contender: the criterion
//! bench (`benches/storage.rs`, a writable layer of the layer store) and the workload tool
//! (`benches/workload.rs`, any directory: a container root of `engine` or `docker`, or the
//! bare backing filesystem). Both include this file with `#[path]`, so all of them run the
//! identical code, timed the same way: each workload times its own I/O and returns it. Each
//! starts with an untimed `syncfs`, so it never pays for writes made before it (a vfs layer's
//! copy of the image, an earlier workload).
//!
//! The image layer ([`write_base_layer`]) holds a 64 MiB file, a 100 MiB file and a few
//! thousand small files; the workloads then write into a writable layer on top of it:
//!
//! | workload | what it does |
//! | --- | --- |
//! | [`create_files`] | 10,000 new files of 4 KiB in 10 directories, then `syncfs` |
//! | [`seq_write`] | one new 256 MiB file in 1 MiB writes, then `fsync` |
//! | [`random_overwrite`] | 256 aligned 4 KiB overwrites of the 64 MiB lower file, `fdatasync` after each (the first open for write is overlay2's copy-up) |
//! | [`append_byte`] | opens the 100 MiB lower file to append one byte, `fsync` (the copy-up cost) |

#![allow(dead_code)] // each includer uses a part

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The 64 MiB file of the image layer that [`random_overwrite`] writes into.
pub const HOT_FILE: &str = "bench/hot.bin";
/// The 100 MiB file of the image layer that [`append_byte`] appends to.
pub const BIG_FILE: &str = "bench/big.bin";
/// Where the workloads put new files, relative to the root they are given.
pub const OUT_DIR: &str = "bench-out";

const MIB: u64 = 1 << 20;
const BLOCK: usize = 4096;
/// A fixed mtime for every tar entry, so the layers are reproducible.
const MTIME: u64 = 1_700_000_000;

/// How big each workload and layer is: [`Sizes::full`] is the benchmark, [`Sizes::quick`] a
/// smoke run that proves the code works in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sizes {
    /// Files [`create_files`] makes.
    pub new_files: usize,
    /// Bytes of each of them.
    pub new_file_bytes: usize,
    /// Bytes [`seq_write`] writes.
    pub seq_bytes: u64,
    /// 4 KiB overwrites [`random_overwrite`] makes.
    pub overwrites: usize,
    /// Size of the lower-layer file overwritten ([`HOT_FILE`]).
    pub hot_bytes: u64,
    /// Size of the lower-layer file appended to ([`BIG_FILE`]).
    pub big_bytes: u64,
    /// Small files in the image layer besides the two big ones.
    pub base_small_files: usize,
    /// Files in the layer the apply benchmark registers.
    pub apply_files: usize,
    /// Bytes of each of them (10,000 x 15,000 = 150 MB).
    pub apply_file_bytes: usize,
    /// Depth of the layer chain the mount benchmark mounts.
    pub chain_depth: usize,
}

impl Sizes {
    /// The sizes the benchmark is defined with.
    pub const fn full() -> Sizes {
        Sizes {
            new_files: 10_000,
            new_file_bytes: BLOCK,
            seq_bytes: 256 * MIB,
            overwrites: 256,
            hot_bytes: 64 * MIB,
            big_bytes: 100 * MIB,
            base_small_files: 3_000,
            apply_files: 10_000,
            apply_file_bytes: 15_000,
            chain_depth: 128,
        }
    }

    /// Small sizes for a smoke run (the chain stays 128 deep: it is cheap).
    pub const fn quick() -> Sizes {
        Sizes {
            new_files: 500,
            new_file_bytes: BLOCK,
            seq_bytes: 16 * MIB,
            overwrites: 32,
            hot_bytes: 8 * MIB,
            big_bytes: 12 * MIB,
            base_small_files: 200,
            apply_files: 500,
            apply_file_bytes: 15_000,
            chain_depth: 128,
        }
    }

    /// [`Sizes::quick`] when `quick`, else [`Sizes::full`].
    pub const fn pick(quick: bool) -> Sizes {
        if quick { Sizes::quick() } else { Sizes::full() }
    }

    /// Bytes of new file content the four write workloads leave in a writable layer
    /// (the copied-up files counted whole), i.e. roughly what a commit has to write.
    pub fn changed_bytes(&self) -> u64 {
        (self.new_files * self.new_file_bytes) as u64
            + self.seq_bytes
            + self.hot_bytes
            + self.big_bytes
            + 1
    }

    /// Bytes of file content in the apply layer.
    pub fn apply_bytes(&self) -> u64 {
        (self.apply_files * self.apply_file_bytes) as u64
    }
}

/// Timings of one run of the four write workloads, in order, on one root.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// [`create_files`].
    pub create_files: f64,
    /// [`seq_write`].
    pub seq_write: f64,
    /// [`random_overwrite`].
    pub random_overwrite: f64,
    /// [`append_byte`].
    pub append_byte: f64,
}

/// Runs the four write workloads on `root` (which holds the image layer's files), in the
/// order of the table above; seconds each.
pub fn run_all(root: &Path, sizes: &Sizes) -> io::Result<Timings> {
    let out = root.join(OUT_DIR);
    if out.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists: the workloads already ran here; they need a fresh container (the copy-ups happen once)",
                out.display()
            ),
        ));
    }
    Ok(Timings {
        create_files: create_files(root, sizes)?.as_secs_f64(),
        seq_write: seq_write(root, sizes)?.as_secs_f64(),
        random_overwrite: random_overwrite(root, sizes)?.as_secs_f64(),
        append_byte: append_byte(root)?.as_secs_f64(),
    })
}

/// Creates `sizes.new_files` files of `sizes.new_file_bytes` under `root/bench-out/files`
/// (1,000 per directory), then `syncfs` on `root`'s filesystem.
pub fn create_files(root: &Path, sizes: &Sizes) -> io::Result<Duration> {
    let data = pattern(sizes.new_file_bytes, 1);
    let base = root.join(OUT_DIR).join("files");
    syncfs(root)?;
    let t = Instant::now();
    fs::create_dir_all(&base).map_err(|e| ctx(e, "create", &base))?;
    let mut dir = base.clone();
    for i in 0..sizes.new_files {
        if i % 1000 == 0 {
            dir = base.join(format!("d{:02}", i / 1000));
            fs::create_dir(&dir).map_err(|e| ctx(e, "create", &dir))?;
        }
        let path = dir.join(format!("f{i:05}"));
        let mut f = File::create(&path).map_err(|e| ctx(e, "create", &path))?;
        f.write_all(&data).map_err(|e| ctx(e, "write", &path))?;
    }
    syncfs(root)?;
    Ok(t.elapsed())
}

/// Writes `sizes.seq_bytes` to the new file `root/bench-out/seq.bin` in 1 MiB writes, then
/// `fsync`.
pub fn seq_write(root: &Path, sizes: &Sizes) -> io::Result<Duration> {
    let chunk = pattern(MIB as usize, 2);
    let dir = root.join(OUT_DIR);
    fs::create_dir_all(&dir).map_err(|e| ctx(e, "create", &dir))?;
    let path = dir.join("seq.bin");
    syncfs(root)?;
    let t = Instant::now();
    let mut f = File::create(&path).map_err(|e| ctx(e, "create", &path))?;
    let mut left = sizes.seq_bytes;
    while left > 0 {
        let n = left.min(MIB) as usize;
        f.write_all(&chunk[..n])
            .map_err(|e| ctx(e, "write", &path))?;
        left -= n as u64;
    }
    f.sync_all().map_err(|e| ctx(e, "fsync", &path))?;
    Ok(t.elapsed())
}

/// Opens the image layer's [`HOT_FILE`] for writing (overlay2 copies it up here) and
/// overwrites `sizes.overwrites` 4 KiB blocks at pseudo-random aligned offsets, with
/// `fdatasync` after each, as a database would.
pub fn random_overwrite(root: &Path, sizes: &Sizes) -> io::Result<Duration> {
    let block = pattern(BLOCK, 3);
    let path = root.join(HOT_FILE);
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    syncfs(root)?;
    let t = Instant::now();
    let f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| ctx(e, "open for writing", &path))?;
    let blocks = (f.metadata().map_err(|e| ctx(e, "stat", &path))?.len() / BLOCK as u64).max(1);
    for _ in 0..sizes.overwrites {
        let offset = (rng.next() % blocks) * BLOCK as u64;
        f.write_all_at(&block, offset)
            .map_err(|e| ctx(e, "write", &path))?;
        f.sync_data().map_err(|e| ctx(e, "fdatasync", &path))?;
    }
    Ok(t.elapsed())
}

/// Appends one byte to the image layer's [`BIG_FILE`], then `fsync`: on overlay2 the whole
/// file is copied up first.
pub fn append_byte(root: &Path) -> io::Result<Duration> {
    let path = root.join(BIG_FILE);
    syncfs(root)?;
    let t = Instant::now();
    let mut f = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| ctx(e, "open for appending", &path))?;
    f.write_all(b"!").map_err(|e| ctx(e, "write", &path))?;
    f.sync_all().map_err(|e| ctx(e, "fsync", &path))?;
    Ok(t.elapsed())
}

/// `syncfs(2)` on the filesystem holding `dir`.
pub fn syncfs(dir: &Path) -> io::Result<()> {
    let d = File::open(dir).map_err(|e| ctx(e, "open", dir))?;
    nix::unistd::syncfs(&d).map_err(|e| ctx(io::Error::from(e), "syncfs", dir))
}

/// Writes the image layer tar: [`HOT_FILE`], [`BIG_FILE`], `sizes.base_small_files` small
/// files (1 to 8 KiB) under `bench/small/`, and, when `busybox` is given, that static
/// executable as `bin/busybox` with `sh`, `sleep` and `true` links, so containers can run.
pub fn write_base_layer(out: impl Write, sizes: &Sizes, busybox: Option<&Path>) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    for d in ["bench", "bench/small", "etc", "tmp", "root"] {
        append_dir(&mut b, d)?;
    }
    if let Some(busybox) = busybox {
        append_dir(&mut b, "bin")?;
        let exe = File::open(busybox).map_err(|e| ctx(e, "open", busybox))?;
        let len = exe.metadata().map_err(|e| ctx(e, "stat", busybox))?.len();
        append_file(&mut b, "bin/busybox", len, 0o755, exe)?;
        for applet in ["sh", "sleep", "true", "cat", "ls"] {
            let mut h = header(tar::EntryType::Symlink, 0, 0o777);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
        }
    }
    append_file(
        &mut b,
        HOT_FILE,
        sizes.hot_bytes,
        0o644,
        Pattern::new(sizes.hot_bytes, 4),
    )?;
    append_file(
        &mut b,
        BIG_FILE,
        sizes.big_bytes,
        0o644,
        Pattern::new(sizes.big_bytes, 5),
    )?;
    for i in 0..sizes.base_small_files {
        if i % 500 == 0 {
            append_dir(&mut b, &format!("bench/small/d{:02}", i / 500))?;
        }
        let len = 1024 * (1 + (i as u64 % 8));
        let name = format!("bench/small/d{:02}/f{i:05}", i / 500);
        append_file(&mut b, &name, len, 0o644, Pattern::new(len, 6 + i as u64))?;
    }
    b.into_inner()?.flush()
}

/// Writes the layer the apply benchmark registers: `sizes.apply_files` files of
/// `sizes.apply_file_bytes` under `apply/dNN/` (100 per directory).
pub fn write_apply_layer(out: impl Write, sizes: &Sizes) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    append_dir(&mut b, "apply")?;
    for i in 0..sizes.apply_files {
        if i % 100 == 0 {
            append_dir(&mut b, &format!("apply/d{:03}", i / 100))?;
        }
        let len = sizes.apply_file_bytes as u64;
        let name = format!("apply/d{:03}/f{i:05}", i / 100);
        append_file(&mut b, &name, len, 0o644, Pattern::new(len, 100 + i as u64))?;
    }
    b.into_inner()?.flush()
}

/// Writes layer `n` of the deep chain: one small file `chain/lNNN`.
pub fn write_chain_layer(out: impl Write, n: usize) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    append_dir(&mut b, "chain")?;
    let body = format!("layer {n}\n");
    append_file(
        &mut b,
        &format!("chain/l{n:03}"),
        body.len() as u64,
        0o644,
        body.as_bytes(),
    )?;
    b.into_inner()?.flush()
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    b.append_data(&mut h, path, io::empty())
}

fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    len: u64,
    mode: u32,
    body: impl Read,
) -> io::Result<()> {
    let mut h = header(tar::EntryType::Regular, len, mode);
    b.append_data(&mut h, path, body)
}

/// `n` pseudo-random bytes (incompressible, deterministic per `seed`).
fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    Pattern::new(n as u64, seed)
        .read_to_end(&mut v)
        .expect("reading from memory cannot fail");
    v
}

/// A reader of `left` pseudo-random bytes, so layers stream without being held in memory.
struct Pattern {
    left: u64,
    rng: XorShift,
}

impl Pattern {
    fn new(len: u64, seed: u64) -> Pattern {
        Pattern {
            left: len,
            rng: XorShift(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1),
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            let word = self.rng.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// xorshift64: fast, deterministic, good enough for offsets and filler bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn ctx(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}
