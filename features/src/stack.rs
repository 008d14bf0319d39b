//! A local multi-process Stock API for failure tests: a throw-away `redis-server`, `actor-worker`
//! processes and one `http-fn` node (`NODE_ROLE=http`), each a real child process with its own
//! log file under `<target dir>/stack-logs/<test>/`.
//!
//! Workers can be killed (SIGKILL), stopped (SIGTERM), paused and resumed (SIGSTOP / SIGCONT) and
//! started again; Redis is open for inspection and fault injection. Dropping a [`Stack`] kills
//! everything; a stack dropped without [`Stack::finish`] (a failed test) prints where its logs are.

pub(crate) mod process;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};
use shared::shard::{ShardId, shard_of};
use shared::store::redis::keys;
use shared::testing::TestRedis;

use crate::estate::TRACKED;
use crate::prometheus::sample_sum;
use crate::service::{debug_binary, target_dir};
use crate::token::{AUDIENCE, ISSUER, Keys, TokenSpec};
use process::Process;

/// How often [`eventually`] looks again.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// Longest any one HTTP request of a test may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The job of the stack's bearer token: every permission, no location scope.
const JOB: &str = "Warehouse Manager";

/// What to start.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// `STOCK_SHARDS`.
    pub shards: u32,
    /// Workers started with the stack, with ids `w1`, `w2`, ….
    pub workers: usize,
    /// `STOCK_LEASE_TTL` of every worker.
    pub lease_ttl: Duration,
    /// `STOCK_COMMAND_TIMEOUT` of the HTTP node.
    pub command_timeout: Duration,
    /// `STOCK_REPLY_CHANNEL` of the HTTP node: `stream` or `key`.
    pub reply_channel: String,
    /// Ids of the tracked root locations of the estate (`STOCK_LOCATIONS_FILE`).
    pub locations: Vec<String>,
    /// Base URL of a Location API (`STOCK_LOCATION_API_URL`) the HTTP node asks instead of the
    /// estate file of `locations`.
    pub location_api: Option<String>,
    /// Extra `redis-server` arguments, at start and at every restart (e.g. `--appendonly yes
    /// --appendfsync always` for a Redis that survives restarts).
    pub redis_args: Vec<String>,
    /// Further settings of the HTTP node (`STOCK_MAX_WRITES_IN_FLIGHT`, …), over the stack's.
    pub http_settings: Vec<(String, String)>,
    /// `STOCK_REDIS_URL` of every node when the test runs its own deployment (a Sentinel-managed
    /// one, say); `None`: the stack's own `redis-server`.
    pub redis_url: Option<String>,
    /// `STOCK_REDIS_MIN_REPLICAS` of every node, when set.
    pub min_replicas: Option<u32>,
}

impl Default for StackConfig {
    fn default() -> StackConfig {
        StackConfig {
            shards: 16,
            workers: 1,
            lease_ttl: Duration::from_secs(1),
            command_timeout: Duration::from_secs(2),
            reply_channel: "stream".to_owned(),
            locations: Vec::new(),
            location_api: None,
            redis_args: Vec::new(),
            http_settings: Vec::new(),
            redis_url: None,
            min_replicas: None,
        }
    }
}

/// One `actor-worker` process, running or ended.
#[derive(Debug)]
struct Worker {
    id: String,
    process: Process,
}

/// The answer to one HTTP request.
#[derive(Clone, Debug)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The `x-trace-id` header (on a 5xx), if any.
    pub trace_id: Option<String>,
    /// The body as text.
    pub body: String,
}

impl HttpReply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The public API of a running service as the chaos load and checks use it: JSON POSTs and GETs
/// with a bearer token of every permission.
pub trait Api {
    /// POSTs `body` as JSON to `path`.
    fn post(&self, path: &str, body: &Value) -> impl Future<Output = anyhow::Result<HttpReply>>;
    /// GETs `path`.
    fn get(&self, path: &str) -> impl Future<Output = anyhow::Result<HttpReply>>;
}

