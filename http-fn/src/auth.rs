//! Bearer-token authentication, the job → permission matrix and location scoping (docs/api.md §13).

use std::fmt;

use anyhow::{Context, bail};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::telemetry::clip;

/// Clock-skew allowance on `exp` and `nbf`, in seconds (docs/api.md §13.2).
const LEEWAY_SECONDS: u64 = 30;

/// The only accepted signature algorithms.
const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// A permission of the job matrix (docs/api.md §13.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `stock:count:read`
    CountRead,
    /// `stock:count:write`
    CountWrite,
    /// `stock:level:read`
    LevelRead,
    /// `stock:movement:read`
    MovementRead,
    /// `stock:movement:write`
    MovementWrite,
    /// `job:permission:read`
    JobPermissionRead,
    /// `job:permission:write`
    JobPermissionWrite,
}

impl Permission {
    /// The `resource:operation:action` name of the permission.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CountRead => "stock:count:read",
            Permission::CountWrite => "stock:count:write",
            Permission::LevelRead => "stock:level:read",
            Permission::MovementRead => "stock:movement:read",
            Permission::MovementWrite => "stock:movement:write",
            Permission::JobPermissionRead => "job:permission:read",
            Permission::JobPermissionWrite => "job:permission:write",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The permissions of a job function; job names are case-sensitive and unknown jobs have none.
pub fn permissions_of(job: &str) -> &'static [Permission] {
    use Permission::*;
    match job {
        "Regional Stock Auditor" => &[CountRead, LevelRead, MovementRead],
        "Store Stock Controller" | "Warehouse Manager" => &[
            CountRead,
            CountWrite,
            LevelRead,
            MovementRead,
            MovementWrite,
        ],
        "System Administrator" => &[
            CountRead,
            CountWrite,
            LevelRead,
            MovementRead,
            MovementWrite,
            JobPermissionRead,
            JobPermissionWrite,
        ],
        _ => &[],
    }
}

/// The caller named by a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The `sub` claim.
    pub sub: String,
    /// The `name` claim.
    pub name: String,
    /// The `job` claim: the job function name.
    pub job: String,
    /// The `location` claim's strings; empty means unrestricted.
    pub locations: Vec<String>,
}

impl Principal {
    /// Checks that the job grants `permission` and that `location` (the request's scoped,
    /// percent-decoded path location) is within the token's `location` claim, if non-empty.
    pub fn authorize(&self, permission: Permission, location: &str) -> Result<(), ApiError> {
        self.authorize_at(permission, Some(location))
    }

    /// [`Principal::authorize`] for a path location that may name nothing (`None`: its bytes are
    /// not UTF-8): no token's location scope contains such a location.
    pub fn authorize_at(
        &self,
        permission: Permission,
        location: Option<&str>,
    ) -> Result<(), ApiError> {
        if !permissions_of(&self.job).contains(&permission) {
            tracing::info!(
                sub = %self.sub, job = %self.job, permission = %permission,
                "permission denied: the job lacks the permission"
            );
            return Err(ApiError::PermissionDenied);
        }
        let in_scope = |location: &str| self.locations.iter().any(|l| l == location);
        if !self.locations.is_empty() && !location.is_some_and(in_scope) {
            tracing::info!(
                sub = %self.sub, location = %clip(location.unwrap_or("(not UTF-8)")),
                allowed = ?self.locations,
                "permission denied: location outside the token's scope"
            );
            return Err(ApiError::PermissionDenied);
        }
        Ok(())
    }
}

