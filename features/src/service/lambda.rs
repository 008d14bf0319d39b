//! The lambda target: the `http-fn` binary run as an AWS Lambda function through the fake
//! Runtime API, over a throw-away Redis and two `actor-worker` nodes per scenario.
//!
//! The scenarios speak plain HTTP to a local gateway, which turns each request into an API
//! Gateway HTTP API (payload 2.0) event, invokes the function with it and turns the function's
//! response back into HTTP, as API Gateway does. One function instance serves them, up to
//! [`MAX_CONCURRENCY`] at once (tests/lambda.rs covers the sequential default). Its output goes into the
//! scenario's log like the stack's nodes' (stderr lines after `[stderr] [function] `); the gateway
//! adds one line per request (`[stderr] [gateway] <received at> <method> <path> -> <status> in
//! <duration>`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::testing::TestRedis;
use tokio::process::Child;
use tokio::task::JoinHandle;

use super::stack::{
    Log, Node, WORKER_IDS, exited_early, wait_until_every_shard_is_owned, worker_vars,
};
use super::{START_DEADLINE, STOP_DEADLINE, target_dir};
use crate::lambda::{EventKind, FakeRuntimeApi, HttpAnswer, HttpCall, Outcome};
use crate::stack::process::{pump, spawn_clean};

/// How long the gateway waits for the function's answer (API Gateway's own limit is 30 s).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body the gateway forwards (API Gateway's payload limit).
const MAX_BODY: usize = 10 * 1024 * 1024;
/// Invocations one function instance serves at once (`AWS_LAMBDA_MAX_CONCURRENCY`, as on Lambda
/// Managed Instances), so that scenarios sending requests at the same time meet one process, as
/// they do on the other targets.
const MAX_CONCURRENCY: &str = "8";
/// How often the start-up looks whether the function asks for its first event.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// A running function, its gateway, Redis and the workers.
#[derive(Debug)]
pub(super) struct Lambda {
    function: Child,
    workers: Vec<Node>,
    gateway: JoinHandle<()>,
    _api: Arc<FakeRuntimeApi>,
    redis: TestRedis,
}

impl Lambda {
    /// Starts Redis, the function and the workers with the scenario's `vars`, then waits until
    /// the function polls for events and every shard is owned.
    pub(super) async fn start(
        vars: BTreeMap<String, String>,
        log_path: &Path,
    ) -> anyhow::Result<(SocketAddr, Lambda)> {
        let log = Log::create(log_path)?;
        super::wait_for_connection_tracking_room().await?;
        let redis = tokio::task::spawn_blocking(TestRedis::start)
            .await
            .context("starting redis-server")?;
        let redis_url = redis.url();
        let api = Arc::new(FakeRuntimeApi::start().await?);
        let function = start_function(&function_vars(&vars, &redis_url, &api), &api, &log).await?;
        let workers = WORKER_IDS.map(|id| {
            let vars = worker_vars(&vars, &redis_url, id);
            let log = log.clone();
            async move { Node::start(id, "actor-worker", &vars, &log, "admin_addr").await }
        });
        let workers = futures::future::try_join_all(workers).await?;
        let (addr, gateway) = start_gateway(api.clone(), log.clone()).await?;
        let lambda = Lambda {
            function,
            workers,
            gateway,
            _api: api,
            redis,
        };
        if let Err(error) = wait_until_every_shard_is_owned(addr).await {
            let message = format!("{error:#}; log: {}\n{}", log.path.display(), log.tail());
            let _ = lambda.stop().await;
            bail!(message);
        }
        Ok((addr, lambda))
    }

    /// The gateway's `/metrics` (the function's), then each worker's.
    pub(super) fn metrics_urls(&self, addr: SocketAddr) -> Vec<String> {
        std::iter::once(addr)
            .chain(self.workers.iter().map(|worker| worker.addr))
            .map(|addr| format!("http://{addr}/metrics"))
            .collect()
    }

    /// Stops the gateway, kills the function, the workers and Redis.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        self.gateway.abort();
        let mut result = kill(&mut self.function).await;
        for worker in self.workers {
            result = result.and(worker.stop().await);
        }
        let redis = self.redis;
        tokio::task::spawn_blocking(move || drop(redis))
            .await
            .context("stopping redis-server")?;
        result
    }
}