impl Api for Stack {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<HttpReply> {
        Stack::post(self, path, body).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<HttpReply> {
        Stack::get(self, path).await
    }
}

/// The public API at a base URL, with a bearer token.
#[derive(Clone, Debug)]
pub struct HttpApi {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl HttpApi {
    /// The API at `http://{addr}` with `token`.
    pub fn new(addr: SocketAddr, token: &str) -> anyhow::Result<HttpApi> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("HTTP client")?;
        Ok(HttpApi {
            client,
            base: format!("http://{addr}"),
            token: token.to_owned(),
        })
    }
}

impl Api for HttpApi {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<HttpReply> {
        let request = self.client.post(format!("{}{path}", self.base));
        let request = request.bearer_auth(&self.token).json(body);
        let response = request.send().await;
        reply(response.with_context(|| format!("POST {path}"))?).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<HttpReply> {
        let request = self.client.get(format!("{}{path}", self.base));
        let response = request.bearer_auth(&self.token).send().await;
        reply(response.with_context(|| format!("GET {path}"))?).await
    }
}

/// A running multi-process stack.
#[derive(Debug)]
pub struct Stack {
    config: StackConfig,
    log_dir: PathBuf,
    redis: Arc<Mutex<TestRedis>>,
    redis_port: u16,
    redis_client: redis::Client,
    http: Process,
    workers: tokio::sync::Mutex<Vec<Worker>>,
    client: reqwest::Client,
    token: String,
    finished: bool,
}

impl Stack {
    /// Starts Redis, `config.workers` workers and the HTTP node; logs go to
    /// `<target dir>/stack-logs/<test>/`, emptied first.
    pub async fn start(test: &str, config: StackConfig) -> anyhow::Result<Stack> {
        let log_dir = target_dir().join("stack-logs").join(test);
        if log_dir.exists() {
            std::fs::remove_dir_all(&log_dir)
                .with_context(|| format!("emptying {}", log_dir.display()))?;
        }
        std::fs::create_dir_all(&log_dir).with_context(|| format!("{}", log_dir.display()))?;
        // RSA key generation takes a while: off the runtime's threads.
        let keys = tokio::task::spawn_blocking(Keys::generate).await??;
        let redis_args = config.redis_args.clone();
        let redis = tokio::task::spawn_blocking(move || {
            TestRedis::start_with(&redis_args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await?;
        let redis_client = redis::Client::open(redis.url()).context("the test Redis URL")?;
        let redis_port = redis.port();
        let vars = http_vars(&config, redis_port, &keys, &log_dir)?;
        let program = debug_binary("http-fn")?;
        let http_log = log_dir.join("http.log");
        let http = Process::start("http-fn", &program, &vars, &http_log, "http_addr").await?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("HTTP client")?;
        let stack = Stack {
            token: TokenSpec::for_job(JOB).mint(&keys)?,
            config,
            log_dir,
            redis: Arc::new(Mutex::new(redis)),
            redis_port,
            redis_client,
            http,
            workers: tokio::sync::Mutex::new(Vec::new()),
            client,
            finished: false,
        };
        for n in 1..=stack.config.workers {
            stack.start_worker(&format!("w{n}")).await?;
        }
        Ok(stack)
    }

    /// The configuration the stack was started with.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// Where the process logs are.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The HTTP node's bound address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Starts one more worker with `id` (`STOCK_WORKER_ID`, no `/`); returns its index.
    pub async fn start_worker(&self, id: &str) -> anyhow::Result<usize> {
        let mut vars = common_vars(&self.config, self.redis_port);
        vars.extend(pairs(&[
            ("NODE_ROLE", "actor"),
            ("STOCK_ADMIN_ADDR", "127.0.0.1:0"),
            ("STOCK_WORKER_ID", id),
            // Adds one line per command handled, in its trace: what a failure report needs.
            ("RUST_LOG", "info,actor_worker::stock_pot=debug"),
        ]));
        let ttl = humantime::format_duration(self.config.lease_ttl).to_string();
        vars.insert("STOCK_LEASE_TTL".into(), ttl);
        let program = debug_binary("actor-worker")?;
        // Held while starting so that indexes follow the order of the calls.
        let mut workers = self.workers.lock().await;
        let index = workers.len();
        let log = self.log_dir.join(format!("worker-{index}-{id}.log"));
        let process = Process::start(id, &program, &vars, &log, "admin_addr").await?;
        workers.push(Worker {
            id: id.to_owned(),
            process,
        });
        Ok(index)
    }

    /// Runs `action` on worker `index`.
    async fn with_worker<T>(
        &self,
        index: usize,
        action: impl AsyncFnOnce(&mut Worker) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut workers = self.workers.lock().await;
        let worker = workers
            .get_mut(index)
            .with_context(|| format!("no worker #{index}"))?;
        action(worker).await
    }

    /// The `STOCK_WORKER_ID` of worker `index`.
    pub async fn worker_id(&self, index: usize) -> anyhow::Result<String> {
        self.with_worker(index, async |w| Ok(w.id.clone())).await
    }

    /// SIGKILL: the worker dies at once, leaving its leases to expire.
    pub async fn kill_worker(&self, index: usize) -> anyhow::Result<()> {
        self.with_worker(index, async |w| w.process.kill().await.map(drop))
            .await
    }

    /// SIGTERM, then waits for the worker to exit (it commits in-flight batches and releases
    /// its leases first).
    pub async fn stop_worker(&self, index: usize) -> anyhow::Result<()> {
        self.with_worker(index, async |w| {
            w.process.signal("TERM")?;
            let status = w.process.wait().await?;
            if !status.success() {
                bail!("worker {} ended with {status} after SIGTERM", w.id);
            }
            Ok(())
        })
        .await
    }

    /// SIGSTOP: the worker freezes, holding whatever it had read.
    pub async fn pause_worker(&self, index: usize) -> anyhow::Result<()> {
        self.with_worker(index, async |w| w.process.signal("STOP"))
            .await
    }

    /// SIGCONT: a paused worker runs on.
    pub async fn resume_worker(&self, index: usize) -> anyhow::Result<()> {
        self.with_worker(index, async |w| w.process.signal("CONT"))
            .await
    }

    /// Whether worker `index` has exited.
    pub async fn worker_exited(&self, index: usize) -> anyhow::Result<bool> {
        self.with_worker(index, async |w| Ok(w.process.has_exited()))
            .await
    }

    /// Everything worker `index` has logged so far.
    pub async fn worker_log(&self, index: usize) -> anyhow::Result<String> {
        let path = self
            .with_worker(index, async |w| Ok(w.process.log_path().to_path_buf()))
            .await?;
        std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))
    }

    /// Everything the HTTP node has logged so far.
    pub fn http_log(&self) -> anyhow::Result<String> {
        let path = self.http.log_path();
        std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))
    }

