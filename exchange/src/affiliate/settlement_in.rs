//! The affiliate loop's second half over HTTP: advertisers review lines (`POST
//! /orders/review`) and read their statement (`GET /orders/statement`); the operator
//! settles a period (`POST /admin/settle`), reads any statement (`GET /admin/statements`)
//! and exports the ledger (`GET /admin/ledger`); anyone reads the ledger's public key
//! (`GET /ledger/key`). A scheduled task settles each period once its pay day has come.

use super::database::review::{LineReview, ReviewAction};
use super::database::{AffiliateDb, ApplyError};
use super::orders_in::{self, SnapshotContext};
use super::views::{no_database, query_param, unavailable};
use crate::receive::reply::{json, text, Body};
use crate::state::AppState;
use exchange_core::cycle::Period;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;

/// Most reviews in one call.
pub const MAX_REVIEWS: usize = 1000;
/// Most ledger entries in one export page.
pub const MAX_EXPORT: u64 = 100_000;
/// Most queued money events chained in one transaction.
pub const SEQUENCE_BATCH: u64 = 10_000;

fn bad(status: StatusCode, field: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": message, "field": field }),
    )
}

fn context(state: &Arc<AppState>) -> SnapshotContext {
    SnapshotContext {
        serving: state.serving(),
        state: Arc::clone(state),
    }
}

/// One review as an advertiser sends it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewItem {
    order_id: String,
    line_id: String,
    /// `approve`, `decline` or `amend`.
    action: String,
    /// `amend` only: the line's value, in the order's currency.
    #[serde(default)]
    value: Option<f64>,
    reason: String,
}

/// The body of `POST /orders/review`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    lines: Vec<ReviewItem>,
}

fn validate(items: Vec<ReviewItem>) -> Result<Vec<LineReview>, (String, &'static str)> {
    if items.is_empty() || items.len() > MAX_REVIEWS {
        return Err(("lines".into(), "need 1 to 1000 lines"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |name: &str| format!("lines[{i}].{name}");
            let id_ok = |id: &str| {
                (1..=exchange_core::orders::MAX_ORDER_ID_BYTES).contains(&id.len())
                    && !id.chars().any(char::is_control)
            };
            if !id_ok(&item.order_id) {
                return Err((at("order_id"), "need 1-64 printable bytes"));
            }
            if !id_ok(&item.line_id) {
                return Err((at("line_id"), "need 1-64 printable bytes"));
            }
            if item.reason.trim().is_empty() || item.reason.len() > 500 {
                return Err((at("reason"), "give a reason of 1-500 bytes"));
            }
            let action = match (item.action.as_str(), item.value) {
                ("approve", None) => ReviewAction::Approve,
                ("decline", None) => ReviewAction::Decline,
                ("amend", Some(value)) if (0.0..=1e13).contains(&value) => {
                    ReviewAction::Amend((value * 1e6).round() as i64)
                }
                ("amend", _) => return Err((at("value"), "amend needs a value >= 0")),
                ("approve" | "decline", Some(_)) => {
                    return Err((at("value"), "only amend takes a value"))
                }
                _ => return Err((at("action"), "use approve, decline or amend")),
            };
            Ok(LineReview {
                order_id: item.order_id,
                line_id: item.line_id,
                action,
                reason: item.reason,
            })
        })
        .collect()
}

/// `POST /orders/review`: an advertiser approves, declines or amends its lines before they
/// lock. Each line's outcome in order; a settled line is refused (`locked`).
pub async fn review(state: Arc<AppState>, request: Request<Incoming>) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let max = state.config.affiliate.max_order_bytes;
    let (advertiser, body, _) = match orders_in::authenticated_call(&state, request, max).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let parsed: ReviewBody = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(parsed) => parsed,
        Err(error) => {
            let field = error.path().to_string();
            return bad(
                StatusCode::BAD_REQUEST,
                &field,
                &error.into_inner().to_string(),
            );
        }
    };
    let reviews = match validate(parsed.lines) {
        Ok(reviews) => reviews,
        Err((field, message)) => return bad(StatusCode::BAD_REQUEST, &field, message),
    };
    let now_ms = state.clock.now_millis();
    let context = context(&state);
    let db = Arc::clone(&database);
    let done =
        tokio::task::spawn_blocking(move || db.review(&advertiser, &reviews, now_ms, &context))
            .await;
    match done {
        Ok(Ok((outcomes, spend))) => {
            orders_in::commit_spend(&state, &database, spend).await;
            json(StatusCode::OK, &serde_json::json!({ "lines": outcomes }))
        }
        Ok(Err(ApplyError::Conflict(field, message))) => bad(StatusCode::CONFLICT, field, &message),
        _ => unavailable(),
    }
}

