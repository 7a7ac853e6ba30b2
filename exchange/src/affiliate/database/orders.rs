//! Orders in the database: attribution on the first report, each line's transition with
//! its commission and budget delta, and the operator's decision on a held order.

use super::events::read_click;
use super::holds::hold_reasons;
use super::{
    ApplyError, HoldDecision, LineOutcome, OrderContext, OrderOutcome, SpendDelta, StoredClick,
};
use crate::affiliate::sql::{Row, Tx, Value};
use exchange_core::commission::{self, CommissionRules, LineFacts, Volume};
use exchange_core::orders::{
    self, HoldReason, Line, LineState, LineUpdate, OrderUpdate, Reported, Transition,
};

/// An order's attribution as stored.
#[derive(Debug, Clone, Default)]
pub(super) struct StoredOrder {
    pub(super) unattributed: Option<&'static str>,
    pub(super) campaign: Option<String>,
    pub(super) publisher: Option<String>,
    pub(super) rate: Option<f64>,
    pub(super) cps: bool,
    /// When it was placed, unix s.
    pub(super) order_time: i64,
    /// The advertiser's first order from this buyer (`None`: unknown buyer).
    pub(super) new_customer: Option<bool>,
    /// When this buyer first bought from the advertiser, if before this order (unix s).
    pub(super) first_purchase_time: Option<i64>,
    /// Its place among the publisher's orders of the campaign in its period (estimate).
    pub(super) volume_rank: Option<i64>,
    /// Attributed by this report after an earlier one found no click: every stored line's
    /// commission is computed again.
    pub(super) reattributed: bool,
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
    ledger: &mut Vec<serde_json::Value>,
) -> Result<StoredOrder, ApplyError> {
    // `FOR UPDATE` on PostgreSQL (two nodes reporting one order serialise here); SQLite
    // has one writer anyway.
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let stored = tx.query_one(
        &format!(
            "SELECT currency, unattributed, campaign, publisher, commission_rate, hold, hold_reasons,
               order_time, new_customer, first_purchase_time, volume_rank
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
                order_time: row.int(7),
                new_customer: row.opt_int(8).map(|v| v != 0),
                first_purchase_time: row.opt_int(9),
                volume_rank: row.opt_int(10),
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
    let window = terms.as_ref().map_or(
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
    let rate = credited.and_then(|c| {
        c.commission_rate
            .or(terms.as_ref().and_then(|t| t.base_rate))
    });
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
    let (new_customer, first_purchase_time) = buyer_history(tx, advertiser, update)?;
    let volume_period = context
        .cycle()
        .period_of(update.order_time * 1000)
        .to_string();
    // The order's place in its publisher's volume for the campaign this period: counters per
    // (publisher, campaign, period) spread over 16 rows (one hot row would serialise every
    // order of a busy publisher on PostgreSQL), summed. An estimate: two orders committing
    // at once may see the same rank; settlement counts exactly.
    let volume_rank = match credited.filter(|_| held.is_empty()) {
        Some(click) => {
            let publisher = click.publisher.as_deref().unwrap_or("");
            let shard = i64::from(update.order_id.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 16);
            tx.execute(
                "INSERT INTO volume_counts (publisher, campaign, period, shard, orders)
                 VALUES ($1, $2, $3, $4, 1)
                 ON CONFLICT (publisher, campaign, period, shard)
                 DO UPDATE SET orders = volume_counts.orders + 1",
                &[
                    publisher.into(),
                    (&click.campaign).into(),
                    (&volume_period).into(),
                    shard.into(),
                ],
            )?;
            tx.query_one(
                "SELECT CAST(SUM(orders) AS BIGINT) FROM volume_counts
                 WHERE publisher = $1 AND campaign = $2 AND period = $3",
                &[
                    publisher.into(),
                    (&click.campaign).into(),
                    (&volume_period).into(),
                ],
            )?
            .and_then(|r| r.opt_int(0))
        }
        None => None,
    };
    tx.execute(
        "INSERT INTO orders (advertiser, order_id, currency, order_time, click_id, user_key,
           received_ms, unattributed, campaign, creative, auction, imp, publisher, placement,
           sub_id, source_mismatch, commission_rate, hold, hold_reasons, buyer_account,
           buyer_device, buyer_ip, attributed_by, new_customer, first_purchase_time,
           volume_rank, volume_period)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
           $19, $20, $21, $22, $23, $24, $25, $26, $27)
         ON CONFLICT (advertiser, order_id) DO UPDATE SET unattributed = excluded.unattributed,
           campaign = excluded.campaign, creative = excluded.creative, auction = excluded.auction,
           imp = excluded.imp, publisher = excluded.publisher, placement = excluded.placement,
           sub_id = excluded.sub_id, source_mismatch = excluded.source_mismatch,
           commission_rate = excluded.commission_rate, hold = excluded.hold,
           hold_reasons = excluded.hold_reasons, attributed_by = excluded.attributed_by,
           new_customer = excluded.new_customer, first_purchase_time = excluded.first_purchase_time,
           volume_rank = excluded.volume_rank, volume_period = excluded.volume_period",
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
            new_customer.map(i64::from).into(),
            first_purchase_time.into(),
            volume_rank.into(),
            (&volume_period).into(),
        ],
    )?;
    if let (Some(click), false) = (credited, held.is_empty()) {
        ledger.push(serde_json::json!({
            "kind": "hold", "at_ms": now_ms, "advertiser": advertiser,
            "order_id": update.order_id, "campaign": click.campaign,
            "publisher": click.publisher, "reasons": held,
        }));
    }
    Ok(StoredOrder {
        unattributed: verdict.err().map(orders::Unattributed::as_str),
        campaign: credited.map(|c| c.campaign.clone()),
        publisher: credited.and_then(|c| c.publisher.clone()),
        rate,
        cps: terms.as_ref().is_some_and(|t| t.cps),
        order_time: update.order_time,
        new_customer,
        first_purchase_time,
        volume_rank,
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

/// Whether the order's buyer is new to the advertiser (the shop's own flag wins), and
/// when they first bought from it if earlier: by buyer account, else by user key.
fn buyer_history(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
) -> Result<(Option<bool>, Option<i64>), crate::affiliate::sql::SqlError> {
    let (column, buyer) = match (&update.buyer.account, &update.user_key) {
        (Some(account), _) => ("buyer_account", account),
        (None, Some(key)) => ("user_key", key),
        (None, None) => return Ok((update.buyer.new_customer, None)),
    };
    let first = tx
        .query_one(
            &format!(
                "SELECT MIN(order_time) FROM orders WHERE advertiser = $1 AND {column} = $2
                   AND order_id <> $3 AND order_time <= $4"
            ),
            &[
                advertiser.into(),
                buyer.into(),
                (&update.order_id).into(),
                update.order_time.into(),
            ],
        )?
        .and_then(|r| r.opt_int(0));
    let new_customer = update.buyer.new_customer.unwrap_or(first.is_none());
    Ok((Some(new_customer), first.filter(|_| !new_customer)))
}

/// The static label of a stored reason.
fn label(text: &str) -> &'static str {
    orders::Unattributed::parse(text).map_or("unknown", orders::Unattributed::as_str)
}

/// A stored line as a transition reads it.
struct StoredLine {
    line: Line,
    commission: i64,
    exchange: i64,
    version: i64,
    first_units: Option<u32>,
    confirmed_ms: Option<i64>,
    review: Option<String>,
    amended_value: Option<i64>,
    /// Settled: (value, commission in the order's currency, in the exchange's, rules) as
    /// last settled; a later refund scales them.
    settled: Option<(i64, i64, i64, String)>,
}

/// The commission rules of the order's campaign: the serving campaign's, else (no longer
/// serving) its stamped rate alone.
pub(super) fn rules_of(order: &StoredOrder, context: &dyn OrderContext) -> CommissionRules {
    order
        .campaign
        .as_deref()
        .and_then(|c| context.campaign(c))
        .map(|t| t.commission)
        .unwrap_or_else(|| CommissionRules {
            base_ppm: order.rate.and_then(commission::rate_ppm).unwrap_or(0),
            ..CommissionRules::default()
        })
}

/// The facts of one line of `order` the rules read (volume: the order's estimate).
pub(super) fn line_facts<'a>(
    order: &StoredOrder,
    rules: &CommissionRules,
    sku: &'a str,
    category: Option<&'a str>,
    quantity: u32,
    first_units: u32,
) -> LineFacts<'a> {
    LineFacts {
        sku: Some(sku),
        category,
        quantity,
        first_units,
        tier_ppm: order.rate.and_then(commission::rate_ppm),
        new_customer: order.new_customer,
        repurchase: match (rules.repurchase, order.first_purchase_time) {
            (Some((days, _)), Some(first)) => order.order_time - first <= i64::from(days) * 86_400,
            _ => false,
        },
        volume: order.volume_rank.map(|rank| Volume {
            rank: rank as u64,
            total: rank as u64,
        }),
    }
}

