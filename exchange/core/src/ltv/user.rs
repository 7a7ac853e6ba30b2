//! One user's predicted lifetime value at auction time: their purchase history (the
//! exchange's own, from the store's user hash, or what the publisher shares in the
//! request) → the four model inputs → P(alive), expected purchases over the horizon,
//! expected order value → LTV = expected purchases × expected order value.
//!
//! Publisher first-party signals (all optional; anything out of bounds is ignored):
//!
//! ```json
//! "user": {"ext": {"purchase_history": {
//!     "transactions": 5,        // purchase days in the history, 1..=10000
//!     "first_days_ago": 300,    // first purchase, days before now, 0..=3650
//!     "last_days_ago": 12,      // last purchase, ≤ first_days_ago
//!     "avg_order_value": 85.0   // exchange currency, (0, 1e6]
//! }}}
//! ```
//!
//! or the same four numbers as `user.data[]` segments (`name` = the key, `value` = the
//! number) of a data object named `purchase_history`.

use super::model::Customer;
use super::train::LtvModel;
use super::PurchaseHistory;
use bidder_sdk::openrtb::User;
use serde::Serialize;

/// Most transactions believed from a request.
const MAX_SHARED_TRANSACTIONS: f64 = 10_000.0;
/// Longest history believed from a request, days.
const MAX_SHARED_DAYS: f64 = 3_650.0;
/// Largest mean order value believed from a request.
const MAX_SHARED_ORDER_VALUE: f64 = 1e6;

/// Where a user's history came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    /// The exchange's store, for the campaign's vertical.
    StoreVertical,
    /// The exchange's store, all purchases.
    Store,
    /// The publisher's `user.ext` or `user.data`.
    Publisher,
}

/// A user's predicted value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    /// Probability the customer is still active.
    pub p_alive: f64,
    /// Expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected value of one order.
    pub order_value: f64,
    /// Expected purchases × order value.
    pub ltv: f64,
    /// Where the history came from.
    pub source: HistorySource,
}

/// The model inputs of `history` on day `today` (weeks; `None` when inconsistent).
pub fn customer(history: &PurchaseHistory, today: i64) -> Option<Customer> {
    if !history.is_valid() || today < history.last_day {
        return None;
    }
    Some(Customer {
        x: f64::from(history.transactions - 1),
        t_x: (history.last_day - history.first_day) as f64 / 7.0,
        age: (today - history.first_day) as f64 / 7.0,
        mean_value: history.total / f64::from(history.transactions),
    })
}

/// Predicts `customer`'s value over `horizon_weeks` under `model`.
pub fn predict(
    model: &LtvModel,
    customer: &Customer,
    horizon_weeks: f64,
    source: HistorySource,
) -> Option<Prediction> {
    let expected_purchases = model.bgnbd.expected_purchases(customer, horizon_weeks)?;
    let order_value = if customer.x > 0.0 {
        model.gamma_gamma.expected_order_value(customer)
    } else {
        // No repeat purchase: the population mean order value, p·γ / (q − 1).
        let gg = &model.gamma_gamma;
        gg.p * gg.gamma / (gg.q - 1.0)
    };
    let p_alive = model.bgnbd.p_alive(customer);
    let ltv = expected_purchases * order_value;
    (ltv.is_finite() && p_alive.is_finite()).then_some(Prediction {
        p_alive,
        expected_purchases,
        order_value,
        ltv,
        source,
    })
}

/// The history a publisher shares for `user`, if it is present and believable.
pub fn publisher_history(user: &User, today: i64) -> Option<PurchaseHistory> {
    let from_ext = user
        .ext
        .as_ref()
        .and_then(|ext| ext.get("purchase_history"))
        .filter(|v| v.is_object())
        .map(|object| move |key: &str| object.get(key).and_then(serde_json::Value::as_f64));
    if let Some(get) = from_ext {
        return shared_history(get, today);
    }
    let data = user
        .data
        .iter()
        .find(|d| d.name.as_deref() == Some("purchase_history"))?;
    shared_history(
        |key: &str| {
            data.segment
                .iter()
                .find(|s| s.name.as_deref() == Some(key))
                .and_then(|s| s.value.as_deref())
                .and_then(|v| v.trim().parse::<f64>().ok())
        },
        today,
    )
}

