//! A stand-in for the AWS Lambda Runtime API on a loopback port, so that the real `http-fn`
//! binary runs as a function without AWS: it hands out queued events on
//! `GET /2018-06-01/runtime/invocation/next` (hanging while there are none, as the platform
//! does), collects what the function posts to `…/{id}/response` and `…/{id}/error`, and keeps
//! the reports posted to `/2018-06-01/runtime/init/error`. Also builds the HTTP events the
//! function is invoked with and reads its answers back.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// The deadline handed out with each invocation (the function's configured timeout).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The ARN handed out with each invocation.
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:000000000000:function:stock-api";

/// What the function answered for one invocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Posted to `…/{id}/response`: the raw body.
    Response(Bytes),
    /// Posted to `…/{id}/error`: the `Lambda-Runtime-Function-Error-Type` header and the body.
    Error {
        /// The error type header, if any.
        error_type: Option<String>,
        /// The error body (`{"errorType":…,"errorMessage":…}`).
        body: Value,
    },
}

/// A report posted to `/2018-06-01/runtime/init/error`.
#[derive(Clone, Debug, PartialEq)]
pub struct InitErrorReport {
    /// The `Lambda-Runtime-Function-Error-Type` header.
    pub error_type: Option<String>,
    /// The body.
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<(String, Bytes)>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_errors: Mutex<Vec<InitErrorReport>>,
    reported: Notify,
    next_id: AtomicU64,
    polls: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake Runtime API; stops serving when dropped.
pub struct FakeRuntimeApi {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

impl Drop for FakeRuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl std::fmt::Debug for FakeRuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRuntimeApi")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeRuntimeApi {
    /// Serves on a free loopback port.
    pub async fn start() -> anyhow::Result<FakeRuntimeApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fake Runtime API")?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeRuntimeApi {
            addr,
            inner,
            server,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`: `host:port`, no scheme.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The variables the platform sets for a function using this Runtime API.
    pub fn platform_vars(&self) -> [(String, String); 4] {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_api()),
            ("AWS_LAMBDA_FUNCTION_NAME", "stock-api".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ]
        .map(|(name, value)| (name.to_owned(), value))
    }

    /// How many times a function asked for its next event.
    pub fn polls(&self) -> u64 {
        self.inner.polls.load(Ordering::SeqCst)
    }

    /// Queues `payload` (JSON or not) and waits up to `timeout` for the function's answer.
    pub async fn invoke_raw(&self, payload: Bytes, timeout: Duration) -> anyhow::Result<Outcome> {
        let id = format!(
            "req-{}-{}",
            std::process::id(),
            self.inner.next_id.fetch_add(1, Ordering::SeqCst)
        );
        let (answer, answered) = oneshot::channel();
        lock(&self.inner.waiting).insert(id.clone(), answer);
        lock(&self.inner.queue).push_back((id.clone(), payload));
        self.inner.queued.notify_waiters();
        match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => {
                lock(&self.inner.waiting).remove(&id);
                lock(&self.inner.queue).retain(|(queued, _)| *queued != id);
                bail!("invocation {id}: no answer within {timeout:?}")
            }
        }
    }

    /// Queues the JSON `event` and waits up to `timeout` for the function's answer.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> anyhow::Result<Outcome> {
        self.invoke_raw(Bytes::from(event.to_string()), timeout)
            .await
    }

    /// Waits up to `timeout` for a report on the init-error endpoint.
    pub async fn init_error(&self, timeout: Duration) -> Option<InitErrorReport> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let reported = self.inner.reported.notified();
            if let Some(report) = lock(&self.inner.init_errors).first() {
                return Some(report.clone());
            }
            if tokio::time::timeout_at(deadline, reported).await.is_err() {
                return None;
            }
        }
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    inner.polls.fetch_add(1, Ordering::SeqCst);
    let (id, payload) = loop {
        let queued = inner.queued.notified();
        if let Some(event) = lock(&inner.queue).pop_front() {
            break event;
        }
        queued.await;
    };
    let deadline = SystemTime::now() + INVOCATION_TIMEOUT;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            FUNCTION_ARN.to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, payload).into_response()
}

fn answer(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    match lock(&inner.waiting).remove(id) {
        Some(waiter) => {
            let _ = waiter.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&inner, &id, Outcome::Response(body))
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

async fn error(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let outcome = Outcome::Error {
        error_type: error_type(&headers),
        body,
    };
    answer(&inner, &id, outcome)
}

async fn init_error(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let report = InitErrorReport {
        error_type: error_type(&headers),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    lock(&inner.init_errors).push(report);
    inner.reported.notify_waiters();
    StatusCode::ACCEPTED
}

/// The HTTP request an event carries.
#[derive(Clone, Debug, Default)]
pub struct HttpCall {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The event shapes an HTTP request reaches a function in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// API Gateway HTTP API, payload format 2.0.
    ApiGatewayV2,
    /// API Gateway REST API (payload format 1.0).
    ApiGatewayV1,
    /// Application Load Balancer target group.
    Alb,
    /// Lambda function URL (payload format 2.0, its own request context).
    FunctionUrl,
}

impl HttpCall {
    /// The event of `kind` carrying this request; a non-empty body is base64-encoded.
    pub fn event(&self, kind: EventKind) -> Value {
        let (body, encoded) = if self.body.is_empty() {
            (Value::Null, false)
        } else {
            (Value::String(BASE64.encode(&self.body)), true)
        };
        let mut single = serde_json::Map::new();
        let mut multi: serde_json::Map<String, Value> = serde_json::Map::new();
        for (name, value) in &self.headers {
            let joined = match single.get(name).and_then(Value::as_str) {
                Some(before) => format!("{before},{value}"),
                None => value.clone(),
            };
            single.insert(name.clone(), Value::String(joined));
            if let Some(Value::Array(values)) = multi.get_mut(name) {
                values.push(Value::String(value.clone()));
            } else {
                multi.insert(name.clone(), json!([value]));
            }
        }
        let query = query_pairs(&self.query);
        match kind {
            EventKind::ApiGatewayV2 | EventKind::FunctionUrl => {
                let (domain, api_id) = if kind == EventKind::FunctionUrl {
                    ("abc123.lambda-url.eu-west-1.on.aws", "abc123")
                } else {
                    ("api.example.test", "api1")
                };
                let cookies: Vec<&str> = self
                    .headers
                    .iter()
                    .filter(|(name, _)| name == "cookie")
                    .map(|(_, value)| value.as_str())
                    .collect();
                json!({
                    "version": "2.0",
                    "routeKey": "$default",
                    "rawPath": self.path,
                    "rawQueryString": self.query,
                    "cookies": cookies,
                    "headers": single,
                    "queryStringParameters": first_values(&query),
                    "requestContext": {
                        "accountId": "000000000000",
                        "apiId": api_id,
                        "domainName": domain,
                        "domainPrefix": api_id,
                        "http": {
                            "method": self.method,
                            "path": self.path,
                            "protocol": "HTTP/1.1",
                            "sourceIp": "127.0.0.1",
                            "userAgent": "features"
                        },
                        "requestId": "r",
                        "routeKey": "$default",
                        "stage": "$default",
                        "time": "05/Dec/2026:12:00:00 +0000",
                        "timeEpoch": 1_796_472_000_000_u64
                    },
                    "body": body,
                    "isBase64Encoded": encoded
                })
            }
            EventKind::ApiGatewayV1 => json!({
                "resource": "/{proxy+}",
                "path": self.path,
                "httpMethod": self.method,
                "headers": single,
                "multiValueHeaders": multi,
                "queryStringParameters": first_values(&query),
                "multiValueQueryStringParameters": all_values(&query),
                "pathParameters": {"proxy": self.path.trim_start_matches('/')},
                "stageVariables": null,
                "requestContext": {
                    "accountId": "000000000000",
                    "resourceId": "res",
                    "stage": "prod",
                    "requestId": "r",
                    "identity": {"sourceIp": "127.0.0.1"},
                    "resourcePath": "/{proxy+}",
                    "httpMethod": self.method,
                    "apiId": "api1",
                    "path": format!("/prod{}", self.path)
                },
                "body": body,
                "isBase64Encoded": encoded
            }),
            EventKind::Alb => json!({
                "requestContext": {"elb": {"targetGroupArn":
                    "arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/stock/1"}},
                "httpMethod": self.method,
                "path": self.path,
                "queryStringParameters": first_values(&query),
                "headers": single,
                "body": body,
                "isBase64Encoded": encoded
            }),
        }
    }
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn first_values(pairs: &[(String, String)]) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in pairs {
        map.entry(name.clone())
            .or_insert_with(|| Value::String(value.clone()));
    }
    Value::Object(map)
}

fn all_values(pairs: &[(String, String)]) -> Value {
    let mut map: serde_json::Map<String, Value> = serde_json::Map::new();
    for (name, value) in pairs {
        if let Some(Value::Array(values)) = map.get_mut(name) {
            values.push(Value::String(value.clone()));
        } else {
            map.insert(name.clone(), json!([value]));
        }
    }
    Value::Object(map)
}

/// An HTTP answer read back from a function's response payload.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values; multi-value headers and cookies one per entry.
    pub headers: Vec<(String, String)>,
    /// The body, base64-decoded where the payload says so.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// Reads the answer of any of the HTTP event kinds.
    pub fn from_payload(payload: &[u8]) -> anyhow::Result<HttpAnswer> {
        let value: Value = serde_json::from_slice(payload).context("response is not JSON")?;
        let status = value
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| anyhow!("response has no statusCode: {value}"))?;
        let mut headers = Vec::new();
        if let Some(Value::Object(multi)) = value.get("multiValueHeaders") {
            for (name, values) in multi {
                for value in values.as_array().into_iter().flatten() {
                    let value = value.as_str().unwrap_or_default().to_owned();
                    headers.push((name.to_ascii_lowercase(), value));
                }
            }
        }
        if let Some(Value::Object(single)) = value.get("headers") {
            for (name, value) in single {
                let name = name.to_ascii_lowercase();
                if !headers.iter().any(|(known, _)| *known == name) {
                    headers.push((name, value.as_str().unwrap_or_default().to_owned()));
                }
            }
        }
        for cookie in value
            .get("cookies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cookie = cookie.as_str().unwrap_or_default().to_owned();
            headers.push(("set-cookie".to_owned(), cookie));
        }
        let text = value
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = if value.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
            BASE64.decode(text).context("response body is not base64")?
        } else {
            text.as_bytes().to_vec()
        };
        Ok(HttpAnswer {
            status,
            headers,
            body,
        })
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_http_event_carries_method_path_query_headers_and_a_base64_body() {
        let call = HttpCall {
            method: "POST".into(),
            path: "/locations/a/deliveries".into(),
            query: "x=1&x=2".into(),
            headers: vec![("x-h".into(), "1".into()), ("x-h".into(), "2".into())],
            body: b"{}".to_vec(),
        };
        for kind in [
            EventKind::ApiGatewayV2,
            EventKind::ApiGatewayV1,
            EventKind::Alb,
            EventKind::FunctionUrl,
        ] {
            let event = call.event(kind);
            assert_eq!(event["body"], "e30=", "{kind:?}");
            assert_eq!(event["isBase64Encoded"], true);
            assert_eq!(event["headers"]["x-h"], "1,2");
        }
        assert_eq!(
            call.event(EventKind::ApiGatewayV1)["multiValueHeaders"]["x-h"],
            json!(["1", "2"])
        );
        assert_eq!(
            call.event(EventKind::ApiGatewayV2)["rawQueryString"],
            "x=1&x=2"
        );
    }

    #[test]
    fn an_answer_is_read_from_single_and_multi_value_headers_and_a_base64_body() {
        let payload = br#"{"statusCode":201,"headers":{"Content-Type":"application/json"},
            "multiValueHeaders":{"x-m":["1","2"]},"cookies":["a=b"],"body":"e30=","isBase64Encoded":true}"#;
        let answer = HttpAnswer::from_payload(payload).unwrap();
        assert_eq!(answer.status, 201);
        assert_eq!(answer.body, b"{}");
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.headers.iter().filter(|(n, _)| n == "x-m").count(), 2);
        assert_eq!(answer.header("set-cookie"), Some("a=b"));
        assert!(HttpAnswer::from_payload(b"{}").is_err());
    }
}
