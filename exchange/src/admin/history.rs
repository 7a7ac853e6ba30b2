//! `POST /admin/users/history` (bearer token): seeds a user's purchase history in the
//! store (the exchange's own history; conversion events will write it later), and
//! answers with what the LTV model now predicts for them.
//!
//! ```json
//! {"user": {"id": "u-42"},             // or {"buyeruid": …} or {"ifa": …}
//!  "vertical": "beauty",               // optional; default "*" (all purchases)
//!  "orders": [{"date": "2026-03-01", "amount": 59.0}, …]}
//! ```
//!
//! Orders are summarised as the model reads them: a day's orders are one transaction;
//! the stored history replaces what the user had in that vertical.

use crate::admission::caps::user_key_of;
use crate::ltv::orders::parse_date;
use crate::ltv::user::{customer, predict, HistorySource};
use crate::receive::reply::{json, Body};
use crate::shared::{keys, PacingStore, PurchaseHistory, Write};
use crate::signals::ALL_VERTICALS;
use crate::state::AppState;
use http::{Response, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest seeding body.
pub const MAX_SEED_BYTES: usize = 1024 * 1024;
/// Most orders in one seeding call.
pub const MAX_SEED_ORDERS: usize = 10_000;
/// How long the store may take to take the write.
const SEED_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRequest {
    user: SeedUser,
    vertical: Option<String>,
    orders: Vec<SeedOrder>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedUser {
    id: Option<String>,
    buyeruid: Option<String>,
    ifa: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedOrder {
    date: String,
    amount: f64,
}

fn bad(message: String, field: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message, "field": field }),
    )
}

/// Handles a seeding call whose body has been read.
pub async fn seed(state: &AppState, body: &[u8]) -> Response<Body> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request: SeedRequest = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(request) => request,
        Err(error) => {
            let field = error.path().to_string();
            return bad(error.into_inner().to_string(), &field);
        }
    };
    let sources = [
        ("user.id", request.user.id.as_deref()),
        ("user.buyeruid", request.user.buyeruid.as_deref()),
        ("device.ifa", request.user.ifa.as_deref()),
    ];
    let given: Vec<_> = sources.iter().filter(|(_, id)| id.is_some()).collect();
    let user = match given.as_slice() {
        [(source, Some(id))] => user_key_of(source, id, &state.user_secret),
        _ => None,
    };
    let Some(user) = user else {
        return bad(
            "give exactly one of id, buyeruid, ifa: non-empty, at most 256 bytes, not all zeros"
                .to_owned(),
            "user",
        );
    };
    let vertical = request.vertical.as_deref().unwrap_or(ALL_VERTICALS);
    let vertical_ok = vertical == ALL_VERTICALS
        || (!vertical.is_empty()
            && vertical.len() <= 32
            && vertical
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if !vertical_ok {
        return bad(
            "1 to 32 letters, digits, '-' or '_', or \"*\"".to_owned(),
            "vertical",
        );
    }
    let today = state.clock.now_unix().div_euclid(86_400);
    let history = match summarise(&request.orders, today) {
        Ok(history) => history,
        Err((message, field)) => return bad(message, &field),
    };
    let write = Write::History {
        user,
        vertical: vertical.to_owned(),
        history,
        ttl_secs: state.config.ltv.history_ttl_days * 86_400,
    };
    match tokio::time::timeout(SEED_TIMEOUT, state.shared.apply(&[write])).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "error": format!("store: {error}"), "field": "store" }),
            )
        }
        Err(_) => {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "error": "store did not answer in time", "field": "store" }),
            )
        }
    }
    let model = state.model_file.load();
    let prediction = model.as_deref().and_then(|model| {
        predict(
            model,
            &customer(&history, today)?,
            state.config.ltv.horizon_weeks,
            HistorySource::Store,
        )
    });
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "stored",
            "user_key": user.hex(),
            "field": keys::history_field(vertical),
            "transactions": history.transactions,
            "first_day": history.first_day,
            "last_day": history.last_day,
            "total": history.total,
            "prediction": prediction,
        }),
    )
}

/// Orders → one history (a day's orders are one transaction).
fn summarise(orders: &[SeedOrder], today: i64) -> Result<PurchaseHistory, (String, String)> {
    if orders.is_empty() || orders.len() > MAX_SEED_ORDERS {
        return Err((
            format!("1 to {MAX_SEED_ORDERS} orders"),
            "orders".to_owned(),
        ));
    }
    let mut days: BTreeMap<i64, f64> = BTreeMap::new();
    for (i, order) in orders.iter().enumerate() {
        let day = parse_date(&order.date)
            .map(|d| (d - time::OffsetDateTime::UNIX_EPOCH.date()).whole_days())
            .filter(|day| *day <= today);
        let Some(day) = day else {
            return Err((
                "a YYYY-MM-DD date, not after today".to_owned(),
                format!("orders[{i}].date"),
            ));
        };
        if !(order.amount.is_finite() && order.amount > 0.0 && order.amount <= 1e7) {
            return Err((
                "must be in (0, 1e7]".to_owned(),
                format!("orders[{i}].amount"),
            ));
        }
        *days.entry(day).or_default() += order.amount;
    }
    let (first_day, last_day) = match (days.keys().next(), days.keys().next_back()) {
        (Some(first), Some(last)) => (*first, *last),
        _ => return Err(("no orders".to_owned(), "orders".to_owned())),
    };
    Ok(PurchaseHistory {
        transactions: days.len() as u32,
        first_day,
        last_day,
        total: days.values().sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(date: &str, amount: f64) -> SeedOrder {
        SeedOrder {
            date: date.to_owned(),
            amount,
        }
    }

    #[test]
    fn same_day_orders_are_one_transaction() {
        // 2026-01-01 is unix day 20454.
        let h = summarise(
            &[
                order("2026-01-01", 10.0),
                order("2026-01-01", 5.0),
                order("2026-02-01", 30.0),
            ],
            20_600,
        )
        .expect("valid");
        assert_eq!(
            (h.transactions, h.first_day, h.last_day),
            (2, 20_454, 20_485)
        );
        assert_eq!(h.total, 45.0);
    }

    #[test]
    fn bad_orders_name_the_field() {
        for (orders, field) in [
            (vec![], "orders"),
            (vec![order("2026-13-01", 1.0)], "orders[0].date"),
            (
                vec![order("2026-01-01", 1.0), order("2099-01-01", 1.0)],
                "orders[1].date",
            ),
            (vec![order("2026-01-01", f64::NAN)], "orders[0].amount"),
            (vec![order("2026-01-01", -1.0)], "orders[0].amount"),
        ] {
            assert_eq!(summarise(&orders, 20_600).expect_err(field).1, field);
        }
    }
}
