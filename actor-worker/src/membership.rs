//! Which shards this worker should own (docs/architecture.md §10): a deterministic balanced assignment
//! of shards to live workers by rendezvous hashing, and the per-tick policy that moves towards it
//! (claims of free shards, gradual hand-offs). Pure: no store, no clock.

use std::collections::BTreeSet;

use shared::shard::{ShardId, fnv1a64};

/// Each worker aims to own this many shards: `ceil(shards / workers)`.
pub(crate) fn target(shards: u32, workers: usize) -> usize {
    let workers = workers.max(1);
    (shards as usize).div_ceil(workers)
}

/// Rendezvous weight of `(shard, worker)`: a fixed 64-bit hash (FNV-1a of the worker id, mixed
/// with the shard by splitmix64), so every worker computes the same value everywhere.
pub(crate) fn weight(shard: ShardId, worker: &str) -> u64 {
    splitmix64(fnv1a64(worker.as_bytes()) ^ splitmix64(u64::from(shard)))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The owner every shard should have (index into `workers`), given the live workers and the
/// current holder of each shard's lease (`holders`, one entry per shard; a holder that is not a
/// live worker counts as none). Capacity is `ceil(shards / workers)`:
///
/// 1. each live worker keeps the shards it holds, up to capacity, its highest-weight ones first —
///    so a join moves only what the others must give up to make room, and a leave only the
///    leaver's shards;
/// 2. every other shard goes by rendezvous hashing: all its `(shard, worker)` pairs walked by
///    weight, highest first (ties by worker id), to the first worker still under capacity.
///
/// Every worker computes the same answer from the same view. `None` for every shard when there
/// is no worker.
pub(crate) fn assignment(
    shards: u32,
    workers: &[&str],
    holders: &[Option<String>],
) -> Vec<Option<usize>> {
    let mut owners = vec![None; shards as usize];
    if workers.is_empty() {
        return owners;
    }
    let capacity = target(shards, workers.len());
    let mut load = vec![0usize; workers.len()];
    let mut kept: Vec<(u64, usize, ShardId)> = (0..shards)
        .filter_map(|shard| {
            let holder = holders.get(shard as usize)?.as_deref()?;
            let w = workers.iter().position(|id| *id == holder)?;
            Some((weight(shard, holder), w, shard))
        })
        .collect();
    kept.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    for (_, w, shard) in kept {
        if load[w] < capacity {
            owners[shard as usize] = Some(w);
            load[w] += 1;
        }
    }
    let mut pairs: Vec<(u64, usize, ShardId)> = (0..shards)
        .filter(|shard| owners[*shard as usize].is_none())
        .flat_map(|shard| {
            workers
                .iter()
                .enumerate()
                .map(move |(w, id)| (weight(shard, id), w, shard))
        })
        .collect();
    pairs.sort_unstable_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| workers[a.1].cmp(workers[b.1]))
            .then_with(|| a.2.cmp(&b.2))
    });
    for (_, w, shard) in pairs {
        let owner = &mut owners[shard as usize];
        if owner.is_none() && load[w] < capacity {
            *owner = Some(w);
            load[w] += 1;
        }
    }
    owners
}

/// What one worker sees on a tick.
pub(crate) struct View<'a> {
    pub(crate) me: &'a str,
    /// Live workers as the store reports them (this worker is added if missing).
    pub(crate) live: &'a [String],
    /// The holder of each shard's lease, `None` where free.
    pub(crate) holders: &'a [Option<String>],
    /// Shards whose lease this worker holds and serves.
    pub(crate) owned: &'a BTreeSet<ShardId>,
    /// Shards that were free on this worker's previous tick.
    pub(crate) free_before: &'a BTreeSet<ShardId>,
    /// Shards this worker handed off that nobody has taken yet.
    pub(crate) handed_off: &'a BTreeSet<ShardId>,
    /// Whether the previous hand-off is settled: every shard of it taken, or one TTL passed.
    pub(crate) handoff_settled: bool,
}

/// What to do on this tick.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Free shards to acquire.
    pub(crate) claim: Vec<ShardId>,
    /// Owned shards to give up gracefully (finish the batch, commit, release).
    pub(crate) hand_off: Vec<ShardId>,
    /// `ceil(shards / live workers)`.
    pub(crate) target: usize,
}

