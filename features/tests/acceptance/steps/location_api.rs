//! The Location API the service calls: a fake one that serves an estate, fails on demand and
//! records every call, and checks of those calls (`docs/api.md` §15).

use std::time::{Duration, SystemTime};

use anyhow::{Context, bail, ensure};
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use features::estate::{Estate, parse_roles};
use features::location_api::{Call, LocationApi, Reply};
use features::token::TokenSpec;
use futures::future::join_all;
use reqwest::Method;

use crate::world::{Request, StockWorld, suite};

/// The estate most scenarios run against (the same tree as `the retail estate`).
const RETAIL_ESTATE: &str = include_str!("../../fixtures/retail-estate.json");

/// Earliest and latest a retry may come after its delay: scheduling noise on a busy machine.
const EARLY: Duration = Duration::from_millis(20);
const LATE: Duration = Duration::from_millis(100);

/// The scenario's fake Location API.
pub(crate) fn api(world: &StockWorld) -> anyhow::Result<&LocationApi> {
    world
        .location_api
        .as_ref()
        .context("no Location API runs in this scenario")
}

/// Starts a fake Location API serving `estate`; with `used`, the service is pointed at it
/// instead of a locations file.
async fn serve(world: &mut StockWorld, estate: Estate, used: bool) -> anyhow::Result<()> {
    let api = LocationApi::start_on(suite()?.fake_host, estate.clone()).await?;
    if used {
        world
            .settings
            .insert("STOCK_LOCATION_API_URL".to_owned(), Some(api.base_url()));
        world
            .settings
            .insert("STOCK_LOCATIONS_FILE".to_owned(), None);
    }
    world.estate = estate;
    world.location_api = Some(api);
    Ok(())
}

#[given("the Location API serves the retail estate")]
async fn serves_retail(world: &mut StockWorld) -> anyhow::Result<()> {
    serve(world, Estate::from_json(RETAIL_ESTATE)?, true).await
}

#[given("a Location API serving the retail estate runs, unused by the service")]
async fn runs_unused(world: &mut StockWorld) -> anyhow::Result<()> {
    serve(world, Estate::from_json(RETAIL_ESTATE)?, false).await
}

#[given(
    regex = r#"^a location "([^"]*)" with roles "([^"]*)" opens under "([^"]*)" in the Location API$"#
)]
#[when(
    regex = r#"^a location "([^"]*)" with roles "([^"]*)" opens under "([^"]*)" in the Location API$"#
)]
fn opens(world: &mut StockWorld, id: String, roles: String, parent: String) -> anyhow::Result<()> {
    world.estate.add(&id, Some(&parent), parse_roles(&roles))?;
    api(world)?.set_estate(world.estate.clone());
    Ok(())
}

fn statuses(list: &str) -> anyhow::Result<Vec<u16>> {
    list.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .with_context(|| format!("bad status {s:?}"))
        })
        .collect()
}

#[given(regex = r"^the Location API answers (\S+) with ([\d, ]+) before answering normally$")]
fn answers_first(world: &mut StockWorld, target: String, list: String) -> anyhow::Result<()> {
    let replies = statuses(&list)?.into_iter().map(Reply::status);
    api(world)?.answer_next(&target, replies);
    Ok(())
}

#[given(regex = r"^the Location API always answers (\S+) with (\d+)$")]
#[when(regex = r"^the Location API always answers (\S+) with (\d+)$")]
fn answers_always(world: &mut StockWorld, target: String, status: u16) -> anyhow::Result<()> {
    api(world)?.answer_always(&target, |reply| reply.status = Some(status));
    Ok(())
}

#[given(regex = r"^the Location API always answers (\S+) with (\d+) and no body$")]
fn answers_empty(world: &mut StockWorld, target: String, status: u16) -> anyhow::Result<()> {
    api(world)?.answer_always(&target, |reply| {
        reply.status = Some(status);
        reply.body = Some(String::new());
    });
    Ok(())
}

#[given(regex = r"^the Location API answers (\S+) with the body:$")]
fn answers_body(world: &mut StockWorld, step: &Step, target: String) -> anyhow::Result<()> {
    let body = step
        .docstring
        .as_ref()
        .context("the step needs a doc string")?
        .trim()
        .to_owned();
    api(world)?.answer_always(&target, |reply| reply.body = Some(body));
    Ok(())
}

