//! The Location API client on a host without CA certificates (a minimal container image): an
//! `http://` Location API needs none, so the HTTP node starts; an `https://` one still needs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use http_fn::config::LocationApiSettings;
use http_fn::locations::LocationApiClient;
use shared::metrics::Metrics;

/// Set in the child copy of this test: the URL whose client it builds.
const CHILD_URL: &str = "STOCK_TEST_CLIENT_URL";

/// Builds the client for `url` in a child copy of this test binary whose certificate store is empty
/// (`SSL_CERT_FILE` names an empty file, as a minimal Debian has none); whether it succeeded.
/// The child's output is kept, not shown: a child that is meant to fail would otherwise print a
/// failed test run into this one's output.
fn builds_without_ca_certificates(url: &str) -> bool {
    let scheme = url.split(':').next().unwrap_or_default();
    let name = format!("stock-no-ca-{scheme}-{}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, b"").unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_builds_the_client",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, url)
        .env("SSL_CERT_FILE", &empty)
        .env("SSL_CERT_DIR", &dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    child.status.success()
}

#[test]
fn an_http_location_api_needs_no_ca_certificates() {
    assert!(builds_without_ca_certificates(
        "http://127.0.0.1:9/location-api"
    ));
}

#[test]
fn an_https_location_api_still_needs_the_system_certificates() {
    // Also shows that the child really runs with an empty store.
    assert!(!builds_without_ca_certificates(
        "https://127.0.0.1:9/location-api"
    ));
}

/// The child's part: passes only when the client for `STOCK_TEST_CLIENT_URL` builds.
#[test]
fn child_builds_the_client() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    LocationApiClient::new(&url, &LocationApiSettings::default(), Metrics::new()).unwrap();
}
