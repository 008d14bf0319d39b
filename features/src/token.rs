//! Signing keys of the test identity provider and bearer tokens minted with them.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use shared::encoding::pem;

/// The issuer every scenario's service expects.
pub const ISSUER: &str = "https://identity-provider.example.com";
/// The audience every scenario's service expects.
pub const AUDIENCE: &str = "stock-api";

/// The identity provider's RSA key pair, plus a stranger's key for forged signatures.
#[derive(Debug)]
pub struct Keys {
    /// PKCS#8 private key, PEM `PRIVATE KEY`.
    pub private_pem: String,
    /// SubjectPublicKeyInfo public key, PEM `PUBLIC KEY`: what the service verifies with.
    pub public_pem: String,
    /// Another PKCS#8 private key the service does not know.
    pub stranger_private_pem: String,
    /// The public key as a PKCS#1 `RSA PUBLIC KEY` PEM, the other accepted form.
    pub public_pkcs1_pem: String,
}

impl Keys {
    /// Generates the two RSA-2048 key pairs.
    pub fn generate() -> anyhow::Result<Keys> {
        let (private_pem, spki) = rsa_pair()?;
        let (stranger_private_pem, _) = rsa_pair()?;
        Ok(Keys {
            private_pem,
            public_pem: pem("PUBLIC KEY", &spki),
            stranger_private_pem,
            public_pkcs1_pem: pem("RSA PUBLIC KEY", spki_to_pkcs1(&spki)?),
        })
    }
}

/// A fresh key pair: the PKCS#8 private key as PEM and the public key as SPKI DER.
fn rsa_pair() -> anyhow::Result<(String, Vec<u8>)> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow!("RSA key generation"))?;
    let private = pair.as_der().map_err(|_| anyhow!("PKCS#8 encoding"))?;
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| anyhow!("SPKI encoding"))?;
    Ok((
        pem("PRIVATE KEY", private.as_ref()),
        public.as_ref().to_vec(),
    ))
}

/// The PKCS#1 `RSAPublicKey` inside a SubjectPublicKeyInfo:
/// `SEQUENCE { SEQUENCE algorithm, BIT STRING { 0x00, RSAPublicKey } }`.
fn spki_to_pkcs1(spki: &[u8]) -> anyhow::Result<&[u8]> {
    let (tag, info, _) = der_element(spki)?;
    anyhow::ensure!(tag == 0x30, "SPKI is not a SEQUENCE");
    let (_, _, rest) = der_element(info)?;
    let (tag, bits, _) = der_element(rest)?;
    anyhow::ensure!(
        tag == 0x03 && bits.first() == Some(&0),
        "SPKI key is not a BIT STRING"
    );
    Ok(&bits[1..])
}

/// Splits one DER element off `input`: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> anyhow::Result<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first().context("truncated DER")?;
    let (&first, rest) = rest.split_first().context("truncated DER")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let width = usize::from(first & 0x7f);
        anyhow::ensure!(width <= 4 && rest.len() >= width, "bad DER length");
        let len = rest[..width]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[width..])
    };
    anyhow::ensure!(rest.len() >= len, "truncated DER");
    Ok((tag, &rest[..len], &rest[len..]))
}

/// How a token is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// RS256, RS384 or RS512 with the identity provider's key.
    Rsa(Algorithm),
    /// HMAC-SHA256 with a shared secret: never acceptable.
    Hs256,
    /// RS256 with a key the service does not know.
    Stranger,
    /// `alg: none` and an empty signature.
    Unsigned,
    /// Correctly signed, then one character of the payload altered.
    Tampered,
}

/// What a token says and how it is signed.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    /// The payload, claim by claim.
    pub claims: Map<String, Value>,
    /// The signature scheme.
    pub signing: Signing,
}

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
}