#[given(regex = r"^the Location API takes (\S+) to answer (\S+)$")]
#[when(regex = r"^the Location API takes (\S+) to answer (\S+)$")]
fn answers_slowly(world: &mut StockWorld, delay: String, target: String) -> anyhow::Result<()> {
    let delay = humantime::parse_duration(&delay)?;
    api(world)?.answer_always(&target, |reply| reply.delay = delay);
    Ok(())
}

#[given(regex = r#"^the Location API answers (\S+) with the header "([^":]+): ([^"]*)"$"#)]
fn answers_with_header(
    world: &mut StockWorld,
    target: String,
    name: String,
    value: String,
) -> anyhow::Result<()> {
    api(world)?.answer_always(&target, |reply| reply.headers.push((name, value)));
    Ok(())
}

#[given(
    regex = r"^the Location API answers (\S+) with an Expires header (\d+) seconds (ahead|ago)$"
)]
fn answers_expiring(
    world: &mut StockWorld,
    target: String,
    seconds: u64,
    direction: String,
) -> anyhow::Result<()> {
    let offset = Duration::from_secs(seconds);
    let now = SystemTime::now();
    let when = if direction == "ahead" {
        now + offset
    } else {
        now - offset
    };
    let value = httpdate::fmt_http_date(when);
    api(world)?.answer_always(&target, |reply| {
        reply.headers.push(("Expires".to_owned(), value));
    });
    Ok(())
}

#[given("the Location API answers everything normally again")]
#[when("the Location API answers everything normally again")]
fn normally(world: &mut StockWorld) -> anyhow::Result<()> {
    api(world)?.answer_normally();
    Ok(())
}

#[given("the Location API is down")]
#[when("the Location API goes down")]
fn down(world: &mut StockWorld) -> anyhow::Result<()> {
    api(world)?.go_down();
    Ok(())
}

#[when("the Location API comes back")]
async fn back(world: &mut StockWorld) -> anyhow::Result<()> {
    api(world)?.come_back().await
}

#[given("the Location API calls so far are set aside")]
#[when("the Location API calls so far are set aside")]
fn set_aside(world: &mut StockWorld) -> anyhow::Result<()> {
    api(world)?.set_calls_aside();
    Ok(())
}

#[when(regex = r"^I send GET (\S+) (\d+) times$")]
async fn send_times(world: &mut StockWorld, path: String, times: usize) -> anyhow::Result<()> {
    for _ in 0..times {
        world.send(Request::new(Method::GET, path.clone())).await?;
    }
    Ok(())
}

