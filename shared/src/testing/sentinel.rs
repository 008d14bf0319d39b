//! A Sentinel-managed deployment on loopback for one test: a primary, its replicas and three
//! sentinels, each a `redis-server` process (the sentinels run with `--sentinel`) on a free port,
//! all killed when dropped. The sentinels declare the primary down after
//! [`DOWN_AFTER_MS`] and fail over at once, so a failover takes a few seconds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{START_ATTEMPTS, TestRedis, spawn, wait_for_ping};

/// The name the sentinels monitor the primary under.
pub const SERVICE: &str = "stock";
/// Sentinels of a [`TestSentinel`]; two must agree (quorum) to fail over.
const SENTINELS: usize = 3;
/// `sentinel down-after-milliseconds`.
pub const DOWN_AFTER_MS: u64 = 1000;
/// `sentinel failover-timeout`.
const FAILOVER_TIMEOUT_MS: u64 = 3000;
/// How long the deployment may take to be ready (replicas in sync, sentinels aware of each other).
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A primary, `replicas` replicas and three sentinels.
#[derive(Debug)]
pub struct TestSentinel {
    /// The data nodes; the first was started as the primary.
    nodes: Vec<TestRedis>,
    sentinels: Vec<TestRedis>,
}

impl TestSentinel {
    /// Starts the deployment with `node_args` for every data node and waits until the replicas
    /// are in sync and every sentinel knows the replicas and the other sentinels.
    ///
    /// # Panics
    /// If `redis-server` is not installed or the deployment does not come up in time.
    pub fn start(replicas: usize, node_args: &[&str]) -> TestSentinel {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match TestSentinel::try_start(replicas, node_args) {
                Ok(deployment) => return deployment,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start a test Sentinel deployment: {last_error}");
    }

    /// `redis+sentinel://127.0.0.1:<port>,…/stock`
    pub fn url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{SERVICE}", sentinels.join(","))
    }

    /// The data nodes, in start order (the first was the primary at start).
    pub fn nodes(&self) -> &[TestRedis] {
        &self.nodes
    }

