//! The private HTTP cache of Location API answers (`docs/api.md` §15.6), keyed by full URL.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderMap, Request, Response, StatusCode};
use http_cache_semantics::{BeforeRequest, CacheOptions, CachePolicy};

/// Most answers kept at once.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// Most body bytes kept at once; a single larger answer is not cached.
pub(crate) const MAX_BYTES: usize = 32 * 1024 * 1024;

/// The `Accept` header of every Location API request (part of what a cached answer answered).
pub(crate) const ACCEPT_JSON: &str = "application/json";

/// Freshness rules of a private cache that reuses only what the Location API explicitly allows:
/// no heuristic lifetime from `Last-Modified`, no default lifetime for `immutable`.
const OPTIONS: CacheOptions = CacheOptions {
    shared: false,
    cache_heuristic: 0.0,
    immutable_min_time_to_live: Duration::ZERO,
    ignore_cargo_cult: false,
};

/// Fresh 2xx answers by URL, bounded in entries and bytes (least recently used evicted first).
#[derive(Debug, Default)]
pub(crate) struct HttpCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    policy: CachePolicy,
    body: Bytes,
    last_used: u64,
}

impl HttpCache {
    /// An empty cache.
    pub(crate) fn new() -> HttpCache {
        HttpCache::default()
    }

    /// The body of a fresh cached answer for `url` at `now`, if any. Stale answers are dropped:
    /// the next network answer replaces them.
    pub(crate) fn lookup(&self, url: &str, now: SystemTime) -> Option<Bytes> {
        let request = request_for(url)?;
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.entries.get_mut(url)?;
        match entry.policy.before_request(&request, now) {
            BeforeRequest::Fresh(_) => {
                entry.last_used = clock;
                Some(entry.body.clone())
            }
            BeforeRequest::Stale { .. } => {
                inner.remove(url);
                None
            }
        }
    }

    /// Offers a network answer received at `now`: kept if it is a 2xx that its headers allow to
    /// reuse; otherwise any older answer for `url` is dropped, as it has been superseded.
    pub(crate) fn store(
        &self,
        url: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &Bytes,
        now: SystemTime,
    ) {
        let policy = request_for(url).and_then(|request| {
            let mut response = Response::new(());
            *response.status_mut() = status;
            *response.headers_mut() = headers.clone();
            let policy = CachePolicy::new_options(&request, &response, now, OPTIONS);
            let reusable = status.is_success()
                && policy.is_storable()
                && !policy.time_to_live(now).is_zero()
                && body.len() <= MAX_BYTES;
            reusable.then_some(policy)
        });
        let mut inner = self.lock();
        inner.remove(url);
        let Some(policy) = policy else { return };
        inner.make_room(body.len(), now);
        inner.clock += 1;
        let entry = Entry {
            policy,
            body: body.clone(),
            last_used: inner.clock,
        };
        inner.bytes += entry.body.len();
        inner.entries.insert(url.to_owned(), entry);
    }

    /// Number of answers held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the map consistent before anything can panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn remove(&mut self, url: &str) {
        if let Some(old) = self.entries.remove(url) {
            self.bytes -= old.body.len();
        }
    }

    fn fits(&self, incoming: usize) -> bool {
        self.entries.len() < MAX_ENTRIES && self.bytes + incoming <= MAX_BYTES
    }

    /// Drops stale answers, then the least recently used ones, until `incoming` bytes fit.
    fn make_room(&mut self, incoming: usize, now: SystemTime) {
        if self.fits(incoming) {
            return;
        }
        self.entries.retain(|_, entry| !entry.policy.is_stale(now));
        self.bytes = self.entries.values().map(|entry| entry.body.len()).sum();
        let mut by_age: Vec<(u64, String)> = self
            .entries
            .iter()
            .map(|(url, entry)| (entry.last_used, url.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, url) in by_age {
            if self.fits(incoming) {
                break;
            }
            self.remove(&url);
        }
    }
}

