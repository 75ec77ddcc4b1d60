//! Closing-note figures (ignored by default; run inside the VM with `--ignored --nocapture`):
//! sequential 256 MiB write + fsync and 10,000 4-KiB file creations, on a thin device of the
//! driver versus ext4 on a plain loop device over the same kind of backing file.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use common::{Fixture, dm_available, id};
use graph::{CreateOpts, Driver};

fn seq_write(dir: &Path) -> f64 {
    let chunk = vec![0xa5u8; 1 << 20];
    let t = Instant::now();
    let mut f = std::fs::File::create(dir.join("seq")).unwrap();
    for _ in 0..256 {
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
    t.elapsed().as_secs_f64()
}

fn small_files(dir: &Path) -> f64 {
    let data = vec![0x3cu8; 4096];
    let t = Instant::now();
    for i in 0..10_000 {
        let sub = dir.join(format!("d{}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("f{i}")), &data).unwrap();
    }
    nix::unistd::sync();
    t.elapsed().as_secs_f64()
}

fn report(what: &str, seq: f64, small: f64) {
    println!(
        "BENCH {what}: 256 MiB write+fsync {seq:.2} s ({:.0} MiB/s); 10000 x 4 KiB files+sync {small:.2} s ({:.0} files/s)",
        256.0 / seq,
        10_000.0 / small
    );
}

#[test]
#[ignore = "benchmark: run in the VM with --ignored --nocapture"]
fn dm_bench_thin_vs_loop() {
    if !dm_available("dm_bench_thin_vs_loop") {
        return;
    }
    let f = Fixture::new(&[
        ("loopdatasize", "2G"),
        ("loopmetadatasize", "128M"),
        ("basesize", "1G"),
    ]);
    let d = f.d();
    d.create(&id("img"), None, &CreateOpts::default()).unwrap();
    d.create_rw(&id("ctr"), Some(&id("img")), &CreateOpts::default())
        .unwrap();
    let root = d.get(&id("ctr")).unwrap();
    let (seq, small) = (seq_write(&root), small_files(&root));
    report("thin device (snapshot layer)", seq, small);
    d.put(&id("ctr")).unwrap();

    // The same on ext4 straight on a loop device over a sparse file in the same directory.
    let file = f.home.path().join("raw.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let lo = devmapper::loopback::attach(&file).unwrap();
    let dev = lo.path().unwrap();
    devmapper::mkfs::make_fs(devmapper::Filesystem::Ext4, &dev, &[]).unwrap();
    let mnt = f.home.path().join("rawmnt");
    std::fs::create_dir(&mnt).unwrap();
    devmapper::mkfs::mount_device(devmapper::Filesystem::Ext4, &dev, &mnt, &[]).unwrap();
    let (seq, small) = (seq_write(&mnt), small_files(&mnt));
    report("raw loop device", seq, small);
    devmapper::mkfs::unmount(&mnt).unwrap();
    drop(lo);
}
