//! A Sentinel-managed primary (docs/architecture.md §13.4): the address form, and the shared
//! connection that follows the primary through a failover.
//!
//! `redis+sentinel://[user:password@]host:port[,host:port…]/<service>` names the sentinels and
//! the primary they monitor. The sentinels are asked for the primary's address (and the answer is
//! checked with `ROLE` on the node itself); the connection to it is kept until it fails or the
//! node answers `READONLY` (it was demoted) or the sentinels name another node (asked twice a
//! second), and the next command asks the sentinels again. Each
//! new primary connection starts a new *generation*: dedicated connections of older generations
//! are not reused, so a blocking reader never stays on a demoted primary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    Pipeline, RedisError, RedisFuture, RedisResult, Value,
};

/// How often the sentinels are asked whether they still name the connected primary.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// Pause between lookups while the sentinels name no primary at start.
const LOOKUP_PAUSE: Duration = Duration::from_millis(100);

/// The URL scheme that selects Sentinel.
pub(super) const SCHEME: &str = "redis+sentinel://";

/// A parsed `redis+sentinel://` address.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct SentinelUrl {
    /// `host:port` of each sentinel, in the order given.
    pub(super) sentinels: Vec<(String, u16)>,
    /// The monitored primary's name (`sentinel monitor <name> …`).
    pub(super) service: String,
    /// The data nodes' ACL user, if any.
    pub(super) username: Option<String>,
    /// The data nodes' password, if any.
    pub(super) password: Option<String>,
}

impl std::fmt::Debug for SentinelUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelUrl")
            .field("sentinels", &self.sentinels)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl SentinelUrl {
    /// Parses `redis+sentinel://[user:password@]host:port[,host:port…]/<service>`; the error
    /// says what is wrong without echoing the value (it may hold a password).
    pub(super) fn parse(url: &str) -> Result<SentinelUrl, String> {
        let rest = url
            .strip_prefix(SCHEME)
            .ok_or_else(|| format!("must start with {SCHEME}"))?;
        let (authority, service) = rest
            .split_once('/')
            .ok_or("must end with /<service-name>, the name the sentinels monitor")?;
        let service = decode(service)?;
        if service.is_empty() || service.contains(['/', '?', '#', ' ']) {
            return Err("must end with /<service-name>, the name the sentinels monitor".into());
        }
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials), hosts),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(c) => match c.split_once(':') {
                Some((user, password)) => (non_empty(decode(user)?), Some(decode(password)?)),
                None => (non_empty(decode(c)?), None),
            },
        };
        let sentinels = hosts
            .split(',')
            .map(host_port)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SentinelUrl {
            sentinels,
            service,
            username,
            password,
        })
    }

    /// How to reach the data node at `host:port`, with the URL's credentials.
    fn node_info(&self, host: &str, port: u16) -> RedisResult<ConnectionInfo> {
        let mut redis = redis::RedisConnectionInfo::default();
        if let Some(user) = &self.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &self.password {
            redis = redis.set_password(password);
        }
        let info = ConnectionAddr::Tcp(host.to_owned(), port).into_connection_info()?;
        Ok(info.set_redis_settings(redis))
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "must be valid UTF-8 once percent-decoded".to_owned())
}

