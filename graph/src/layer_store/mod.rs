//! The content-addressed layer store, laid out as Docker's layerdb:
//!
//! ```text
//! <image-root>/layerdb/
//!   .lock                          flock held by every mutation (cross-process)
//!   sha256/<chain-id hex>/         one read-only layer
//!     diff  size  cache-id  parent   (parent only above the bottom layer)
//!     holders/<name>               who keeps the layer (images); present = in use
//!   mounts/<name>/                 one container's writable layer
//!     mount-id  parent
//!   tmp/                           work in progress; swept at open
//! ```
//!
//! Crash safety: a layer's metadata is written in `tmp/` and renamed into `sha256/` in one
//! step, after its driver layer is complete; a journal file `tmp/<cache-id>.creating` is written
//! before the driver layer is made and removed after the rename. Removal renames the metadata
//! into `tmp/` first, then removes the driver layer. So at any instant a crash leaves either a
//! complete layer or garbage in `tmp/`, which [`LayerStore::open`] cleans up.

mod layout;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{debug, info_span, warn};

use crate::archive::{DigestReader, DigestWriter, decompress, tar_split};
use crate::driver::{Change, CreateOpts, Driver};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::id::{ChainId, DiffId, LayerId, chain_id};
use crate::store_lock::StoreLock;
use layout::{Layout, TAR_SPLIT, read_layer, read_mount, write_layer_dir, write_mount_dir};

/// Told, under the store's lock, the chain id of the layer a registration ends with (see
/// [`LayerStore::register_noting`]), and whether it is new.
pub type Note<'a> = &'a mut dyn FnMut(&ChainId, Noted) -> Result<()>;

/// What a [`Note`] is told of the layer a registration ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    /// A new layer, about to be published.
    Adding,
    /// The same content was stored already: the caller gets that layer.
    Reusing,
}

/// One read-only layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Identity of the layer with its ancestors.
    pub chain_id: ChainId,
    /// sha256 of the layer's uncompressed tar.
    pub diff_id: DiffId,
    /// The layer below, if any.
    pub parent: Option<ChainId>,
    /// The storage driver's id for it.
    pub cache_id: LayerId,
    /// Bytes of file content the layer holds (as applied).
    pub size: u64,
}

/// A container's writable layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RwLayer {
    /// The name it is kept under (the container id).
    pub name: String,
    /// The storage driver's id for it.
    pub mount_id: LayerId,
    /// The image layer it sits on.
    pub parent: Option<ChainId>,
}

/// The layer store over one storage driver.
#[derive(Debug, Clone)]
pub struct LayerStore {
    layout: Layout,
    driver: Arc<dyn Driver>,
}

/// The layer store's lock, held (see [`LayerStore::locked`]); released on drop.
#[derive(Debug)]
pub struct Locked<'a> {
    store: &'a LayerStore,
    _lock: StoreLock,
}

impl Locked<'_> {
    /// The layer with this chain id.
    pub fn get(&self, chain: &ChainId) -> Result<Layer> {
        self.store.get(chain)
    }

    /// [`LayerStore::remove`], under this lock.
    pub fn remove(&self, chain: &ChainId) -> Result<()> {
        self.store.remove_locked(chain)
    }
}

impl LayerStore {
    /// Opens (creating if needed) the store under `image_root` (`<data-root>/image/<driver>`),
    /// and cleans up whatever an interrupted operation left in `tmp/`.
    pub fn open(image_root: &Path, driver: Arc<dyn Driver>) -> Result<Self> {
        let layout = Layout::new(image_root.join("layerdb"));
        layout.create_dirs()?;
        let store = LayerStore { layout, driver };
        // Nothing left over (the usual case) costs one directory read. A store lock held by
        // another process means a live writer: the sweep is left to a later start rather
        // than waited for, so opening never waits on anyone's I/O.
        if !store.layout.tmp_entries()?.is_empty()
            && let Some(_lock) = StoreLock::try_exclusive(&store.layout.lock_file())?
        {
            store.sweep()?;
        }
        Ok(store)
    }