/// How many of a new line's units are among its campaign's first units of the SKU.
fn claim_first_units(
    tx: &mut dyn Tx,
    campaign: Option<&str>,
    rules: &CommissionRules,
    line: &LineUpdate,
) -> Result<u32, crate::affiliate::sql::SqlError> {
    let (Some(campaign), Some((limit, _))) = (campaign, rules.first_units) else {
        return Ok(0);
    };
    let after = tx
        .query_one(
            "INSERT INTO sku_units (campaign, sku, units) VALUES ($1, $2, $3)
             ON CONFLICT (campaign, sku) DO UPDATE SET units = sku_units.units + excluded.units
             RETURNING units",
            &[
                campaign.into(),
                (&line.sku).into(),
                i64::from(line.quantity).into(),
            ],
        )?
        .map_or(0, |r| r.int(0));
    let before = after - i64::from(line.quantity);
    Ok((i64::from(limit) - before).clamp(0, i64::from(line.quantity)) as u32)
}

/// One line's transition: stored, with its event, its ledger entry and the spend it
/// changes.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_line(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    line: &LineUpdate,
    order: &StoredOrder,
    now_ms: i64,
    context: &dyn OrderContext,
    ledger: &mut Vec<serde_json::Value>,
) -> Result<(LineOutcome, Option<SpendDelta>), ApplyError> {
    let key: [Value; 3] = [
        advertiser.into(),
        (&update.order_id).into(),
        (&line.line_id).into(),
    ];
    let stored = tx
        .query_one(
            "SELECT state, quantity, unit_price_micros, refunded_micros, commission_micros,
               commission_exchange_micros, version, first_units, confirmed_ms, review,
               amended_value_micros, settled_period, settled_value_micros,
               settled_order_commission_micros, settled_commission_micros, rules
             FROM order_lines WHERE advertiser = $1 AND order_id = $2 AND line_id = $3",
            &key,
        )?
        .map(|row: Row| StoredLine {
            line: Line {
                state: LineState::parse(&row.text(0)).unwrap_or(LineState::Pending),
                quantity: u32::try_from(row.int(1)).unwrap_or(0),
                unit_price_micros: row.int(2),
                refunded_micros: row.int(3),
            },
            commission: row.int(4),
            exchange: row.int(5),
            version: row.int(6),
            first_units: u32::try_from(row.int(7)).ok(),
            confirmed_ms: row.opt_int(8),
            review: row.opt_text(9),
            amended_value: row.opt_int(10),
            settled: row.opt_text(11).map(|_| {
                (
                    row.opt_int(12).unwrap_or(0),
                    row.opt_int(13).unwrap_or(0),
                    row.opt_int(14).unwrap_or(0),
                    row.opt_text(15).unwrap_or_default(),
                )
            }),
        });
    let old_exchange = stored.as_ref().map_or(0, |s| s.exchange);
    let version = stored.as_ref().map_or(0, |s| s.version);
    let stored_line = stored.as_ref().map(|s| s.line);
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
                    commission_micros: stored.as_ref().map_or(0, |s| s.commission),
                },
                None,
            ));
        }
    };
    let rules = rules_of(order, context);
    let first_units = match stored.as_ref().and_then(|s| s.first_units) {
        Some(units) => units,
        None => claim_first_units(tx, order.campaign.as_deref(), &rules, line)?,
    };
    let review = stored.as_ref().and_then(|s| s.review.clone());
    let value = reviewed_value(
        review.as_deref(),
        stored.as_ref().and_then(|s| s.amended_value),
        next.value_micros(),
    );
    let earns = order.unattributed.is_none() && order.held.is_empty();
    let facts = line_facts(
        order,
        &rules,
        &line.sku,
        line.category.as_deref(),
        next.quantity,
        first_units,
    );
    let (commission, exchange, rule_labels) = match stored.as_ref().and_then(|s| s.settled.clone())
    {
        // Settled: a refund scales what was settled (the statement carries the delta).
        Some((settled_value, order_commission, exchange, rules)) => {
            let scale = |amount: i64| scaled(amount, value, settled_value);
            let labels = rules
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned);
            (scale(order_commission), scale(exchange), labels.collect())
        }
        None => {
            let computed = rules.commission(&facts, if earns { value } else { 0 });
            let exchange = context
                .to_exchange(&update.currency, computed.commission_micros)
                .ok_or(ApplyError::Conflict(
                    "currency",
                    "no exchange rate for it".to_owned(),
                ))?;
            let labels = if earns { computed.rules } else { Vec::new() };
            (computed.commission_micros, exchange, labels)
        }
    };
    let fee = commission::fee_of(exchange, rules.platform_fee_ppm);
    let confirmed_ms = stored
        .as_ref()
        .and_then(|s| s.confirmed_ms)
        .or((next.state == LineState::Confirmed).then_some(now_ms));
    let version = version + 1;
    let [advertiser_v, order_v, line_v] = key;
    tx.execute(
        "INSERT INTO order_lines (advertiser, order_id, line_id, sku, category, quantity,
           unit_price_micros, state, refunded_micros, commission_micros,
           commission_exchange_micros, version, updated_ms, first_units, fee_micros, rules,
           confirmed_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (advertiser, order_id, line_id) DO UPDATE SET state = excluded.state,
           refunded_micros = excluded.refunded_micros, commission_micros = excluded.commission_micros,
           commission_exchange_micros = excluded.commission_exchange_micros,
           version = excluded.version, updated_ms = excluded.updated_ms,
           fee_micros = excluded.fee_micros, rules = excluded.rules,
           confirmed_ms = excluded.confirmed_ms",
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
            i64::from(first_units).into(),
            fee.into(),
            rule_labels.join(",").into(),
            confirmed_ms.into(),
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
    if order.unattributed.is_none() {
        ledger.push(serde_json::json!({
            "kind": "commission", "at_ms": now_ms, "advertiser": advertiser,
            "order_id": update.order_id, "line_id": line.line_id, "version": version,
            "state": next.state.as_str(), "campaign": order.campaign,
            "publisher": order.publisher, "currency": update.currency,
            "value_micros": value, "commission_micros": commission,
            "exchange_micros": exchange, "delta_micros": delta, "fee_micros": fee,
            "rules": rule_labels, "review": review,
        }));
    }
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

/// The value of a line worth `value` that earns after its review: nothing when declined,
/// at most the amendment when amended.
pub(super) fn reviewed_value(review: Option<&str>, amended: Option<i64>, value: i64) -> i64 {
    match (review, amended) {
        (Some(DECLINED), _) => 0,
        (Some(AMENDED), Some(amended)) => amended.min(value),
        _ => value,
    }
}

/// A settled `amount` for a line settled at `settled_value` now worth `value` (a refund
/// after settlement scales what was settled).
pub(super) fn scaled(amount: i64, value: i64, settled_value: i64) -> i64 {
    if settled_value <= 0 {
        0
    } else {
        (i128::from(amount) * i128::from(value) / i128::from(settled_value)) as i64
    }
}

/// An advertiser declined the line: it earns nothing.
pub(super) const DECLINED: &str = "declined";
/// An advertiser amended the line's value.
pub(super) const AMENDED: &str = "amended";

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

/// An attributed order as stored, for a recomputation of its lines (after a hold is
/// cleared or a review): the order, its currency and its hold state.
pub(super) fn load_order(
    tx: &mut dyn Tx,
    advertiser: &str,
    order_id: &str,
    context: &dyn OrderContext,
) -> Result<Option<(StoredOrder, String, Option<String>)>, crate::affiliate::sql::SqlError> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let row = tx.query_one(
        &format!(
            "SELECT hold, currency, order_time, campaign, publisher, commission_rate,
               new_customer, first_purchase_time, volume_rank, unattributed, hold_reasons
             FROM orders WHERE advertiser = $1 AND order_id = $2{lock}"
        ),
        &[advertiser.into(), order_id.into()],
    )?;
    Ok(row.map(|row| {
        let campaign = row.opt_text(3);
        let hold = row.opt_text(0);
        let order = StoredOrder {
            unattributed: row.opt_text(9).as_deref().map(label),
            cps: campaign
                .as_deref()
                .and_then(|c| context.campaign(c))
                .is_some_and(|t| t.cps),
            campaign,
            publisher: row.opt_text(4),
            rate: row.opt_real(5),
            order_time: row.int(2),
            new_customer: row.opt_int(6).map(|v| v != 0),
            first_purchase_time: row.opt_int(7),
            volume_rank: row.opt_int(8),
            reattributed: true,
            held: match hold.as_deref() {
                Some(HELD | CONFIRMED) => reasons(row.opt_text(10)),
                _ => Vec::new(),
            },
            decided: false,
        };
        (order, row.text(1), hold)
    }))
}

