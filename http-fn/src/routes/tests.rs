//! The router over the demo estate, the embedded store and a running worker: path ids decoded
//! once, ids that name nothing, empty segments, bounded metric labels and handler panics.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actor_worker::WorkerHandle;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::config::{Binary, Config, JwtSettings};
use crate::demo::{DEMO_AUDIENCE, DEMO_ISSUER, DemoKeys};

const SALE: &str = r#"{"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}"#;

/// One key pair for every test: generating RSA keys is slow.
fn keys() -> &'static DemoKeys {
    static KEYS: OnceLock<DemoKeys> = OnceLock::new();
    KEYS.get_or_init(|| DemoKeys::generate().unwrap())
}

fn token(job: &str, locations: &[&str]) -> String {
    let valid = Duration::from_secs(600);
    keys()
        .scoped_token(job, locations, DEMO_ISSUER, DEMO_AUDIENCE, valid)
        .unwrap()
}

/// The public router over the demo estate, with the worker tier in the same process.
struct Fixture {
    state: AppState,
    router: Router,
    _worker: Option<WorkerHandle>,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let vars = [("STOCK_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned())];
        let mut config = Config::from_vars(vars, Binary::HttpFn, true).unwrap();
        config.jwt = Some(JwtSettings {
            public_key_file: "(test)".into(),
            public_key_pem: keys().public_key_pem.clone(),
            issuer: DEMO_ISSUER.to_owned(),
            audience: DEMO_AUDIENCE.to_owned(),
        });
        let (state, worker) = crate::app::wire(&config).await.unwrap();
        Fixture {
            router: router(state.clone()),
            state,
            _worker: worker,
        }
    }

    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
        send(&self.router, method, path, token, body).await
    }