/// Settles `period` now: the summary, with its budget changes committed.
async fn settle_now(
    state: &Arc<AppState>,
    database: &Arc<AffiliateDb>,
    period: Period,
) -> Result<serde_json::Value, ApplyError> {
    // Clicks and orders that reached this node before the run are in it.
    state.affiliate.clicks.flush(Duration::from_secs(2)).await;
    let cycle = state
        .config
        .affiliate
        .settlement
        .cycle()
        .map_err(|(field, message)| {
            ApplyError::Conflict("affiliate.settlement", format!("{field}: {message}"))
        })?;
    let now_ms = state.clock.now_millis();
    let context = context(state);
    let db = Arc::clone(database);
    let settled = tokio::task::spawn_blocking(move || db.settle(cycle, period, now_ms, &context))
        .await
        .map_err(|e| {
            ApplyError::Store(crate::shared::StoreError::Unavailable(format!(
                "settlement: {e}"
            )))
        })??;
    orders_in::commit_spend(state, database, settled.spend).await;
    Ok(settled.summary)
}

/// `POST /admin/settle?period=YYYY-MM`: settles a closed period (again: the same answer,
/// nothing changes).
pub async fn settle(state: Arc<AppState>, query: &str) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let Some(period) = query_param(query, "period").and_then(|p| Period::parse(&p)) else {
        return bad(StatusCode::BAD_REQUEST, "period", "give period=YYYY-MM");
    };
    match settle_now(&state, &database, period).await {
        Ok(summary) => json(StatusCode::OK, &summary),
        Err(ApplyError::Conflict(field, message)) => bad(StatusCode::CONFLICT, field, &message),
        Err(ApplyError::Store(error)) => {
            tracing::warn!(%error, "settlement failed");
            unavailable()
        }
    }
}

/// A statement as JSON, or CSV with `format=csv`.
async fn statement_answer(
    database: Arc<AffiliateDb>,
    period: String,
    party: String,
    csv: bool,
) -> Response<Body> {
    match tokio::task::spawn_blocking(move || database.statement(&period, &party)).await {
        Ok(Ok(Some(statement))) if csv => {
            let mut response = text(StatusCode::OK, super::statements::to_csv(&statement));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            response
        }
        Ok(Ok(Some(statement))) => json(StatusCode::OK, &statement),
        Ok(Ok(None)) => bad(
            StatusCode::NOT_FOUND,
            "period",
            "no statement for this party in this period (not settled, or nothing to settle)",
        ),
        _ => unavailable(),
    }
}

/// `GET /admin/statements?period=&publisher=|advertiser=[&format=csv]`.
pub async fn statement(state: Arc<AppState>, query: &str) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let Some(period) = query_param(query, "period").filter(|p| Period::parse(p).is_some()) else {
        return bad(StatusCode::BAD_REQUEST, "period", "give period=YYYY-MM");
    };
    let party = match (
        query_param(query, "publisher"),
        query_param(query, "advertiser"),
    ) {
        (Some(publisher), None) => format!("publisher:{publisher}"),
        (None, Some(advertiser)) => format!("advertiser:{advertiser}"),
        _ => {
            return bad(
                StatusCode::BAD_REQUEST,
                "query",
                "give publisher= or advertiser=",
            )
        }
    };
    let csv = query_param(query, "format").as_deref() == Some("csv");
    statement_answer(database, period, party, csv).await
}

/// `GET /orders/statement?period=[&format=csv]`: the calling advertiser's own statement.
pub async fn own_statement(state: Arc<AppState>, request: Request<Incoming>) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let query = request.uri().query().unwrap_or("").to_owned();
    let (advertiser, _, _) = match orders_in::authenticated_call(&state, request, 1024).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    let Some(period) = query_param(&query, "period").filter(|p| Period::parse(p).is_some()) else {
        return bad(StatusCode::BAD_REQUEST, "period", "give period=YYYY-MM");
    };
    let csv = query_param(&query, "format").as_deref() == Some("csv");
    statement_answer(database, period, format!("advertiser:{advertiser}"), csv).await
}

