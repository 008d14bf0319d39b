//! The Location API client against a scripted Location API on loopback (`docs/api.md` §15).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_fn::config::LocationApiSettings;
use http_fn::locations::{LocationApiClient, LocationError, LocationSource};
use shared::metrics::Metrics;

// ---------------------------------------------------------------------------------------------
// The scripted Location API
// ---------------------------------------------------------------------------------------------

/// One scripted answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    delay: Duration,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    fn ok(body: &str) -> Reply {
        Reply {
            body: body.to_owned(),
            ..Reply::status(200)
        }
        .header("content-type", "application/json")
    }

    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// A request the scripted Location API received.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    /// Path and query exactly as sent (still percent-encoded).
    target: String,
    headers: HeaderMap,
    at: Instant,
}

#[derive(Default)]
struct Scripts {
    /// Replies by path and query; the last one of each list repeats forever.
    replies: HashMap<String, VecDeque<Reply>>,
    calls: Vec<Recorded>,
}

/// A Location API on `127.0.0.1:0` whose answers each test scripts; unknown targets answer 404.
#[derive(Clone, Default)]
struct FakeLocationApi {
    scripts: Arc<Mutex<Scripts>>,
}

impl FakeLocationApi {
    /// Starts serving; returns the server and its base URL.
    async fn start() -> (FakeLocationApi, String) {
        init_logging();
        let fake = FakeLocationApi::default();
        let app = Router::new().fallback(answer).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, format!("http://{addr}"))
    }

    /// Scripts the answers to `target` (path and query), in order; the last repeats.
    fn on(&self, target: &str, replies: impl IntoIterator<Item = Reply>) {
        let replies: VecDeque<Reply> = replies.into_iter().collect();
        assert!(!replies.is_empty());
        let mut scripts = self.scripts.lock().unwrap();
        scripts.replies.insert(target.to_owned(), replies);
    }

    fn calls(&self) -> Vec<Recorded> {
        self.scripts.lock().unwrap().calls.clone()
    }

    fn calls_to(&self, target: &str) -> usize {
        self.calls().iter().filter(|c| c.target == target).count()
    }

    fn targets(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.target).collect()
    }
}

async fn answer(
    State(fake): State<FakeLocationApi>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let reply = {
        let mut scripts = fake.scripts.lock().unwrap();
        scripts.calls.push(Recorded {
            method,
            target: target.clone(),
            headers,
            at: Instant::now(),
        });
        match scripts.replies.get_mut(&target) {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => None,
        }
    };
    let reply = reply.unwrap_or_else(|| Reply::status(404));
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A port on which nothing listens: connections are refused.
async fn refused_base_url() -> String {
    init_logging();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Fast retries and a breaker that stays out of the way unless a test sets it up.
fn settings() -> LocationApiSettings {
    LocationApiSettings {
        max_attempts: 3,
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
        backoff_multiplier: 2.0,
        failure_threshold: 1000,
        quiet_period: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_millis(500),
    }
}

fn breaker(attempts: u32, threshold: u32, quiet_ms: u64) -> LocationApiSettings {
    LocationApiSettings {
        max_attempts: attempts,
        failure_threshold: threshold,
        quiet_period: Duration::from_millis(quiet_ms),
        ..settings()
    }
}

fn client_of(base_url: &str, settings: &LocationApiSettings) -> LocationApiClient {
    init_logging();
    LocationApiClient::new(base_url, settings, Metrics::new()).unwrap()
}

async fn started(settings: &LocationApiSettings) -> (FakeLocationApi, LocationApiClient) {
    let (fake, base) = FakeLocationApi::start().await;
    (fake, client_of(&base, settings))
}

fn is_unavailable<T: std::fmt::Debug>(result: &Result<T, LocationError>) -> bool {
    matches!(result, Err(LocationError::Unavailable(_)))
}

fn is_not_found<T: std::fmt::Debug>(result: &Result<T, LocationError>) -> bool {
    matches!(result, Err(LocationError::NotFound))
}

/// Polls `condition` every few milliseconds until it holds; fails after five seconds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn timed<T>(future: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let result = future.await;
    (result, started.elapsed())
}

/// Asserts `measured` is `expected` within scheduling noise: never shorter, at most 150 ms longer.
fn assert_about(measured: Duration, expected_ms: u64, what: &str) {
    let expected = Duration::from_millis(expected_ms);
    assert!(
        measured + Duration::from_millis(5) >= expected
            && measured <= expected + Duration::from_millis(150),
        "{what}: measured {measured:?}, expected about {expected:?}"
    );
}

const TRACKED: &str = r#"{"id":"A","roles":["TrackedInventoryLocation"]}"#;

// ---------------------------------------------------------------------------------------------
// Calls (§2)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_call_uses_its_path_with_the_id_percent_encoded() {
    let (fake, client) = started(&settings()).await;
    for target in [
        "/locations/Central%20Store",
        "/locations/Central%20Store/children",
        "/locations/Central%20Store/children?depth=1",
        "/locations/Central%20Store/path",
        "/health",
    ] {
        fake.on(target, [Reply::ok("{}")]);
    }
    client.location("Central Store").await.unwrap();
    client.tree("Central Store", false).await.unwrap();
    client.tree("Central Store", true).await.unwrap();
    client.path("Central Store").await.unwrap();
    assert!(client.healthy().await);
    assert_eq!(
        fake.targets(),
        [
            "/locations/Central%20Store",
            "/locations/Central%20Store/children",
            "/locations/Central%20Store/children?depth=1",
            "/locations/Central%20Store/path",
            "/health",
        ]
    );
}

