//! Settlement of one period, in one transaction: every confirmed, attributed line whose
//! lock period ended before the period closed is locked at its realised commission (the
//! volume tiers now counted over the period's settled orders); refunds of lines settled
//! earlier become deltas; each publisher's and advertiser's statement is written with the
//! Merkle root of its lines, signed, and appended to the ledger with its lines, then a
//! checkpoint. Running it again for a settled period changes nothing.

use super::ledger::{self, LedgerSettings};
use super::orders::{line_facts, reviewed_value, rules_of, scaled, StoredOrder};
use super::{ApplyError, OrderContext, SpendDelta};
use crate::affiliate::sql::{Row, SqlError, Tx, Value};
use exchange_core::commission::{self, Volume};
use exchange_core::cycle::Period;
use exchange_core::ledger::{statement_body, statement_line_body};
use exchange_core::orders::{Line, LineState};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// What a settlement run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The summary (period, bounds, counts, each statement's root and totals).
    pub summary: Json,
    /// Budget changes (realised − estimated commission of CPS campaigns) to commit.
    pub spend: Vec<SpendDelta>,
}

const LINE_COLUMNS: &str = "l.advertiser, l.order_id, l.line_id, l.sku, l.category, l.quantity,
  l.unit_price_micros, l.refunded_micros, l.state, l.commission_exchange_micros, l.first_units,
  l.confirmed_ms, l.updated_ms, l.review, l.review_reason, l.amended_value_micros, l.version,
  l.settled_value_micros, l.settled_commission_micros, l.settled_fee_micros,
  l.settled_order_commission_micros, l.settled_period,
  o.campaign, o.publisher, o.placement, o.sub_id, o.order_time, o.currency, o.commission_rate,
  o.new_customer, o.first_purchase_time";

/// An order's place in time: order time, advertiser, order id.
type OrderKey = (i64, String, String);

/// One line as settlement reads it.
struct Candidate {
    row: Row,
    order: StoredOrder,
}

impl Candidate {
    fn new(row: Row, context: &dyn OrderContext) -> Self {
        let campaign = row.opt_text(22);
        let order = StoredOrder {
            cps: campaign
                .as_deref()
                .and_then(|c| context.campaign(c))
                .is_some_and(|t| t.cps),
            campaign,
            publisher: row.opt_text(23),
            rate: row.opt_real(28),
            order_time: row.int(26),
            new_customer: row.opt_int(29).map(|v| v != 0),
            first_purchase_time: row.opt_int(30),
            ..StoredOrder::default()
        };
        Self { row, order }
    }

    fn order_key(&self) -> OrderKey {
        (self.order.order_time, self.row.text(0), self.row.text(1))
    }

    fn line(&self) -> Line {
        Line {
            state: LineState::parse(&self.row.text(8)).unwrap_or(LineState::Pending),
            quantity: u32::try_from(self.row.int(5)).unwrap_or(0),
            unit_price_micros: self.row.int(6),
            refunded_micros: self.row.int(7),
        }
    }

    /// The value that earns: declined → 0, amended → at most the amendment.
    fn value(&self) -> i64 {
        reviewed_value(
            self.row.opt_text(13).as_deref(),
            self.row.opt_int(15),
            self.line().value_micros(),
        )
    }

    fn party_line(&self, kind: &str, amounts: [i64; 4], rules: &[String]) -> Json {
        let [estimate, commission, fee, order_commission] = amounts;
        json!({
            "kind": kind,
            "advertiser": self.row.text(0), "order_id": self.row.text(1),
            "line_id": self.row.text(2), "sku": self.row.text(3),
            "campaign": self.order.campaign, "publisher": self.order.publisher,
            "placement": self.row.opt_text(24), "sub_id": self.row.opt_text(25),
            "order_time": self.order.order_time, "currency": self.row.text(27),
            "value_micros": self.value(), "order_commission_micros": order_commission,
            "estimate_micros": estimate, "commission_micros": commission,
            "fee_micros": fee, "payout_micros": commission - fee,
            "rules": rules, "review": self.row.opt_text(13),
            "review_reason": self.row.opt_text(14),
        })
    }
}

/// The publisher's party name (`publisher:unknown` for lines sold without a registry).
fn publisher_party(line: &Json) -> String {
    format!(
        "publisher:{}",
        line["publisher"].as_str().unwrap_or("unknown")
    )
}

