//! Test support (feature `testing`): a throw-away `redis-server` on a free loopback port, the
//! store contract every backend runs ([`contract`]), and a store made distant ([`latency`]).
//!
//! Each [`TestRedis`] is its own server with its own working directory, started with
//! `--save "" --appendonly no` unless told otherwise, and killed when dropped. It never uses
//! port 6379, where a developer's own Redis may run.

pub mod contract;
pub mod latency;
pub mod redis_backend;
pub mod sentinel;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server may take to answer `PING`.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// Attempts at finding a port no other process grabs in the meantime.
const START_ATTEMPTS: usize = 5;

/// A `redis-server` child process for one test.
#[derive(Debug)]
pub struct TestRedis {
    child: Option<Child>,
    port: u16,
    /// The TLS port, when started with [`TestRedis::start_tls`].
    tls_port: Option<u16>,
    dir: PathBuf,
}

impl TestRedis {
    /// Starts a server without persistence.
    ///
    /// # Panics
    /// If `redis-server` is not installed or does not answer in time.
    pub fn start() -> TestRedis {
        TestRedis::start_with(&[])
    }

    /// Starts a server with extra arguments (e.g. `["--appendonly", "yes"]`); later arguments
    /// override the defaults.
    ///
    /// # Panics
    /// If `redis-server` is not installed or does not answer in time.
    pub fn start_with(args: &[&str]) -> TestRedis {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match TestRedis::try_start(args) {
                Ok(server) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start a test redis-server: {last_error}");
    }

    /// Starts a server that also listens with TLS, using a fresh self-signed certificate made
    /// with the `openssl` command; see [`TestRedis::tls_url`].
    ///
    /// # Panics
    /// If `redis-server` or `openssl` is missing or the server does not answer in time.
    pub fn start_tls() -> TestRedis {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match TestRedis::try_start_tls() {
                Ok(server) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start a TLS test redis-server: {last_error}");
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `rediss://127.0.0.1:<tls port>/#insecure` (the certificate is self-signed); `None`
    /// unless started with [`TestRedis::start_tls`].
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("rediss://127.0.0.1:{port}/#insecure"))
    }

    /// The plain TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory (AOF and log files).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The server's process id, while it runs (to pause it with SIGSTOP, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server now (to test an unreachable store); dropping does it too.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server as an orchestrator does: SIGTERM (Redis fsyncs its AOF and exits), then
    /// waits for the exit; SIGKILL if it is still running after `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-s", "TERM", &child.id().to_string()])
            .stdin(Stdio::null())
            .status();
        let until = Instant::now() + grace;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port and directory (an AOF survives).
    ///
    /// # Panics
    /// If the server does not answer in time.
    pub fn restart(&mut self, args: &[&str]) {
        self.stop();
        match spawn(self.port, &self.dir, args) {
            Ok(child) => self.child = Some(child),
            Err(e) => panic!("could not restart the test redis-server: {e}"),
        }
        if let Err(e) = wait_for_ping(self.port, self.child.as_mut()) {
            panic!("the restarted test redis-server did not answer: {e}");
        }
    }

    fn try_start(args: &[&str]) -> Result<TestRedis, String> {
        let mut server = TestRedis::prepare()?;
        // On failure (e.g. the port was taken meanwhile) dropping `server` cleans up.
        server.child = Some(spawn(server.port, &server.dir, args)?);
        wait_for_ping(server.port, server.child.as_mut())?;
        Ok(server)
    }

    fn try_start_tls() -> Result<TestRedis, String> {
        let mut server = TestRedis::prepare()?;
        self_signed_certificate(&server.dir)?;
        let tls_port = free_port()?;
        server.tls_port = Some(tls_port);
        let tls_port = tls_port.to_string();
        let args = [
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "server.crt",
            "--tls-auth-clients",
            "no",
        ];
        server.child = Some(spawn(server.port, &server.dir, &args)?);
        wait_for_ping(server.port, server.child.as_mut())?;
        Ok(server)
    }

    /// A fresh port and working directory, no process yet.
    fn prepare() -> Result<TestRedis, String> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "stock-test-redis-{}-{port}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TestRedis {
            child: None,
            port,
            tls_port: None,
            dir,
        })
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Masters of a [`TestRedisCluster`].
const CLUSTER_NODES: usize = 3;

