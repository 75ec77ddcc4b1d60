//! The event journal: Docker's events (`docker events`, `GET /events`), written by whichever
//! process does the thing, at the moment it does it.
//!
//! There is no long-lived owner of the engine's state: the CLI pulls and tags images in its
//! own process, each container's monitor starts it, sees it die and restarts it, and the
//! daemon is only a front door. So events cannot live in one process's memory; every process
//! appends them to one file under the data root, and readers (the daemon's `GET /events`,
//! `engine events`) follow that file.
//!
//! ```text
//! <root>/events/journal     the current generation: one JSON event a line, oldest first
//! <root>/events/journal.1   the previous generation (rotated away at MAX_JOURNAL bytes)
//! <root>/events/lock        flock'd by writers (exclusive) and by readers opening (shared);
//!                           holds the last timeNano handed out
//! ```
//!
//! A line is exactly what the API sends (Docker 1.41's `events.Message`, with the pre-1.22
//! `status`/`id`/`from` fields), so readers filter and pass it through.
//!
//! Order and time: a writer stamps the event and appends it while holding the lock, and the
//! stamp is at least one nanosecond after the last one handed out. So the journal is in time
//! order, `timeNano` strictly increases along it (even if the wall clock steps back), and a
//! reader that has seen a stamp after `until` has seen everything up to `until`.
//!
//! Emitting never fails the operation it reports: a journal that cannot be written is logged
//! (`tracing::warn`) and the operation goes on, as Docker's events are best-effort too.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use graph::image::{Image, Reference};

use crate::container::record::{MountPoint, Record};
use crate::network::record::Network;
use crate::volume::store::Volume;

/// The size at which the journal is rotated: at most two generations (about 2 x 4 MiB, some
/// ten thousand events each) are kept, so the journal cannot grow for ever.
pub const MAX_JOURNAL: u64 = 4 << 20;

/// How often a follower looks for new lines (a poll of the file's size, not inotify: one
/// `read` per subscriber per tick is cheap, and it works the same on every filesystem).
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// One event, before it is stamped.
#[derive(Debug, Clone)]
pub struct Event {
    kind: &'static str,
    action: String,
    id: String,
    attributes: BTreeMap<String, String>,
}

impl Event {
    /// An event of `kind` (`container`, `image`, `volume`, `network`) on actor `id`.
    pub fn new(kind: &'static str, action: impl Into<String>, id: impl Into<String>) -> Self {
        Event {
            kind,
            action: action.into(),
            id: id.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) attribute `key`.
    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attributes.insert(key.to_string(), value.into());
        self
    }

    /// A container event with Docker's attributes: the container's labels, `image` (as the
    /// user named it) and `name` (the name it has now, without the `/`).
    pub fn container(action: impl Into<String>, r: &Record) -> Self {
        let mut e = Event::new("container", action, &r.id);
        for (k, v) in &r.config.labels {
            e.attributes.insert(k.clone(), v.clone());
        }
        if !r.config.image.is_empty() {
            e = e.attr("image", &r.config.image);
        }
        e.attr("name", r.short_name())
    }

    /// An image event: `id` is what Docker puts in `Actor.ID` (the image id, or for pull and
    /// push the reference), `name` the reference acted on.
    pub fn image(action: &str, id: impl Into<String>, name: impl Into<String>) -> Self {
        Event::new("image", action, id).attr("name", name)
    }

    /// [`Event::image`] with the labels of `image` among the attributes, as Docker's
    /// image events carry them (`name` wins over a label of that name, as in Docker).
    pub fn image_of(
        action: &str,
        id: impl Into<String>,
        name: impl Into<String>,
        image: Option<&Image>,
    ) -> Self {
        let mut e = Event::new("image", action, id);
        if let Some(labels) = image
            .and_then(|i| i.config.config.as_ref())
            .and_then(|c| c.labels.as_ref())
        {
            for (k, v) in labels {
                e.attributes.insert(k.clone(), v.clone());
            }
        }
        e.attr("name", name)
    }

    /// A volume event (`driver` is Docker's attribute).
    pub fn volume(action: &str, name: &str, driver: &str) -> Self {
        Event::new("volume", action, name).attr("driver", driver)
    }

