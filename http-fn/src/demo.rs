//! Demo mode (`--demo`): a signing key pair made at start-up, a token per job and example requests.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use shared::encoding::pem;

pub use crate::config::DEMO_LOCATIONS;

/// The `iss` of demo tokens.
pub const DEMO_ISSUER: &str = "https://identity-provider.example.com";

/// The `aud` of demo tokens.
pub const DEMO_AUDIENCE: &str = "stock-api";

/// The jobs of `docs/api.md` §13.4, one demo token each.
pub const JOBS: [&str; 4] = [
    "Regional Stock Auditor",
    "Store Stock Controller",
    "Warehouse Manager",
    "System Administrator",
];

/// How long the tokens of the banner stay valid.
pub const TOKEN_VALIDITY: Duration = Duration::from_secs(12 * 3600);

/// An RSA key pair generated for one demo run: the public half verifies, the private half signs.
pub struct DemoKeys {
    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`) for token verification.
    pub public_key_pem: Vec<u8>,
    signing_key: EncodingKey,
}

impl fmt::Debug for DemoKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoKeys")
            .field(
                "public_key_pem",
                &String::from_utf8_lossy(&self.public_key_pem),
            )
            .finish_non_exhaustive()
    }
}

/// The claims of a demo token (`docs/api.md` §13.2), in the order they are written.
#[derive(Serialize)]
struct Claims<'a> {
    sub: String,
    name: String,
    job: &'a str,
    iss: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a [&'a str]>,
}

impl DemoKeys {
    /// Generates a fresh RSA-2048 key pair.
    pub fn generate() -> anyhow::Result<DemoKeys> {
        let (private_pem, public_pem) = key_pair_pems()?;
        DemoKeys::from_pems(private_pem.as_bytes(), public_pem.into_bytes())
    }

    /// The keys of a PKCS#8 private key PEM and its SubjectPublicKeyInfo public key PEM, as
    /// [`key_pair_pems`] makes them (a container stack keeps them in a volume).
    pub fn from_pems(private_pem: &[u8], public_key_pem: Vec<u8>) -> anyhow::Result<DemoKeys> {
        let signing_key =
            EncodingKey::from_rsa_pem(private_pem).context("loading the demo private key")?;
        Ok(DemoKeys {
            public_key_pem,
            signing_key,
        })
    }

    /// An RS256 token for `job`, valid from now for `valid_for`.
    pub fn token(
        &self,
        job: &str,
        issuer: &str,
        audience: &str,
        valid_for: Duration,
    ) -> anyhow::Result<String> {
        self.scoped_token(job, &[], issuer, audience, valid_for)
    }

    /// [`DemoKeys::token`] restricted to `locations` (its `location` claim); none means no claim.
    pub fn scoped_token(
        &self,
        job: &str,
        locations: &[&str],
        issuer: &str,
        audience: &str,
        valid_for: Duration,
    ) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: format!("demo-{}", job.to_lowercase().replace(' ', "-")),
            name: format!("Demo {job}"),
            job,
            iss: issuer,
            aud: audience,
            exp: now + valid_for.as_secs(),
            iat: now,
            location: (!locations.is_empty()).then_some(locations),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.signing_key)
            .context("signing a demo token")
    }
}

/// A fresh RSA-2048 key pair as (PKCS#8 private key PEM, SubjectPublicKeyInfo public key PEM).
pub fn key_pair_pems() -> anyhow::Result<(String, String)> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow!("generating the demo RSA key pair failed"))?;
    let pkcs8 = pair
        .as_der()
        .map_err(|_| anyhow!("encoding the demo private key failed"))?;
    let spki = pair
        .public_key()
        .as_der()
        .map_err(|_| anyhow!("encoding the demo public key failed"))?;
    Ok((
        pem("PRIVATE KEY", pkcs8.as_ref()),
        pem("PUBLIC KEY", spki.as_ref()),
    ))
}

/// The URL a local client should use for a bound address (`0.0.0.0` and `::` become loopback).
pub fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Shell variable holding each job's token in the banner, in [`JOBS`] order.
const TOKEN_VARIABLES: [&str; 4] = [
    "AUDITOR_TOKEN",
    "CONTROLLER_TOKEN",
    "MANAGER_TOKEN",
    "ADMIN_TOKEN",
];

/// Example requests against the demo estate: (what it shows, method and path, JSON body).
const EXAMPLES: [(&str, &str, &str); 6] = [
    (
        "a delivery of 100 to warehouse WH01",
        "POST /locations/WH01/deliveries",
        r#"{"requestId":"demo-delivery-1","supplierId":"SUP-01","supplierRef":"PO-1001","deliveredAt":"2024-12-02T08:00:00","products":[{"productId":"SKU-1001","quantity":100}]}"#,
    ),
    (
        "move 20 from WH01 to Store-001",
        "POST /locations/WH01/SKU-1001/movements",
        r#"{"requestId":"demo-move-1","destinationLocationId":"Store-001","quantity":20,"reason":"replenishment","movedAt":"2024-12-02T10:00:00"}"#,
    ),
    (
        "a sale of 3 at Store-001",
        "POST /locations/Store-001/products/SKU-1001/sales",
        r#"{"requestId":"demo-sale-1","quantity":3,"soldAt":"2024-12-02T12:30:00"}"#,
    ),
    (
        "a stock count of 16 at Store-001",
        "POST /locations/Store-001/products/SKU-1001/counts",
        r#"{"requestId":"demo-count-1","reason":"AdminOverride","quantity":16,"countedAt":"2024-12-02T18:00:00"}"#,
    ),
    (
        "stock of the whole UK region, with every child location",
        "GET /locations/UK/products/SKU-1001?includeChildren=true",
        "",
    ),
    (
        "a sale at the untracked till 'Till 1': 303 to its store 'Central Store'",
        "POST /locations/Till%201/products/SKU-1001/sales",
        r#"{"requestId":"demo-sale-2","quantity":1,"soldAt":"2024-12-02T13:00:00"}"#,
    ),
];

/// The first lines of the banner.
const INTRO: &str = "\
Stock API DEMO MODE: not for production.
The tokens below are signed with a key pair generated at start-up: they stop
working when the process exits. The examples use the demo estate
(infra/demo/locations.json: regions UK and IE, stores, warehouses and tills).
";

/// The text printed at start-up in demo mode: a token per job and `curl` examples.
pub fn banner(base_url: &str, keys: &DemoKeys) -> anyhow::Result<String> {
    let mut text = String::new();
    text.push_str(INTRO);
    writeln!(text)?;
    writeln!(
        text,
        "Tokens (valid {}, iss {DEMO_ISSUER}, aud {DEMO_AUDIENCE}):",
        humantime::format_duration(TOKEN_VALIDITY)
    )?;
    for (job, variable) in JOBS.iter().zip(TOKEN_VARIABLES) {
        let token = keys.token(job, DEMO_ISSUER, DEMO_AUDIENCE, TOKEN_VALIDITY)?;
        writeln!(text, "# {job}")?;
        writeln!(text, "export {variable}='{token}'")?;
    }
    writeln!(text)?;
    writeln!(
        text,
        "Try it (the Warehouse Manager may do everything below):"
    )?;
    writeln!(text, "export BASE='{base_url}'")?;
    writeln!(text, "export TOKEN=\"$MANAGER_TOKEN\"")?;
    for (what, request, body) in EXAMPLES {
        writeln!(text, "# {what}")?;
        writeln!(text, "{}", curl(request, body))?;
    }
    Ok(text)
}

/// One ready-to-paste `curl` line; `-i` shows the status and headers (the 303's `Location`).
fn curl(request: &str, body: &str) -> String {
    let (method, path) = request.split_once(' ').unwrap_or(("GET", request));
    let mut line =
        format!("curl -si -X {method} \"$BASE{path}\" -H \"Authorization: Bearer $TOKEN\"");
    if !body.is_empty() {
        line.push_str(&format!(" -H 'Content-Type: application/json' -d '{body}'"));
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::Value;

    use super::*;

    fn verify(keys: &DemoKeys, token: &str) -> Value {
        let key = DecodingKey::from_rsa_pem(&keys.public_key_pem).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[DEMO_ISSUER]);
        validation.set_audience(&[DEMO_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn a_demo_token_verifies_with_the_generated_public_key() {
        let keys = DemoKeys::generate().unwrap();
        let token = keys.token(
            "Warehouse Manager",
            DEMO_ISSUER,
            DEMO_AUDIENCE,
            TOKEN_VALIDITY,
        );
        let claims = verify(&keys, &token.unwrap());
        assert_eq!(claims["job"], "Warehouse Manager");
        assert_eq!(claims["sub"], "demo-warehouse-manager");
        assert_eq!(claims["name"], "Demo Warehouse Manager");
        let (exp, iat) = (
            claims["exp"].as_u64().unwrap(),
            claims["iat"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 12 * 3600);
    }

    #[test]
    fn a_token_signed_by_another_demo_key_does_not_verify() {
        let (keys, other) = (DemoKeys::generate().unwrap(), DemoKeys::generate().unwrap());
        let token = other
            .token(JOBS[0], DEMO_ISSUER, DEMO_AUDIENCE, TOKEN_VALIDITY)
            .unwrap();
        let key = DecodingKey::from_rsa_pem(&keys.public_key_pem).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[DEMO_AUDIENCE]);
        assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_err());
    }

    #[test]
    fn the_public_key_is_a_spki_pem() {
        let keys = DemoKeys::generate().unwrap();
        let pem = String::from_utf8(keys.public_key_pem.clone()).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(pem.lines().all(|line| line.len() <= 64));
        assert!(!format!("{keys:?}").contains("PRIVATE"));
    }

    #[test]
    fn the_banner_holds_a_valid_token_per_job_and_every_example() {
        let keys = DemoKeys::generate().unwrap();
        let text = banner("http://127.0.0.1:8080", &keys).unwrap();
        for (job, variable) in JOBS.iter().zip(TOKEN_VARIABLES) {
            let prefix = format!("export {variable}='");
            let line = text.lines().find(|line| line.starts_with(&prefix)).unwrap();
            let token = line.trim_start_matches(&prefix).trim_end_matches('\'');
            assert_eq!(verify(&keys, token)["job"], *job);
        }
        assert!(text.contains("export BASE='http://127.0.0.1:8080'"));
        assert!(text.contains("\"$BASE/locations/WH01/deliveries\""));
        assert!(text.contains("\"$BASE/locations/WH01/SKU-1001/movements\""));
        assert!(text.contains("\"$BASE/locations/Till%201/products/SKU-1001/sales\""));
        assert_eq!(
            text.lines()
                .filter(|line| line.starts_with("curl "))
                .count(),
            6
        );
    }

    #[test]
    fn example_bodies_are_json_objects() {
        for (_, request, body) in EXAMPLES {
            if !body.is_empty() {
                assert!(
                    serde_json::from_str::<Value>(body).unwrap().is_object(),
                    "{request}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_demo_estate_fits_the_examples() {
        use crate::locations::{FileLocations, LocationSource, nearest_tracked_ancestor};
        let estate = FileLocations::from_json(DEMO_LOCATIONS).unwrap();
        for tracked in ["DC01", "WH01", "Store-001", "Central Store", "Cambridge"] {
            assert!(estate.location(tracked).await.unwrap().tracked, "{tracked}");
        }
        for untracked in ["UK", "South", "London", "WH01-Dock", "Till 1"] {
            assert!(
                !estate.location(untracked).await.unwrap().tracked,
                "{untracked}"
            );
        }
        let path = estate.path("Till 1").await.unwrap();
        assert_eq!(nearest_tracked_ancestor(&path).unwrap().id, "Central Store");
        let uk = estate.tree("UK", false).await.unwrap();
        assert!(!uk.children.is_empty());
    }

    #[test]
    fn an_unspecified_bind_address_becomes_loopback_in_the_base_url() {
        let url = |text: &str| base_url(text.parse().unwrap());
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("[::]:80"), "http://[::1]:80");
        assert_eq!(url("10.1.2.3:9000"), "http://10.1.2.3:9000");
    }
}
