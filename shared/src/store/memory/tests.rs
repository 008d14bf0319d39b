//! Unit tests of the embedded backend: fencing, deadlines, settling, streams and history.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::command::{AcknowledgeMove, Command};
use crate::domain::{Checkpoint, Event, EventKind, Fingerprint, LocalDateTime, PotChange};
use crate::store::{PotWrite, RecordWrite};

const TTL: Duration = Duration::from_secs(3);
const DAY: Duration = Duration::from_secs(86_400);

fn envelope(id: &str) -> CommandEnvelope {
    CommandEnvelope {
        id: id.to_owned(),
        timeout_ms: None,
        traceparent: None,
        reply_to: None,
        command: Command::AcknowledgeMove(AcknowledgeMove {
            move_id: id.to_owned(),
            source: "S".to_owned(),
            request_id: id.to_owned(),
        }),
    }
}

fn pot() -> PotRef {
    PotRef {
        location: "L".to_owned(),
        product: "P".to_owned(),
    }
}

fn at(secs: i64) -> LocalDateTime {
    LocalDateTime::from_epoch(secs, 0).unwrap()
}

/// A delivery of `n` at position `position`, with a checkpoint pushed if asked.
fn write(position: u64, n: f64, checkpoint: bool) -> PotWrite {
    let state = PotState {
        quantity: n * position as f64,
        pending_adjustment: 0.0,
        last_updated: at(0),
    };
    PotWrite {
        location: "L".to_owned(),
        product: "P".to_owned(),
        change: PotChange {
            event: Event {
                kind: EventKind::Delivery,
                quantity: n,
                at: at(0),
                id: format!("r{position}"),
                position,
            },
            state,
            truncate_checkpoints_to: None,
            push_checkpoint: checkpoint.then_some(Checkpoint { position, state }),
        },
    }
}

fn record(body: &str) -> RecordWrite {
    RecordWrite {
        location: "L".to_owned(),
        request_id: "r1".to_owned(),
        record: IdempotencyRecord {
            fingerprint: Fingerprint([7; 32]),
            in_transit: false,
            body: body.to_owned(),
        },
    }
}

async fn leased(store: &MemoryStore) -> LeaseToken {
    store.acquire(0, "w1", TTL).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_commit_with_a_stale_token_writes_nothing() {
    let store = MemoryStore::new();
    let old = leased(&store).await;
    let new = store.steal_lease(0, "w2", TTL);
    assert!(new.epoch > old.epoch);
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

#[tokio::test]
async fn an_expired_lease_fences_commits_and_can_be_acquired_again() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    assert!(store.acquire(0, "w2", TTL).await.unwrap().is_none());
    store.advance_time(TTL + Duration::from_millis(1));
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

#[tokio::test]
async fn a_batch_past_its_deadline_writes_nothing() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
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

#[tokio::test]
async fn a_pot_change_at_the_wrong_position_refuses_the_whole_commit() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{}"));
    commit.pots.push(write(1, 5.0, false));
    commit.pots.push(write(3, 5.0, false));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Store(_))
    ));
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
    assert_eq!(store.load_pot(0, &pot()).await.unwrap().version, 0);
}

#[tokio::test]
async fn settle_waits_for_the_deadline_then_reports_the_record_or_its_absence() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let now = store.now_ms().await.unwrap();
    assert_eq!(
        store.settle(0, "L", "r1", now + 1_000).await.unwrap(),
        Settled::Pending
    );
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{\"a\":1}"));
    store.commit(&token, &commit, DAY).await.unwrap();
    store.advance_time(Duration::from_millis(1_001));
    let Settled::Recorded(found) = store.settle(0, "L", "r1", now + 1_000).await.unwrap() else {
        panic!("the record was committed");
    };
    assert_eq!(found.body, "{\"a\":1}");
    assert_eq!(
        store.settle(0, "L", "other", now + 1_000).await.unwrap(),
        Settled::NotApplied
    );
}

#[tokio::test]
async fn once_settled_as_not_applied_a_write_can_never_commit() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let now = store.now_ms().await.unwrap();
    store.advance_time(Duration::from_millis(10));
    assert_eq!(
        store.settle(0, "L", "r1", now + 5).await.unwrap(),
        Settled::NotApplied
    );
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.min_deadline_ms = Some(now + 5);
    commit.records.push(record("{}"));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Expired)
    ));
}

#[tokio::test]
async fn records_and_credits_expire_after_the_retention() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{}"));
    commit.credits_applied.push("m1".to_owned());
    store
        .commit(&token, &commit, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(store.load_record(0, "L", "r1").await.unwrap().is_some());
    assert!(store.credit_applied(0, "m1").await.unwrap());
    store.advance_time(Duration::from_secs(61));
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
    assert!(!store.credit_applied(0, "m1").await.unwrap());
}

