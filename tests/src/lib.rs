//! Test harness for end-to-end tests: [`TestExchange`] runs the real server (the same
//! `exchange::run` the binary calls) on `127.0.0.1:0` with its own campaign file in a
//! temporary folder; [`Client`] talks HTTP/1.1 keep-alive to it; [`shared`] finds the
//! public conformance corpus in `../shared`.

pub mod affiliate;
pub mod postgres_server;
pub mod redis_cluster;
pub mod redis_server;

use bytes::Bytes;
use exchange::clock::Clock;
use exchange::config::ExchangeConfig;
use exchange::serving::model_file::ModelStore;
use exchange::shared::SharedStore;
use exchange::{AppState, SnapshotStore};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// 2026-11-28 12:00 UTC: inside the sample campaigns' flights.
pub const TEST_NOW: i64 = 1_795_867_200;

/// Ten monthly orders of 120 ending the day before `today_ms` (unix ms), as the JSON
/// objects `POST /admin/users/history` takes: a loyal, active customer.
pub fn loyal_orders(today_ms: i64) -> String {
    let today = today_ms.div_euclid(86_400_000);
    let orders: Vec<String> = (0..10)
        .map(|i| {
            let day = today - 1 - 30 * i;
            let date = time::Date::from_julian_day((day + 2_440_588) as i32).expect("date");
            format!(r#"{{"date":"{date}","amount":120}}"#)
        })
        .collect();
    orders.join(",")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared folder beside the repository (`SHARED_DIR` overrides). Panics, loudly, if
/// it is missing: tests must never pass by skipping the corpus.
pub fn shared() -> PathBuf {
    let dir =
        std::env::var_os("SHARED_DIR").map_or_else(|| repo_root().join("../shared"), PathBuf::from);
    assert!(
        dir.join("conformance/openrtb").is_dir(),
        "conformance corpus not found at {}: set SHARED_DIR",
        dir.display()
    );
    dir
}

/// Every `*.json` file in a corpus folder, sorted, with its bytes.
pub fn corpus(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = shared().join("conformance/openrtb").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
        })
        .collect()
}

/// The notice-signing key every test exchange shares unless told otherwise.
pub const TEST_NOTICE_KEYS: &str = "test-1:test-notice-secret-0123456789abcdef";

/// The sample campaign file shipped in `configs/`.
pub fn sample_campaigns() -> String {
    std::fs::read_to_string(repo_root().join("configs/campaigns.json"))
        .expect("configs/campaigns.json")
}

/// One CPM campaign `id` bidding `bid` with a 300×250 banner (advertiser `adv-{id}`,
/// domain `{id}.example`); `extra` is spliced in after its pricing (e.g. a frequency cap).
pub fn banner_campaign(id: &str, bid: f64, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","name":"{id}","advertiser":"adv-{id}","adomain":["{id}.example"],
        "pricing":{{"model":"cpm","bid":{bid}}}{extra},
        "creatives":[{{"id":"b1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/{id}.jpg","landing_url":"https://{id}.example/p"}}]}}"#
    )
}

