//! The Redis backend: the engine's store traits over Redis (or a Redis Cluster: every key a
//! script touches carries its shard's hash tag). Key layout in [`keys`], scripts in `lua/`.
//!
//! Ordinary commands share one multiplexed connection that answers within a response timeout and
//! is replaced when it fails or leaves a command unanswered that long (`conn`), so a dead Redis
//! or a dead path to it fails fast with [`StoreError::Unavailable`], and a command that could not
//! get a connection with [`StoreError::Unreachable`].
//! Blocking reads use dedicated connections (`blocking`). Against a cluster (`conn`) the shared
//! connection is a cluster connection and pipelines spanning shards are split per shard; against
//! a Sentinel-managed primary (`sentinel`) it follows the primary through a failover.

mod backlog;
mod blocking;
mod codec;
mod conn;
mod entries;
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
mod leases;
mod log;
mod membership;
mod pots;
mod replication;
mod replies;
mod scripts;
mod sentinel;
mod state;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{Client, Cmd, FromRedisValue, RedisError, RedisResult};
use tokio::task::JoinSet;

use super::{PotRef, ReadModel, Replies, ReplyWaiter, StoreError};
use crate::domain::PotState;
use crate::reply::Reply;
use crate::shard::{ShardId, shard_of};
use blocking::BlockingPool;
use conn::{Conn, Dedicated, Shared, Topology};
pub use replies::ReplyChannelKind;
use replies::ReplyHub;
use sentinel::{SentinelConn, SentinelUrl};

/// Tuning of the Redis backend; the defaults suit production.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// How long an ordinary command may take before it fails as unavailable.
    pub response_timeout: Duration,
    /// Most connections held for blocking reads at once: one per blocked shard reader or
    /// per-request reply waiter.
    pub blocking_connections: usize,
    /// Expiry of a reply stream or reply list after its last reply.
    pub reply_ttl: Duration,
    /// Approximate cap on entries kept in one instance's reply stream.
    pub reply_stream_max_len: usize,
    /// Replicas that must confirm (Redis `WAIT`) a commit, an acquisition and a settled record
    /// before it counts (`STOCK_REDIS_MIN_REPLICAS`); 0: none, nothing waits.
    pub min_replicas: u32,
    /// How long one `WAIT` may wait for the replicas.
    pub replica_wait: Duration,
}

impl Default for RedisOptions {
    fn default() -> RedisOptions {
        RedisOptions {
            response_timeout: Duration::from_secs(2),
            blocking_connections: 512,
            reply_ttl: Duration::from_secs(60),
            reply_stream_max_len: 100_000,
            min_replicas: 0,
            replica_wait: Duration::from_secs(1),
        }
    }
}

impl RedisOptions {
    /// The defaults, with the settings of `config` that concern the store:
    /// `STOCK_REDIS_MIN_REPLICAS`, and a replica wait of at most half the command timeout (so
    /// that a confirmed commit still replies in time).
    pub fn for_config(config: &crate::config::Config) -> RedisOptions {
        let defaults = RedisOptions::default();
        RedisOptions {
            min_replicas: config.redis_min_replicas,
            replica_wait: defaults.replica_wait.min(config.command_timeout / 2),
            ..defaults
        }
    }
}

/// The engine's [`Store`](super::Store) over Redis.
pub struct RedisStore {
    dedicated: Dedicated,
    conn: Conn,
    blocking: BlockingPool,
    shards: u32,
    reply_channel: ReplyChannelKind,
    replies: ReplyHub,
    options: RedisOptions,
    /// The last replica confirmation fell short: commits wait for a confirmed probe.
    replicas_short: AtomicBool,
}

impl RedisStore {
    /// Connects with the default [`RedisOptions`]; see [`RedisStore::connect_with`].
    pub async fn connect(
        url: &str,
        shards: u32,
        reply_channel: ReplyChannelKind,
    ) -> Result<RedisStore, StoreError> {
        RedisStore::connect_with(url, shards, reply_channel, RedisOptions::default()).await
    }

