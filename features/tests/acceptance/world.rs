//! The state of one scenario: its estate, settings, identity, service and answers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, anyhow, bail};
use features::estate::Estate;
use features::location_api::LocationApi;
use features::service::Service;
use features::token::{AUDIENCE, ISSUER, TokenSpec};
use reqwest::Method;
use reqwest::header::HeaderMap;

pub(crate) use crate::suite::{DEADLINE, POLL_EVERY, suite};

/// How the caller authenticates.
#[derive(Clone, Debug)]
pub(crate) enum Credentials {
    /// A minted token after a scheme prefix (normally `Bearer `).
    Token { spec: TokenSpec, prefix: String },
    /// A literal `Authorization` header value.
    Header(String),
    /// No `Authorization` header at all.
    Nothing,
}

/// One HTTP request as a scenario sends it.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// Path and query, exactly as sent (percent-encoded by the scenario).
    pub(crate) path: String,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Option<String>,
}

impl Request {
    /// A body-less request.
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            content_type: None,
            body: None,
        }
    }

    /// A request carrying a JSON body with `Content-Type: application/json`.
    pub(crate) fn json(
        method: Method,
        path: impl Into<String>,
        body: impl Into<String>,
    ) -> Request {
        Request {
            method,
            path: path.into(),
            content_type: Some("application/json".to_owned()),
            body: Some(body.into()),
        }
    }
}

/// One HTTP answer.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    /// The request path it answers.
    pub(crate) path: String,
}

impl Answer {
    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header value as text.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

/// The world of one scenario.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub(crate) struct StockWorld {
    /// The location tree served to the service.
    pub(crate) estate: Estate,
    estate_revision: u32,
    /// Setting overrides: `Some` sets, `None` removes a variable.
    pub(crate) settings: BTreeMap<String, Option<String>>,
    /// The caller's credentials.
    pub(crate) credentials: Credentials,
    service: Option<Service>,
    /// Where a binary service writes its output, once one was started.
    pub(crate) service_log: Option<PathBuf>,
    dir: PathBuf,
    /// The scenario name, for log files.
    pub(crate) label: String,
    /// When the scenario's world was made: its first step.
    pub(crate) started: std::time::Instant,
    /// The latest answer to a request sent as the caller.
    pub(crate) last: Option<Answer>,
    /// Every answer to a request sent as the caller, in order.
    pub(crate) answers: Vec<Answer>,
    last_request: Option<Request>,
    next_id: u64,
    /// Metric values noted for later comparison.
    pub(crate) noted: BTreeMap<String, f64>,
    /// Extra headers on every request sent as the caller.
    pub(crate) extra_headers: Vec<(String, String)>,
    /// Status and body of each request of the latest burst of simultaneous requests.
    pub(crate) burst: Vec<(u16, String)>,
    /// The fake Location API, when the scenario runs one.
    pub(crate) location_api: Option<LocationApi>,
}

