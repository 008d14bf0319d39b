//! `actor-worker`: the Stock API worker tier (`NODE_ROLE=actor`): claims location shards by lease
//! in Redis and hosts their stock pots; `/health/*` and `/metrics` on `STOCK_ADMIN_ADDR`.
//! `actor-worker probe` asks the worker's own `/health/ready` (a container healthcheck).

use shared::config::{Binary, Config};

#[tokio::main]
async fn main() {
    let config = match Config::from_env(Binary::ActorWorker) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    if std::env::args_os().nth(1).is_some_and(|arg| arg == "probe") {
        let target = shared::probe::local_target(config.admin_addr);
        if let Err(error) = shared::probe::ready(target).await {
            eprintln!("not ready: {error}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(error) = actor_worker::run(config).await {
        eprintln!("{error:#}");
        std::process::exit(shared::store::exit_code(error.as_ref()));
    }
}
