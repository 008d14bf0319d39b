//! The store's reachability as this worker sees it, and pauses of the worker itself: one
//! warning when a store outage starts, one line when the store answers again, everything in
//! between at DEBUG and counted; a pause (SIGSTOP, a frozen VM, CPU starvation) is reported as
//! such, not as a store outage, although it times out the store calls in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::Counter;
use shared::metrics::Metrics;
use shared::store::StoreError;
use tokio::sync::watch;
use tokio::time::Instant;

/// What the drivers, the lease renewal and the supervisor report their store calls to.
/// `stock_store_failures_total` counts the failures outside pauses; `stock_worker_pauses_total`
/// the pauses.
#[derive(Clone)]
pub(crate) struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    failing: AtomicBool,
    beats: Mutex<Beats>,
    /// A beat this late means the process did not run: its leases may have lapsed.
    pause_threshold: Duration,
    /// How long after a pause store failures are taken for its consequence.
    pause_echo: Duration,
    failures: Counter,
    pauses: Counter,
}

struct Beats {
    last: Instant,
    paused_at: Option<Instant>,
}

impl Health {
    /// For a worker whose leases last `ttl`.
    pub(crate) fn new(metrics: &Metrics, ttl: Duration) -> Health {
        let failures = metrics.counter("stock_store_failures_total", &[]);
        let pauses = metrics.counter("stock_worker_pauses_total", &[]);
        failures.increment(0);
        pauses.increment(0);
        Health {
            inner: Arc::new(Inner {
                failing: AtomicBool::new(false),
                beats: Mutex::new(Beats {
                    last: Instant::now(),
                    paused_at: None,
                }),
                pause_threshold: (ttl * 2 / 3).max(Duration::from_millis(10)),
                pause_echo: ttl.max(Duration::from_secs(1)),
                failures,
                pauses,
            }),
        }
    }

    /// A store call of `what` failed.
    pub(crate) fn failed(&self, what: &str, error: &StoreError) {
        if self.after_pause() {
            // The pause has its own line and counter: not a store failure.
            tracing::debug!(%error, "store call failed ({what}) after this worker was paused");
            return;
        }
        self.inner.failures.increment(1);
        if self.inner.failing.swap(true, Ordering::AcqRel) {
            tracing::debug!(%error, "store call failed ({what}); retrying");
        } else {
            tracing::warn!(
                %error,
                "store unreachable ({what}): retrying with back-off; further failures at DEBUG until it answers"
            );
        }
    }

    /// A store call succeeded.
    pub(crate) fn answered(&self) {
        if self.inner.failing.load(Ordering::Acquire)
            && self.inner.failing.swap(false, Ordering::AcqRel)
        {
            tracing::info!("store reachable again");
        }
    }

    /// Whether the store is failing right now, as far as this worker knows.
    pub(crate) fn in_outage(&self) -> bool {
        self.inner.failing.load(Ordering::Acquire)
    }

    /// Whether this worker was paused lately, or is just resuming from a pause not yet noticed.
    fn after_pause(&self) -> bool {
        let beats = self.beats();
        beats.last.elapsed() >= self.inner.pause_threshold
            || beats
                .paused_at
                .is_some_and(|at| at.elapsed() < self.inner.pause_echo)
    }

    fn beats(&self) -> std::sync::MutexGuard<'_, Beats> {
        self.inner
            .beats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One beat of the pause watch; a beat later than the threshold is a pause, logged and
    /// counted.
    fn beat(&self) {
        let now = Instant::now();
        let mut beats = self.beats();
        let gap = now.saturating_duration_since(beats.last);
        beats.last = now;
        if gap >= self.inner.pause_threshold {
            beats.paused_at = Some(now);
            drop(beats);
            self.inner.pauses.increment(1);
            tracing::warn!(
                paused_ms = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
                "worker paused: it did not run for longer than its leases are surely held (stopped, frozen or starved of CPU); its shards stop and are claimed again"
            );
        }
    }

    /// Beats every few milliseconds until `stop` turns true: the watch that notices pauses.
    pub(crate) async fn watch_pauses(self, mut stop: watch::Receiver<bool>) {
        let every = (self.inner.pause_threshold / 10).max(Duration::from_millis(5));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => self.beat(),
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> StoreError {
        StoreError::Unavailable("refused".to_owned())
    }

    #[test]
    fn an_outage_starts_with_the_first_failure_and_ends_with_the_next_answer() {
        let health = Health::new(&Metrics::new(), Duration::from_secs(3));
        assert!(!health.in_outage());
        health.failed("read", &unavailable());
        health.failed("read", &unavailable());
        assert!(health.in_outage());
        health.answered();
        assert!(!health.in_outage());
    }

    #[test]
    fn failures_are_counted_and_a_late_beat_is_a_pause() {
        let metrics = Metrics::new();
        let health = Health::new(&metrics, Duration::from_millis(30));
        health.failed("read", &unavailable());
        health.beats().last = Instant::now() - Duration::from_millis(50);
        assert!(health.after_pause());
        health.beat();
        let text = metrics.render();
        assert!(text.contains("stock_store_failures_total 1"), "{text}");
        assert!(text.contains("stock_worker_pauses_total 1"), "{text}");
    }
}