impl StockWorld {
    fn new() -> anyhow::Result<StockWorld> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let dir = suite()?
            .scratch
            .join(format!("scenario-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir)?;
        Ok(StockWorld {
            estate: Estate::default(),
            estate_revision: 0,
            settings: BTreeMap::new(),
            credentials: Credentials::Token {
                spec: TokenSpec::for_job("System Administrator"),
                prefix: "Bearer ".to_owned(),
            },
            service: None,
            service_log: None,
            dir,
            label: String::new(),
            started: std::time::Instant::now(),
            last: None,
            answers: Vec::new(),
            last_request: None,
            next_id: 0,
            noted: BTreeMap::new(),
            extra_headers: Vec::new(),
            burst: Vec::new(),
            location_api: None,
        })
    }

    /// A request id no other request of this scenario uses.
    pub(crate) fn fresh_request_id(&mut self) -> String {
        self.next_id += 1;
        format!("req-{:04}", self.next_id)
    }

    /// A path for a file of this scenario's own.
    pub(crate) fn scenario_file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn locations_file(&self) -> PathBuf {
        self.dir.join("locations.json")
    }

    /// The environment handed to the service (`docs/configuration.md` §2 names only).
    pub(crate) fn service_vars(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let suite = suite()?;
        let mut vars: BTreeMap<String, String> = [
            ("NODE_ROLE", "both".to_owned()),
            ("STOCK_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            (
                "STOCK_LOCATIONS_FILE",
                self.locations_file().display().to_string(),
            ),
            (
                "STOCK_JWT_PUBLIC_KEY_FILE",
                suite.public_key_file.display().to_string(),
            ),
            ("STOCK_JWT_ISSUER", ISSUER.to_owned()),
            ("STOCK_JWT_AUDIENCE", AUDIENCE.to_owned()),
            ("STOCK_LOG_FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (name, value) in &self.settings {
            match value {
                Some(value) => vars.insert(name.clone(), value.clone()),
                None => vars.remove(name),
            };
        }
        Ok(vars)
    }

    /// Starts the service on first use, with the estate and settings given so far.
    pub(crate) async fn start(&mut self) -> anyhow::Result<SocketAddr> {
        if let Some(service) = &self.service {
            return Ok(service.addr());
        }
        self.write_estate(None)?;
        let log = features::service::log_path(&self.label)?;
        self.service_log = Some(log.clone());
        // Steps print only an error's outermost message, so the causes are folded into it.
        let service = Service::start(suite()?.target, self.service_vars()?, &log)
            .await
            .map_err(|error| anyhow!("the service did not start: {error:#}"))?;
        let addr = service.addr();
        self.service = Some(service);
        Ok(addr)
    }

    /// Every `/metrics` URL of the service (started on first use), the public one first.
    pub(crate) async fn metrics_urls(&mut self) -> anyhow::Result<Vec<String>> {
        self.start().await?;
        Ok(self
            .service
            .as_ref()
            .map(Service::metrics_urls)
            .unwrap_or_default())
    }

    /// Stops the service, if it runs.
    pub(crate) async fn stop(&mut self) -> anyhow::Result<()> {
        match self.service.take() {
            Some(service) => service.stop().await,
            None => Ok(()),
        }
    }

    /// Removes the scenario's scratch files.
    pub(crate) fn clean_up(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Writes the estate file atomically (a reader never sees half a file).
    fn write_estate(&self, marker: Option<&str>) -> anyhow::Result<()> {
        let file = self.locations_file();
        let staging = self.dir.join("locations.json.new");
        std::fs::write(&staging, self.estate.to_json(marker))?;
        std::fs::rename(&staging, &file)?;
        Ok(())
    }

    /// Publishes a changed estate; with a running service, waits until it serves the change.
    pub(crate) async fn publish_estate(&mut self) -> anyhow::Result<()> {
        if self.service.is_none() {
            return Ok(());
        }
        self.estate_revision += 1;
        let marker = format!("estate-revision-{}", self.estate_revision);
        self.write_estate(Some(&marker))?;
        let probe = format!("/locations/{marker}/products/probe?includeChildren=false");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let answer = self
                .send_as_admin(Request::new(Method::GET, probe.clone()))
                .await?;
            if answer.status == 200 {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the service did not pick up the changed estate within {DEADLINE:?}");
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    fn authorization(&self) -> anyhow::Result<Option<String>> {
        match &self.credentials {
            Credentials::Token { spec, prefix } => {
                Ok(Some(format!("{prefix}{}", spec.mint(&suite()?.keys)?)))
            }
            Credentials::Header(value) => Ok(Some(value.clone())),
            Credentials::Nothing => Ok(None),
        }
    }

    /// Sends a request as the scenario's caller and records the answer.
    pub(crate) async fn send(&mut self, request: Request) -> anyhow::Result<Answer> {
        let authorization = self.authorization()?;
        let extra = self.extra_headers.clone();
        let answer = self.exchange(&request, authorization, &extra).await?;
        self.last_request = Some(request);
        self.last = Some(answer.clone());
        self.answers.push(answer.clone());
        Ok(answer)
    }

    /// Sends the previous request again, with the caller's current credentials.
    pub(crate) async fn send_again(&mut self) -> anyhow::Result<Answer> {
        let request = self
            .last_request
            .clone()
            .context("no request was sent before")?;
        self.send(request).await
    }

    /// Sends a request as an unrestricted System Administrator, without recording it.
    pub(crate) async fn send_as_admin(&mut self, request: Request) -> anyhow::Result<Answer> {
        let token = TokenSpec::for_job("System Administrator").mint(&suite()?.keys)?;
        self.exchange(&request, Some(format!("Bearer {token}")), &[])
            .await
    }

    async fn exchange(
        &mut self,
        request: &Request,
        authorization: Option<String>,
        extra: &[(String, String)],
    ) -> anyhow::Result<Answer> {
        let addr = self.start().await?;
        let url = format!("http://{addr}{}", request.path);
        let mut builder = suite()?.client.request(request.method.clone(), &url);
        if let Some(value) = authorization {
            builder = builder.header("Authorization", value);
        }
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some(content_type) = &request.content_type {
            builder = builder.header("Content-Type", content_type);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().await.map_err(|error| {
            anyhow!("{} {url}: {:#}", request.method, anyhow::Error::from(error))
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Answer {
            status,
            headers,
            body,
            path: request.path.clone(),
        })
    }

    /// The latest answer.
    pub(crate) fn last(&self) -> anyhow::Result<&Answer> {
        self.last.as_ref().context("no request was sent yet")
    }
}
