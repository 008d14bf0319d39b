//! The attack set against bearer tokens, as a table: each row is a GET on the real router over
//! HTTP with an `Authorization` header built for that attack, and the exact status and body the
//! contract gives it (401 `{"status":"Unauthorized"}`, 403 `{"status":"PermissionDenied"}`).
//! Every table also has rows that must pass, so a refusal is never the set-up failing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, RsaEncoding};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use http::HeaderValue;
use http_fn::auth::Authenticator;
use http_fn::dispatch::Dispatcher;
use http_fn::locations::file::FileLocations;
use http_fn::routes::router;
use http_fn::state::AppState;
use serde_json::{Value, json};
use shared::encoding::pem;
use shared::metrics::Metrics;
use shared::store::memory::MemoryStore;

const ISSUER: &str = "https://identity-provider.example.com";
const AUDIENCE: &str = "stock-api";
const ESTATE: &str = r#"{"id": "WH01", "roles": ["TrackedInventoryLocation"], "children": []}"#;
const PATH: &str = "/locations/WH01/products/p1";
const UNAUTHORIZED: &str = r#"{"status":"Unauthorized"}"#;
const DENIED: &str = r#"{"status":"PermissionDenied"}"#;
/// Where a `jku` or `x5u` header points: a loopback port nothing listens on.
const FOREIGN_URL: &str = "http://127.0.0.1:9/keys.json";

/// The identity provider's key pair (the service trusts its public half) and a stranger's.
struct Keys {
    identity: KeyPair,
    stranger: KeyPair,
    spki_pem: String,
    pkcs1_pem: String,
    spki_der: Vec<u8>,
}

/// One set of keys for the whole run: generating RSA keys is slow.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let identity = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let stranger = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let spki_der = identity.public_key().as_der().unwrap().as_ref().to_vec();
        Keys {
            spki_pem: pem("PUBLIC KEY", &spki_der),
            pkcs1_pem: pem("RSA PUBLIC KEY", identity.public_key().as_ref()),
            spki_der,
            identity,
            stranger,
        }
    })
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(elapsed.as_secs()).unwrap()
}

/// How the signature segment is made.
enum Sig<'a> {
    Rsa(&'a KeyPair, &'static dyn RsaEncoding),
    Hmac(hmac::Algorithm, &'a [u8]),
    Empty,
}

/// A compact JWS over exactly these header and payload bytes.
fn jws(header: &[u8], payload: &[u8], sig: Sig<'_>) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = match sig {
        Sig::Rsa(pair, padding) => {
            let mut out = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut out)
                .unwrap();
            out
        }
        Sig::Hmac(alg, secret) => hmac::sign(&hmac::Key::new(alg, secret), input.as_bytes())
            .as_ref()
            .to_vec(),
        Sig::Empty => Vec::new(),
    };
    format!("{input}.{}", b64(signature))
}

/// Claims the service accepts for `job`, valid for an hour.
fn claims(job: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "name": "Sam", "job": job,
        "iat": now(), "exp": now() + 3600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn header(alg: &str) -> Value {
    json!({"alg": alg, "typ": "JWT"})
}

/// Signed with the identity provider's key: RS256, or RS384/RS512 by name.
fn signed_as(alg: &str, claims: &Value) -> String {
    let padding: &'static dyn RsaEncoding = match alg {
        "RS384" => &signature::RSA_PKCS1_SHA384,
        "RS512" => &signature::RSA_PKCS1_SHA512,
        _ => &signature::RSA_PKCS1_SHA256,
    };
    let header = header(alg).to_string();
    jws(
        header.as_bytes(),
        claims.to_string().as_bytes(),
        Sig::Rsa(&keys().identity, padding),
    )
}

fn signed(claims: &Value) -> String {
    signed_as("RS256", claims)
}

/// Claims of a job allowed to read stock levels.
fn manager() -> Value {
    claims("Warehouse Manager")
}

/// A token the service accepts, for a job allowed to read stock levels.
fn valid() -> String {
    signed(&claims("Warehouse Manager"))
}

fn signed_by_stranger(header: &Value, claims: &Value) -> String {
    let sig = Sig::Rsa(&keys().stranger, &signature::RSA_PKCS1_SHA256);
    jws(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        sig,
    )
}

