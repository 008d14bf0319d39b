//! Contract: leases taken and renewed many at a time, each shard's answer its own.

use std::time::Duration;

use super::fixture::{DAY, TTL};
use super::{StoreAid, eventually};
use crate::shard::ShardId;
use crate::store::{LeaseToken, Store};

/// A claim of many shards takes the free ones and leaves a held one alone; a renewal of many
/// leases extends those still held and reports the stolen and the released ones as lost.
pub async fn leases_taken_and_renewed_many_at_a_time_answer_for_each_shard(
    store: &dyn Store,
    aid: &dyn StoreAid,
) {
    let short = Duration::from_millis(300);
    assert!(store.acquire_each(&[], "w1", short).await.is_empty());
    assert!(store.renew_each(&[], short).await.is_empty());
    store.acquire(2, "other", DAY).await.unwrap().unwrap();
    let shards: Vec<ShardId> = (0..6).collect();
    let answers = store.acquire_each(&shards, "w1", short).await;
    let answers: Vec<Option<LeaseToken>> = answers.into_iter().map(Result::unwrap).collect();
    assert!(answers[2].is_none(), "a held lease was taken");
    let tokens: Vec<LeaseToken> = answers.into_iter().flatten().collect();
    let taken: Vec<ShardId> = tokens.iter().map(|t| t.shard).collect();
    assert_eq!(taken, [0, 1, 3, 4, 5]);
    assert!(tokens.iter().all(|t| t.worker == "w1" && t.epoch >= 1));

    aid.steal_lease(0, "w2", DAY).await;
    assert!(store.release(&tokens[3]).await.unwrap());
    // The last lease is left out of the renewal: it runs out while the others hold.
    let renewed = store.renew_each(&tokens[..4], TTL).await;
    let renewed: Vec<bool> = renewed.into_iter().map(Result::unwrap).collect();
    assert_eq!(renewed, [false, true, true, false]);
    aid.advance_time(short);
    eventually("the lease left out to run out", || async {
        store.cluster(6, DAY).await.unwrap().holders[5].is_none()
    })
    .await;
    let holders = store.cluster(6, DAY).await.unwrap().holders;
    let w1 = Some("w1".to_owned());
    assert_eq!(holders[1], w1, "a renewed lease ran out");
    assert_eq!(holders[3], w1, "a renewed lease ran out");
    assert_eq!(holders[0].as_deref(), Some("w2"));
    assert_eq!(holders[4], None);
}
