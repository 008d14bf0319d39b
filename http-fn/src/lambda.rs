//! The HTTP tier as an AWS Lambda function (docs/architecture.md, "AWS Lambda"): the start-up
//! checks that only a stateless `NODE_ROLE=http` node over Redis runs there, the report of a
//! refused start to the Runtime API's init-error endpoint, and the runtime loop.

use std::collections::HashMap;
use std::ffi::OsString;

use http::Uri;
use lambda_runtime_api_client::body::Body;
use tower::ServiceExt;

use crate::config::{Binary, Config};
use shared::store::redis::ReplyChannelKind;

/// The Runtime API's endpoint for failures before the first invocation.
const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// The environment the Lambda platform sets for every function; the runtime cannot run without
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaEnvironment {
    /// `AWS_LAMBDA_RUNTIME_API`: `host:port` of the Runtime API, without a scheme.
    pub runtime_api: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: i32,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub version: String,
}

/// Why a function instance refuses to start: a one-line reason and the error type reported with
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    /// `Runtime.ConfigError` (a setting or a combination refused) or `Runtime.InitError` (a
    /// backend could not be reached or loaded).
    pub error_type: &'static str,
    /// One line naming the variable or the backend and the rule it broke.
    pub message: String,
}

impl InitError {
    fn config(message: impl Into<String>) -> InitError {
        InitError {
            error_type: "Runtime.ConfigError",
            message: one_line(&message.into()),
        }
    }

    fn backend(error: &anyhow::Error) -> InitError {
        InitError {
            error_type: "Runtime.InitError",
            message: one_line(&format!("{error:#}")),
        }
    }
}

impl LambdaEnvironment {
    /// Reads the platform's variables from `vars`; a missing or malformed one is a configuration
    /// error naming it (the runtime library would panic instead).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<LambdaEnvironment, InitError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .ok_or_else(|| InitError::config(format!("{name}: required under AWS Lambda")))
        };
        let runtime_api = get("AWS_LAMBDA_RUNTIME_API")?;
        runtime_api_base(&runtime_api)?;
        let function_name = get("AWS_LAMBDA_FUNCTION_NAME")?;
        let memory = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?;
        let memory_mb = memory.parse::<i32>().ok().filter(|mb| *mb > 0).ok_or_else(|| {
            InitError::config(format!(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE: must be a positive number of MB, got {memory:?}"
            ))
        })?;
        let version = get("AWS_LAMBDA_FUNCTION_VERSION")?;
        Ok(LambdaEnvironment {
            runtime_api,
            function_name,
            memory_mb,
            version,
        })
    }
}

/// The base URI of the Runtime API at `host:port`, or a configuration error.
fn runtime_api_base(runtime_api: &str) -> Result<Uri, InitError> {
    let refused = || {
        InitError::config(format!(
            "AWS_LAMBDA_RUNTIME_API: must be host:port without a scheme, got {runtime_api:?}"
        ))
    };
    if runtime_api.contains('/') {
        return Err(refused());
    }
    format!("http://{runtime_api}")
        .parse::<Uri>()
        .ok()
        .filter(|uri| uri.port_u16().is_some())
        .ok_or_else(refused)
}

/// The configuration of a function instance: the common one, refused unless it describes a
/// stateless HTTP node over Redis, and with the per-request reply channel unless
/// `STOCK_REPLY_CHANNEL` says otherwise.
pub fn config(vars: &HashMap<String, String>, demo: bool) -> Result<Config, InitError> {
    if demo {
        return Err(InitError::config(
            "--demo: not available under AWS Lambda (each instance would sign with its own key)",
        ));
    }
    // The role is checked first: under Lambda it is the one setting that must be given.
    let role = vars
        .get("NODE_ROLE")
        .map(|role| role.trim())
        .unwrap_or_default();
    if !role.eq_ignore_ascii_case("http") {
        let found = if role.is_empty() {
            "unset (both)"
        } else {
            role
        };
        return Err(InitError::config(format!(
            "NODE_ROLE: must be http under AWS Lambda (instances are frozen between invocations \
             and host no stock pots), got {found}"
        )));
    }
    let mut config = Config::from_vars(vars.clone(), Binary::HttpFn, false)
        .map_err(|error| InitError::config(error.to_string()))?;
    if config.redis_url.is_none() {
        return Err(InitError::config(
            "STOCK_REDIS_URL: required under AWS Lambda",
        ));
    }
    if vars
        .get("STOCK_REPLY_CHANNEL")
        .is_none_or(|channel| channel.trim().is_empty())
    {
        config.reply_channel = ReplyChannelKind::Key;
    }
    Ok(config)
}