/// The answer about an attributed order whose lines are computed again (filled by
/// [`recompute_lines`]).
pub(super) fn recomputed(order_id: &str, order: &StoredOrder) -> OrderOutcome {
    OrderOutcome {
        order_id: order_id.to_owned(),
        attributed: true,
        unattributed: None,
        campaign: order.campaign.clone(),
        publisher: order.publisher.clone(),
        held: Vec::new(),
        held_now: false,
        lines: Vec::new(),
        spend: Vec::new(),
    }
}

/// Computes every line of a stored order again (a new version of each, its ledger entry
/// and budget delta): lines `only` names, or all.
#[allow(clippy::too_many_arguments)]
pub(super) fn recompute_lines(
    tx: &mut dyn Tx,
    advertiser: &str,
    order_id: &str,
    currency: &str,
    order: &StoredOrder,
    only: Option<&str>,
    now_ms: i64,
    context: &dyn OrderContext,
    ledger: &mut Vec<serde_json::Value>,
    outcome: &mut OrderOutcome,
) -> Result<(), ApplyError> {
    let update = OrderUpdate {
        order_id: order_id.to_owned(),
        currency: currency.to_owned(),
        order_time: order.order_time,
        click_id: None,
        user_key: None,
        buyer: orders::Buyer::default(),
        lines: Vec::new(),
    };
    let lines = tx.query(
        "SELECT line_id, sku, category, quantity, unit_price_micros, refunded_micros FROM order_lines
         WHERE advertiser = $1 AND order_id = $2 AND (CAST($3 AS TEXT) IS NULL OR line_id = $3)
         ORDER BY line_id",
        &[advertiser.into(), order_id.into(), only.into()],
    )?;
    for line in lines {
        // The line as it stands: its transition is "unchanged", and the order computes its
        // commission again.
        let same = LineUpdate {
            line_id: line.text(0),
            sku: line.text(1),
            category: line.opt_text(2),
            quantity: u32::try_from(line.int(3)).unwrap_or(0),
            unit_price_micros: line.int(4),
            reported: Reported::Paid,
            refunded_micros: line.int(5),
        };
        let (answer, spend) = apply_line(
            tx, advertiser, &update, &same, order, now_ms, context, ledger,
        )?;
        outcome.lines.push(answer);
        outcome.spend.extend(spend);
    }
    Ok(())
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
    ledger: &mut Vec<serde_json::Value>,
) -> Result<OrderOutcome, ApplyError> {
    let Some((mut order, currency, hold)) = load_order(tx, advertiser, order_id, context)? else {
        return Err(ApplyError::Conflict("order_id", "no such order".to_owned()));
    };
    if hold.as_deref() != Some(HELD) {
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
    ledger.push(serde_json::json!({
        "kind": if decision.clear { "hold_cleared" } else { "fraud_confirmed" },
        "at_ms": now_ms, "advertiser": advertiser, "order_id": order_id,
        "campaign": order.campaign, "publisher": order.publisher, "note": decision.note,
    }));
    let mut outcome = recomputed(order_id, &order);
    if !decision.clear {
        return Ok(outcome);
    }
    order.held = Vec::new();
    recompute_lines(
        tx,
        advertiser,
        order_id,
        &currency,
        &order,
        None,
        now_ms,
        context,
        ledger,
        &mut outcome,
    )?;
    Ok(outcome)
}