#[when(regex = r"^I send GET (\S+) (\d+) times at the same time$")]
async fn send_together(world: &mut StockWorld, path: String, times: usize) -> anyhow::Result<()> {
    let addr = world.start().await?;
    let token = TokenSpec::for_job("System Administrator").mint(&suite()?.keys)?;
    let client = &suite()?.client;
    let sends = (0..times).map(|_| {
        client
            .get(format!("http://{addr}{path}"))
            .header("Authorization", format!("Bearer {token}"))
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

#[then(regex = r"^of those, (\d+) answered (\d+) and (\d+) answered (\d+)$")]
fn of_those(
    world: &mut StockWorld,
    first: usize,
    first_status: u16,
    second: usize,
    second_status: u16,
) -> anyhow::Result<()> {
    let count = |status: u16| world.burst.iter().filter(|(s, _)| *s == status).count();
    ensure!(
        count(first_status) == first
            && count(second_status) == second
            && first + second == world.burst.len(),
        "the answers were {:?}",
        world.burst
    );
    Ok(())
}

/// Lets time pass: only ever to let a quiet period or a freshness lifetime run out.
#[when(regex = r"^I let (\S+) pass$")]
async fn let_pass(_world: &mut StockWorld, duration: String) -> anyhow::Result<()> {
    tokio::time::sleep(humantime::parse_duration(&duration)?).await;
    Ok(())
}

#[then(regex = r"^the last (\d+) answers were (\d+) with body (\{.*\})$")]
fn last_answers(
    world: &mut StockWorld,
    count: usize,
    status: u16,
    body: String,
) -> anyhow::Result<()> {
    ensure!(
        world.answers.len() >= count,
        "only {} answers",
        world.answers.len()
    );
    for answer in &world.answers[world.answers.len() - count..] {
        ensure!(
            answer.status == status && answer.text() == body,
            "{} answered {} {}",
            answer.path,
            answer.status,
            answer.text()
        );
    }
    Ok(())
}

fn targets(calls: &[Call]) -> Vec<String> {
    calls.iter().map(Call::target).collect()
}

fn received(world: &StockWorld, expected: &[String]) -> anyhow::Result<()> {
    let actual = targets(&api(world)?.calls());
    ensure!(
        actual == expected,
        "the Location API received {actual:?}, expected {expected:?}"
    );
    Ok(())
}

#[then("the Location API received exactly:")]
fn received_table(world: &mut StockWorld, step: &Step) -> anyhow::Result<()> {
    let table = step
        .table
        .as_ref()
        .context("the step needs a table of targets")?;
    let expected: Vec<String> = table.rows.iter().map(|row| row[0].clone()).collect();
    received(world, &expected)
}

#[then(regex = r"^the Location API received exactly (/.*)$")]
fn received_inline(world: &mut StockWorld, list: String) -> anyhow::Result<()> {
    let expected: Vec<String> = list.split(", ").map(str::to_owned).collect();
    received(world, &expected)
}

#[then("the Location API received no calls")]
fn received_nothing(world: &mut StockWorld) -> anyhow::Result<()> {
    received(world, &[])
}

#[then(regex = r"^the Location API received (\d+) calls? to (\S+)$")]
fn received_count(world: &mut StockWorld, count: usize, target: String) -> anyhow::Result<()> {
    let calls = targets(&api(world)?.calls());
    let actual = calls.iter().filter(|t| **t == target).count();
    ensure!(
        actual == count,
        "{actual} calls to {target}, expected {count}; all calls: {calls:?}"
    );
    Ok(())
}

#[then(regex = r"^the Location API received (\d+) calls? in all$")]
fn received_total(world: &mut StockWorld, count: usize) -> anyhow::Result<()> {
    let calls = targets(&api(world)?.calls());
    ensure!(
        calls.len() == count,
        "{} calls, expected {count}: {calls:?}",
        calls.len()
    );
    Ok(())
}

#[then(
    regex = r#"^every call to the Location API was a GET with the header "([^"]*)" set to "([^"]*)"$"#
)]
fn every_call_has(world: &mut StockWorld, name: String, value: String) -> anyhow::Result<()> {
    let calls = api(world)?.calls();
    ensure!(!calls.is_empty(), "the Location API received no calls");
    for call in calls {
        ensure!(
            call.method == Method::GET,
            "{} {}",
            call.method,
            call.target()
        );
        let values = call.header_values(&name);
        ensure!(
            values == [value.clone()],
            "{} carried {name}: {values:?}",
            call.target()
        );
    }
    Ok(())
}

/// Milliseconds listed as `100`, `100 and 200` or `50, 150 and 200`.
fn milliseconds(list: &str) -> anyhow::Result<Vec<u64>> {
    list.replace(" and ", ", ")
        .split(", ")
        .map(|n| {
            n.trim()
                .parse()
                .with_context(|| format!("bad number {n:?}"))
        })
        .collect()
}

#[then(regex = r"^the calls to (\S+) came (.+) ms apart$")]
fn calls_apart(world: &mut StockWorld, target: String, list: String) -> anyhow::Result<()> {
    let delays = milliseconds(&list)?;
    let arrivals: Vec<_> = api(world)?
        .calls()
        .into_iter()
        .filter(|c| c.target() == target)
        .map(|c| c.at)
        .collect();
    ensure!(
        arrivals.len() == delays.len() + 1,
        "{} calls to {target}, expected {}",
        arrivals.len(),
        delays.len() + 1
    );
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, delay) in gaps.iter().zip(&delays) {
        let delay = Duration::from_millis(*delay);
        if *gap + EARLY < delay || *gap > delay + LATE {
            bail!("the calls to {target} came {gaps:?} apart, expected {delays:?} ms");
        }
    }
    Ok(())
}
