//! Requests that arrive at the same time, and what became of each of them.

use anyhow::ensure;
use cucumber::{then, when};
use features::token::TokenSpec;
use futures::future::join_all;

use super::writes::{movement, sale};
use crate::world::{Request, StockWorld, suite};

/// Sends all requests at once, as an unrestricted System Administrator, and keeps every
/// answer's status and body in the world.
async fn all_at_once(world: &mut StockWorld, requests: Vec<Request>) -> anyhow::Result<()> {
    let addr = world.start().await?;
    let token = TokenSpec::for_job("System Administrator").mint(&suite()?.keys)?;
    let client = &suite()?.client;
    let sends = requests.iter().map(|request| {
        client
            .post(format!("http://{addr}{}", request.path))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(request.body.clone().unwrap_or_default())
            .send()
    });
    world.burst.clear();
    for result in join_all(sends).await {
        let response = result?;
        let status = response.status().as_u16();
        world.burst.push((status, response.text().await?));
    }
    Ok(())
}

fn all_accepted(world: &StockWorld) -> anyhow::Result<()> {
    for (status, body) in &world.burst {
        ensure!(*status == 201, "a request answered {status} {body}");
    }
    Ok(())
}

#[when(regex = r#"^(\d+) sales of (\S+) "([^"]*)" at "([^"]*)" arrive at the same time$"#)]
async fn simultaneous_sales(
    world: &mut StockWorld,
    count: usize,
    quantity: String,
    product: String,
    at: String,
) -> anyhow::Result<()> {
    let requests: Vec<Request> = (0..count)
        .map(|i| {
            let when = format!("2024-12-07T12:{:02}:00", i % 60);
            sale(world, &at, &quantity, &product, &when)
        })
        .collect();
    all_at_once(world, requests).await?;
    all_accepted(world)
}

#[when(
    regex = r#"^ten times over, (\S+) "([^"]*)" moves from "([^"]*)" to "([^"]*)" while (\S+) moves back, all at the same time$"#
)]
async fn crossing_moves(
    world: &mut StockWorld,
    there: String,
    product: String,
    a: String,
    b: String,
    back: String,
) -> anyhow::Result<()> {
    let mut requests = Vec::new();
    for round in 0..10 {
        let when = format!("2024-12-07T13:{round:02}:00");
        requests.push(movement(world, &there, &product, &a, &b, &when));
        requests.push(movement(world, &back, &product, &b, &a, &when));
    }
    all_at_once(world, requests).await?;
    all_accepted(world)
}

#[when(
    regex = r#"^(\d+) moves of (\S+) "([^"]*)" from "([^"]*)" to "([^"]*)" arrive at the same time$"#
)]
async fn simultaneous_moves(
    world: &mut StockWorld,
    count: usize,
    quantity: String,
    product: String,
    from: String,
    to: String,
) -> anyhow::Result<()> {
    let requests: Vec<Request> = (0..count)
        .map(|_| {
            movement(
                world,
                &quantity,
                &product,
                &from,
                &to,
                "2024-12-07T13:00:00",
            )
        })
        .collect();
    all_at_once(world, requests).await
}

#[when(
    regex = r#"^the same sale of (\S+) "([^"]*)" at "([^"]*)" arrives (\d+) times at the same time$"#
)]
async fn simultaneous_replays(
    world: &mut StockWorld,
    quantity: String,
    product: String,
    at: String,
    count: usize,
) -> anyhow::Result<()> {
    let request = sale(world, &at, &quantity, &product, "2024-12-07T12:00:00");
    all_at_once(world, vec![request; count]).await
}

#[then(regex = r"^(\d+) of them were accepted and (\d+) refused with body (\{.*\})$")]
fn accepted_and_refused(
    world: &mut StockWorld,
    accepted: usize,
    refused: usize,
    body: String,
) -> anyhow::Result<()> {
    let ok = world
        .burst
        .iter()
        .filter(|(status, _)| *status == 201)
        .count();
    let no = world
        .burst
        .iter()
        .filter(|(status, text)| *status == 400 && *text == body)
        .count();
    ensure!(
        ok == accepted && no == refused && ok + no == world.burst.len(),
        "{ok} accepted and {no} refused with {body}, out of {:?}",
        world.burst
    );
    Ok(())
}

#[then("all of them were accepted with the same body")]
fn all_same(world: &mut StockWorld) -> anyhow::Result<()> {
    all_accepted(world)?;
    let first = world
        .burst
        .first()
        .map(|(_, body)| body.clone())
        .unwrap_or_default();
    ensure!(
        world.burst.iter().all(|(_, body)| *body == first),
        "bodies differ: {:?}",
        world.burst
    );
    Ok(())
}
