//! Stock movements in the product's words: deliveries, sales, moves and counts that must succeed.
//!
//! These are sent by an unrestricted System Administrator, whatever the scenario's caller, so
//! they set the scene without depending on the caller's permissions.

use anyhow::{Context, ensure};
use cucumber::gherkin::Step;
use cucumber::{given, when};
use reqwest::Method;

use super::{quoted, segment};
use crate::world::{Request, StockWorld};

async fn must_succeed(world: &mut StockWorld, request: Request) -> anyhow::Result<()> {
    let answer = world.send_as_admin(request.clone()).await?;
    ensure!(
        answer.status == 201,
        "{} {} answered {} {}",
        request.method,
        request.path,
        answer.status,
        answer.text()
    );
    Ok(())
}

fn delivery(world: &mut StockWorld, at: &str, when: &str, lines: &[(String, String)]) -> Request {
    let lines: Vec<String> = lines
        .iter()
        .map(|(product, quantity)| {
            format!(
                r#"{{"productId":{},"quantity":{quantity}}}"#,
                quoted(product)
            )
        })
        .collect();
    let body = format!(
        r#"{{"requestId":{},"supplierId":"Acme Foods","supplierRef":"PO-{}","deliveredAt":{},"products":[{}]}}"#,
        quoted(&world.fresh_request_id()),
        lines.len(),
        quoted(when),
        lines.join(",")
    );
    Request::json(
        Method::POST,
        format!("/locations/{}/deliveries", segment(at)),
        body,
    )
}

#[given(regex = r#"^"([^"]*)" received a delivery of (\S+) "([^"]*)" at "([^"]*)"$"#)]
#[when(regex = r#"^"([^"]*)" receives a delivery of (\S+) "([^"]*)" at "([^"]*)"$"#)]
async fn delivered(
    world: &mut StockWorld,
    at: String,
    quantity: String,
    product: String,
    when: String,
) -> anyhow::Result<()> {
    let request = delivery(world, &at, &when, &[(product, quantity)]);
    must_succeed(world, request).await
}

#[given(regex = r#"^"([^"]*)" received a delivery at "([^"]*)" of:$"#)]
#[when(regex = r#"^"([^"]*)" receives a delivery at "([^"]*)" of:$"#)]
async fn delivered_lines(
    world: &mut StockWorld,
    step: &Step,
    at: String,
    when: String,
) -> anyhow::Result<()> {
    let table = step
        .table
        .as_ref()
        .context("the step needs a | product | quantity | table")?;
    let lines: Vec<(String, String)> = table
        .rows
        .iter()
        .skip(1)
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let request = delivery(world, &at, &when, &lines);
    must_succeed(world, request).await
}

pub(super) fn sale(
    world: &mut StockWorld,
    at: &str,
    quantity: &str,
    product: &str,
    when: &str,
) -> Request {
    let body = format!(
        r#"{{"requestId":{},"quantity":{quantity},"soldAt":{}}}"#,
        quoted(&world.fresh_request_id()),
        quoted(when)
    );
    let path = format!(
        "/locations/{}/products/{}/sales",
        segment(at),
        segment(product)
    );
    Request::json(Method::POST, path, body)
}

#[given(regex = r#"^"([^"]*)" sold (\S+) "([^"]*)" at "([^"]*)"$"#)]
#[when(regex = r#"^"([^"]*)" sells (\S+) "([^"]*)" at "([^"]*)"$"#)]
async fn sold(
    world: &mut StockWorld,
    at: String,
    quantity: String,
    product: String,
    when: String,
) -> anyhow::Result<()> {
    let request = sale(world, &at, &quantity, &product, &when);
    must_succeed(world, request).await
}

pub(super) fn movement(
    world: &mut StockWorld,
    quantity: &str,
    product: &str,
    from: &str,
    to: &str,
    when: &str,
) -> Request {
    let body = format!(
        r#"{{"requestId":{},"destinationLocationId":{},"quantity":{quantity},"reason":"replenishment","movedAt":{}}}"#,
        quoted(&world.fresh_request_id()),
        quoted(to),
        quoted(when)
    );
    let path = format!(
        "/locations/{}/{}/movements",
        segment(from),
        segment(product)
    );
    Request::json(Method::POST, path, body)
}

#[given(regex = r#"^(\S+) "([^"]*)" (?:was|were) moved from "([^"]*)" to "([^"]*)" at "([^"]*)"$"#)]
#[when(regex = r#"^(\S+) "([^"]*)" (?:is|are) moved from "([^"]*)" to "([^"]*)" at "([^"]*)"$"#)]
async fn moved(
    world: &mut StockWorld,
    quantity: String,
    product: String,
    from: String,
    to: String,
    when: String,
) -> anyhow::Result<()> {
    let request = movement(world, &quantity, &product, &from, &to, &when);
    must_succeed(world, request).await
}

#[given(regex = r#"^"([^"]*)" at "([^"]*)" was counted at (\S+) at "([^"]*)"$"#)]
#[when(regex = r#"^"([^"]*)" at "([^"]*)" is counted at (\S+) at "([^"]*)"$"#)]
async fn counted(
    world: &mut StockWorld,
    product: String,
    at: String,
    quantity: String,
    when: String,
) -> anyhow::Result<()> {
    let body = format!(
        r#"{{"requestId":{},"reason":"AdminOverride","quantity":{quantity},"countedAt":{}}}"#,
        quoted(&world.fresh_request_id()),
        quoted(&when)
    );
    let path = format!(
        "/locations/{}/products/{}/counts",
        segment(&at),
        segment(&product)
    );
    must_succeed(world, Request::json(Method::POST, path, body)).await
}
