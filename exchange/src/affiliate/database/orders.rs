//! Orders in the database: attribution on the first report, each line's transition with
//! its commission and budget delta, and the operator's decision on a held order.

use super::events::read_click;
use super::holds::hold_reasons;
use super::{
    ApplyError, HoldDecision, LineOutcome, OrderContext, OrderOutcome, SpendDelta, StoredClick,
};
use crate::affiliate::sql::{Row, Tx, Value};
use exchange_core::orders::{
    self, HoldReason, Line, LineState, LineUpdate, OrderUpdate, Reported, Transition,
};

/// An order's attribution as stored.
#[derive(Debug, Clone, Default)]
pub(super) struct StoredOrder {
    pub(super) unattributed: Option<&'static str>,
    pub(super) campaign: Option<String>,
    pub(super) publisher: Option<String>,
    rate: Option<f64>,
    cps: bool,
    /// Attributed by this report after an earlier one found no click: every stored line's
    /// commission is computed again.
    reattributed: bool,
    /// The rules that hold it while it is held (or confirmed as fraud): it earns nothing.
    pub(super) held: Vec<&'static str>,
    /// Its attribution (and holds) were decided by this report.
    pub(super) decided: bool,
}

/// Where an order stands with the fraud rules (`orders.hold`).
const HELD: &str = "held";
/// An operator cleared it: it earns.
const CLEARED: &str = "cleared";
/// An operator confirmed it as fraud: it never earns.
const CONFIRMED: &str = "confirmed";

/// The labels of a stored `hold_reasons` list.
fn reasons(list: Option<String>) -> Vec<&'static str> {
    list.unwrap_or_default()
        .split(',')
        .filter_map(|r| HoldReason::ALL.into_iter().find(|h| h.as_str() == r))
        .map(HoldReason::as_str)
        .collect()
}

