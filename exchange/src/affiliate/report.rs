//! What the admin API reads back from the affiliate database: one order with its lines and
//! their transitions, and the clicks, orders and commission per publisher → placement →
//! sub-id → campaign. Amounts are micro-units (integers), as stored.

use super::sql::{SqlError, Tx, Value};
use serde_json::{json, Value as Json};

/// One order, its attribution, its lines and every line's transitions.
pub(super) fn order_view(
    tx: &mut dyn Tx,
    advertiser: &str,
    order_id: &str,
) -> Result<Option<Json>, SqlError> {
    let key = [Value::from(advertiser), Value::from(order_id)];
    let Some(row) = tx.query_one(
        "SELECT currency, order_time, click_id, received_ms, unattributed, campaign, creative,
           auction, imp, publisher, placement, sub_id, source_mismatch, commission_rate,
           attributed_by, hold, hold_reasons, hold_note
         FROM orders WHERE advertiser = $1 AND order_id = $2",
        &key,
    )?
    else {
        return Ok(None);
    };
    let mut order = json!({
        "advertiser": advertiser,
        "order_id": order_id,
        "currency": row.text(0),
        "order_time": row.int(1),
        "click_id": row.opt_text(2),
        "received_ms": row.int(3),
        "attributed": row.opt_text(4).is_none(),
        "unattributed": row.opt_text(4),
        "campaign": row.opt_text(5),
        "creative": row.opt_text(6),
        "auction": row.opt_text(7),
        "imp": row.opt_text(8),
        "publisher": row.opt_text(9),
        "placement": row.opt_text(10),
        "sub_id": row.opt_text(11),
        "source_mismatch": row.flag(12),
        "commission_rate": row.opt_real(13),
        "attributed_by": row.opt_text(14),
        "hold": row.opt_text(15),
        "hold_reasons": row.opt_text(16),
        "hold_note": row.opt_text(17),
    });
    let lines = tx.query(
        "SELECT line_id, sku, category, quantity, unit_price_micros, state, refunded_micros,
           commission_micros, commission_exchange_micros, version, updated_ms, rules, fee_micros,
           review, review_reason, settled_period
         FROM order_lines WHERE advertiser = $1 AND order_id = $2 ORDER BY line_id",
        &key,
    )?;
    let mut out = Vec::with_capacity(lines.len());
    for row in lines {
        let line_id = row.text(0);
        let transitions: Vec<Json> = tx
            .query(
                "SELECT version, state, refunded_micros, commission_micros, spend_delta_micros, at_ms
                 FROM line_events WHERE advertiser = $1 AND order_id = $2 AND line_id = $3
                 ORDER BY version",
                &[key[0].clone(), key[1].clone(), Value::from(&line_id)],
            )?
            .iter()
            .map(|t| {
                json!({
                    "version": t.int(0),
                    "state": t.text(1),
                    "refunded_micros": t.int(2),
                    "commission_micros": t.int(3),
                    "spend_delta_micros": t.int(4),
                    "at_ms": t.int(5),
                })
            })
            .collect();
        out.push(json!({
            "line_id": line_id,
            "sku": row.text(1),
            "category": row.opt_text(2),
            "quantity": row.int(3),
            "unit_price_micros": row.int(4),
            "state": row.text(5),
            "refunded_micros": row.int(6),
            "commission_micros": row.int(7),
            "commission_exchange_micros": row.int(8),
            "version": row.int(9),
            "updated_ms": row.int(10),
            "rules": row.opt_text(11).unwrap_or_default().split(',').filter(|r| !r.is_empty()).collect::<Vec<_>>(),
            "fee_micros": row.int(12),
            "review": row.opt_text(13),
            "review_reason": row.opt_text(14),
            "settled_period": row.opt_text(15),
            "transitions": transitions,
        }));
    }
    order["lines"] = Json::Array(out);
    Ok(Some(order))
}

