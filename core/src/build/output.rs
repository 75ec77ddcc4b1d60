//! Where a build's messages ("Step 1/4 : FROM busybox") and its RUN steps' output go: the
//! terminal for `engine build`, a sink for the API daemon, which streams each chunk to the
//! client as `{"stream": ...}`.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

/// Receives text: whole lines with their newline, or chunks of a RUN step's output.
pub type TextSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The build's output.
#[derive(Clone, Default)]
pub enum Output {
    /// Standard output (RUN output goes straight to the engine's own stdout).
    #[default]
    Stdout,
    /// A sink (RUN output is read from a pipe and handed over in chunks).
    Sink(TextSink),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Output::Stdout => "Stdout",
            Output::Sink(_) => "Sink",
        })
    }
}

impl Output {
    /// One line of the build's own messages.
    pub fn line(&self, line: &str) {
        match self {
            Output::Stdout => println!("{line}"),
            Output::Sink(sink) => sink(&format!("{line}\n")),
        }
    }

    /// Text as it is (a failed quiet step's captured output).
    pub fn text(&self, text: &str) {
        match self {
            Output::Stdout => {
                let _ = io::stderr().write_all(text.as_bytes());
            }
            Output::Sink(sink) => sink(text),
        }
    }

    /// The descriptor a RUN process writes to, and (for a sink) the thread copying what it
    /// writes; join it once the process has exited.
    pub fn process_fd(&self) -> Result<(OwnedFd, Option<JoinHandle<()>>)> {
        match self {
            Output::Stdout => {
                io::stdout().flush()?;
                Ok((io::stdout().as_fd().try_clone_to_owned()?, None))
            }
            Output::Sink(sink) => {
                let (mut reader, writer) = io::pipe().context("creating a pipe")?;
                let sink = Arc::clone(sink);
                let copier = std::thread::spawn(move || {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match reader.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => sink(&String::from_utf8_lossy(&buf[..n])),
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                });
                Ok((OwnedFd::from(writer), Some(copier)))
            }
        }
    }
}
