//! The Redis backend against a server that refuses anonymous clients, as the container stack runs
//! it: the default user off and one password user named in the URL (`redis://user:password@host`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shared::store::StoreError;
use shared::store::redis::{RedisStore, ReplyChannelKind};
use shared::testing::TestRedis;
use shared::testing::redis_backend::{query, use_every_connection};

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
    // Blocking reads and reply channels use connections of their own: they authenticate too.
    use_every_connection(&store).await;
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
