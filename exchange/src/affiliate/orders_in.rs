//! `POST /orders`: an advertiser reports one order (new, or an update of one it reported
//! before). Authenticated first ([`super::auth`]), then read
//! ([`exchange_core::orders::OrderReport`], 400 naming the field), then applied in one
//! database transaction ([`super::database::AffiliateDb::apply_order`]: attribution, each
//! line's transition and commission); answered 200 only once that transaction is committed,
//! so an acknowledged order survives `kill -9`. The commission change of a CPS campaign's
//! lines then goes to its budget through the store writer (idempotent per line version);
//! whatever the writer had not confirmed is sent again at the next start.

use super::database::{
    AffiliateDb, ApplyError, CampaignTerms, OrderContext, OrderOutcome, SpendDelta,
};
use super::stats::REFUSALS;
use crate::campaign::Pricing;
use crate::receive::reply::{json, Body};
use crate::serving::Serving;
use crate::shared::{EventId, Release, Write};
use crate::state::AppState;
use exchange_core::orders::{HoldReason, OrderReport, Unattributed};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for the budget store to take an order's spend before answering anyway
/// (the order itself is already durable; the spend is re-sent at the next start).
const SPEND_WAIT: Duration = Duration::from_secs(2);

fn refused(
    state: &AppState,
    kind: &str,
    status: StatusCode,
    field: &str,
    message: &str,
) -> Response<Body> {
    if let Some(at) = REFUSALS.iter().position(|r| *r == kind) {
        state.affiliate.orders.refused[at].fetch_add(1, Relaxed);
    }
    json(
        status,
        &serde_json::json!({ "error": message, "field": field }),
    )
}

/// What an order reads from the serving snapshot and the configured rates.
pub(super) struct SnapshotContext {
    pub(super) state: Arc<AppState>,
    pub(super) serving: Arc<Serving>,
}

impl OrderContext for SnapshotContext {
    fn campaign(&self, id: &str) -> Option<CampaignTerms> {
        let campaign = self.serving.snapshot.campaign(id)?;
        let base_rate = match campaign.pricing {
            Pricing::Cps {
                commission_rate, ..
            } => Some(commission_rate),
            _ => None,
        };
        Some(CampaignTerms {
            window_secs: campaign.attribution.window_secs,
            base_rate,
            cps: base_rate.is_some(),
            view_through_secs: campaign.attribution.view_through_secs,
            commission: campaign.commission.clone(),
        })
    }

    fn to_exchange(&self, currency: &str, micros: i64) -> Option<i64> {
        let rate = self.state.config.rate_of(currency)?;
        Some((micros as f64 / rate).round() as i64)
    }

    fn is_publishers_own(&self, publisher: &str, account: &str) -> bool {
        self.serving
            .snapshot
            .publishers
            .get(publisher)
            .is_some_and(|p| p.buyer_accounts.iter().any(|a| a == account))
    }

    fn rules(&self) -> crate::config::FraudConfig {
        self.state.config.affiliate.fraud
    }

    fn cycle(&self) -> exchange_core::cycle::Cycle {
        self.state
            .config
            .affiliate
            .settlement
            .cycle()
            .unwrap_or(DEFAULT_CYCLE)
    }

    fn user_keys(&self, id: &str) -> Vec<String> {
        ["user.id", "user.buyeruid", "device.ifa"]
            .into_iter()
            .filter_map(|source| {
                crate::admission::caps::user_key_of(source, id, &self.state.user_secret)
            })
            .map(|key| key.hex())
            .collect()
    }
}

