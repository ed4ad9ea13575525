//! The recording stream: every byte written to and read from a connection, as it crossed the
//! socket (plaintext side of TLS).
//!
//! hyper's http1 client drives the exchange over a [`Recorder`]; the bytes it sent and received are
//! kept on a shared [`Tape`]. Writes record exactly the bytes the inner stream accepted (vectored
//! writes included), reads record exactly the bytes delivered. Reads past `limit` bytes are still
//! passed to hyper but no longer kept (the capture is then cut at the limit and marked
//! `WARC-Truncated: length`). A TLS stream that ends without close_notify reads as a normal end of
//! stream (DESIGN traps).

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The bytes one connection carried. Shared between the [`Recorder`] (writer) and the fetch code
/// (reader, after the exchange or on a timeout).
#[derive(Debug, Default)]
pub struct Tape {
    /// Bytes sent, in order.
    pub sent: Vec<u8>,
    /// Bytes received, in order, up to the limit.
    pub received: Vec<u8>,
    /// Bytes received beyond the limit (not kept).
    pub dropped: u64,
    /// Whether the peer ended the stream (a read returned 0 bytes).
    pub eof: bool,
}

/// Wraps a stream and records its traffic on a [`Tape`].
#[derive(Debug)]
pub struct Recorder<S> {
    inner: S,
    tape: Arc<Mutex<Tape>>,
    limit: usize,
}

impl<S> Recorder<S> {
    /// Records `inner`'s traffic on `tape`, keeping at most `limit` received bytes.
    pub fn new(inner: S, tape: Arc<Mutex<Tape>>, limit: usize) -> Self {
        Self { inner, tape, limit }
    }
}

fn lock(t: &Mutex<Tape>) -> std::sync::MutexGuard<'_, Tape> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorder<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match ready!(Pin::new(&mut this.inner).poll_read(cx, buf)) {
            Ok(()) => {}
            // A TLS peer that closes without close_notify (most servers): an end of stream like any
            // other. Content-Length and chunked framing still catch a real truncation.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                lock(&this.tape).eof = true;
                return Poll::Ready(Ok(()));
            }
            Err(e) => return Poll::Ready(Err(e)),
        }
        let new = &buf.filled()[before..];
        let mut tape = lock(&this.tape);
        if new.is_empty() && buf.remaining() > 0 {
            tape.eof = true;
        }
        let room = this.limit.saturating_sub(tape.received.len());
        let keep = new.len().min(room);
        tape.received.extend_from_slice(&new[..keep]);
        tape.dropped += (new.len() - keep) as u64;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorder<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        lock(&this.tape).sent.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        // Record exactly the n bytes the inner stream accepted, across the slices.
        let mut tape = lock(&this.tape);
        let mut left = n;
        for b in bufs {
            if left == 0 {
                break;
            }
            let take = left.min(b.len());
            tape.sent.extend_from_slice(&b[..take]);
            left -= take;
        }
        Poll::Ready(Ok(n))
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
