//! The Stock API acceptance suite: cucumber scenarios over real HTTP, one fresh service each.
//!
//! Run with `cargo test -p features --test acceptance`; `STOCK_FEATURES_TARGET=binary` runs the
//! `http-fn` executable instead of the in-process library, `STOCK_FEATURES_TARGET=stack` a Redis,
//! an HTTP node and two workers per scenario, `STOCK_FEATURES_TARGET=lambda` the same with the HTTP
//! node run as a Lambda function behind a local API Gateway stand-in, `STOCK_FEATURES_TARGET=compose`
//! the compose stack in containers (images built by `infra/images/build.sh --profile debug` when
//! missing or stale; `STOCK_FEATURES_COMPOSE_STACKS` compose projects, default 4, run that many
//! scenarios at once). `STOCK_FEATURES_TIMINGS=1` prints how long each scenario took.

mod steps;
mod suite;
mod world;

use cucumber::World as _;
use cucumber::event::ScenarioFinished;
use features::service::{ComposeRun, Target};
use futures::FutureExt as _;

use world::StockWorld;

/// Scenarios run at the same time; each has its own service.
const CONCURRENCY: usize = 8;
/// Scenarios run at the same time on the stack target: each one is four processes.
const STACK_CONCURRENCY: usize = 4;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (suite, compose) = suite::init_suite()?;
    let target = suite.target;
    // Removes the run's scratch files even when a failed run panics out of `run_and_exit`; the
    // compose stacks go down before (locals drop in reverse order).
    let _scratch = ScratchGuard(suite.scratch.clone());
    let concurrency = compose.as_ref().map(ComposeRun::stacks);
    let _compose = compose;
    let features = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/features");
    StockWorld::cucumber()
        .max_concurrent_scenarios(match target {
            Target::Stack | Target::Lambda => STACK_CONCURRENCY,
            Target::Compose => concurrency.unwrap_or(1),
            _ => CONCURRENCY,
        })
        .fail_on_skipped()
        .before(|_, _, scenario, world| {
            world.label = scenario.name.clone();
            async {}.boxed_local()
        })
        .after(|_, _, scenario, finished, world| {
            let failed = !matches!(finished, ScenarioFinished::StepPassed);
            let name = scenario.name.clone();
            async move {
                let Some(world) = world else { return };
                if std::env::var("STOCK_FEATURES_TIMINGS").as_deref() == Ok("1") {
                    let took = world.started.elapsed().as_millis();
                    eprintln!("scenario took {took} ms: {name}");
                }
                if let Err(error) = world.stop().await {
                    eprintln!("stopping the service of {name:?}: {error:#}");
                }
                // Only the logs of failed scenarios are worth keeping.
                match world.service_log.take().filter(|log| log.exists()) {
                    Some(log) if failed => eprintln!("service log of {name:?}: {}", log.display()),
                    Some(log) => {
                        let _ = std::fs::remove_file(log);
                    }
                    None => {}
                }
                world.clean_up();
            }
            .boxed_local()
        })
        .filter_run_and_exit(features, move |feature, _, scenario| {
            // Scenarios that read the service's log need a target whose log is captured.
            let binary_only = feature
                .tags
                .iter()
                .chain(&scenario.tags)
                .any(|tag| tag == "binary");
            !binary_only || target != Target::InProcess
        })
        .await;
    Ok(())
}

struct ScratchGuard(std::path::PathBuf);

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
