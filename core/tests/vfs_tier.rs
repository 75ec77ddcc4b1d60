//! The middle tier: the engine core used as a library, on vfs in a temp directory, with no
//! root, no mounts and no processes: images in (import, load), listed, tagged, inspected and
//! removed; an ingest that fails leaves nothing behind; errors carry their kinds.

#![allow(clippy::unwrap_used)] // tests: a failure is the test's failure

use std::io::Cursor;
use std::path::Path;

use distribution::archive::{Loaded, Source};
use distribution::progress::Progress;
use engine_core::config::{self, Overrides};
use engine_core::error::{ErrorKind, kind_of};
use engine_core::image::{self, ImageFilter};
use engine_core::{Engine, transfer};
use graph::Digest;
use graph::image::{Reference, RunConfig};
use sha2::{Digest as _, Sha256};

/// An engine on vfs under `dir`, reading an empty daemon.json (never the host's).
fn open(dir: &Path) -> Engine {
    let conf = dir.join("daemon.json");
    std::fs::write(&conf, "{}").unwrap();
    let settings = config::resolve(&Overrides {
        data_root: Some(dir.join("root")),
        storage_driver: Some("vfs".into()),
        config: Some(conf),
        ..Overrides::default()
    })
    .unwrap();
    Engine::open(settings).unwrap()
}

/// A layer tar with `files` (path, content), owned by whoever runs the test.
fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    let (uid, gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn import(engine: &Engine, files: &[(&str, &str)], tag: Option<&str>) -> graph::image::Image {
    let reference = tag.map(|t| Reference::parse(t).unwrap());
    image::import_from(
        engine,
        Box::new(Cursor::new(layer(files))),
        "test.tar",
        reference.as_ref(),
        RunConfig::default(),
        None,
    )
    .unwrap()
}

fn listed(engine: &Engine, filters: &[&str]) -> Vec<(Digest, Vec<String>)> {
    let filters: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
    let filter = ImageFilter::parse(&filters).unwrap();
    image::list(engine, false, &filter)
        .unwrap()
        .into_iter()
        .map(|l| (l.image.id.clone(), l.tags()))
        .collect()
}

#[test]
fn an_imported_image_is_listed_tagged_inspected_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let img = import(&engine, &[("hello", "hi")], Some("first:latest"));
    assert_eq!(
        listed(&engine, &[]),
        vec![(img.id.clone(), vec!["first:latest".to_string()])]
    );

    image::tag(&engine, "first", "second:v1").unwrap();
    let tags = &listed(&engine, &[])[0].1;
    assert_eq!(tags, &["first:latest", "second:v1"]);
    assert_eq!(listed(&engine, &["reference=sec*"])[0].1, ["second:v1"]);

    let doc = image::inspect_json(&engine, &img).unwrap();
    assert_eq!(doc["Id"], img.id.to_string());
    assert_eq!(doc["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(image::history_rows(&engine, &img).unwrap().len(), 1);

    // Removing one tag keeps the image; removing the last removes it and its layer.
    image::remove_image(&engine, "second:v1", false).unwrap();
    assert_eq!(listed(&engine, &[]).len(), 1);
    image::remove_image(&engine, "first", false).unwrap();
    assert!(listed(&engine, &[]).is_empty());
    assert!(engine.layers.list().unwrap().is_empty());
}

#[test]
fn an_untagged_image_is_dangling_by_dockers_rule() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let untagged = import(&engine, &[("a", "1")], None);
    let tagged = import(&engine, &[("b", "2")], Some("kept:latest"));
    let ids = |f: &[&str]| -> Vec<Digest> { listed(&engine, f).into_iter().map(|l| l.0).collect() };
    let mut all = ids(&[]);
    all.sort();
    let mut want = vec![untagged.id.clone(), tagged.id.clone()];
    want.sort();
    assert_eq!(all, want);
    assert_eq!(ids(&["dangling=true"]), vec![untagged.id.clone()]);
    assert_eq!(ids(&["dangling=false"]), vec![tagged.id.clone()]);
    // A reference filter never shows a dangling image.
    assert_eq!(ids(&["reference=*"]), vec![tagged.id.clone()]);
}

/// A `docker save` archive of one image whose layers are `layers`, with the config naming
/// `diff_ids` (the layers' own unless a test lies).
fn archive(dir: &Path, layers: &[Vec<u8>], diff_ids: &[String], tag: &str) -> std::path::PathBuf {
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {}, "history": [],
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", &sha(&config)[7..]);
    let layer_names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": [tag], "Layers": layer_names,
    }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&config_name, &config);
    for (name, data) in layer_names.iter().zip(layers) {
        add(name, data);
    }
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let path = dir.join(format!("{}.tar", tag.replace(':', "-")));
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    path
}

