//! Dedicated connections for blocking commands (`XREAD BLOCK`, `BLPOP`).
//!
//! Redis answers a connection's requests in order, so a blocking command on the shared
//! multiplexed connection would stall every request queued behind it. Each blocking command
//! therefore borrows a connection of its own from a pool, without a response timeout (the
//! client-side limit is the block time plus a margin). A command that does not complete
//! (cancelled, timed out, connection error) takes its connection out of the pool: its answer may
//! still arrive and must not reach the next borrower.

use std::time::Duration;

use deadpool_redis::{Connection, Manager, Pool, Runtime};
use redis::{AsyncConnectionConfig, Cmd, ConnectionInfo, FromRedisValue};

use super::unavailable;
use crate::store::StoreError;

/// A pool of connections used only for blocking commands.
#[derive(Clone)]
pub(super) struct BlockingPool {
    pool: Pool,
    /// How long to wait for a free or new connection.
    wait: Duration,
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
        Ok(BlockingPool { pool, wait })
    }

    /// Runs one blocking command, giving up after `limit` (which must exceed the command's own
    /// block time).
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        what: &str,
        cmd: &Cmd,
        limit: Duration,
    ) -> Result<T, StoreError> {
        let connection = match tokio::time::timeout(self.wait, self.pool.get()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(StoreError::Unavailable(format!("{what}: {e}"))),
            Err(_) => return Err(StoreError::Unavailable(format!("{what}: no connection"))),
        };
        let mut borrowed = Borrowed(Some(connection));
        let Some(connection) = borrowed.0.as_mut() else {
            return Err(StoreError::Unavailable(format!("{what}: no connection")));
        };
        match tokio::time::timeout(limit, cmd.query_async::<T>(connection)).await {
            Ok(Ok(value)) => {
                borrowed.give_back();
                Ok(value)
            }
            Ok(Err(e)) => {
                // A server-side refusal leaves the connection in step; anything else may not.
                if matches!(e.kind(), redis::ErrorKind::Server(_)) {
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