/// The process's variables, those that are not UTF-8 left out (the configuration reads none of
/// the names it needs that way: [`config`] reports them as unset).
pub fn environment(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> HashMap<String, String> {
    vars.into_iter()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

/// Runs the function: checks the platform's variables and the configuration, wires the backends,
/// then serves invocations until the platform ends the process. Returns the exit status; a
/// refused start has been reported to the Runtime API (when its address is known) and logged.
pub async fn run(vars: HashMap<String, String>, demo: bool) -> i32 {
    let platform = match LambdaEnvironment::from_vars(&vars) {
        Ok(platform) => platform,
        Err(error) => return refuse(vars.get("AWS_LAMBDA_RUNTIME_API"), &error, 2).await,
    };
    let api = Some(&platform.runtime_api);
    let config = match config(&vars, demo) {
        Ok(config) => config,
        Err(error) => return refuse(api, &error, 2).await,
    };
    let _telemetry = crate::telemetry::init(config.log_format);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), role = %config.role,
        reply_channel = %config.reply_channel, function = %platform.function_name,
        function_version = %platform.version, memory_mb = platform.memory_mb,
        "starting under AWS Lambda");
    let (state, _worker) = match crate::app::wire(&config).await {
        Ok(wired) => wired,
        Err(error) => return refuse(api, &InitError::backend(&error), 1).await,
    };
    let concurrency = vars
        .get("AWS_LAMBDA_MAX_CONCURRENCY")
        .map_or("1", String::as_str);
    tracing::info!(runtime_api = %platform.runtime_api, max_concurrency = concurrency,
        "serving invocations");
    match serve(crate::routes::router(state)).await {
        Ok(()) => 0,
        Err(error) => {
            let error = one_line(&error.to_string());
            tracing::error!(%error, "Lambda runtime ended");
            eprintln!("Lambda runtime: {error}");
            1
        }
    }
}

/// Serves `router` through the Lambda runtime: one invocation at a time, unless the platform
/// sets `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda Managed Instances); then that many at once.
async fn serve(router: axum::Router) -> Result<(), lambda_http::Error> {
    let service = tower::service_fn(move |request: lambda_http::Request| {
        let router = router.clone();
        async move {
            let response = router.oneshot(without_stage(request)).await?;
            // Text or base64 as the content type says; buffered, so that concurrent
            // invocations can hand it over between threads.
            Ok::<_, std::convert::Infallible>(
                lambda_http::IntoResponse::into_response(response).await,
            )
        }
    });
    lambda_http::run_concurrent(service).await
}

/// The request with the path the event carries. `lambda_http` puts a REST API's stage in front
/// of it (`/prod/locations/…`), which no route knows; the stage is not part of the API.
pub fn without_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt;
    let raw = request.raw_http_path().to_owned();
    let path = request.uri().path();
    if raw.is_empty() || path == raw || !path.ends_with(&raw) {
        return request;
    }
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{raw}?{query}"),
        None => raw,
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Logs `error`, reports it to the Runtime API at `runtime_api` (if known and well-formed) and
/// returns `status`.
async fn refuse(runtime_api: Option<&String>, error: &InitError, status: i32) -> i32 {
    eprintln!("{}", error.message);
    let Some(base) = runtime_api.and_then(|api| runtime_api_base(api).ok()) else {
        return status;
    };
    if let Err(report) = report_init_error(base, error).await {
        eprintln!("AWS_LAMBDA_RUNTIME_API: the init error could not be reported: {report}");
    }
    status
}

