//! Fuzzing entry points over this crate's parsers, each checking its properties by panicking.
//! Not used by the service: the fuzz targets in `fuzz/` and the replay of their seeds call them.

use crate::domain::LocalDateTime;

pub use crate::store::redis::fuzzing::stored_value;

/// Runs `target` over every committed seed of the fuzz target `name` (`fuzz/seeds/<name>/`, so
/// that plain `cargo test` exercises each entry point); the seeds replayed, or the names of the
/// seeds that broke a property (or could not be read).
pub fn replay_seeds(name: &str, target: fn(&[u8])) -> Result<usize, Vec<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(name);
    let entries = std::fs::read_dir(&dir).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
    let mut paths: Vec<_> = entries
        .filter_map(|entry| entry.ok())
        .map(|e| e.path())
        .collect();
    paths.sort();
    let broken: Vec<String> = paths
        .iter()
        .filter(|path| match std::fs::read(path) {
            Ok(data) => std::panic::catch_unwind(|| target(&data)).is_err(),
            Err(_) => true,
        })
        .map(|path| path.display().to_string())
        .collect();
    match (paths.len(), broken.is_empty()) {
        (0, _) => Err(vec![format!("no seeds in {}", dir.display())]),
        (count, true) => Ok(count),
        (_, false) => Err(broken),
    }
}

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

    #[test]
    fn every_seed_of_the_date_time_target_holds_its_properties() {
        let replayed = replay_seeds("date_time", date_time);
        assert!(replayed.is_ok(), "{replayed:?}");
    }

    #[test]
    fn every_seed_of_the_stored_value_target_holds_its_properties() {
        let replayed = replay_seeds("stored_value", stored_value);
        assert!(replayed.is_ok(), "{replayed:?}");
    }
}