/// The order's attribution: read, or decided on its first report (and again while its
/// click was unknown, e.g. still in another node's batch).
pub(super) fn attribute_order(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<StoredOrder, ApplyError> {
    // `FOR UPDATE` on PostgreSQL (two nodes reporting one order serialise here); SQLite
    // has one writer anyway.
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let stored = tx.query_one(
        &format!(
            "SELECT currency, unattributed, campaign, publisher, commission_rate, hold, hold_reasons
             FROM orders WHERE advertiser = $1 AND order_id = $2{lock}"
        ),
        &[advertiser.into(), (&update.order_id).into()],
    )?;
    if let Some(row) = &stored {
        let currency = row.text(0);
        if currency != update.currency {
            return Err(ApplyError::Conflict(
                "currency",
                format!("the order was first reported in {currency}"),
            ));
        }
        let unattributed = row.opt_text(1);
        let retry = unattributed.as_deref() == Some(orders::Unattributed::UnknownClick.as_str());
        if !retry {
            let campaign = row.opt_text(2);
            let cps = campaign
                .as_deref()
                .and_then(|c| context.campaign(c))
                .is_some_and(|t| t.cps);
            let held = match row.opt_text(5).as_deref() {
                Some(HELD | CONFIRMED) => reasons(row.opt_text(6)),
                _ => Vec::new(),
            };
            return Ok(StoredOrder {
                unattributed: unattributed.as_deref().map(label),
                campaign,
                publisher: row.opt_text(3),
                rate: row.opt_real(4),
                cps,
                reattributed: false,
                held,
                decided: false,
            });
        }
    }
    let (click, by_view) = match (update.click_id.as_deref(), update.user_key.as_deref()) {
        (Some(id), _) => (read_click(tx, id)?, false),
        (None, Some(buyer)) => (viewed(tx, advertiser, update, buyer, context)?, true),
        (None, None) => (None, false),
    };
    let terms = click.as_ref().and_then(|c| context.campaign(&c.campaign));
    let window = terms.map_or(
        i64::from(exchange_core::campaign::DEFAULT_ATTRIBUTION_HOURS) * 3600,
        |t| t.window_secs,
    );
    let verdict = match &update.click_id {
        None if by_view && click.is_some() => Ok(()),
        None => Err(orders::Unattributed::NoClick),
        Some(_) => orders::attribute(
            click.as_ref().map(|c| orders::ClickForOrder {
                advertiser: &c.advertiser,
                at_ms: c.at_ms,
                valid: c.valid,
            }),
            advertiser,
            update.order_time,
            window,
        ),
    };
    let credited = verdict.is_ok().then_some(()).and(click.as_ref());
    let rate = credited.and_then(|c| c.commission_rate.or(terms.and_then(|t| t.base_rate)));
    let held: Vec<&'static str> = match credited {
        Some(click) => {
            let reasons = hold_reasons(tx, advertiser, update, click, context)?;
            super::holds::count_in_days(
                tx,
                click.publisher.as_deref(),
                click.sub_id.as_deref(),
                now_ms,
                0,
                1,
            )?;
            reasons.into_iter().map(HoldReason::as_str).collect()
        }
        None => Vec::new(),
    };
    tx.execute(
        "INSERT INTO orders (advertiser, order_id, currency, order_time, click_id, user_key,
           received_ms, unattributed, campaign, creative, auction, imp, publisher, placement,
           sub_id, source_mismatch, commission_rate, hold, hold_reasons, buyer_account,
           buyer_device, buyer_ip, attributed_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
           $19, $20, $21, $22, $23)
         ON CONFLICT (advertiser, order_id) DO UPDATE SET unattributed = excluded.unattributed,
           campaign = excluded.campaign, creative = excluded.creative, auction = excluded.auction,
           imp = excluded.imp, publisher = excluded.publisher, placement = excluded.placement,
           sub_id = excluded.sub_id, source_mismatch = excluded.source_mismatch,
           commission_rate = excluded.commission_rate, hold = excluded.hold,
           hold_reasons = excluded.hold_reasons, attributed_by = excluded.attributed_by",
        &[
            advertiser.into(),
            (&update.order_id).into(),
            (&update.currency).into(),
            update.order_time.into(),
            update.click_id.as_ref().into(),
            update.user_key.as_ref().into(),
            now_ms.into(),
            verdict.err().map(orders::Unattributed::as_str).into(),
            credited.map(|c| &c.campaign).into(),
            credited.map(|c| &c.creative).into(),
            credited.map(|c| &c.auction).into(),
            credited.map(|c| &c.imp).into(),
            credited.and_then(|c| c.publisher.as_ref()).into(),
            credited.and_then(|c| c.placement.as_ref()).into(),
            credited.and_then(|c| c.sub_id.as_ref()).into(),
            credited.is_some_and(|c| c.source_mismatch).into(),
            rate.into(),
            (!held.is_empty()).then_some(HELD).into(),
            (!held.is_empty()).then(|| held.join(",")).as_ref().into(),
            update.buyer.account.as_ref().into(),
            update.buyer.device.as_ref().into(),
            update.buyer.ip.as_ref().into(),
            credited
                .map(|_| if by_view { "view" } else { "click" })
                .into(),
        ],
    )?;
    Ok(StoredOrder {
        unattributed: verdict.err().map(orders::Unattributed::as_str),
        campaign: credited.map(|c| c.campaign.clone()),
        publisher: credited.and_then(|c| c.publisher.clone()),
        rate,
        cps: terms.is_some_and(|t| t.cps),
        reattributed: stored.is_some() && verdict.is_ok(),
        held,
        decided: true,
    })
}

/// The latest impression of one of `advertiser`'s campaigns that allow view-through, seen
/// by `buyer` (hashed as the auction hashes user ids) within that campaign's view-through
/// window before the order: as a click of that impression (no stamped rate: the campaign's
/// own applies).
fn viewed(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    buyer: &str,
    context: &dyn OrderContext,
) -> Result<Option<StoredClick>, crate::affiliate::sql::SqlError> {
    let keys = context.user_keys(buyer);
    if keys.is_empty() {
        return Ok(None);
    }
    let until = update.order_time * 1000 + orders::CLICK_SKEW_SECS * 1000;
    let since = update.order_time * 1000
        - i64::from(exchange_core::campaign::MAX_VIEW_THROUGH_HOURS) * 3_600_000;
    let key = |i: usize| Value::from(keys.get(i).unwrap_or(&keys[0]));
    let rows = tx.query(
        "SELECT auction, imp, campaign, creative, publisher, placement, sub_id, source_mismatch, at_ms
         FROM impressions WHERE user_key IN ($1, $2, $3) AND advertiser = $4 AND at_ms > $5
         AND at_ms <= $6 ORDER BY at_ms DESC LIMIT 50",
        &[key(0), key(1), key(2), advertiser.into(), since.into(), until.into()],
    )?;
    Ok(rows.into_iter().find_map(|row| {
        let campaign = row.text(2);
        let window = context.campaign(&campaign)?.view_through_secs?;
        let at_ms = row.int(8);
        (update.order_time * 1000 - at_ms <= window * 1000).then(|| StoredClick {
            at_ms,
            auction: row.text(0),
            imp: row.text(1),
            campaign,
            creative: row.text(3),
            advertiser: advertiser.to_owned(),
            publisher: row.opt_text(4),
            placement: row.opt_text(5),
            sub_id: row.opt_text(6),
            source_mismatch: row.flag(7),
            commission_rate: None,
            valid: true,
            reason: None,
        })
    }))
}

