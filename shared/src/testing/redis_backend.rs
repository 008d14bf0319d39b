//! The store contract's backend over a real Redis deployment — one `redis-server`
//! ([`TestRedis`]) or a Redis Cluster ([`TestRedisCluster`]): a one-shard store under test, and a
//! second instance as the worker side of reply channels.

use std::time::Duration;

use async_trait::async_trait;
use redis::{Cmd, FromRedisValue, Value};

use super::contract::fixture::{DAY, envelope, leased, pot, write};
use super::contract::{Backend, StoreAid, eventually};
use super::{TestRedis, TestRedisCluster};
use crate::reply::Reply;
use crate::shard::ShardId;
use crate::store::redis::{RedisStore, ReplyChannelKind, keys};
use crate::store::{
    CommandLog, LeaseToken, Leases, ReadModel, Replies, ShardCommit, ShardState, Store, StreamId,
};

/// What the backend needs from a Redis deployment.
#[async_trait]
pub trait Deployment: Send + Sync + 'static {
    /// The URL the stores connect to.
    fn url(&self) -> String;
    /// One command, sent to the node that holds its key.
    async fn send(&self, cmd: &Cmd) -> Value;
    /// Clients blocked in a command, over every node.
    async fn blocked_clients(&self) -> u64;
}

/// One command's answer, parsed.
///
/// # Panics
/// If Redis fails or the answer does not parse as `T`.
pub async fn query<T: FromRedisValue>(deployment: &dyn Deployment, cmd: &Cmd) -> T {
    let answer = deployment.send(cmd).await;
    match T::from_redis_value(answer) {
        Ok(value) => value,
        Err(e) => panic!("unexpected answer to a test command: {e}"),
    }
}

/// Uses once each kind of connection a one-shard `store` opens — a fenced commit read back, an
/// append read back by a blocking read, a reply received on a reply channel — so that a test of
/// how the store connects (TLS, a password user) covers every one of them.
///
/// # Panics
/// If any of them fails.
pub async fn use_every_connection(store: &RedisStore) {
    let token = leased(store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 5.0, false));
    if let Err(e) = store.commit(&token, &commit, DAY).await {
        panic!("commit: {e:?}");
    }
    let pots = store.read_pots(&[pot()]).await;
    assert!(matches!(&pots, Ok(p) if p[0].quantity == 5.0), "{pots:?}");
    if let Err(e) = store.append(0, &envelope("c1")).await {
        panic!("append: {e:?}");
    }
    let read = store.read(0, StreamId::ZERO, 10, Duration::from_millis(100));
    assert!(matches!(read.await, Ok(entries) if entries.len() == 1));
    let mut waiter = match store.open().await {
        Ok(waiter) => waiter,
        Err(e) => panic!("open a reply channel: {e:?}"),
    };
    if let Err(e) = store.send(&waiter.address, &Reply::ContentMismatch).await {
        panic!("send a reply: {e:?}");
    }
    let reply = tokio::time::timeout(Duration::from_secs(5), waiter.replies.recv()).await;
    assert!(
        matches!(reply, Ok(Some(Reply::ContentMismatch))),
        "{reply:?}"
    );
}

/// The `blocked_clients` figure of one node's `INFO clients`.
async fn blocked_on(port: u16) -> u64 {
    let info: String = query(&Node(port), redis::cmd("INFO").arg("clients")).await;
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// One node, addressed directly.
struct Node(u16);

#[async_trait]
impl Deployment for Node {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.0)
    }

    async fn send(&self, cmd: &Cmd) -> Value {
        let connection = async {
            redis::Client::open(self.url())?
                .get_multiplexed_async_connection()
                .await
        };
        let answer = match connection.await {
            Ok(mut conn) => cmd.query_async(&mut conn).await,
            Err(e) => Err(e),
        };
        answer.unwrap_or_else(|e| panic!("test command on port {}: {e}", self.0))
    }

    async fn blocked_clients(&self) -> u64 {
        blocked_on(self.0).await
    }
}

#[async_trait]
impl Deployment for TestRedis {
    fn url(&self) -> String {
        TestRedis::url(self)
    }

    async fn send(&self, cmd: &Cmd) -> Value {
        Node(self.port()).send(cmd).await
    }

    async fn blocked_clients(&self) -> u64 {
        blocked_on(self.port()).await
    }
}

#[async_trait]
impl Deployment for TestRedisCluster {
    fn url(&self) -> String {
        TestRedisCluster::url(self)
    }

    async fn send(&self, cmd: &Cmd) -> Value {
        let seeds: Vec<String> = self.nodes().iter().map(TestRedis::url).collect();
        let connection = async {
            redis::cluster::ClusterClient::new(seeds)?
                .get_async_connection()
                .await
        };
        let answer = match connection.await {
            Ok(mut conn) => cmd.query_async(&mut conn).await,
            Err(e) => Err(e),
        };
        answer.unwrap_or_else(|e| panic!("test command on the cluster: {e}"))
    }

    async fn blocked_clients(&self) -> u64 {
        let mut blocked = 0;
        for node in self.nodes() {
            blocked += blocked_on(node.port()).await;
        }
        blocked
    }
}

/// A one-shard store on its own deployment `D`, with a second instance (per-request reply keys)
/// as the worker side of reply channels.
pub struct RedisBackend<D> {
    /// The store under test.
    pub store: RedisStore,
    /// The worker side: the reply address says where to send, so its own kind does not matter.
    pub worker: RedisStore,
    /// The deployment, for inspection and fault injection.
    pub redis: D,
}

impl<D: Deployment> RedisBackend<D> {
    /// The backend over `redis`; the store under test opens its reply channels as `kind`.
    ///
    /// # Panics
    /// If a store cannot connect.
    pub async fn start(redis: D, kind: ReplyChannelKind) -> RedisBackend<D> {
        let url = redis.url();
        RedisBackend {
            store: connect(&url, kind).await,
            worker: connect(&url, ReplyChannelKind::Key).await,
            redis,
        }
    }
}

async fn connect(url: &str, kind: ReplyChannelKind) -> RedisStore {
    match RedisStore::connect(url, 1, kind).await {
        Ok(store) => store,
        Err(e) => panic!("connecting a test store to {url}: {e}"),
    }
}

#[async_trait]
impl<D: Deployment> StoreAid for RedisBackend<D> {
    /// Redis's clock cannot be moved: the contract polls until real time has passed.
    fn advance_time(&self, _by: Duration) {}

    async fn steal_lease(&self, shard: ShardId, worker: &str, ttl: Duration) -> LeaseToken {
        query::<()>(&self.redis, redis::cmd("DEL").arg(keys::lease(shard))).await;
        match self.store.acquire(shard, worker, ttl).await {
            Ok(Some(token)) => token,
            other => panic!("the freed lease could not be taken: {other:?}"),
        }
    }

    async fn stream_len(&self, shard: ShardId) -> usize {
        query(&self.redis, redis::cmd("XLEN").arg(keys::commands(shard))).await
    }

    async fn readers_blocked(&self, n: u64) {
        eventually("a blocked client", || async {
            self.redis.blocked_clients().await >= n
        })
        .await;
    }

    fn replier(&self) -> &dyn Store {
        &self.worker
    }
}

impl<D: Deployment> Backend for RedisBackend<D> {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    fn aid(&self) -> &dyn StoreAid {
        self
    }
}