    /// Connects to `url`, records `shards` as the dataset's `STOCK_SHARDS` if it is the first
    /// node, and refuses a dataset recorded with another value.
    ///
    /// `url` is one `redis://` or `rediss://` URL for a standalone server, a comma-separated
    /// list of seed URLs of Redis Cluster nodes (the rest of the cluster is discovered from
    /// them; a single seed ends with a comma): a comma is what selects the cluster client, or
    /// `redis+sentinel://[user:password@]host:port[,host:port…]/<service>` for a primary
    /// managed by Sentinel (see [`check_url`]).
    /// On a cluster, `TIME` may be answered by any node, so deadlines compare the clocks of
    /// different nodes: cluster nodes must be NTP-synced.
    pub async fn connect_with(
        url: &str,
        shards: u32,
        reply_channel: ReplyChannelKind,
        options: RedisOptions,
    ) -> Result<RedisStore, StoreError> {
        if shards == 0 {
            return Err(StoreError::Corrupt(
                "STOCK_SHARDS must be at least 1".into(),
            ));
        }
        if url.starts_with("rediss:") {
            // rustls needs a process-wide provider when several are compiled in; one already
            // installed by the application wins.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let topology = Topology::parse(url)
            .map_err(|e| StoreError::Corrupt(format!("STOCK_REDIS_URL: {e}")))?;
        let (dedicated, conn, blocking) = match topology {
            Topology::Cluster(seeds) => RedisStore::connect_cluster(&seeds, &options).await?,
            Topology::Standalone(url) => RedisStore::connect_single(url, &options).await?,
            Topology::Sentinel(url) => RedisStore::connect_sentinel(url, &options).await?,
        };
        let store = RedisStore {
            dedicated,
            conn,
            blocking,
            shards,
            reply_channel,
            replies: ReplyHub::new(),
            options,
            replicas_short: AtomicBool::new(false),
        };
        store.check_shards().await?;
        for script in scripts::all() {
            let mut conn = store.conn.clone();
            store
                .run("load script", script.load_async(&mut conn))
                .await?;
        }
        let min_replicas = store.options.min_replicas;
        tracing::info!(shards, %reply_channel, min_replicas, "store backend: Redis");
        Ok(store)
    }

    /// The shared connection and the blocking pool of a standalone server.
    async fn connect_single(
        url: &str,
        options: &RedisOptions,
    ) -> Result<(Dedicated, Conn, BlockingPool), StoreError> {
        let client = Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {e}")))?;
        let shared = Shared::new(
            client.clone(),
            options.response_timeout,
            options.response_timeout,
        );
        let conn = Conn::Shared(shared);
        RedisStore::first_connection(&conn, options.response_timeout * 4).await?;
        let blocking = BlockingPool::new(
            client.get_connection_info().clone(),
            options.blocking_connections,
            options.response_timeout,
        )?;
        Ok((Dedicated::Single(Box::new(client)), conn, blocking))
    }

    /// Connects the shared connection, trying again for up to `within` (a server that is still
    /// starting refuses connections for a moment).
    async fn first_connection(conn: &Conn, within: Duration) -> Result<(), StoreError> {
        let until = tokio::time::Instant::now() + within;
        let mut pause = Duration::from_millis(100);
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match conn.connected(left).await {
                Ok(_) => return Ok(()),
                Err(cause) if tokio::time::Instant::now() + pause >= until => {
                    return Err(StoreError::Unavailable(format!("connect: {cause}")));
                }
                Err(_) => tokio::time::sleep(pause).await,
            }
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// The shared connection to the primary that the sentinels name, and a blocking pool of
    /// connections to the same primary.
    async fn connect_sentinel(
        url: SentinelUrl,
        options: &RedisOptions,
    ) -> Result<(Dedicated, Conn, BlockingPool), StoreError> {
        let service = url.service.clone();
        let sentinels = url.sentinels.len();
        let connecting = SentinelConn::connect(url, options.response_timeout);
        let primary = run(options.response_timeout * 4, "connect", connecting).await?;
        tracing::info!(service, sentinels, "store deployment: Sentinel");
        let dedicated = Dedicated::Sentinel(primary.clone());
        let blocking = BlockingPool::dedicated(
            dedicated.clone(),
            options.blocking_connections,
            options.response_timeout,
        );
        Ok((dedicated, Conn::Sentinel(primary), blocking))
    }

    /// The shared cluster connection and the blocking pool of a cluster: two clients, the one
    /// for blocking reads without a response timeout.
    async fn connect_cluster(
        seeds: &[&str],
        options: &RedisOptions,
    ) -> Result<(Dedicated, Conn, BlockingPool), StoreError> {
        let builder = || {
            ClusterClientBuilder::new(seeds.iter().copied())
                .connection_timeout(options.response_timeout)
        };
        let invalid = |e: RedisError| StoreError::Unavailable(format!("invalid Redis URL: {e}"));
        let shared: ClusterClient = builder()
            .response_timeout(options.response_timeout)
            .build()
            .map_err(invalid)?;
        let blocking_client = builder().build().map_err(invalid)?;
        let connecting = shared.get_async_connection();
        let conn = run(options.response_timeout * 4, "connect", connecting).await?;
        let dedicated = Dedicated::Cluster(Box::new(blocking_client));
        let blocking = BlockingPool::dedicated(
            dedicated.clone(),
            options.blocking_connections,
            options.response_timeout,
        );
        Ok((dedicated, Conn::Cluster(conn), blocking))
    }

    /// Runs one command per entry and answers in order: one pipeline on a standalone server; on
    /// a cluster one pipeline per shard (a pipeline is routed to one slot), run concurrently.
    async fn query_each<T>(
        &self,
        what: &str,
        commands: Vec<(ShardId, Cmd)>,
    ) -> Result<Vec<T>, StoreError>
    where
        T: FromRedisValue + Send + 'static,
    {
        if !self.conn.is_cluster() {
            let mut pipe = redis::pipe();
            for (_, cmd) in commands {
                pipe.add_command(cmd);
            }
            let mut conn = self.conn.clone();
            return self.run(what, pipe.query_async(&mut conn)).await;
        }
        let count = commands.len();
        let mut by_shard: BTreeMap<ShardId, (Vec<usize>, redis::Pipeline)> = BTreeMap::new();
        for (index, (shard, cmd)) in commands.into_iter().enumerate() {
            let (indexes, pipe) = by_shard.entry(shard).or_default();
            indexes.push(index);
            pipe.add_command(cmd);
        }
        let mut tasks = JoinSet::new();
        for (indexes, pipe) in by_shard.into_values() {
            let mut conn = self.conn.clone();
            tasks.spawn(async move { (indexes, pipe.query_async::<Vec<T>>(&mut conn).await) });
        }
        let gathering = async {
            let mut answers: Vec<Option<T>> = (0..count).map(|_| None).collect();
            while let Some(joined) = tasks.join_next().await {
                let (indexes, values) =
                    joined.map_err(|e| StoreError::Unavailable(format!("{what}: {e}")))?;
                let values = values.map_err(|e| unavailable(what, &e))?;
                if values.len() != indexes.len() {
                    return Err(StoreError::Corrupt(format!(
                        "{what}: {} answers to {} commands",
                        values.len(),
                        indexes.len()
                    )));
                }
                for (index, value) in indexes.into_iter().zip(values) {
                    answers[index] = Some(value);
                }
            }
            answers
                .into_iter()
                .map(|a| a.ok_or_else(|| StoreError::Corrupt(format!("{what}: answer missing"))))
                .collect()
        };
        let limit = self.options.response_timeout;
        // Dropping the join set on a timeout aborts the pipelines still running.
        tokio::time::timeout(limit, gathering)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "{what}: no answer from Redis within {limit:?}"
                )))
            })
    }

    /// The shard count this store was opened with.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// Records `STOCK_SHARDS` and the schema on first use; refuses a dataset made with others.
    async fn check_shards(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSETNX")
            .arg(keys::META)
            .arg("shards")
            .arg(self.shards)
            .ignore()
            .cmd("HSETNX")
            .arg(keys::META)
            .arg("schema")
            .arg(keys::SCHEMA)
            .ignore()
            .cmd("HMGET")
            .arg(keys::META)
            .arg("shards")
            .arg("schema");
        let ((recorded, schema),): ((Option<String>, Option<String>),) = self
            .run("check STOCK_SHARDS", pipe.query_async(&mut conn))
            .await?;
        let recorded = recorded.unwrap_or_default();
        if recorded != self.shards.to_string() {
            return Err(StoreError::Corrupt(format!(
                "STOCK_SHARDS is {} but this Redis dataset was created with STOCK_SHARDS={recorded}; \
                 the shard count cannot change for the life of a dataset",
                self.shards
            )));
        }
        let schema = schema.unwrap_or_default();
        if schema != keys::SCHEMA {
            return Err(StoreError::Corrupt(format!(
                "Redis dataset schema {schema:?} is not the supported schema {:?}",
                keys::SCHEMA
            )));
        }
        Ok(())
    }

    /// Runs an ordinary command within the response timeout.
    async fn run<T>(
        &self,
        what: &str,
        command: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        run(self.options.response_timeout, what, command).await
    }

    /// Runs one ordinary command on the shared connection within the response timeout.
    async fn query<T: FromRedisValue>(&self, what: &str, cmd: &Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.run(what, cmd.query_async(&mut conn)).await
    }

    /// [`RedisStore::query`] for a command whose failure must say whether it can have had an
    /// effect: a command that could not even be sent (no connection to be had, connection
    /// refused, no connection to a node) fails as [`StoreError::Unreachable`]; any other failure, a timeout included, may
    /// have reached Redis.
    async fn query_unsent<T: FromRedisValue>(
        &self,
        what: &str,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        let limit = self.options.response_timeout;
        // No connection to be had within the limit: the command was not sent.
        let mut conn = self
            .conn
            .connected(limit)
            .await
            .map_err(|cause| StoreError::Unreachable(format!("{what}: {cause}")))?;
        match tokio::time::timeout(limit, cmd.query_async(&mut conn)).await {
            Ok(Err(e)) if never_sent(&e) => Err(StoreError::Unreachable(format!("{what}: {e}"))),
            answer => answer
                .map_err(|_| no_answer(what, limit))?
                .map_err(|e| unavailable(what, &e)),
        }
    }

    /// The shard that holds a pot, by its location.
    fn shard_of(&self, location: &str) -> ShardId {
        shard_of(location, self.shards)
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("shards", &self.shards)
            .field("reply_channel", &self.reply_channel)
            .finish_non_exhaustive()
    }
}

