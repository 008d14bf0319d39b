//! Contract: settling abandoned writes, retention of records and credit markers, the outbox.

use std::time::Duration;

use super::fixture::{DAY, credit, leased, record};
use super::{StoreAid, eventually};
use crate::store::{CommitError, Settled, ShardCommit, Store, StreamId};

/// Until the deadline passes a write is pending; then it is a replay of its record, or never
/// applied.
pub async fn settle_waits_for_the_deadline_then_reports_the_record_or_its_absence(
    store: &dyn Store,
    aid: &dyn StoreAid,
) {
    let token = leased(store).await;
    let deadline = store.now_ms().await.unwrap() + 300;
    assert_eq!(
        store.settle(0, "L", "r1", deadline).await.unwrap(),
        Settled::Pending
    );
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{\"a\":1}"));
    store.commit(&token, &commit, DAY).await.unwrap();
    aid.advance_time(Duration::from_millis(301));
    eventually("the deadline to pass", || async {
        store.now_ms().await.unwrap() > deadline
    })
    .await;
    let Settled::Recorded(found) = store.settle(0, "L", "r1", deadline).await.unwrap() else {
        panic!("the record was committed");
    };
    assert_eq!(found.body, "{\"a\":1}");
    assert_eq!(
        store.settle(0, "L", "other", deadline).await.unwrap(),
        Settled::NotApplied
    );
}

/// "Not applied" is final: a batch carrying that write's deadline is refused.
pub async fn once_settled_as_not_applied_a_write_can_never_commit(
    store: &dyn Store,
    aid: &dyn StoreAid,
) {
    let token = leased(store).await;
    let deadline = store.now_ms().await.unwrap() + 5;
    aid.advance_time(Duration::from_millis(10));
    eventually("the write to settle", || async {
        store.settle(0, "L", "r1", deadline).await.unwrap() == Settled::NotApplied
    })
    .await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.min_deadline_ms = Some(deadline);
    commit.records.push(record("{}"));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Expired)
    ));
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
}

/// Idempotency records and credit markers live for the retention given at commit.
pub async fn records_and_credits_expire_after_the_retention(store: &dyn Store, aid: &dyn StoreAid) {
    let token = leased(store).await;
    let retention = Duration::from_millis(300);
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{}"));
    commit.credits_applied.push("m1".to_owned());
    store.commit(&token, &commit, retention).await.unwrap();
    assert!(store.load_record(0, "L", "r1").await.unwrap().is_some());
    assert!(store.credit_applied(0, "m1").await.unwrap());
    aid.advance_time(retention + Duration::from_millis(1));
    eventually("the record to expire", || async {
        store.load_record(0, "L", "r1").await.unwrap().is_none()
    })
    .await;
    eventually("the credit marker to expire", || async {
        !store.credit_applied(0, "m1").await.unwrap()
    })
    .await;
}

/// Credits put in the outbox stay there, ordered by move id, until a commit removes them.
pub async fn the_outbox_holds_credits_until_removed(store: &dyn Store, _aid: &dyn StoreAid) {
    let token = leased(store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.outbox_put.push(credit("m2"));
    commit.outbox_put.push(credit("m1"));
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(
        store.outbox(0).await.unwrap(),
        vec![credit("m1"), credit("m2")]
    );
    let mut commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.outbox_remove.push("m1".to_owned());
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.outbox(0).await.unwrap(), vec![credit("m2")]);
}
