//! Who the caller is: jobs, location scopes and every way a bearer token can be wrong.

use anyhow::{Context, bail};
use cucumber::given;
use features::token::{Signing, TokenSpec, now};
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::world::{Credentials, StockWorld};

#[given(regex = r#"^I am an? ([^"]+)$"#)]
fn i_am(world: &mut StockWorld, job: String) {
    world.credentials = Credentials::Token {
        spec: TokenSpec::for_job(&job),
        prefix: "Bearer ".to_owned(),
    };
}

#[given(regex = r#"^I am an? ([^"]+) responsible for (".*")$"#)]
fn i_am_responsible_for(world: &mut StockWorld, job: String, places: String) -> anyhow::Result<()> {
    let places: Vec<Value> = places
        .split('"')
        .skip(1)
        .step_by(2)
        .map(|place| Value::String(place.to_owned()))
        .collect();
    let mut spec = TokenSpec::for_job(&job);
    spec.claims
        .insert("location".to_owned(), Value::Array(places));
    world.credentials = Credentials::Token {
        spec,
        prefix: "Bearer ".to_owned(),
    };
    Ok(())
}

fn token(world: &mut StockWorld) -> anyhow::Result<&mut TokenSpec> {
    match &mut world.credentials {
        Credentials::Token { spec, .. } => Ok(spec),
        _ => bail!("the caller has no token"),
    }
}

#[given(regex = r#"^my token's "(\w+)" claim is (.+)$"#)]
fn claim_is(world: &mut StockWorld, claim: String, value: String) -> anyhow::Result<()> {
    let value: Value = serde_json::from_str(&value).context("the claim value must be JSON")?;
    token(world)?.claims.insert(claim, value);
    Ok(())
}

#[given(regex = r#"^my token has no "(\w+)" claim$"#)]
fn claim_absent(world: &mut StockWorld, claim: String) -> anyhow::Result<()> {
    token(world)?.claims.remove(&claim);
    Ok(())
}

fn seconds(amount: i64, unit: &str) -> anyhow::Result<i64> {
    Ok(match unit.trim_end_matches('s') {
        "second" => amount,
        "minute" => amount * 60,
        "hour" => amount * 3600,
        other => bail!("unknown time unit {other:?}"),
    })
}

#[given(regex = r"^my token expired (\d+) (seconds?|minutes?|hours?) ago$")]
fn expired_ago(world: &mut StockWorld, amount: i64, unit: String) -> anyhow::Result<()> {
    let exp = now() - seconds(amount, &unit)?;
    token(world)?.claims.insert("exp".to_owned(), exp.into());
    Ok(())
}

#[given(regex = r"^my token only becomes valid in (\d+) (seconds?|minutes?|hours?)$")]
fn not_before(world: &mut StockWorld, amount: i64, unit: String) -> anyhow::Result<()> {
    let nbf = now() + seconds(amount, &unit)?;
    token(world)?.claims.insert("nbf".to_owned(), nbf.into());
    Ok(())
}

#[given(regex = r"^my token became valid (\d+) (seconds?|minutes?|hours?) ago$")]
fn valid_since(world: &mut StockWorld, amount: i64, unit: String) -> anyhow::Result<()> {
    let nbf = now() - seconds(amount, &unit)?;
    token(world)?.claims.insert("nbf".to_owned(), nbf.into());
    Ok(())
}

#[given(regex = r"^my token is signed with (RS256|RS384|RS512|HS256)$")]
fn signed_with(world: &mut StockWorld, alg: String) -> anyhow::Result<()> {
    token(world)?.signing = match alg.as_str() {
        "RS256" => Signing::Rsa(Algorithm::RS256),
        "RS384" => Signing::Rsa(Algorithm::RS384),
        "RS512" => Signing::Rsa(Algorithm::RS512),
        _ => Signing::Hs256,
    };
    Ok(())
}

#[given("my token is signed with a key the service does not know")]
fn signed_by_stranger(world: &mut StockWorld) -> anyhow::Result<()> {
    token(world)?.signing = Signing::Stranger;
    Ok(())
}

#[given("my token is unsigned (alg none)")]
fn unsigned(world: &mut StockWorld) -> anyhow::Result<()> {
    token(world)?.signing = Signing::Unsigned;
    Ok(())
}

#[given("my token has been tampered with")]
fn tampered(world: &mut StockWorld) -> anyhow::Result<()> {
    token(world)?.signing = Signing::Tampered;
    Ok(())
}

#[given(regex = r#"^I send my token with the prefix "([^"]*)"$"#)]
fn with_prefix(world: &mut StockWorld, new_prefix: String) -> anyhow::Result<()> {
    match &mut world.credentials {
        Credentials::Token { prefix, .. } => *prefix = new_prefix,
        _ => bail!("the caller has no token"),
    }
    Ok(())
}

#[given("I send no Authorization header")]
fn no_header(world: &mut StockWorld) {
    world.credentials = Credentials::Nothing;
}

#[given(regex = r#"^I send the Authorization header "([^"]*)"$"#)]
fn literal_header(world: &mut StockWorld, value: String) {
    world.credentials = Credentials::Header(value);
}
