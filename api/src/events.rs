//! `GET /events`: Docker's event stream.
//!
//! Image events (pull, push, tag, untag, delete, import, load, save, commit) are published
//! by the handlers that did them. Container events (create, start, die, destroy, rename) come
//! from watching the container store, since containers are started, restarted and ended by
//! their monitors, not by the daemon: every [`WATCH_EVERY`] the records are compared with the
//! last look. So container events also show what the daemonless CLI did; image operations
//! done with the CLI, outside the daemon, do not appear.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::error::ApiResult;
use super::params::Params;
use super::server::AppState;
use super::stream::{self, JSON};
use engine_core::container::record::{Record, ZERO_TIME};
use engine_core::container::store::ContainerStore;
use engine_core::engine::Engine;

/// How often the container store is looked at.
pub const WATCH_EVERY: Duration = Duration::from_millis(200);
/// Events kept for `--since`.
const KEEP: usize = 1024;

/// The daemon's event hub.
#[derive(Debug)]
pub struct Events {
    tx: broadcast::Sender<Value>,
    recent: Mutex<VecDeque<Value>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(KEEP).0,
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

impl Events {
    /// Publishes one event in Docker's shape.
    pub fn publish(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<&str, String>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut v = json!({
            "Type": kind,
            "Action": action,
            "Actor": { "ID": id, "Attributes": attributes },
            "scope": "local",
            "time": now.as_secs(),
            "timeNano": now.as_nanos() as u64,
        });
        // The fields of the API before 1.22, which Docker still sends.
        if kind == "container" || kind == "image" {
            v["status"] = json!(action);
            v["id"] = json!(id);
            if let Some(image) = attributes.get("image") {
                v["from"] = json!(image);
            }
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(v.clone());
        drop(recent);
        let _ = self.tx.send(v);
    }

    /// An image event (`name` is the reference or id acted on).
    pub fn image(&self, action: &str, name: &str) {
        self.publish(
            "image",
            action,
            name,
            BTreeMap::from([("name", name.to_string())]),
        );
    }

    fn container(&self, action: &str, r: &Record, extra: &[(&'static str, String)]) {
        let mut attributes: BTreeMap<&str, String> = r
            .config
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        attributes.insert("image", r.config.image.clone());
        attributes.insert("name", r.short_name().to_string());
        for (k, v) in extra {
            attributes.insert(k, v.clone());
        }
        self.publish("container", action, &r.id, attributes);
    }
}

/// What was seen of one container at the last look.
#[derive(Debug, Clone)]
struct Seen {
    record: Record,
}

/// Watches the container store for ever, publishing what changed between looks.
pub async fn watch_containers(engine: Arc<Engine>, events: Arc<Events>) {
    let mut seen: Option<HashMap<String, Seen>> = None;
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tick.tick().await;
        let engine = Arc::clone(&engine);
        let listed = tokio::task::spawn_blocking(move || {
            ContainerStore::open(&engine.settings.data_root).and_then(|s| s.list())
        })
        .await;
        let Ok(Ok(records)) = listed else {
            continue;
        };
        let now: HashMap<String, Seen> = records
            .into_iter()
            .map(|record| (record.id.clone(), Seen { record }))
            .collect();
        if let Some(before) = &seen {
            compare(&events, before, &now);
        }
        seen = Some(now);
    }
}

fn compare(events: &Events, before: &HashMap<String, Seen>, now: &HashMap<String, Seen>) {
    let mut ids: Vec<&String> = now.keys().collect();
    ids.sort_by(|a, b| now[*a].record.created.cmp(&now[*b].record.created));
    for id in ids {
        let r = &now[id].record;
        let old = before.get(id).map(|s| &s.record);
        if old.is_none() {
            events.container("create", r, &[]);
        }
        if let Some(old) = old
            && old.name != r.name
        {
            events.container("rename", r, &[("oldName", old.short_name().to_string())]);
        }
        let zero = ZERO_TIME.to_string();
        let old_started = old.map_or(&zero, |o| &o.state.started_at);
        let old_finished = old.map_or(&zero, |o| &o.state.finished_at);
        let started = r.state.started_at != *old_started && r.state.started_at != ZERO_TIME;
        let died = r.state.finished_at != *old_finished && r.state.finished_at != ZERO_TIME;
        let die = || events.container("die", r, &[("exitCode", r.state.exit_code.to_string())]);
        match (started, died) {
            (true, true) if r.state.finished_at < r.state.started_at => {
                die();
                events.container("start", r, &[]);
            }
            (true, true) => {
                events.container("start", r, &[]);
                die();
            }
            (true, false) => events.container("start", r, &[]),
            (false, true) => die(),
            (false, false) => {}
        }
    }
    for (id, old) in before {
        if !now.contains_key(id) {
            events.container("destroy", &old.record, &[]);
        }
    }
}

/// Whether an event passes Docker's `filters` (`type`, `event`, `container`, `image`,
/// `label`); values of one key are alternatives.
fn wanted(filters: &[(String, String)], v: &Value) -> bool {
    let keys: Vec<&str> = {
        let mut k: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
        k.dedup();
        k
    };
    let attr = |name: &str| v["Actor"]["Attributes"][name].as_str().unwrap_or("");
    let id = v["Actor"]["ID"].as_str().unwrap_or("");
    let kind = v["Type"].as_str().unwrap_or("");
    keys.iter().all(|key| {
        filters
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(_, want)| match *key {
                "type" => kind == want,
                "event" => v["Action"].as_str() == Some(want.as_str()),
                "container" => {
                    kind == "container" && (id.starts_with(want.as_str()) || attr("name") == want)
                }
                "image" => {
                    attr("image") == want
                        || (kind == "image" && (id == want || attr("name") == want))
                }
                "label" => match want.split_once('=') {
                    Some((k, val)) => attr(k) == val,
                    None => !attr(want).is_empty(),
                },
                _ => true,
            })
    })
}

/// `GET /events?since=&until=&filters=`.
pub async fn stream(
    axum::extract::State(state): axum::extract::State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let filters: Vec<(String, String)> = params
        .filters()?
        .into_iter()
        .filter_map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let since = params.time("since")?;
    let until = params.time("until")?;
    let events = Arc::clone(&state.events);
    let mut rx = events.tx.subscribe();
    let past: Vec<Value> = match since {
        Some(since) => {
            let since = since
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64;
            let recent = events.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent
                .iter()
                .filter(|v| v["timeNano"].as_u64().unwrap_or(0) >= since)
                .cloned()
                .collect()
        }
        None => Vec::new(),
    };
    let (tx, response) = stream::async_channel(JSON);
    let before_until = move |v: &Value| match until {
        Some(u) => {
            let u = u.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
            v["timeNano"].as_u64().unwrap_or(0) <= u
        }
        None => true,
    };
    tokio::spawn(async move {
        for v in past
            .iter()
            .filter(|v| wanted(&filters, v) && before_until(v))
        {
            if tx.json(v).await.is_err() {
                return;
            }
        }
        let deadline = until.map(|u| {
            let left = u.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::Instant::now() + left
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                got = next => match got {
                    None => return,
                    Some(Ok(v)) => {
                        if wanted(&filters, &v) && tx.json(&v).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(broadcast::error::RecvError::Lagged(_))) => {}
                    Some(Err(broadcast::error::RecvError::Closed)) => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_like_dockers() {
        let ev = Events::default();
        ev.image("tag", "busybox:latest");
        let v = ev.recent.lock().unwrap()[0].clone();
        let f = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(wanted(&[], &v));
        assert!(wanted(&f(&[("type", "image")]), &v));
        assert!(wanted(&f(&[("event", "pull"), ("event", "tag")]), &v));
        assert!(!wanted(&f(&[("type", "container")]), &v));
        assert!(wanted(&f(&[("image", "busybox:latest")]), &v));
        assert_eq!(v["status"], "tag");
    }
}
