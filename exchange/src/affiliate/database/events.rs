//! Clicks and impressions in the database: written in the click writer's batches, each
//! click judged by the click rules as it is written.

use super::{ClickRecord, ClickVerdict, ImpressionRecord, StoredClick};
use crate::affiliate::sql::{SqlError, Tx, Value};
use crate::config::FraudConfig;

/// The window of the flood rules, ms.
const FLOOD_WINDOW_MS: i64 = 60_000;

/// Records an impression (once: a win and a billing notice are one impression).
pub(super) fn insert_impression(
    tx: &mut dyn Tx,
    impression: &ImpressionRecord,
) -> Result<bool, SqlError> {
    tx.execute(
        "INSERT INTO impressions (auction, imp, campaign, creative, advertiser, user_key, publisher,
           placement, sub_id, source_mismatch, at_ms, page_cat)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
        &[
            (&impression.auction).into(),
            (&impression.imp).into(),
            (&impression.campaign).into(),
            (&impression.creative).into(),
            (&impression.advertiser).into(),
            impression.user.as_ref().into(),
            impression.publisher.as_ref().into(),
            impression.placement.as_ref().into(),
            impression.sub_id.as_ref().into(),
            impression.source_mismatch.into(),
            impression.at_ms.into(),
            impression.page_category.map(i64::from).into(),
        ],
    )
    .map(|inserted| inserted == 1)
}

/// The first click rule `click` breaks, of those the database judges (the path already
/// judged `too_fast` and `bot_agent`): `before_impression`, then the floods per IP, user and
/// sub-id within a minute.
fn broken_rule(
    tx: &mut dyn Tx,
    click: &ClickRecord,
    rules: &FraudConfig,
) -> Result<Option<&'static str>, SqlError> {
    let is_ad = !click.auction.starts_with("link:");
    if is_ad && rules.click_needs_impression {
        let seen = tx.query_one(
            "SELECT 1 FROM impressions WHERE auction = $1 AND imp = $2",
            &[(&click.auction).into(), (&click.imp).into()],
        )?;
        if seen.is_none() {
            return Ok(Some("before_impression"));
        }
    }
    let since = click.at_ms - FLOOD_WINDOW_MS;
    // Each count reads at most `limit` index entries: (key, valid, at_ms) leads to the
    // valid clicks of the window only, and the count stops at the limit.
    let floods: [(&str, Option<&String>, u32, &'static str); 2] = [
        (
            "SELECT COUNT(*) FROM (SELECT 1 FROM clicks
               WHERE ip = $1 AND valid = 1 AND at_ms > $2 LIMIT $3) AS w",
            click.ip.as_ref(),
            rules.clicks_per_ip_per_minute,
            "flood_ip",
        ),
        (
            "SELECT COUNT(*) FROM (SELECT 1 FROM clicks
               WHERE user_key = $1 AND valid = 1 AND at_ms > $2 LIMIT $3) AS w",
            click.user.as_ref(),
            rules.clicks_per_user_per_minute,
            "flood_user",
        ),
    ];
    for (sql, key, limit, reason) in floods {
        let Some(key) = key else { continue };
        let count = tx
            .query_one(sql, &[key.into(), since.into(), i64::from(limit).into()])?
            .map_or(0, |row| row.int(0));
        if count >= i64::from(limit) {
            return Ok(Some(reason));
        }
    }
    if let (Some(publisher), Some(sub_id)) = (&click.publisher, &click.sub_id) {
        let limit = rules.clicks_per_sub_id_per_minute;
        let count = tx
            .query_one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM clicks WHERE publisher = $1 AND sub_id = $2
                   AND valid = 1 AND at_ms > $3 LIMIT $4) AS w",
                &[
                    publisher.into(),
                    sub_id.into(),
                    since.into(),
                    i64::from(limit).into(),
                ],
            )?
            .map_or(0, |row| row.int(0));
        if count >= i64::from(limit) {
            return Ok(Some("flood_sub_id"));
        }
    }
    Ok(None)
}

/// Records a click and judges it: the path's flag, the rules, then the first valid click
/// of its impression.
pub(super) fn insert_click(
    tx: &mut dyn Tx,
    click: &ClickRecord,
    rules: &FraudConfig,
) -> Result<ClickVerdict, SqlError> {
    const INSERT: &str = "INSERT INTO clicks (click_id, at_ms, auction, imp, campaign, creative,
           advertiser, user_key, publisher, placement, sub_id, source_mismatch, cpc_micros,
           commission_rate, served_ms, ip, user_agent, valid, reason, page_cat)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
           $20)
         ON CONFLICT DO NOTHING";
    let row = |valid: bool, reason: Option<&str>| -> Vec<Value> {
        vec![
            (&click.click_id).into(),
            click.at_ms.into(),
            (&click.auction).into(),
            (&click.imp).into(),
            (&click.campaign).into(),
            (&click.creative).into(),
            (&click.advertiser).into(),
            click.user.as_ref().into(),
            click.publisher.as_ref().into(),
            click.placement.as_ref().into(),
            click.sub_id.as_ref().into(),
            click.source_mismatch.into(),
            click.cpc_micros.into(),
            click.commission_rate.into(),
            click.served_ms.into(),
            click.ip.as_ref().into(),
            click.user_agent.as_ref().into(),
            valid.into(),
            reason.into(),
            click.page_category.map(i64::from).into(),
        ]
    };
    let flag = match click.flag {
        Some(flag) => Some(flag),
        None => broken_rule(tx, click, rules)?,
    };
    if let Some(flag) = flag {
        tx.execute(INSERT, &row(false, Some(flag)))?;
        return Ok(ClickVerdict {
            valid: false,
            reason: Some(flag.to_owned()),
        });
    }
    // The first valid click of an impression takes the unique slot; a later one (a double
    // click, a replay, another node's) finds it taken and is recorded as a duplicate.
    if tx.execute(INSERT, &row(true, None))? == 1 {
        super::holds::count_in_days(
            tx,
            click.publisher.as_deref(),
            click.sub_id.as_deref(),
            click.at_ms,
            1,
            0,
        )?;
        return Ok(ClickVerdict {
            valid: true,
            reason: None,
        });
    }
    tx.execute(INSERT, &row(false, Some("duplicate")))?;
    Ok(ClickVerdict {
        valid: false,
        reason: Some("duplicate".to_owned()),
    })
}

pub(super) fn read_click(tx: &mut dyn Tx, click_id: &str) -> Result<Option<StoredClick>, SqlError> {
    let row = tx.query_one(
        "SELECT at_ms, auction, imp, campaign, creative, advertiser, publisher, placement, sub_id,
           source_mismatch, commission_rate, valid, reason FROM clicks WHERE click_id = $1",
        &[click_id.into()],
    )?;
    Ok(row.map(|row| StoredClick {
        at_ms: row.int(0),
        auction: row.text(1),
        imp: row.text(2),
        campaign: row.text(3),
        creative: row.text(4),
        advertiser: row.text(5),
        publisher: row.opt_text(6),
        placement: row.opt_text(7),
        sub_id: row.opt_text(8),
        source_mismatch: row.flag(9),
        commission_rate: row.opt_real(10),
        valid: row.flag(11),
        reason: row.opt_text(12),
    }))
}