#[tokio::test]
async fn stream_ids_increase_and_reads_return_entries_after_the_given_id() {
    let store = MemoryStore::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(store.append(3, &envelope(&format!("c{i}"))).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let read = store.read(3, ids[1], 2, Duration::ZERO).await.unwrap();
    let got: Vec<_> = read.iter().map(|(id, e)| (*id, e.id.clone())).collect();
    assert_eq!(
        got,
        vec![(ids[2], "c2".to_owned()), (ids[3], "c3".to_owned())]
    );
    assert!(
        store
            .read(4, StreamId::ZERO, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_blocked_read_wakes_up_when_a_command_is_appended() {
    let store = Arc::new(MemoryStore::new());
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read(1, StreamId::ZERO, 10, Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    store.append(1, &envelope("c1")).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(read.len(), 1);
}

#[tokio::test]
async fn a_blocked_read_returns_empty_after_the_block_time() {
    let store = MemoryStore::new();
    let read = store
        .read(1, StreamId::ZERO, 10, Duration::from_millis(30))
        .await
        .unwrap();
    assert!(read.is_empty());
}

#[tokio::test]
async fn a_commit_trims_the_stream_up_to_applied() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(store.append(0, &envelope(&format!("c{i}"))).await.unwrap());
    }
    store
        .commit(&token, &ShardCommit::new(0, ids[1]), DAY)
        .await
        .unwrap();
    assert_eq!(store.stream_len(0), 1);
    assert_eq!(store.applied(0).await.unwrap(), ids[1]);
    let rest = store.read(0, ids[1], 10, Duration::ZERO).await.unwrap();
    assert_eq!(rest[0].0, ids[2]);
}

#[tokio::test]
async fn the_outbox_holds_credits_until_removed() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let credit = CreditMove {
        move_id: "m1".to_owned(),
        source: "S".to_owned(),
        destination: "D".to_owned(),
        product: "P".to_owned(),
        request_id: "r1".to_owned(),
        quantity: 1.0,
        moved_at: at(0),
        body: "{}".to_owned(),
    };
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.outbox_put.push(credit.clone());
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.outbox(0).await.unwrap(), vec![credit]);
    let mut commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.outbox_remove.push("m1".to_owned());
    store.commit(&token, &commit, DAY).await.unwrap();
    assert!(store.outbox(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_loaded_pot_holds_the_top_checkpoint_and_the_events_after_it() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=5 {
        commit
            .pots
            .push(write(position, 2.0, position == 2 || position == 4));
    }
    store.commit(&token, &commit, DAY).await.unwrap();
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!(stored.version, 5);
    assert_eq!(stored.checkpoint_count, 2);
    assert_eq!(stored.top_checkpoint.map(|c| c.position), Some(4));
    assert_eq!(
        stored.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(stored.state.quantity, 10.0);
    let empty = store
        .load_pot(
            0,
            &PotRef {
                location: "L".into(),
                product: "Q".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (empty.version, empty.state, empty.events.len()),
        (0, PotState::INITIAL, 0)
    );
}

#[tokio::test]
async fn history_requests_return_the_checkpoint_stack_and_the_event_range() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=5 {
        commit
            .pots
            .push(write(position, 2.0, position == 2 || position == 4));
    }
    store.commit(&token, &commit, DAY).await.unwrap();
    let request = HistoryRequest {
        all_checkpoints: true,
        events_from: 2,
        events_to: 4,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    let stack: Vec<u64> = history
        .checkpoints
        .unwrap()
        .iter()
        .map(|c| c.position)
        .collect();
    assert_eq!(stack, vec![2, 4]);
    assert_eq!(
        history
            .events
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    let request = HistoryRequest {
        all_checkpoints: false,
        events_from: 0,
        events_to: 9,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    assert!(history.checkpoints.is_none());
    assert_eq!(history.events.len(), 5);
}

#[tokio::test]
async fn a_change_can_cut_the_checkpoint_stack_before_pushing() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=4 {
        commit.pots.push(write(position, 1.0, true));
    }
    let mut cut = write(5, 1.0, true);
    cut.change.truncate_checkpoints_to = Some(1);
    commit.pots.push(cut);
    store.commit(&token, &commit, DAY).await.unwrap();
    let request = HistoryRequest {
        all_checkpoints: true,
        events_from: 0,
        events_to: 0,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    let stack: Vec<u64> = history
        .checkpoints
        .unwrap()
        .iter()
        .map(|c| c.position)
        .collect();
    assert_eq!(stack, vec![1, 5]);
}

#[tokio::test]
async fn replies_reach_open_waiters_and_are_dropped_otherwise() {
    let store = MemoryStore::new();
    let mut waiter = store.open().await.unwrap();
    let reply = Reply::Created {
        body: "{}".to_owned(),
    };
    store.send(&waiter.address, &reply).await.unwrap();
    assert_eq!(waiter.replies.recv().await, Some(reply.clone()));
    store.send("nobody", &reply).await.unwrap();
    let address = waiter.address.clone();
    drop(waiter);
    store.send(&address, &reply).await.unwrap();
}