/// Verifies bearer tokens against the identity provider's RSA public key.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
    issuer: String,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds from a PEM RSA public key, SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) or PKCS#1
    /// (`BEGIN RSA PUBLIC KEY`), and the required `iss` and `aud` values.
    pub fn from_public_key_pem(
        pem: &[u8],
        issuer: String,
        audience: String,
    ) -> anyhow::Result<Authenticator> {
        let text = std::str::from_utf8(pem).context("the public key file is not text")?;
        if !text.contains("-----BEGIN PUBLIC KEY-----")
            && !text.contains("-----BEGIN RSA PUBLIC KEY-----")
        {
            bail!("the public key file holds no PUBLIC KEY or RSA PUBLIC KEY PEM block");
        }
        let key = DecodingKey::from_rsa_pem(pem).context("unreadable RSA public key PEM")?;
        // jsonwebtoken reads the key lazily; parse it now so a bad key stops the start-up
        // instead of failing every request.
        let der = key
            .try_get_as_bytes()
            .context("unreadable RSA public key")?;
        aws_lc_rs::rsa::PublicKey::from_der(der)
            .map_err(|e| anyhow::anyhow!("invalid RSA public key: {e}"))?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = ALGORITHMS.to_vec();
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&[audience.as_str()]);
        Ok(Authenticator {
            key,
            validation,
            issuer,
        })
    }

    /// Authenticates the `Authorization: Bearer <jwt>` header of a request. Every failure is
    /// 401 and is logged with its reason, never with the token.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Principal, ApiError> {
        let token = bearer_token(headers).map_err(reject)?;
        let claims = self.verify(token).map_err(reject)?;
        principal(&claims).map_err(reject)
    }

    /// Checks the signature, algorithm and registered claims; returns the claims.
    fn verify(&self, token: &str) -> Result<Map<String, Value>, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| describe(e.kind()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| describe(e.kind()))?;
        // jsonwebtoken also accepts an `iss` array containing the issuer; the spec wants the
        // string itself.
        match data.claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.issuer => Ok(data.claims),
            _ => Err("wrong issuer".to_owned()),
        }
    }
}

/// The token of an `Authorization: Bearer <jwt>` header: exact, case-sensitive prefix.
fn bearer_token(headers: &http::HeaderMap) -> Result<&str, String> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or("no Authorization header")?;
    if values.next().is_some() {
        return Err("more than one Authorization header".to_owned());
    }
    let value = value
        .to_str()
        .map_err(|_| "Authorization header is not visible ASCII")?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or("Authorization scheme is not `Bearer `")?;
    if token.is_empty() {
        return Err("empty bearer token".to_owned());
    }
    Ok(token)
}

/// The principal named by verified claims.
fn principal(claims: &Map<String, Value>) -> Result<Principal, String> {
    let text = |name: &str| match claims.get(name) {
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(format!("claim {name} is not a string")),
        None => Err(format!("claim {name} is missing")),
    };
    let locations = match claims.get("location") {
        Some(Value::String(location)) => vec![location.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        // Any other type counts as absent (docs/api.md §13.2).
        _ => Vec::new(),
    };
    Ok(Principal {
        sub: text("sub")?,
        name: text("name")?,
        job: text("job")?,
        locations,
    })
}

/// A short reason for a token rejection; it never quotes the token.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::ExpiredSignature => "token expired".to_owned(),
        ErrorKind::ImmatureSignature => "token not yet valid (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("claim {claim} is missing"),
        ErrorKind::InvalidClaimFormat(claim) => format!("claim {claim} is malformed"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "algorithm not accepted".to_owned()
        }
        _ => "malformed token".to_owned(),
    }
}