    /// Worker `index`'s `/metrics` text.
    pub async fn worker_metrics(&self, index: usize) -> anyhow::Result<String> {
        let addr = self
            .with_worker(index, async |w| Ok(w.process.addr()))
            .await?;
        let response = self
            .client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await?;
        Ok(response.error_for_status()?.text().await?)
    }

    /// One metric of worker `index`, summed over its label sets; 0 when absent.
    pub async fn worker_metric(&self, index: usize, name: &str) -> anyhow::Result<f64> {
        Ok(sample_sum(&self.worker_metrics(index).await?, name).unwrap_or(0.0))
    }

    /// A new connection to the stack's Redis, for inspection and fault injection.
    pub async fn redis(&self) -> anyhow::Result<MultiplexedConnection> {
        self.redis_client
            .get_multiplexed_async_connection()
            .await
            .context("connecting to the test Redis")
    }

    /// Kills `redis-server` (SIGKILL): with `--appendfsync always` in
    /// [`StackConfig::redis_args`] every acknowledged write is on disk.
    pub async fn kill_redis(&self) -> anyhow::Result<()> {
        self.with_redis(TestRedis::stop).await
    }

    /// Stops `redis-server` with SIGTERM and waits for it to exit (SIGKILL after 10 s).
    pub async fn terminate_redis(&self) -> anyhow::Result<()> {
        self.with_redis(|redis| redis.terminate(Duration::from_secs(10)))
            .await
    }

    /// Starts `redis-server` again on the same port and directory, with the same arguments, and
    /// waits until it answers `PING` (an AOF is loaded first).
    pub async fn start_redis(&self) -> anyhow::Result<()> {
        let args = self.config.redis_args.clone();
        self.with_redis(move |redis| {
            redis.restart(&args.iter().map(String::as_str).collect::<Vec<_>>());
        })
        .await
    }

    /// SIGSTOP (`pause`) or SIGCONT (`!pause`) to `redis-server`: a frozen store whose
    /// connections stay open and unanswered.
    pub async fn pause_redis(&self, pause: bool) -> anyhow::Result<()> {
        let pid = self
            .redis
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pid()
            .context("redis-server is not running")?;
        let signal = if pause { "STOP" } else { "CONT" };
        process::send_signal(pid, signal)
    }

    /// The directory of `redis-server` (its log and AOF).
    pub fn redis_dir(&self) -> PathBuf {
        self.redis
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dir()
            .to_path_buf()
    }