/// The function's environment: the scenario's, in the `http` role on Redis, with the platform's
/// variables.
fn function_vars(
    scenario: &BTreeMap<String, String>,
    redis_url: &str,
    api: &FakeRuntimeApi,
) -> BTreeMap<String, String> {
    let mut vars = scenario.clone();
    vars.remove("STOCK_HTTP_ADDR");
    vars.insert("NODE_ROLE".to_owned(), "http".to_owned());
    vars.insert("STOCK_REDIS_URL".to_owned(), redis_url.to_owned());
    vars.extend(api.platform_vars());
    vars.insert(
        "AWS_LAMBDA_MAX_CONCURRENCY".to_owned(),
        MAX_CONCURRENCY.to_owned(),
    );
    vars
}

/// Spawns the function and waits until it asks the Runtime API for its first event.
async fn start_function(
    vars: &BTreeMap<String, String>,
    api: &FakeRuntimeApi,
    log: &Log,
) -> anyhow::Result<Child> {
    let program = target_dir().join("debug").join("http-fn");
    if !program.is_file() {
        bail!(
            "{} is missing: build it first with `cargo build --bins` (STOCK_FEATURES_TARGET=lambda)",
            program.display()
        );
    }
    let mut child = spawn_clean(&program, vars)?;
    let mut pumps = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let log = log.clone();
        pumps.push(tokio::spawn(pump(
            stdout,
            move |line: &str| log.write(line),
            None,
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        let log = log.clone();
        let sink = move |line: &str| log.write(&format!("[stderr] [function] {line}"));
        pumps.push(tokio::spawn(pump(stderr, sink, None)));
    }
    let deadline = tokio::time::Instant::now() + START_DEADLINE;
    while api.polls() == 0 {
        if child.try_wait()?.is_some() {
            return Err(exited_early("function", child, pumps, log).await);
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.start_kill();
            bail!(
                "the function asked for no event within {START_DEADLINE:?}; log: {}",
                log.path.display()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Ok(child)
}

/// SIGKILL, then reap.
async fn kill(child: &mut Child) -> anyhow::Result<()> {
    if child.try_wait()?.is_none() {
        child.start_kill().context("killing the function")?;
    }
    tokio::time::timeout(STOP_DEADLINE, child.wait())
        .await
        .context("the function did not exit after being killed")?
        .context("waiting for the function")?;
    Ok(())
}

/// Serves the gateway on a free loopback port.
async fn start_gateway(
    api: Arc<FakeRuntimeApi>,
    log: Log,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the gateway")?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(forward).with_state((api, log));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, server))
}

/// One request, through the function and back.
async fn forward(
    State((api, log)): State<(Arc<FakeRuntimeApi>, Log)>,
    request: Request,
) -> Response {
    let what = format!("{} {}", request.method(), request.uri());
    let received = SystemTime::now();
    let started = Instant::now();
    let answer = match invoke(&api, request).await {
        Ok(answer) => answer,
        Err(error) => (StatusCode::BAD_GATEWAY, format!("gateway: {error:#}")).into_response(),
    };
    // The log's one line per request, next to the function's: when it came and how long it took.
    log.write(&format!(
        "[stderr] [gateway] {} {what} -> {} in {:?}",
        humantime::format_rfc3339_micros(received),
        answer.status().as_u16(),
        started.elapsed()
    ));
    answer
}

async fn invoke(api: &FakeRuntimeApi, request: Request) -> anyhow::Result<Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .context("reading the request body")?;
    let call = HttpCall {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    };
    let event = call.event(EventKind::ApiGatewayV2);
    match api.invoke(&event, INVOCATION_TIMEOUT).await? {
        Outcome::Response(payload) => respond(&HttpAnswer::from_payload(&payload)?),
        Outcome::Error { body, .. } => Err(anyhow!("the function failed: {body}")),
    }
}

/// The HTTP response of a function's answer; the length is the body's own.
fn respond(answer: &HttpAnswer) -> anyhow::Result<Response> {
    let mut response = Response::new(Body::from(Bytes::from(answer.body.clone())));
    *response.status_mut() = StatusCode::from_u16(answer.status)?;
    for (name, value) in &answer.headers {
        if name == "content-length" || name == "transfer-encoding" {
            continue;
        }
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    Ok(response)
}