#[test]
fn a_load_that_fails_midway_leaves_no_layer_and_a_good_one_is_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let root = engine.settings.data_root.clone();
    let (l0, l1) = (layer(&[("one", "1")]), layer(&[("two", "2")]));
    let quiet = Progress::new(true);

    // The second layer is not what the config says: the first, already registered, goes too.
    let lie = archive(
        dir.path(),
        &[l0.clone(), l1.clone()],
        &[sha(&l0), sha(b"other")],
        "bad:1",
    );
    let err = transfer::load(&engine, &Source::open(&lie, &root).unwrap(), &quiet).unwrap_err();
    assert!(format!("{err:#}").contains("diff id"), "{err:#}");
    assert!(engine.layers.list().unwrap().is_empty());
    assert!(listed(&engine, &[]).is_empty());

    let good = archive(
        dir.path(),
        &[l0.clone(), l1.clone()],
        &[sha(&l0), sha(&l1)],
        "good:1",
    );
    let loaded = transfer::load(&engine, &Source::open(&good, &root).unwrap(), &quiet).unwrap();
    assert!(matches!(&loaded[..], [Loaded::Tag(t)] if t.familiar() == "good:1"));
    assert_eq!(engine.layers.list().unwrap().len(), 2);
    let journal = std::fs::read_to_string(root.join("events/journal")).unwrap();
    assert!(
        journal.lines().any(|l| l.contains(r#""Action":"load""#)),
        "{journal}"
    );
}

#[test]
fn errors_carry_their_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let missing = image::resolve(&engine, "nope").unwrap_err();
    assert_eq!(kind_of(&missing), ErrorKind::NotFound);
    assert_eq!(missing.to_string(), "No such image: nope");
    let bad = ImageFilter::parse(&["color=red".to_string()]).unwrap_err();
    assert_eq!(kind_of(&bad), ErrorKind::InvalidArgument);
    let gone = image::remove_image(&engine, "nope", true).unwrap_err();
    assert_eq!(kind_of(&gone), ErrorKind::NotFound);
}

#[test]
fn the_layers_of_a_killed_ingest_go_at_the_next_start_unless_an_image_holds_them() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let kept = import(&engine, &[("kept", "1")], Some("kept:1"));
    let kept_chain = kept.top_layer().unwrap();
    let orphan = engine
        .layers
        .register(Cursor::new(layer(&[("orphan", "2")])), None)
        .unwrap();
    // What a kill -9 leaves of an ingest: its lease, unlocked, naming what it added.
    let leases = engine.settings.data_root.join("leases");
    std::fs::create_dir_all(&leases).unwrap();
    std::fs::write(
        leases.join("ingest-1-dead"),
        format!("1\nadd {kept_chain}\nadd {}\n", orphan.chain_id),
    )
    .unwrap();
    drop(engine);

    let engine = open(dir.path());
    let chains = engine.layers.chain_ids().unwrap();
    assert_eq!(
        chains,
        vec![kept_chain],
        "the orphan goes, the image's layer stays"
    );
    assert!(!leases.join("ingest-1-dead").exists());
    assert_eq!(listed(&engine, &[]).len(), 1);
}

