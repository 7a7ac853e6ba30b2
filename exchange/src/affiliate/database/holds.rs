//! The order rules (刷单: fake or gamed orders), judged when an order is first attributed:
//! each one it breaks holds it (not commissioned) until an operator clears it.

use super::{OrderContext, StoredClick};
use crate::affiliate::sql::{SqlError, Tx};
use exchange_core::orders::{HoldReason, OrderUpdate};

/// The window of the burst rule, seconds.
const BURST_WINDOW_SECS: i64 = 3600;
/// The window of the sub-id outlier rule, days.
const OUTLIER_WINDOW_DAYS: i64 = 30;

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
    let since = day_of(click.at_ms) - OUTLIER_WINDOW_DAYS;
    let (clicks, orders) = window_counts(tx, publisher, sub_id, since)?;
    if clicks < i64::from(min_clicks) {
        return Ok(false);
    }
    let (all_clicks, all_orders) = window_counts(tx, "", "", since)?;
    // This order counts too (it is not counted yet).
    let rate = (orders + 1) as f64 / clicks as f64;
    let network = (all_orders + 1) as f64 / all_clicks.max(1) as f64;
    Ok(rate > factor * network)
}

/// Valid clicks and attributed orders of `publisher`'s `sub_id` (both empty: the whole
/// network) from day `since` on: at most 30 rows of the daily counts.
fn window_counts(
    tx: &mut dyn Tx,
    publisher: &str,
    sub_id: &str,
    since: i64,
) -> Result<(i64, i64), SqlError> {
    let row = tx.query_one(
        "SELECT CAST(SUM(clicks) AS BIGINT), CAST(SUM(orders) AS BIGINT) FROM sub_id_days
         WHERE publisher = $1 AND sub_id = $2 AND day >= $3",
        &[publisher.into(), sub_id.into(), since.into()],
    )?;
    Ok(row.map_or((0, 0), |r| (r.int(0), r.int(1))))
}

/// The unix day of `ms`.
fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// Rows each daily count is spread over: concurrent transactions (several connections,
/// several nodes) then rarely wait on one another's row lock.
const SHARDS: u64 = 16;

/// Adds a valid click (`clicks`) or an attributed order (`orders`) at `at_ms` to the daily
/// counts of its sub-id (when it has one) and of the whole network, which the outlier
/// rule reads instead of scanning 30 days of rows (one of [`SHARDS`] rows each, at random).
pub(super) fn count_in_days(
    tx: &mut dyn Tx,
    publisher: Option<&str>,
    sub_id: Option<&str>,
    at_ms: i64,
    clicks: i64,
    orders: i64,
) -> Result<(), SqlError> {
    let sub = publisher.zip(sub_id);
    let shard = (rand::random::<u64>() % SHARDS) as i64;
    for (publisher, sub_id) in [("", "")].into_iter().chain(sub) {
        tx.execute(
            "INSERT INTO sub_id_days (publisher, sub_id, day, shard, clicks, orders)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (publisher, sub_id, day, shard) DO UPDATE
             SET clicks = sub_id_days.clicks + excluded.clicks, orders = sub_id_days.orders + excluded.orders",
            &[
                publisher.into(),
                sub_id.into(),
                day_of(at_ms).into(),
                shard.into(),
                clicks.into(),
                orders.into(),
            ],
        )?;
    }
    Ok(())
}
