//! The affiliate loop's first half: clicks and orders, attributed to who sold the
//! impression. `clicks_in` (`GET /c/ad`: verify, 302 to the creative's landing URL with a
//! click id) → `click_log` (off the request path, batched into the database, judged, CPC
//! charged) → `orders_in` (`POST /orders`: an advertiser's authenticated report, applied in
//! one transaction) → `database` (SQLite: clicks, orders, lines and their transitions) →
//! `report` (what the admin API reads back). The pure rules (click URLs, order states,
//! attribution, commission) are `exchange-core`'s `click` and `orders`.

pub mod auth;
pub mod batch;
pub mod click_log;
pub mod clicks_in;
pub mod database;
pub mod import;
pub mod links;
pub mod orders_in;
mod report;
pub mod sql;

use crate::config::{AdvertiserCredentials, ExchangeConfig};
use crate::receive::reply::{json, Body};
use crate::shared::StoreError;
use crate::state::AppState;
use database::AffiliateDb;
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// The affiliate state of one exchange node.
#[derive(Debug)]
pub struct Affiliate {
    /// Clicks and orders (none: clicks are not kept and orders are refused).
    pub database: Option<Arc<AffiliateDb>>,
    /// Clicks on their way to the database.
    pub clicks: click_log::ClickLog,
    /// Who may report orders.
    pub advertisers: Vec<AdvertiserCredentials>,
    /// Clicks refused at the door, by reason.
    pub refused: clicks_in::RefusedClicks,
    /// Orders by outcome.
    pub orders: orders_in::OrderStats,
    /// Server time of a click (`/c/ad`, `/c/p`): routed to answered.
    pub click_latency: crate::metrics::histogram::LatencyHistogram,
    /// Server time of an order report, durable commit included.
    pub order_latency: crate::metrics::histogram::LatencyHistogram,
}

impl Affiliate {
    /// The affiliate state `config` describes, without its database (tests, benches).
    pub fn new(config: &ExchangeConfig) -> Self {
        let settings = &config.affiliate;
        Self {
            database: None,
            clicks: click_log::ClickLog::new(
                settings.click_queue,
                settings.click_batch,
                Duration::from_millis(settings.click_flush_ms),
            ),
            // Validation read these once already; a variable unset since leaves nobody
            // able to report (401), never someone else.
            advertisers: config.advertiser_credentials().unwrap_or_default(),
            refused: clicks_in::RefusedClicks::default(),
            orders: orders_in::OrderStats::default(),
            click_latency: Default::default(),
            order_latency: Default::default(),
        }
    }

    /// The same, with its database: PostgreSQL at `affiliate.database_url`, else the SQLite
    /// file at `affiliate.database` (created if missing); schema brought up to date. Runs
    /// on a blocking thread (the PostgreSQL client blocks).
    pub async fn open(config: &ExchangeConfig) -> Result<Self, StoreError> {
        let mut affiliate = Self::new(config);
        let url = config.affiliate.database_url.clone();
        let connections = config.affiliate.database_connections;
        let path = config.affiliate.database.clone();
        let opened = tokio::task::spawn_blocking(move || {
            if !url.is_empty() {
                AffiliateDb::connect(&url, connections).map(Some)
            } else if !path.as_os_str().is_empty() {
                AffiliateDb::open(&path).map(Some)
            } else {
                Ok(None)
            }
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("affiliate database: {e}")))??;
        affiliate.database = opened.map(Arc::new);
        Ok(affiliate)
    }
}

/// Starts the click writer and re-sends order spend the budget store never confirmed
/// (from before a crash). Called once by `run`.
pub fn start(state: &Arc<AppState>) {
    let clicks = Arc::clone(state);
    tokio::spawn(async move {
        let database = clicks.affiliate.database.clone();
        clicks
            .affiliate
            .clicks
            .run(Arc::clone(&clicks), database)
            .await;
    });
    if let Some(database) = state.affiliate.database.clone() {
        let state = Arc::clone(state);
        tokio::spawn(async move {
            // Older than the store's idempotency window, a re-send could count twice.
            let window_ms = crate::shared::keys::EVENT_TTL_SECS as i64 * 1000 / 2;
            let since = state.clock.now_millis() - window_ms;
            let db = Arc::clone(&database);
            let Ok(Ok(spend)) =
                tokio::task::spawn_blocking(move || db.uncommitted_spend(since)).await
            else {
                return;
            };
            if !spend.is_empty() {
                tracing::info!(
                    lines = spend.len(),
                    "re-sending order spend the store had not confirmed"
                );
                orders_in::commit_spend(&state, &database, spend).await;
            }
        });
    }
}

