//! The Lua scripts of the Redis backend (`lua/*.lua`, each documenting its KEYS and ARGV), and
//! how their answers are read. `redis::Script` runs them by `EVALSHA`, loading them on a miss.

use std::sync::LazyLock;

use redis::{Script, Value};

use crate::store::{CommitError, Settled, StoreError};

use super::codec;

pub(super) static ACQUIRE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/acquire.lua")));
pub(super) static RENEW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/renew.lua")));
pub(super) static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/release.lua")));
pub(super) static COMMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/commit.lua")));
pub(super) static SETTLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/settle.lua")));

/// Every script, for loading them once at connection time.
pub(super) fn all() -> [&'static Script; 5] {
    [&ACQUIRE, &RENEW, &RELEASE, &COMMIT, &SETTLE]
}

/// The answer of `commit.lua`.
pub(super) fn commit_outcome(answer: &str) -> Result<(), CommitError> {
    match answer {
        "OK" => Ok(()),
        "STALE" => Err(CommitError::Stale),
        "EXPIRED" => Err(CommitError::Expired),
        other => Err(CommitError::Store(StoreError::Corrupt(format!(
            "commit refused: {other}"
        )))),
    }
}

/// The answer of `settle.lua`.
pub(super) fn settled(answer: &[Value]) -> Result<Settled, StoreError> {
    match answer {
        [Value::Int(0)] => Ok(Settled::Pending),
        [Value::Int(1)] => Ok(Settled::NotApplied),
        [Value::Int(2), Value::BulkString(json)] => {
            let json = std::str::from_utf8(json)
                .map_err(|_| StoreError::Corrupt("record is not UTF-8".to_owned()))?;
            Ok(Settled::Recorded(codec::decode_record(json)?))
        }
        other => Err(StoreError::Corrupt(format!("settle answered {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_starts_with_a_header_naming_its_keys_and_arguments() {
        for source in [
            include_str!("lua/acquire.lua"),
            include_str!("lua/renew.lua"),
            include_str!("lua/release.lua"),
            include_str!("lua/commit.lua"),
            include_str!("lua/settle.lua"),
        ] {
            assert!(source.starts_with("-- "));
            assert!(source.contains("KEYS[1]") && source.contains("ARGV[1]"));
        }
    }

    #[test]
    fn commit_answers_map_to_commit_errors() {
        assert!(commit_outcome("OK").is_ok());
        assert!(matches!(commit_outcome("STALE"), Err(CommitError::Stale)));
        assert!(matches!(
            commit_outcome("EXPIRED"),
            Err(CommitError::Expired)
        ));
        assert!(matches!(
            commit_outcome("POSITION 2 3 1"),
            Err(CommitError::Store(StoreError::Corrupt(_)))
        ));
    }

    #[test]
    fn settle_answers_map_to_settled() {
        assert_eq!(settled(&[Value::Int(0)]).ok(), Some(Settled::Pending));
        assert_eq!(settled(&[Value::Int(1)]).ok(), Some(Settled::NotApplied));
        assert!(settled(&[Value::Int(2)]).is_err());
    }
}
