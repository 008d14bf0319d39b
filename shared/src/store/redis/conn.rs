//! The two deployments behind one connection type: a standalone server or a Redis Cluster.
//!
//! [`Conn`] is the connection every command goes through, whichever the deployment; a cluster
//! connection routes each command by its first key (`EVALSHA` too) and each pipeline by the slot
//! of its keys, so a pipeline must keep to one slot (one shard). [`Dedicated`] opens connections
//! of their own, without a response timeout, for blocking reads.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A connection to either deployment; cloning shares it.
#[derive(Clone)]
pub(super) enum Conn {
    /// The shared standalone connection, reconnecting by itself.
    Manager(ConnectionManager),
    /// A dedicated standalone connection.
    Multiplexed(MultiplexedConnection),
    /// A cluster connection: one multiplexed connection per node, commands routed by slot.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Manager(c) => c.req_packed_command(cmd),
            Conn::Multiplexed(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Manager(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Multiplexed(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Manager(c) => c.get_db(),
            Conn::Multiplexed(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Whether commands are routed over a cluster (pipelines must then keep to one slot).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }
}

/// Opens dedicated connections (no response timeout) to the store's deployment.
#[derive(Clone)]
pub(super) enum Dedicated {
    /// A standalone server.
    Single(Box<Client>),
    /// A cluster, through a client built without a response timeout.
    Cluster(Box<ClusterClient>),
}

impl Dedicated {
    /// A fresh connection of its own, giving up connecting after `connect_within` (on a
    /// cluster, after the client's own connection timeout per node).
    pub(super) async fn open(&self, connect_within: Duration) -> RedisResult<Conn> {
        match self {
            Dedicated::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_response_timeout(None)
                    .set_connection_timeout(Some(connect_within));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Conn::Multiplexed)
            }
            Dedicated::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
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
}