fn hmac_signed(alg: &str, secret: &[u8], header_extra: Value) -> String {
    let hmac_alg = match alg {
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    let mut header = header(alg);
    if let Value::Object(extra) = header_extra {
        header.as_object_mut().unwrap().extend(extra);
    }
    let claims = claims("System Administrator").to_string();
    jws(
        header.to_string().as_bytes(),
        claims.as_bytes(),
        Sig::Hmac(hmac_alg, secret),
    )
}

/// The three segments of a compact token.
fn segments(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    (parts[0].into(), parts[1].into(), parts[2].into())
}

/// A valid token with its decoded signature changed by `edit`.
fn with_signature(edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let (header, payload, signature) = segments(&valid());
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    edit(&mut bytes);
    format!("{header}.{payload}.{}", b64(bytes))
}

/// A valid token with one segment replaced, the other two kept byte for byte.
fn with_segment(index: usize, segment: &str) -> String {
    let token = valid();
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = segment;
    parts.join(".")
}

/// What the service must answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// 200: the token is good and the job may read stock levels.
    Pass,
    /// 401 `{"status":"Unauthorized"}`.
    Unauthorized,
    /// 403 `{"status":"PermissionDenied"}`.
    Denied,
}

use Expect::{Denied, Pass, Unauthorized};

type Headers = Box<dyn Fn() -> Vec<Vec<u8>>>;

/// One attack: a name, the `Authorization` header values it sends (built when sent, so claims
/// relative to the clock are fresh), and the answer the contract gives.
struct Row {
    name: &'static str,
    authorization: Headers,
    expect: Expect,
}

fn row(name: &'static str, expect: Expect, token: impl Fn() -> String + 'static) -> Row {
    raw(name, expect, move || {
        vec![format!("Bearer {}", token()).into_bytes()]
    })
}

fn raw(name: &'static str, expect: Expect, values: impl Fn() -> Vec<Vec<u8>> + 'static) -> Row {
    Row {
        name,
        authorization: Box::new(values),
        expect,
    }
}