/// A three-master Redis Cluster on loopback for one test: three `redis-server` processes with
/// cluster mode on (no replicas), their slots assigned by `redis-cli --cluster create`. Every
/// node is killed when dropped.
#[derive(Debug)]
pub struct TestRedisCluster {
    nodes: Vec<TestRedis>,
}

impl TestRedisCluster {
    /// Starts the nodes, creates the cluster and waits until every node reports
    /// `cluster_state:ok`.
    ///
    /// # Panics
    /// If `redis-server` or `redis-cli` is not installed or the cluster does not come up in
    /// time.
    pub fn start() -> TestRedisCluster {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match TestRedisCluster::try_start() {
                Ok(cluster) => return cluster,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start a test Redis Cluster: {last_error}");
    }

    /// The seed URLs of every node, comma-separated: `redis://127.0.0.1:<port>/,…`.
    pub fn url(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(TestRedis::url).collect();
        urls.join(",")
    }

    /// The nodes, each a master holding a third of the slots.
    pub fn nodes(&self) -> &[TestRedis] {
        &self.nodes
    }

    fn try_start() -> Result<TestRedisCluster, String> {
        let mut nodes = Vec::with_capacity(CLUSTER_NODES);
        for _ in 0..CLUSTER_NODES {
            let mut node = TestRedis::prepare()?;
            let config = node.dir.join(format!("nodes-{}.conf", node.port));
            let config = config.to_string_lossy().into_owned();
            let args = ["--cluster-enabled", "yes", "--cluster-config-file", &config];
            // On failure dropping `nodes` and `node` kills and cleans up what was started.
            node.child = Some(spawn(node.port, &node.dir, &args)?);
            wait_for_ping(node.port, node.child.as_mut())?;
            nodes.push(node);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("redis-cli (needed for a test cluster): {e}"))?;
        if !created.success() {
            return Err(format!("redis-cli --cluster create failed: {created}"));
        }
        let deadline = Instant::now() + START_DEADLINE;
        while !nodes.iter().all(|n| cluster_ok(n.port)) {
            if Instant::now() >= deadline {
                return Err("the test cluster did not reach cluster_state:ok".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(TestRedisCluster { nodes })
    }
}

/// Whether the node on `port` reports `cluster_state:ok`.
fn cluster_ok(port: u16) -> bool {
    let port = port.to_string();
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port, "cluster", "info"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
}

/// Writes `server.key` and a self-signed `server.crt` for 127.0.0.1 into `dir`.
fn self_signed_certificate(dir: &std::path::Path) -> Result<(), String> {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-keyout", "server.key", "-out", "server.crt"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("openssl (needed for a TLS test server): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("openssl req failed: {status}"))
    }
}

fn free_port() -> Result<u16, String> {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        if port != 6379 {
            return Ok(port);
        }
    }
}

fn spawn(port: u16, dir: &std::path::Path, args: &[&str]) -> Result<Child, String> {
    let log = std::fs::File::create(dir.join("redis.log")).map_err(|e| e.to_string())?;
    let port = port.to_string();
    let mut command = Command::new("redis-server");
    command
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--protected-mode", "no"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "redis-server is not installed (apt-get install redis-server)".to_owned()
        } else {
            format!("redis-server: {e}")
        }
    })
}

fn wait_for_ping(port: u16, mut child: Option<&mut Child>) -> Result<(), String> {
    let deadline = Instant::now() + START_DEADLINE;
    while Instant::now() < deadline {
        if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
            return Err(format!("redis-server on port {port} exited: {status}"));
        }
        if ping(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("redis-server on port {port} did not answer PING"))
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}
