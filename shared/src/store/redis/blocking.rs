//! Dedicated connections for blocking commands (`XREAD BLOCK`, `BLPOP`).
//!
//! Redis answers a connection's requests in order, so a blocking command on the shared
//! multiplexed connection would stall every request queued behind it. Each blocking command
//! therefore borrows a connection of its own from a pool, without a response timeout (the
//! client-side limit is the block time plus a margin). A command that does not complete
//! (cancelled, timed out, connection error) takes its connection out of the pool: its answer may
//! still arrive and must not reach the next borrower.
//!
//! A standalone server's pool is a `deadpool` pool; a cluster's holds whole cluster connections
//! (each reader its own, routed to the node of its one key), kept idle in a list and bounded by a
//! semaphore. A Sentinel deployment's pool is of the second kind, holding connections to the
//! primary; one opened before the primary last changed is dropped rather than reused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::{Connection, Manager, Pool, Runtime};
use redis::aio::ConnectionLike;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionInfo, FromRedisValue, RedisResult, ScriptInvocation,
    Value,
};
use tokio::sync::Semaphore;

use super::conn::{Conn, Dedicated};
use super::unavailable;
use crate::store::StoreError;

/// What runs on one borrowed connection.
pub(super) enum Op<'a> {
    /// One command.
    Command(&'a Cmd),
    /// A write, then `WAIT replicas timeout` on the same connection (`WAIT` confirms what this
    /// connection wrote, and so everything the node applied before): answers
    /// `[the write's answer, replicas that confirmed]`.
    Confirmed {
        write: Write<'a>,
        replicas: u32,
        timeout: Duration,
    },
}

/// The write of an [`Op::Confirmed`].
pub(super) enum Write<'a> {
    Script(&'a ScriptInvocation<'a>),
    Command(&'a Cmd),
}

impl Op<'_> {
    async fn perform<C: ConnectionLike>(&self, conn: &mut C) -> RedisResult<Value> {
        match self {
            Op::Command(cmd) => cmd.query_async(conn).await,
            Op::Confirmed {
                write,
                replicas,
                timeout,
            } => {
                let answer: Value = match write {
                    Write::Script(script) => script.invoke_async(conn).await?,
                    Write::Command(cmd) => cmd.query_async(conn).await?,
                };
                let mut wait = redis::cmd("WAIT");
                wait.arg(*replicas).arg(super::millis(*timeout).max(1));
                let confirmed: Value = wait.query_async(conn).await?;
                Ok(Value::Array(vec![answer, confirmed]))
            }
        }
    }
}

/// A pool of connections used only for blocking commands.
#[derive(Clone)]
pub(super) struct BlockingPool {
    pool: Kind,
    /// How long to wait for a free or new connection.
    wait: Duration,
}

#[derive(Clone)]
enum Kind {
    Single(Pool),
    Dedicated(Arc<DedicatedPool>),
}

/// Connections opened by a [`Dedicated`] connector: at most `permits` lent at once, the idle
/// ones kept for the next borrower with the connector's generation when they were opened.
struct DedicatedPool {
    connector: Dedicated,
    idle: Mutex<Vec<(Conn, u64)>>,
    permits: Arc<Semaphore>,
}