/// Serves the real router on a loopback port, trusting the identity provider's public key.
async fn serve() -> SocketAddr {
    let auth = Authenticator::from_public_key_pem(
        keys().spki_pem.as_bytes(),
        ISSUER.into(),
        AUDIENCE.into(),
    )
    .unwrap();
    let store = Arc::new(MemoryStore::new());
    let locations = Arc::new(FileLocations::from_json(ESTATE).unwrap());
    let dispatcher = Dispatcher::new(store.clone(), 4, Duration::from_secs(5));
    let state = AppState::new(
        auth,
        locations,
        dispatcher,
        store,
        Metrics::new(),
        (4, Duration::from_secs(10)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    addr
}

/// Sends every row and fails once, listing every row whose answer differs from the contract.
async fn check(rows: Vec<Row>) {
    let addr = serve().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for row in &rows {
        let mut request = client.get(format!("http://{addr}{PATH}"));
        for value in (row.authorization)() {
            let value = HeaderValue::from_bytes(&value).unwrap();
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response.headers().contains_key("www-authenticate");
        let body = response.text().await.unwrap();
        let answered = match (status, body.as_str()) {
            (200, _) => Some(Expect::Pass),
            (401, UNAUTHORIZED) if !challenge => Some(Expect::Unauthorized),
            (403, DENIED) => Some(Expect::Denied),
            _ => None,
        };
        if answered != Some(row.expect) {
            let shown: String = body.chars().take(200).collect();
            failures.push(format!(
                "{}: expected {:?}, got {status} {shown}{}",
                row.name,
                row.expect,
                if challenge {
                    " with WWW-Authenticate"
                } else {
                    ""
                }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn unsigned_tokens_and_tokens_signed_any_other_way_are_unauthorized() {
    let unsigned = |alg: &'static str| {
        move || {
            let header = json!({"alg": alg, "typ": "JWT"}).to_string();
            let claims = claims("System Administrator").to_string();
            jws(header.as_bytes(), claims.as_bytes(), Sig::Empty)
        }
    };
    check(vec![
        row("RS256 with the identity key", Pass, valid),
        row("RS384 with the identity key", Pass, || {
            signed_as("RS384", &claims("Warehouse Manager"))
        }),
        row("RS512 with the identity key", Pass, || {
            signed_as("RS512", &claims("Warehouse Manager"))
        }),
        row("alg none", Unauthorized, unsigned("none")),
        row("alg None", Unauthorized, unsigned("None")),
        row("alg NONE", Unauthorized, unsigned("NONE")),
        row("alg nOnE", Unauthorized, unsigned("nOnE")),
        row("alg empty", Unauthorized, unsigned("")),
        row("alg none keeping a valid signature", Unauthorized, || {
            let (_, payload, signature) = segments(&valid());
            format!("{}.{payload}.{signature}", b64(r#"{"alg":"none"}"#))
        }),
        row("HS256 keyed with the SPKI PEM", Unauthorized, || {
            hmac_signed("HS256", keys().spki_pem.as_bytes(), json!({}))
        }),
        row("HS384 keyed with the SPKI PEM", Unauthorized, || {
            hmac_signed("HS384", keys().spki_pem.as_bytes(), json!({}))
        }),
        row("HS512 keyed with the SPKI PEM", Unauthorized, || {
            hmac_signed("HS512", keys().spki_pem.as_bytes(), json!({}))
        }),
        row("HS256 keyed with the PKCS#1 PEM", Unauthorized, || {
            hmac_signed("HS256", keys().pkcs1_pem.as_bytes(), json!({}))
        }),
        row("HS256 keyed with the SPKI DER", Unauthorized, || {
            hmac_signed("HS256", &keys().spki_der, json!({}))
        }),
        row("HS256 with an empty key", Unauthorized, || {
            hmac_signed("HS256", b"", json!({}))
        }),
        row("RS256 with another RSA key", Unauthorized, || {
            signed_by_stranger(&header("RS256"), &claims("Warehouse Manager"))
        }),
        row("PS256 with the identity key", Unauthorized, || {
            pss("PS256", &signature::RSA_PSS_SHA256)
        }),
        row("PS384 with the identity key", Unauthorized, || {
            pss("PS384", &signature::RSA_PSS_SHA384)
        }),
        row("PS512 with the identity key", Unauthorized, || {
            pss("PS512", &signature::RSA_PSS_SHA512)
        }),
        row("ES256 header on an RS256 signature", Unauthorized, || {
            let (_, payload, signature) = segments(&valid());
            format!("{}.{payload}.{signature}", b64(header("ES256").to_string()))
        }),
    ])
    .await;
}

fn pss(alg: &str, padding: &'static dyn RsaEncoding) -> String {
    let header = header(alg).to_string();
    let claims = claims("Warehouse Manager").to_string();
    let sig = Sig::Rsa(&keys().identity, padding);
    jws(header.as_bytes(), claims.as_bytes(), sig)
}

/// The stranger's public key as a JWK.
fn stranger_jwk() -> Value {
    let public = keys().stranger.public_key();
    json!({
        "kty": "RSA",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    })
}

#[tokio::test]
async fn keys_named_by_the_token_header_are_never_used() {
    let stranger_with = |extra: fn() -> Value| {
        move || {
            let mut header = header("RS256");
            if let Value::Object(extra) = extra() {
                header.as_object_mut().unwrap().extend(extra);
            }
            signed_by_stranger(&header, &claims("System Administrator"))
        }
    };
    check(vec![
        row(
            "a kid on a token signed with the identity key",
            Pass,
            || {
                let header = json!({"alg": "RS256", "kid": "some-other-key"}).to_string();
                let claims = claims("Warehouse Manager").to_string();
                let sig = Sig::Rsa(&keys().identity, &signature::RSA_PKCS1_SHA256);
                jws(header.as_bytes(), claims.as_bytes(), sig)
            },
        ),
        row(
            "jwk: the signer's own RSA key embedded",
            Unauthorized,
            stranger_with(|| json!({"jwk": stranger_jwk()})),
        ),
        row("jwk: an oct key embedded with HS256", Unauthorized, || {
            let jwk = json!({"jwk": {"kty": "oct", "k": b64("secret")}});
            hmac_signed("HS256", b"secret", jwk)
        }),
        row(
            "jku: a key set on another host",
            Unauthorized,
            stranger_with(|| json!({"jku": FOREIGN_URL})),
        ),
        row(
            "x5u: a certificate on another host",
            Unauthorized,
            stranger_with(|| json!({"x5u": FOREIGN_URL})),
        ),
        row(
            "x5c: an embedded certificate chain",
            Unauthorized,
            stranger_with(|| json!({"x5c": [STANDARD.encode(b"not a certificate")]})),
        ),
        row(
            "kid: path traversal to an empty file, HS256 with an empty key",
            Unauthorized,
            || hmac_signed("HS256", b"", json!({"kid": "../../../../../../dev/null"})),
        ),
        row(
            "kid: an injected lookup naming a key, HS256 with that key",
            Unauthorized,
            || hmac_signed("HS256", b"key", json!({"kid": "x' UNION SELECT 'key' -- "})),
        ),
        row(
            "kid: a command in the key id",
            Unauthorized,
            stranger_with(|| json!({"kid": "key|/bin/true; echo"})),
        ),
    ])
    .await;
}

#[tokio::test]
async fn altered_truncated_and_malformed_tokens_are_unauthorized() {
    check(vec![
        row("the untouched token", Pass, valid),
        row("header alg changed to RS512", Unauthorized, || {
            with_segment(0, &b64(header("RS512").to_string()))
        }),
        row("header with an extra member", Unauthorized, || {
            with_segment(0, &b64(r#"{"alg":"RS256","typ":"JWT","x":1}"#))
        }),
        row("payload sub changed", Unauthorized, || {
            let claims = with(claims("Warehouse Manager"), "sub", json!("someone-else"));
            with_segment(1, &b64(claims.to_string()))
        }),
        row("payload job raised", Unauthorized, || {
            with_segment(1, &b64(claims("System Administrator").to_string()))
        }),
        row("payload re-encoded with whitespace", Unauthorized, || {
            let (_, payload, _) = segments(&valid());
            let mut json = URL_SAFE_NO_PAD.decode(payload).unwrap();
            json.insert(1, b' ');
            with_segment(1, &b64(json))
        }),
        row("signature removed", Unauthorized, || with_segment(2, "")),
        row("signature one byte short", Unauthorized, || {
            with_signature(|s| {
                s.pop();
            })
        }),
        row("signature cut in half", Unauthorized, || {
            with_signature(|s| s.truncate(s.len() / 2))
        }),
        row("signature one byte long", Unauthorized, || {
            with_signature(|s| s.push(0))
        }),
        row("signature first bit flipped", Unauthorized, || {
            with_signature(|s| s[0] ^= 0x80)
        }),
        row("signature last bit flipped", Unauthorized, || {
            with_signature(|s| *s.last_mut().unwrap() ^= 1)
        }),
        row("signature all zero", Unauthorized, || {
            with_signature(|s| s.fill(0))
        }),
        row("signature of another token", Unauthorized, || {
            let (_, _, other) = segments(&signed(&claims("Store Stock Controller")));
            with_segment(2, &other)
        }),
        row("one segment", Unauthorized, || segments(&valid()).0),
        row("two segments", Unauthorized, || {
            let (header, payload, _) = segments(&valid());
            format!("{header}.{payload}")
        }),
        row("four segments, the last empty", Unauthorized, || {
            format!("{}.", valid())
        }),
        row("four segments", Unauthorized, || {
            format!("{}.AAAA", valid())
        }),
        row(
            "five segments, shaped as an encrypted token",
            Unauthorized,
            || {
                let header = b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#);
                format!(
                    "{header}.{}.{}.{}.{}",
                    b64("k"),
                    b64("iv"),
                    b64("ct"),
                    b64("tag")
                )
            },
        ),
        row("empty segments", Unauthorized, || "..".to_owned()),
        row("padded base64 header", Unauthorized, || {
            let (header, _, _) = segments(&valid());
            with_segment(0, &format!("{header}="))
        }),
        row(
            "standard base64 alphabet in the signature",
            Unauthorized,
            || {
                let (_, _, signature) = segments(&valid());
                let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
                with_segment(2, &STANDARD_NO_PAD.encode(bytes))
            },
        ),
        row(
            "a character outside base64 in the payload",
            Unauthorized,
            || {
                let (_, payload, _) = segments(&valid());
                with_segment(1, &format!("{}*{}", &payload[..10], &payload[10..]))
            },
        ),
        row("a space inside the token", Unauthorized, || {
            let (header, payload, signature) = segments(&valid());
            format!("{header}. {payload}.{signature}")
        }),
        row("header not JSON", Unauthorized, || {
            with_segment(0, &b64("not json"))
        }),
        row("header without alg", Unauthorized, || {
            with_segment(0, &b64(r#"{"typ":"JWT"}"#))
        }),
        row("payload not JSON, signed", Unauthorized, || {
            let header = header("RS256").to_string();
            let sig = Sig::Rsa(&keys().identity, &signature::RSA_PKCS1_SHA256);
            jws(header.as_bytes(), b"not json", sig)
        }),
        row("payload a JSON array, signed", Unauthorized, || {
            let header = header("RS256").to_string();
            let sig = Sig::Rsa(&keys().identity, &signature::RSA_PKCS1_SHA256);
            jws(header.as_bytes(), b"[1,2,3]", sig)
        }),
        row("payload not UTF-8, signed", Unauthorized, || {
            let header = header("RS256").to_string();
            let sig = Sig::Rsa(&keys().identity, &signature::RSA_PKCS1_SHA256);
            jws(header.as_bytes(), b"{\"sub\":\"\xff\"}", sig)
        }),
        row("a 100 KB token of base64 text", Unauthorized, || {
            let segment = "A".repeat(100 * 1024 / 3);
            format!("{segment}.{segment}.{segment}")
        }),
        row(
            "a 100 KB claim, signed with a stranger key",
            Unauthorized,
            || {
                let claims = with(
                    claims("Warehouse Manager"),
                    "pad",
                    json!("x".repeat(75_000)),
                );
                signed_by_stranger(&header("RS256"), &claims)
            },
        ),
    ])
    .await;
}

#[tokio::test]
async fn only_one_authorization_header_with_the_exact_bearer_scheme_is_accepted() {
    let exact = |prefix: &'static str, suffix: &'static str| {
        move || vec![format!("{prefix}{}{suffix}", valid()).into_bytes()]
    };
    check(vec![
        raw("Bearer and one space", Pass, exact("Bearer ", "")),
        raw("no Authorization header", Unauthorized, Vec::new),
        raw("bearer in lower case", Unauthorized, exact("bearer ", "")),
        raw("BEARER in upper case", Unauthorized, exact("BEARER ", "")),
        raw("two spaces", Unauthorized, exact("Bearer  ", "")),
        raw("a tab", Unauthorized, exact("Bearer\t", "")),
        raw("no space", Unauthorized, exact("Bearer", "")),
        // HTTP strips whitespace around a field value: the service sees the exact form.
        raw(
            "a trailing space, stripped on the wire",
            Pass,
            exact("Bearer ", " "),
        ),
        raw("the token alone", Unauthorized, exact("", "")),
        raw("Token scheme", Unauthorized, exact("Token ", "")),
        raw("JWT scheme", Unauthorized, exact("JWT ", "")),
        raw("Bearer and nothing", Unauthorized, || {
            vec![b"Bearer ".to_vec()]
        }),
        raw("Bearer alone", Unauthorized, || vec![b"Bearer".to_vec()]),
        raw("Basic credentials", Unauthorized, || {
            vec![b"Basic dXNlcjpwYXNz".to_vec()]
        }),
        raw("a byte outside ASCII", Unauthorized, || {
            let mut value = format!("Bearer {}", valid()).into_bytes();
            value.push(0xff);
            vec![value]
        }),
        raw("two Bearer tokens in one header", Unauthorized, || {
            vec![format!("Bearer {}, Bearer {}", valid(), valid()).into_bytes()]
        }),
        raw("two headers, both valid", Unauthorized, || {
            let value = format!("Bearer {}", valid()).into_bytes();
            vec![value.clone(), value]
        }),
        raw("two headers, valid then garbage", Unauthorized, || {
            vec![
                format!("Bearer {}", valid()).into_bytes(),
                b"Bearer x.y.z".to_vec(),
            ]
        }),
        raw("two headers, garbage then valid", Unauthorized, || {
            vec![
                b"Bearer x.y.z".to_vec(),
                format!("Bearer {}", valid()).into_bytes(),
            ]
        }),
    ])
    .await;
}

#[tokio::test]
async fn missing_or_mistyped_claims_are_unauthorized_and_unknown_jobs_are_denied() {
    let without_claim = |name: &'static str| move || signed(&without(manager(), name));
    let with_claim =
        |name: &'static str, value: fn() -> Value| move || signed(&with(manager(), name, value()));
    check(vec![
        row("all claims", Pass, valid),
        row(
            "location naming this location",
            Pass,
            with_claim("location", || json!("WH01")),
        ),
        row(
            "location of another type counts as absent",
            Pass,
            with_claim("location", || json!(5)),
        ),
        row(
            "aud an array containing the audience",
            Pass,
            with_claim("aud", || json!(["x", AUDIENCE])),
        ),
        row("exp missing", Unauthorized, without_claim("exp")),
        row(
            "exp a string",
            Unauthorized,
            with_claim("exp", || json!((now() + 3600).to_string())),
        ),
        row("exp null", Unauthorized, with_claim("exp", || json!(null))),
        row(
            "exp an array",
            Unauthorized,
            with_claim("exp", || json!([now() + 3600])),
        ),
        row(
            "nbf a string",
            Unauthorized,
            with_claim("nbf", || json!(now().to_string())),
        ),
        row("iss missing", Unauthorized, without_claim("iss")),
        row(
            "iss another issuer",
            Unauthorized,
            with_claim("iss", || json!("https://evil.example.com")),
        ),
        row(
            "iss an array holding the issuer",
            Unauthorized,
            with_claim("iss", || json!([ISSUER])),
        ),
        row("iss a number", Unauthorized, with_claim("iss", || json!(1))),
        row("aud missing", Unauthorized, without_claim("aud")),
        row(
            "aud another audience",
            Unauthorized,
            with_claim("aud", || json!("other-api")),
        ),
        row("aud a number", Unauthorized, with_claim("aud", || json!(5))),
        row(
            "aud an empty array",
            Unauthorized,
            with_claim("aud", || json!([])),
        ),
        row("sub missing", Unauthorized, without_claim("sub")),
        row("sub a number", Unauthorized, with_claim("sub", || json!(7))),
        row("name missing", Unauthorized, without_claim("name")),
        row(
            "name null",
            Unauthorized,
            with_claim("name", || json!(null)),
        ),
        row("job missing", Unauthorized, without_claim("job")),
        row("job a number", Unauthorized, with_claim("job", || json!(7))),
        row(
            "job an array",
            Unauthorized,
            with_claim("job", || json!(["Warehouse Manager"])),
        ),
        row("no claims at all", Unauthorized, || signed(&json!({}))),
        row(
            "an unknown job",
            Denied,
            with_claim("job", || json!("Read Only User")),
        ),
        row(
            "a job in the wrong case",
            Denied,
            with_claim("job", || json!("warehouse manager")),
        ),
        row(
            "a location claim not naming this location",
            Denied,
            with_claim("location", || json!(["Cambridge"])),
        ),
    ])
    .await;
}

#[tokio::test]
async fn expiry_and_not_before_have_thirty_seconds_of_leeway_and_no_more() {
    let at = |name: &'static str, offset: i64| {
        move || {
            signed(&with(
                claims("Warehouse Manager"),
                name,
                json!(now() + offset),
            ))
        }
    };
    check(vec![
        row("exp an hour ahead", Pass, at("exp", 3600)),
        row("exp 25 s ago, inside the leeway", Pass, at("exp", -25)),
        row(
            "exp 40 s ago, outside the leeway",
            Unauthorized,
            at("exp", -40),
        ),
        row("exp an hour ago", Unauthorized, at("exp", -3600)),
        row("exp zero", Unauthorized, at("exp", -now())),
        row("nbf an hour ago", Pass, at("nbf", -3600)),
        row("nbf 25 s ahead, inside the leeway", Pass, at("nbf", 25)),
        row(
            "nbf 40 s ahead, outside the leeway",
            Unauthorized,
            at("nbf", 40),
        ),
        row("nbf an hour ahead", Unauthorized, at("nbf", 3600)),
    ])
    .await;
}