/// `GET /admin/orders?advertiser=&order_id=`: one order, attributed or not, with its lines
/// and their transitions.
pub async fn order_view(state: Arc<AppState>, query: &str) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let param = |name: &str| query_param(query, name);
    let (Some(advertiser), Some(order_id)) = (param("advertiser"), param("order_id")) else {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": "give advertiser and order_id", "field": "query" }),
        );
    };
    match tokio::task::spawn_blocking(move || database.order_view(&advertiser, &order_id)).await {
        Ok(Ok(Some(order))) => json(StatusCode::OK, &order),
        Ok(Ok(None)) => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "error": "no such order", "field": "order_id" }),
        ),
        _ => unavailable(),
    }
}

/// `GET /admin/affiliate/report[?publisher=]`: clicks, orders and commission by publisher,
/// placement, sub-id and campaign (and unattributed orders by reason).
pub async fn summary(state: Arc<AppState>, query: &str) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    // What reached the click queue before this call is in the report.
    state.affiliate.clicks.flush(Duration::from_secs(2)).await;
    let publisher = query_param(query, "publisher");
    match tokio::task::spawn_blocking(move || database.summary(publisher.as_deref())).await {
        Ok(Ok(report)) => json(StatusCode::OK, &report),
        _ => unavailable(),
    }
}

/// `GET /admin/fraud/orders[?advertiser=]`: the orders the rules hold, with their reasons.
pub async fn held_orders(state: Arc<AppState>, query: &str) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let advertiser = query_param(query, "advertiser");
    match tokio::task::spawn_blocking(move || database.held_orders(advertiser.as_deref())).await {
        Ok(Ok(list)) => json(StatusCode::OK, &list),
        _ => unavailable(),
    }
}

/// The body of `POST /admin/fraud/orders`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldRequest {
    advertiser: String,
    order_id: String,
    /// `clear` or `confirm`.
    decision: String,
    #[serde(default)]
    note: String,
}

/// `POST /admin/fraud/orders`: an operator clears a held order (it earns from now on; its
/// commission goes to the budget) or confirms it as fraud (it never earns).
pub async fn decide_hold(state: Arc<AppState>, body: bytes::Bytes) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let bad = |field: &str, message: &str| {
        json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": message, "field": field }),
        )
    };
    let request: HoldRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad("body", &error.to_string()),
    };
    let clear = match request.decision.as_str() {
        "clear" => true,
        "confirm" => false,
        _ => return bad("decision", "use clear or confirm"),
    };
    if request.note.len() > 1024 {
        return bad("note", "at most 1024 bytes");
    }
    let context = orders_in::SnapshotContext {
        serving: state.serving(),
        state: Arc::clone(&state),
    };
    let now_ms = state.clock.now_millis();
    let db = Arc::clone(&database);
    let decided = tokio::task::spawn_blocking(move || {
        let decision = database::HoldDecision {
            clear,
            note: &request.note,
        };
        db.decide_hold(
            &request.advertiser,
            &request.order_id,
            decision,
            now_ms,
            &context,
        )
    })
    .await;
    match decided {
        Ok(Ok(outcome)) => {
            let at = usize::from(!clear);
            state.affiliate.orders.decisions[at].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            orders_in::commit_spend(&state, &database, outcome.spend.clone()).await;
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "order_id": outcome.order_id,
                    "hold": if clear { "cleared" } else { "confirmed" },
                    "lines": outcome.lines,
                }),
            )
        }
        Ok(Err(database::ApplyError::Conflict(field, message))) => json(
            StatusCode::CONFLICT,
            &serde_json::json!({ "error": message, "field": field }),
        ),
        _ => unavailable(),
    }
}

fn no_database() -> Response<Body> {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "error": "no affiliate database configured", "field": "affiliate.database" }),
    )
}

fn unavailable() -> Response<Body> {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "error": "affiliate database unavailable", "field": "store" }),
    )
}

/// The decoded value of `name` in a query string (at most 256 bytes).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name && value.len() <= 256)
            .then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .ok()
            })
            .flatten()
            .map(std::borrow::Cow::into_owned)
            .filter(|v| !v.is_empty())
    })
}
