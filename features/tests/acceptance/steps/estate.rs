//! The estate: which locations exist, how they nest and which of them hold stock.

use anyhow::{Context, bail};
use cucumber::gherkin::Step;
use cucumber::{given, when};
use features::estate::{Estate, TRACKED, parse_roles};

use crate::world::StockWorld;

/// The estate most scenarios run against (see the fixture for the full tree).
const RETAIL_ESTATE: &str = include_str!("../../fixtures/retail-estate.json");

#[given("the retail estate")]
async fn retail_estate(world: &mut StockWorld) -> anyhow::Result<()> {
    world.estate = Estate::from_json(RETAIL_ESTATE)?;
    world.publish_estate().await
}

#[given("an estate of:")]
async fn estate_of(world: &mut StockWorld, step: &Step) -> anyhow::Result<()> {
    let table = step.table.as_ref().context("the step needs a table")?;
    let mut rows = table.rows.iter();
    let header: Vec<&str> = rows
        .next()
        .context("empty table")?
        .iter()
        .map(String::as_str)
        .collect();
    if header != ["location", "parent", "roles"] {
        bail!("the table columns must be | location | parent | roles |, got {header:?}");
    }
    world.estate = Estate::from_rows(
        rows.map(|row| (row[0].as_str(), row[1].as_str(), parse_roles(&row[2]))),
    )?;
    // A running service (started by an earlier step) is handed the new estate at once.
    world.publish_estate().await
}

#[given(regex = r#"^the estate is reorganised so that "([^"]*)" comes under "([^"]*)"$"#)]
#[when(regex = r#"^the estate is reorganised so that "([^"]*)" comes under "([^"]*)"$"#)]
async fn reorganised(world: &mut StockWorld, id: String, parent: String) -> anyhow::Result<()> {
    world.estate.move_under(&id, &parent)?;
    world.publish_estate().await
}

#[given(regex = r#"^"([^"]*)" becomes a tracked location$"#)]
#[when(regex = r#"^"([^"]*)" becomes a tracked location$"#)]
async fn becomes_tracked(world: &mut StockWorld, id: String) -> anyhow::Result<()> {
    let mut roles = world
        .estate
        .find(&id)
        .context("unknown location")?
        .roles
        .clone();
    roles.push(TRACKED.to_owned());
    world.estate.set_roles(&id, roles)?;
    world.publish_estate().await
}

#[given(regex = r#"^"([^"]*)" stops being a tracked location$"#)]
#[when(regex = r#"^"([^"]*)" stops being a tracked location$"#)]
async fn stops_tracking(world: &mut StockWorld, id: String) -> anyhow::Result<()> {
    let mut roles = world
        .estate
        .find(&id)
        .context("unknown location")?
        .roles
        .clone();
    roles.retain(|role| role != TRACKED);
    world.estate.set_roles(&id, roles)?;
    world.publish_estate().await
}

#[given(regex = r#"^a location "([^"]*)" with roles "([^"]*)" opens under "([^"]*)"$"#)]
#[when(regex = r#"^a location "([^"]*)" with roles "([^"]*)" opens under "([^"]*)"$"#)]
async fn opens(
    world: &mut StockWorld,
    id: String,
    roles: String,
    parent: String,
) -> anyhow::Result<()> {
    world.estate.add(&id, Some(&parent), parse_roles(&roles))?;
    world.publish_estate().await
}
