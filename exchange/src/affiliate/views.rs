//! The operator's views and decisions (`/admin/orders`, `/admin/affiliate/report`,
//! `/admin/fraud/orders`): read back from the affiliate database, on blocking threads.

use super::{database, orders_in};
use crate::receive::reply::{json, Body};
use crate::state::AppState;
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

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

/// The answer when this node keeps no affiliate database.
pub(super) fn no_database() -> Response<Body> {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "error": "no affiliate database configured", "field": "affiliate.database" }),
    )
}

/// The answer when the affiliate database failed (nothing changed).
pub(super) fn unavailable() -> Response<Body> {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "error": "affiliate database unavailable", "field": "store" }),
    )
}

/// The decoded value of `name` in a query string (at most 256 bytes).
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
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