/// Waits until a thread of this process waits for the flock on `lock` (a `->` line of
/// /proc/locks on its inode); fails if `worker` ends first, as it did not wait.
fn await_waiting_on<T>(lock: &Path, worker: &std::thread::ScopedJoinHandle<'_, T>) {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(lock).unwrap().ino().to_string();
    let pid = std::process::id().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        let waiting = locks.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"->")
                && f.get(2) == Some(&"FLOCK")
                && f.get(5) == Some(&pid.as_str())
                && f.get(6)
                    .is_some_and(|dev_ino| dev_ino.rsplit(':').next() == Some(&inode))
        });
        if waiting {
            return;
        }
        assert!(
            !worker.is_finished(),
            "it went ahead without waiting for the layer store's lock"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "it neither waited for the lock nor ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn layer_store_lock(engine: &Engine) -> std::path::PathBuf {
    engine.settings.data_root.join("image/vfs/layerdb/.lock")
}

/// A layer a killed ingest added, and that ingest's lease (unlocked, naming it).
fn killed_ingests_layer(engine: &Engine) -> graph::Layer {
    let orphan = engine
        .layers
        .register(Cursor::new(layer(&[("orphan", "2")])), None)
        .unwrap();
    let leases = engine.settings.data_root.join("leases");
    std::fs::create_dir_all(&leases).unwrap();
    std::fs::write(
        leases.join("ingest-1-dead"),
        format!("1\nadd {}\n", orphan.chain_id),
    )
    .unwrap();
    orphan
}

#[test]
fn the_sweep_reads_the_live_ingests_notes_under_the_lock_it_removes_under() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let orphan = killed_ingests_layer(&engine);
    // Held here as a live ingest holds it while it notes a layer it found and builds on.
    let locked = engine.layers.locked().unwrap();
    let mut live = None;
    std::thread::scope(|s| {
        let sweep = s.spawn(|| engine_core::sweep::run(&engine));
        await_waiting_on(&layer_store_lock(&engine), &sweep);
        // The ingest's note, while the sweep waits: the sweep must read it before it
        // removes anything.
        let mut lease =
            distribution::owned::Lease::take(&engine.settings.data_root, "ingest-2-live").unwrap();
        lease.note(&format!("reuse {}", orphan.chain_id)).unwrap();
        live = Some(lease);
        drop(locked);
        sweep.join().unwrap();
    });
    assert!(
        engine.layers.get(&orphan.chain_id).is_ok(),
        "the sweep removed a layer a live ingest had noted"
    );
    assert!(
        !engine
            .settings
            .data_root
            .join("leases/ingest-1-dead")
            .exists()
    );
    // Once the live ingest is gone too, the next sweep takes the layer.
    drop(live);
    std::fs::write(
        engine.settings.data_root.join("leases/ingest-3-dead"),
        format!("1\nadd {}\n", orphan.chain_id),
    )
    .unwrap();
    engine_core::sweep::run(&engine);
    assert!(engine.layers.get(&orphan.chain_id).is_err());
}

#[test]
fn an_ingest_notes_and_looks_up_a_stored_layer_in_one_step_under_the_store_lock() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let orphan = killed_ingests_layer(&engine);
    // Held here as the sweep holds it from reading the live notes to removing.
    let locked = engine.layers.locked().unwrap();
    let found = std::thread::scope(|s| {
        let ingest = s.spawn(|| {
            let mut ingest = distribution::ingest::Ingest::new(engine.stores()).unwrap();
            ingest.reuse(&orphan.diff_id).unwrap()
        });
        await_waiting_on(&layer_store_lock(&engine), &ingest);
        // The sweep's step: no live ingest has noted the layer yet, so it goes.
        let notes = distribution::owned::lease_notes(&engine.settings.data_root, "ingest-");
        assert!(
            notes
                .iter()
                .flat_map(|(_, n)| n)
                .all(|n| !n.starts_with("reuse")),
            "{notes:?}"
        );
        locked.remove(&orphan.chain_id).unwrap();
        drop(locked);
        ingest.join().unwrap()
    });
    assert!(!found, "the ingest builds on a layer the sweep removed");
}