fn reject(reason: String) -> ApiError {
    tracing::info!(reason = %reason, "authentication failed");
    ApiError::Unauthorized
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::OnceLock;

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use http::{HeaderMap, HeaderValue, header};
    use jsonwebtoken::{EncodingKey, Header, get_current_timestamp};
    use serde_json::json;

    use shared::encoding::pem;

    use super::*;

    const ISSUER: &str = "https://identity-provider.example.com";
    const AUDIENCE: &str = "stock-api";

    struct Keys {
        private_pem: String,
        spki_pem: String,
        pkcs1_pem: String,
    }

    /// One key pair for the whole test run: generating RSA keys is slow.
    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
            let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
            let spki = pair.public_key().as_der().unwrap();
            Keys {
                private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
                spki_pem: pem("PUBLIC KEY", spki.as_ref()),
                pkcs1_pem: pem("RSA PUBLIC KEY", pair.public_key().as_ref()),
            }
        })
    }

    fn authenticator() -> Authenticator {
        let pem = keys().spki_pem.as_bytes();
        Authenticator::from_public_key_pem(pem, ISSUER.into(), AUDIENCE.into()).unwrap()
    }

    fn now() -> i64 {
        get_current_timestamp() as i64
    }

    fn claims(job: &str) -> Value {
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600,
            "sub": "u1", "name": "Ann", "job": job,
        })
    }

    fn sign_with(alg: Algorithm, claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(keys().private_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(alg), claims, &key).unwrap()
    }

    fn sign(claims: &Value) -> String {
        sign_with(Algorithm::RS256, claims)
    }

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn check(claims: &Value) -> Result<Principal, ApiError> {
        authenticator().authenticate(&bearer(&format!("Bearer {}", sign(claims))))
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        claims[key] = value;
        claims
    }

    fn without(mut claims: Value, key: &str) -> Value {
        claims.as_object_mut().unwrap().remove(key);
        claims
    }

    #[test]
    fn a_valid_token_yields_its_principal() {
        let claims = with(
            claims("Warehouse Manager"),
            "location",
            json!(["DC01", "Cambridge"]),
        );
        assert_eq!(
            check(&claims),
            Ok(Principal {
                sub: "u1".into(),
                name: "Ann".into(),
                job: "Warehouse Manager".into(),
                locations: vec!["DC01".into(), "Cambridge".into()],
            })
        );
    }

    #[test]
    fn rs256_rs384_and_rs512_are_accepted() {
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            let token = sign_with(alg, &claims("Warehouse Manager"));
            let result = authenticator().authenticate(&bearer(&format!("Bearer {token}")));
            assert!(result.is_ok(), "{alg:?}");
        }
    }

    #[test]
    fn rsa_pss_signatures_are_rejected() {
        for alg in [Algorithm::PS256, Algorithm::PS384, Algorithm::PS512] {
            let token = sign_with(alg, &claims("Warehouse Manager"));
            let result = authenticator().authenticate(&bearer(&format!("Bearer {token}")));
            assert_eq!(result, Err(ApiError::Unauthorized), "{alg:?}");
        }
    }

    #[test]
    fn an_hmac_token_keyed_with_the_public_key_is_rejected() {
        for secret in [keys().spki_pem.as_bytes(), keys().pkcs1_pem.as_bytes()] {
            let key = EncodingKey::from_secret(secret);
            let claims = claims("System Administrator");
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
            let result = authenticator().authenticate(&bearer(&format!("Bearer {token}")));
            assert_eq!(result, Err(ApiError::Unauthorized));
        }
    }

    #[test]
    fn an_unsigned_token_is_rejected() {
        let claims = claims("System Administrator").to_string();
        for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"None"}"#] {
            let token = format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(&claims)
            );
            let result = authenticator().authenticate(&bearer(&format!("Bearer {token}")));
            assert_eq!(result, Err(ApiError::Unauthorized), "{header}");
        }
    }

    #[test]
    fn a_token_signed_by_another_key_or_tampered_with_is_rejected() {
        let token = sign(&claims("Store Stock Controller"));
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(claims("System Administrator").to_string());
        let header = signed.split('.').next().unwrap();
        let tampered = format!("{header}.{forged_claims}.{signature}");
        let result = authenticator().authenticate(&bearer(&format!("Bearer {tampered}")));
        assert_eq!(result, Err(ApiError::Unauthorized));

        let other = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let other_pem = pem("PUBLIC KEY", other.public_key().as_der().unwrap().as_ref());
        let stranger = Authenticator::from_public_key_pem(
            other_pem.as_bytes(),
            ISSUER.into(),
            AUDIENCE.into(),
        )
        .unwrap();
        let result = stranger.authenticate(&bearer(&format!("Bearer {token}")));
        assert_eq!(result, Err(ApiError::Unauthorized));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for value in [
            "Bearer x",
            "Bearer a.b.c",
            "Bearer ..",
            "Bearer ",
            "Bearer e30.e30.e30",
        ] {
            let result = authenticator().authenticate(&bearer(value));
            assert_eq!(result, Err(ApiError::Unauthorized), "{value}");
        }
    }

    #[test]
    fn expiry_is_required_and_checked_with_thirty_seconds_of_leeway() {
        let base = claims("Warehouse Manager");
        assert_eq!(
            check(&without(base.clone(), "exp")),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(
            check(&with(base.clone(), "exp", json!(now() - 3600))),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(
            check(&with(base.clone(), "exp", json!(now() - 60))),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(
            check(&with(base.clone(), "exp", json!("never"))),
            Err(ApiError::Unauthorized)
        );
        assert!(check(&with(base.clone(), "exp", json!(now() - 10))).is_ok());
        assert!(check(&with(base, "exp", json!(now() + 5))).is_ok());
    }

    #[test]
    fn not_before_is_checked_when_present_with_thirty_seconds_of_leeway() {
        let base = claims("Warehouse Manager");
        assert_eq!(
            check(&with(base.clone(), "nbf", json!(now() + 3600))),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(
            check(&with(base.clone(), "nbf", json!(now() + 60))),
            Err(ApiError::Unauthorized)
        );
        assert!(check(&with(base.clone(), "nbf", json!(now() + 10))).is_ok());
        assert!(check(&with(base, "nbf", json!(now() - 3600))).is_ok());
    }

    #[test]
    fn the_issuer_must_be_the_configured_string_exactly() {
        let base = claims("Warehouse Manager");
        for iss in [
            json!("https://identity-provider.example.com/"),
            json!("https://IDENTITY-provider.example.com"),
            json!([ISSUER]),
            json!(null),
            json!(1),
        ] {
            assert_eq!(
                check(&with(base.clone(), "iss", iss.clone())),
                Err(ApiError::Unauthorized),
                "{iss}"
            );
        }
        assert_eq!(check(&without(base, "iss")), Err(ApiError::Unauthorized));
    }

    #[test]
    fn the_audience_must_equal_or_contain_the_configured_one() {
        let base = claims("Warehouse Manager");
        assert!(check(&with(base.clone(), "aud", json!(["other", AUDIENCE]))).is_ok());
        assert!(check(&with(base.clone(), "aud", json!([AUDIENCE]))).is_ok());
        for aud in [
            json!("other"),
            json!("Stock-API"),
            json!([]),
            json!(["other"]),
            json!(5),
        ] {
            assert_eq!(
                check(&with(base.clone(), "aud", aud.clone())),
                Err(ApiError::Unauthorized),
                "{aud}"
            );
        }
        assert_eq!(check(&without(base, "aud")), Err(ApiError::Unauthorized));
    }

    #[test]
    fn subject_name_and_job_are_required_strings() {
        for claim in ["sub", "name", "job"] {
            let base = claims("Warehouse Manager");
            assert_eq!(
                check(&without(base.clone(), claim)),
                Err(ApiError::Unauthorized),
                "{claim}"
            );
            assert_eq!(
                check(&with(base.clone(), claim, json!(7))),
                Err(ApiError::Unauthorized),
                "{claim}"
            );
            assert_eq!(
                check(&with(base, claim, json!(null))),
                Err(ApiError::Unauthorized),
                "{claim}"
            );
        }
    }

    #[test]
    fn the_location_claim_is_a_string_or_the_strings_of_an_array() {
        let cases: &[(Value, &[&str])] = &[
            (json!("DC01"), &["DC01"]),
            (json!(["DC01", "Cambridge"]), &["DC01", "Cambridge"]),
            (
                json!(["DC01", 5, null, {"a": 1}, ["x"], "Cambridge"]),
                &["DC01", "Cambridge"],
            ),
            (json!([]), &[]),
            (json!(5), &[]),
            (json!({"id": "DC01"}), &[]),
            (json!(null), &[]),
            (json!(true), &[]),
        ];
        for (location, expected) in cases {
            let claims = with(claims("Warehouse Manager"), "location", location.clone());
            assert_eq!(check(&claims).unwrap().locations, *expected, "{location}");
        }
        assert!(
            check(&claims("Warehouse Manager"))
                .unwrap()
                .locations
                .is_empty()
        );
    }

    #[test]
    fn only_the_exact_bearer_prefix_is_accepted() {
        let token = sign(&claims("Warehouse Manager"));
        for value in [
            format!("bearer {token}"),
            format!("BEARER {token}"),
            format!("Bearer  {token}"),
            format!("Bearer\t{token}"),
            format!(" Bearer {token}"),
            format!("Bearer {token} "),
            format!("Bearer{token}"),
            format!("Token {token}"),
            "Basic dXNlcjpwYXNz".to_owned(),
            token.clone(),
        ] {
            assert_eq!(
                authenticator().authenticate(&bearer(&value)),
                Err(ApiError::Unauthorized),
                "{value}"
            );
        }
        assert_eq!(
            authenticator().authenticate(&HeaderMap::new()),
            Err(ApiError::Unauthorized)
        );
        assert!(
            authenticator()
                .authenticate(&bearer(&format!("Bearer {token}")))
                .is_ok()
        );
    }

    #[test]
    fn two_authorization_headers_are_rejected() {
        let value = format!("Bearer {}", sign(&claims("Warehouse Manager")));
        let mut headers = bearer(&value);
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        assert_eq!(
            authenticator().authenticate(&headers),
            Err(ApiError::Unauthorized)
        );
    }

    #[test]
    fn a_pkcs1_public_key_file_is_accepted() {
        let pem = keys().pkcs1_pem.as_bytes();
        let auth = Authenticator::from_public_key_pem(pem, ISSUER.into(), AUDIENCE.into()).unwrap();
        let token = sign(&claims("Warehouse Manager"));
        assert!(
            auth.authenticate(&bearer(&format!("Bearer {token}")))
                .is_ok()
        );
    }

    #[test]
    fn key_files_that_are_not_rsa_public_keys_are_refused() {
        let garbage = pem("PUBLIC KEY", b"not a key");
        for pem in [keys().private_pem.as_str(), "", "hello", garbage.as_str()] {
            let result =
                Authenticator::from_public_key_pem(pem.as_bytes(), ISSUER.into(), AUDIENCE.into());
            assert!(result.is_err(), "{pem}");
        }
    }

    #[test]
    fn the_job_matrix_grants_exactly_the_specified_permissions() {
        use Permission::*;
        let all = [
            CountRead,
            CountWrite,
            LevelRead,
            MovementRead,
            MovementWrite,
            JobPermissionRead,
            JobPermissionWrite,
        ];
        let matrix: &[(&str, &[Permission])] = &[
            (
                "Regional Stock Auditor",
                &[CountRead, LevelRead, MovementRead],
            ),
            (
                "Store Stock Controller",
                &[
                    CountRead,
                    CountWrite,
                    LevelRead,
                    MovementRead,
                    MovementWrite,
                ],
            ),
            (
                "Warehouse Manager",
                &[
                    CountRead,
                    CountWrite,
                    LevelRead,
                    MovementRead,
                    MovementWrite,
                ],
            ),
            ("System Administrator", &all),
            ("Read Only User", &[]),
            ("system administrator", &[]),
            ("Warehouse Manager ", &[]),
            ("", &[]),
        ];
        for (job, granted) in matrix {
            let principal = Principal {
                sub: "u".into(),
                name: "n".into(),
                job: (*job).into(),
                locations: vec![],
            };
            for permission in all {
                let expected = if granted.contains(&permission) {
                    Ok(())
                } else {
                    Err(ApiError::PermissionDenied)
                };
                assert_eq!(
                    principal.authorize(permission, "DC01"),
                    expected,
                    "{job} {permission}"
                );
            }
        }
    }

    #[test]
    fn permissions_have_their_spec_names() {
        assert_eq!(Permission::CountRead.to_string(), "stock:count:read");
        assert_eq!(Permission::CountWrite.to_string(), "stock:count:write");
        assert_eq!(Permission::LevelRead.to_string(), "stock:level:read");
        assert_eq!(Permission::MovementRead.to_string(), "stock:movement:read");
        assert_eq!(
            Permission::MovementWrite.to_string(),
            "stock:movement:write"
        );
        assert_eq!(
            Permission::JobPermissionRead.to_string(),
            "job:permission:read"
        );
        assert_eq!(
            Permission::JobPermissionWrite.to_string(),
            "job:permission:write"
        );
    }

    fn principal_of(job: &str, locations: &[&str]) -> Principal {
        Principal {
            sub: "u".into(),
            name: "n".into(),
            job: job.into(),
            locations: locations.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn a_non_empty_location_claim_scopes_every_job_exactly() {
        let denied = Err(ApiError::PermissionDenied);
        let controller = principal_of("Store Stock Controller", &["Cambridge"]);
        assert_eq!(controller.authorize(Permission::CountWrite, "DC01"), denied);
        assert_eq!(
            controller.authorize(Permission::CountWrite, "Cambridge"),
            Ok(())
        );
        assert_eq!(
            controller.authorize(Permission::CountWrite, "cambridge"),
            denied
        );
        assert_eq!(
            controller.authorize(Permission::CountWrite, "Cambridge "),
            denied
        );
        let dc = principal_of("Store Stock Controller", &["DC01"]);
        assert_eq!(dc.authorize(Permission::MovementWrite, "DC01"), Ok(()));
        let admin = principal_of("System Administrator", &["Central Store"]);
        assert_eq!(
            admin.authorize(Permission::LevelRead, "Central Store"),
            Ok(())
        );
        assert_eq!(admin.authorize(Permission::LevelRead, "DC01"), denied);
    }

    #[test]
    fn no_location_claim_means_no_restriction_but_permissions_still_apply() {
        let auditor = principal_of("Regional Stock Auditor", &[]);
        assert_eq!(auditor.authorize(Permission::LevelRead, "anywhere"), Ok(()));
        assert_eq!(
            auditor.authorize(Permission::MovementWrite, "anywhere"),
            Err(ApiError::PermissionDenied)
        );
    }

    #[test]
    fn a_missing_permission_is_denied_before_the_scope_is_looked_at() {
        let auditor = principal_of("Regional Stock Auditor", &["DC01"]);
        assert_eq!(
            auditor.authorize(Permission::CountWrite, "DC01"),
            Err(ApiError::PermissionDenied)
        );
    }
}
