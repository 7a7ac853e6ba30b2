//! Statements as parties read them: the signed summary of a settled period, every line
//! with its Merkle inclusion proof (a publisher checks one line against the signed root
//! without the rest of the ledger), and the party's orders held by the fraud rules, with
//! their reasons. JSON, or CSV for spreadsheets.

use super::sql::{SqlError, Tx};
use exchange_core::ledger::{hex, inclusion_proof, leaf_hash, Hash};
use serde_json::{json, Value};

/// The statement of `party` for `period`, if that period settled it.
pub(super) fn statement(
    tx: &mut dyn Tx,
    period: &str,
    party: &str,
) -> Result<Option<Value>, SqlError> {
    let Some(head) = tx.query_one(
        "SELECT body FROM statements WHERE period = $1 AND party = $2",
        &[period.into(), party.into()],
    )?
    else {
        return Ok(None);
    };
    let signed: Value = serde_json::from_str(&head.text(0)).unwrap_or_default();
    let rows = tx.query(
        "SELECT body FROM statement_lines WHERE period = $1 AND party = $2 ORDER BY idx",
        &[period.into(), party.into()],
    )?;
    let bodies: Vec<String> = rows.iter().map(|r| r.text(0)).collect();
    let leaves: Vec<Hash> = bodies.iter().map(|b| leaf_hash(b.as_bytes())).collect();
    let lines: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let proof = inclusion_proof(&leaves, i).unwrap_or_default();
            json!({
                "index": i,
                "line": serde_json::from_str::<Value>(body).unwrap_or_default(),
                "canonical": body,
                "proof": proof.iter().map(|h| hex(h)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let window = tx.query_one(
        "SELECT start_ms, end_ms FROM settlements WHERE period = $1",
        &[period.into()],
    )?;
    let end_ms = window.as_ref().map_or(i64::MAX, |w| w.int(1));
    let (column, id) = party.split_once(':').unwrap_or(("", ""));
    let column = if column == "advertiser" {
        "advertiser"
    } else {
        "publisher"
    };
    let held = tx.query(
        &format!(
            "SELECT advertiser, order_id, hold_reasons, campaign, publisher, placement, sub_id,
               order_time, hold
             FROM orders WHERE hold IN ('held', 'confirmed') AND {column} = $1
               AND order_time * 1000 < $2
             ORDER BY order_time, advertiser, order_id LIMIT 10000"
        ),
        &[id.into(), end_ms.into()],
    )?;
    let held: Vec<Value> = held
        .iter()
        .map(|r| {
            json!({
                "advertiser": r.text(0), "order_id": r.text(1),
                "reasons": r.opt_text(2).unwrap_or_default().split(',').collect::<Vec<_>>(),
                "campaign": r.opt_text(3), "publisher": r.opt_text(4),
                "placement": r.opt_text(5), "sub_id": r.opt_text(6), "order_time": r.int(7),
                "status": if r.opt_text(8).as_deref() == Some("confirmed") { "fraud" } else { "held" },
            })
        })
        .collect();
    let subtotals = subtotals(&lines);
    Ok(Some(json!({
        "period": period,
        "party": party,
        "start_ms": window.as_ref().map(|w| w.int(0)),
        "end_ms": window.as_ref().map(|w| w.int(1)),
        "root": signed["root"],
        "totals": signed["totals"],
        "key": signed["key"],
        "sig": signed["sig"],
        "size": lines.len(),
        "lines": lines,
        "held": held,
        "subtotals": subtotals,
    })))
}

/// Totals by placement and sub-id (the lines are sorted that way for a publisher).
fn subtotals(lines: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for entry in lines {
        let line = &entry["line"];
        let key = (line["placement"].clone(), line["sub_id"].clone());
        let same = out
            .last()
            .is_some_and(|s| s["placement"] == key.0 && s["sub_id"] == key.1);
        if !same {
            out.push(json!({
                "placement": key.0, "sub_id": key.1, "lines": 0,
                "commission_micros": 0, "fee_micros": 0, "payout_micros": 0,
            }));
        }
        if let Some(last) = out.last_mut() {
            last["lines"] = (last["lines"].as_i64().unwrap_or(0) + 1).into();
            for name in ["commission_micros", "fee_micros", "payout_micros"] {
                let sum = last[name].as_i64().unwrap_or(0) + line[name].as_i64().unwrap_or(0);
                last[name] = sum.into();
            }
        }
    }
    out
}

/// Columns of a statement's CSV.
pub const CSV_COLUMNS: [&str; 19] = [
    "index",
    "kind",
    "advertiser",
    "order_id",
    "line_id",
    "sku",
    "campaign",
    "publisher",
    "placement",
    "sub_id",
    "order_time",
    "currency",
    "value_micros",
    "estimate_micros",
    "commission_micros",
    "fee_micros",
    "payout_micros",
    "rules",
    "review",
];

/// The statement's lines as CSV (amounts in micros of the exchange currency; `rules`
/// separated by `|`), then one row per held order (`kind` = held).
pub fn to_csv(statement: &Value) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(CSV_COLUMNS);
    let empty = Vec::new();
    for entry in statement["lines"].as_array().unwrap_or(&empty) {
        let line = &entry["line"];
        let field = |name: &str| match &line[name] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("|"),
            other => other.to_string(),
        };
        let mut record = vec![entry["index"].to_string()];
        record.extend(CSV_COLUMNS[1..].iter().map(|c| field(c)));
        let _ = out.write_record(&record);
    }
    for held in statement["held"].as_array().unwrap_or(&empty) {
        let text = |name: &str| held[name].as_str().unwrap_or("").to_owned();
        let reasons = held["reasons"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .unwrap_or_default();
        let mut record = vec![String::new(); CSV_COLUMNS.len()];
        record[1] = held["status"].as_str().unwrap_or("held").to_owned();
        record[2] = text("advertiser");
        record[3] = text("order_id");
        record[6] = text("campaign");
        record[7] = text("publisher");
        record[8] = text("placement");
        record[9] = text("sub_id");
        record[10] = held["order_time"].to_string();
        record[17] = reasons;
        let _ = out.write_record(&record);
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}
