//! `actor-worker`: the Stock API worker tier (`NODE_ROLE=actor`): claims location shards by lease
//! in Redis and hosts their stock pots; `/health/*` and `/metrics` on `STOCK_ADMIN_ADDR`.

use shared::config::{Binary, Config};

#[tokio::main]
async fn main() {
    let config = match Config::from_env(Binary::ActorWorker, false) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    if let Err(error) = actor_worker::run(config).await {
        eprintln!("{error:#}");
        std::process::exit(1);
    }
}
