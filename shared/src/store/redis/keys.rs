//! The Redis key layout (docs/architecture.md §13.1): every key of shard N carries the hash tag `{sN}`,
//! and every id inside a key is encoded with [`key_component`], so no id can move a key to
//! another slot or make two keys collide.

use crate::encoding::key_component;
use crate::shard::ShardId;

/// Hash of the dataset's settings: `shards` (`STOCK_SHARDS`) and `schema`.
pub const META: &str = "stock:meta";

/// Membership: sorted set of worker id → store time (ms) of its last heartbeat.
pub const WORKERS: &str = "stock:workers";

/// Membership announcements: a short stream (capped near [`MEMBERSHIP_MAX_LEN`] entries), one
/// entry per join, lease release or leave, read with a blocking `XREAD` by every worker.
pub const MEMBERSHIP: &str = "stock:membership";

/// Approximate cap on the entries kept in [`MEMBERSHIP`].
pub const MEMBERSHIP_MAX_LEN: usize = 1000;

/// Version of this key layout and value encoding, recorded in [`META`].
pub const SCHEMA: &str = "1";

/// The common prefix of every key of one shard: `stock:{sN}`.
pub fn shard_prefix(shard: ShardId) -> String {
    format!("stock:{{s{shard}}}")
}

/// Stream of the shard's commands (field `c` holds the JSON envelope).
pub fn commands(shard: ShardId) -> String {
    format!("{}:cmd", shard_prefix(shard))
}

/// Stream of the entries of [`commands`] that did not decode as commands, set aside by the
/// shard's owner (fields `id`: the entry's id in the command stream, `error`, then the entry's
/// own fields); capped near [`crate::store::DEAD_LETTER_MAX_LEN`] entries.
pub fn dead_letters(shard: ShardId) -> String {
    format!("{}:dead", shard_prefix(shard))
}

/// The lease: the owner's token `worker/epoch/nonce`, with a PX expiry.
pub fn lease(shard: ShardId) -> String {
    format!("{}:lease", shard_prefix(shard))
}

/// The fencing epoch, incremented on every acquisition.
pub fn epoch(shard: ShardId) -> String {
    format!("{}:epoch", shard_prefix(shard))
}

/// A marker written only to learn whether the replicas confirm writes again
/// (`STOCK_REDIS_MIN_REPLICAS`): store time in ms, short-lived.
pub fn replica_probe(shard: ShardId) -> String {
    format!("{}:probe", shard_prefix(shard))
}

/// Id of the last command whose effects are committed.
pub fn applied(shard: ShardId) -> String {
    format!("{}:applied", shard_prefix(shard))
}

/// Hash of move id → JSON credit not yet acknowledged (transactional outbox).
pub fn outbox(shard: ShardId) -> String {
    format!("{}:outbox", shard_prefix(shard))
}

/// Hash of one pot's state: `quantity`, `pendingAdjustment`, `lastUpdated`, `version`,
/// `checkpoints`.
pub fn pot(shard: ShardId, location: &str, product: &str) -> String {
    pot_key(shard, "pot", location, product)
}

/// List of one pot's events as JSON; index `i` holds position `i + 1`.
pub fn events(shard: ShardId, location: &str, product: &str) -> String {
    pot_key(shard, "ev", location, product)
}

/// List of one pot's valid checkpoints as JSON, bottom of the stack first.
pub fn checkpoints(shard: ShardId, location: &str, product: &str) -> String {
    pot_key(shard, "cp", location, product)
}

/// Idempotency record of `(location, requestId)`, with a PX expiry.
pub fn record(shard: ShardId, location: &str, request_id: &str) -> String {
    format!(
        "{}:req:{}:{}",
        shard_prefix(shard),
        key_component(location),
        key_component(request_id)
    )
}

/// Marker of a move credited at this (destination) shard, with a PX expiry.
pub fn credit(shard: ShardId, move_id: &str) -> String {
    format!("{}:credit:{}", shard_prefix(shard), key_component(move_id))
}

