//! The order rules (刷单: fake or gamed orders), judged when an order is first attributed:
//! each one it breaks holds it (not commissioned) until an operator clears it.

use super::{OrderContext, StoredClick};
use crate::affiliate::sql::{SqlError, Tx};
use exchange_core::orders::{HoldReason, OrderUpdate};

/// The window of the burst rule, seconds.
const BURST_WINDOW_SECS: i64 = 3600;
/// The window of the sub-id outlier rule, ms (30 days).
const OUTLIER_WINDOW_MS: i64 = 30 * 86_400_000;

/// Every rule the order (attributed to `click`) breaks.
pub(super) fn hold_reasons(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    click: &StoredClick,
    context: &dyn OrderContext,
) -> Result<Vec<HoldReason>, SqlError> {
    let rules = context.rules();
    let mut reasons = Vec::new();
    if update.order_time * 1000 - click.at_ms < i64::from(rules.min_click_to_order_ms) {
        reasons.push(HoldReason::FastConversion);
    }
    if burst(tx, advertiser, update, rules.orders_per_buyer_per_hour)? {
        reasons.push(HoldReason::Burst);
    }
    let own = click
        .publisher
        .as_deref()
        .zip(update.buyer.account.as_deref())
        .is_some_and(|(publisher, account)| context.is_publishers_own(publisher, account));
    if own {
        reasons.push(HoldReason::SelfPurchase);
    }
    if outlier(tx, click, rules.outlier_factor, rules.outlier_min_clicks)? {
        reasons.push(HoldReason::SubIdOutlier);
    }
    Ok(reasons)
}

/// Whether the buyer (by account, device or IP) already placed `limit` orders with this
/// advertiser within the hour before this one.
fn burst(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    limit: u32,
) -> Result<bool, SqlError> {
    let buyer = &update.buyer;
    for (column, value) in [
        ("buyer_account", &buyer.account),
        ("buyer_device", &buyer.device),
        ("buyer_ip", &buyer.ip),
    ] {
        let Some(value) = value else { continue };
        let count = tx
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM orders WHERE advertiser = $1 AND {column} = $2
                     AND order_time > $3 AND order_time <= $4 AND order_id <> $5"
                ),
                &[
                    advertiser.into(),
                    value.into(),
                    (update.order_time - BURST_WINDOW_SECS).into(),
                    update.order_time.into(),
                    (&update.order_id).into(),
                ],
            )?
            .map_or(0, |row| row.int(0));
        if count >= i64::from(limit) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the click's sub-id (with at least `min_clicks` valid clicks in 30 days) turns
/// clicks into attributed orders more than `factor` times as often as the whole network.
fn outlier(
    tx: &mut dyn Tx,
    click: &StoredClick,
    factor: f64,
    min_clicks: u32,
) -> Result<bool, SqlError> {
    let (Some(publisher), Some(sub_id)) = (&click.publisher, &click.sub_id) else {
        return Ok(false);
    };
    let since = click.at_ms - OUTLIER_WINDOW_MS;
    let count = |tx: &mut dyn Tx, sql: &str, params: &[crate::affiliate::sql::Value]| {
        tx.query_one(sql, params)
            .map(|row| row.map_or(0, |r| r.int(0)))
    };
    let clicks = count(
        tx,
        "SELECT COUNT(*) FROM clicks WHERE publisher = $1 AND sub_id = $2 AND valid = 1 AND at_ms > $3",
        &[publisher.into(), sub_id.into(), since.into()],
    )?;
    if clicks < i64::from(min_clicks) {
        return Ok(false);
    }
    // This order counts too (it is not stored yet).
    let orders = 1 + count(
        tx,
        "SELECT COUNT(*) FROM orders WHERE publisher = $1 AND sub_id = $2 AND unattributed IS NULL
         AND received_ms > $3",
        &[publisher.into(), sub_id.into(), since.into()],
    )?;
    let all_clicks = count(
        tx,
        "SELECT COUNT(*) FROM clicks WHERE valid = 1 AND at_ms > $1",
        &[since.into()],
    )?;
    let all_orders = 1 + count(
        tx,
        "SELECT COUNT(*) FROM orders WHERE unattributed IS NULL AND received_ms > $1",
        &[since.into()],
    )?;
    let rate = orders as f64 / clicks as f64;
    let network = all_orders as f64 / all_clicks.max(1) as f64;
    Ok(rate > factor * network)
}