/// `GET /publisher/statement?period=[&format=csv]`: a publisher's own statement, with
/// `X-Publisher: <id>` and `Authorization: Bearer <token>` where the registry holds the
/// token's SHA-256 (`statement_token_sha256`). 401 names the header at fault.
pub async fn publisher_statement(
    state: Arc<AppState>,
    request: Request<Incoming>,
) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let registry = &state.serving().snapshot.publishers;
    let publisher = match super::auth::authenticate_publisher(request.headers(), registry) {
        Ok(publisher) => publisher,
        Err(error) => return bad(StatusCode::UNAUTHORIZED, error.field, error.message),
    };
    let query = request.uri().query().unwrap_or("");
    let Some(period) = query_param(query, "period").filter(|p| Period::parse(p).is_some()) else {
        return bad(StatusCode::BAD_REQUEST, "period", "give period=YYYY-MM");
    };
    let csv = query_param(query, "format").as_deref() == Some("csv");
    statement_answer(database, period, format!("publisher:{publisher}"), csv).await
}

/// `GET /admin/ledger[?from=1&limit=100000]`: ledger entries as JSON lines (the format
/// `exchange ledger verify` checks).
pub async fn ledger(state: Arc<AppState>, query: &str) -> Response<Body> {
    let Some(database) = state.affiliate.database.clone() else {
        return no_database();
    };
    let number = |name: &str, default: u64| {
        query_param(query, name).map_or(Some(default), |v| v.parse::<u64>().ok())
    };
    let (Some(from), Some(limit)) = (number("from", 1), number("limit", MAX_EXPORT)) else {
        return bad(
            StatusCode::BAD_REQUEST,
            "query",
            "from and limit are numbers",
        );
    };
    let limit = limit.clamp(1, MAX_EXPORT);
    let exported = tokio::task::spawn_blocking(move || {
        // What is queued now is in the export.
        while database.sequence_ledger(SEQUENCE_BATCH)? == SEQUENCE_BATCH as usize {}
        database.ledger_export(from.max(1), limit)
    });
    match exported.await {
        Ok(Ok(lines)) => {
            let mut body = lines.join("\n");
            if !body.is_empty() {
                body.push('\n');
            }
            let mut response = text(StatusCode::OK, body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            response
        }
        _ => unavailable(),
    }
}

/// `GET /ledger/key`: the exchange's public ledger key (public: a publisher needs it to
/// check a statement).
pub fn key(state: &AppState) -> Response<Body> {
    match &state.affiliate.database {
        Some(database) => json(
            StatusCode::OK,
            &serde_json::json!({
                "algorithm": "ed25519",
                "key": database.ledger_settings().key.public_hex(),
            }),
        ),
        None => no_database(),
    }
}

/// Starts the ledger's sequencer: every `affiliate.ledger_flush_ms`, the queued money
/// events are chained in batches (on any node; two at once take turns on the head). Called
/// once by `receive::run`.
pub fn start_sequencer(state: &Arc<AppState>) {
    if state.affiliate.database.is_none() {
        return;
    }
    let every = Duration::from_millis(state.config.affiliate.ledger_flush_ms);
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(database) = weak
                .upgrade()
                .and_then(|state| state.affiliate.database.clone())
            else {
                return;
            };
            let chained = tokio::task::spawn_blocking(move || {
                let mut total = 0;
                loop {
                    let n = database.sequence_ledger(SEQUENCE_BATCH)?;
                    total += n;
                    if n < SEQUENCE_BATCH as usize {
                        return Ok::<_, crate::shared::StoreError>(total);
                    }
                }
            })
            .await;
            if let Ok(Err(error)) = chained {
                tracing::warn!(%error, "ledger sequencing failed; retried next tick");
            }
        }
    });
}

/// Starts the scheduled settlement: every `check_secs`, settles the latest period whose pay day
/// has come, if it is not settled yet. Called once by `receive::run`.
pub fn start(state: &Arc<AppState>) {
    let settings = &state.config.affiliate.settlement;
    let (true, true, Ok(cycle)) = (
        state.affiliate.database.is_some(),
        settings.schedule,
        settings.cycle(),
    ) else {
        return;
    };
    let period = Duration::from_secs(settings.check_secs);
    // Only a weak hold between checks: the task never keeps a stopped exchange alive.
    crate::state::every(state, period, move |state| async move {
        let Some(database) = state.affiliate.database.clone() else {
            return;
        };
        let period = cycle.last_payable(state.clock.now_millis());
        let db = Arc::clone(&database);
        let name = period.to_string();
        let settled = tokio::task::spawn_blocking(move || db.is_settled(&name)).await;
        if !matches!(settled, Ok(Ok(false))) {
            return;
        }
        match settle_now(&state, &database, period).await {
            Ok(summary) => {
                tracing::info!(period = %period, lines = %summary["lines"], "settled")
            }
            Err(error) => {
                tracing::warn!(period = %period, ?error, "scheduled settlement failed")
            }
        }
    });
}
