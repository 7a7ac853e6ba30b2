//! What the admin API reads back from the affiliate database: one order with its lines and
//! their transitions, and the clicks, orders and commission per publisher → placement →
//! sub-id → campaign. Amounts are micro-units (integers), as stored.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

/// One order, its attribution, its lines and every line's transitions.
pub(super) fn order_view(
    connection: &Connection,
    advertiser: &str,
    order_id: &str,
) -> rusqlite::Result<Option<Value>> {
    let order = connection
        .query_row(
            "SELECT currency, order_time, click_id, received_ms, unattributed, campaign, creative, auction,
               imp, publisher, placement, sub_id, source_mismatch, commission_rate
             FROM orders WHERE advertiser = ?1 AND order_id = ?2",
            params![advertiser, order_id],
            |row| {
                Ok(json!({
                    "advertiser": advertiser,
                    "order_id": order_id,
                    "currency": row.get::<_, String>(0)?,
                    "order_time": row.get::<_, i64>(1)?,
                    "click_id": row.get::<_, Option<String>>(2)?,
                    "received_ms": row.get::<_, i64>(3)?,
                    "attributed": row.get::<_, Option<String>>(4)?.is_none(),
                    "unattributed": row.get::<_, Option<String>>(4)?,
                    "campaign": row.get::<_, Option<String>>(5)?,
                    "creative": row.get::<_, Option<String>>(6)?,
                    "auction": row.get::<_, Option<String>>(7)?,
                    "imp": row.get::<_, Option<String>>(8)?,
                    "publisher": row.get::<_, Option<String>>(9)?,
                    "placement": row.get::<_, Option<String>>(10)?,
                    "sub_id": row.get::<_, Option<String>>(11)?,
                    "source_mismatch": row.get::<_, bool>(12)?,
                    "commission_rate": row.get::<_, Option<f64>>(13)?,
                }))
            },
        )
        .optional()?;
    let Some(mut order) = order else {
        return Ok(None);
    };
    let mut lines = connection.prepare(
        "SELECT line_id, sku, category, quantity, unit_price_micros, state, refunded_micros,
           commission_micros, commission_exchange_micros, version, updated_ms
         FROM order_lines WHERE advertiser = ?1 AND order_id = ?2 ORDER BY line_id",
    )?;
    let mut events = connection.prepare(
        "SELECT version, state, refunded_micros, commission_micros, spend_delta_micros, at_ms
         FROM line_events WHERE advertiser = ?1 AND order_id = ?2 AND line_id = ?3 ORDER BY version",
    )?;
    let mut out = Vec::new();
    let rows = lines.query_map(params![advertiser, order_id], |row| {
        Ok(json!({
            "line_id": row.get::<_, String>(0)?,
            "sku": row.get::<_, String>(1)?,
            "category": row.get::<_, Option<String>>(2)?,
            "quantity": row.get::<_, i64>(3)?,
            "unit_price_micros": row.get::<_, i64>(4)?,
            "state": row.get::<_, String>(5)?,
            "refunded_micros": row.get::<_, i64>(6)?,
            "commission_micros": row.get::<_, i64>(7)?,
            "commission_exchange_micros": row.get::<_, i64>(8)?,
            "version": row.get::<_, i64>(9)?,
            "updated_ms": row.get::<_, i64>(10)?,
        }))
    })?;
    for row in rows {
        let mut line = row?;
        let line_id = line["line_id"].as_str().unwrap_or_default().to_owned();
        let history = events
            .query_map(params![advertiser, order_id, line_id], |row| {
                Ok(json!({
                    "version": row.get::<_, i64>(0)?,
                    "state": row.get::<_, String>(1)?,
                    "refunded_micros": row.get::<_, i64>(2)?,
                    "commission_micros": row.get::<_, i64>(3)?,
                    "spend_delta_micros": row.get::<_, i64>(4)?,
                    "at_ms": row.get::<_, i64>(5)?,
                }))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        line["transitions"] = Value::Array(history);
        out.push(line);
    }
    order["lines"] = Value::Array(out);
    Ok(Some(order))
}

/// Per publisher, placement, sub-id and campaign: clicks (valid, invalid by reason),
/// attributed orders, their value and commission (lines not cancelled or refunded).
pub(super) fn summary(connection: &Connection, publisher: Option<&str>) -> rusqlite::Result<Value> {
    let mut clicks = connection.prepare(
        "SELECT publisher, placement, sub_id, campaign, valid, reason, COUNT(*) FROM clicks
         WHERE ?1 IS NULL OR publisher = ?1
         GROUP BY publisher, placement, sub_id, campaign, valid, reason
         ORDER BY publisher, placement, sub_id, campaign",
    )?;
    let mut rows: Vec<Value> = Vec::new();
    let find = |rows: &mut Vec<Value>, key: &[Option<String>; 4]| -> usize {
        let position = rows.iter().position(|r| {
            r["publisher"].as_str() == key[0].as_deref()
                && r["placement"].as_str() == key[1].as_deref()
                && r["sub_id"].as_str() == key[2].as_deref()
                && r["campaign"].as_str() == key[3].as_deref()
        });
        position.unwrap_or_else(|| {
            rows.push(json!({
                "publisher": key[0], "placement": key[1], "sub_id": key[2], "campaign": key[3],
                "clicks": 0, "invalid_clicks": {}, "orders": 0, "order_value_micros": {},
                "commission_micros": {}, "commission_exchange_micros": 0,
            }));
            rows.len() - 1
        })
    };
    let click_rows = clicks.query_map(params![publisher], |row| {
        Ok((
            [row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?],
            row.get::<_, bool>(4)?,
            row.get::<_, Option<String>>(5)?,
            row.get::<_, i64>(6)?,
        ))
    })?;
    for row in click_rows {
        let (key, valid, reason, count) = row?;
        let at = find(&mut rows, &key);
        if valid {
            rows[at]["clicks"] = json!(rows[at]["clicks"].as_i64().unwrap_or(0) + count);
        } else {
            rows[at]["invalid_clicks"][reason.unwrap_or_default()] = json!(count);
        }
    }
    let mut orders = connection.prepare(
        "SELECT o.publisher, o.placement, o.sub_id, o.campaign, o.currency, COUNT(DISTINCT o.order_id),
           SUM(CASE WHEN l.state IN ('cancelled', 'refunded') THEN 0
                    ELSE l.quantity * l.unit_price_micros - l.refunded_micros END),
           SUM(l.commission_micros), SUM(l.commission_exchange_micros)
         FROM orders o JOIN order_lines l ON l.advertiser = o.advertiser AND l.order_id = o.order_id
         WHERE o.unattributed IS NULL AND (?1 IS NULL OR o.publisher = ?1)
         GROUP BY o.publisher, o.placement, o.sub_id, o.campaign, o.currency",
    )?;
    let order_rows = orders.query_map(params![publisher], |row| {
        Ok((
            [row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?],
            row.get::<_, String>(4)?,
            row.get::<_, i64>(5)?,
            row.get::<_, i64>(6)?,
            row.get::<_, i64>(7)?,
            row.get::<_, i64>(8)?,
        ))
    })?;
    for row in order_rows {
        let (key, currency, count, value, commission, exchange) = row?;
        let at = find(&mut rows, &key);
        let row = &mut rows[at];
        row["orders"] = json!(row["orders"].as_i64().unwrap_or(0) + count);
        row["order_value_micros"][&currency] = json!(value);
        row["commission_micros"][&currency] = json!(commission);
        row["commission_exchange_micros"] =
            json!(row["commission_exchange_micros"].as_i64().unwrap_or(0) + exchange);
    }
    let unattributed: Vec<Value> = connection
        .prepare(
            "SELECT unattributed, COUNT(*) FROM orders WHERE unattributed IS NOT NULL AND ?1 IS NULL
             GROUP BY unattributed ORDER BY unattributed",
        )?
        .query_map(params![publisher], |row| {
            Ok(json!({ "reason": row.get::<_, String>(0)?, "orders": row.get::<_, i64>(1)? }))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(json!({ "rows": rows, "unattributed": unattributed }))
}