/// A campaign file of `campaigns` (objects as [`banner_campaign`] makes them).
pub fn campaign_file(campaigns: &[String]) -> String {
    format!(r#"{{"campaigns":[{}]}}"#, campaigns.join(","))
}

/// Builds a [`TestExchange`].
#[derive(Debug, Clone)]
pub struct Builder {
    config: String,
    campaigns: String,
    clock: Clock,
    debug: bool,
    admin_token: String,
    redis: Option<(String, String)>,
    files: Vec<(String, String)>,
    campaigns_after_load: Option<String>,
    notice_keys: String,
    admin_listener: bool,
}

impl Builder {
    /// Serve `/metrics` and `/admin/*` on a second listener (`admin.listen`), at
    /// [`TestExchange::admin_addr`].
    pub fn admin_listener(mut self) -> Self {
        self.admin_listener = true;
        self
    }

    /// Extra TOML appended to the test config (the defaults otherwise).
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push('\n');
        self.config.push_str(toml);
        self
    }

    /// Campaign file content (JSON); the sample campaigns otherwise.
    pub fn campaigns(mut self, json: &str) -> Self {
        self.campaigns = json.to_owned();
        self
    }

    /// Whether the config allows the debug view (it does by default here).
    pub fn debug(mut self, allow: bool) -> Self {
        self.debug = allow;
        self
    }

    /// The admin bearer token (`test-token` by default; empty disables the admin API).
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = token.to_owned();
        self
    }

    /// Use Redis at `url` with key prefix `prefix` (the in-process store otherwise,
    /// whatever `REDIS_URL` says).
    pub fn redis(mut self, url: &str, prefix: &str) -> Self {
        self.redis = Some((url.to_owned(), prefix.to_owned()));
        self
    }

    /// A publisher registry (`publishers.toml` in the config folder, named by the config's
    /// top-level `publishers`).
    pub fn publishers(mut self, toml: &str) -> Self {
        self.config = format!("publishers = \"publishers.toml\"\n{}", self.config);
        self.files
            .push(("publishers.toml".to_owned(), toml.to_owned()));
        self
    }

    /// Writes another file (e.g. an LTV model) into the exchange's config folder.
    pub fn file(mut self, name: &str, content: &str) -> Self {
        self.files.push((name.to_owned(), content.to_owned()));
        self
    }

    /// Rewrites the campaign file with `json` after the snapshot is loaded and before the
    /// server (and its file watcher) starts: an edit that lands in that gap.
    pub fn campaigns_after_load(mut self, json: &str) -> Self {
        self.campaigns_after_load = Some(json.to_owned());
        self
    }

    /// Notice-signing keys as `id:secret,...` (the first signs); every test exchange
    /// shares [`TEST_NOTICE_KEYS`] otherwise, like nodes of one deployment. Empty: a
    /// per-process key.
    pub fn notice_keys(mut self, list: &str) -> Self {
        self.notice_keys = list.to_owned();
        self
    }

    /// The clock the auction reads.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Starts the server on `127.0.0.1:0`.
    pub async fn start(self) -> TestExchange {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let dir = tempfile::tempdir().expect("temp dir");
        let campaigns_path = dir.path().join("campaigns.json");
        std::fs::write(&campaigns_path, &self.campaigns).expect("write campaigns");
        for (name, content) in &self.files {
            std::fs::write(dir.path().join(name), content).expect("write file");
        }
        let config_path = dir.path().join("exchange.toml");
        // Notice URLs point at this server, so tests can fire them.
        let admin = if self.admin_listener {
            Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind admin"),
            )
        } else {
            None
        };
        let admin_addr = admin.as_ref().map(|a| a.local_addr().expect("admin addr"));
        let mut config_text = format!(
            "public_url = \"http://{addr}\"\n{}\n[debug]\nallow = {}\n[admin]\ntoken = {:?}\n",
            self.config, self.debug, self.admin_token
        );
        if let Some(admin_addr) = admin_addr {
            config_text.push_str(&format!("listen = \"{admin_addr}\"\n"));
        }
        for (id, secret) in self
            .notice_keys
            .split(',')
            .filter_map(|entry| entry.split_once(':'))
        {
            config_text.push_str(&format!(
                "[[notices.keys]]\nid = {id:?}\nsecret = {secret:?}\n"
            ));
        }
        std::fs::write(&config_path, config_text).expect("write config");
        let mut config = ExchangeConfig::load(&config_path).expect("valid test config");
        let (url, prefix) = self.redis.clone().unwrap_or_default();
        config.store.redis_url = url;
        if !prefix.is_empty() {
            config.store.key_prefix = prefix;
        }
        let store = SnapshotStore::open_with(
            &config.campaigns,
            exchange::serving::snapshots::Sidecars {
                lexicon: config.context.lexicon.clone(),
                publishers: config.publishers.clone(),
                semantic: config.context.semantic.clone(),
                ads_txt: config.supply_chain.ads_txt(),
            },
        )
        .expect("valid test campaigns");
        if let Some(edit) = &self.campaigns_after_load {
            std::fs::write(&campaigns_path, edit).expect("rewrite campaigns");
        }
        let shared = SharedStore::open(&config.store)
            .await
            .unwrap_or_else(|e| panic!("store {}: {e}", config.store.redis_url));
        let models = match &config.ltv.model {
            Some(path) => ModelStore::open(path).expect("valid test model"),
            None => ModelStore::none(),
        };
        let enricher =
            exchange::enrich::Enricher::open(&config.enrichment).expect("valid test geo database");
        let ivt = config.ivt.detector().expect("valid test ranges");
        let affiliate = exchange::affiliate::Affiliate::open(&config)
            .await
            .expect("affiliate database opens");
        let state = Arc::new(
            AppState::new(config, store)
                .with_enricher(enricher)
                .with_ivt(ivt)
                .with_affiliate(affiliate)
                .with_clock(self.clock)
                .with_shared_store(shared)
                .with_ltv_models(models),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(exchange::run_with_admin(
            listener,
            admin,
            Arc::clone(&state),
            async {
                let _ = stopped.await;
            },
        ));
        TestExchange {
            addr,
            admin_addr,
            state,
            campaigns_path,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        }
    }
}

