//! The container store: `<data-root>/containers/<id>/` with `config.json`, the json-file log
//! and the generated /etc files. Every write is atomic, under the container's own lock; names
//! are checked and taken under the store's lock.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use graph::atomic_file::write_atomic;
use graph::store_lock::StoreLock;

use super::record::Record;

/// The directory of all containers.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    root: PathBuf,
}

impl ContainerStore {
    /// Opens (creating) `<data_root>/containers`.
    pub fn open(data_root: &Path) -> Result<Self> {
        let root = data_root.join("containers");
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(ContainerStore { root })
    }

    /// The data root the store lives in (where the event journal is).
    pub fn data_root(&self) -> &Path {
        crate::events::root_of(&self.root)
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn config_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("config.json")
    }

    /// The store-wide lock, held while a name is checked and taken or given up.
    pub fn lock_names(&self) -> Result<StoreLock> {
        Ok(StoreLock::exclusive(&self.root.join(".names.lock"))?)
    }

    /// The lock of one container's record.
    fn lock(&self, id: &str) -> Result<StoreLock> {
        Ok(StoreLock::exclusive(&self.dir(id).join(".lock"))?)
    }

    /// Stores a new container (its directory must not exist). The caller holds
    /// [`ContainerStore::lock_names`] and has checked the name.
    pub fn create(&self, record: &Record) -> Result<()> {
        let dir = self.dir(&record.id);
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        self.save(record)
    }

    /// Writes the record (atomically, under its lock).
    pub fn save(&self, record: &Record) -> Result<()> {
        let _lock = self.lock(&record.id)?;
        self.write(record)
    }

    fn write(&self, record: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(record)?;
        write_atomic(&self.config_path(&record.id), &bytes)?;
        Ok(())
    }

    /// Reads container `id`.
    pub fn load(&self, id: &str) -> Result<Record> {
        let path = self.config_path(id);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::Error::new(crate::error::EngineError::not_found(format!(
                    "No such container: {id}"
                )))
            } else {
                anyhow!("reading {}: {e}", path.display())
            }
        })?;
        let record: Record = serde_json::from_slice(&bytes)
            .with_context(|| format!("corrupt {}", path.display()))?;
        Ok(self.reconcile(record))
    }

    /// A record that says running (or restarting) while no monitor owns the container means
    /// the monitor died (killed, or the machine crashed). Nothing can log, restart or reap an
    /// orphaned container, so it is killed, and the record read as exited; the next write of
    /// the record makes that durable.
    fn reconcile(&self, mut record: Record) -> Record {
        if !(record.state.running || record.state.restarting) || self.monitor_alive(&record.id) {
            return record;
        }
        let pid = record.state.pid;
        let ours = pid > 0
            && fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.contains(&format!("/engine/{}", record.id)));
        if ours {
            tracing::warn!(container = %record.id, pid, "the container's monitor is gone; killing the orphaned container");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            record.state.exit_code = 137;
        }
        record.state.status = "exited".into();
        record.state.running = false;
        record.state.restarting = false;
        record.state.pid = 0;
        record.state.error = "the container's monitor process died".into();
        // Its probes died with it.
        if let Some(h) = record.state.health.as_mut() {
            h.status = super::health::UNHEALTHY.into();
        }
        if record.state.finished_at.is_empty() {
            record.state.finished_at = crate::container::log::now();
        }
        // Written at once (the exit code of the kill is known only now). Not under the
        // record's lock: `update` may be the caller, holding it; with the monitor gone nothing
        // else writes a running record.
        if let Err(e) = self.write(&record) {
            tracing::warn!(container = %record.id, error = %e, "recording the exit failed");
        }
        record
    }

    /// Reads, changes and writes the record under its lock; returns the new record.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Record)) -> Result<Record> {
        let _lock = self.lock(id)?;
        let mut record = self.load(id)?;
        change(&mut record);
        self.write(&record)?;
        Ok(record)
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for entry in
            fs::read_dir(&self.root).with_context(|| format!("reading {}", self.root.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !self.config_path(&name).exists() {
                continue;
            }
            match self.load(&name) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(container = %name, error = %e, "skipping unreadable container")
                }
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Finds a container by full id, name (with or without '/'), or unique id prefix, as
    /// Docker does; fails with Docker's "No such container".
    pub fn resolve(&self, s: &str) -> Result<Record> {
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.id == s) {
            return Ok(r.clone());
        }
        let name = format!("/{}", s.trim_start_matches('/'));
        if let Some(r) = all.iter().find(|r| r.name == name) {
            return Ok(r.clone());
        }
        let matches: Vec<&Record> = if s.is_empty() {
            Vec::new()
        } else {
            all.iter().filter(|r| r.id.starts_with(s)).collect()
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                Err(crate::error::EngineError::not_found(format!("No such container: {s}")).into())
            }
            _ => bail!("Multiple IDs found with provided prefix: {s}"),
        }
    }

    /// The container using `name` ("/x"), if any.
    pub fn by_name(&self, name: &str) -> Result<Option<Record>> {
        Ok(self.list()?.into_iter().find(|r| r.name == name))
    }

    /// Gives container `id` the name `new` (Docker's rename), under the names lock so two
    /// renames (or a create) cannot take one name twice.
    pub fn rename(&self, id: &str, new: &str) -> Result<Record> {
        super::names::validate(new)?;
        let wanted = format!("/{}", new.trim_start_matches('/'));
        let _names = self.lock_names()?;
        let record = self.load(id)?;
        if record.name == wanted {
            bail!("Renaming a container with the same name as its current name");
        }
        if let Some(other) = self.by_name(&wanted)? {
            return Err(crate::error::EngineError::conflict(format!(
                "Conflict. The container name \"{wanted}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            ))
            .into());
        }
        let renamed = self.update(id, |r| r.name = wanted.clone())?;
        crate::events::emit(
            self.data_root(),
            crate::events::Event::container("rename", &renamed).attr("oldName", &record.name),
        );
        Ok(renamed)
    }

    /// Deletes the container's directory.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
    }

    /// The lock file a monitor holds for as long as it owns the container.
    pub fn monitor_lock_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("monitor.lock")
    }

    /// Takes the monitor lock without waiting; `None` when a monitor already holds it.
    pub fn try_monitor_lock(&self, id: &str) -> Result<Option<File>> {
        let path = self.monitor_lock_path(id);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(anyhow!("locking {}: {e}", path.display())),
        }
    }

    /// Whether a monitor process owns the container now. The lock goes with the monitor's
    /// death, so a crashed monitor never looks alive.
    pub fn monitor_alive(&self, id: &str) -> bool {
        let path = self.monitor_lock_path(id);
        let Ok(file) = OpenOptions::new().write(true).open(&path) else {
            return false;
        };
        matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock))
    }
}