impl TokenSpec {
    /// A valid token for `job`, without a `location` claim, valid for an hour.
    pub fn for_job(job: &str) -> TokenSpec {
        let now = now();
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "user-0001", "name": "Sam Taylor", "job": job,
            "iat": now, "exp": now + 3600,
        });
        let claims = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        TokenSpec {
            claims,
            signing: Signing::Rsa(Algorithm::RS256),
        }
    }

    /// The compact JWS.
    pub fn mint(&self, keys: &Keys) -> anyhow::Result<String> {
        match self.signing {
            Signing::Rsa(alg) => sign(alg, &self.claims, &keys.private_pem),
            Signing::Stranger => sign(Algorithm::RS256, &self.claims, &keys.stranger_private_pem),
            Signing::Hs256 => {
                let key = EncodingKey::from_secret(keys.public_pem.as_bytes());
                Ok(jsonwebtoken::encode(
                    &Header::new(Algorithm::HS256),
                    &self.claims,
                    &key,
                )?)
            }
            Signing::Unsigned => {
                let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
                let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&self.claims)?);
                Ok(format!("{header}.{payload}."))
            }
            Signing::Tampered => tamper(&sign(Algorithm::RS256, &self.claims, &keys.private_pem)?),
        }
    }
}

fn sign(alg: Algorithm, claims: &Map<String, Value>, private_pem: &str) -> anyhow::Result<String> {
    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).context("RSA private key")?;
    Ok(jsonwebtoken::encode(&Header::new(alg), claims, &key)?)
}

/// Re-encodes the payload with the `sub` claim changed, keeping the original signature.
fn tamper(token: &str) -> anyhow::Result<String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        anyhow::bail!("not a compact JWS");
    };
    let mut claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
    claims.insert("sub".to_owned(), Value::String("someone-else".to_owned()));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
    Ok(format!("{header}.{payload}.{signature}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, decode};

    use super::*;

    fn verify(token: &str, keys: &Keys, alg: Algorithm) -> jsonwebtoken::errors::Result<Value> {
        let key = DecodingKey::from_rsa_pem(keys.public_pem.as_bytes())?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        decode::<Value>(token, &key, &validation).map(|data| data.claims)
    }

    #[test]
    fn a_minted_token_verifies_with_the_public_key_for_every_rsa_algorithm() {
        let keys = Keys::generate().unwrap();
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            let mut spec = TokenSpec::for_job("Warehouse Manager");
            spec.signing = Signing::Rsa(alg);
            let claims = verify(&spec.mint(&keys).unwrap(), &keys, alg).unwrap();
            assert_eq!(claims["job"], "Warehouse Manager");
        }
    }

    #[test]
    fn forged_tampered_and_unsigned_tokens_do_not_verify() {
        let keys = Keys::generate().unwrap();
        for signing in [Signing::Stranger, Signing::Tampered, Signing::Unsigned] {
            let mut spec = TokenSpec::for_job("Warehouse Manager");
            spec.signing = signing;
            let token = spec.mint(&keys).unwrap();
            assert!(
                verify(&token, &keys, Algorithm::RS256).is_err(),
                "{signing:?} verified"
            );
        }
    }

    #[test]
    fn a_token_verifies_with_the_pkcs1_form_of_the_public_key() {
        let keys = Keys::generate().unwrap();
        let token = TokenSpec::for_job("Warehouse Manager").mint(&keys).unwrap();
        let key = DecodingKey::from_rsa_pem(keys.public_pkcs1_pem.as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        assert!(decode::<Value>(&token, &key, &validation).is_ok());
        assert!(
            keys.public_pkcs1_pem
                .starts_with("-----BEGIN RSA PUBLIC KEY-----\n")
        );
    }

    #[test]
    fn an_unsigned_token_has_three_parts_and_an_empty_signature() {
        let keys = Keys::generate().unwrap();
        let mut spec = TokenSpec::for_job("Warehouse Manager");
        spec.signing = Signing::Unsigned;
        let token = spec.mint(&keys).unwrap();
        assert!(token.ends_with('.'));
        assert_eq!(token.split('.').count(), 3);
    }
}
