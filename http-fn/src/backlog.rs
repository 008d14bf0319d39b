//! The `stock_commands_waiting` gauge: a periodic count of the commands waiting in the shard
//! streams, exported by every long-running HTTP node so that an autoscaler can start workers from
//! zero (docs/OPERATIONS.md, "Scaling to zero").

use std::sync::Arc;
use std::time::Duration;

use shared::config::ConfigError;
use shared::metrics::Metrics;
use shared::store::redis::RedisStore;
use tokio::task::JoinHandle;

/// The gauge's name.
pub const GAUGE: &str = "stock_commands_waiting";

/// The variable that sets the interval between two counts.
pub const INTERVAL_VARIABLE: &str = "STOCK_BACKLOG_SCAN_INTERVAL";

/// The default interval between two counts.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Longest accepted interval.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// `STOCK_BACKLOG_SCAN_INTERVAL` from the process environment; a value that is not UTF-8 is an
/// error naming the variable (the value is not echoed).
pub fn interval_from_env() -> Result<Duration, ConfigError> {
    match std::env::var_os(INTERVAL_VARIABLE).map(std::ffi::OsString::into_string) {
        None => interval_from(None),
        Some(Ok(value)) => interval_from(Some(&value)),
        Some(Err(_)) => Err(ConfigError {
            variable: INTERVAL_VARIABLE.to_owned(),
            rule: "must be valid UTF-8".to_owned(),
        }),
    }
}

/// `STOCK_BACKLOG_SCAN_INTERVAL` from `value` (unset or empty: the default); > 0 and ≤ 1h.
pub fn interval_from(value: Option<&str>) -> Result<Duration, ConfigError> {
    let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_INTERVAL);
    };
    match humantime::parse_duration(raw) {
        Ok(interval) if !interval.is_zero() && interval <= MAX_INTERVAL => Ok(interval),
        _ => Err(ConfigError {
            variable: INTERVAL_VARIABLE.to_owned(),
            rule: format!("must be a duration > 0 and ≤ 1h such as 5s, got {raw:?}"),
        }),
    }
}

/// Counts the waiting commands at once, then every `interval`, into the gauge; stops when the
/// returned [`Scan`] is dropped. A failed count keeps the last value and is logged once, until a
/// count succeeds again.
pub fn start(store: Arc<RedisStore>, metrics: &Metrics, interval: Duration) -> Scan {
    let gauge = metrics.gauge(GAUGE, &[]);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            match store.commands_waiting().await {
                Ok(waiting) => {
                    gauge.set(waiting as f64);
                    if std::mem::take(&mut failing) {
                        tracing::info!(waiting, "commands waiting counted again");
                    }
                }
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "counting the commands waiting failed");
                }
                Err(_) => {}
            }
        }
    });
    Scan { task }
}

/// The running count; dropping it stops the count.
pub struct Scan {
    task: JoinHandle<()>,
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_is_the_default_and_durations_are_read() {
        assert_eq!(interval_from(None), Ok(DEFAULT_INTERVAL));
        assert_eq!(interval_from(Some(" ")), Ok(DEFAULT_INTERVAL));
        assert_eq!(interval_from(Some("250ms")), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn zero_huge_or_unparsable_intervals_are_refused_naming_the_variable() {
        for raw in ["0s", "2h", "soon"] {
            let line = interval_from(Some(raw)).err().map(|e| e.to_string());
            let line = line.unwrap_or_default();
            assert!(
                line.starts_with("STOCK_BACKLOG_SCAN_INTERVAL: must be"),
                "{line}"
            );
        }
    }
}