    /// Data node `index`, to stop, restart or signal.
    pub fn node_mut(&mut self, index: usize) -> &mut TestRedis {
        &mut self.nodes[index]
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to data node `index`.
    ///
    /// # Panics
    /// If the node is not running or the signal cannot be sent.
    pub fn signal_node(&self, index: usize, signal_name: &str) {
        let Some(pid) = self.nodes[index].pid() else {
            panic!("data node {index} is not running");
        };
        signal(pid, signal_name);
    }

    /// Kills data node `index` (SIGKILL) and starts it again as a replica of the current
    /// primary, on the same port and directory.
    ///
    /// # Panics
    /// If no sentinel names a primary of this deployment, or the node does not answer again.
    pub fn restart_replica(&mut self, index: usize) {
        let Some(primary) = self.primary() else {
            panic!("the sentinels name no primary of this deployment");
        };
        let port = self.nodes[primary].port.to_string();
        self.nodes[index].restart(&["--replicaof", "127.0.0.1", &port]);
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The sentinels.
    pub fn sentinels_mut(&mut self) -> &mut [TestRedis] {
        &mut self.sentinels
    }

    /// The index of the data node the sentinels name as primary (asking each until one
    /// answers), if it is one of ours.
    pub fn primary(&self) -> Option<usize> {
        let port = self.sentinels.iter().find_map(|s| primary_port(s.port))?;
        self.nodes.iter().position(|n| n.port == port)
    }

    /// Waits until the sentinels name a primary other than node `old` and that node says it is
    /// a master; returns its index.
    ///
    /// # Panics
    /// If that does not happen within `within`.
    pub fn wait_for_failover(&self, old: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            if let Some(new) = self.primary().filter(|&n| n != old)
                && role(self.nodes[new].port).as_deref() == Some("master")
            {
                return new;
            }
            assert!(
                Instant::now() < deadline,
                "no failover away from node {old} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until data node `index` is a replica whose link to the primary is up.
    ///
    /// # Panics
    /// If that does not happen within `within`.
    pub fn wait_for_replica(&self, index: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while !replica_in_sync(self.nodes[index].port) {
            assert!(
                Instant::now() < deadline,
                "node {index} is not a replica in sync within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn try_start(replicas: usize, node_args: &[&str]) -> Result<TestSentinel, String> {
        let primary = TestRedis::try_start(node_args)?;
        let primary_port = primary.port.to_string();
        let mut nodes = vec![primary];
        for _ in 0..replicas {
            let mut node = TestRedis::prepare()?;
            let mut args = node_args.to_vec();
            args.extend(["--replicaof", "127.0.0.1", &primary_port]);
            node.child = Some(spawn(node.port, &node.dir, &args)?);
            wait_for_ping(node.port, node.child.as_mut())?;
            nodes.push(node);
        }
        let mut sentinels = Vec::with_capacity(SENTINELS);
        for _ in 0..SENTINELS {
            sentinels.push(start_sentinel(nodes[0].port)?);
        }
        let deployment = TestSentinel { nodes, sentinels };
        let deadline = Instant::now() + READY_WITHIN;
        while !deployment.ready(replicas) {
            if Instant::now() >= deadline {
                return Err("the Sentinel deployment did not become ready".to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(deployment)
    }

    /// Replicas in sync, and every sentinel sees them and the other sentinels.
    fn ready(&self, replicas: usize) -> bool {
        self.nodes[1..].iter().all(|n| replica_in_sync(n.port))
            && self.sentinels.iter().all(|s| {
                let fields = sentinel_fields(s.port);
                let field = |name: &str| {
                    fields
                        .iter()
                        .position(|f| f == name)
                        .map(|i| &fields[i + 1])
                };
                field("num-slaves").is_some_and(|n| *n == replicas.to_string())
                    && field("num-other-sentinels")
                        .is_some_and(|n| *n == (SENTINELS - 1).to_string())
            })
    }
}

/// Starts one sentinel monitoring the primary on `primary_port`.
fn start_sentinel(primary_port: u16) -> Result<TestRedis, String> {
    let mut sentinel = TestRedis::prepare()?;
    let config = format!(
        "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
         sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n\
         sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n\
         sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n\
         sentinel parallel-syncs {SERVICE} 1\n",
        port = sentinel.port,
        dir = sentinel.dir.display(),
    );
    let path = sentinel.dir.join("sentinel.conf");
    std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
    let log = std::fs::File::create(sentinel.dir.join("redis.log")).map_err(|e| e.to_string())?;
    let child = Command::new("redis-server")
        .arg(&path)
        .arg("--sentinel")
        .current_dir(&sentinel.dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server --sentinel: {e}"))?;
    sentinel.child = Some(child);
    wait_for_ping(sentinel.port, sentinel.child.as_mut())?;
    Ok(sentinel)
}

/// One command to the server on `port`, `None` on any failure.
fn ask<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> Option<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    cmd.query(&mut conn).ok()
}

/// The primary's port as the sentinel on `port` names it.
fn primary_port(port: u16) -> Option<u16> {
    let mut get = redis::cmd("SENTINEL");
    get.arg("get-master-addr-by-name").arg(SERVICE);
    let (_, primary): (String, u16) = ask(port, &get)?;
    Some(primary)
}

/// The sentinel on `port`'s view of the service, as a flat name/value list.
fn sentinel_fields(port: u16) -> Vec<String> {
    let mut master = redis::cmd("SENTINEL");
    master.arg("master").arg(SERVICE);
    ask(port, &master).unwrap_or_default()
}

/// The first element of `ROLE` on `port`: `master` or `slave`.
pub fn role(port: u16) -> Option<String> {
    let answer: Vec<redis::Value> = ask(port, &redis::cmd("ROLE"))?;
    match answer.first() {
        Some(redis::Value::BulkString(role)) => Some(String::from_utf8_lossy(role).into_owned()),
        _ => None,
    }
}

/// Whether the node on `port` is a replica whose link to its primary is up.
fn replica_in_sync(port: u16) -> bool {
    let mut info = redis::cmd("INFO");
    info.arg("replication");
    let text: String = ask(port, &info).unwrap_or_default();
    text.contains("role:slave") && text.contains("master_link_status:up")
}

/// Sends `signal` (`STOP`, `CONT`, …) to the process `pid`.
///
/// # Panics
/// If `kill` cannot be run or fails.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "kill -{signal} {pid}: {status:?}"
    );
}