/// The request a cached answer is matched against: what the client sends, minus per-attempt
/// headers (`traceparent`) that the Location API does not vary on.
fn request_for(url: &str) -> Option<Request<()>> {
    Request::get(url).header(ACCEPT, ACCEPT_JSON).body(()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const URL: &str = "http://locations.test/locations/A";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn body() -> Bytes {
        Bytes::from_static(br#"{"id":"A"}"#)
    }

    fn after(start: SystemTime, secs: u64) -> SystemTime {
        start + Duration::from_secs(secs)
    }

    fn cached(pairs: &[(&'static str, &str)], status: u16, later: u64) -> bool {
        let cache = HttpCache::new();
        let t0 = SystemTime::now();
        let status = StatusCode::from_u16(status).unwrap();
        cache.store(URL, status, &headers(pairs), &body(), t0);
        cache.lookup(URL, after(t0, later)).is_some()
    }

    #[test]
    fn max_age_answers_are_reused_until_they_are_that_old() {
        let max_age = [("cache-control", "max-age=60")];
        assert!(cached(&max_age, 200, 0));
        assert!(cached(&max_age, 200, 59));
        assert!(!cached(&max_age, 200, 60));
        assert!(cached(&[("cache-control", "private, max-age=60")], 200, 30));
    }

    #[test]
    fn no_cache_and_no_store_answers_are_never_reused() {
        for value in [
            "no-cache",
            "no-store",
            "max-age=60, no-cache",
            "no-store, max-age=60",
        ] {
            assert!(!cached(&[("cache-control", value)], 200, 0), "{value}");
        }
        assert!(!cached(&[("pragma", "no-cache")], 200, 0));
    }

    #[test]
    fn answers_without_freshness_headers_are_not_reused() {
        assert!(!cached(&[], 200, 0));
        let last_modified = [("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")];
        assert!(!cached(&last_modified, 200, 0));
        assert!(!cached(&[("cache-control", "immutable")], 200, 0));
    }

    #[test]
    fn expires_without_max_age_keeps_an_answer_fresh_until_then() {
        let t0 = SystemTime::now();
        let date = httpdate::fmt_http_date(t0);
        let expires = httpdate::fmt_http_date(after(t0, 120));
        let pairs = [("date", date.as_str()), ("expires", expires.as_str())];
        assert!(cached(&pairs, 200, 100));
        assert!(!cached(&pairs, 200, 121));
        let past = [("expires", "Thu, 01 Jan 1970 00:00:00 GMT")];
        assert!(!cached(&past, 200, 0));
        assert!(!cached(&[("expires", "0")], 200, 0));
    }

    #[test]
    fn max_age_wins_over_expires() {
        let expires = httpdate::fmt_http_date(after(SystemTime::now(), 3600));
        let pairs = [
            ("cache-control", "max-age=0"),
            ("expires", expires.as_str()),
        ];
        assert!(!cached(&pairs, 200, 0));
    }

    #[test]
    fn only_2xx_answers_are_cached() {
        let max_age = [("cache-control", "max-age=60")];
        for status in [301, 404, 410, 500, 501, 503] {
            assert!(!cached(&max_age, status, 0), "{status}");
        }
        assert!(cached(&max_age, 203, 0));
        assert!(cached(&max_age, 204, 0));
    }

    #[test]
    fn the_full_url_is_the_key() {
        let cache = HttpCache::new();
        let t0 = SystemTime::now();
        let max_age = headers(&[("cache-control", "max-age=60")]);
        cache.store(URL, StatusCode::OK, &max_age, &body(), t0);
        assert!(cache.lookup(URL, t0).is_some());
        for other in [
            "http://locations.test/locations/A/children",
            "http://locations.test/locations/A/children?depth=1",
            "http://locations.test/locations/A/path",
            "http://locations.test/locations/a",
        ] {
            assert!(cache.lookup(other, t0).is_none(), "{other}");
        }
    }

    #[test]
    fn an_uncacheable_answer_replaces_a_cached_one() {
        let cache = HttpCache::new();
        let t0 = SystemTime::now();
        let max_age = headers(&[("cache-control", "max-age=60")]);
        cache.store(URL, StatusCode::OK, &max_age, &body(), t0);
        cache.store(URL, StatusCode::OK, &HeaderMap::new(), &body(), t0);
        assert!(cache.lookup(URL, t0).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_stale_answer_is_dropped_on_lookup() {
        let cache = HttpCache::new();
        let t0 = SystemTime::now();
        let max_age = headers(&[("cache-control", "max-age=1")]);
        cache.store(URL, StatusCode::OK, &max_age, &body(), t0);
        assert!(cache.lookup(URL, after(t0, 2)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used_answer() {
        let cache = HttpCache::new();
        let t0 = SystemTime::now();
        let max_age = headers(&[("cache-control", "max-age=60")]);
        let url = |i: usize| format!("http://locations.test/locations/{i}");
        for i in 0..MAX_ENTRIES {
            cache.store(&url(i), StatusCode::OK, &max_age, &body(), t0);
        }
        assert!(cache.lookup(&url(0), t0).is_some());
        cache.store(&url(MAX_ENTRIES), StatusCode::OK, &max_age, &body(), t0);
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.lookup(&url(0), t0).is_some());
        assert!(cache.lookup(&url(1), t0).is_none());
        assert!(cache.lookup(&url(MAX_ENTRIES), t0).is_some());
    }

    #[test]
    fn an_answer_larger_than_the_byte_bound_is_not_cached() {
        let cache = HttpCache::new();
        let t0 = SystemTime::now();
        let max_age = headers(&[("cache-control", "max-age=60")]);
        let big = Bytes::from(vec![b' '; MAX_BYTES + 1]);
        cache.store(URL, StatusCode::OK, &max_age, &big, t0);
        assert_eq!(cache.len(), 0);
    }
}