async fn run<T>(
    limit: Duration,
    what: &str,
    command: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(unavailable(what, &e)),
        Err(_) => Err(no_answer(what, limit)),
    }
}

fn no_answer(what: &str, limit: Duration) -> StoreError {
    StoreError::Unavailable(format!("{what}: no answer from Redis within {limit:?}"))
}

/// Whether a failed command surely had no effect: a failed connection attempt, or a node that
/// refused it as a replica (`READONLY`, after a failover). A broken connection or a missing
/// answer may follow a command Redis executed.
fn never_sent(e: &RedisError) -> bool {
    e.is_connection_refusal()
        || e.kind() == redis::ErrorKind::ClusterConnectionNotFound
        || e.code() == Some("READONLY")
}

/// Checks the form of a `STOCK_REDIS_URL` without connecting: one `redis://` or `rediss://`
/// URL, a comma-separated list of them (a cluster), or
/// `redis+sentinel://[user:password@]host:port[,host:port…]/<service>`. The error says what is
/// wrong without echoing the value, which may hold a password.
pub fn check_url(url: &str) -> Result<(), String> {
    Topology::parse(url).map(drop)
}

/// Maps a Redis error: answers that do not parse as expected are corrupt data; everything else
/// (connection, timeout, server busy or loading) is unavailability.
fn unavailable(what: &str, e: &RedisError) -> StoreError {
    match e.kind() {
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => {
            StoreError::Corrupt(format!("{what}: {e}"))
        }
        _ if e.code() == Some("WRONGTYPE") => StoreError::Corrupt(format!("{what}: {e}")),
        _ => StoreError::Unavailable(format!("{what}: {e}")),
    }
}

pub(super) use crate::domain::time::millis;

#[async_trait]
impl ReadModel for RedisStore {
    async fn read_pots(&self, pots: &[PotRef]) -> Result<Vec<PotState>, StoreError> {
        if pots.is_empty() {
            return Ok(Vec::new());
        }
        let commands = pots
            .iter()
            .map(|pot| {
                let shard = self.shard_of(&pot.location);
                let mut get = redis::cmd("HMGET");
                get.arg(keys::pot(shard, &pot.location, &pot.product))
                    .arg(&codec::STATE_FIELDS[..]);
                (shard, get)
            })
            .collect();
        let rows: Vec<Vec<Option<String>>> = self.query_each("read pots", commands).await?;
        rows.iter().map(|fields| codec::pot_state(fields)).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>("ping", &redis::cmd("PING"))
            .await
            .map(drop)
    }
}

#[async_trait]
impl Replies for RedisStore {
    async fn open(&self) -> Result<ReplyWaiter, StoreError> {
        Ok(self.open_waiter())
    }

    async fn send(&self, address: &str, reply: &Reply) -> Result<(), StoreError> {
        self.send_reply(address, reply).await
    }
}