#[tokio::test]
async fn reserved_and_non_ascii_bytes_of_an_id_are_percent_encoded() {
    let (fake, client) = started(&settings()).await;
    fake.on("/locations/a%2Fb%3F%23%25%C3%A9~._-", [Reply::ok("{}")]);
    client.location("a/b?#%é~._-").await.unwrap();
    assert_eq!(fake.targets(), ["/locations/a%2Fb%3F%23%25%C3%A9~._-"]);
}

#[tokio::test]
async fn every_call_is_a_get_that_accepts_json() {
    let (fake, client) = started(&settings()).await;
    fake.on("/locations/A", [Reply::ok(TRACKED)]);
    fake.on("/health", [Reply::status(200)]);
    client.location("A").await.unwrap();
    let _ = client.tree("A", true).await;
    let _ = client.path("A").await;
    client.healthy().await;
    let calls = fake.calls();
    assert_eq!(calls.len(), 4);
    for call in calls {
        assert_eq!(call.method, Method::GET, "{}", call.target);
        let accept: Vec<_> = call.headers.get_all("accept").iter().collect();
        assert_eq!(accept, ["application/json"], "{}", call.target);
    }
}

#[tokio::test]
async fn a_base_url_with_a_path_prefixes_every_call() {
    let (fake, base) = FakeLocationApi::start().await;
    let client = client_of(&format!("{base}/location-api/"), &settings());
    fake.on("/location-api/locations/A", [Reply::ok("{}")]);
    fake.on("/location-api/health", [Reply::status(204)]);
    client.location("A").await.unwrap();
    assert!(client.healthy().await);
    assert_eq!(
        fake.targets(),
        ["/location-api/locations/A", "/location-api/health"]
    );
}

// ---------------------------------------------------------------------------------------------
// Response shapes (§3)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_location_is_tracked_iff_its_roles_hold_the_tracked_role() {
    let (fake, client) = started(&settings()).await;
    let bodies = [
        (
            "A",
            r#"{"id":"A","name":"A","roles":["Shop","TrackedInventoryLocation"],"x":[1]}"#,
            true,
        ),
        (
            "B",
            r#"{"id":"B","roles":["trackedinventorylocation"]}"#,
            false,
        ),
        ("C", r#"{"id":"C","roles":null}"#, false),
        ("D", "{}", false),
        ("E", "not json at all", false),
        ("F", "", false),
        ("G", "[1,2]", false),
    ];
    for (id, body, _) in bodies {
        fake.on(&format!("/locations/{id}"), [Reply::ok(body)]);
    }
    for (id, body, tracked) in bodies {
        let info = client.location(id).await.unwrap();
        assert_eq!(info.tracked, tracked, "{body}");
    }
}