/// The static label of a stored reason.
fn label(text: &str) -> &'static str {
    orders::Unattributed::parse(text).map_or("unknown", orders::Unattributed::as_str)
}

/// One line's transition: stored, with its event and the spend it changes.
pub(super) fn apply_line(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    line: &LineUpdate,
    order: &StoredOrder,
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<(LineOutcome, Option<SpendDelta>), ApplyError> {
    let key: [Value; 3] = [
        advertiser.into(),
        (&update.order_id).into(),
        (&line.line_id).into(),
    ];
    let stored = tx
        .query_one(
            "SELECT state, quantity, unit_price_micros, refunded_micros, commission_micros,
               commission_exchange_micros, version FROM order_lines
             WHERE advertiser = $1 AND order_id = $2 AND line_id = $3",
            &key,
        )?
        .map(|row: Row| {
            let line = Line {
                state: LineState::parse(&row.text(0)).unwrap_or(LineState::Pending),
                quantity: u32::try_from(row.int(1)).unwrap_or(0),
                unit_price_micros: row.int(2),
                refunded_micros: row.int(3),
            };
            (line, row.int(4), row.int(5), row.int(6))
        });
    let (old_commission, old_exchange, version) = stored
        .as_ref()
        .map_or((0, 0, 0), |(_, c, e, v)| (*c, *e, *v));
    let stored_line = stored.as_ref().map(|(l, ..)| *l);
    let next = match (orders::transition(stored_line.as_ref(), line), stored_line) {
        (Transition::To(next), _) => next,
        (Transition::Unchanged(_), Some(current)) if order.reattributed => current,
        (Transition::Unchanged(why), current) => {
            return Ok((
                LineOutcome {
                    line_id: line.line_id.clone(),
                    state: current.map_or(LineState::Pending, |c| c.state).as_str(),
                    changed: false,
                    unchanged: Some(why),
                    commission_micros: old_commission,
                },
                None,
            ));
        }
    };
    let commission = order
        .rate
        .filter(|_| order.unattributed.is_none() && order.held.is_empty())
        .map_or(0, |rate| {
            orders::commission_micros(next.value_micros(), rate)
        });
    let exchange =
        context
            .to_exchange(&update.currency, commission)
            .ok_or(ApplyError::Conflict(
                "currency",
                "no exchange rate for it".to_owned(),
            ))?;
    let version = version + 1;
    let [advertiser_v, order_v, line_v] = key;
    tx.execute(
        "INSERT INTO order_lines (advertiser, order_id, line_id, sku, category, quantity,
           unit_price_micros, state, refunded_micros, commission_micros,
           commission_exchange_micros, version, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (advertiser, order_id, line_id) DO UPDATE SET state = excluded.state,
           refunded_micros = excluded.refunded_micros, commission_micros = excluded.commission_micros,
           commission_exchange_micros = excluded.commission_exchange_micros,
           version = excluded.version, updated_ms = excluded.updated_ms",
        &[
            advertiser_v.clone(),
            order_v.clone(),
            line_v.clone(),
            (&line.sku).into(),
            line.category.as_ref().into(),
            i64::from(next.quantity).into(),
            next.unit_price_micros.into(),
            next.state.as_str().into(),
            next.refunded_micros.into(),
            commission.into(),
            exchange.into(),
            version.into(),
            now_ms.into(),
        ],
    )?;
    let delta = exchange - old_exchange;
    let spend_campaign = order.campaign.as_ref().filter(|_| order.cps && delta != 0);
    tx.execute(
        "INSERT INTO line_events (advertiser, order_id, line_id, version, state, refunded_micros,
           commission_micros, spend_delta_micros, spend_campaign, spend_committed, at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10)",
        &[
            advertiser_v,
            order_v,
            line_v,
            version.into(),
            next.state.as_str().into(),
            next.refunded_micros.into(),
            commission.into(),
            delta.into(),
            spend_campaign.into(),
            now_ms.into(),
        ],
    )?;
    let spend = spend_campaign.map(|campaign| SpendDelta {
        campaign: campaign.clone(),
        micros: delta,
        event: (
            advertiser.to_owned(),
            update.order_id.clone(),
            line.line_id.clone(),
            version,
        ),
    });
    Ok((
        LineOutcome {
            line_id: line.line_id.clone(),
            state: next.state.as_str(),
            changed: true,
            unchanged: None,
            commission_micros: commission,
        },
        spend,
    ))
}