/// The plan of one tick: claim the free shards assigned to me, plus, while under target, free
/// shards that were already free on my previous tick (a liveness fallback for when views
/// disagree); hand off owned shards assigned to another worker, a few at a time
/// (`max(1, target / 8)`) and only once the previous hand-off is settled.
pub(crate) fn plan(view: &View<'_>) -> Plan {
    let mut live: Vec<&str> = view.live.iter().map(String::as_str).collect();
    if !live.contains(&view.me) {
        live.push(view.me);
    }
    live.sort_unstable();
    live.dedup();
    let shards = u32::try_from(view.holders.len()).unwrap_or(u32::MAX);
    let owners = assignment(shards, &live, view.holders);
    let target = target(shards, live.len());
    let mine = |shard: ShardId| owners[shard as usize].map(|w| live[w]) == Some(view.me);
    let free =
        |shard: &ShardId| view.holders[*shard as usize].is_none() && !view.owned.contains(shard);
    let mut claim: Vec<ShardId> = (0..shards).filter(|s| free(s) && mine(*s)).collect();
    let mut fallback: Vec<ShardId> = view
        .free_before
        .iter()
        .copied()
        .filter(|s| *s < shards && free(s) && !mine(*s) && !view.handed_off.contains(s))
        .collect();
    fallback.sort_by_key(|s| std::cmp::Reverse(weight(*s, view.me)));
    let room = target.saturating_sub(view.owned.len() + claim.len());
    claim.extend(fallback.into_iter().take(room));
    let mut hand_off = Vec::new();
    if view.handoff_settled {
        let mut theirs: Vec<ShardId> = view.owned.iter().copied().filter(|s| !mine(*s)).collect();
        theirs.sort_by_key(|s| weight(*s, view.me));
        hand_off = theirs.into_iter().take((target / 8).max(1)).collect();
    }
    Plan {
        claim,
        hand_off,
        target,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SHARDS: u32 = 256;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// Owner id per shard for the given live workers, from scratch (no shard held).
    fn owners(shards: u32, workers: &[&str]) -> Vec<String> {
        owners_after(shards, workers, &[])
    }

    /// Owner id per shard for the given live workers when `held` are the current owners.
    fn owners_after(shards: u32, workers: &[&str], held: &[String]) -> Vec<String> {
        let holders: Vec<Option<String>> = if held.is_empty() {
            vec![None; shards as usize]
        } else {
            held.iter().cloned().map(Some).collect()
        };
        assignment(shards, workers, &holders)
            .into_iter()
            .map(|w| workers[w.unwrap()].to_owned())
            .collect()
    }

    fn moved(a: &[String], b: &[String]) -> usize {
        a.iter().zip(b).filter(|(x, y)| x != y).count()
    }

    fn loads(owners: &[String], worker: &str) -> usize {
        owners.iter().filter(|o| *o == worker).count()
    }

    #[test]
    fn the_weight_is_a_fixed_function_of_shard_and_worker() {
        assert_eq!(weight(0, "w1"), weight(0, "w1"));
        assert_ne!(weight(0, "w1"), weight(1, "w1"));
        assert_ne!(weight(0, "w1"), weight(0, "w2"));
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn every_shard_gets_one_owner_and_nobody_more_than_the_target() {
        for workers in [&["a"][..], &["w1", "w2", "w3"], &["x", "y", "z", "u", "v"]] {
            let owners = owners(SHARDS, workers);
            for w in workers {
                assert!(loads(&owners, w) <= target(SHARDS, workers.len()), "{w}");
            }
        }
        assert_eq!(assignment(4, &[], &[None, None, None, None]), vec![None; 4]);
        assert_eq!(owners(3, &["a", "b", "c", "d"]).len(), 3);
    }

    const ID_SETS: [[&str; 4]; 4] = [
        ["w1", "w2", "w3", "w4"],
        ["worker-a", "worker-b", "worker-c", "worker-d"],
        ["pod-7f9c", "pod-2b1e", "pod-88aa", "pod-0d3f"],
        ["alpha", "bravo", "charlie", "delta"],
    ];

    /// Shards moved when the 4th worker joins 3, and when it leaves again.
    fn churn(set: &[&str; 4]) -> (usize, usize) {
        let three = owners(SHARDS, &set[..3]);
        let four = owners_after(SHARDS, &set[..], &three);
        let three_again = owners_after(SHARDS, &set[..3], &four);
        (moved(&three, &four), moved(&four, &three_again))
    }

    #[test]
    fn a_fourth_worker_joining_takes_exactly_a_quarter_of_the_shards_from_the_others() {
        // Ideal: 256 / 4 = 64 moves, exactly what the joiner must receive.
        for set in &ID_SETS {
            let three = owners(SHARDS, &set[..3]);
            let four = owners_after(SHARDS, &set[..], &three);
            assert_eq!(moved(&three, &four), 64, "{set:?}");
            assert_eq!(loads(&four, set[3]), 64, "{set:?}");
            // Only shards going to the joiner move.
            for (before, after) in three.iter().zip(&four) {
                assert!(before == after || after == set[3], "{set:?}");
            }
        }
    }

    #[test]
    fn a_worker_leaving_moves_exactly_its_own_shards() {
        for set in &ID_SETS {
            let four = owners(SHARDS, &set[..]);
            let three = owners_after(SHARDS, &set[..3], &four);
            // Exactly the leaver's shards move; the others keep theirs.
            for (before, after) in four.iter().zip(&three) {
                assert!(before == after || before == set[3], "{set:?}");
            }
            assert_eq!(moved(&four, &three), loads(&four, set[3]), "{set:?}");
            assert_eq!(churn(set).1, 64, "{set:?}");
        }
    }

    #[test]
    fn a_join_moves_the_ideal_number_of_shards_whatever_the_worker_ids() {
        for n in 0..200u32 {
            let set: Vec<String> = (0..4).map(|i| format!("node-{n}-{i}")).collect();
            let set: Vec<&str> = set.iter().map(String::as_str).collect();
            let three = owners(SHARDS, &set[..3]);
            let four = owners_after(SHARDS, &set, &three);
            assert_eq!(moved(&three, &four), 64, "{set:?}");
        }
    }

    #[test]
    fn an_over_capacity_worker_keeps_its_highest_weight_shards() {
        // w1 alone held everything; with w2 it keeps the half it weighs highest.
        let all: Vec<String> = vec!["w1".to_owned(); 16];
        let two = owners_after(16, &["w1", "w2"], &all);
        assert_eq!(loads(&two, "w1"), 8);
        let mut by_weight: Vec<ShardId> = (0..16).collect();
        by_weight.sort_by_key(|s| std::cmp::Reverse(weight(*s, "w1")));
        for s in &by_weight[..8] {
            assert_eq!(two[*s as usize], "w1");
        }
    }

    fn view<'a>(
        me: &'a str,
        live: &'a [String],
        holders: &'a [Option<String>],
        owned: &'a BTreeSet<ShardId>,
        free_before: &'a BTreeSet<ShardId>,
        handed_off: &'a BTreeSet<ShardId>,
    ) -> View<'a> {
        View {
            me,
            live,
            holders,
            owned,
            free_before,
            handed_off,
            handoff_settled: true,
        }
    }

    #[test]
    fn a_lone_worker_claims_every_free_shard() {
        let live = ids(&["w1"]);
        let holders = vec![None; 8];
        let none = BTreeSet::new();
        let plan = super::plan(&view("w1", &live, &holders, &none, &none, &none));
        assert_eq!(plan.claim, (0..8).collect::<Vec<_>>());
        assert!(plan.hand_off.is_empty());
        assert_eq!(plan.target, 8);
    }

    #[test]
    fn a_worker_missing_from_the_view_counts_itself_in() {
        let live = ids(&["w2"]);
        let holders = vec![None; 8];
        let none = BTreeSet::new();
        let plan = super::plan(&view("w1", &live, &holders, &none, &none, &none));
        assert_eq!(plan.target, 4);
        assert_eq!(plan.claim.len(), 4);
    }

    #[test]
    fn only_free_shards_assigned_to_me_are_claimed_at_first_sight() {
        let live = ids(&["w1", "w2"]);
        let owners = owners(SHARDS, &["w1", "w2"]);
        let holders = vec![None; SHARDS as usize];
        let none = BTreeSet::new();
        let plan = super::plan(&view("w1", &live, &holders, &none, &none, &none));
        let expected: Vec<ShardId> = (0..SHARDS)
            .filter(|s| owners[*s as usize] == "w1")
            .collect();
        assert_eq!(plan.claim, expected);
        assert_eq!(plan.claim.len(), 128);
    }

    #[test]
    fn a_shard_free_for_two_ticks_is_claimed_while_under_target() {
        // w2 is live but holds nothing (it may see another view): its shards stay free.
        let live = ids(&["w1", "w2"]);
        let owners = owners(16, &["w1", "w2"]);
        let mut holders: Vec<Option<String>> = vec![None; 16];
        let owned: BTreeSet<ShardId> = (0..16)
            .filter(|s| owners[*s as usize] == "w1")
            .take(6)
            .collect();
        for s in &owned {
            holders[*s as usize] = Some("w1".into());
        }
        let free_before: BTreeSet<ShardId> = (0..16).collect();
        let none = BTreeSet::new();
        let plan = super::plan(&view("w1", &live, &holders, &owned, &free_before, &none));
        // Two of its own still free, and no room left for others' shards: target 8.
        assert_eq!(plan.claim.len(), 2);
        assert!(plan.claim.iter().all(|s| owners[*s as usize] == "w1"));
        let fewer: BTreeSet<ShardId> = owned.iter().copied().take(3).collect();
        for s in owned.iter().skip(3) {
            holders[*s as usize] = Some("w3".into());
        }
        let plan = super::plan(&view("w1", &live, &holders, &fewer, &free_before, &none));
        // 3 owned + 2 own free + 3 from the fallback = target 8.
        assert_eq!(plan.claim.len(), 5);
        assert_eq!(
            plan.claim
                .iter()
                .filter(|s| owners[**s as usize] == "w2")
                .count(),
            3
        );
        // A shard free for the first time is not taken by the fallback.
        let plan = super::plan(&view("w1", &live, &holders, &fewer, &none, &none));
        assert_eq!(plan.claim.len(), 2);
    }

    #[test]
    fn shards_just_handed_off_are_not_taken_back_by_the_fallback() {
        let live = ids(&["w1", "w2"]);
        let holders: Vec<Option<String>> = vec![None; 4];
        let owners = owners(4, &["w1", "w2"]);
        let theirs: BTreeSet<ShardId> = (0..4).filter(|s| owners[*s as usize] == "w2").collect();
        let all: BTreeSet<ShardId> = (0..4).collect();
        let none = BTreeSet::new();
        let plan = super::plan(&view("w1", &live, &holders, &none, &all, &theirs));
        assert!(plan.claim.iter().all(|s| owners[*s as usize] == "w1"));
        assert_eq!(plan.claim.len(), 2);
    }

    #[test]
    fn shards_of_another_worker_are_handed_off_a_few_at_a_time() {
        let live = ids(&["w1", "w2"]);
        let owned: BTreeSet<ShardId> = (0..SHARDS).collect();
        let holders: Vec<Option<String>> = vec![Some("w1".into()); SHARDS as usize];
        let none = BTreeSet::new();
        let mut v = view("w1", &live, &holders, &owned, &none, &none);
        let first = plan(&v);
        assert!(first.claim.is_empty());
        // Target 128: 16 per tick.
        assert_eq!(first.hand_off.len(), 16);
        let owners = owners(SHARDS, &["w1", "w2"]);
        assert!(first.hand_off.iter().all(|s| owners[*s as usize] == "w2"));
        v.handoff_settled = false;
        assert!(plan(&v).hand_off.is_empty());
    }

    #[test]
    fn a_small_target_still_hands_off_one_shard_per_tick() {
        let live = ids(&["w1", "w2", "w3"]);
        let owned: BTreeSet<ShardId> = (0..6).collect();
        let holders: Vec<Option<String>> = vec![Some("w1".into()); 6];
        let none = BTreeSet::new();
        let plan = super::plan(&view("w1", &live, &holders, &owned, &none, &none));
        assert_eq!(plan.target, 2);
        assert_eq!(plan.hand_off.len(), 1);
    }

    #[test]
    fn a_balanced_worker_does_nothing() {
        let live = ids(&["w1", "w2"]);
        let owners = owners(SHARDS, &["w1", "w2"]);
        let holders: Vec<Option<String>> = owners.iter().cloned().map(Some).collect();
        let owned: BTreeSet<ShardId> = (0..SHARDS)
            .filter(|s| owners[*s as usize] == "w1")
            .collect();
        let none = BTreeSet::new();
        assert_eq!(
            plan(&view("w1", &live, &holders, &owned, &owned, &none)),
            Plan {
                claim: vec![],
                hand_off: vec![],
                target: 128
            }
        );
    }
}