/// Why a report was not applied: metric label, status, field, message.
type Refusal = (&'static str, StatusCode, String, String);

fn refusal(kind: &'static str, status: StatusCode, field: &str, message: &str) -> Refusal {
    (kind, status, field.to_owned(), message.to_owned())
}

/// The body of an authenticated order call (one report or a file), and who sent it.
async fn authenticated(
    state: &Arc<AppState>,
    request: Request<Incoming>,
    max_bytes: usize,
) -> Result<(String, bytes::Bytes, http::HeaderMap), Refusal> {
    let headers = request.headers().clone();
    let config = &state.config;
    let body = crate::receive::body::read(
        request,
        max_bytes,
        Duration::from_millis(config.limits.body_read_timeout_ms),
    )
    .await
    .map_err(|error| refusal("too_large", error.status, "body", error.message))?;
    let advertiser = super::auth::authenticate(
        &state.affiliate.advertisers,
        &headers,
        &body,
        state.clock.now_millis().div_euclid(1000),
        config.affiliate.signature_skew_secs as i64,
    )
    .map_err(|e| {
        refusal(
            "unauthenticated",
            StatusCode::UNAUTHORIZED,
            e.field,
            e.message,
        )
    })?;
    Ok((advertiser.id.clone(), body, headers))
}

/// The body of an authenticated advertiser call and who sent it, or the refusal
/// (counted) to answer.
pub(crate) async fn authenticated_call(
    state: &Arc<AppState>,
    request: Request<Incoming>,
    max_bytes: usize,
) -> Result<(String, bytes::Bytes, http::HeaderMap), Response<Body>> {
    authenticated(state, request, max_bytes)
        .await
        .map_err(|refusal| answer_refusal(state, refusal))
}

/// Validates and applies one report of `advertiser`'s (committed when it returns `Ok`),
/// then sends its budget spend.
async fn apply(
    state: &Arc<AppState>,
    database: &Arc<AffiliateDb>,
    advertiser: &str,
    report: OrderReport,
) -> Result<OrderOutcome, Refusal> {
    let now_ms = state.clock.now_millis();
    let update = report
        .validate(now_ms.div_euclid(1000))
        .map_err(|e| refusal("invalid", StatusCode::BAD_REQUEST, &e.field, &e.message))?;
    if state.config.rate_of(&update.currency).is_none() {
        return Err(refusal(
            "invalid",
            StatusCode::BAD_REQUEST,
            "currency",
            "no exchange rate for this currency",
        ));
    }
    wait_for_click(state, database, update.click_id.as_deref()).await;
    let context = SnapshotContext {
        serving: state.serving(),
        state: Arc::clone(state),
    };
    let db = Arc::clone(database);
    let advertiser = advertiser.to_owned();
    let applied =
        tokio::task::spawn_blocking(move || db.apply_order(&advertiser, &update, now_ms, &context))
            .await;
    let outcome = match applied {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(ApplyError::Conflict(field, message))) => {
            return Err(refusal("conflict", StatusCode::CONFLICT, field, &message))
        }
        failed => {
            if let Ok(Err(ApplyError::Store(error))) = failed {
                tracing::warn!(%error, "order not recorded");
            }
            return Err(refusal(
                "unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                "the order was not recorded; retry it",
            ));
        }
    };
    count(state, &outcome);
    commit_spend(state, database, outcome.spend.clone()).await;
    Ok(outcome)
}

/// Counts a refusal and answers it.
fn answer_refusal(state: &AppState, (kind, status, field, message): Refusal) -> Response<Body> {
    refused(state, kind, status, &field, &message)
}

/// The answer when this node keeps no order database.
fn no_database(state: &AppState) -> Response<Body> {
    refused(
        state,
        "no_database",
        StatusCode::SERVICE_UNAVAILABLE,
        "affiliate.database",
        "this exchange keeps no order database; nothing was recorded",
    )
}

/// Answers `POST /orders`: one report.
pub async fn receive(state: Arc<AppState>, request: Request<Incoming>) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database(&state);
    };
    let max = state.config.affiliate.max_order_bytes;
    let (advertiser, body, _) = match authenticated_call(&state, request, max).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let report: OrderReport = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(report) => report,
        Err(error) => {
            let field = error.path().to_string();
            let message = error.into_inner().to_string();
            return refused(&state, "invalid", StatusCode::BAD_REQUEST, &field, &message);
        }
    };
    match apply(&state, &database, &advertiser, report).await {
        Ok(outcome) => json(
            StatusCode::OK,
            &serde_json::to_value(&outcome).unwrap_or_default(),
        ),
        Err(refusal) => answer_refusal(&state, refusal),
    }
}

