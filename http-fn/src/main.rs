//! `http-fn`: the Stock API HTTP tier (`NODE_ROLE=http`) or the whole service in one process
//! (`NODE_ROLE=both`). `--demo` starts with the demo estate, a fresh key pair and printed tokens.
//! Under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) it runs as a function (`http_fn::lambda`).
//! Subcommands for containers: `probe` (healthcheck), `keys` and `token JOB` (see docs/OPERATIONS.md).

use http_fn::config::{Binary, ServerSettings, Settings};

#[tokio::main]
async fn main() {
    // Arguments and variables are read raw: one that is not UTF-8 must not stop the process
    // unless the configuration reads it (then it is a one-line error naming it).
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    match args.first().map(String::as_str) {
        Some("keys") => std::process::exit(http_fn::keys::keys_command(&args[1..])),
        Some("token") => std::process::exit(http_fn::keys::token_command(&args[1..])),
        _ => {}
    }
    let demo = args.iter().any(|arg| arg == "--demo");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let vars = http_fn::lambda::environment(std::env::vars_os());
        std::process::exit(http_fn::lambda::run(vars, demo).await);
    }
    // The variables first, then the files they name (the token key, the locations file).
    let config = match Settings::from_env(Binary::HttpFn, demo).and_then(Settings::load) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    if args.first().is_some_and(|arg| arg == "probe") {
        let target = shared::probe::local_target(config.http_addr);
        if let Err(error) = shared::probe::ready(target).await {
            eprintln!("not ready: {error}");
            std::process::exit(1);
        }
        return;
    }
    let server = match ServerSettings::from_env() {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let backlog = match http_fn::backlog::interval_from_env() {
        Ok(interval) => interval,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    if let Err(error) = http_fn::run(config, server, backlog).await {
        eprintln!("{error:#}");
        std::process::exit(shared::store::exit_code(error.as_ref()));
    }
}