impl BlockingPool {
    /// A pool of at most `max` connections; none is opened until needed.
    pub(super) fn new(
        info: ConnectionInfo,
        max: usize,
        wait: Duration,
    ) -> Result<BlockingPool, StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(wait));
        let manager = Manager::new_with_config(info, config)
            .map_err(|e| unavailable("blocking connection setup", &e))?;
        let pool = Pool::builder(manager)
            .max_size(max.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(wait))
            .create_timeout(Some(wait))
            .recycle_timeout(Some(wait))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("blocking connection pool: {e}")))?;
        Ok(BlockingPool {
            pool: Kind::Single(pool),
            wait,
        })
    }

    /// A pool of at most `max` connections opened by `connector` (a cluster's); none is opened
    /// until needed.
    pub(super) fn dedicated(connector: Dedicated, max: usize, wait: Duration) -> BlockingPool {
        let pool = DedicatedPool {
            connector,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max.max(1))),
        };
        BlockingPool {
            pool: Kind::Dedicated(Arc::new(pool)),
            wait,
        }
    }

    /// Runs one blocking command, giving up after `limit` (which must exceed the command's own
    /// block time).
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        what: &str,
        cmd: &Cmd,
        limit: Duration,
    ) -> Result<T, StoreError> {
        let value = self.perform(what, &Op::Command(cmd), limit).await?;
        T::from_redis_value(value).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
    }

    /// Runs `op` on a connection of its own, giving up after `limit`.
    pub(super) async fn perform(
        &self,
        what: &str,
        op: &Op<'_>,
        limit: Duration,
    ) -> Result<Value, StoreError> {
        let pool = match &self.pool {
            Kind::Single(pool) => pool,
            Kind::Dedicated(pool) => return self.query_dedicated(pool, what, op, limit).await,
        };
        let connection = match tokio::time::timeout(self.wait, pool.get()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(StoreError::Unavailable(format!("{what}: {e}"))),
            Err(_) => return Err(StoreError::Unavailable(format!("{what}: no connection"))),
        };
        let mut borrowed = Borrowed(Some(connection));
        let Some(connection) = borrowed.0.as_mut() else {
            return Err(StoreError::Unavailable(format!("{what}: no connection")));
        };
        match tokio::time::timeout(limit, op.perform(connection)).await {
            Ok(Ok(value)) => {
                borrowed.give_back();
                Ok(value)
            }
            Ok(Err(e)) => {
                // A server-side refusal leaves the connection in step; anything else may not.
                if in_step(&e) {
                    borrowed.give_back();
                }
                Err(unavailable(what, &e))
            }
            Err(_) => Err(StoreError::Unavailable(format!(
                "{what}: no answer within {limit:?}"
            ))),
        }
    }
}

impl BlockingPool {
    /// [`BlockingPool::query`] on a pool of dedicated connections. The connection is held
    /// locally and put back only once its command completed, so a cancelled or failed command
    /// drops it with its answer.
    async fn query_dedicated(
        &self,
        pool: &DedicatedPool,
        what: &str,
        op: &Op<'_>,
        limit: Duration,
    ) -> Result<Value, StoreError> {
        let no_connection = || StoreError::Unavailable(format!("{what}: no connection"));
        let permit = tokio::time::timeout(self.wait, Arc::clone(&pool.permits).acquire_owned())
            .await
            .map_err(|_| no_connection())?
            .map_err(|_| no_connection())?;
        let idle = pool.idle_of(pool.connector.generation());
        let (mut connection, generation) = match idle {
            Some(connection) => connection,
            None => {
                let generation = pool.connector.generation();
                match tokio::time::timeout(self.wait, pool.connector.open(self.wait)).await {
                    Ok(Ok(connection)) => (connection, generation),
                    Ok(Err(e)) => return Err(unavailable(what, &e)),
                    Err(_) => return Err(no_connection()),
                }
            }
        };
        let answer = tokio::time::timeout(limit, op.perform(&mut connection)).await;
        let give_back = match &answer {
            Ok(Ok(_)) => true,
            // A server-side refusal leaves the connection in step; anything else may not.
            Ok(Err(e)) => {
                if e.code() == Some("READONLY") {
                    pool.connector.demoted(generation);
                }
                in_step(e)
            }
            Err(_) => false,
        };
        if give_back && generation == pool.connector.generation() {
            pool.idle().push((connection, generation));
        }
        drop(permit);
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(what, &e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "{what}: no answer within {limit:?}"
            ))),
        }
    }
}

impl DedicatedPool {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(Conn, u64)>> {
        // A list of idle connections stays consistent whatever panicked while holding it.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection of `generation`; older ones are dropped on the way.
    fn idle_of(&self, generation: u64) -> Option<(Conn, u64)> {
        let mut idle = self.idle();
        idle.retain(|(_, g)| *g == generation);
        idle.pop()
    }
}

/// Whether a connection that failed with `e` can serve the next borrower: a server-side
/// refusal leaves it in step, unless it says the node is a replica now (`READONLY`).
fn in_step(e: &redis::RedisError) -> bool {
    matches!(e.kind(), redis::ErrorKind::Server(_)) && e.code() != Some("READONLY")
}

/// A pooled connection that is detached from the pool when dropped, unless given back.
struct Borrowed(Option<Connection>);

impl Borrowed {
    fn give_back(&mut self) {
        // Dropping the pool object returns it to the pool.
        self.0.take();
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        if let Some(connection) = self.0.take() {
            drop(Connection::take(connection));
        }
    }
}
