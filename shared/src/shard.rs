//! Shard mapping: `shard = FNV-1a-64(UTF-8 location id) mod shards`, fixed for the life of a dataset.

/// A shard number in `0..shards`.
pub type ShardId = u32;

/// 64-bit FNV-1a of the bytes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The shard owning every pot of `location`.
pub fn shard_of(location: &str, shards: u32) -> ShardId {
    (fnv1a64(location.as_bytes()) % u64::from(shards.max(1))) as ShardId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_published_fnv1a_64() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_location_maps_into_range() {
        for id in ["", "WH01", "Central Store", "{x}:y"] {
            assert!(shard_of(id, 256) < 256);
        }
        assert_eq!(shard_of("anything", 1), 0);
    }
}
