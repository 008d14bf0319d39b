//! Fuzzing entry points over this crate's parsers, each checking its properties by panicking.
//! Not used by the service: the fuzz targets in `fuzz/` and the replay of their seeds call them.

use crate::domain::LocalDateTime;

pub use crate::store::redis::fuzzing::stored_value;

/// Parses `data` as a date-time. No input may panic; whatever parses renders as text that parses
/// back to the same value and renders the same again, and survives the internal wire form.
pub fn date_time(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(time) = LocalDateTime::parse(text) else {
        return;
    };
    let canonical = time.to_string();
    let again = LocalDateTime::parse(&canonical);
    assert_eq!(again, Some(time), "{text:?} renders as {canonical:?}");
    assert_eq!(
        again.map(|t| t.to_string()).as_deref(),
        Some(canonical.as_str())
    );
    assert_eq!(
        LocalDateTime::from_epoch(time.epoch_seconds(), time.nanos()),
        Some(time)
    );
    let wire = serde_json::to_string(&time).ok();
    let back = wire.and_then(|json| serde_json::from_str::<LocalDateTime>(&json).ok());
    assert_eq!(back, Some(time), "{text:?} on the internal wire");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The committed seed files of one fuzz target, read from `fuzz/seeds/<target>/`.
    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
        let mut seeds: Vec<_> = std::fs::read_dir(dir.join(target))
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                (path.display().to_string(), std::fs::read(&path).unwrap())
            })
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "no seeds for {target}");
        seeds
    }

    #[test]
    fn every_seed_of_the_date_time_target_holds_its_properties() {
        for (name, data) in seeds("date_time") {
            let replay = std::panic::catch_unwind(|| date_time(&data));
            assert!(replay.is_ok(), "{name}");
        }
    }

    #[test]
    fn every_seed_of_the_stored_value_target_holds_its_properties() {
        for (name, data) in seeds("stored_value") {
            let replay = std::panic::catch_unwind(|| stored_value(&data));
            assert!(replay.is_ok(), "{name}");
        }
    }
}
