//! Loading pots of one shard from Redis: one pot, or many in a few pipelined round trips.

use super::{RedisStore, codec, keys};
use crate::domain::{Event, StoredPot};
use crate::shard::ShardId;
use crate::store::{PotRef, StoreError};

/// Fields of a pot hash read when loading it: the state, then `version` and `checkpoints`.
const LOAD_FIELDS: [&str; 5] = [
    "quantity",
    "pendingAdjustment",
    "lastUpdated",
    "version",
    "checkpoints",
];

/// Pots loaded per pipeline: bounds one request and one answer (a delivery may name tens of
/// thousands of pots) while keeping the round trips few.
const POTS_PER_ROUND_TRIP: usize = 1_000;

/// A pot's hash and top checkpoint, read together, before its events.
struct Head {
    fields: Vec<Option<String>>,
    top: Option<String>,
}

impl RedisStore {
    /// Loads `pots` in order: per chunk one atomic pipeline reads every hash with its top
    /// checkpoint, and one more reads the events after each top checkpoint.
    pub(super) async fn load_pot_chunks(
        &self,
        shard: ShardId,
        pots: &[PotRef],
    ) -> Result<Vec<StoredPot>, StoreError> {
        let mut stored = Vec::with_capacity(pots.len());
        for chunk in pots.chunks(POTS_PER_ROUND_TRIP) {
            stored.extend(self.load_chunk(shard, chunk).await?);
        }
        Ok(stored)
    }

    async fn load_chunk(
        &self,
        shard: ShardId,
        pots: &[PotRef],
    ) -> Result<Vec<StoredPot>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for pot in pots {
            pipe.cmd("HMGET")
                .arg(keys::pot(shard, &pot.location, &pot.product))
                .arg(&LOAD_FIELDS[..])
                .cmd("LINDEX")
                .arg(keys::checkpoints(shard, &pot.location, &pot.product))
                .arg(-1);
        }
        let mut conn = self.conn.clone();
        let answers: Vec<redis::Value> = self.run("load pots", pipe.query_async(&mut conn)).await?;
        if answers.len() != 2 * pots.len() {
            return Err(StoreError::Corrupt(format!(
                "load pots: {} answers for {} pots",
                answers.len(),
                pots.len()
            )));
        }
        let mut heads = Vec::with_capacity(pots.len());
        let mut answers = answers.into_iter();
        while let (Some(fields), Some(top)) = (answers.next(), answers.next()) {
            heads.push(Head {
                fields: redis::from_redis_value(fields).map_err(corrupt)?,
                top: redis::from_redis_value(top).map_err(corrupt)?,
            });
        }
        let mut partial = Vec::with_capacity(pots.len());
        for head in heads {
            partial.push(without_events(head)?);
        }
        let mut ranges = redis::pipe();
        let mut wanted = Vec::new();
        for (index, (pot, (stored, after))) in pots.iter().zip(&partial).enumerate() {
            if stored.version > *after {
                ranges
                    .cmd("LRANGE")
                    .arg(keys::events(shard, &pot.location, &pot.product))
                    .arg(*after)
                    .arg(stored.version - 1);
                wanted.push(index);
            }
        }
        let mut events: Vec<Vec<String>> = if wanted.is_empty() {
            Vec::new()
        } else {
            let mut conn = self.conn.clone();
            self.run("load events", ranges.query_async(&mut conn))
                .await?
        };
        if events.len() != wanted.len() {
            return Err(StoreError::Corrupt(format!(
                "load events: {} answers for {} pots",
                events.len(),
                wanted.len()
            )));
        }
        let mut stored: Vec<StoredPot> = partial.into_iter().map(|(s, _)| s).collect();
        for (index, raw) in wanted.into_iter().zip(events.drain(..)) {
            let pot = &mut stored[index];
            let after = pot.top_checkpoint.map_or(0, |c| c.position);
            let decoded: Result<Vec<Event>, _> = raw.iter().map(|j| codec::event(j)).collect();
            pot.events = decoded?;
            contiguous(&pot.events, after, pot.version)?;
        }
        Ok(stored)
    }
}

/// The pot described by its hash and top checkpoint, without events yet, and the position its
/// events start after.
fn without_events(head: Head) -> Result<(StoredPot, u64), StoreError> {
    let [q, p, t, version, count] = <[Option<String>; 5]>::try_from(head.fields)
        .map_err(|f| StoreError::Corrupt(format!("pot hash fields {f:?}")))?;
    let state = codec::pot_state(&[q, p, t])?;
    let version = codec::count(version.as_deref())?;
    let top_checkpoint = head.top.as_deref().map(codec::checkpoint).transpose()?;
    let after = top_checkpoint.map_or(0, |c| c.position);
    // Bounded by the version read with the hash, so both describe the same commit.
    if after > version {
        return Err(StoreError::Corrupt(format!(
            "top checkpoint {after} is past version {version}"
        )));
    }
    let stored = StoredPot {
        state,
        version,
        checkpoint_count: codec::count(count.as_deref())?,
        top_checkpoint,
        events: Vec::new(),
    };
    Ok((stored, after))
}

/// Checks that `events` are exactly the positions `from + 1 ..= to`.
pub(super) fn contiguous(events: &[Event], from: u64, to: u64) -> Result<(), StoreError> {
    let expected = from + 1..=to;
    if events.len() as u64 == to - from && events.iter().map(|e| e.position).eq(expected) {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "pot events do not hold positions {} to {to}",
            from + 1
        )))
    }
}

fn corrupt(error: redis::ParsingError) -> StoreError {
    StoreError::Corrupt(format!("pot: {error}"))
}