    async fn with_redis(
        &self,
        action: impl FnOnce(&mut TestRedis) + Send + 'static,
    ) -> anyhow::Result<()> {
        // Blocking (kill and wait, or start and ping): off the runtime's threads.
        let redis = self.redis.clone();
        tokio::task::spawn_blocking(move || {
            action(&mut redis.lock().unwrap_or_else(PoisonError::into_inner));
        })
        .await
        .context("controlling redis-server")
    }

    /// The worker id in each shard's lease (`stock:{sN}:lease`), `None` where it is free.
    pub async fn lease_owners(&self) -> anyhow::Result<Vec<Option<String>>> {
        let mut pipe = redis::pipe();
        for shard in 0..self.config.shards {
            pipe.cmd("GET").arg(keys::lease(shard));
        }
        let tokens: Vec<Option<String>> = pipe.query_async(&mut self.redis().await?).await?;
        Ok(tokens
            .into_iter()
            .map(|t| t.and_then(|t| t.split('/').next().map(str::to_owned)))
            .collect())
    }

    /// The shards whose lease names worker `id`.
    pub async fn shards_of(&self, id: &str) -> anyhow::Result<Vec<ShardId>> {
        let owners = self.lease_owners().await?;
        Ok((0..self.config.shards)
            .filter(|s| owners.get(*s as usize).and_then(Option::as_deref) == Some(id))
            .collect())
    }

    /// Waits until every shard's lease is held by one of `ids`.
    pub async fn wait_all_owned_by(&self, ids: &[&str], timeout: Duration) -> anyhow::Result<()> {
        eventually(
            "every shard leased by a running worker",
            timeout,
            || async {
                let owners = self.lease_owners().await?;
                let all = owners
                    .iter()
                    .all(|o| o.as_deref().is_some_and(|o| ids.contains(&o)));
                Ok(all.then_some(()))
            },
        )
        .await
    }

    /// POSTs `body` as JSON to `path` with the stack's token.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<HttpReply> {
        let request = self
            .client
            .post(format!("http://{}{path}", self.http.addr()))
            .bearer_auth(&self.token)
            .json(body);
        reply(
            request
                .send()
                .await
                .with_context(|| format!("POST {path}"))?,
        )
        .await
    }

    /// POSTs the delivery `body` (see [`delivery`]) at `location`.
    pub async fn deliver(&self, location: &str, body: &Value) -> anyhow::Result<HttpReply> {
        let path = format!("/locations/{}/deliveries", segment(location));
        self.post(&path, body).await
    }

    /// GETs `path` with the stack's token.
    pub async fn get(&self, path: &str) -> anyhow::Result<HttpReply> {
        let request = self
            .client
            .get(format!("http://{}{path}", self.http.addr()))
            .bearer_auth(&self.token);
        reply(
            request
                .send()
                .await
                .with_context(|| format!("GET {path}"))?,
        )
        .await
    }

    /// The quantity of `product` at the tracked `location`, read through the public API.
    pub async fn quantity(&self, location: &str, product: &str) -> anyhow::Result<f64> {
        let path = format!(
            "/locations/{}/products/{}?includeChildren=false",
            segment(location),
            segment(product)
        );
        let answer = self.get(&path).await?;
        if answer.status != 200 {
            bail!("GET {path}: {} {}", answer.status, answer.body);
        }
        answer.json()["quantity"]
            .as_f64()
            .with_context(|| format!("GET {path}: no quantity in {}", answer.body))
    }

    /// Runs a test `body` on the stack: finishes the stack if it passed; otherwise drops it (the
    /// logs are kept) and panics with the error and where the logs are.
    pub async fn run<F>(self, body: F)
    where
        F: AsyncFnOnce(&Stack) -> anyhow::Result<()>,
    {
        match body(&self).await {
            Ok(()) => {
                if let Err(error) = self.finish().await {
                    panic!("stopping the stack: {error:#}");
                }
            }
            Err(error) => {
                let logs = self.log_dir().display().to_string();
                drop(self);
                panic!("{error:#}\n(process logs: {logs})");
            }
        }
    }

    /// Marks the test as passed and kills every process.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        self.finished = true;
        for worker in self.workers.get_mut() {
            worker.process.kill().await?;
        }
        self.http.kill().await?;
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.finished {
            eprintln!("stack logs kept in {}:", self.log_dir.display());
            eprintln!("  {}", self.http.log_path().display());
            for worker in self.workers.get_mut().iter() {
                eprintln!("  {}", worker.process.log_path().display());
            }
        }
    }
}

