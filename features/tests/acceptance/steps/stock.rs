//! Stock levels as a reader sees them (read as an unrestricted System Administrator).

use anyhow::{Context, ensure};
use cucumber::gherkin::Step;
use cucumber::then;
use features::json::{assert_quantity_format, assert_same_value};
use reqwest::Method;
use serde_json::{Map, Value};

use super::segment;
use crate::world::{Request, StockWorld};

/// `lastUpdated` of a pot that never received an event.
const NEVER: &str = "-999999999-01-01T00:00:00";

async fn read(
    world: &mut StockWorld,
    product: &str,
    at: &str,
    children: bool,
) -> anyhow::Result<String> {
    let query = if children {
        ""
    } else {
        "?includeChildren=false"
    };
    let path = format!(
        "/locations/{}/products/{}{query}",
        segment(at),
        segment(product)
    );
    let answer = world.send_as_admin(Request::new(Method::GET, path)).await?;
    ensure!(
        answer.status == 200,
        "reading {product} at {at}: {} {}",
        answer.status,
        answer.text()
    );
    let text = answer.text();
    assert_quantity_format(&text)?;
    Ok(text)
}

fn number(literal: &str) -> anyhow::Result<Value> {
    let value: Value =
        serde_json::from_str(literal).with_context(|| format!("bad quantity {literal}"))?;
    ensure!(
        value.is_f64(),
        "write expected quantities with a fraction, like 5.0 (got {literal})"
    );
    Ok(value)
}

/// The body of an own-stock read (`includeChildren=false`), with the omission rules applied.
fn own_body(
    product: &str,
    at: &str,
    quantity: &str,
    pending: &str,
    updated: &str,
) -> anyhow::Result<String> {
    let mut body = Map::new();
    body.insert("locationId".into(), at.into());
    body.insert("productId".into(), product.into());
    body.insert("quantity".into(), number(quantity)?);
    if number(pending)?.as_f64() != Some(0.0) {
        body.insert("pendingAdjustment".into(), number(pending)?);
    }
    body.insert("lastUpdated".into(), updated.into());
    Ok(Value::Object(body).to_string())
}

#[then(
    regex = r#"^the stock of "([^"]*)" at "([^"]*)" is (\S+), pending (\S+), last updated "([^"]*)"$"#
)]
async fn own_stock_pending(
    world: &mut StockWorld,
    product: String,
    at: String,
    quantity: String,
    pending: String,
    updated: String,
) -> anyhow::Result<()> {
    let actual = read(world, &product, &at, false).await?;
    assert_same_value(
        &own_body(&product, &at, &quantity, &pending, &updated)?,
        &actual,
    )
}

#[then(regex = r#"^the stock of "([^"]*)" at "([^"]*)" is (\S+), last updated "([^"]*)"$"#)]
async fn own_stock(
    world: &mut StockWorld,
    product: String,
    at: String,
    quantity: String,
    updated: String,
) -> anyhow::Result<()> {
    let actual = read(world, &product, &at, false).await?;
    assert_same_value(
        &own_body(&product, &at, &quantity, "0.0", &updated)?,
        &actual,
    )
}

#[then(regex = r#"^the stock of "([^"]*)" at "([^"]*)" has never been updated$"#)]
async fn never_updated(world: &mut StockWorld, product: String, at: String) -> anyhow::Result<()> {
    let actual = read(world, &product, &at, false).await?;
    assert_same_value(&own_body(&product, &at, "0.0", "0.0", NEVER)?, &actual)
}

fn field(text: &str, name: &str) -> anyhow::Result<Value> {
    let body: Value = serde_json::from_str(text)?;
    body.get(name)
        .cloned()
        .with_context(|| format!("no {name} in {text}"))
}

#[then(regex = r#"^the stock of "([^"]*)" at "([^"]*)" is (\S+)$"#)]
async fn quantity_is(
    world: &mut StockWorld,
    product: String,
    at: String,
    quantity: String,
) -> anyhow::Result<()> {
    let actual = read(world, &product, &at, false).await?;
    let got = field(&actual, "quantity")?;
    ensure!(
        got == number(&quantity)?,
        "quantity {got}, expected {quantity}, in {actual}"
    );
    Ok(())
}

#[then(regex = r#"^the total of "([^"]*)" at "([^"]*)" is (\S+)$"#)]
async fn total_is(
    world: &mut StockWorld,
    product: String,
    at: String,
    total: String,
) -> anyhow::Result<()> {
    let actual = read(world, &product, &at, true).await?;
    let got = field(&actual, "totalQuantity")?;
    ensure!(
        got == number(&total)?,
        "totalQuantity {got}, expected {total}, in {actual}"
    );
    Ok(())
}

/// A total beyond the double range has no double to compare with: its literal is compared with
/// `expected` (`3.3999999999999999e308`) written out without an exponent, as the service writes it.
#[then(regex = r#"^the total of "([^"]*)" at "([^"]*)" is beyond every double, written (\S+)$"#)]
async fn total_beyond_range(
    world: &mut StockWorld,
    product: String,
    at: String,
    expected: String,
) -> anyhow::Result<()> {
    let path = format!("/locations/{}/products/{}", segment(&at), segment(&product));
    let answer = world.send_as_admin(Request::new(Method::GET, path)).await?;
    let text = answer.text();
    ensure!(
        answer.status == 200,
        "reading {product} at {at}: {} {text}",
        answer.status
    );
    let (_, after) = text
        .split_once(r#""totalQuantity":"#)
        .with_context(|| format!("no totalQuantity in {text}"))?;
    let literal = after.split([',', '}']).next().unwrap_or_default();
    let wanted = without_exponent(&expected)?;
    ensure!(
        literal == wanted,
        "totalQuantity {literal}, expected {wanted}"
    );
    Ok(())
}

/// `3.4e308` as `34` followed by 307 zeros and `.0`.
fn without_exponent(scientific: &str) -> anyhow::Result<String> {
    let (mantissa, exponent) = scientific
        .split_once('e')
        .with_context(|| format!("{scientific} has no exponent"))?;
    let exponent: usize = exponent.parse().context("exponent")?;
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let zeros = exponent
        .checked_sub(fraction.len())
        .with_context(|| format!("{scientific} is not an integer"))?;
    Ok(format!("{sign}{whole}{fraction}{}.0", "0".repeat(zeros)))
}

#[then(regex = r#"^the stock of "([^"]*)" at "([^"]*)" with everything below it is:$"#)]
async fn stock_tree(
    world: &mut StockWorld,
    step: &Step,
    product: String,
    at: String,
) -> anyhow::Result<()> {
    let expected = step
        .docstring
        .as_ref()
        .context("the step needs a doc string")?;
    let actual = read(world, &product, &at, true).await?;
    assert_same_value(expected, &actual)
}
