//! The HTTP/1.1 server loop: what `axum::serve` does, plus the limits a public server needs.
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never fires and
//! a client that sends a header slowly (slowloris) holds its connection open
//! for ever; it caps neither connections nor keeps its refusals in the error
//! envelope. Here:
//! - a request's header must arrive within `header_read_timeout`, and a kept-alive
//!   connection that sends nothing for as long is closed;
//! - at most `max_connections` are served at once; the next waits in the
//!   kernel's accept queue;
//! - hyper's own limits sit above the API's (1 MiB of header, 10,000 lines), so
//!   a large header reaches [`crate::header_limits`], which answers 431 in the
//!   envelope;
//! - what hyper refuses before the app sees it (a request line that does not
//!   parse, a URI over its 65,534-byte limit, a header over 4 MiB) it answers
//!   with an empty body; [`EnvelopeErrors`] rewrites those answers into the
//!   error envelope on their way to the socket.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

/// Limits on connections, from the server's configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnectionLimits {
    /// Longest wait for a request's header, and for the next request on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// How long requests in flight may finish once shutdown starts.
    pub shutdown_grace: Duration,
}

/// hyper's read buffer: above the API's header limit, so that limit answers in the envelope.
const HYPER_MAX_BUF: usize = 4 * 1024 * 1024;
/// hyper's header-line limit, above the API's for the same reason.
const HYPER_MAX_HEADERS: usize = 10_000;

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; it is dropped here, before the caller's next await.
    let _ = stop.wait_for(|v| *v).await;
}

/// Serves `app` on `listener` under `limits` until `stop` turns true, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(HYPER_MAX_BUF)
            .max_headers(HYPER_MAX_HEADERS)
            .serve_connection(TokioIo::new(EnvelopeErrors::new(stream)), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("requests still in flight after the grace were dropped");
    }
}

/// A connection whose bare error answers from hyper leave in the error envelope.
///
/// hyper answers a request it cannot parse itself (400, 414 for a URI over
/// 65,534 bytes, 431 for a header over its buffer) with `content-length: 0`
/// and no body, then closes. The app never sends an empty 4xx (every error of
/// its own is JSON), so a response head that starts a write with one of those
/// statuses, no content type and a zero length is hyper's, and is replaced
/// whole by the same status with the envelope.
pub struct EnvelopeErrors<S> {
    inner: S,
    /// A replacement being written: its bytes, how many went out, and the length of the write it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
    /// Whether bytes were read since the last write: hyper answers a request it cannot parse
    /// right after reading it, so only such a write can be its bare error (never a body chunk).
    read_since_write: bool,
}

impl<S> EnvelopeErrors<S> {
    /// Wraps a connection.
    pub fn new(inner: S) -> Self {
        EnvelopeErrors {
            inner,
            pending: None,
            read_since_write: false,
        }
    }
}

impl<S: AsyncWrite + Unpin> EnvelopeErrors<S> {
    /// Starts replacing a write of `len` bytes whose first slice is `first`, if it is hyper's bare error.
    fn maybe_replace(&mut self, first: &[u8], len: usize) {
        if self.pending.is_none() && self.read_since_write && first.len() == len {
            if let Some(replacement) = envelope_for_bare_error(first) {
                self.pending = Some((replacement, 0, len));
            }
        }
        self.read_since_write = false;
    }

    /// Writes the replacement out; ready with the length of the write it stands for.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Option<Poll<std::io::Result<usize>>> {
        let (bytes, written, stands_for) = self.pending.as_mut()?;
        while *written < bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => {
                    return Some(Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
                Poll::Pending => return Some(Poll::Pending),
            }
        }
        let done = *stands_for;
        self.pending = None;
        Some(Poll::Ready(Ok(done)))
    }
}

/// The envelope response for a bare hyper error response at the start of `buf`, if it is one.
pub fn envelope_for_bare_error(buf: &[u8]) -> Option<Vec<u8>> {
    let status = buf.strip_prefix(b"HTTP/1.1 ").and_then(|r| r.get(..3))?;
    let (status, code, message) = match status {
        b"400" => (
            "400 Bad Request",
            "INVALID_REQUEST",
            "the request is not valid HTTP/1.1",
        ),
        b"414" => (
            "414 URI Too Long",
            "URI_TOO_LONG",
            "the request URI is longer than 65,534 bytes",
        ),
        b"431" => (
            "431 Request Header Fields Too Large",
            "HEADER_TOO_LARGE",
            "the request header is larger than the server reads",
        ),
        _ => return None,
    };
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let bare = head.contains("\r\ncontent-length: 0") && !head.contains("\r\ncontent-type:");
    if !bare || buf.len() != end + 4 {
        return None;
    }
    let body = serde_json::json!({ "error": { "code": code, "message": message, "details": {} } })
        .to_string();
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nx-request-id: {}\r\n\r\n{body}",
            body.len(),
            uuid::Uuid::new_v4()
        )
        .into_bytes(),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for EnvelopeErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.read_since_write = true;
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EnvelopeErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.maybe_replace(buf, buf.len());
        match this.poll_replacement(cx) {
            Some(polled) => polled,
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let len = bufs.iter().map(|b| b.len()).sum();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        this.maybe_replace(first, len);
        match this.poll_replacement(cx) {
            Some(polled) => polled,
            None => Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_hyper_errors_are_rewritten() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 05:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(envelope_for_bare_error(bare).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{out}");
        let body: serde_json::Value =
            serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "URI_TOO_LONG");
        let declared: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, out.split("\r\n\r\n").nth(1).unwrap().len());
        for kept in [
            // The app's own errors carry a type and a body.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            // A head with more after it is not a lone error answer.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 431",
        ] {
            assert!(envelope_for_bare_error(kept).is_none(), "{}", String::from_utf8_lossy(kept));
        }
    }
}