/// POSTs `error` to the init-error endpoint of the Runtime API at `base`.
async fn report_init_error(base: Uri, error: &InitError) -> anyhow::Result<()> {
    let client = lambda_runtime_api_client::Client::builder()
        .with_endpoint(base)
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = serde_json::json!({
        "errorType": error.error_type,
        "errorMessage": error.message,
    });
    let request = http::Request::post(INIT_ERROR_PATH)
        .header("Lambda-Runtime-Function-Error-Type", error.error_type)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))?;
    let response = client
        .call(request)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !response.status().is_success() {
        anyhow::bail!("answered {}", response.status());
    }
    Ok(())
}

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    const PLATFORM: [(&str, &str); 4] = [
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ("AWS_LAMBDA_FUNCTION_NAME", "stock"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ];

    #[test]
    fn a_rest_api_stage_is_not_part_of_the_routed_path() {
        let event = r#"{"resource":"/{proxy+}","path":"/locations/A/products/P","httpMethod":"GET",
            "headers":{"host":"api.example.test"},"multiValueHeaders":{},
            "queryStringParameters":{"asOf":"x"},"multiValueQueryStringParameters":{"asOf":["x"]},
            "requestContext":{"stage":"prod","httpMethod":"GET","path":"/prod/locations/A/products/P",
            "requestId":"r","accountId":"1","resourceId":"r","identity":{},"resourcePath":"/{proxy+}",
            "apiId":"a"},"body":null,"isBase64Encoded":false}"#;
        let request = lambda_http::request::from_str(event).unwrap();
        assert_eq!(request.uri().path(), "/prod/locations/A/products/P");
        let request = without_stage(request);
        assert_eq!(request.uri().path(), "/locations/A/products/P");
        assert_eq!(request.uri().query(), Some("asOf=x"));
    }

    #[test]
    fn each_missing_platform_variable_is_named() {
        for missing in PLATFORM.map(|(name, _)| name) {
            let set: Vec<_> = PLATFORM
                .into_iter()
                .filter(|(n, _)| *n != missing)
                .collect();
            let error = LambdaEnvironment::from_vars(&vars(&set)).err();
            let message = error.map(|e| e.message).unwrap_or_default();
            assert_eq!(message, format!("{missing}: required under AWS Lambda"));
        }
        assert!(LambdaEnvironment::from_vars(&vars(&PLATFORM)).is_ok());
    }

    #[test]
    fn malformed_platform_values_are_refused_not_panicked_on() {
        for (name, value) in [
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"),
            ("AWS_LAMBDA_RUNTIME_API", "http://127.0.0.1:9001"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1"),
            ("AWS_LAMBDA_RUNTIME_API", "not a host:1"),
        ] {
            let mut set = vars(&PLATFORM);
            set.insert(name.to_owned(), value.to_owned());
            let message = LambdaEnvironment::from_vars(&set).err().map(|e| e.message);
            assert!(
                message.as_deref().is_some_and(|m| m.starts_with(name)),
                "{name}={value}: {message:?}"
            );
        }
    }

    fn function(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut set = vars(&[
            ("NODE_ROLE", "http"),
            ("STOCK_REDIS_URL", "redis://127.0.0.1:1/"),
            ("STOCK_LOCATIONS_FILE", "/nonexistent/locations.json"),
            ("STOCK_JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem"),
            ("STOCK_JWT_ISSUER", "issuer"),
            ("STOCK_JWT_AUDIENCE", "audience"),
        ]);
        set.extend(vars(extra));
        set
    }

    #[test]
    fn only_an_http_node_over_redis_without_demo_keys_is_accepted() {
        let refusals = [
            (
                function(&[("NODE_ROLE", "both")]),
                false,
                "NODE_ROLE: must be http",
            ),
            (
                function(&[("NODE_ROLE", "")]),
                false,
                "NODE_ROLE: must be http",
            ),
            (
                function(&[("STOCK_REDIS_URL", "")]),
                false,
                "STOCK_REDIS_URL:",
            ),
            (function(&[]), true, "--demo:"),
        ];
        for (set, demo, start) in refusals {
            let message = config(&set, demo)
                .err()
                .map(|e| e.message)
                .unwrap_or_default();
            assert!(message.starts_with(start), "{message}");
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn the_per_request_reply_channel_is_the_default_and_can_be_overridden() {
        let key = std::env::temp_dir().join(format!("stock-lambda-key-{}.pem", std::process::id()));
        let (_, public) = crate::demo::key_pair_pems().unwrap();
        std::fs::write(&key, public).unwrap();
        let locations = format!(
            "{}/../{}",
            env!("CARGO_MANIFEST_DIR"),
            crate::config::DEMO_LOCATIONS_PATH
        );
        let with = |extra: &[(&str, &str)]| {
            let mut set = function(extra);
            set.insert(
                "STOCK_JWT_PUBLIC_KEY_FILE".into(),
                key.display().to_string(),
            );
            set.insert("STOCK_LOCATIONS_FILE".into(), locations.clone());
            config(&set, false).map(|c| c.reply_channel)
        };
        let default = with(&[]);
        let chosen = with(&[("STOCK_REPLY_CHANNEL", "stream")]);
        std::fs::remove_file(&key).unwrap();
        assert_eq!(default, Ok(ReplyChannelKind::Key));
        assert_eq!(chosen, Ok(ReplyChannelKind::Stream));
    }
}
