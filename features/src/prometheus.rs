//! Reading sample values out of the Prometheus text exposition format.

/// The sum of all samples of the metric `name` (over every label set), or `None` when the
/// metric is absent.
pub fn sample_sum(text: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = if let Some(labelled) = rest.strip_prefix('{') {
            labelled.rsplit_once('}').map(|(_, v)| v)
        } else if rest.starts_with(' ') {
            Some(rest)
        } else {
            None
        };
        // A sample line may end with a timestamp after the value.
        let value = value
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(value) = value {
            total = Some(total.unwrap_or(0.0) + value);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE stock_idempotency_hits_total counter\n\
        stock_idempotency_hits_total 3\n\
        stock_idempotency_hits_total_extra 100\n\
        stock_pots_loaded{shard=\"1\"} 2\n\
        stock_pots_loaded{shard=\"2\"} 1 1700000000\n";

    #[test]
    fn a_plain_sample_is_read_and_longer_names_are_not_confused_with_it() {
        assert_eq!(sample_sum(TEXT, "stock_idempotency_hits_total"), Some(3.0));
    }

    #[test]
    fn labelled_samples_are_summed() {
        assert_eq!(sample_sum(TEXT, "stock_pots_loaded"), Some(3.0));
    }

    #[test]
    fn an_absent_metric_is_none() {
        assert_eq!(sample_sum(TEXT, "stock_idempotency_misses_total"), None);
    }
}