fn shared_history(get: impl Fn(&str) -> Option<f64>, today: i64) -> Option<PurchaseHistory> {
    let transactions = get("transactions")?;
    let first = get("first_days_ago")?;
    let last = get("last_days_ago")?;
    let value = get("avg_order_value")?;
    let whole = |v: f64| v.is_finite() && v.fract() == 0.0;
    let ok = whole(transactions)
        && (1.0..=MAX_SHARED_TRANSACTIONS).contains(&transactions)
        && whole(first)
        && whole(last)
        && (0.0..=MAX_SHARED_DAYS).contains(&first)
        && (0.0..=first).contains(&last)
        && value.is_finite()
        && value > 0.0
        && value <= MAX_SHARED_ORDER_VALUE;
    if !ok {
        return None;
    }
    let history = PurchaseHistory {
        transactions: transactions as u32,
        first_day: today - first as i64,
        last_day: today - last as i64,
        total: value * transactions,
    };
    history.is_valid().then_some(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ltv::model::{BgNbd, GammaGamma};
    use crate::ltv::train::LogLikelihoods;

    pub(crate) fn cdnow_model() -> LtvModel {
        LtvModel {
            bgnbd: BgNbd {
                r: 0.24259,
                alpha: 4.4135,
                a: 0.79289,
                b: 2.42576,
            },
            gamma_gamma: GammaGamma {
                p: 6.2488,
                q: 3.7446,
                gamma: 15.4477,
            },
            log_likelihood: LogLikelihoods {
                bgnbd: 0.0,
                gamma_gamma: 0.0,
            },
            time_unit: "weeks".into(),
            calibration_end: "1997-09-30".into(),
            customers: 1,
        }
    }

    fn user(json: &str) -> User {
        serde_json::from_str(json).expect("user")
    }

    #[test]
    fn a_frequent_recent_buyer_is_worth_more_than_a_lapsed_one() {
        let model = cdnow_model();
        let today = 20_000;
        let frequent = PurchaseHistory {
            transactions: 8,
            first_day: today - 270,
            last_day: today - 5,
            total: 8.0 * 60.0,
        };
        let lapsed = PurchaseHistory {
            last_day: today - 260,
            ..frequent
        };
        let predict_at = |h: &PurchaseHistory| {
            predict(
                &model,
                &customer(h, today).expect("valid"),
                52.0,
                HistorySource::Store,
            )
            .expect("prediction")
        };
        let (f, l) = (predict_at(&frequent), predict_at(&lapsed));
        assert!(f.p_alive > 0.9 && l.p_alive < 0.5, "{f:?} {l:?}");
        assert!(f.ltv > 4.0 * l.ltv, "{f:?} {l:?}");
        assert!((f.ltv - f.expected_purchases * f.order_value).abs() < 1e-9);
        // One purchase only: the population mean order value.
        let once = PurchaseHistory {
            transactions: 1,
            first_day: today - 10,
            last_day: today - 10,
            total: 40.0,
        };
        let o = predict_at(&once);
        assert!((o.order_value - 6.2488 * 15.4477 / 2.7446).abs() < 1e-9);
    }

    #[test]
    fn the_worked_example_in_architecture_md_holds() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/models/ltv.json");
        let text = std::fs::read_to_string(&path).expect("shipped model");
        let model = crate::ltv::train::LtvModel::from_json(&text).expect("valid model");
        // Ten monthly orders of 120, the last yesterday.
        let today = 20_785;
        let history = PurchaseHistory {
            transactions: 10,
            first_day: today - 271,
            last_day: today - 1,
            total: 1_200.0,
        };
        let c = customer(&history, today).expect("valid");
        let p = predict(&model, &c, 52.0, HistorySource::Store).expect("prediction");
        assert!((p.p_alive - 0.93).abs() < 0.005, "{p:?}");
        assert!((p.expected_purchases - 7.79).abs() < 0.005, "{p:?}");
        assert!((p.order_value - 118.5).abs() < 0.05, "{p:?}");
        assert!((p.ltv - 923.6).abs() < 0.5, "{p:?}");
    }

    #[test]
    fn shared_history_is_read_from_ext_or_data_and_bounded() {
        let today = 20_000;
        let ext = user(
            r#"{"ext":{"purchase_history":{"transactions":5,"first_days_ago":300,"last_days_ago":12,"avg_order_value":85.0}}}"#,
        );
        let h = publisher_history(&ext, today).expect("read");
        assert_eq!(
            (h.transactions, h.first_day, h.last_day),
            (5, today - 300, today - 12)
        );
        assert!((h.total - 425.0).abs() < 1e-9);
        let data = user(
            r#"{"data":[{"name":"purchase_history","segment":[{"name":"transactions","value":"5"},{"name":"first_days_ago","value":"300"},{"name":"last_days_ago","value":"12"},{"name":"avg_order_value","value":"85"}]}]}"#,
        );
        assert_eq!(publisher_history(&data, today), Some(h));
        for bad in [
            r#"{"ext":{"purchase_history":{"transactions":0,"first_days_ago":3,"last_days_ago":1,"avg_order_value":5}}}"#,
            r#"{"ext":{"purchase_history":{"transactions":2.5,"first_days_ago":3,"last_days_ago":1,"avg_order_value":5}}}"#,
            r#"{"ext":{"purchase_history":{"transactions":2,"first_days_ago":3,"last_days_ago":9,"avg_order_value":5}}}"#,
            r#"{"ext":{"purchase_history":{"transactions":2,"first_days_ago":99999,"last_days_ago":1,"avg_order_value":5}}}"#,
            r#"{"ext":{"purchase_history":{"transactions":2,"first_days_ago":3,"last_days_ago":1,"avg_order_value":-5}}}"#,
            r#"{"ext":{"purchase_history":{"transactions":1,"first_days_ago":3,"last_days_ago":1,"avg_order_value":5}}}"#,
            r#"{"ext":{"purchase_history":"lots"}}"#,
            r#"{"ext":{"purchase_history":{}}}"#,
            r#"{}"#,
        ] {
            assert_eq!(publisher_history(&user(bad), today), None, "{bad}");
        }
    }
}
