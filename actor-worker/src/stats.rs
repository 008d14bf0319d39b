//! The worker tier's Prometheus instruments, registered once per worker on its [`Metrics`].

use metrics::{Counter, Gauge, Histogram};
use shared::metrics::Metrics;

use crate::lease::Lapse;

/// Handles to every instrument the worker updates. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Stats {
    pub(crate) idempotency_hits: Counter,
    pub(crate) idempotency_misses: Counter,
    pub(crate) fenced_rejections: Counter,
    /// `stock_dead_letters_total`: stream entries set aside because they do not decode.
    pub(crate) dead_letters: Counter,
    /// `stock_shard_handoffs_total`: shards given up to their preferred owner.
    pub(crate) shard_handoffs: Counter,
    /// `stock_lease_self_stops_total{reason}`: shards this worker stopped because their lease
    /// was no longer surely held, by [`Lapse`].
    lease_self_stops: [Counter; 2],
    pub(crate) pots_loaded: Gauge,
    pub(crate) leases_held: Gauge,
    pub(crate) moves_in_transit: Gauge,
    pub(crate) commit_batch_size: Histogram,
    pub(crate) commit_duration: Histogram,
    metrics: Metrics,
}

impl Stats {
    pub(crate) fn new(metrics: &Metrics) -> Stats {
        let stats = Stats {
            idempotency_hits: metrics.counter("stock_idempotency_hits_total", &[]),
            idempotency_misses: metrics.counter("stock_idempotency_misses_total", &[]),
            fenced_rejections: metrics.counter("stock_fenced_rejections_total", &[]),
            dead_letters: metrics.counter("stock_dead_letters_total", &[]),
            shard_handoffs: metrics.counter("stock_shard_handoffs_total", &[]),
            lease_self_stops: [Lapse::RenewalsMissed, Lapse::Taken].map(|lapse| {
                let reason = lapse.label().to_owned();
                metrics.counter("stock_lease_self_stops_total", &[("reason", reason)])
            }),
            pots_loaded: metrics.gauge("stock_pots_loaded", &[]),
            leases_held: metrics.gauge("stock_leases_held", &[]),
            moves_in_transit: metrics.gauge("stock_moves_in_transit", &[]),
            commit_batch_size: metrics.histogram("stock_commit_batch_size", &[]),
            commit_duration: metrics.histogram("stock_commit_duration_seconds", &[]),
            metrics: metrics.clone(),
        };
        // Present at 0 from the start, so dashboards and scrapers see them before any write.
        stats.idempotency_hits.increment(0);
        stats.idempotency_misses.increment(0);
        stats.fenced_rejections.increment(0);
        stats.dead_letters.increment(0);
        stats.shard_handoffs.increment(0);
        for counter in &stats.lease_self_stops {
            counter.increment(0);
        }
        stats
    }

    /// Counts `shards` shards stopped for `lapse`.
    pub(crate) fn lease_self_stops(&self, lapse: Lapse, shards: usize) {
        let index = match lapse {
            Lapse::RenewalsMissed => 0,
            Lapse::Taken => 1,
        };
        self.lease_self_stops[index].increment(shards as u64);
    }

    /// `stock_stream_lag_seconds{shard}`: age, in store time, of the oldest command of the
    /// shard's stream not yet committed when the owner last looked (0 when it was empty).
    pub(crate) fn stream_lag(&self, shard: u32) -> Gauge {
        self.metrics
            .gauge("stock_stream_lag_seconds", &[("shard", shard.to_string())])
    }
}

/// Keeps a shared gauge in step with one shard's own count: the gauge is a total across shards.
#[derive(Default)]
pub(crate) struct GaugeShare {
    reported: usize,
}

impl GaugeShare {
    pub(crate) fn set(&mut self, gauge: &Gauge, value: usize) {
        if value > self.reported {
            gauge.increment((value - self.reported) as f64);
        } else if value < self.reported {
            gauge.decrement((self.reported - value) as f64);
        }
        self.reported = value;
    }
}