/// Settles `period` (`[start_ms, end_ms)`, paid at `pay_ms`) at `now_ms`.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle(
    tx: &mut dyn Tx,
    settings: &LedgerSettings,
    period: Period,
    (start_ms, end_ms, pay_ms): (i64, i64, i64),
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<Settlement, ApplyError> {
    let name = period.to_string();
    if tx.is_postgres() {
        // Two nodes settling at once: one settles, the other finds it settled.
        tx.execute("LOCK TABLE settlements IN EXCLUSIVE MODE", &[])?;
    }
    if let Some(done) = tx.query_one(
        "SELECT settled_ms, lines, deltas FROM settlements WHERE period = $1",
        &[(&name).into()],
    )? {
        let statements = statement_summaries(tx, &name)?;
        return Ok(Settlement {
            summary: json!({
                "period": name, "already_settled": true, "settled_ms": done.int(0),
                "start_ms": start_ms, "end_ms": end_ms, "pay_ms": pay_ms,
                "lines": done.int(1), "deltas": done.int(2), "statements": statements,
            }),
            spend: Vec::new(),
        });
    }
    if now_ms < end_ms {
        return Err(ApplyError::Conflict(
            "period",
            format!("{name} closes at {end_ms} (unix ms): not yet"),
        ));
    }
    let rows = tx.query(
        &format!(
            "SELECT {LINE_COLUMNS} FROM order_lines l JOIN orders o
               ON o.advertiser = l.advertiser AND o.order_id = l.order_id
             WHERE l.settled_period IS NULL AND l.state = 'confirmed'
               AND o.unattributed IS NULL AND o.campaign IS NOT NULL
               AND (o.hold IS NULL OR o.hold = 'cleared')
               AND COALESCE(l.confirmed_ms, l.updated_ms) < $1
             ORDER BY o.order_time, l.advertiser, l.order_id, l.line_id"
        ),
        &[end_ms.into()],
    )?;
    let due: Vec<Candidate> = rows
        .into_iter()
        .map(|row| Candidate::new(row, context))
        .filter(|c| {
            let lock_days = rules_of(&c.order, context).lock_days;
            let confirmed = c.row.opt_int(11).unwrap_or_else(|| c.row.int(12));
            confirmed + i64::from(lock_days) * 86_400_000 < end_ms
        })
        .collect();
    // Volume: each publisher's distinct orders of each campaign, by order time.
    let mut volumes: BTreeMap<(Option<String>, Option<String>), Vec<OrderKey>> = BTreeMap::new();
    for c in &due {
        let orders = volumes
            .entry((c.order.publisher.clone(), c.order.campaign.clone()))
            .or_default();
        if orders.last() != Some(&c.order_key()) {
            orders.push(c.order_key());
        }
    }
    let mut spend = Vec::new();
    let mut lines: Vec<Json> = Vec::with_capacity(due.len());
    for c in &due {
        let orders = &volumes[&(c.order.publisher.clone(), c.order.campaign.clone())];
        let rank = orders.iter().position(|k| *k == c.order_key()).unwrap_or(0) + 1;
        let rules = rules_of(&c.order, context);
        let sku = c.row.text(3);
        let category = c.row.opt_text(4);
        let mut facts = line_facts(
            &c.order,
            &rules,
            &sku,
            category.as_deref(),
            c.line().quantity,
            u32::try_from(c.row.int(10)).unwrap_or(0),
        );
        facts.volume = Some(Volume {
            rank: rank as u64,
            total: orders.len() as u64,
        });
        let value = c.value();
        let computed = rules.commission(&facts, value);
        let currency = c.row.text(27);
        let exchange = context
            .to_exchange(&currency, computed.commission_micros)
            .ok_or(ApplyError::Conflict(
                "currency",
                format!("no exchange rate for {currency}"),
            ))?;
        let fee = commission::fee_of(exchange, rules.platform_fee_ppm);
        let estimate = c.row.int(9);
        let version = c.row.int(16) + 1;
        let key: [Value; 3] = [
            c.row.text(0).into(),
            c.row.text(1).into(),
            c.row.text(2).into(),
        ];
        tx.execute(
            "UPDATE order_lines SET state = 'locked', settled_period = $1,
               settled_value_micros = $2, settled_commission_micros = $3, settled_fee_micros = $4,
               settled_order_commission_micros = $5, commission_micros = $5,
               commission_exchange_micros = $3, fee_micros = $4, rules = $6, version = $7,
               updated_ms = $8
             WHERE advertiser = $9 AND order_id = $10 AND line_id = $11",
            &[
                (&name).into(),
                value.into(),
                exchange.into(),
                fee.into(),
                computed.commission_micros.into(),
                computed.rules.join(",").into(),
                version.into(),
                now_ms.into(),
                key[0].clone(),
                key[1].clone(),
                key[2].clone(),
            ],
        )?;
        let delta = exchange - estimate;
        let spend_campaign = c
            .order
            .campaign
            .clone()
            .filter(|_| c.order.cps && delta != 0);
        tx.execute(
            "INSERT INTO line_events (advertiser, order_id, line_id, version, state,
               refunded_micros, commission_micros, spend_delta_micros, spend_campaign,
               spend_committed, at_ms)
             VALUES ($1, $2, $3, $4, 'locked', $5, $6, $7, $8, 0, $9)",
            &[
                key[0].clone(),
                key[1].clone(),
                key[2].clone(),
                version.into(),
                c.row.int(7).into(),
                computed.commission_micros.into(),
                delta.into(),
                spend_campaign.as_ref().into(),
                now_ms.into(),
            ],
        )?;
        if let Some(campaign) = spend_campaign {
            spend.push(SpendDelta {
                campaign,
                micros: delta,
                event: (c.row.text(0), c.row.text(1), c.row.text(2), version),
            });
        }
        lines.push(c.party_line(
            "settled",
            [estimate, exchange, fee, computed.commission_micros],
            &computed.rules,
        ));
    }
    let settled_lines = lines.len();
    // Refunds of lines settled in earlier periods, carried here as deltas.
    let refunded = tx.query(
        &format!(
            "SELECT {LINE_COLUMNS} FROM order_lines l JOIN orders o
               ON o.advertiser = l.advertiser AND o.order_id = l.order_id
             WHERE l.settled_period IS NOT NULL AND l.settled_period <> $1
               AND l.refunded_micros > 0
             ORDER BY o.order_time, l.advertiser, l.order_id, l.line_id"
        ),
        &[(&name).into()],
    )?;
    for row in refunded {
        let c = Candidate::new(row, context);
        let settled_value = c.row.opt_int(17).unwrap_or(0);
        let value = c.value();
        if value == settled_value {
            continue;
        }
        let scale = |amount: i64| scaled(amount, value, settled_value);
        let (paid, paid_fee, paid_order) = (
            c.row.opt_int(18).unwrap_or(0),
            c.row.opt_int(19).unwrap_or(0),
            c.row.opt_int(20).unwrap_or(0),
        );
        let (now_paid, now_fee, now_order) = (scale(paid), scale(paid_fee), scale(paid_order));
        tx.execute(
            "UPDATE order_lines SET settled_value_micros = $1, settled_commission_micros = $2,
               settled_fee_micros = $3, settled_order_commission_micros = $4
             WHERE advertiser = $5 AND order_id = $6 AND line_id = $7",
            &[
                value.into(),
                now_paid.into(),
                now_fee.into(),
                now_order.into(),
                c.row.text(0).into(),
                c.row.text(1).into(),
                c.row.text(2).into(),
            ],
        )?;
        lines.push(c.party_line(
            "delta",
            [
                0,
                now_paid - paid,
                now_fee - paid_fee,
                now_order - paid_order,
            ],
            &[format!("refund_after:{}", c.row.text(21))],
        ));
    }
    let deltas = lines.len() - settled_lines;
    // Statements: per publisher (by placement and sub-id) and per advertiser.
    let mut parties: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for line in &lines {
        parties
            .entry(publisher_party(line))
            .or_default()
            .push(line.clone());
        parties
            .entry(format!(
                "advertiser:{}",
                line["advertiser"].as_str().unwrap_or("")
            ))
            .or_default()
            .push(line.clone());
    }
    let sort_key = |l: &Json| {
        [
            "placement",
            "sub_id",
            "advertiser",
            "order_id",
            "line_id",
            "kind",
        ]
        .map(|k| l[k].as_str().unwrap_or("").to_owned())
    };
    let mut bodies = Vec::new();
    let mut summaries = Vec::new();
    for (party, mut party_lines) in parties {
        party_lines.sort_by_key(sort_key);
        for (i, line) in party_lines.iter().enumerate() {
            let canonical = exchange_core::ledger::canonical(line)
                .map_err(|e| SqlError(format!("statement line: {e}")))?;
            tx.execute(
                "INSERT INTO statement_lines (period, party, idx, body) VALUES ($1, $2, $3, $4)",
                &[
                    (&name).into(),
                    (&party).into(),
                    (i as i64).into(),
                    canonical.into(),
                ],
            )?;
            bodies.push(statement_line_body(&name, &party, i, line));
        }
        let statement = statement_body(&settings.key, &name, &party, &party_lines);
        summaries.push(json!({
            "party": party, "lines": party_lines.len(), "root": statement["root"],
            "totals": statement["totals"],
        }));
        let canonical = exchange_core::ledger::canonical(&statement)
            .map_err(|e| SqlError(format!("statement: {e}")))?;
        bodies.push(statement);
        tx.execute(
            "INSERT INTO statements (period, party, body) VALUES ($1, $2, $3)",
            &[(&name).into(), party.into(), canonical.into()],
        )?;
    }
    ledger::append(tx, settings, &bodies, now_ms)?;
    let head = ledger::checkpoint(tx, settings, now_ms)?;
    tx.execute(
        "INSERT INTO settlements (period, settled_ms, start_ms, end_ms, lines, deltas)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            (&name).into(),
            now_ms.into(),
            start_ms.into(),
            end_ms.into(),
            (settled_lines as i64).into(),
            (deltas as i64).into(),
        ],
    )?;
    Ok(Settlement {
        summary: json!({
            "period": name, "already_settled": false, "settled_ms": now_ms,
            "start_ms": start_ms, "end_ms": end_ms, "pay_ms": pay_ms,
            "lines": settled_lines, "deltas": deltas, "statements": summaries,
            "ledger_head": head,
        }),
        spend,
    })
}

/// Each statement of a settled period: party, line count, root, totals.
fn statement_summaries(tx: &mut dyn Tx, period: &str) -> Result<Vec<Json>, SqlError> {
    let rows = tx.query(
        "SELECT party, body FROM statements WHERE period = $1 ORDER BY party",
        &[period.into()],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let body: Json = serde_json::from_str(&r.text(1)).unwrap_or_default();
            json!({"party": r.text(0), "lines": body["lines"], "root": body["root"], "totals": body["totals"]})
        })
        .collect())
}