#[tokio::test]
async fn a_tree_keeps_child_order_and_defaults_missing_fields() {
    let (fake, client) = started(&settings()).await;
    fake.on(
        "/locations/DC01/children",
        [Reply::ok(
            r#"{"id":"DC01","roles":["TrackedInventoryLocation"],"createdAt":"2024-12-15T12:34:56Z",
                "children":[{"id":"WH02","roles":null,"children":[{"id":"X"}]},
                            {"id":"WH01","roles":["TrackedInventoryLocation"],"children":null}]}"#,
        )],
    );
    fake.on("/locations/E/children?depth=1", [Reply::ok("{}")]);
    fake.on("/locations/F/children", [Reply::ok("<html>oops</html>")]);
    let tree = client.tree("DC01", false).await.unwrap();
    assert_eq!(tree.id, "DC01");
    assert!(tree.tracked);
    let ids: Vec<&str> = tree.children.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["WH02", "WH01"]);
    assert!(!tree.children[0].tracked);
    assert_eq!(tree.children[0].children[0].id, "X");
    assert!(tree.children[1].tracked && tree.children[1].children.is_empty());
    let empty = client.tree("E", true).await.unwrap();
    assert_eq!((empty.id.as_str(), empty.tracked), ("", false));
    assert!(empty.children.is_empty());
    assert!(client.tree("F", false).await.unwrap().children.is_empty());
}