    /// A network event with Docker's `name` and `type` (the driver).
    pub fn network(action: &str, id: &str, name: &str, driver: &str) -> Self {
        Event::new("network", action, id)
            .attr("name", name)
            .attr("type", driver)
    }

    /// The event as the API sends it, stamped `nanos` after the epoch.
    fn message(&self, nanos: u64) -> Value {
        let mut v = json!({
            "Type": self.kind,
            "Action": self.action,
            "Actor": { "ID": self.id, "Attributes": self.attributes },
            "scope": "local",
            "time": nanos / 1_000_000_000,
            "timeNano": nanos,
        });
        // The fields of the API before 1.22, which Docker still fills for these two.
        if self.kind == "container" || self.kind == "image" {
            v["status"] = json!(self.action);
            v["id"] = json!(self.id);
        }
        if self.kind == "container"
            && let Some(image) = self.attributes.get("image")
        {
            v["from"] = json!(image);
        }
        v
    }
}

fn dir(data_root: &Path) -> PathBuf {
    data_root.join("events")
}

fn journal(data_root: &Path) -> PathBuf {
    dir(data_root).join("journal")
}

fn previous(data_root: &Path) -> PathBuf {
    dir(data_root).join("journal.1")
}

/// Opens (creating) the lock file, which also holds the last stamp.
fn open_lock(data_root: &Path) -> Result<File> {
    let d = dir(data_root);
    fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    let path = d.join("lock");
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

/// The root of a store that lives at `<data_root>/<store>` (for stores that keep only their
/// own directory).
pub fn root_of(store_dir: &Path) -> &Path {
    store_dir.parent().unwrap_or(store_dir)
}

/// Appends `event` to the journal of `data_root`, stamped now. Never fails: see the module
/// documentation.
pub fn emit(data_root: &Path, event: Event) {
    if let Err(e) = append(data_root, &event) {
        tracing::warn!(action = %event.action, actor = %event.id, error = %format!("{e:#}"), "cannot record the event");
    }
}

/// [`emit`] of a container event with no attributes beyond Docker's defaults.
pub fn container(data_root: &Path, action: &str, r: &Record) {
    emit(data_root, Event::container(action, r));
}

/// A container's end, as its monitor saw it: `oom` first when the kernel killed it for
/// memory, then `die` with the exit code.
pub fn died(data_root: &Path, r: &Record, oom_killed: bool) {
    if oom_killed {
        container(data_root, "oom", r);
    }
    let code = r.state.exit_code.to_string();
    emit(data_root, Event::container("die", r).attr("exitCode", code));
}

/// A volume mounted for container `id` at `mount` (Docker's `mount`), or with `None` the
/// end of that use (`unmount`).
pub fn volume_mount(data_root: &Path, v: &Volume, container: &str, mount: Option<&MountPoint>) {
    let e = Event::volume(
        if mount.is_some() { "mount" } else { "unmount" },
        &v.name,
        &v.driver,
    )
    .attr("container", container);
    let e = match mount {
        Some(m) => e
            .attr("destination", &m.destination)
            .attr("read/write", m.rw.to_string())
            .attr("propagation", &m.propagation),
        None => e,
    };
    emit(data_root, e);
}

/// Signal `signal` sent to the container (Docker's `kill`, also sent by `stop`). Recorded
/// just before the signal goes, so it always comes before the `die` it causes (which the
/// container's monitor records, in another process).
pub fn killed(data_root: &Path, r: &Record, signal: i32) {
    emit(
        data_root,
        Event::container("kill", r).attr("signal", signal.to_string()),
    );
}

/// Image `image` tagged `name` (Docker's `tag`: the image id as the actor).
pub fn tagged(data_root: &Path, image: &Image, name: &str) {
    emit(
        data_root,
        Event::image_of("tag", image.id.to_string(), name, Some(image)),
    );
}

/// A commit of container `r` into `image` (tagged `reference`, if asked): the image's `tag`,
/// then the container's `commit`, as Docker's commit reports them.
pub fn committed(
    data_root: &Path,
    r: &Record,
    image: &Image,
    reference: Option<String>,
    comment: Option<&str>,
) {
    if let Some(name) = &reference {
        tagged(data_root, image, name);
    }
    let e = Event::container("commit", r)
        .attr("comment", comment.unwrap_or(""))
        .attr("imageID", image.id.to_string())
        .attr("imageRef", reference.unwrap_or_default());
    emit(data_root, e);
}

/// An image event with the image id as actor and name, as Docker reports `load`, `save`,
/// `import` and `untag`, with the image's labels.
pub fn image_plain(data_root: &Path, action: &str, image: &Image) {
    let id = image.id.to_string();
    emit(data_root, Event::image_of(action, &id, &id, Some(image)));
}

/// Image `id` deleted. No labels: Docker looks them up when it reports, and the image is
/// gone by then.
pub fn image_deleted(data_root: &Path, id: &graph::Digest) {
    let id = id.to_string();
    emit(data_root, Event::image("delete", &id, &id));
}

/// A `pull` or `push` of `reference`: Docker's actor is the reference, its name the
/// repository, and the labels those of the image the reference names (`image`).
pub fn pulled(data_root: &Path, action: &str, reference: &Reference, image: Option<&Image>) {
    let e = Event::image_of(
        action,
        reference.familiar(),
        reference.familiar_name(),
        image,
    );
    emit(data_root, e);
}

/// What `rmi` did to `image`, from its report (`Untagged`/`Deleted` rows; only the row
/// naming the image itself is its `delete`, the others are its layers).
pub fn image_removal(data_root: &Path, image: &Image, report: &[(&str, String)]) {
    let image_id = image.id.to_string();
    for (what, id) in report {
        match *what {
            "Untagged" => image_plain(data_root, "untag", image),
            "Deleted" if *id == image_id => image_deleted(data_root, &image.id),
            _ => {}
        }
    }
}

/// A network event; `connect` and `disconnect` name the container.
pub fn network(data_root: &Path, action: &str, n: &Network, container: Option<&str>) {
    let mut e = Event::network(action, &n.id, &n.name, &n.driver);
    if let Some(c) = container {
        e = e.attr("container", c);
    }
    emit(data_root, e);
}

/// The events of one exec in a container: Docker's `exec_create: CMD ARGS`,
/// `exec_start: CMD ARGS` and `exec_die`, each with the exec's id.
#[derive(Debug, Clone)]
pub struct ExecEvents {
    data_root: PathBuf,
    record: Record,
    exec_id: String,
    command: String,
}

impl ExecEvents {
    /// The events of exec `exec_id` running `command` in container `record`.
    pub fn new(data_root: &Path, record: &Record, exec_id: &str, command: &[String]) -> Self {
        ExecEvents {
            data_root: data_root.to_path_buf(),
            record: record.clone(),
            exec_id: exec_id.to_string(),
            command: command.join(" "),
        }
    }

    fn event(&self, action: String) -> Event {
        Event::container(action, &self.record).attr("execID", &self.exec_id)
    }

    /// `exec_create`.
    pub fn created(&self) {
        emit(
            &self.data_root,
            self.event(format!("exec_create: {}", self.command)),
        );
    }

    /// `exec_start`.
    pub fn started(&self) {
        emit(
            &self.data_root,
            self.event(format!("exec_start: {}", self.command)),
        );
    }

    /// `exec_die` with the exit code.
    pub fn died(&self, code: i32) {
        let e = self
            .event("exec_die".into())
            .attr("exitCode", code.to_string());
        emit(&self.data_root, e);
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}

fn append(data_root: &Path, event: &Event) -> Result<()> {
    let mut lock = open_lock(data_root)?;
    lock.lock().context("locking the event journal")?;
    let mut last = String::new();
    lock.read_to_string(&mut last)?;
    let last: u64 = last.trim().parse().unwrap_or(0);
    let stamp = now_nanos().max(last + 1);
    let mut line = serde_json::to_vec(&event.message(stamp))?;
    line.push(b'\n');
    let path = journal(data_root);
    // O_APPEND: the kernel moves to the end and writes in one step, and on a local filesystem
    // Linux holds the inode's lock for the whole write(2), so a line lands whole at the end
    // whatever its size (PIPE_BUF is a pipe's limit, not a file's). The lock above adds the
    // order (stamp, then write, one writer at a time), so the journal is in time order; a
    // network filesystem would need the lock for the appends too, and has it.
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // No fsync: an event lost in a power cut is not worth a disk flush per operation.
    file.write_all(&line)
        .with_context(|| format!("writing {}", path.display()))?;
    if file.metadata()?.len() >= MAX_JOURNAL {
        // Under the lock, so no writer appends to the old generation after this, and a
        // follower that sees the new file can read the old one to its end.
        let old = previous(data_root);
        fs::rename(&path, &old)
            .with_context(|| format!("rotating {} to {}", path.display(), old.display()))?;
    }
    lock.set_len(0)?;
    lock.seek(SeekFrom::Start(0))?;
    write!(lock, "{stamp}")?;
    Ok(())
}

/// Reads the journal as it grows: complete lines only, across rotations.
#[derive(Debug)]
pub struct Follower {
    data_root: PathBuf,
    /// Files still to read before `current`: the previous generation, when starting from the
    /// kept history.
    backlog: Vec<File>,
    current: Option<File>,
    /// The inode of `current`, to see that the journal was rotated away under it.
    inode: u64,
    /// The start of a line whose end is not written yet.
    partial: Vec<u8>,
}

impl Follower {
    /// A follower of the journal of `data_root`: from the oldest event kept (`history`) or
    /// from now on.
    pub fn open(data_root: &Path, history: bool) -> Result<Follower> {
        let lock = open_lock(data_root)?;
        // Shared: no rotation happens between opening the two generations.
        lock.lock_shared().context("locking the event journal")?;
        let mut f = Follower {
            data_root: data_root.to_path_buf(),
            backlog: Vec::new(),
            current: None,
            inode: 0,
            partial: Vec::new(),
        };
        if history && let Ok(old) = File::open(previous(data_root)) {
            f.backlog.push(old);
        }
        f.open_current(!history)?;
        Ok(f)
    }

    /// Opens the journal as it is now (creating it empty), at its end or its start.
    fn open_current(&mut self, at_end: bool) -> Result<()> {
        let path = journal(&self.data_root);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        self.inode = file.metadata()?.ino();
        if at_end {
            file.seek(SeekFrom::End(0))?;
        }
        self.current = Some(file);
        Ok(())
    }

    /// Every complete event written since the last call, oldest first. Lines that are not
    /// JSON (a torn write after a crash) are skipped.
    pub fn poll(&mut self) -> Result<Vec<Value>> {
        let mut bytes = Vec::new();
        for mut old in std::mem::take(&mut self.backlog) {
            old.read_to_end(&mut bytes)?;
        }
        let mut out = self.lines(bytes);
        loop {
            let mut bytes = Vec::new();
            if let Some(f) = self.current.as_mut() {
                f.read_to_end(&mut bytes)?;
            }
            out.extend(self.lines(bytes));
            // Rotated: what was written to the old file was written before the rename, so it
            // has been read above; the new file is read from its start. (Two rotations
            // between polls would skip a generation: MAX_JOURNAL makes that thousands of
            // events in one POLL_EVERY.)
            let now = fs::metadata(journal(&self.data_root)).map(|m| m.ino()).ok();
            if now.is_some_and(|ino| ino != self.inode) {
                self.partial.clear();
                self.open_current(false)?;
                continue;
            }
            return Ok(out);
        }
    }

    /// [`Follower::poll`] once every writer that already has its stamp has written it: after
    /// this, every event stamped before the call has been returned.
    pub fn poll_settled(&mut self) -> Result<Vec<Value>> {
        let lock = open_lock(&self.data_root)?;
        lock.lock_shared().context("locking the event journal")?;
        self.poll()
    }

    fn lines(&mut self, bytes: Vec<u8>) -> Vec<Value> {
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(n) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = &buf[start..start + n];
            match serde_json::from_slice::<Value>(line) {
                Ok(v) => out.push(v),
                Err(e) => tracing::debug!(error = %e, "skipping a torn event line"),
            }
            start += n + 1;
        }
        self.partial = buf[start..].to_vec();
        out
    }
}

/// The `timeNano` of an event line.
pub fn stamp_of(v: &Value) -> u64 {
    v["timeNano"].as_u64().unwrap_or(0)
}

/// The filter keys `docker events --filter` takes.
const FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Docker's event filters: values of one key are alternatives, keys all have to match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    by_key: BTreeMap<String, Vec<String>>,
}