/// One `host:port` of the sentinel list (an IPv6 address in brackets).
fn host_port(item: &str) -> Result<(String, u16), String> {
    let bad = || "must list sentinels as host:port[,host:port…]".to_owned();
    let item = item.trim();
    let (host, port) = item.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains(['/', '@', ' ']) {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// The primary a [`SentinelConn`] currently talks to.
#[derive(Clone)]
struct Current {
    client: Client,
    conn: MultiplexedConnection,
    generation: u64,
}

/// The shared connection to a Sentinel-managed primary; cloning shares it.
#[derive(Clone)]
pub(super) struct SentinelConn(Arc<Inner>);

struct Inner {
    url: SentinelUrl,
    /// Held while the sentinels are asked for a primary: one lookup at a time.
    lookup: tokio::sync::Mutex<()>,
    current: Mutex<Option<Current>>,
    generation: AtomicU64,
    /// The response timeout of the shared connection.
    response_timeout: Duration,
    /// A connection to each sentinel, for asking which node they name (opened when needed).
    sentinels: Mutex<Vec<Option<MultiplexedConnection>>>,
}

impl SentinelConn {
    /// Asks the sentinels for the primary and connects to it.
    pub(super) async fn connect(
        url: SentinelUrl,
        response_timeout: Duration,
    ) -> RedisResult<SentinelConn> {
        let conn = SentinelConn(Arc::new(Inner {
            url,
            lookup: tokio::sync::Mutex::new(()),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            response_timeout,
            sentinels: Mutex::new(Vec::new()),
        }));
        tokio::spawn(follow(Arc::downgrade(&conn.0)));
        // Just after a failover the sentinels may for a moment name no primary they agree is
        // up: ask again until the caller's bound ends.
        loop {
            match conn.primary().await {
                Ok(_) => return Ok(conn),
                Err(e) if e.kind() == redis::ErrorKind::MasterNameNotFoundBySentinel => {
                    tracing::debug!(error = %e, "no primary named yet; asking the sentinels again");
                    tokio::time::sleep(LOOKUP_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The generation of the current primary connection (0 before the first).
    pub(super) fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::SeqCst)
    }

    /// A client for the current primary (for dedicated connections) and its generation.
    pub(super) async fn primary_client(&self) -> RedisResult<(Client, u64)> {
        let current = self.primary().await?;
        Ok((current.client, current.generation))
    }

    /// The current primary, asking the sentinels when there is none.
    async fn primary(&self) -> RedisResult<Current> {
        if let Some(current) = self.0.current().clone() {
            return Ok(current);
        }
        // One lookup at a time; whoever waited finds the answer of the one before.
        let _lookup = self.0.lookup.lock().await;
        if let Some(current) = self.0.current().clone() {
            return Ok(current);
        }
        let limit = self.0.response_timeout * 2;
        let (client, conn) = tokio::time::timeout(limit, self.connect_named())
            .await
            .map_err(|_| timed_out("no primary from the sentinels"))??;
        let generation = self.0.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let current = Current {
            client,
            conn,
            generation,
        };
        *self.0.current() = Some(current.clone());
        tracing::info!(generation, "store primary connected (Sentinel)");
        Ok(current)
    }

    /// Connects to the node the freshest view of the sentinels names, once it says it is the
    /// primary (`ROLE`).
    async fn connect_named(&self) -> RedisResult<(Client, MultiplexedConnection)> {
        let views = self.views().await;
        let Some((host, port)) = freshest(&views) else {
            return Err(RedisError::from((
                redis::ErrorKind::MasterNameNotFoundBySentinel,
                "no sentinel names a primary for the service",
            )));
        };
        let client = Client::open(self.0.url.node_info(host, *port)?)?;
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(self.0.response_timeout))
            .set_connection_timeout(Some(self.0.response_timeout));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        if !matches!(role.first(), Some(Value::BulkString(r)) if r == b"master") {
            return Err(RedisError::from((
                redis::ErrorKind::MasterNameNotFoundBySentinel,
                "the node the sentinels name is not a primary (yet)",
            )));
        }
        Ok((client, conn))
    }

    /// Drops the connection of `generation` (not a newer one another caller made meanwhile).
    pub(super) fn forget(&self, generation: u64, why: &str) {
        let mut current = self.0.current();
        if current.as_ref().is_some_and(|c| c.generation == generation) {
            *current = None;
            tracing::warn!(
                generation,
                why,
                "store primary connection dropped (Sentinel)"
            );
        }
    }

    /// Runs `send` on the primary's connection; a broken connection or a `READONLY` answer
    /// drops it, so that the next command asks the sentinels again.
    async fn send<T>(
        &self,
        send: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
        demoted: impl Fn(&T) -> bool,
    ) -> RedisResult<T> {
        let mut current = self.primary().await?;
        let answer = send(&mut current.conn).await;
        match &answer {
            Ok(value) if demoted(value) => self.forget(current.generation, "READONLY"),
            Err(e) if drops_connection(e) => self.forget(current.generation, "connection failed"),
            _ => {}
        }
        answer
    }
}

impl Inner {
    fn sentinel_connections(
        &self,
    ) -> std::sync::MutexGuard<'_, Vec<Option<MultiplexedConnection>>> {
        // A list of optional connections stays consistent whatever panicked while holding it.
        self.sentinels.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        // An `Option` stays consistent whatever panicked while holding it.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every [`FOLLOW_EVERY`], asks the sentinels which node they name as primary, and drops the
/// connection when their freshest view names another: a primary frozen through a failover still calls itself
/// primary, and still answers, until the sentinels demote it, which may take them seconds.
/// Ends with the connection.
async fn follow(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let conn = SentinelConn(inner);
        let Some((addr, generation)) = conn.connected() else {
            continue;
        };
        let views = conn.views().await;
        if let Some((host, port)) = freshest(&views)
            && !names(&addr, host, *port)
        {
            conn.forget(generation, "the sentinels name another primary");
        }
    }
}

impl SentinelConn {
    /// The address and generation of the current primary connection, if any.
    fn connected(&self) -> Option<(ConnectionAddr, u64)> {
        self.0
            .current()
            .as_ref()
            .map(|c| (c.client.get_connection_info().addr().clone(), c.generation))
    }

    /// Whether the node of `generation` is still the primary: it is the current one, a
    /// majority of the sentinels answer, and the freshest of their views names it. A write confirmed by replicas
    /// counts only then (`replication.rs`): a primary resumed after a failover it slept through
    /// may get a replica's confirmation before that replica is moved to the new primary, which
    /// then drops the write. A sentinel that took part in the failover names the new primary
    /// from the moment it promoted it.
    pub(super) async fn still_primary(&self, generation: u64) -> bool {
        let Some((addr, current)) = self.connected() else {
            return false;
        };
        if current != generation {
            return false;
        }
        let views = self.views().await;
        let majority = views.len() * 2 > self.0.url.sentinels.len();
        let named = freshest(&views).is_some_and(|(host, port)| names(&addr, host, *port));
        if !named {
            self.forget(generation, "the sentinels name another primary");
        }
        majority && named
    }

    /// The view of each sentinel that answers (all asked at once).
    async fn views(&self) -> Vec<View> {
        let inner = &self.0;
        let count = inner.url.sentinels.len();
        let cached: Vec<Option<MultiplexedConnection>> = {
            let mut cache = inner.sentinel_connections();
            cache.resize_with(count, || None);
            cache.clone()
        };
        let asks = inner
            .url
            .sentinels
            .iter()
            .zip(cached)
            .map(|(addr, conn)| ask_sentinel(inner, addr, conn));
        let answers = futures::future::join_all(asks).await;
        let mut cache = inner.sentinel_connections();
        cache.resize_with(count, || None);
        let mut views = Vec::with_capacity(count);
        for (slot, (conn, view)) in cache.iter_mut().zip(answers) {
            *slot = conn;
            views.extend(view);
        }
        views
    }
}

/// What one sentinel says of the service: the primary it names, and the configuration epoch
/// of that view (raised by every failover, so the highest is the newest).
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    primary: (String, u16),
    epoch: u64,
}

/// The primary the newest of `views` names; none when views of the same, newest epoch
/// disagree.
fn freshest(views: &[View]) -> Option<&(String, u16)> {
    let newest = views.iter().map(|v| v.epoch).max()?;
    let mut named = views
        .iter()
        .filter(|v| v.epoch == newest)
        .map(|v| &v.primary);
    let first = named.next()?;
    named.all(|p| p == first).then_some(first)
}

/// Asks the sentinel at `addr` (on `conn`, else a new connection) which node it names as
/// primary and under which epoch; gives back the connection if it is still usable, and the view
/// if the sentinel gave one. During a failover, a sentinel that promoted a replica names it at
/// once (`get-master-addr-by-name`) and reports the failover's epoch (`config-epoch`).
async fn ask_sentinel(
    inner: &Inner,
    (host, port): &(String, u16),
    conn: Option<MultiplexedConnection>,
) -> (Option<MultiplexedConnection>, Option<View>) {
    let mut conn = match conn {
        Some(conn) => conn,
        None => {
            let config = AsyncConnectionConfig::new()
                .set_response_timeout(Some(inner.response_timeout))
                .set_connection_timeout(Some(inner.response_timeout));
            let client = ConnectionAddr::Tcp(host.clone(), *port)
                .into_connection_info()
                .and_then(Client::open);
            let Ok(client) = client else {
                return (None, None);
            };
            match client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(conn) => conn,
                Err(_) => return (None, None),
            }
        }
    };
    let service = &inner.url.service;
    let mut ask = redis::pipe();
    ask.cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(service)
        .cmd("SENTINEL")
        .arg("MASTER")
        .arg(service);
    type Answer = (Option<(String, u16)>, HashMap<String, String>);
    match ask.query_async::<Answer>(&mut conn).await {
        Ok((Some(primary), fields)) => {
            let epoch = fields
                .get("config-epoch")
                .and_then(|e| e.parse().ok())
                .unwrap_or(0);
            (Some(conn), Some(View { primary, epoch }))
        }
        Ok((None, _)) => (Some(conn), None),
        Err(_) => (None, None),
    }
}

/// Whether `addr` is `host:port`.
fn names(addr: &ConnectionAddr, host: &str, port: u16) -> bool {
    match addr {
        ConnectionAddr::Tcp(h, p)
        | ConnectionAddr::TcpTls {
            host: h, port: p, ..
        } => h == host && *p == port,
        _ => true,
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.send(async |c| c.req_packed_command(cmd).await, is_readonly))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.send(
            async move |c| c.req_packed_commands(cmd, offset, count).await,
            |values: &Vec<Value>| values.iter().any(is_readonly),
        ))
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// Whether an answer says the node is a replica now (`READONLY`, also from inside a script).
pub(super) fn is_readonly(value: &Value) -> bool {
    match value {
        Value::ServerError(e) => {
            e.code() == "READONLY" || e.details().is_some_and(|d| d.contains("READONLY"))
        }
        _ => false,
    }
}

/// Whether a failed command leaves the connection unusable (or pointing at a demoted node).
pub(super) fn drops_connection(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.code() == Some("READONLY")
        || e.to_string().contains("READONLY")
}

fn timed_out(what: &str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        what.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentinel_url_names_the_sentinels_the_service_and_the_nodes_credentials() {
        let url =
            SentinelUrl::parse("redis+sentinel://app:p%40ss@10.0.0.1:26379,[::1]:26380/stock");
        let Ok(url) = url else {
            panic!("{url:?}");
        };
        assert_eq!(
            url.sentinels,
            vec![("10.0.0.1".to_owned(), 26379), ("::1".to_owned(), 26380)]
        );
        assert_eq!(url.service, "stock");
        assert_eq!(url.username.as_deref(), Some("app"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        let bare = SentinelUrl::parse("redis+sentinel://s1:26379/mymaster");
        assert!(matches!(bare, Ok(u) if u.username.is_none() && u.password.is_none()));
        let password_only = SentinelUrl::parse("redis+sentinel://:secret@s1:26379/m");
        assert!(
            matches!(password_only, Ok(u) if u.username.is_none() && u.password.as_deref() == Some("secret"))
        );
    }

    #[test]
    fn a_malformed_sentinel_url_is_refused_without_echoing_it() {
        for bad in [
            "redis+sentinel://s1:26379",
            "redis+sentinel://s1:26379/",
            "redis+sentinel://s1/stock",
            "redis+sentinel://s1:0/stock",
            "redis+sentinel://s1:huge/stock",
            "redis+sentinel://s1:26379,/stock",
            "redis+sentinel://:secret@/stock",
            "redis+sentinel://s1:26379/a/b",
        ] {
            let error = SentinelUrl::parse(bad);
            assert!(
                matches!(&error, Err(e) if !e.contains("secret") && !e.contains("s1")),
                "{bad}: {error:?}"
            );
        }
    }

    fn view(port: u16, epoch: u64) -> View {
        View {
            primary: ("10.0.0.1".to_owned(), port),
            epoch,
        }
    }

    #[test]
    fn the_view_of_the_newest_epoch_names_the_primary() {
        // A sentinel that promoted a replica against two that have not heard of it yet.
        let views = [view(6379, 0), view(6380, 1), view(6379, 0)];
        assert_eq!(freshest(&views).map(|p| p.1), Some(6380));
        assert_eq!(freshest(&[view(6379, 2)]).map(|p| p.1), Some(6379));
        assert_eq!(freshest(&[]), None);
        assert_eq!(
            freshest(&[view(6379, 3), view(6380, 3)]),
            None,
            "views of one epoch that disagree name nobody"
        );
    }

    #[test]
    fn readonly_answers_and_broken_connections_drop_the_primary() {
        let readonly = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(drops_connection(&readonly));
        let io = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(drops_connection(&io));
        let wrong_type = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "nope",
        ));
        assert!(!drops_connection(&wrong_type));
    }
}
