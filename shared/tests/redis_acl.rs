//! The Redis backend against a server that refuses anonymous clients, as the container stack runs
//! it: the default user off and one password user named in the URL (`redis://user:password@host`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shared::reply::Reply;
use shared::store::redis::{RedisStore, ReplyChannelKind};
use shared::store::{
    CommandLog, ReadModel, Replies, ShardCommit, ShardState, StoreError, StreamId,
};
use shared::testing::TestRedis;
use shared::testing::contract::fixture::{DAY, envelope, leased, pot, write};
use shared::testing::redis_backend::query;

/// A server whose only enabled user is `stock` with password `s3cret`.
async fn server_with_a_password_user() -> TestRedis {
    let server = TestRedis::start();
    let setuser = redis::cmd("ACL")
        .arg(&["SETUSER", "stock", "on", ">s3cret", "~*", "&*", "+@all"][..])
        .clone();
    let _: String = query(&server, &setuser).await;
    let default_off = redis::cmd("ACL")
        .arg(&["SETUSER", "default", "off"][..])
        .clone();
    let _: String = query(&server, &default_off).await;
    server
}

fn url_with_user(server: &TestRedis, user: &str) -> String {
    format!("redis://{user}@127.0.0.1:{}/", server.port())
}

#[tokio::test]
async fn a_url_with_user_and_password_commits_reads_and_replies() {
    let server = server_with_a_password_user().await;
    let url = url_with_user(&server, "stock:s3cret");
    let store = RedisStore::connect(&url, 1, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 5.0, false));
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.read_pots(&[pot()]).await.unwrap()[0].quantity, 5.0);
    // Blocking reads use connections of their own: they authenticate too.
    store.append(0, &envelope("c1")).await.unwrap();
    let read = store.read(0, StreamId::ZERO, 10, Duration::from_millis(100));
    assert_eq!(read.await.unwrap().len(), 1);
    let mut waiter = store.open().await.unwrap();
    store
        .send(&waiter.address, &Reply::ContentMismatch)
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), waiter.replies.recv()).await;
    assert_eq!(reply.unwrap(), Some(Reply::ContentMismatch));
}

#[tokio::test]
async fn a_url_without_the_password_is_refused_as_unavailable() {
    let server = server_with_a_password_user().await;
    for url in [
        format!("redis://127.0.0.1:{}/", server.port()),
        url_with_user(&server, "stock:wrong"),
    ] {
        assert!(matches!(
            RedisStore::connect(&url, 1, ReplyChannelKind::Stream).await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