impl Filter {
    /// From `KEY=VALUE` pairs; an unknown key is refused, naming it.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Filter> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            if !FILTER_KEYS.contains(&k) {
                bail!(
                    "invalid filter '{k}': the event filters are {}",
                    FILTER_KEYS.join(", ")
                );
            }
            if k == "type"
                && !matches!(
                    v,
                    "container"
                        | "image"
                        | "volume"
                        | "network"
                        | "daemon"
                        | "plugin"
                        | "service"
                        | "node"
                        | "secret"
                        | "config"
                )
            {
                bail!("invalid filter 'type={v}': unknown event type");
            }
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(Filter { by_key })
    }

    /// From the CLI's `--filter KEY=VALUE` arguments.
    pub fn from_args(args: &[String]) -> Result<Filter> {
        let mut pairs = Vec::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {a}"))?;
            pairs.push((k, v));
        }
        Filter::parse(pairs)
    }

    fn exact(&self, key: &str, value: &str) -> bool {
        self.by_key
            .get(key)
            .is_none_or(|vals| vals.iter().any(|v| v == value))
    }

    fn fuzzy(&self, key: &str, value: &str) -> bool {
        self.by_key
            .get(key)
            .is_none_or(|vals| vals.iter().any(|v| value.starts_with(v.as_str())))
    }

    /// Whether event `v` passes, as Docker's `daemon/events` filter decides.
    pub fn matches(&self, v: &Value) -> bool {
        let kind = v["Type"].as_str().unwrap_or("");
        let action = v["Action"].as_str().unwrap_or("");
        let id = v["Actor"]["ID"].as_str().unwrap_or("");
        let attrs = &v["Actor"]["Attributes"];
        let attr = |k: &str| attrs[k].as_str().unwrap_or("");
        // `exec_start` (no command) matches `exec_start: sh -c ...`, as Docker's does.
        let event = match self.by_key.get("event") {
            Some(vals)
                if vals.iter().any(|v| {
                    matches!(v.as_str(), "exec_create" | "exec_start" | "health_status")
                }) =>
            {
                self.fuzzy("event", action)
            }
            _ => self.exact("event", action),
        };
        // Container, volume, network (...) filters match an actor's id or name by prefix,
        // whatever the event's type.
        let named = [
            "container",
            "daemon",
            "plugin",
            "volume",
            "network",
            "node",
            "service",
            "secret",
            "config",
        ]
        .iter()
        .all(|k| self.fuzzy(k, id) || self.fuzzy(k, attr("name")));
        let image_name = if kind == "image" {
            attr("name")
        } else {
            attr("image")
        };
        let image = self.exact("image", id)
            || self.exact("image", image_name)
            || self.exact("image", strip_tag(id))
            || self.exact("image", strip_tag(image_name));
        let labels = self.by_key.get("label").is_none_or(|vals| {
            vals.iter().all(|want| match want.split_once('=') {
                Some((k, val)) => attrs.get(k).and_then(Value::as_str) == Some(val),
                None => attrs.get(want.as_str()).is_some(),
            })
        });
        event
            && self.exact("type", kind)
            && self.exact("scope", v["scope"].as_str().unwrap_or(""))
            && named
            && image
            && labels
    }
}