/// A running exchange for one test.
#[derive(Debug)]
pub struct TestExchange {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where `/metrics` and `/admin/*` are served, when they have their own listener.
    pub admin_addr: Option<SocketAddr>,
    /// Its state (store, metrics) for white-box checks.
    pub state: Arc<AppState>,
    /// Its campaign file (rewrite it to test reloads).
    pub campaigns_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestExchange {
    /// A builder with the sample campaigns, a fixed clock and a known admin token.
    pub fn builder() -> Builder {
        Builder {
            config: "campaigns = \"campaigns.json\"\n[fx_rates]\nCNY = 7.1\nEUR = 0.92\n"
                .to_owned(),
            campaigns: sample_campaigns(),
            clock: Clock::Fixed(TEST_NOW),
            debug: true,
            admin_token: "test-token".to_owned(),
            redis: None,
            files: Vec::new(),
            campaigns_after_load: None,
            notice_keys: TEST_NOTICE_KEYS.to_owned(),
            admin_listener: false,
        }
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET` an admin `path` with the test token.
    pub async fn admin_get(&self, client: &Client, path: &str) -> Reply {
        client
            .send(
                Method::GET,
                &self.url(path),
                &[("authorization", "Bearer test-token")],
                Bytes::new(),
            )
            .await
    }

    /// `POST /admin/reload` with the test token.
    pub async fn admin_reload(&self, client: &Client) -> Reply {
        client
            .send(
                Method::POST,
                &self.url("/admin/reload"),
                &[("authorization", "Bearer test-token")],
                Bytes::new(),
            )
            .await
    }

    /// Waits (up to 20 s) until every queued store write has landed in the store, the
    /// journaled ones (written while Redis was away) included.
    pub async fn writes_landed(&self) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let journaled = || {
            self.state
                .shared
                .journal()
                .is_some_and(|journal| journal.journal_len().unwrap_or(1) > 0)
        };
        while self.state.writer.pending() > 0 || journaled() {
            assert!(
                std::time::Instant::now() < until,
                "store writes did not land"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Stops accepting, drains, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }
}

/// A pooled keep-alive HTTP/1.1 client.
#[derive(Debug, Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The first bid's campaign id (`cid`) and its `nurl` and `burl` with the bid price
    /// filled in for `${AUCTION_PRICE}` (a first-price win).
    pub fn first_bid_notices(&self) -> (String, String, String) {
        let json = self.json();
        let bid = &json["seatbid"][0]["bid"][0];
        let price = bid["price"].as_f64().expect("price").to_string();
        let fill = |key: &str| {
            bid[key]
                .as_str()
                .expect("notice url")
                .replace("${AUCTION_PRICE}", &price)
        };
        (
            bid["cid"].as_str().expect("cid").to_owned(),
            fill("nurl"),
            fill("burl"),
        )
    }

    /// The body as JSON (panics with the body text if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as JSON, after checking the status is `expected` (panics with the body
    /// text otherwise).
    pub fn json_if(&self, expected: u16) -> serde_json::Value {
        assert_eq!(
            self.status,
            expected,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A new client.
    pub fn new() -> Self {
        Self {
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body.into())).expect("request");
        let response = self.inner.request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `POST url` with a JSON body.
    pub async fn post(&self, url: &str, body: impl Into<Bytes>) -> Reply {
        self.send(
            Method::POST,
            url,
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Reply {
        self.send(Method::GET, url, &[], Bytes::new()).await
    }
}

/// Reads the first chunk of an HTTP answer from a raw connection, within 5 s.
pub async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = vec![0u8; 8192];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer within 5 s")
        .expect("read");
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// Validates `document` against a definition of the shared OpenRTB 2.6 JSON Schema
/// (`BidRequest` or `BidResponse`); returns the error messages.
pub fn schema_errors(definition: &str, document: &serde_json::Value) -> Vec<String> {
    let path = shared().join("conformance/openrtb/schema/openrtb-2.6.schema.json");
    let mut schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("schema")).expect("schema json");
    let root = schema.as_object_mut().expect("schema object");
    // The file's top-level `oneOf` is ambiguous (see SOURCES.md); point the root at one definition.
    root.remove("oneOf");
    root.insert(
        "$ref".into(),
        serde_json::Value::String(format!("#/$defs/{definition}")),
    );
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The debug view's row of campaign `id` among `rows` (one imp's candidates).
pub fn debug_row<'a>(rows: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["campaign"] == id)
        .unwrap_or_else(|| panic!("no row for {id}: {rows:?}"))
}

/// The value of the Prometheus `series` (name with labels) in `text`; panics naming it
/// when it is absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in metrics"))
}

/// The exchange's `/metrics` text.
pub async fn metrics(client: &Client, exchange: &TestExchange) -> String {
    String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned()
}

/// The debug view of `body` (`?debug=1`) and its first imp's candidate rows.
pub async fn debug_rows(
    client: &Client,
    exchange: &TestExchange,
    body: String,
) -> (serde_json::Value, Vec<serde_json::Value>) {
    let reply = client
        .post(&exchange.url("/openrtb2/auction?debug=1"), body)
        .await;
    let debug = reply.json_if(200)["ext"]["debug"].clone();
    let rows = debug["imps"][0]["candidates"]
        .as_array()
        .expect("rows")
        .clone();
    (debug, rows)
}