/// Polls `probe` until it gives `Some`, at most `timeout`; an error from `probe` ends the wait.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The body of a delivery (`POST /locations/{id}/deliveries`) of `lines`, each
/// `(product, quantity)`.
pub fn delivery(request_id: &str, lines: &[(&str, f64)]) -> Value {
    let products: Vec<Value> = lines
        .iter()
        .map(|(product, quantity)| json!({"productId": product, "quantity": quantity}))
        .collect();
    json!({
        "requestId": request_id, "supplierId": "s1", "supplierRef": "po-1",
        "deliveredAt": "2024-12-26T15:35:00", "products": products,
    })
}

/// The first id `<prefix>-<n>` (n = 0, 1, …) that maps to `shard` of `shards`.
pub fn location_in_shard(prefix: &str, shard: ShardId, shards: u32) -> String {
    (0u64..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| shard_of(id, shards) == shard)
        .unwrap_or_default()
}

/// A path segment: the id percent-encoded.
pub fn segment(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

/// The estate file: one tracked root per id, no children.
pub fn estate_json(locations: &[String]) -> String {
    let roots: Vec<Value> = locations
        .iter()
        .map(|id| json!({"id": id, "name": id, "roles": [TRACKED], "children": []}))
        .collect();
    Value::Array(roots).to_string()
}

/// The HTTP node's variables; writes the files they name into `dir`.
fn http_vars(
    config: &StackConfig,
    redis_port: u16,
    keys: &Keys,
    dir: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let key_file = dir.join("jwt-public.pem");
    std::fs::write(&key_file, &keys.public_pem).context("writing the JWT public key")?;
    let estate_file = dir.join("locations.json");
    std::fs::write(&estate_file, estate_json(&config.locations)).context("writing the estate")?;
    let mut vars = common_vars(config, redis_port);
    vars.extend(pairs(&[
        ("NODE_ROLE", "http"),
        ("STOCK_HTTP_ADDR", "127.0.0.1:0"),
        ("STOCK_JWT_ISSUER", ISSUER),
        ("STOCK_JWT_AUDIENCE", AUDIENCE),
        ("STOCK_REPLY_CHANNEL", &config.reply_channel),
    ]));
    vars.insert("STOCK_JWT_PUBLIC_KEY_FILE".into(), path_text(&key_file));
    match &config.location_api {
        Some(url) => vars.insert("STOCK_LOCATION_API_URL".into(), url.clone()),
        None => vars.insert("STOCK_LOCATIONS_FILE".into(), path_text(&estate_file)),
    };
    let timeout = humantime::format_duration(config.command_timeout).to_string();
    vars.insert("STOCK_COMMAND_TIMEOUT".into(), timeout);
    vars.extend(config.http_settings.iter().cloned());
    Ok(vars)
}

/// The variables every node gets.
fn common_vars(config: &StackConfig, redis_port: u16) -> BTreeMap<String, String> {
    let mut vars = pairs(&[("RUST_LOG", "info"), ("STOCK_LOG_FORMAT", "json")]);
    let url = config
        .redis_url
        .clone()
        .unwrap_or_else(|| format!("redis://127.0.0.1:{redis_port}"));
    vars.insert("STOCK_REDIS_URL".into(), url);
    if let Some(replicas) = config.min_replicas {
        vars.insert("STOCK_REDIS_MIN_REPLICAS".into(), replicas.to_string());
    }
    vars.insert("STOCK_SHARDS".into(), config.shards.to_string());
    vars
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

async fn reply(response: reqwest::Response) -> anyhow::Result<HttpReply> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let trace_id = response
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.context("reading a response body")?;
    Ok(HttpReply {
        status,
        retry_after,
        trace_id,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_found_for_every_shard() {
        for shard in 0..16 {
            let id = location_in_shard("loc", shard, 16);
            assert_eq!(shard_of(&id, 16), shard, "{id}");
        }
    }

    #[test]
    fn the_estate_lists_one_tracked_root_per_location() {
        let text = estate_json(&["A".to_owned(), "B b".to_owned()]);
        let estate = crate::estate::Estate::from_json(&text).unwrap_or_default();
        assert_eq!(estate.roots.len(), 2);
        assert_eq!(estate.roots[1].id, "B b");
        assert_eq!(estate.roots[0].roles, vec![TRACKED.to_owned()]);
    }
}
