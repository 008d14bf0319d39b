//! What one connection is doing (waiting for a request, reading a head, serving) and when a
//! connection that stays silent or slow too long is closed.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ServerSettings;

/// Where a connection is between two requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// No byte of a next request yet: after the connection opened or a response was produced.
    Idle,
    /// Some bytes of a request head arrived, the head is not complete.
    Head,
    /// A request is being served (its body read by the handler, under its own deadline).
    Busy,
}

/// When a connection in `phase` since `since` is to be closed; `None` while a request is served.
pub(super) fn deadline(phase: Phase, since: Instant, limits: &ServerSettings) -> Option<Instant> {
    match phase {
        Phase::Idle => Some(since + limits.idle_timeout),
        Phase::Head => Some(since + limits.header_read_timeout),
        Phase::Busy => None,
    }
}

/// The phase of one connection, shared by its byte stream and its request service.
#[derive(Debug)]
pub(super) struct Activity {
    state: Mutex<(Phase, Instant)>,
    /// Wakes [`expiry`] when the phase changes, as its deadline changes with it.
    changed: Notify,
}

impl Activity {
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new((Phase::Idle, Instant::now())),
            changed: Notify::new(),
        })
    }

    fn snapshot(&self) -> (Phase, Instant) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter(&self, phase: Phase) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = (phase, Instant::now());
        self.changed.notify_one();
    }

    /// Bytes arrived: if the connection was idle, a request head has started.
    fn bytes_read(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 == Phase::Idle {
            *state = (Phase::Head, Instant::now());
            self.changed.notify_one();
        }
    }

    /// A complete head reached the router.
    pub(super) fn request_started(&self) {
        self.enter(Phase::Busy);
    }

    /// The response was produced; the connection waits for its next request.
    pub(super) fn request_finished(&self) {
        self.enter(Phase::Idle);
    }
}

/// Completes when the connection has been idle, or reading a head, longer than allowed. It wakes
/// at the current deadline or when the phase changes, and ends with the connection, whose task
/// drops it.
pub(super) async fn expiry(activity: Arc<Activity>, limits: ServerSettings) {
    loop {
        let (phase, since) = activity.snapshot();
        match deadline(phase, since, &limits) {
            Some(at) if Instant::now() >= at => return,
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = activity.changed.notified() => {}
                }
            }
            None => activity.changed.notified().await,
        }
    }
}

/// A byte stream that reports the arrival of bytes to the connection's [`Activity`].
pub(super) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> ServerSettings {
        ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 8,
        }
    }

    #[test]
    fn an_idle_connection_expires_after_the_idle_timeout() {
        let since = Instant::now();
        let at = deadline(Phase::Idle, since, &limits());
        assert_eq!(at, Some(since + Duration::from_secs(60)));
    }

    #[test]
    fn a_started_head_must_complete_within_the_header_read_timeout() {
        let since = Instant::now();
        let at = deadline(Phase::Head, since, &limits());
        assert_eq!(at, Some(since + Duration::from_secs(10)));
    }

    #[test]
    fn a_request_being_served_never_expires_the_connection() {
        assert_eq!(deadline(Phase::Busy, Instant::now(), &limits()), None);
    }

    #[test]
    fn the_first_bytes_of_an_idle_connection_start_a_head_and_later_bytes_do_not_restart_it() {
        let activity = Activity::new();
        activity.bytes_read();
        let (phase, started) = activity.snapshot();
        assert_eq!(phase, Phase::Head);
        activity.bytes_read();
        assert_eq!(activity.snapshot(), (Phase::Head, started));
        activity.request_started();
        activity.bytes_read();
        assert_eq!(activity.snapshot().0, Phase::Busy);
        activity.request_finished();
        assert_eq!(activity.snapshot().0, Phase::Idle);
    }
}
