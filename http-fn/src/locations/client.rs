//! The Location API over HTTP (`docs/api.md` §15.2–§15.6): retries, circuit breaker and cache.

use std::time::{Instant, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use shared::encoding::path_segment;
use shared::metrics::Metrics;

use super::breaker::{CircuitBreaker, SharedBreaker};
use super::cache::{ACCEPT_JSON, HttpCache};
use super::retry::{AttemptOutcome, RetryPolicy};
use super::{LocationError, LocationInfo, LocationNode, LocationSource};
use super::{parse_location_object, parse_path_array};
use crate::config::LocationApiSettings;
use crate::telemetry::{clip, current_traceparent};

/// Attempts per call and their outcome (`call`, `outcome`: status class, `timeout` or `error`).
pub const REQUESTS_TOTAL: &str = "stock_location_api_requests_total";
/// Retries (attempts after the first) per call.
pub const RETRIES_TOTAL: &str = "stock_location_api_retries_total";
/// Calls answered from the HTTP cache without contacting the Location API.
pub const CACHE_HITS_TOTAL: &str = "stock_location_api_cache_hits_total";
/// Attempts rejected by the open circuit breaker (the Location API was not contacted).
pub const REJECTED_TOTAL: &str = "stock_location_api_circuit_breaker_rejections_total";
/// The breaker's state: 0 closed, 1 open, 2 half-open.
pub const BREAKER_STATE: &str = "stock_location_api_circuit_breaker_state";

/// The Location API client of one process: one retry policy, one circuit breaker and one private
/// HTTP cache shared by all its calls. Build one and share it.
pub struct LocationApiClient {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
    breaker: SharedBreaker,
    cache: HttpCache,
    metrics: Metrics,
}

impl std::fmt::Debug for LocationApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocationApiClient")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The kinds of call, as labelled in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Location,
    Children,
    Path,
    Health,
}

impl Call {
    fn label(self) -> &'static str {
        match self {
            Call::Location => "location",
            Call::Children => "children",
            Call::Path => "path",
            Call::Health => "health",
        }
    }
}

