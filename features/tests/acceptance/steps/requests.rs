//! Raw HTTP: requests exactly as written in the scenario, and checks of the answers.

use anyhow::{Context, bail, ensure};
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use features::json::{assert_quantity_format, assert_same_text, assert_same_value};
use reqwest::Method;

use crate::world::{Answer, Request, StockWorld};

/// Headers the service never sends (`docs/api.md` §1, `docs/api.md` §13.3, `docs/architecture.md` §16.1).
const FORBIDDEN_HEADERS: [&str; 5] = [
    "cache-control",
    "etag",
    "traceparent",
    "tracestate",
    "www-authenticate",
];

fn method(name: &str) -> anyhow::Result<Method> {
    Method::from_bytes(name.as_bytes()).context("bad method")
}

fn docstring(step: &Step) -> anyhow::Result<String> {
    Ok(step
        .docstring
        .as_ref()
        .context("the step needs a doc string")?
        .trim()
        .to_owned())
}

#[given(regex = r#"^my requests carry the header "([^"]*)" with value "([^"]*)"$"#)]
fn extra_header(world: &mut StockWorld, name: String, value: String) {
    world.extra_headers.push((name, value));
}

#[when(regex = r"^I send (GET|POST|PUT|PATCH|DELETE) (\S+)$")]
async fn send_bare(world: &mut StockWorld, verb: String, path: String) -> anyhow::Result<()> {
    world
        .send(Request::new(method(&verb)?, path))
        .await
        .map(|_| ())
}

#[when(regex = r"^I send (POST|PUT|PATCH|DELETE) (\S+) with:$")]
async fn send_json(
    world: &mut StockWorld,
    step: &Step,
    verb: String,
    path: String,
) -> anyhow::Result<()> {
    let request = Request::json(method(&verb)?, path, docstring(step)?);
    world.send(request).await.map(|_| ())
}