#[tokio::test]
async fn a_path_is_read_root_first_and_an_unreadable_one_is_empty() {
    let (fake, client) = started(&settings()).await;
    fake.on(
        "/locations/untracked1/path",
        [Reply::ok(
            r#"[{"id":"warehouse1","name":"warehouse1","roles":["TrackedInventoryLocation"]},
                {"id":"untracked1","name":"untracked1","roles":[]}]"#,
        )],
    );
    fake.on("/locations/X/path", [Reply::ok("nonsense")]);
    let path = client.path("untracked1").await.unwrap();
    let entries: Vec<(&str, bool)> = path.iter().map(|e| (e.id.as_str(), e.tracked)).collect();
    assert_eq!(entries, [("warehouse1", true), ("untracked1", false)]);
    assert!(client.path("X").await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Mapping (§4) and retries (§5.2)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_404_is_not_found_on_every_call_and_is_not_retried() {
    let (fake, client) = started(&settings()).await;
    assert!(is_not_found(&client.location("nope").await));
    assert!(is_not_found(&client.tree("nope", false).await));
    assert!(is_not_found(&client.tree("nope", true).await));
    assert!(is_not_found(&client.path("nope").await));
    assert_eq!(fake.calls().len(), 4);
}

#[tokio::test]
async fn every_persistent_5xx_is_retried_up_to_the_attempt_budget_then_unavailable() {
    let (fake, client) = started(&settings()).await;
    for status in [500, 501, 502, 503, 504, 505] {
        let target = format!("/locations/S{status}");
        fake.on(&target, [Reply::status(status)]);
        let result = client.location(&format!("S{status}")).await;
        assert!(is_unavailable(&result), "{status}: {result:?}");
        assert_eq!(fake.calls_to(&target), 3, "{status}");
    }
}

#[tokio::test]
async fn two_500s_then_a_200_succeed_after_exactly_three_calls() {
    let (fake, client) = started(&settings()).await;
    fake.on(
        "/locations/A",
        [Reply::status(500), Reply::status(500), Reply::ok(TRACKED)],
    );
    assert!(client.location("A").await.unwrap().tracked);
    assert_eq!(fake.calls_to("/locations/A"), 3);
}

#[tokio::test]
async fn children_and_path_calls_follow_the_same_mapping() {
    let (fake, client) = started(&settings()).await;
    fake.on("/locations/A/children", [Reply::status(503)]);
    fake.on("/locations/A/children?depth=1", [Reply::status(403)]);
    fake.on("/locations/A/path", [Reply::status(502), Reply::ok("[]")]);
    assert!(is_unavailable(&client.tree("A", false).await));
    assert!(is_unavailable(&client.tree("A", true).await));
    assert!(client.path("A").await.unwrap().is_empty());
    assert_eq!(fake.calls_to("/locations/A/children"), 3);
    assert_eq!(fake.calls_to("/locations/A/children?depth=1"), 1);
    assert_eq!(fake.calls_to("/locations/A/path"), 2);
}

#[tokio::test]
async fn other_non_2xx_answers_are_unavailable_without_retry() {
    let (fake, client) = started(&settings()).await;
    for status in [300, 301, 302, 304, 307, 400, 401, 403, 405, 409, 410, 429] {
        let target = format!("/locations/S{status}");
        let reply = Reply::status(status).header("location", "/locations/elsewhere");
        fake.on(&target, [reply]);
        let result = client.location(&format!("S{status}")).await;
        assert!(is_unavailable(&result), "{status}: {result:?}");
        assert_eq!(fake.calls_to(&target), 1, "{status}");
    }
    assert_eq!(
        fake.calls_to("/locations/elsewhere"),
        0,
        "redirects are not followed"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_unavailable() {
    let metrics = Metrics::new();
    let client =
        LocationApiClient::new(&refused_base_url().await, &settings(), metrics.clone()).unwrap();
    let (result, elapsed) = timed(client.location("A")).await;
    assert!(is_unavailable(&result), "{result:?}");
    // Two retry delays (50 ms, 100 ms) were waited for.
    assert!(elapsed >= Duration::from_millis(145), "{elapsed:?}");
    assert!(
        metrics
            .render()
            .contains(r#"stock_location_api_requests_total{call="location",outcome="error"} 3"#),
        "{}",
        metrics.render()
    );
}

#[tokio::test]
async fn a_timeout_is_retried_then_unavailable() {
    let settings = LocationApiSettings {
        request_timeout: Duration::from_millis(150),
        ..settings()
    };
    let (fake, client) = started(&settings).await;
    fake.on(
        "/locations/Slow",
        [Reply::ok(TRACKED).delayed(Duration::from_secs(2))],
    );
    let (result, elapsed) = timed(client.location("Slow")).await;
    assert!(is_unavailable(&result), "{result:?}");
    assert_eq!(fake.calls_to("/locations/Slow"), 3);
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[tokio::test]
async fn a_slow_answer_within_the_request_timeout_is_used() {
    let (fake, client) = started(&settings()).await;
    fake.on(
        "/locations/A",
        [Reply::ok(TRACKED).delayed(Duration::from_millis(100))],
    );
    assert!(client.location("A").await.unwrap().tracked);
    assert_eq!(fake.calls().len(), 1);
}

#[tokio::test]
async fn retries_wait_exponentially_growing_delays_capped_at_the_maximum() {
    let settings = LocationApiSettings {
        max_attempts: 4,
        initial_delay: Duration::from_millis(50),
        backoff_multiplier: 2.0,
        max_delay: Duration::from_millis(150),
        ..settings()
    };
    let (fake, client) = started(&settings).await;
    fake.on("/locations/A", [Reply::status(503)]);
    assert!(is_unavailable(&client.location("A").await));
    let calls = fake.calls();
    assert_eq!(calls.len(), 4);
    for (i, expected) in [50, 100, 150].into_iter().enumerate() {
        let gap = calls[i + 1].at - calls[i].at;
        assert_about(gap, expected, &format!("delay before retry {}", i + 1));
    }
}

#[tokio::test]
async fn the_default_policy_waits_100_then_200_ms() {
    let settings = LocationApiSettings {
        failure_threshold: 1000,
        ..LocationApiSettings::default()
    };
    let (fake, client) = started(&settings).await;
    fake.on("/locations/A", [Reply::status(500)]);
    assert!(is_unavailable(&client.location("A").await));
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    assert_about(calls[1].at - calls[0].at, 100, "first retry");
    assert_about(calls[2].at - calls[1].at, 200, "second retry");
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker (§5.3)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn nine_always_failing_requests_at_threshold_three_make_three_calls() {
    let (fake, client) = started(&breaker(1, 3, 60_000)).await;
    fake.on("/locations/A", [Reply::status(500)]);
    for _ in 0..9 {
        assert!(is_unavailable(&client.location("A").await));
    }
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn successes_and_non_failure_answers_reset_the_consecutive_failures() {
    let (fake, client) = started(&breaker(1, 3, 60_000)).await;
    fake.on(
        "/locations/A",
        [
            Reply::status(500),
            Reply::status(503),
            Reply::status(404),
            Reply::status(502),
            Reply::status(504),
            Reply::status(501),
            Reply::status(500),
            Reply::status(500),
            Reply::status(429),
            Reply::ok("{}"),
        ],
    );
    for _ in 0..10 {
        let _ = client.location("A").await;
    }
    assert_eq!(fake.calls().len(), 10, "the breaker never opened");
}

#[tokio::test]
async fn an_open_breaker_fails_fast_without_calling_or_waiting() {
    let settings = LocationApiSettings {
        initial_delay: Duration::from_millis(200),
        ..breaker(3, 3, 60_000)
    };
    let (fake, client) = started(&settings).await;
    fake.on("/locations/A", [Reply::status(503)]);
    assert!(is_unavailable(&client.location("A").await));
    assert_eq!(fake.calls().len(), 3);
    let (result, elapsed) = timed(client.location("A")).await;
    assert!(is_unavailable(&result));
    assert!(elapsed < Duration::from_millis(100), "{elapsed:?}");
    assert!(is_unavailable(&client.path("B").await));
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn a_call_ends_at_once_when_the_breaker_opens_between_its_attempts() {
    let settings = LocationApiSettings {
        initial_delay: Duration::from_millis(300),
        max_delay: Duration::from_millis(300),
        ..breaker(3, 4, 60_000)
    };
    let (fake, client) = started(&settings).await;
    fake.on("/locations/A", [Reply::status(500)]);
    assert!(is_unavailable(&client.location("A").await));
    let (result, elapsed) = timed(client.location("A")).await;
    assert!(is_unavailable(&result));
    assert_eq!(
        fake.calls().len(),
        4,
        "the fourth failure opened the breaker"
    );
    assert!(elapsed < Duration::from_millis(200), "{elapsed:?}");
}

#[tokio::test]
async fn after_the_quiet_period_a_successful_trial_closes_the_breaker() {
    let (fake, client) = started(&breaker(1, 2, 150)).await;
    fake.on("/locations/A", [Reply::status(500)]);
    assert!(is_unavailable(&client.location("A").await));
    assert!(is_unavailable(&client.location("A").await));
    assert!(is_unavailable(&client.location("A").await));
    assert_eq!(fake.calls().len(), 2, "open after two failures");
    fake.on("/locations/A", [Reply::ok(TRACKED)]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client.location("A").await.unwrap().tracked);
    assert!(client.location("A").await.unwrap().tracked);
    assert_eq!(fake.calls().len(), 4);
}

#[tokio::test]
async fn a_failed_trial_opens_the_breaker_for_another_quiet_period() {
    let (fake, client) = started(&breaker(1, 2, 150)).await;
    fake.on("/locations/A", [Reply::status(500)]);
    let _ = client.location("A").await;
    let _ = client.location("A").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(is_unavailable(&client.location("A").await));
    assert_eq!(fake.calls().len(), 3, "the trial was sent");
    assert!(is_unavailable(&client.location("A").await));
    assert_eq!(fake.calls().len(), 3, "open again");
    fake.on("/locations/A", [Reply::ok("{}")]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client.location("A").await.is_ok());
    assert_eq!(fake.calls().len(), 4);
}

#[tokio::test]
async fn attempts_during_the_trial_are_rejected() {
    let (fake, client) = started(&breaker(1, 2, 150)).await;
    let client = Arc::new(client);
    fake.on("/locations/A", [Reply::status(500)]);
    let _ = client.location("A").await;
    let _ = client.location("A").await;
    fake.on(
        "/locations/A",
        [Reply::ok(TRACKED).delayed(Duration::from_millis(300))],
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let trial = tokio::spawn({
        let client = Arc::clone(&client);
        async move { client.location("A").await }
    });
    eventually("the trial call", || fake.calls().len() == 3).await;
    let (during, elapsed) = timed(client.location("A")).await;
    assert!(is_unavailable(&during));
    assert!(elapsed < Duration::from_millis(100), "{elapsed:?}");
    assert!(!client.healthy().await);
    assert_eq!(fake.calls().len(), 3, "nothing sent during the trial");
    assert!(trial.await.unwrap().unwrap().tracked);
    assert!(client.location("A").await.is_ok());
    assert_eq!(fake.calls().len(), 4);
}

#[tokio::test]
async fn an_abandoned_trial_does_not_leave_the_breaker_half_open() {
    let (fake, client) = started(&breaker(1, 1, 100)).await;
    fake.on("/locations/A", [Reply::status(500)]);
    let _ = client.location("A").await;
    fake.on(
        "/locations/A",
        [
            Reply::ok("{}").delayed(Duration::from_millis(300)),
            Reply::ok("{}"),
        ],
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let abandoned = tokio::time::timeout(Duration::from_millis(50), client.location("A")).await;
    assert!(abandoned.is_err(), "the trial was cut short");
    assert!(client.location("A").await.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Health (§4, docs/api.md §10)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_is_up_only_on_a_2xx_answer() {
    let (fake, client) = started(&breaker(1, 1000, 60_000)).await;
    for (status, up) in [
        (200, true),
        (204, true),
        (404, false),
        (500, false),
        (401, false),
    ] {
        fake.on("/health", [Reply::status(status)]);
        assert_eq!(client.healthy().await, up, "{status}");
    }
    let down = client_of(&refused_base_url().await, &settings());
    assert!(!down.healthy().await);
}

#[tokio::test]
async fn health_is_down_without_a_call_while_the_breaker_is_open() {
    let (fake, client) = started(&breaker(1, 2, 60_000)).await;
    fake.on("/locations/A", [Reply::status(503)]);
    fake.on("/health", [Reply::status(200)]);
    let _ = client.location("A").await;
    let _ = client.location("A").await;
    assert!(!client.healthy().await);
    assert_eq!(fake.calls_to("/health"), 0);
}

// ---------------------------------------------------------------------------------------------
// HTTP cache (§6)
// ---------------------------------------------------------------------------------------------

async fn calls_for_five_requests(reply: Reply) -> usize {
    let (fake, client) = started(&settings()).await;
    fake.on("/locations/A", [reply]);
    for _ in 0..5 {
        assert!(client.location("A").await.unwrap().tracked);
    }
    fake.calls().len()
}

#[tokio::test]
async fn a_max_age_answer_is_reused_without_a_call() {
    let reply = Reply::ok(TRACKED).header("cache-control", "max-age=3600");
    assert_eq!(calls_for_five_requests(reply).await, 1);
}

#[tokio::test]
async fn no_cache_and_no_store_answers_are_fetched_every_time() {
    for value in ["no-cache", "no-store", "max-age=3600, no-cache"] {
        let reply = Reply::ok(TRACKED).header("cache-control", value);
        assert_eq!(calls_for_five_requests(reply).await, 5, "{value}");
    }
}

#[tokio::test]
async fn answers_without_caching_headers_are_not_reused() {
    assert_eq!(calls_for_five_requests(Reply::ok(TRACKED)).await, 5);
}

#[tokio::test]
async fn expires_without_max_age_keeps_an_answer_until_then() {
    let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    let reply = Reply::ok(TRACKED).header("expires", &later);
    assert_eq!(calls_for_five_requests(reply).await, 1);
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
    let reply = Reply::ok(TRACKED).header("expires", &past);
    assert_eq!(calls_for_five_requests(reply).await, 5);
}

#[tokio::test]
async fn a_max_age_answer_is_fetched_again_once_stale() {
    let (fake, client) = started(&settings()).await;
    fake.on(
        "/locations/A",
        [Reply::ok(TRACKED).header("cache-control", "max-age=1")],
    );
    client.location("A").await.unwrap();
    client.location("A").await.unwrap();
    assert_eq!(fake.calls().len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.location("A").await.unwrap();
    assert_eq!(fake.calls().len(), 2);
}

#[tokio::test]
async fn each_url_is_cached_on_its_own() {
    let (fake, client) = started(&settings()).await;
    let fresh = |body: &str| Reply::ok(body).header("cache-control", "max-age=3600");
    fake.on("/locations/A", [fresh(TRACKED)]);
    fake.on("/locations/A/children", [fresh(TRACKED)]);
    fake.on("/locations/A/children?depth=1", [fresh(TRACKED)]);
    fake.on("/locations/A/path", [fresh("[]")]);
    fake.on("/locations/B", [fresh("{}")]);
    for _ in 0..3 {
        client.location("A").await.unwrap();
        client.tree("A", false).await.unwrap();
        client.tree("A", true).await.unwrap();
        client.path("A").await.unwrap();
        client.location("B").await.unwrap();
    }
    assert_eq!(
        fake.targets(),
        [
            "/locations/A",
            "/locations/A/children",
            "/locations/A/children?depth=1",
            "/locations/A/path",
            "/locations/B",
        ]
    );
}

#[tokio::test]
async fn non_2xx_answers_are_not_cached() {
    let (fake, client) = started(&breaker(1, 1000, 60_000)).await;
    fake.on(
        "/locations/Gone",
        [Reply::status(404).header("cache-control", "max-age=3600")],
    );
    fake.on(
        "/locations/Broken",
        [Reply::status(500).header("cache-control", "max-age=3600")],
    );
    fake.on(
        "/locations/Teapot",
        [Reply::status(418).header("cache-control", "max-age=3600")],
    );
    for _ in 0..2 {
        assert!(is_not_found(&client.location("Gone").await));
        assert!(is_unavailable(&client.location("Broken").await));
        assert!(is_unavailable(&client.location("Teapot").await));
    }
    assert_eq!(fake.calls().len(), 6);
}

#[tokio::test]
async fn a_fresh_cached_answer_is_served_while_the_location_api_is_down() {
    let (fake, client) = started(&breaker(1, 1, 60_000)).await;
    fake.on(
        "/locations/A",
        [Reply::ok(TRACKED).header("cache-control", "max-age=3600")],
    );
    fake.on("/locations/B", [Reply::status(503)]);
    client.location("A").await.unwrap();
    assert!(is_unavailable(&client.location("B").await));
    assert!(client.location("A").await.unwrap().tracked);
    assert_eq!(fake.calls().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Metrics and logs (docs/architecture.md §16.2.2, §16.3)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn attempts_retries_cache_hits_and_breaker_state_are_exported() {
    let (fake, base) = FakeLocationApi::start().await;
    let metrics = Metrics::new();
    let client = LocationApiClient::new(&base, &breaker(3, 3, 60_000), metrics.clone()).unwrap();
    fake.on(
        "/locations/A",
        [Reply::ok(TRACKED).header("cache-control", "max-age=3600")],
    );
    fake.on("/locations/B/path", [Reply::status(503)]);
    client.location("A").await.unwrap();
    client.location("A").await.unwrap();
    let _ = client.path("B").await;
    let _ = client.path("B").await;
    let text = metrics.render();
    for line in [
        r#"stock_location_api_requests_total{call="location",outcome="2xx"} 1"#,
        r#"stock_location_api_requests_total{call="path",outcome="5xx"} 3"#,
        r#"stock_location_api_retries_total{call="path"} 2"#,
        r#"stock_location_api_cache_hits_total{call="location"} 1"#,
        r#"stock_location_api_circuit_breaker_rejections_total{call="path"} 1"#,
        "stock_location_api_circuit_breaker_state 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

/// Log output captured from the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

thread_local! {
    /// Where log lines written on this thread go, if anywhere.
    static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// The writer of the process-wide subscriber: appends to the current thread's capture, if any.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(captured) = &*capture.borrow() {
                captured.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs one process-wide DEBUG subscriber before any client logs. A global subscriber, not a
/// scoped one: tracing caches per call site whether anyone listens, and tests running in parallel
/// would otherwise race that cache against a scoped subscriber.
fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| ThreadWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// Captures the log lines written on this thread from now on (a current-thread Tokio test runs
/// everything it awaits on its own thread).
fn capture_logs() -> Captured {
    init_logging();
    let captured = Captured::default();
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(captured.clone()));
    captured
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    fn warn_lines_with(&self, words: &[&str]) -> usize {
        self.lines()
            .iter()
            .filter(|line| line.contains("WARN") && words.iter().all(|w| line.contains(w)))
            .count()
    }
}

#[tokio::test]
async fn breaker_transitions_rejections_and_exhausted_retries_are_logged() {
    let captured = capture_logs();

    let (fake, client) = started(&breaker(2, 2, 150)).await;
    fake.on("/locations/A", [Reply::status(503)]);
    let _ = client.location("A").await;
    assert_eq!(captured.warn_lines_with(&["retries exhausted", "503"]), 1);
    assert_eq!(captured.warn_lines_with(&["circuit breaker opened"]), 1);
    let _ = client.location("A").await;
    assert_eq!(
        captured.warn_lines_with(&["circuit breaker still opened", "attempt rejected"]),
        1
    );
    // The transition alone answers a search for it.
    assert_eq!(captured.warn_lines_with(&["circuit breaker opened"]), 1);
    fake.on("/locations/A", [Reply::ok("{}")]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.location("A").await.unwrap();
    assert_eq!(captured.warn_lines_with(&["circuit breaker half-open"]), 1);
    assert_eq!(captured.warn_lines_with(&["circuit breaker closed"]), 1);
    let debug = captured
        .lines()
        .into_iter()
        .filter(|line| line.contains("DEBUG") && line.contains("Location API call"))
        .collect::<Vec<_>>();
    assert!(
        debug.iter().any(|line| line.contains("/locations/A")
            && line.contains("status=200")
            && line.contains("attempt=1")),
        "{:#?}",
        captured.lines()
    );
}