/// `busybox:latest` -> `busybox`; ids and digests are left alone.
fn strip_tag(name: &str) -> &str {
    let name = name.split('@').next().unwrap_or(name);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !repo.starts_with("sha256") => repo,
        _ => name,
    }
}

/// A `--since`/`--until` value as Docker takes it: a duration back from `now` (`10m`,
/// `1h30m`), Unix seconds with an optional fraction, or an RFC 3339 date-time (`Z` or an
/// offset; without one it is read as UTC, where Docker reads the daemon's local zone), down to
/// a bare date.
pub fn parse_time(value: &str, now: SystemTime) -> Result<SystemTime> {
    let bad = || anyhow!("failed to parse value as time or duration: {value:?}");
    if value != "0"
        && value.chars().next().is_some_and(|c| c.is_ascii_digit())
        && value
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && !value.contains('-')
        && let Ok(d) = humantime::parse_duration(value)
    {
        return now.checked_sub(d).ok_or_else(bad);
    }
    if !value.contains('-') {
        let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
        let s: u64 = secs.parse().map_err(|_| bad())?;
        let nanos: u32 = if frac.is_empty() {
            0
        } else {
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            format!("{frac:0<9}").parse().map_err(|_| bad())?
        };
        return Ok(UNIX_EPOCH + Duration::new(s, nanos));
    }
    // An offset after the time (`+01:00`, `-05:00`): parsed as UTC, then moved.
    let (base, offset) = match value.find('T').map(|t| (t, &value[t..])) {
        Some((t, rest)) => match rest.rfind(['+', '-']) {
            Some(i) => {
                let (sign, hm) = rest[i..].split_at(1);
                let (h, m) = hm.split_once(':').unwrap_or((hm, "0"));
                let secs = h.parse::<i64>().map_err(|_| bad())? * 3600
                    + m.parse::<i64>().map_err(|_| bad())? * 60;
                (&value[..t + i], if sign == "+" { secs } else { -secs })
            }
            None => (value, 0),
        },
        None => (value, 0),
    };
    let base = base.trim_end_matches(['Z', 'z']);
    let full = match base.find('T') {
        None => format!("{base}T00:00:00"),
        Some(t) => match base[t..].matches(':').count() {
            0 => format!("{base}:00:00"),
            1 => format!("{base}:00"),
            _ => base.to_string(),
        },
    };
    let t = humantime::parse_rfc3339_weak(&full).map_err(|_| bad())?;
    let shifted = if offset >= 0 {
        t.checked_sub(Duration::from_secs(offset as u64))
    } else {
        t.checked_add(Duration::from_secs(offset.unsigned_abs()))
    };
    shifted.ok_or_else(bad)
}