/// The report row of one publisher, placement, sub-id and campaign (created empty).
fn row_for<'r>(rows: &'r mut Vec<Json>, key: &[Option<String>; 4]) -> &'r mut Json {
    let position = rows.iter().position(|r| {
        ["publisher", "placement", "sub_id", "campaign"]
            .iter()
            .zip(key)
            .all(|(name, value)| r[*name].as_str() == value.as_deref())
    });
    let at = position.unwrap_or_else(|| {
        rows.push(json!({
            "publisher": key[0], "placement": key[1], "sub_id": key[2], "campaign": key[3],
            "clicks": 0, "invalid_clicks": {}, "orders": 0, "order_value_micros": {},
            "commission_micros": {}, "commission_exchange_micros": 0,
        }));
        rows.len() - 1
    });
    &mut rows[at]
}

fn add(slot: &mut Json, amount: i64) {
    *slot = json!(slot.as_i64().unwrap_or(0) + amount);
}

/// Per publisher, placement, sub-id and campaign: clicks (valid, invalid by reason),
/// attributed orders, their value and commission (lines not cancelled or refunded).
pub(super) fn summary(tx: &mut dyn Tx, publisher: Option<&str>) -> Result<Json, SqlError> {
    let filter = [Value::from(publisher)];
    let mut rows: Vec<Json> = Vec::new();
    let clicks = tx.query(
        "SELECT publisher, placement, sub_id, campaign, valid, reason, COUNT(*) FROM clicks
         WHERE CAST($1 AS TEXT) IS NULL OR publisher = $1
         GROUP BY publisher, placement, sub_id, campaign, valid, reason",
        &filter,
    )?;
    for click in clicks {
        let key = [
            click.opt_text(0),
            click.opt_text(1),
            click.opt_text(2),
            click.opt_text(3),
        ];
        let row = row_for(&mut rows, &key);
        if click.flag(4) {
            add(&mut row["clicks"], click.int(6));
        } else {
            row["invalid_clicks"][click.text(5)] = json!(click.int(6));
        }
    }
    let orders = tx.query(
        "SELECT o.publisher, o.placement, o.sub_id, o.campaign, o.currency,
           COUNT(DISTINCT o.order_id),
           CAST(SUM(CASE WHEN l.state IN ('cancelled', 'refunded') THEN 0
                    ELSE l.quantity * l.unit_price_micros - l.refunded_micros END) AS BIGINT),
           CAST(SUM(l.commission_micros) AS BIGINT), CAST(SUM(l.commission_exchange_micros) AS BIGINT)
         FROM orders o JOIN order_lines l ON l.advertiser = o.advertiser AND l.order_id = o.order_id
         WHERE o.unattributed IS NULL AND (CAST($1 AS TEXT) IS NULL OR o.publisher = $1)
         GROUP BY o.publisher, o.placement, o.sub_id, o.campaign, o.currency",
        &filter,
    )?;
    for order in orders {
        let key = [
            order.opt_text(0),
            order.opt_text(1),
            order.opt_text(2),
            order.opt_text(3),
        ];
        let currency = order.text(4);
        let row = row_for(&mut rows, &key);
        add(&mut row["orders"], order.int(5));
        row["order_value_micros"][&currency] = json!(order.int(6));
        row["commission_micros"][&currency] = json!(order.int(7));
        add(&mut row["commission_exchange_micros"], order.int(8));
    }
    rows.sort_by_key(|r| r.to_string());
    let unattributed: Vec<Json> = tx
        .query(
            "SELECT unattributed, COUNT(*) FROM orders
             WHERE unattributed IS NOT NULL AND CAST($1 AS TEXT) IS NULL
             GROUP BY unattributed ORDER BY unattributed",
            &filter,
        )?
        .iter()
        .map(|r| json!({ "reason": r.text(0), "orders": r.int(1) }))
        .collect();
    Ok(json!({ "rows": rows, "unattributed": unattributed }))
}