/// Reply stream of one HTTP-tier instance.
pub fn reply_stream(instance: &str) -> String {
    format!("stock:replies:{}", key_component(instance))
}

/// Reply list of one request (the per-request reply channel).
pub fn reply_list(id: &str) -> String {
    format!("stock:reply:{}", key_component(id))
}

fn pot_key(shard: ShardId, kind: &str, location: &str, product: &str) -> String {
    format!(
        "{}:{kind}:{}:{}",
        shard_prefix(shard),
        key_component(location),
        key_component(product)
    )
}

/// The hash tag Redis Cluster uses to pick a key's slot: the text between the first `{` and the
/// next `}`, when not empty; otherwise the whole key.
pub fn hash_tag(key: &str) -> &str {
    let Some(open) = key.find('{') else {
        return key;
    };
    let inner = &key[open + 1..];
    match inner.find('}') {
        Some(len) if len > 0 => &inner[..len],
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWKWARD: [&str; 6] = ["a:b", "{s9}", "x}y{z", "Central Store", "", "é/%"];

    #[test]
    fn shard_keys_follow_the_documented_layout() {
        assert_eq!(commands(3), "stock:{s3}:cmd");
        assert_eq!(lease(3), "stock:{s3}:lease");
        assert_eq!(dead_letters(3), "stock:{s3}:dead");
        assert_eq!(epoch(3), "stock:{s3}:epoch");
        assert_eq!(applied(3), "stock:{s3}:applied");
        assert_eq!(outbox(3), "stock:{s3}:outbox");
        assert_eq!(pot(0, "WH01", "P1"), "stock:{s0}:pot:WH01:P1");
        assert_eq!(events(0, "WH01", "P1"), "stock:{s0}:ev:WH01:P1");
        assert_eq!(checkpoints(0, "WH01", "P1"), "stock:{s0}:cp:WH01:P1");
        assert_eq!(record(1, "WH01", "r-1"), "stock:{s1}:req:WH01:r-1");
        assert_eq!(credit(1, "m.1"), "stock:{s1}:credit:m.1");
    }

    #[test]
    fn ids_are_encoded_so_no_brace_colon_or_space_appears_raw() {
        let key = pot(7, "{s1}:a b", "p}:{");
        assert_eq!(key, "stock:{s7}:pot:%7Bs1%7D%3Aa%20b:p%7D%3A%7B");
        assert_eq!(record(7, "L", "{x}"), "stock:{s7}:req:L:%7Bx%7D");
    }

    #[test]
    fn every_key_of_a_shard_carries_its_hash_tag_whatever_the_ids() {
        for id in AWKWARD {
            for key in [
                commands(12),
                dead_letters(12),
                lease(12),
                epoch(12),
                applied(12),
                outbox(12),
                pot(12, id, id),
                events(12, id, "p"),
                checkpoints(12, "l", id),
                record(12, id, id),
                credit(12, id),
            ] {
                assert_eq!(hash_tag(&key), "s12", "{key}");
            }
        }
    }

    #[test]
    fn ids_with_separators_do_not_collide() {
        assert_ne!(pot(0, "a:b", "c"), pot(0, "a", "b:c"));
        assert_ne!(record(0, "a:b", "c"), record(0, "a", "b:c"));
        assert_ne!(pot(0, "a%3Ab", "c"), pot(0, "a:b", "c"));
        let mut all: Vec<String> = Vec::new();
        for l in AWKWARD {
            for p in AWKWARD {
                all.push(pot(0, l, p));
            }
        }
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn the_hash_tag_is_the_first_non_empty_braced_text() {
        assert_eq!(hash_tag("stock:{s1}:x"), "s1");
        assert_eq!(hash_tag("a{}b{c}"), "a{}b{c}");
        assert_eq!(hash_tag("stock:meta"), "stock:meta");
        assert_eq!(hash_tag("a{b"), "a{b");
    }
}
