//! Progress output of `pull` and `push`, shaped like Docker's.
//!
//! On a terminal each layer gets a bar (`<id>: Downloading [====>   ] 1.2MB/3.4MB`) that ends in
//! its final status; elsewhere (a pipe, a log) every status change is one line
//! (`<id>: Pull complete`), as Docker prints without a terminal. `--quiet` prints nothing but
//! what the command prints with [`Progress::result`].

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug)]
enum Mode {
    Quiet,
    Lines,
    Bars(MultiProgress),
}

/// Progress of one command; shared by the threads that move layers.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    bars: Mutex<HashMap<String, ProgressBar>>,
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
        }
    }

    /// The command's result: printed even when quiet.
    pub fn result(&self, text: &str) {
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
        if let Some(bar) = self.bar(id) {
            bar.inc(n);
        }
    }
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