/// A move's replay answers 202 while its credit is in transit, which on a distributed stack
/// lasts until the destination's acknowledgement reaches the source: the replay is sent again
/// while it answers 202 (every 50 ms, at most 200 times), so the scenario sees the answer once
/// the move has landed.
#[when(regex = r"^I send POST (\S+) once the move has landed, with:$")]
async fn send_once_landed(world: &mut StockWorld, step: &Step, path: String) -> anyhow::Result<()> {
    let body = docstring(step)?;
    for _ in 0..200 {
        let answer = world
            .send(Request::json(method("POST")?, path.clone(), body.clone()))
            .await?;
        if answer.status != 202 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("{path} still answered 202 after 200 attempts")
}

#[when(regex = r#"^I send POST (\S+) with content type "([^"]*)":$"#)]
async fn send_typed(
    world: &mut StockWorld,
    step: &Step,
    path: String,
    content_type: String,
) -> anyhow::Result<()> {
    let mut request = Request::json(Method::POST, path, docstring(step)?);
    request.content_type = Some(content_type);
    world.send(request).await.map(|_| ())
}

#[when(regex = r"^I send POST (\S+) without a content type:$")]
async fn send_untyped(world: &mut StockWorld, step: &Step, path: String) -> anyhow::Result<()> {
    let mut request = Request::json(Method::POST, path, docstring(step)?);
    request.content_type = None;
    world.send(request).await.map(|_| ())
}

#[when(regex = r"^I send POST (\S+) with an empty JSON body$")]
async fn send_empty(world: &mut StockWorld, path: String) -> anyhow::Result<()> {
    world
        .send(Request::json(Method::POST, path, ""))
        .await
        .map(|_| ())
}

#[when("I send the same request again")]
async fn send_again(world: &mut StockWorld) -> anyhow::Result<()> {
    world.send_again().await.map(|_| ())
}

/// Checks every answer must pass: status, forbidden headers, JSON type and number format.
fn check(answer: &Answer, status: u16) -> anyhow::Result<()> {
    ensure!(
        answer.status == status,
        "status {} instead of {status} for {}; body: {}",
        answer.status,
        answer.path,
        answer.text()
    );
    for name in FORBIDDEN_HEADERS {
        ensure!(
            answer.header(name).is_none(),
            "the answer carries a {name} header"
        );
    }
    Ok(())
}

/// Checks a JSON answer: `application/json`, and quantities written as the contract says.
fn check_json(answer: &Answer) -> anyhow::Result<()> {
    let content_type = answer.header("content-type").unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ensure!(
        essence == "application/json",
        "content type {content_type:?} is not application/json"
    );
    if answer.path.starts_with("/locations/") {
        assert_quantity_format(&answer.text())?;
    }
    Ok(())
}

#[then(regex = r"^the response status is (\d+)$")]
fn status_is(world: &mut StockWorld, status: u16) -> anyhow::Result<()> {
    check(world.last()?, status)
}

#[then(regex = r"^the response is (\d+) with body (\{.*\})$")]
fn body_inline(world: &mut StockWorld, status: u16, body: String) -> anyhow::Result<()> {
    let answer = world.last()?;
    check(answer, status)?;
    check_json(answer)?;
    assert_same_text(&body, &answer.text())
}

#[then(regex = r"^the response is (\d+) with body:$")]
fn body_exact(world: &mut StockWorld, step: &Step, status: u16) -> anyhow::Result<()> {
    let answer = world.last()?;
    check(answer, status)?;
    check_json(answer)?;
    assert_same_text(&docstring(step)?, &answer.text())
}

#[then(regex = r"^the response is (\d+) with a body like:$")]
fn body_like(world: &mut StockWorld, step: &Step, status: u16) -> anyhow::Result<()> {
    let answer = world.last()?;
    check(answer, status)?;
    check_json(answer)?;
    assert_same_value(&docstring(step)?, &answer.text())
}

#[then(regex = r"^the response is (\d+) with an empty body$")]
fn empty_body(world: &mut StockWorld, status: u16) -> anyhow::Result<()> {
    let answer = world.last()?;
    check(answer, status)?;
    ensure!(
        answer.body.is_empty(),
        "the body is not empty: {:?}",
        answer.text()
    );
    Ok(())
}

#[then(regex = r"^the response is (\d+), byte for byte the (first|previous) answer$")]
fn same_as_earlier(world: &mut StockWorld, status: u16, which: String) -> anyhow::Result<()> {
    let answer = world.last()?;
    check(answer, status)?;
    let index = if which == "first" {
        0
    } else {
        world.answers.len().saturating_sub(2)
    };
    let earlier = world
        .answers
        .get(index)
        .context("there is no earlier answer")?;
    ensure!(world.answers.len() >= 2, "only one answer was received");
    if earlier.body != answer.body {
        bail!(
            "the body changed\n  {which}: {}\n  now:   {}",
            earlier.text(),
            answer.text()
        );
    }
    Ok(())
}

#[then(regex = r#"^the response has the header "([^"]*)" with value "([^"]*)"$"#)]
fn header_is(world: &mut StockWorld, name: String, value: String) -> anyhow::Result<()> {
    let actual = world
        .last()?
        .header(&name)
        .with_context(|| format!("no {name} header"))?;
    ensure!(actual == value, "{name} is {actual:?}, expected {value:?}");
    Ok(())
}

#[then(regex = r#"^the response has no "([^"]*)" header$"#)]
fn header_absent(world: &mut StockWorld, name: String) -> anyhow::Result<()> {
    let actual = world.last()?.header(&name);
    ensure!(actual.is_none(), "unexpected {name}: {actual:?}");
    Ok(())
}

#[then("the response has no caching, trace-context or authentication challenge headers")]
fn no_forbidden_headers(world: &mut StockWorld) -> anyhow::Result<()> {
    let answer = world.last()?;
    check(answer, answer.status)
}

#[then(regex = r#"^the response content type is "([^"]*)"$"#)]
fn content_type_is(world: &mut StockWorld, expected: String) -> anyhow::Result<()> {
    let actual = world
        .last()?
        .header("content-type")
        .context("no content type")?;
    let normal = |text: &str| text.to_ascii_lowercase().replace(' ', "");
    let (actual_n, expected_n) = (normal(&actual), normal(&expected));
    ensure!(
        actual_n == expected_n || actual_n.starts_with(&format!("{expected_n};")),
        "content type {actual:?}, expected {expected:?}"
    );
    Ok(())
}

/// A valid request of each kind at `location`, as the job matrix needs them.
fn valid_request(kind: &str, location: &str) -> anyhow::Result<Request> {
    let at = super::segment(location);
    let destination = if location == "store3" {
        "WH01"
    } else {
        "store3"
    };
    Ok(match kind {
        "read the stock" => Request::new(Method::GET, format!("/locations/{at}/products/p1")),
        "record a sale" => Request::json(
            Method::POST,
            format!("/locations/{at}/products/p1/sales"),
            r#"{"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}"#,
        ),
        "record a delivery" => Request::json(
            Method::POST,
            format!("/locations/{at}/deliveries"),
            r#"{"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":1}]}"#,
        ),
        "move stock" => Request::json(
            Method::POST,
            format!("/locations/{at}/p1/movements"),
            format!(
                r#"{{"requestId":"m1","destinationLocationId":"{destination}","quantity":0,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}}"#
            ),
        ),
        "count stock" => Request::json(
            Method::POST,
            format!("/locations/{at}/products/p1/counts"),
            r#"{"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"2024-12-07T09:00:00"}"#,
        ),
        other => bail!("unknown kind of request {other:?}"),
    })
}

#[when(
    regex = r#"^I (read the stock|record a sale|record a delivery|move stock|count stock) at "([^"]*)"$"#
)]
async fn send_valid(world: &mut StockWorld, kind: String, location: String) -> anyhow::Result<()> {
    world
        .send(valid_request(&kind, &location)?)
        .await
        .map(|_| ())
}