    /// The driver under this store.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    fn lock(&self) -> Result<StoreLock> {
        StoreLock::exclusive(&self.layout.lock_file())
    }

    /// Registers a layer from a tar stream (plain, gzip or zstd) on top of `parent`.
    /// If the same chain already exists the new copy is discarded and the existing one returned.
    pub fn register(&self, input: impl Read, parent: Option<&ChainId>) -> Result<Layer> {
        self.register_noting(input, parent, &mut |_, _| Ok(()))
    }

    /// [`LayerStore::register`], telling `note` the chain id of the layer it ends with, under
    /// the store's lock: a new layer just before it is published ([`Noted::Adding`]), so a
    /// caller can record what it added where a sweep after a kill finds it (from the note on,
    /// the layer may exist); or content already stored ([`Noted::Reusing`]), so a caller can
    /// record that it builds on it before a sweep, which removes under this lock, could take
    /// it away.
    pub fn register_noting(
        &self,
        input: impl Read,
        parent: Option<&ChainId>,
        note: Note<'_>,
    ) -> Result<Layer> {
        let _span = info_span!("register_layer", driver = self.driver.name()).entered();
        let cache_id = LayerId::random();
        let journal_path = self.layout.creating_journal(&cache_id);
        // The store lock is held only to check the parent and to start the journal, and again
        // to record the result: the layer's bytes are applied without it, so readers and other
        // writers never wait on this I/O. The journal stays flock-held meanwhile, which tells
        // a sweep (and `remove` of the parent) that a live process is making this layer.
        let (parent_layer, journal) = {
            let _lock = self.lock()?;
            let parent_layer = parent.map(|p| self.get(p)).transpose()?;
            let journal = Journal::start(&journal_path, parent)?;
            (parent_layer, journal)
        };
        let recording = self.layout.recording(&cache_id);
        let applied = self.apply_new(&cache_id, parent_layer.as_ref(), input, &recording);
        let (diff_id, size, recorded) = match applied {
            Ok(v) => v,
            Err(e) => {
                self.discard_driver_layer(&cache_id);
                let _ = fs::remove_file(&recording);
                journal.finish(&journal_path);
                return Err(e);
            }
        };
        let _lock = self.lock()?;
        let chain = chain_id(parent, &diff_id);
        if let Ok(existing) = self.get(&chain) {
            debug!(%chain, "layer already present; discarding the duplicate");
            self.discard_driver_layer(&cache_id);
            let _ = fs::remove_file(&recording);
            journal.finish(&journal_path);
            note(&chain, Noted::Reusing)?;
            return Ok(existing);
        }
        if let Err(e) = note(&chain, Noted::Adding) {
            self.discard_driver_layer(&cache_id);
            let _ = fs::remove_file(&recording);
            journal.finish(&journal_path);
            return Err(e);
        }
        let layer = Layer {
            chain_id: chain,
            diff_id,
            parent: parent.cloned(),
            cache_id,
            size,
        };
        write_layer_dir(
            &self.layout,
            &layer,
            recorded.then_some(recording.as_path()),
        )?;
        fs::remove_file(&journal_path).ctx("remove journal", &journal_path)?;
        drop(journal);
        Ok(layer)
    }

    /// Makes driver layer `cache_id` from `input` and returns its diff id and size. The plain
    /// tar also streams, through a pipe, to a thread recording its tar-split at `recording`;
    /// the flag says whether that record is complete (a layer without one is still fine,
    /// only not reproducible byte for byte).
    fn apply_new(
        &self,
        cache_id: &LayerId,
        parent: Option<&Layer>,
        input: impl Read,
        recording: &Path,
    ) -> Result<(DiffId, u64, bool)> {
        let parent_cache = parent.map(|p| &p.cache_id);
        self.driver
            .create(cache_id, parent_cache, &CreateOpts::default())?;
        let (_, plain) = decompress(input)?;
        let mut hashing = DigestReader::new(plain);
        let (split_in, split_out) = std::io::pipe().ctx("create pipe", "<tar-split>")?;
        let split_file = fs::File::create(recording).ctx("create", recording)?;
        let recorder = std::thread::spawn(move || {
            let file = tar_split::record(split_in, std::io::BufWriter::new(split_file))?
                .into_inner()
                .map_err(|e| Error::io("write", "<tar-split>", e.into_error()))?;
            file.sync_all().ctx("fsync", "<tar-split>")
        });
        let mut tee = Tee {
            inner: &mut hashing,
            copy: Some(split_out),
        };
        let applied = self
            .driver
            .apply_diff(cache_id, parent_cache, &mut tee)
            .and_then(|size| {
                tee.drain().map_err(|e| {
                    Error::bad_archive(
                        "<end of archive>",
                        format!("reading the rest of the layer: {e}"),
                    )
                })?;
                Ok(size)
            });
        let complete = tee.copy.is_some();
        drop(tee);
        let recorded = match recorder.join() {
            Ok(Ok(())) => complete,
            Ok(Err(e)) => {
                warn!(layer = %cache_id, error = %e, "no tar-split for this layer: it cannot be exported byte for byte");
                false
            }
            Err(_) => false,
        };
        let size = applied?;
        Ok((hashing.digest(), size, recorded))
    }

    fn discard_driver_layer(&self, cache_id: &LayerId) {
        if let Err(e) = self.driver.remove(cache_id) {
            warn!(layer = %cache_id, error = %e, "removing a half-made layer failed; it will be retried at next open");
        }
    }

    /// The layer with this chain id.
    pub fn get(&self, chain: &ChainId) -> Result<Layer> {
        read_layer(&self.layout, chain)
    }

    /// The chain ids of every stored layer: one directory listing, no layer read.
    pub fn chain_ids(&self) -> Result<Vec<ChainId>> {
        self.layout.chain_ids()
    }

    /// Every layer, in no particular order.
    pub fn list(&self) -> Result<Vec<Layer>> {
        self.layout
            .chain_ids()?
            .iter()
            .map(|c| self.get(c))
            .collect()
    }

    /// Marks `chain` as kept by `holder` (an image id, say) so it cannot be removed.
    pub fn hold(&self, chain: &ChainId, holder: &str) -> Result<()> {
        let _lock = self.lock()?;
        self.get(chain)?;
        let path = self.layout.holder(chain, holder)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).ctx("create directory", dir)?;
        }
        crate::atomic_file::write_atomic(&path, b"")
    }

    /// Drops `holder`'s hold on `chain`.
    pub fn unhold(&self, chain: &ChainId, holder: &str) -> Result<()> {
        let _lock = self.lock()?;
        let path = self.layout.holder(chain, holder)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("remove holder", path, e))
            }
            _ => Ok(()),
        }
    }

    /// Removes `chain` when nothing uses it: no holder, no child layer, no writable layer on it.
    pub fn remove(&self, chain: &ChainId) -> Result<()> {
        self.locked()?.remove(chain)
    }

    /// Takes the store's lock, for a caller that must look at the store and change it in one
    /// step that no registration or removal of another process comes between (readers never
    /// take it, so they go on meanwhile). Hold it briefly: every writer waits for it.
    pub fn locked(&self) -> Result<Locked<'_>> {
        Ok(Locked {
            store: self,
            _lock: self.lock()?,
        })
    }

    fn remove_locked(&self, chain: &ChainId) -> Result<()> {
        let _span = info_span!("remove_layer", driver = self.driver.name()).entered();
        let layer = self.get(chain)?;
        self.check_unused(&layer)?;
        let doomed = self.layout.deleting_dir(chain);
        let dir = self.layout.layer_dir(chain);
        fs::rename(&dir, &doomed).ctx("move layer metadata aside", &dir)?;
        crate::atomic_file::sync_dir(&self.layout.sha_dir())?;
        self.driver.remove(&layer.cache_id)?;
        fs::remove_dir_all(&doomed).ctx("remove layer metadata", &doomed)
    }

    fn check_unused(&self, layer: &Layer) -> Result<()> {
        let holders = self.layout.holders(&layer.chain_id)?;
        if let Some(h) = holders.first() {
            return Err(Error::Busy(format!(
                "layer {} is in use by {h}",
                layer.chain_id
            )));
        }
        for other in self.list()? {
            if other.parent.as_ref() == Some(&layer.chain_id) {
                return Err(Error::Busy(format!(
                    "layer {} is the parent of layer {}",
                    layer.chain_id, other.chain_id
                )));
            }
        }
        for parent in self.in_progress()?.values().flatten() {
            if parent == &layer.chain_id {
                return Err(Error::Busy(format!(
                    "layer {} is the parent of a layer being registered",
                    layer.chain_id
                )));
            }
        }
        for m in self.rw_layers()? {
            if m.parent.as_ref() == Some(&layer.chain_id) {
                return Err(Error::Busy(format!(
                    "layer {} is in use by container layer {}",
                    layer.chain_id, m.name
                )));
            }
        }
        Ok(())
    }

    /// Writes the layer's uncompressed tar (its diff from its parent) to `out`: the very
    /// bytes it was registered from when its tar-split was recorded (the digest is checked as
    /// it goes), else a tar the driver makes from the layer's files.
    pub fn export(&self, chain: &ChainId, out: &mut dyn Write) -> Result<()> {
        let layer = self.get(chain)?;
        let split = self.layout.layer_dir(chain).join(TAR_SPLIT);
        if split.exists() {
            let root = self.driver.get(&layer.cache_id)?;
            let mut hashing = DigestWriter::new(out);
            let reassembled = fs::File::open(&split)
                .ctx("open", &split)
                .and_then(|f| tar_split::reassemble(f, &root, &mut hashing));
            let released = self.driver.put(&layer.cache_id);
            reassembled?;
            released?;
            let digest = hashing.digest();
            if digest != layer.diff_id {
                return Err(Error::Corrupt {
                    path: self.layout.layer_dir(chain),
                    reason: format!(
                        "the layer's files no longer match its diff id {} (they give {digest})",
                        layer.diff_id
                    ),
                });
            }
            return Ok(());
        }
        let parent = layer.parent.as_ref().map(|p| self.get(p)).transpose()?;
        self.driver
            .diff(&layer.cache_id, parent.as_ref().map(|p| &p.cache_id), out)
    }

    /// The length of the tar [`LayerStore::export`] writes, when it is known without making
    /// it (the layer has a tar-split record).
    pub fn export_size(&self, chain: &ChainId) -> Result<Option<u64>> {
        let split = self.layout.layer_dir(chain).join(TAR_SPLIT);
        match fs::File::open(&split) {
            Ok(f) => tar_split::reassembled_size(f).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.get(chain)?;
                Ok(None)
            }
            Err(e) => Err(Error::io("open", split, e)),
        }
    }

    /// Creates the writable layer `name` on `parent`.
    pub fn create_rw(
        &self,
        name: &str,
        parent: Option<&ChainId>,
        opts: &CreateOpts,
    ) -> Result<RwLayer> {
        let _lock = self.lock()?;
        let dir = self.layout.mount_dir(name)?;
        if dir.exists() {
            return Err(Error::AlreadyExists {
                what: format!("writable layer {name}"),
            });
        }
        let parent_layer = parent.map(|p| self.get(p)).transpose()?;
        let mount_id = LayerId::random();
        let journal = self.layout.creating_journal(&mount_id);
        crate::atomic_file::write_atomic(&journal, b"")?;
        let created =
            self.driver
                .create_rw(&mount_id, parent_layer.as_ref().map(|p| &p.cache_id), opts);
        if let Err(e) = created {
            self.discard_driver_layer(&mount_id);
            let _ = fs::remove_file(&journal);
            return Err(e);
        }
        let rw = RwLayer {
            name: name.to_string(),
            mount_id,
            parent: parent.cloned(),
        };
        write_mount_dir(&self.layout, &rw)?;
        fs::remove_file(&journal).ctx("remove journal", &journal)?;
        Ok(rw)
    }

    /// The writable layer `name`.
    pub fn rw_layer(&self, name: &str) -> Result<RwLayer> {
        read_mount(&self.layout, name)
    }

    /// Every writable layer.
    pub fn rw_layers(&self) -> Result<Vec<RwLayer>> {
        self.layout
            .mount_names()?
            .iter()
            .map(|n| self.rw_layer(n))
            .collect()
    }

    /// Mounts the writable layer `name` and returns its root.
    pub fn mount_rw(&self, name: &str) -> Result<PathBuf> {
        let rw = self.rw_layer(name)?;
        self.driver.get(&rw.mount_id)
    }

    /// Releases a mount taken by [`LayerStore::mount_rw`].
    pub fn unmount_rw(&self, name: &str) -> Result<()> {
        let rw = self.rw_layer(name)?;
        self.driver.put(&rw.mount_id)
    }

    /// What the writable layer `name` changed on top of its image.
    pub fn changes_rw(&self, name: &str) -> Result<Vec<Change>> {
        let rw = self.rw_layer(name)?;
        let parent = self.parent_cache(&rw)?;
        self.driver.changes(&rw.mount_id, parent.as_ref())
    }

    /// The bytes of file content the writable layer `name` changes on its image (Docker's
    /// `SizeRw`).
    pub fn diff_size_rw(&self, name: &str) -> Result<u64> {
        let rw = self.rw_layer(name)?;
        let parent = self.parent_cache(&rw)?;
        self.driver.diff_size(&rw.mount_id, parent.as_ref())
    }

    /// Makes a new read-only layer from the changes of writable layer `name` (`commit`).
    pub fn commit_rw(&self, name: &str) -> Result<Layer> {
        self.commit_rw_noting(name, &mut |_, _| Ok(()))
    }

    /// [`LayerStore::commit_rw`], with a [`Note`] as [`LayerStore::register_noting`] takes.
    pub fn commit_rw_noting(&self, name: &str, note: Note<'_>) -> Result<Layer> {
        let rw = self.rw_layer(name)?;
        let parent = self.parent_cache(&rw)?;
        let driver = Arc::clone(&self.driver);
        let mount_id = rw.mount_id.clone();
        self.register_produced(
            rw.parent.as_ref(),
            move |out| driver.diff(&mount_id, parent.as_ref(), out),
            note,
        )
    }

    /// Makes a new read-only layer from writable layer `name` holding only `changes` (a
    /// subset of [`LayerStore::changes_rw`], say without what the runtime itself put there).
    pub fn commit_rw_changes(&self, name: &str, changes: &[Change]) -> Result<Layer> {
        self.commit_rw_changes_noting(name, changes, &mut |_, _| Ok(()))
    }

    /// [`LayerStore::commit_rw_changes`], with a [`Note`] as [`LayerStore::register_noting`]
    /// takes.
    pub fn commit_rw_changes_noting(
        &self,
        name: &str,
        changes: &[Change],
        note: Note<'_>,
    ) -> Result<Layer> {
        let rw = self.rw_layer(name)?;
        let root = self.driver.get(&rw.mount_id)?;
        let mut changes = changes.to_vec();
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        let committed = self.register_produced(
            rw.parent.as_ref(),
            move |out| crate::archive::export_changes(&root, &changes, out),
            note,
        );
        let released = self.driver.put(&rw.mount_id);
        let layer = committed?;
        released?;
        Ok(layer)
    }

    /// Registers the layer tar `produce` writes, streamed through a pipe from another
    /// thread, so no layer is ever held in memory.
    fn register_produced(
        &self,
        parent: Option<&ChainId>,
        produce: impl FnOnce(&mut dyn Write) -> Result<()> + Send + 'static,
        note: Note<'_>,
    ) -> Result<Layer> {
        let (reader, mut writer) = std::io::pipe().ctx("create pipe", "<commit>")?;
        let producer = std::thread::spawn(move || -> Result<()> {
            produce(&mut writer)?;
            writer.flush().ctx("flush diff", "<commit>")
        });
        let registered = self.register_noting(reader, parent, note);
        let produced = producer
            .join()
            .map_err(|_| Error::InvalidInput("the diff thread panicked".into()))?;
        match (produced, registered) {
            // The registration failed first (a full disk, say) and closed the pipe: its
            // error is the cause, the producer's broken pipe only a consequence.
            (Err(p), Err(r)) if is_broken_pipe(&p) => Err(r),
            (Err(p), Ok(layer)) => {
                // A layer from a diff that failed half-way is not the container's.
                let _ = self.remove(&layer.chain_id);
                Err(p)
            }
            (Err(p), Err(_)) => Err(p),
            (Ok(()), registered) => registered,
        }
    }

    fn parent_cache(&self, rw: &RwLayer) -> Result<Option<LayerId>> {
        rw.parent
            .as_ref()
            .map(|p| self.get(p).map(|l| l.cache_id))
            .transpose()
    }

    /// Removes the writable layer `name` (it must not be mounted).
    pub fn remove_rw(&self, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        let rw = self.rw_layer(name)?;
        let dir = self.layout.mount_dir(name)?;
        let doomed = self
            .layout
            .deleting_dir_named(&format!("mount-{}", rw.mount_id));
        fs::rename(&dir, &doomed).ctx("move writable layer metadata aside", &dir)?;
        self.driver.remove(&rw.mount_id)?;
        fs::remove_dir_all(&doomed).ctx("remove writable layer metadata", &doomed)
    }

    /// Removes what interrupted operations left behind. Runs under the lock.
    fn sweep(&self) -> Result<()> {
        let leftovers = self.layout.tmp_entries()?;
        if leftovers.is_empty() {
            return Ok(());
        }
        let busy = self.in_progress()?;
        let live: std::collections::HashSet<LayerId> = self
            .list()?
            .into_iter()
            .map(|l| l.cache_id)
            .chain(self.rw_layers()?.into_iter().map(|m| m.mount_id))
            .collect();
        for entry in leftovers {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let owner = name.split('.').next().unwrap_or_default();
            if LayerId::new(owner).is_ok_and(|id| busy.contains_key(&id)) {
                continue;
            }
            for cache_id in layout::cache_ids_in_leftover(&entry) {
                if !live.contains(&cache_id) && self.driver.exists(&cache_id) {
                    warn!(layer = %cache_id, "removing a layer left behind by an interrupted operation");
                    match self.driver.remove(&cache_id) {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let removed = if entry.is_dir() {
                fs::remove_dir_all(&entry)
            } else {
                fs::remove_file(&entry)
            };
            removed.ctx("remove leftover", &entry)?;
        }
        Ok(())
    }
}

impl LayerStore {
    /// The layers being registered by live processes (their journal is flock-held), with
    /// the parent each is made on. Journals of dead processes are not listed.
    fn in_progress(&self) -> Result<std::collections::HashMap<LayerId, Option<ChainId>>> {
        let mut busy = std::collections::HashMap::new();
        for entry in self.layout.tmp_entries()? {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(id) = name.strip_suffix(".creating") else {
                continue;
            };
            let Ok(id) = LayerId::new(id) else { continue };
            let Ok(file) = fs::File::open(&entry) else {
                continue;
            };
            if let Err(fs::TryLockError::WouldBlock) = file.try_lock_shared() {
                let parent = fs::read_to_string(&entry)
                    .ok()
                    .and_then(|p| p.trim().parse().ok());
                busy.insert(id, parent);
            }
        }
        Ok(busy)
    }
}

/// The journal of one registration: `tmp/<cache-id>.creating`, naming the parent chain,
/// flock-held by the registering process until the layer is recorded or discarded.
struct Journal {
    _file: fs::File,
}

impl Journal {
    /// Writes and locks the journal; call under the store lock (so a sweep, which holds it,
    /// never sees the file before it is locked).
    fn start(path: &Path, parent: Option<&ChainId>) -> Result<Journal> {
        let mut file = fs::File::create(path).ctx("create journal", path)?;
        file.lock().ctx("lock journal", path)?;
        let text = parent.map(|p| p.to_string()).unwrap_or_default();
        file.write_all(text.as_bytes()).ctx("write journal", path)?;
        file.sync_all().ctx("fsync journal", path)?;
        if let Some(dir) = path.parent() {
            crate::atomic_file::sync_dir(dir)?;
        }
        Ok(Journal { _file: file })
    }

    /// Removes the journal of a registration given up.
    fn finish(self, path: &Path) {
        let _ = fs::remove_file(path);
    }
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// A reader that hands a copy of every byte to a pipe; if the pipe breaks, copying stops and
/// reading goes on.
struct Tee<'a, R> {
    inner: &'a mut R,
    copy: Option<std::io::PipeWriter>,
}

impl<R: Read> Tee<'_, R> {
    fn drain(&mut self) -> std::io::Result<u64> {
        std::io::copy(self, &mut std::io::sink())
    }
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(pipe) = &mut self.copy
            && pipe.write_all(&buf[..n]).is_err()
        {
            self.copy = None;
        }
        Ok(n)
    }
}
