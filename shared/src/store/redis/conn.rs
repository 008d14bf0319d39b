//! The three deployments behind one connection type: a standalone server, a Sentinel-managed
//! primary or a Redis Cluster.
//!
//! [`Conn`] is the connection every command goes through, whichever the deployment; a cluster
//! connection routes each command by its first key (`EVALSHA` too) and each pipeline by the slot
//! of its keys, so a pipeline must keep to one slot (one shard); a Sentinel connection follows the
//! primary through a failover (`sentinel`). [`Dedicated`] opens connections of their own, without
//! a response timeout, for blocking reads.
//!
//! The shared standalone connection ([`Shared`]) is replaced as soon as it fails or leaves a
//! command unanswered for the response timeout: a connection whose path to Redis died without a
//! reset (a network partition) never answers again, and every command sent on it would wait the
//! whole timeout. A command that cannot get a connection (the last attempt failed moments ago,
//! or a new one fails within its bound) has not been sent, which [`Conn::connected`] tells apart
//! from a command that was sent and got no answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::time::Instant;

use super::sentinel::{self, SentinelConn, SentinelUrl};

/// How often a blocking reader looks whether the Sentinel deployment named a new primary.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// The pause after a failed connection attempt during which commands fail at once, doubling up
/// to [`MAX_PAUSE`] while attempts keep failing.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// A connection to either deployment; cloning shares it.
#[derive(Clone)]
pub(super) enum Conn {
    /// The shared standalone connection, connected again when it fails.
    Shared(Arc<Shared>),
    /// The shared standalone connection as one command found it (see [`Conn::connected`]).
    Pinned(Pinned),
    /// A dedicated standalone connection.
    Multiplexed(MultiplexedConnection),
    /// A cluster connection: one multiplexed connection per node, commands routed by slot.
    Cluster(ClusterConnection),
    /// The shared connection to a Sentinel-managed primary, following failovers.
    Sentinel(SentinelConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Shared(shared) => Box::pin(async move {
                let within = shared.connect_within;
                shared.pinned(within).await?.command(cmd).await
            }),
            Conn::Pinned(pinned) => Box::pin(pinned.command(cmd)),
            Conn::Multiplexed(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Shared(shared) => Box::pin(async move {
                let within = shared.connect_within;
                let pinned = shared.pinned(within).await?;
                pinned.commands(cmd, offset, count).await
            }),
            Conn::Pinned(pinned) => Box::pin(pinned.commands(cmd, offset, count)),
            Conn::Multiplexed(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Shared(shared) => shared.client.get_connection_info().redis_settings().db(),
            Conn::Pinned(pinned) => pinned.conn.get_db(),
            Conn::Multiplexed(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Whether commands are routed over a cluster (pipelines must then keep to one slot).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// This connection with a live link to the store, waiting at most `within` for one: an
    /// error means no command was sent. Only the shared standalone connection can lack one;
    /// the others are returned as they are.
    pub(super) async fn connected(&self, within: Duration) -> Result<Conn, String> {
        match self {
            Conn::Shared(shared) => shared
                .pinned(within)
                .await
                .map(Conn::Pinned)
                .map_err(|e| e.to_string()),
            other => Ok(other.clone()),
        }
    }
}

/// The shared standalone connection: one multiplexed connection, opened on demand, dropped when
/// it fails or leaves a command unanswered for the response timeout, and opened again by the
/// next command. While an attempt to connect has just failed, commands fail at once.
pub(super) struct Shared {
    client: Client,
    config: AsyncConnectionConfig,
    connect_within: Duration,
    response_timeout: Duration,
    link: Mutex<Link>,
    /// Held while connecting: one attempt at a time, the others wait for its outcome.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Link {
    /// Counts the connections made, so that a failure retires only the connection it hit.
    generation: u64,
    conn: Option<MultiplexedConnection>,
    /// After a failed attempt: commands fail until then, with `cause`.
    retry_at: Option<Instant>,
    pause: Duration,
    cause: String,
}

impl Shared {
    /// A shared connection to `client`'s server, not yet connected: each attempt to connect
    /// takes at most `connect_within`; an answer is awaited at most `response_timeout`.
    pub(super) fn new(
        client: Client,
        connect_within: Duration,
        response_timeout: Duration,
    ) -> Arc<Shared> {
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(connect_within));
        Arc::new(Shared {
            client,
            config,
            connect_within,
            response_timeout,
            link: Mutex::new(Link {
                pause: FIRST_PAUSE,
                ..Link::default()
            }),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live connection, or an attempt to make one (waiting at most `within`); fails at once
    /// while the pause after a failed attempt lasts.
    async fn pinned(self: &Arc<Self>, within: Duration) -> RedisResult<Pinned> {
        let until = Instant::now() + within;
        if let Some(pinned) = self.current()? {
            return Ok(pinned);
        }
        let Ok(_attempt) = tokio::time::timeout_at(until, self.connecting.lock()).await else {
            return Err(not_connected(format!(
                "no connection to Redis within {within:?} (another attempt is under way)"
            )));
        };
        // Another command's attempt may have ended meanwhile.
        if let Some(pinned) = self.current()? {
            return Ok(pinned);
        }
        let limit = until.min(Instant::now() + self.connect_within);
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config);
        let outcome = match tokio::time::timeout_at(limit, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(format!("connecting to Redis: {error}")),
            Err(_) => Err("connecting to Redis: no connection within the time allowed".to_owned()),
        };
        let mut link = self.link();
        match outcome {
            Ok(conn) => {
                link.generation += 1;
                link.conn = Some(conn.clone());
                link.retry_at = None;
                link.pause = FIRST_PAUSE;
                Ok(Pinned {
                    shared: Arc::clone(self),
                    generation: link.generation,
                    conn,
                })
            }
            Err(cause) => {
                link.retry_at = Some(Instant::now() + link.pause);
                link.pause = (link.pause * 2).min(MAX_PAUSE);
                link.cause.clone_from(&cause);
                Err(not_connected(cause))
            }
        }
    }

    /// The live connection if there is one; an error while the pause after a failed attempt
    /// lasts; `None` when an attempt should be made.
    fn current(self: &Arc<Self>) -> RedisResult<Option<Pinned>> {
        let link = self.link();
        if let Some(conn) = &link.conn {
            return Ok(Some(Pinned {
                shared: Arc::clone(self),
                generation: link.generation,
                conn: conn.clone(),
            }));
        }
        match link.retry_at {
            Some(at) if Instant::now() < at => Err(not_connected(link.cause.clone())),
            _ => Ok(None),
        }
    }

    /// Drops the connection of `generation` if it is still the live one: the next command
    /// connects again.
    fn retire(&self, generation: u64) {
        let mut link = self.link();
        if link.generation == generation && link.conn.take().is_some() {
            tracing::debug!("dropping the shared Redis connection; the next command reconnects");
        }
    }
}

/// A command's hold on the shared connection as it found it; failures of the command retire
/// that connection.
#[derive(Clone)]
pub(super) struct Pinned {
    shared: Arc<Shared>,
    generation: u64,
    conn: MultiplexedConnection,
}

impl Pinned {
    async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let watch = Watch::new(self);
        let mut conn = self.conn.clone();
        watch.answered(conn.req_packed_command(cmd).await)
    }

    async fn commands(
        &self,
        cmd: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let watch = Watch::new(self);
        let mut conn = self.conn.clone();
        watch.answered(conn.req_packed_commands(cmd, offset, count).await)
    }
}

/// Watches one command on a pinned connection: a broken connection, or no answer within the
/// response timeout (an error, or the caller giving up at least that late), retires it.
struct Watch<'a> {
    pinned: &'a Pinned,
    sent: Instant,
    done: bool,
}

impl<'a> Watch<'a> {
    fn new(pinned: &'a Pinned) -> Watch<'a> {
        Watch {
            pinned,
            sent: Instant::now(),
            done: false,
        }
    }

    fn answered<T>(mut self, answer: RedisResult<T>) -> RedisResult<T> {
        self.done = true;
        if let Err(error) = &answer
            && (error.is_timeout() || error.is_unrecoverable_error())
        {
            self.pinned.shared.retire(self.pinned.generation);
        }
        answer
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.done && self.sent.elapsed() >= self.pinned.shared.response_timeout {
            self.pinned.shared.retire(self.pinned.generation);
        }
    }
}

/// The error of a command that was never sent: no connection to send it on.
fn not_connected(cause: String) -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::NotConnected, cause).into()
}

/// Opens dedicated connections (no response timeout) to the store's deployment.
#[derive(Clone)]
pub(super) enum Dedicated {
    /// A standalone server.
    Single(Box<Client>),
    /// A cluster, through a client built without a response timeout.
    Cluster(Box<ClusterClient>),
    /// The current primary of a Sentinel-managed deployment.
    Sentinel(SentinelConn),
}

impl Dedicated {
    /// A fresh connection of its own, giving up connecting after `connect_within` (on a
    /// cluster, after the client's own connection timeout per node).
    pub(super) async fn open(&self, connect_within: Duration) -> RedisResult<Conn> {
        match self {
            Dedicated::Single(client) => without_response_timeout(client, connect_within).await,
            Dedicated::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            Dedicated::Sentinel(primary) => {
                let (client, _) = primary.primary_client().await?;
                without_response_timeout(&client, connect_within).await
            }
        }
    }

    /// A connection of `generation` found its node demoted: the next connection asks again.
    pub(super) fn demoted(&self, generation: u64) {
        if let Dedicated::Sentinel(primary) = self {
            primary.forget(generation, "READONLY");
        }
    }

    /// Completes once the deployment names a primary newer than `generation` (looked at every
    /// [`FOLLOW_POLL`]); never but on Sentinel.
    pub(super) async fn moved_from(&self, generation: u64) {
        if !matches!(self, Dedicated::Sentinel(_)) {
            return std::future::pending().await;
        }
        while self.generation() == generation {
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// Whether the primary of `generation` is still the deployment's primary (asks the
    /// sentinels, see [`SentinelConn::still_primary`]); always on the other deployments.
    pub(super) async fn still_primary(&self, generation: u64) -> bool {
        match self {
            Dedicated::Sentinel(primary) => primary.still_primary(generation).await,
            _ => true,
        }
    }

    /// The generation of the deployment's primary: a connection opened under an older one may
    /// point at a demoted node and is not reused (always 0 but on Sentinel).
    pub(super) fn generation(&self) -> u64 {
        match self {
            Dedicated::Sentinel(primary) => primary.generation(),
            _ => 0,
        }
    }
}

/// The deployment `STOCK_REDIS_URL` names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Topology<'a> {
    /// One `redis://` or `rediss://` URL.
    Standalone(&'a str),
    /// Seed URLs of a Redis Cluster.
    Cluster(Vec<&'a str>),
    /// Sentinels and the name of the primary they monitor.
    Sentinel(SentinelUrl),
}

impl Topology<'_> {
    /// Reads `url`: `redis+sentinel://…` selects Sentinel, a comma-separated list of URLs a
    /// cluster, one URL a standalone server. The error names what is wrong without echoing
    /// the value (it may hold a password).
    pub(super) fn parse(url: &str) -> Result<Topology<'_>, String> {
        if url.starts_with(sentinel::SCHEME) {
            return SentinelUrl::parse(url).map(Topology::Sentinel);
        }
        let plain = |u: &str| u.starts_with("redis://") || u.starts_with("rediss://");
        match cluster_seeds(url) {
            Some(seeds) if seeds.is_empty() || !seeds.iter().all(|s| plain(s)) => {
                Err("a cluster is a comma-separated list of redis:// or rediss:// URLs".to_owned())
            }
            Some(seeds) => Ok(Topology::Cluster(seeds)),
            None if plain(url) => Ok(Topology::Standalone(url)),
            None => Err(format!(
                "must start with redis://, rediss:// or {}",
                sentinel::SCHEME
            )),
        }
    }
}

/// The seed URLs of a cluster, or `None` for a standalone server: a cluster is named by a
/// comma-separated list of URLs (one seed with a trailing comma).
pub(super) fn cluster_seeds(url: &str) -> Option<Vec<&str>> {
    if !url.contains(',') {
        return None;
    }
    Some(
        url.split(',')
            .map(str::trim)
            .filter(|seed| !seed.is_empty())
            .collect(),
    )
}

/// A multiplexed connection to `client`'s server without a response timeout, giving up
/// connecting after `connect_within`.
async fn without_response_timeout(client: &Client, connect_within: Duration) -> RedisResult<Conn> {
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(connect_within));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map(Conn::Multiplexed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_a_standalone_server_and_several_are_cluster_seeds() {
        assert_eq!(cluster_seeds("redis://127.0.0.1:6379/"), None);
        assert_eq!(
            cluster_seeds("redis://a:7000, redis://b:7001,"),
            Some(vec!["redis://a:7000", "redis://b:7001"])
        );
    }

    #[test]
    fn the_url_selects_the_topology() {
        assert_eq!(
            Topology::parse("redis://h:6379/"),
            Ok(Topology::Standalone("redis://h:6379/"))
        );
        assert_eq!(
            Topology::parse("rediss://a:7000,redis://b:7001"),
            Ok(Topology::Cluster(vec!["rediss://a:7000", "redis://b:7001"]))
        );
        assert!(matches!(
            Topology::parse("redis+sentinel://s1:26379,s2:26379/stock"),
            Ok(Topology::Sentinel(u)) if u.sentinels.len() == 2 && u.service == "stock"
        ));
        for bad in [
            "http://h",
            "REDIS://h",
            "redis://a,http://b",
            ",",
            "redis+sentinel://h/",
        ] {
            assert!(Topology::parse(bad).is_err(), "{bad}");
        }
    }
}
