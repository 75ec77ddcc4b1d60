//! Progress output of `pull` and `push`, shaped like Docker's.
//!
//! On a terminal each layer gets a bar (`<id>: Downloading [====>   ] 1.2MB/3.4MB`) that ends in
//! its final status; elsewhere (a pipe, a log) every status change is one line
//! (`<id>: Pull complete`), as Docker prints without a terminal. `--quiet` prints nothing but
//! what the command prints with [`Progress::result`].

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

/// Where JSON progress messages go (the daemon's response stream).
pub type JsonSink = Arc<dyn Fn(Value) + Send + Sync>;

/// Byte progress is reported at most this often per layer in JSON.
const JSON_BYTES_EVERY: Duration = Duration::from_millis(100);

/// How progress is shown.
enum Mode {
    Quiet,
    Lines,
    Bars(MultiProgress),
    /// Docker's JSON messages; `quiet` keeps only results.
    Json {
        sink: JsonSink,
        quiet: bool,
    },
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Quiet => "Quiet",
            Mode::Lines => "Lines",
            Mode::Bars(_) => "Bars",
            Mode::Json { .. } => "Json",
        })
    }
}

/// Bytes moved of one layer, for JSON progress.
#[derive(Debug)]
struct Moved {
    verb: String,
    current: u64,
    total: u64,
    last_sent: Option<Instant>,
}

/// Progress of one command; shared by the threads that move layers.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    bars: Mutex<HashMap<String, ProgressBar>>,
    moved: Mutex<HashMap<String, Moved>>,
}

impl Progress {
    /// Bars on a terminal, lines elsewhere, nothing but the result when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stdout()))
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            bars: Mutex::new(HashMap::new()),
            moved: Mutex::new(HashMap::new()),
        }
    }

    /// Docker's JSON progress messages to `sink`; `quiet` sends only results.
    pub fn json(sink: JsonSink, quiet: bool) -> Self {
        Progress {
            mode: Mode::Json { sink, quiet },
            bars: Mutex::new(HashMap::new()),
            moved: Mutex::new(HashMap::new()),
        }
    }

    fn send(&self, v: Value) {
        if let Mode::Json { sink, quiet: false } = &self.mode {
            sink(v);
        }
    }

    /// A line about the whole operation that belongs to `id` ("latest: Pulling from
    /// library/busybox"): `id: text` on a terminal, `{"status":text,"id":id}` in JSON.
    pub fn line_for(&self, id: &str, text: &str) {
        match &self.mode {
            Mode::Json { .. } => self.send(json!({ "status": text, "id": id })),
            _ => self.line(&format!("{id}: {text}")),
        }
    }

    /// A line about the whole operation ("latest: Pulling from library/busybox"), printed
    /// below the layers' final states.
    pub fn line(&self, text: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => print_line(text),
            Mode::Bars(_) => {
                self.settle();
                print_line(text);
            }
            Mode::Json { .. } => self.send(json!({ "status": text })),
        }
    }

    /// The command's result: printed even when quiet (a `stream` message in JSON).
    pub fn result(&self, text: &str) {
        if let Mode::Json { sink, .. } = &self.mode {
            sink(json!({ "stream": format!("{text}\n") }));
            return;
        }
        self.settle();
        print_line(text);
    }

    /// Leaves every bar on screen as it stands; later output goes below them.
    fn settle(&self) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if bars.is_empty() {
            return;
        }
        for (_, bar) in bars.drain() {
            bar.abandon();
        }
        // indicatif leaves the cursor at the end of the last bar.
        print_line("");
    }

    fn bar(&self, id: &str) -> Option<ProgressBar> {
        let Mode::Bars(multi) = &self.mode else {
            return None;
        };
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars.entry(id.to_string()).or_insert_with(|| {
            let style = ProgressStyle::with_template("{prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            multi.add(
                ProgressBar::new(0)
                    .with_style(style)
                    .with_prefix(id.to_string()),
            )
        });
        Some(bar.clone())
    }

    /// A layer's new status ("Pulling fs layer", "Verifying Checksum", "Pull complete").
    pub fn status(&self, id: &str, status: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => print_line(&format!("{id}: {status}")),
            Mode::Json { .. } => {
                self.send(json!({ "status": status, "progressDetail": {}, "id": id }))
            }
            Mode::Bars(_) => {
                if let Some(bar) = self.bar(id) {
                    let style = ProgressStyle::with_template("{prefix}: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner());
                    bar.set_style(style);
                    bar.set_message(status.to_string());
                    bar.tick();
                }
            }
        }
    }

    /// A layer starts moving `total` bytes (`verb` is "Downloading" or "Pushing").
    pub fn start_bytes(&self, id: &str, verb: &str, total: u64) {
        if let Mode::Json { .. } = &self.mode {
            let mut moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
            moved.insert(
                id.to_string(),
                Moved {
                    verb: verb.to_string(),
                    current: 0,
                    total,
                    last_sent: None,
                },
            );
            return;
        }
        if let Some(bar) = self.bar(id) {
            let template = format!("{{prefix}}: {verb} [{{bar:40}}] {{bytes}}/{{total_bytes}}");
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_length(total);
            bar.set_position(0);
        }
    }

    /// `n` more bytes of a layer moved.
    pub fn advance(&self, id: &str, n: u64) {
        if let Mode::Json { .. } = &self.mode {
            let message = {
                let mut moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
                let Some(m) = moved.get_mut(id) else {
                    return;
                };
                m.current += n;
                let due = m.current >= m.total
                    || m.last_sent.is_none_or(|t| t.elapsed() >= JSON_BYTES_EVERY);
                if !due {
                    return;
                }
                m.last_sent = Some(Instant::now());
                json!({
                    "status": m.verb,
                    "progressDetail": { "current": m.current, "total": m.total },
                    "progress": bar_text(m.current, m.total),
                    "id": id,
                })
            };
            self.send(message);
            return;
        }
        if let Some(bar) = self.bar(id) {
            bar.inc(n);
        }
    }
}

/// Docker's `[=====>     ]  1.2MB/3.4MB`.
fn bar_text(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    let filled = (current.min(total) * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH);
    let mut bar = "=".repeat(filled as usize);
    if filled < WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat((WIDTH - filled - 1) as usize));
    }
    format!(
        "[{bar}] {}/{}",
        crate::human::size(current),
        crate::human::size(total)
    )
}

fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The 12 hex digits Docker shows for a layer or blob digest.
pub fn short(digest: &graph::Digest) -> String {
    digest.hex()[..12].to_string()
}
