//! The real `http-fn` binary as an AWS Lambda function, through a fake Runtime API: refused
//! starts reported on the init-error endpoint, every HTTP event shape served over a real Redis
//! and a real `actor-worker`, non-HTTP events answered through the invocation error endpoint, a
//! freeze between invocations, and data kept across cold starts.
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server` on
//! `PATH`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use features::lambda::{EventKind, FakeRuntimeApi, HttpAnswer, HttpCall, Outcome};
use features::service::{target_dir, workspace_dir};
use features::token::{AUDIENCE, ISSUER, Keys, TokenSpec};
use serde_json::{Value, json};
use shared::testing::TestRedis;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// Longest wait for a process to start, answer or exit.
const DEADLINE: Duration = Duration::from_secs(30);
/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// The debug `binary` with only `vars` (plus `PATH`), its stdout discarded and its stderr piped.
fn spawn(binary: &str, args: &[&str], vars: &BTreeMap<String, String>) -> Child {
    spawn_program(&target_dir().join("debug").join(binary), args, vars)
}

fn spawn_program(
    program: &std::path::Path,
    args: &[&str],
    vars: &BTreeMap<String, String>,
) -> Child {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(vars)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.spawn().unwrap()
}

/// What one service needs: keys and their public half on disk.
struct Fixture {
    keys: Keys,
    key_file: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let keys = Keys::generate().unwrap();
        let key_file =
            std::env::temp_dir().join(format!("stock-lambda-{name}-{}.pem", std::process::id()));
        std::fs::write(&key_file, &keys.public_pem).unwrap();
        Fixture { keys, key_file }
    }

    /// A complete function configuration over `redis_url`, with the platform's variables.
    fn function_vars(&self, api: &FakeRuntimeApi, redis_url: &str) -> BTreeMap<String, String> {
        let locations = workspace_dir().join("infra/demo/locations.json");
        let mut vars: BTreeMap<String, String> = [
            ("NODE_ROLE", "http".to_owned()),
            ("STOCK_REDIS_URL", redis_url.to_owned()),
            ("STOCK_LOCATIONS_FILE", locations.display().to_string()),
            (
                "STOCK_JWT_PUBLIC_KEY_FILE",
                self.key_file.display().to_string(),
            ),
            ("STOCK_JWT_ISSUER", ISSUER.to_owned()),
            ("STOCK_JWT_AUDIENCE", AUDIENCE.to_owned()),
            ("STOCK_SHARDS", "8".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        vars.extend(api.platform_vars());
        vars
    }

    fn token(&self) -> String {
        TokenSpec::for_job("Warehouse Manager")
            .mint(&self.keys)
            .unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.key_file);
    }
}

/// Waits for `child` to exit and returns its status code and stderr.
async fn exit(mut child: Child) -> (Option<i32>, String) {
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = tokio::time::timeout(DEADLINE, pipe.read_to_string(&mut stderr)).await;
    }
    let status = tokio::time::timeout(DEADLINE, child.wait()).await;
    (
        status.ok().and_then(|s| s.ok()).and_then(|s| s.code()),
        stderr,
    )
}

/// A refused start: its name, the arguments, the change to a complete configuration, the error
/// type and the start of the reason reported.
type Refusal = (
    &'static str,
    &'static [&'static str],
    fn(&mut BTreeMap<String, String>),
    &'static str,
    &'static str,
);

#[tokio::test]
async fn refused_starts_are_reported_on_the_init_error_endpoint_never_panicked_on() {
    let fixture = Fixture::new("refusals");
    let unreachable = "redis://127.0.0.1:1/";
    let cases: [Refusal; 7] = [
        (
            "only the platform's variables",
            &[],
            |v| v.retain(|n, _| n.starts_with("AWS_")),
            "Runtime.ConfigError",
            "NODE_ROLE: must be http",
        ),
        (
            "the default role",
            &[],
            |v| {
                v.remove("NODE_ROLE");
            },
            "Runtime.ConfigError",
            "NODE_ROLE: must be http",
        ),
        (
            "the single-process role",
            &[],
            |v| {
                v.insert("NODE_ROLE".into(), "both".into());
            },
            "Runtime.ConfigError",
            "NODE_ROLE: must be http",
        ),
        (
            "no Redis",
            &[],
            |v| {
                v.remove("STOCK_REDIS_URL");
            },
            "Runtime.ConfigError",
            "STOCK_REDIS_URL:",
        ),
        (
            "demo keys",
            &["--demo"],
            |_| {},
            "Runtime.ConfigError",
            "--demo:",
        ),
        (
            "no function name",
            &[],
            |v| {
                v.remove("AWS_LAMBDA_FUNCTION_NAME");
            },
            "Runtime.ConfigError",
            "AWS_LAMBDA_FUNCTION_NAME: required",
        ),
        (
            "an unreachable Redis",
            &[],
            |_| {},
            "Runtime.InitError",
            "STOCK_REDIS_URL",
        ),
    ];
    for (case, args, change, error_type, message) in cases {
        let api = FakeRuntimeApi::start().await.unwrap();
        let mut vars = fixture.function_vars(&api, unreachable);
        change(&mut vars);
        let child = spawn("http-fn", args, &vars);
        let report = api.init_error(DEADLINE).await;
        let (status, stderr) = exit(child).await;
        let report = report.unwrap_or_else(|| panic!("{case}: no init error; stderr: {stderr}"));
        assert_eq!(report.error_type.as_deref(), Some(error_type), "{case}");
        assert_eq!(report.body["errorType"], error_type, "{case}");
        let reason = report.body["errorMessage"].as_str().unwrap_or_default();
        assert!(reason.starts_with(message), "{case}: {reason}");
        assert!(!reason.contains('\n'), "{case}: {reason}");
        assert!(
            matches!(status, Some(code) if code != 0),
            "{case}: {status:?}"
        );
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
        assert!(
            stderr.contains(reason),
            "{case}: the reason is logged too: {stderr}"
        );
        assert_eq!(
            api.polls(),
            0,
            "{case}: a refused function asks for no event"
        );
    }
}

/// Redis, one worker and one function instance.
struct Deployment {
    fixture: Fixture,
    redis: TestRedis,
    worker: Child,
    api: FakeRuntimeApi,
    function: Child,
}

impl Deployment {
    async fn start(name: &str) -> Deployment {
        let fixture = Fixture::new(name);
        let redis = tokio::task::spawn_blocking(TestRedis::start).await.unwrap();
        let worker = spawn("actor-worker", &[], &worker_vars(&redis.url()));
        let api = FakeRuntimeApi::start().await.unwrap();
        let function = start_function(&fixture, &api, &redis.url()).await;
        Deployment {
            fixture,
            redis,
            worker,
            api,
            function,
        }
    }

    /// One HTTP request as an event of `kind`; the answer read back.
    async fn call(&self, kind: EventKind, method: &str, path: &str, body: Value) -> HttpAnswer {
        let call = HttpCall {
            method: method.to_owned(),
            path: path.to_owned(),
            query: String::new(),
            headers: vec![
                (
                    "authorization".into(),
                    format!("Bearer {}", self.fixture.token()),
                ),
                ("content-type".into(), "application/json".into()),
            ],
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
        };
        match self.api.invoke(&call.event(kind), DEADLINE).await.unwrap() {
            Outcome::Response(payload) => HttpAnswer::from_payload(&payload).unwrap(),
            other => panic!("{method} {path} as {kind:?}: {other:?}"),
        }
    }
}

/// A worker's configuration over `redis_url`; a short lease, so that a killed worker's shards
/// are taken over well within the command timeout.
fn worker_vars(redis_url: &str) -> BTreeMap<String, String> {
    [
        ("NODE_ROLE", "actor"),
        ("STOCK_REDIS_URL", redis_url),
        ("STOCK_ADMIN_ADDR", "127.0.0.1:0"),
        ("STOCK_SHARDS", "8"),
        ("STOCK_LEASE_TTL", "1s"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// Spawns a function instance and waits until it asks for its first event.
async fn start_function(fixture: &Fixture, api: &FakeRuntimeApi, redis_url: &str) -> Child {
    let polls = api.polls();
    let mut child = spawn("http-fn", &[], &fixture.function_vars(api, redis_url));
    wait_until(|| {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the function exited at start"
        );
        api.polls() > polls
    })
    .await
    .unwrap();
    child
}

/// Polls `condition` until it holds or [`DEADLINE`] passes.
async fn wait_until(mut condition: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        if tokio::time::Instant::now() > deadline {
            bail!("condition still false after {DEADLINE:?}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Ok(())
}

fn delivery(request_id: &str, quantity: f64) -> Value {
    json!({
        "requestId": request_id, "supplierId": "S1", "supplierRef": "REF",
        "deliveredAt": "2026-12-01T10:00:00Z",
        "products": [{"productId": "P1", "quantity": quantity}]
    })
}

fn json_body(answer: &HttpAnswer) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}

const STOCK: &str = "/locations/WH01/products/P1";

#[tokio::test]
async fn every_http_event_shape_is_served_over_redis_and_a_worker_and_survives_a_cold_start() {
    let mut deployment = Deployment::start("shapes").await;
    let kinds = [
        EventKind::ApiGatewayV2,
        EventKind::ApiGatewayV1,
        EventKind::Alb,
        EventKind::FunctionUrl,
    ];
    for (n, kind) in kinds.into_iter().enumerate() {
        let path = "/locations/WH01/deliveries";
        let answer = deployment
            .call(kind, "POST", path, delivery(&format!("d{n}"), 2.0))
            .await;
        assert_eq!(answer.status, 201, "{kind:?}: {:?}", json_body(&answer));
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{kind:?}"
        );
        let level = deployment.call(kind, "GET", STOCK, Value::Null).await;
        assert_eq!(level.status, 200, "{kind:?}");
        let expected = 2.0 * (n as f64 + 1.0);
        assert_eq!(json_body(&level)["quantity"], json!(expected), "{kind:?}");
    }
    // A replay answers as the first time and changes nothing.
    let replay = deployment
        .call(
            EventKind::ApiGatewayV2,
            "POST",
            "/locations/WH01/deliveries",
            delivery("d0", 2.0),
        )
        .await;
    assert_eq!(replay.status, 201);
    // The function keeps no state: a new instance (a cold start) reads what the first wrote.
    deployment.function.kill().await.unwrap();
    deployment.function = start_function(
        &deployment.fixture,
        &deployment.api,
        &deployment.redis.url(),
    )
    .await;
    let level = deployment
        .call(EventKind::ApiGatewayV2, "GET", STOCK, Value::Null)
        .await;
    assert_eq!(json_body(&level)["quantity"], json!(8.0));
    let ready = deployment
        .call(EventKind::ApiGatewayV2, "GET", "/health/ready", Value::Null)
        .await;
    assert_eq!(ready.status, 200);
    let _ = deployment.worker.kill().await;
}

#[tokio::test]
async fn non_http_events_are_answered_through_the_invocation_error_endpoint() {
    let mut deployment = Deployment::start("non-http").await;
    let payloads = [
        Bytes::from_static(br#"{"Records":[{"eventSource":"aws:sqs","body":"x"}]}"#),
        Bytes::from_static(br#"{"hello":"world"}"#),
        Bytes::from_static(b"\x00\x01 not json \xff"),
    ];
    for payload in payloads {
        let outcome = deployment
            .api
            .invoke_raw(payload.clone(), DEADLINE)
            .await
            .unwrap();
        let Outcome::Error { body, .. } = outcome else {
            panic!("{payload:?} answered {outcome:?}");
        };
        assert!(body["errorMessage"].is_string(), "{body}");
    }
    // The instance goes on serving.
    let level = deployment
        .call(EventKind::ApiGatewayV2, "GET", STOCK, Value::Null)
        .await;
    assert_eq!(level.status, 200);
    // A base64 body that is not JSON is the API's 400, not a failed invocation.
    let mut call = HttpCall {
        method: "POST".into(),
        path: "/locations/WH01/deliveries".into(),
        headers: vec![(
            "authorization".into(),
            format!("Bearer {}", deployment.fixture.token()),
        )],
        body: vec![0xff, 0x00, 0xfe],
        ..HttpCall::default()
    };
    call.headers
        .push(("content-type".into(), "application/json".into()));
    let Outcome::Response(payload) = deployment
        .api
        .invoke(&call.event(EventKind::ApiGatewayV2), DEADLINE)
        .await
        .unwrap()
    else {
        panic!("a binary body failed the invocation");
    };
    let answer = HttpAnswer::from_payload(&payload).unwrap();
    assert_eq!(answer.status, 400, "{:?}", json_body(&answer));
    let _ = deployment.worker.kill().await;
    let _ = deployment.function.kill().await;
}

/// The state letter of process `pid` (`T` when stopped).
fn process_state(pid: u32) -> anyhow::Result<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading stat")?;
    let (_, rest) = stat.rsplit_once(')').context("stat format")?;
    rest.trim_start().chars().next().context("stat state")
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_frozen_instance_serves_again_after_the_worker_tier_changed_under_it() {
    let mut deployment = Deployment::start("freeze").await;
    let path = "/locations/WH01/deliveries";
    let first = deployment
        .call(EventKind::ApiGatewayV2, "POST", path, delivery("f1", 1.0))
        .await;
    assert_eq!(first.status, 201);
    let pid = deployment.function.id().unwrap();
    signal(pid, "STOP");
    wait_until(|| process_state(pid).is_ok_and(|state| state == 'T'))
        .await
        .unwrap();
    // While the instance is frozen its worker dies and another one takes the shards over.
    deployment.worker.kill().await.unwrap();
    deployment.worker = spawn("actor-worker", &[], &worker_vars(&deployment.redis.url()));
    signal(pid, "CONT");
    let second = deployment
        .call(EventKind::ApiGatewayV2, "POST", path, delivery("f2", 1.0))
        .await;
    assert_eq!(second.status, 201, "{:?}", json_body(&second));
    let replay = deployment
        .call(EventKind::ApiGatewayV2, "POST", path, delivery("f1", 1.0))
        .await;
    assert_eq!(replay.status, 201);
    let level = deployment
        .call(EventKind::ApiGatewayV2, "GET", STOCK, Value::Null)
        .await;
    assert_eq!(json_body(&level)["quantity"], json!(2.0));
    let _ = deployment.worker.kill().await;
    let _ = deployment.function.kill().await;
}

/// Cold starts for docs/PERFORMANCE.md: from spawning the function to its first response (a
/// delivery, 201) through the fake Runtime API, ten times; prints the median, minimum and
/// maximum. `STOCK_LAMBDA_BINARY` names the binary (default: the debug `http-fn`). A
/// measurement, not a test: run it with `--ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, run on demand"]
async fn cold_start_figures() {
    const RUNS: usize = 10;
    let fixture = Fixture::new("cold-start");
    let redis = tokio::task::spawn_blocking(TestRedis::start).await.unwrap();
    let mut worker = spawn("actor-worker", &[], &worker_vars(&redis.url()));
    let program = std::env::var_os("STOCK_LAMBDA_BINARY")
        .map_or_else(|| target_dir().join("debug").join("http-fn"), PathBuf::from);
    let mut times = Vec::new();
    for run in 0..=RUNS {
        let api = FakeRuntimeApi::start().await.unwrap();
        let call = HttpCall {
            method: "POST".into(),
            path: "/locations/WH01/deliveries".into(),
            headers: vec![
                (
                    "authorization".into(),
                    format!("Bearer {}", fixture.token()),
                ),
                ("content-type".into(), "application/json".into()),
            ],
            body: delivery(&format!("cold-{run}"), 1.0)
                .to_string()
                .into_bytes(),
            ..HttpCall::default()
        };
        let started = std::time::Instant::now();
        let mut function = spawn_program(&program, &[], &fixture.function_vars(&api, &redis.url()));
        let outcome = api
            .invoke(&call.event(EventKind::ApiGatewayV2), DEADLINE)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let Outcome::Response(payload) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(HttpAnswer::from_payload(&payload).unwrap().status, 201);
        function.kill().await.unwrap();
        // The first run also waits for the worker to claim its shards: not a cold start.
        if run > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    println!(
        "cold start of {} to the first 201, {RUNS} runs: median {:?}, min {:?}, max {:?}",
        program.display(),
        times[RUNS / 2],
        times[0],
        times[RUNS - 1]
    );
    let _ = worker.kill().await;
}
