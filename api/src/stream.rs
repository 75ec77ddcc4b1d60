//! Bodies that stream between the blocking store code and the client: a response body fed
//! by a channel (what a blocking writer or a JSON progress sink puts in), and a blocking
//! reader over a request body (a tar being loaded or built).

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::server::AppState;
use engine_core::engine::Engine;

/// Chunks in flight between a producer and the client; the producer waits when it is full.
const DEPTH: usize = 64;

type Chunk = Result<Bytes, io::Error>;

/// A response body fed by a channel: an `Err` aborts the response (the client sees a broken
/// transfer, not a complete one).
#[derive(Debug)]
struct ChannelBody {
    /// A chunk taken off the channel before the response started ([`deferred`]).
    first: Option<Chunk>,
    rx: mpsc::Receiver<Chunk>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first.map(Frame::data)));
        }
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(Frame::data)))
    }
}

/// The sending side, usable from blocking code: a `Write` that hands its bytes to the
/// response. Writes fail once the client has gone, which stops the producer.
#[derive(Debug, Clone)]
pub struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
}

impl ChannelWriter {
    /// Whether the client has gone.
    pub fn closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Triggers `interrupt` if the client (`peer`) goes before the response ends; watched
    /// by a thread that keeps no hold on the response.
    pub fn on_gone(&self, peer: super::server::Peer, interrupt: engine_core::build::Interrupt) {
        let weak = self.tx.downgrade();
        let watch = move || {
            loop {
                match weak.upgrade() {
                    None => return,
                    Some(tx) if tx.is_closed() => break,
                    Some(_) => {}
                }
                if peer.gone(std::time::Duration::from_millis(200)) {
                    break;
                }
            }
            tracing::info!("the client has gone: interrupting its build");
            interrupt.trigger();
        };
        if let Err(e) = std::thread::Builder::new()
            .name("client-gone".into())
            .spawn(watch)
        {
            tracing::warn!(error = %e, "cannot watch for the client going");
        }
    }

    /// Ends the response as broken (after a failure half-way).
    pub fn abort(&self, message: String) {
        let _ = self.tx.blocking_send(Err(io::Error::other(message)));
    }

    /// Sends one chunk; fails when the client has gone.
    pub fn send(&self, bytes: Vec<u8>) -> io::Result<()> {
        self.tx
            .blocking_send(Ok(Bytes::from(bytes)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client has gone"))
    }

    /// One of Docker's JSON stream messages (a line of JSON).
    pub fn json(&self, v: &Value) -> io::Result<()> {
        let mut line = serde_json::to_vec(v).map_err(io::Error::other)?;
        line.push(b'\n');
        self.send(line)
    }

    /// Docker's error message in a JSON stream.
    pub fn json_error(&self, e: &anyhow::Error) {
        let message = format!("{e:#}");
        let _ = self.json(&json!({ "errorDetail": { "message": message }, "error": message }));
    }

    /// A sink for [`distribution::progress::Progress::json`].
    pub fn json_sink(&self) -> distribution::progress::JsonSink {
        let me = self.clone();
        Arc::new(move |v| {
            let _ = me.json(&v);
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf.to_vec())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streaming response of `content_type`, and the writer that feeds it.
pub fn channel(content_type: &'static str) -> (ChannelWriter, Response) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let mut response = Body::new(ChannelBody { first: None, rx }).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (ChannelWriter { tx }, response)
}

/// The sending side for async code (the event stream).
#[derive(Debug)]
pub struct AsyncWriter {
    tx: mpsc::Sender<Chunk>,
}

impl AsyncWriter {
    /// One JSON message; fails when the client has gone.
    pub async fn json(&self, v: &Value) -> Result<(), ()> {
        let mut line = serde_json::to_vec(v).map_err(drop)?;
        line.push(b'\n');
        self.tx.send(Ok(Bytes::from(line))).await.map_err(drop)
    }

    /// Resolves when the client has gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// A streaming response of `content_type`, fed from async code.
pub fn async_channel(content_type: &'static str) -> (AsyncWriter, Response) {
    let (writer, response) = channel(content_type);
    (AsyncWriter { tx: writer.tx }, response)
}

/// Runs `f` on the blocking pool, streaming what it writes as `content_type`. A failure
/// ends the stream with an error message (JSON streams) or aborts it (others): the status
/// line has been sent by then.
pub fn stream_blocking<F>(state: &AppState, content_type: &'static str, f: F) -> Response
where
    F: FnOnce(&Engine, &mut ChannelWriter) -> anyhow::Result<()> + Send + 'static,
{
    let (mut writer, response) = channel(content_type);
    let engine = Arc::clone(&state.engine);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = f(&engine, &mut writer) {
            if content_type == JSON {
                writer.json_error(&e);
            } else {
                writer.abort(format!("{e:#}"));
            }
        }
    });
    response
}

/// [`stream_blocking`] for a request whose body `f` reads: the response (status line and
/// headers) starts only with `f`'s first output or its end, as dockerd's does. A client
/// streaming the body (skopeo's `docker-daemon:` sends a tar it makes as it goes, Docker's
/// Go client) takes an early response as the end of the exchange and stops sending, so the
/// body must be read before the answer begins.
pub async fn deferred<F>(state: &AppState, content_type: &'static str, f: F) -> Response
where
    F: FnOnce(&Engine, &mut ChannelWriter) -> anyhow::Result<()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel(DEPTH);
    let mut writer = ChannelWriter { tx };
    let engine = Arc::clone(&state.engine);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = f(&engine, &mut writer) {
            if content_type == JSON {
                writer.json_error(&e);
            } else {
                writer.abort(format!("{e:#}"));
            }
        }
    });
    let first = rx.recv().await;
    let mut response = Body::new(ChannelBody { first, rx }).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Docker's content type of JSON message streams.
pub const JSON: &str = "application/json";
/// Tars and raw streams.
pub const TAR: &str = "application/x-tar";

/// A blocking `Read` over a request body, for the blocking pool (it waits on the runtime
/// for each chunk).
#[derive(Debug)]
pub struct BodyReader {
    body: Body,
    handle: tokio::runtime::Handle,
    pending: Bytes,
}

impl BodyReader {
    /// Call on the runtime (in a handler); read on the blocking pool.
    pub fn new(body: Body) -> Self {
        BodyReader {
            body,
            handle: tokio::runtime::Handle::current(),
            pending: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            let body = &mut self.body;
            let frame = self.handle.block_on(std::future::poll_fn(|cx| {
                Pin::new(&mut *body).poll_frame(cx)
            }));
            match frame {
                None => return Ok(0),
                Some(Err(e)) => return Err(io::Error::other(e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending = data;
                    }
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}