/// A complete answer of one attempt.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl LocationApiClient {
    /// A client of the Location API at `base_url` (e.g. `http://locations:8080` or
    /// `https://example.com/location-api`) with the resilience `settings`, exporting its metrics
    /// to `metrics`.
    pub fn new(
        base_url: &str,
        settings: &LocationApiSettings,
        metrics: Metrics,
    ) -> anyhow::Result<LocationApiClient> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .with_context(|| format!("not a valid URL: {base_url}"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "not an http(s) URL: {base_url}"
        );
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            // A redirect is "another non-2xx" answer (§4), not something to follow.
            .redirect(reqwest::redirect::Policy::none());
        if parsed.scheme() == "http" {
            // Plain HTTP never verifies a certificate: with no roots to load, a host without CA
            // certificates (a minimal container image) can still start.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder
            .build()
            .context("building the Location API HTTP client")?;
        let breaker = CircuitBreaker::new(settings.failure_threshold, settings.quiet_period);
        let gauge = metrics.gauge(BREAKER_STATE, &[]);
        Ok(LocationApiClient {
            http,
            base_url,
            retry: RetryPolicy::new(settings),
            breaker: SharedBreaker::new(breaker, gauge),
            cache: HttpCache::new(),
            metrics,
        })
    }

    /// The base URL, without trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn location_url(&self, id: &str, suffix: &str) -> String {
        format!("{}/locations/{}{suffix}", self.base_url, path_segment(id))
    }

    /// One call: a fresh cached answer, or attempts until a final outcome (§4, §5). `Ok` holds the
    /// body of a 2xx answer.
    async fn get(&self, call: Call, url: &str) -> Result<Bytes, LocationError> {
        if let Some(body) = self.cache.lookup(url, SystemTime::now()) {
            self.count(CACHE_HITS_TOTAL, call);
            tracing::debug!(url = %clip(url), "Location API answer served from the cache");
            return Ok(body);
        }
        let mut attempt = 1;
        loop {
            let outcome = match self.attempt(call, url, attempt).await {
                Some(Ok(answer)) => return self.answered(url, answer),
                Some(Err(outcome)) => outcome,
                None => return Err(self.rejected(call, url)),
            };
            if !outcome.is_retried() {
                return Err(unavailable(url, outcome, attempt));
            }
            if attempt >= self.retry.max_attempts() {
                tracing::warn!(
                    url = %clip(url), attempts = attempt, last_status = %outcome,
                    "Location API retries exhausted"
                );
                return Err(unavailable(url, outcome, attempt));
            }
            let delay = self.retry.delay_before_retry(attempt);
            // An attempt the breaker would reject after the delay ends the call now.
            if !self.breaker.would_admit(Instant::now() + delay) {
                return Err(self.rejected(call, url));
            }
            self.count(RETRIES_TOTAL, call);
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One attempt through the breaker: `None` if rejected, else the 2xx/404 answer or the
    /// outcome of any other ending.
    async fn attempt(
        &self,
        call: Call,
        url: &str,
        attempt: u32,
    ) -> Option<Result<Answer, AttemptOutcome>> {
        let guard = self.breaker.acquire()?;
        let started = Instant::now();
        let result = self.send(url).await;
        let outcome = match &result {
            Ok(answer) => AttemptOutcome::Status(answer.status.as_u16()),
            Err((outcome, _)) => *outcome,
        };
        guard.finish(outcome.is_breaker_failure());
        self.metrics
            .counter(
                REQUESTS_TOTAL,
                &[
                    ("call", call.label().to_owned()),
                    ("outcome", outcome.label().to_owned()),
                ],
            )
            .increment(1);
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(answer) if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND => {
                let status = answer.status.as_u16();
                tracing::debug!(url = %clip(url), status, attempt, elapsed_ms, "Location API call");
                Some(Ok(answer))
            }
            Ok(answer) => {
                let status = answer.status.as_u16();
                tracing::warn!(url = %clip(url), status, attempt, elapsed_ms, "Location API call failed");
                Some(Err(outcome))
            }
            Err((_, error)) => {
                tracing::warn!(
                    url = %clip(url), status = %outcome, attempt, elapsed_ms, error,
                    "Location API call failed"
                );
                Some(Err(outcome))
            }
        }
    }

    /// Sends one request and reads the whole answer, within the client's timeouts.
    async fn send(&self, url: &str) -> Result<Answer, (AttemptOutcome, String)> {
        let mut request = self.http.get(url).header(ACCEPT, ACCEPT_JSON);
        if let Some(traceparent) = current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        let classify = |error: reqwest::Error| {
            let outcome = if error.is_timeout() {
                AttemptOutcome::Timeout
            } else {
                AttemptOutcome::Transport
            };
            (outcome, error_chain(&error))
        };
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(classify)?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The final outcome of a 2xx or 404 answer; 2xx answers are offered to the cache.
    fn answered(&self, url: &str, answer: Answer) -> Result<Bytes, LocationError> {
        if answer.status == StatusCode::NOT_FOUND {
            return Err(LocationError::NotFound);
        }
        let now = SystemTime::now();
        self.cache
            .store(url, answer.status, &answer.headers, &answer.body, now);
        Ok(answer.body)
    }

    /// Logs and counts an attempt rejected by the open breaker.
    fn rejected(&self, call: Call, url: &str) -> LocationError {
        self.count(REJECTED_TOTAL, call);
        tracing::warn!(
            url = %clip(url),
            "circuit breaker still opened: attempt rejected, Location API not called"
        );
        LocationError::Unavailable(format!("{}: circuit breaker open", clip(url)))
    }

    fn count(&self, name: &'static str, call: Call) {
        self.metrics
            .counter(name, &[("call", call.label().to_owned())])
            .increment(1);
    }

    async fn object(&self, call: Call, url: &str) -> Result<LocationNode, LocationError> {
        let body = self.get(call, url).await?;
        Ok(parse_location_object(&lenient_json(&body)))
    }
}

#[async_trait::async_trait]
impl LocationSource for LocationApiClient {
    async fn location(&self, id: &str) -> Result<LocationInfo, LocationError> {
        let url = self.location_url(id, "");
        Ok(self.object(Call::Location, &url).await?.info())
    }

    async fn tree(&self, id: &str, depth_one: bool) -> Result<LocationNode, LocationError> {
        let suffix = if depth_one {
            "/children?depth=1"
        } else {
            "/children"
        };
        let url = self.location_url(id, suffix);
        self.object(Call::Children, &url).await
    }

    async fn path(&self, id: &str) -> Result<Vec<LocationInfo>, LocationError> {
        let url = self.location_url(id, "/path");
        let body = self.get(Call::Path, &url).await?;
        Ok(parse_path_array(&lenient_json(&body)))
    }

    async fn healthy(&self) -> bool {
        let url = format!("{}/health", self.base_url);
        self.get(Call::Health, &url).await.is_ok()
    }
}

/// A 2xx body as JSON; anything unparseable reads as `null`, i.e. every field at its default,
/// because any 2xx body is accepted (§3).
fn lenient_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn unavailable(url: &str, outcome: AttemptOutcome, attempts: u32) -> LocationError {
    LocationError::Unavailable(format!(
        "{}: {outcome} after {attempts} attempt(s)",
        clip(url)
    ))
}

/// An error with its causes, which is where reqwest says what actually went wrong.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn client(base_url: &str) -> anyhow::Result<LocationApiClient> {
        LocationApiClient::new(base_url, &LocationApiSettings::default(), Metrics::new())
    }

    #[test]
    fn ids_are_percent_encoded_path_segments_under_the_base_url() {
        let client = client("http://locations:8080/api/").unwrap();
        assert_eq!(client.base_url(), "http://locations:8080/api");
        assert_eq!(
            client.location_url("Central Store", "/children?depth=1"),
            "http://locations:8080/api/locations/Central%20Store/children?depth=1"
        );
        assert_eq!(
            client.location_url("a/b?c#d%é", ""),
            "http://locations:8080/api/locations/a%2Fb%3Fc%23d%25%C3%A9"
        );
    }

    #[test]
    fn a_base_url_that_is_not_http_is_refused() {
        for url in ["", "locations:8080", "ftp://locations", "not a url"] {
            assert!(client(url).is_err(), "{url}");
        }
    }

    #[test]
    fn an_unparseable_body_reads_as_all_defaults() {
        assert_eq!(lenient_json(b"not json"), Value::Null);
        assert_eq!(lenient_json(b""), Value::Null);
        assert!(!parse_location_object(&lenient_json(b"<html>")).tracked);
    }

    #[tokio::test]
    async fn the_breaker_gauge_starts_closed() {
        let metrics = Metrics::new();
        let _client = LocationApiClient::new(
            "http://127.0.0.1:9",
            &LocationApiSettings::default(),
            metrics.clone(),
        )
        .unwrap();
        assert!(
            metrics
                .render()
                .contains("stock_location_api_circuit_breaker_state 0")
        );
    }
}
