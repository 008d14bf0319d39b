//! The pots of one shard held in memory, with idle eviction driven by time given as input.

use std::collections::HashMap;

use shared::domain::{Pot, PotHistory, StoredPot};
use shared::store::PotRef;

/// One loaded pot.
struct Cached {
    pot: Pot,
    last_used_ms: u64,
    /// Changed by the batch being built and not yet committed: it cannot be rolled back, so a
    /// failed commit evicts it, and history for it can only be loaded once it is committed.
    dirty: bool,
}

/// The pot cache of one shard.
pub(crate) struct PotCache {
    pots: HashMap<PotRef, Cached>,
    unload_after_ms: u64,
    check_every_ms: u64,
    next_check_ms: u64,
}

impl PotCache {
    pub(crate) fn new(unload_after_ms: u64, check_every_ms: u64) -> PotCache {
        PotCache {
            pots: HashMap::new(),
            unload_after_ms,
            check_every_ms,
            next_check_ms: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pots.len()
    }

    pub(crate) fn get(&self, pot: &PotRef) -> Option<&Pot> {
        self.pots.get(pot).map(|c| &c.pot)
    }

    pub(crate) fn is_dirty(&self, pot: &PotRef) -> bool {
        self.pots.get(pot).is_some_and(|c| c.dirty)
    }

    /// The pot, marked as used at `now_ms` and changed by the current batch.
    pub(crate) fn change(&mut self, pot: &PotRef, now_ms: u64) -> Option<&mut Pot> {
        let cached = self.pots.get_mut(pot)?;
        cached.last_used_ms = now_ms;
        cached.dirty = true;
        Some(&mut cached.pot)
    }

    pub(crate) fn load(&mut self, pot: PotRef, stored: StoredPot, now_ms: u64) {
        let cached = Cached {
            pot: Pot::from_stored(stored),
            last_used_ms: now_ms,
            dirty: false,
        };
        self.pots.insert(pot, cached);
    }

    pub(crate) fn extend(&mut self, pot: &PotRef, history: PotHistory) {
        if let Some(cached) = self.pots.get_mut(pot) {
            cached.pot.extend_history(history);
        }
    }

    /// The batch committed: every pot now matches the store.
    pub(crate) fn confirm(&mut self) {
        self.pots.values_mut().for_each(|c| c.dirty = false);
    }

    /// The batch was discarded: pots it changed no longer match the store.
    pub(crate) fn discard(&mut self) {
        self.pots.retain(|_, c| !c.dirty);
    }

    /// Evicts pots idle for the unload time, at most once per check interval. Returns how many.
    pub(crate) fn evict_idle(&mut self, now_ms: u64) -> usize {
        if now_ms < self.next_check_ms {
            return 0;
        }
        self.next_check_ms = now_ms.saturating_add(self.check_every_ms);
        let before = self.pots.len();
        let unload_after = self.unload_after_ms;
        self.pots
            .retain(|_, c| c.dirty || now_ms.saturating_sub(c.last_used_ms) < unload_after);
        before - self.pots.len()
    }

    /// Evicts the least recently used pots not changed by a pending batch until at most `max`
    /// remain. Returns how many.
    pub(crate) fn shrink_to(&mut self, max: usize) -> usize {
        let excess = self.pots.len().saturating_sub(max);
        if excess == 0 {
            return 0;
        }
        let mut clean: Vec<(u64, PotRef)> = self
            .pots
            .iter()
            .filter(|(_, c)| !c.dirty)
            .map(|(pot, c)| (c.last_used_ms, pot.clone()))
            .collect();
        clean.sort_unstable_by_key(|(used, _)| *used);
        let evicted = clean.len().min(excess);
        for (_, pot) in clean.into_iter().take(evicted) {
            self.pots.remove(&pot);
        }
        evicted
    }

    pub(crate) fn clear(&mut self) {
        self.pots.clear();
    }
}

#[cfg(test)]
mod tests {
    use shared::domain::PotState;

    use super::*;

    fn pot(product: &str) -> PotRef {
        PotRef {
            location: "L".to_owned(),
            product: product.to_owned(),
        }
    }

    fn empty() -> StoredPot {
        StoredPot::from_full(PotState::INITIAL, &[], &[])
    }

    #[test]
    fn beyond_its_capacity_the_cache_evicts_the_least_recently_used_clean_pots() {
        let mut cache = PotCache::new(1_000_000, 1_000_000);
        for (n, product) in ["a", "b", "c", "d"].into_iter().enumerate() {
            cache.load(pot(product), empty(), n as u64);
        }
        // "a" is the oldest but changed by the pending batch: it stays.
        assert!(cache.change(&pot("a"), 0).is_some());
        assert_eq!(cache.shrink_to(2), 2);
        assert!(cache.get(&pot("a")).is_some());
        assert!(cache.get(&pot("b")).is_none() && cache.get(&pot("c")).is_none());
        assert!(cache.get(&pot("d")).is_some());
        assert_eq!(cache.shrink_to(2), 0);
    }
}