/// Held orders (of `advertiser`, or all), oldest first.
pub(super) fn held_orders(
    tx: &mut dyn Tx,
    advertiser: Option<&str>,
) -> Result<serde_json::Value, crate::affiliate::sql::SqlError> {
    let rows = tx.query(
        "SELECT advertiser, order_id, hold_reasons, campaign, publisher, placement, sub_id,
           order_time, click_id, buyer_account, buyer_device, buyer_ip
         FROM orders WHERE hold = 'held' AND (CAST($1 AS TEXT) IS NULL OR advertiser = $1)
         ORDER BY received_ms LIMIT 1000",
        &[advertiser.into()],
    )?;
    let orders: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "advertiser": r.text(0), "order_id": r.text(1),
                "reasons": reasons(r.opt_text(2)),
                "campaign": r.opt_text(3), "publisher": r.opt_text(4),
                "placement": r.opt_text(5), "sub_id": r.opt_text(6),
                "order_time": r.int(7), "click_id": r.opt_text(8),
                "buyer": { "account": r.opt_text(9), "device": r.opt_text(10), "ip": r.opt_text(11) },
            })
        })
        .collect();
    Ok(serde_json::json!({ "orders": orders }))
}

/// Records an operator's decision on a held order; on `clear`, every line's commission is
/// computed again (a new version of each line, with its budget delta).
pub(super) fn decide_hold(
    tx: &mut dyn Tx,
    advertiser: &str,
    order_id: &str,
    decision: HoldDecision<'_>,
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<OrderOutcome, ApplyError> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let row = tx.query_one(
        &format!(
            "SELECT hold, currency, order_time, campaign, publisher, commission_rate FROM orders
             WHERE advertiser = $1 AND order_id = $2{lock}"
        ),
        &[advertiser.into(), order_id.into()],
    )?;
    let Some(row) = row else {
        return Err(ApplyError::Conflict("order_id", "no such order".to_owned()));
    };
    if row.opt_text(0).as_deref() != Some(HELD) {
        return Err(ApplyError::Conflict(
            "order_id",
            "the order is not held (any more)".to_owned(),
        ));
    }
    let state = if decision.clear { CLEARED } else { CONFIRMED };
    tx.execute(
        "UPDATE orders SET hold = $1, hold_note = $2 WHERE advertiser = $3 AND order_id = $4",
        &[
            state.into(),
            decision.note.into(),
            advertiser.into(),
            order_id.into(),
        ],
    )?;
    let campaign = row.opt_text(3);
    let mut outcome = OrderOutcome {
        order_id: order_id.to_owned(),
        attributed: true,
        unattributed: None,
        campaign: campaign.clone(),
        publisher: row.opt_text(4),
        held: Vec::new(),
        held_now: false,
        lines: Vec::new(),
        spend: Vec::new(),
    };
    if !decision.clear {
        return Ok(outcome);
    }
    let order = StoredOrder {
        unattributed: None,
        cps: campaign
            .as_deref()
            .and_then(|c| context.campaign(c))
            .is_some_and(|t| t.cps),
        campaign,
        publisher: outcome.publisher.clone(),
        rate: row.opt_real(5),
        reattributed: true,
        held: Vec::new(),
        decided: false,
    };
    let update = OrderUpdate {
        order_id: order_id.to_owned(),
        currency: row.text(1),
        order_time: row.int(2),
        click_id: None,
        user_key: None,
        buyer: orders::Buyer::default(),
        lines: Vec::new(),
    };
    let lines = tx.query(
        "SELECT line_id, sku, category, quantity, unit_price_micros, refunded_micros FROM order_lines
         WHERE advertiser = $1 AND order_id = $2 ORDER BY line_id",
        &[advertiser.into(), order_id.into()],
    )?;
    for line in lines {
        // The line as it stands: its transition is "unchanged", and the cleared order
        // computes its commission again.
        let same = LineUpdate {
            line_id: line.text(0),
            sku: line.text(1),
            category: line.opt_text(2),
            quantity: u32::try_from(line.int(3)).unwrap_or(0),
            unit_price_micros: line.int(4),
            reported: Reported::Paid,
            refunded_micros: line.int(5),
        };
        let (answer, spend) = apply_line(tx, advertiser, &update, &same, &order, now_ms, context)?;
        outcome.lines.push(answer);
        outcome.spend.extend(spend);
    }
    Ok(outcome)
}