/// Answers `POST /orders/batch`: an order file (JSON lines, or CSV with `Content-Type:
/// text/csv`); every order applied on its own, each one's outcome in file order.
pub async fn receive_batch(state: Arc<AppState>, request: Request<Incoming>) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database(&state);
    };
    let max = state.config.affiliate.max_batch_bytes;
    let (advertiser, body, headers) = match authenticated_call(&state, request, max).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return refused(
            &state,
            "invalid",
            StatusCode::BAD_REQUEST,
            "body",
            "not UTF-8",
        );
    };
    let is_csv = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/csv"));
    let orders = if is_csv {
        super::batch::csv_rows(text)
    } else {
        super::batch::json_lines(text)
    };
    if orders.len() > super::batch::MAX_BATCH_ORDERS {
        return refused(
            &state,
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            "more than 10,000 orders in one file",
        );
    }
    let mut results = Vec::with_capacity(orders.len());
    let (mut applied, mut refused_count) = (0usize, 0usize);
    for order in orders {
        let result = match order.report {
            Err((field, message)) => Err(refusal(
                "invalid",
                StatusCode::BAD_REQUEST,
                &field,
                &message,
            )),
            Ok(report) => apply(&state, &database, &advertiser, report).await,
        };
        results.push(match result {
            Ok(outcome) => {
                applied += 1;
                let mut value = serde_json::to_value(&outcome).unwrap_or_default();
                value["line"] = serde_json::json!(order.line);
                value["status"] = serde_json::json!(200);
                value
            }
            Err((kind, status, field, message)) => {
                refused_count += 1;
                if let Some(at) = REFUSALS.iter().position(|r| *r == kind) {
                    state.affiliate.orders.refused[at].fetch_add(1, Relaxed);
                }
                serde_json::json!({
                    "line": order.line, "status": status.as_u16(), "field": field, "error": message,
                })
            }
        });
    }
    json(
        StatusCode::OK,
        &serde_json::json!({ "applied": applied, "refused": refused_count, "results": results }),
    )
}

/// When the order's click is not in the database yet but clicks are still on their way
/// there (a click a moment ago on this node), waits for them to be written (bounded).
async fn wait_for_click(state: &AppState, database: &Arc<AffiliateDb>, click_id: Option<&str>) {
    let Some(click_id) = click_id else { return };
    if state.affiliate.clicks.pending() == 0 {
        return;
    }
    let db = Arc::clone(database);
    let id = click_id.to_owned();
    let known = tokio::task::spawn_blocking(move || db.click(&id)).await;
    if !matches!(known, Ok(Ok(Some(_)))) {
        state.affiliate.clicks.flush(CLICK_WAIT).await;
    }
}

/// Longest an order waits for this node's queued clicks to be written.
const CLICK_WAIT: Duration = Duration::from_secs(1);

fn count(state: &AppState, outcome: &OrderOutcome) {
    let stats = &state.affiliate.orders;
    match outcome.unattributed {
        None => stats.attributed.fetch_add(1, Relaxed),
        Some(reason) => {
            let at = Unattributed::ALL
                .iter()
                .position(|r| r.as_str() == reason)
                .unwrap_or(0);
            stats.unattributed[at].fetch_add(1, Relaxed)
        }
    };
    if outcome.held_now {
        for reason in &outcome.held {
            if let Some(at) = HoldReason::ALL.iter().position(|h| h.as_str() == *reason) {
                stats.holds[at].fetch_add(1, Relaxed);
            }
        }
    }
    let changed = outcome.lines.iter().filter(|l| l.changed).count();
    stats.transitions.fetch_add(changed as u64, Relaxed);
}

/// Sends `spend` to the budget store and marks what landed; bounded (2 s).
pub async fn commit_spend(
    state: &Arc<AppState>,
    database: &Arc<AffiliateDb>,
    spend: Vec<SpendDelta>,
) -> bool {
    if spend.is_empty() {
        return true;
    }
    let serving = state.serving();
    let writes: Vec<Write> = spend
        .iter()
        .map(|delta| {
            let offset = serving
                .snapshot
                .campaign(&delta.campaign)
                .map_or(0, |c| c.utc_offset_secs);
            let (advertiser, order, line, version) = &delta.event;
            Write::Spend {
                campaign: delta.campaign.clone(),
                day: crate::admission::budgets::local_day(state.clock.now_millis(), offset),
                micros: delta.micros,
                event: EventId {
                    auction: format!("order:{advertiser}:{order}"),
                    imp: format!("{line}:{version}"),
                },
                release: Release::NONE,
            }
        })
        .collect();
    let landed = match state.writer.send(writes) {
        Some(durable) => durable.wait(SPEND_WAIT).await,
        None => false,
    };
    if landed {
        let db = Arc::clone(database);
        let events: Vec<_> = spend.into_iter().map(|d| d.event).collect();
        let marked = tokio::task::spawn_blocking(move || db.spend_committed(&events)).await;
        if !matches!(marked, Ok(Ok(()))) {
            tracing::warn!(
                "order spend committed but not marked; it is sent again (once) at the next start"
            );
        }
    }
    landed
}

/// The cycle of the default settings (validation refuses any other that does not parse).
const DEFAULT_CYCLE: exchange_core::cycle::Cycle = exchange_core::cycle::Cycle {
    close_day: 15,
    pay_day: 20,
    utc_offset_secs: 8 * 3600,
};
