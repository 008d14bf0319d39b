//! Contract: commits are fenced by the lease, refused past their deadline, and all or nothing.

use std::time::Duration;

use super::fixture::{DAY, TTL, credit, leased, pot, record, write};
use super::{StoreAid, eventually};
use crate::domain::PotState;
use crate::store::{CommitError, ShardCommit, Store, StoreError, StreamId};

/// A worker paused past its lease cannot commit once another took over; the new holder can.
pub async fn a_commit_with_a_stale_token_writes_nothing(store: &dyn Store, aid: &dyn StoreAid) {
    let old = leased(store).await;
    let new = aid.steal_lease(0, "w2", TTL).await;
    assert_eq!(new.epoch, old.epoch + 1);
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 5.0, false));
    commit.records.push(record("{}"));
    assert!(matches!(
        store.commit(&old, &commit, DAY).await,
        Err(CommitError::Stale)
    ));
    assert_eq!(store.applied(0).await.unwrap(), StreamId::ZERO);
    assert_eq!(
        store.read_pots(&[pot()]).await.unwrap()[0],
        PotState::INITIAL
    );
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
    store.commit(&new, &commit, DAY).await.unwrap();
    assert_eq!(store.read_pots(&[pot()]).await.unwrap()[0].quantity, 5.0);
}

/// A lease that ran out fences its holder off and is free for the next worker (next epoch).
pub async fn an_expired_lease_fences_commits_and_can_be_acquired_again(
    store: &dyn Store,
    aid: &dyn StoreAid,
) {
    let ttl = Duration::from_millis(200);
    let token = store.acquire(0, "w1", ttl).await.unwrap().unwrap();
    assert!(store.acquire(0, "w2", ttl).await.unwrap().is_none());
    assert!(store.renew(&token, ttl).await.unwrap());
    aid.advance_time(ttl);
    eventually("the lease to expire", || async {
        store.cluster(1, DAY).await.unwrap().owned == 0
    })
    .await;
    let commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Stale)
    ));
    assert!(!store.renew(&token, TTL).await.unwrap());
    let next = store.acquire(0, "w2", TTL).await.unwrap().unwrap();
    assert_eq!(next.epoch, token.epoch + 1);
    assert!(!store.release(&token).await.unwrap());
    assert!(store.release(&next).await.unwrap());
}

/// A lease only fences commits of its own shard.
pub async fn a_token_of_another_shard_is_stale(store: &dyn Store, _aid: &dyn StoreAid) {
    let token = store.acquire(1, "w1", TTL).await.unwrap().unwrap();
    let commit = ShardCommit::new(2, StreamId { ms: 1, seq: 0 });
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Stale)
    ));
}

/// A batch whose earliest deadline is past in store time is refused whole.
pub async fn a_batch_past_its_deadline_writes_nothing(store: &dyn Store, _aid: &dyn StoreAid) {
    let token = leased(store).await;
    let now = store.now_ms().await.unwrap();
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.min_deadline_ms = Some(now - 1);
    commit.pots.push(write(1, 5.0, false));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Expired)
    ));
    assert_eq!(store.applied(0).await.unwrap(), StreamId::ZERO);
    assert_eq!(
        store.read_pots(&[pot()]).await.unwrap()[0],
        PotState::INITIAL
    );
    commit.min_deadline_ms = Some(now + 60_000);
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.applied(0).await.unwrap(), StreamId { ms: 1, seq: 0 });
}

/// A pot change that does not follow the stored version refuses the commit as corrupt, and none
/// of the commit's records, credits, outbox entries or `applied` is written.
pub async fn a_pot_change_at_the_wrong_position_refuses_the_whole_commit(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    let token = leased(store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{}"));
    commit.credits_applied.push("m1".to_owned());
    commit.outbox_put.push(credit("m2"));
    commit.pots.push(write(1, 5.0, false));
    commit.pots.push(write(3, 5.0, false));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Store(StoreError::Corrupt(_)))
    ));
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
    assert_eq!(store.load_pot(0, &pot()).await.unwrap().version, 0);
    assert!(!store.credit_applied(0, "m1").await.unwrap());
    assert!(store.outbox(0).await.unwrap().is_empty());
    assert_eq!(store.applied(0).await.unwrap(), StreamId::ZERO);
}