    async fn admin(&self, method: &str, path: &str, body: &str) -> Answer {
        let admin = token("System Administrator", &[]);
        self.send(method, path, Some(&admin), body).await
    }
}

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Answer {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

const NOT_FOUND: &str = r#"{"status":"LocationNotFound"}"#;

#[tokio::test]
async fn a_double_encoded_location_is_an_unknown_location_not_its_decoded_twin() {
    let service = Fixture::new().await;
    let read = service
        .admin("GET", "/locations/Till%25201/products/x", "")
        .await;
    assert_eq!((read.status, read.body.as_str()), (404, NOT_FOUND));
    let path = "/locations/Till%25201/products/x/sales";
    let sale = service.admin("POST", path, SALE).await;
    assert_eq!((sale.status, sale.body.as_str()), (404, NOT_FOUND));
    // Decoded once, the same location is Till 1: untracked, redirected to its tracked ancestor.
    let sale = service
        .admin("POST", "/locations/Till%201/products/x/sales", SALE)
        .await;
    assert_eq!(sale.status, 303);
}

#[tokio::test]
async fn double_encoded_product_ids_are_distinct_products() {
    let service = Fixture::new().await;
    for (raw, product) in [("%2541", "%41"), ("a%252Fb", "a%2Fb")] {
        let path = format!("/locations/Store-001/products/{raw}/sales");
        let body = SALE.replace("r1", raw);
        let sale = service.admin("POST", &path, &body).await;
        assert_eq!(sale.status, 201, "{raw}: {}", sale.body);
        let echoed: serde_json::Value = serde_json::from_str(&sale.body).unwrap();
        assert_eq!(echoed["productId"], product);
    }
    let path = "/locations/Store-001/products/A?includeChildren=false";
    let twin = service.admin("GET", path, "").await;
    assert_eq!(twin.status, 200);
    assert!(!twin.body.contains("pendingAdjustment"), "{}", twin.body);
    let path = "/locations/Store-001/products/%2541?includeChildren=false";
    let own = service.admin("GET", path, "").await;
    assert!(own.body.contains(r#""productId":"%41""#), "{}", own.body);
    assert!(
        own.body.contains(r#""pendingAdjustment":-1.0"#),
        "{}",
        own.body
    );
}

#[tokio::test]
async fn a_token_scoped_to_a_location_is_refused_on_its_double_encoded_name() {
    let service = Fixture::new().await;
    let scoped = token("Warehouse Manager", &["Till 1"]);
    for (method, path, body) in [
        ("GET", "/locations/Till%25201/products/x", ""),
        ("POST", "/locations/Till%25201/products/x/sales", SALE),
        ("POST", "/locations/Till%25201/products/x/counts", SALE),
    ] {
        let answer = service.send(method, path, Some(&scoped), body).await;
        assert_eq!(answer.status, 403, "{method} {path}");
        assert_eq!(answer.body, r#"{"status":"PermissionDenied"}"#);
    }
    let own = service
        .send("GET", "/locations/Till%201/products/x", Some(&scoped), "")
        .await;
    assert_eq!(own.status, 200);
}

#[tokio::test]
async fn a_location_that_is_not_utf8_is_authenticated_first_and_then_names_no_location() {
    let service = Fixture::new().await;
    let path = "/locations/%FF/products/x";
    let anonymous = service.send("GET", path, None, "").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body, r#"{"status":"Unauthorized"}"#);
    let scoped = token("Warehouse Manager", &["\u{FFFD}"]);
    let denied = service.send("GET", path, Some(&scoped), "").await;
    assert_eq!(denied.status, 403);
    let read = service.admin("GET", path, "").await;
    assert_eq!((read.status, read.body.as_str()), (404, NOT_FOUND));
    let sale = service
        .admin("POST", "/locations/%C3%28/products/x/sales", SALE)
        .await;
    assert_eq!((sale.status, sale.body.as_str()), (404, NOT_FOUND));
    let unusable = service
        .admin("POST", "/locations/%FF/deliveries", "{")
        .await;
    assert_eq!(
        unusable.status, 400,
        "the body is checked before the location"
    );
}

#[tokio::test]
async fn a_product_that_is_not_utf8_names_nothing() {
    let service = Fixture::new().await;
    let anonymous = service
        .send("GET", "/locations/WH01/products/%FE", None, "")
        .await;
    assert_eq!(anonymous.status, 401);
    for (method, path, body) in [
        ("GET", "/locations/WH01/products/%FE", ""),
        ("POST", "/locations/WH01/products/%FE/sales", SALE),
    ] {
        let answer = service.admin(method, path, body).await;
        assert_eq!((answer.status, answer.body.as_str()), (404, ""), "{path}");
    }
}

#[tokio::test]
async fn an_empty_segment_matches_no_route() {
    let service = Fixture::new().await;
    for (method, path) in [
        ("POST", "/locations/Store-001/products//sales"),
        ("POST", "/locations//deliveries"),
        ("GET", "/locations//deliveries"),
        ("GET", "/locations//products/x"),
        ("POST", "/locations/WH01//movements"),
        ("POST", "/locations//products/x/counts"),
    ] {
        let answer = service.admin(method, path, SALE).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (404, ""),
            "{method} {path}"
        );
        assert!(answer.headers.get("content-type").is_none());
    }
}

#[tokio::test]
async fn a_product_named_products_can_be_moved_and_one_named_movements_read() {
    let service = Fixture::new().await;
    let delivery = r#"{"requestId":"d1","supplierId":"s","supplierRef":"r","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"products","quantity":5}]}"#;
    let delivered = service
        .admin("POST", "/locations/WH01/deliveries", delivery)
        .await;
    assert_eq!(delivered.status, 201, "{}", delivered.body);
    let movement = r#"{"requestId":"m1","destinationLocationId":"Store-001","quantity":2,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}"#;
    let moved = service
        .admin("POST", "/locations/WH01/products/movements", movement)
        .await;
    assert_eq!(moved.status, 201, "{}", moved.body);
    assert!(
        moved.body.contains(r#""productId":"products""#),
        "{}",
        moved.body
    );
    let read = service
        .admin("GET", "/locations/WH01/products/movements", "")
        .await;
    assert_eq!(read.status, 200);
    assert!(read.body.contains(r#""productId":"movements""#));
    for (method, path, allow) in [
        ("POST", "/locations/WH01/products/p1", "GET,HEAD"),
        ("OPTIONS", "/locations/WH01/products/p1", "GET,HEAD"),
        ("PUT", "/locations/WH01/products/movements", "GET,HEAD,POST"),
    ] {
        let answer = service.admin(method, path, movement).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (405, ""),
            "{method} {path}"
        );
        assert_eq!(answer.headers[header::ALLOW], allow, "{method} {path}");
    }
}

#[tokio::test]
async fn request_metrics_are_labelled_only_with_known_methods_and_route_templates() {
    let service = Fixture::new().await;
    let long_method = "X".repeat(1024);
    for i in 0..50 {
        let path = format!("/{}-{i}/{}", "p".repeat(500), "q".repeat(i));
        service.send(&long_method, &path, None, "").await;
        service.send("GET", &path, None, "").await;
        let method = format!("M{i}");
        service
            .send(&method, &format!("/locations/L{i}/deliveries"), None, "")
            .await;
    }
    let metrics = service.state.metrics().render();
    assert!(!metrics.contains("XXXX"), "a raw method became a label");
    assert!(!metrics.contains("ppp"), "a raw path became a label");
    assert!(!metrics.contains("M7"), "an invented method became a label");
    assert!(metrics.contains(r#"method="other""#));
    assert!(metrics.contains(r#"route="unmatched""#));
    assert!(metrics.contains(r#"route="/locations/{location}/deliveries""#));
}

/// A writer collecting the lines the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_panic_counts_as_a_500_and_is_logged_with_its_message_and_trace_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let (subscriber, _telemetry) = shared::telemetry::subscriber_writing_to(
        shared::config::LogFormat::Json,
        "info",
        move || writer.clone(),
    );
    // The current-thread runtime polls the request on this thread, where the subscriber is.
    let _default = tracing::subscriber::set_default(subscriber);
    let service = Fixture::new().await;
    async fn boom() -> StatusCode {
        panic!("stock pot exploded at bin 42")
    }
    let routes = Router::new().route("/boom", get(boom));
    let panicking = observed(routes, service.state.clone());

    // Callsites first met by a test on another thread while this subscriber was being set up
    // may have cached "not wanted"; a request registers the server span's callsite, and the
    // rebuild makes every cached interest take this subscriber into account.
    send(&panicking, "GET", "/health/live", None, "").await;
    tracing::callsite::rebuild_interest_cache();
    let answer = send(&panicking, "GET", "/boom", None, "").await;
    assert_eq!((answer.status, answer.body.as_str()), (500, ""));

    let metrics = service.state.metrics().render();
    let counted =
        r#"stock_http_request_duration_seconds_count{method="GET",route="/boom",status="500"} 1"#;
    assert!(metrics.contains(counted), "{metrics}");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["message"] == "request handler panicked")
        .unwrap_or_else(|| panic!("no panic line in:\n{text}"));
    assert_eq!(line["level"], "ERROR");
    assert!(
        line.to_string().contains("stock pot exploded at bin 42"),
        "{line}"
    );
    let trace_id = line["trace_id"].as_str().unwrap_or_default();
    assert_eq!(trace_id.len(), 32, "{line}\n{text}");
}