/// Nanoseconds since the epoch.
pub fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
}

/// An event as `docker events` prints it without `--format`:
/// `TIME TYPE ACTION ID (k=v, ...)`, attributes sorted, the time in UTC with nanoseconds.
pub fn pretty(v: &Value) -> String {
    let stamp = stamp_of(v);
    let time = UNIX_EPOCH + Duration::from_nanos(stamp);
    let mut s = format!(
        "{} {} {} {}",
        humantime::format_rfc3339_nanos(time),
        v["Type"].as_str().unwrap_or(""),
        v["Action"].as_str().unwrap_or(""),
        v["Actor"]["ID"].as_str().unwrap_or(""),
    );
    if let Some(attrs) = v["Actor"]["Attributes"].as_object()
        && !attrs.is_empty()
    {
        let mut pairs: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        pairs.sort();
        s.push_str(&format!(" ({})", pairs.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[test]
    fn events_are_stamped_in_order_and_followed() {
        let root = temp();
        let mut from_now = Follower::open(root.path(), false).unwrap();
        for i in 0..50 {
            emit(
                root.path(),
                Event::image("tag", "sha256:x", format!("x:{i}")),
            );
        }
        let got = from_now.poll().unwrap();
        assert_eq!(got.len(), 50);
        for w in got.windows(2) {
            assert!(stamp_of(&w[0]) < stamp_of(&w[1]), "{w:?}");
        }
        assert_eq!(got[7]["Actor"]["Attributes"]["name"], "x:7");
        assert_eq!(got[7]["status"], "tag");
        assert!(from_now.poll().unwrap().is_empty());
        let mut history = Follower::open(root.path(), true).unwrap();
        assert_eq!(history.poll().unwrap().len(), 50);
    }

    #[test]
    fn a_partial_line_waits_for_its_end() {
        let root = temp();
        let mut f = Follower::open(root.path(), false).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(journal(root.path()))
            .unwrap();
        file.write_all(br#"{"Type":"image","Act"#).unwrap();
        assert!(f.poll().unwrap().is_empty());
        file.write_all(b"ion\":\"tag\",\"timeNano\":5}\nnot json\n")
            .unwrap();
        let got = f.poll().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["Action"], "tag");
    }

    #[test]
    fn rotation_bounds_the_journal_and_loses_nothing_to_a_follower() {
        let root = temp();
        let mut f = Follower::open(root.path(), false).unwrap();
        let big = "y".repeat(64 << 10);
        let n = (2 * MAX_JOURNAL / (64 << 10)) as usize + 3;
        let mut seen = 0;
        for i in 0..n {
            emit(
                root.path(),
                Event::new("volume", "create", format!("v{i}")).attr("pad", &big),
            );
            // A follower polling now and then sees every event once, in order.
            if i % 7 == 0 {
                for v in f.poll().unwrap() {
                    assert_eq!(v["Actor"]["ID"], format!("v{seen}"));
                    seen += 1;
                }
            }
        }
        for v in f.poll().unwrap() {
            assert_eq!(v["Actor"]["ID"], format!("v{seen}"));
            seen += 1;
        }
        assert_eq!(seen, n);
        let size = |p: PathBuf| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(journal(root.path())) < MAX_JOURNAL);
        assert!(size(previous(root.path())) <= MAX_JOURNAL + (65 << 10));
    }

    #[test]
    fn filters_match_like_dockers() {
        let v = Event::new("container", "start", "abcdef")
            .attr("name", "web")
            .attr("image", "busybox:latest")
            .attr("tier", "front")
            .message(1);
        let f = |pairs: &[(&str, &str)]| Filter::parse(pairs.iter().copied()).unwrap();
        assert!(f(&[]).matches(&v));
        assert!(f(&[("type", "container")]).matches(&v));
        assert!(!f(&[("type", "image")]).matches(&v));
        assert!(f(&[("event", "die"), ("event", "start")]).matches(&v));
        assert!(f(&[("container", "abc")]).matches(&v));
        assert!(f(&[("container", "web")]).matches(&v));
        assert!(!f(&[("container", "db")]).matches(&v));
        assert!(f(&[("image", "busybox")]).matches(&v));
        assert!(f(&[("image", "busybox:latest")]).matches(&v));
        assert!(f(&[("label", "tier=front"), ("label", "tier")]).matches(&v));
        assert!(!f(&[("label", "tier=front"), ("label", "other")]).matches(&v));
        assert!(!f(&[("volume", "data")]).matches(&v));
        let exec = Event::new("container", "exec_start: sh -c true", "abc").message(2);
        assert!(f(&[("event", "exec_start")]).matches(&exec));
        assert!(Filter::parse([("colour", "red")]).is_err());
        assert!(Filter::parse([("type", "thing")]).is_err());
    }

    #[test]
    fn times_parse_as_docker_takes_them() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert_eq!(secs(parse_time("10m", now).unwrap()), 1_699_999_400.0);
        assert_eq!(secs(parse_time("1h30m", now).unwrap()), 1_699_994_600.0);
        assert_eq!(secs(parse_time("1700000000", now).unwrap()), 1.7e9);
        assert_eq!(
            parse_time("1700000000.5", now)
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap(),
            Duration::new(1_700_000_000, 500_000_000)
        );
        assert_eq!(
            secs(parse_time("2023-11-14T22:13:20Z", now).unwrap()),
            1.7e9
        );
        assert_eq!(
            secs(parse_time("2023-11-14T23:13:20+01:00", now).unwrap()),
            1.7e9
        );
        assert_eq!(
            secs(parse_time("2023-11-14T22:13:20.25Z", now).unwrap()),
            1.7e9 + 0.25
        );
        assert_eq!(
            secs(parse_time("2023-11-14", now).unwrap()),
            1_699_920_000.0
        );
        assert!(parse_time("soon", now).is_err());
        assert!(parse_time("2023-13-45", now).is_err());
    }

    #[test]
    fn the_plain_format_is_dockers() {
        let v = Event::image("tag", "sha256:ab", "x:1").message(1_700_000_000_000_000_001);
        assert_eq!(
            pretty(&v),
            "2023-11-14T22:13:20.000000001Z image tag sha256:ab (name=x:1)"
        );
    }
}
