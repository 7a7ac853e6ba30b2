//! The outcomes the learner counts (`crate::learning`): impressions (verified notices),
//! valid clicks and attributed orders in a time range, grouped by campaign, page category
//! and hour. Each range query walks one time index; an order takes the page category of
//! the impression it was credited to.

use crate::affiliate::sql::{SqlError, Tx};

/// One hour's outcomes of one campaign on one page category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    /// Campaign id.
    pub campaign: String,
    /// Page category (IAB tier-1 number), if the page had one.
    pub page_category: Option<u16>,
    /// Start of the hour, unix ms.
    pub hour_ms: i64,
    /// Impressions.
    pub impressions: i64,
    /// Valid clicks.
    pub clicks: i64,
    /// Attributed orders.
    pub orders: i64,
}

/// An hour in ms.
const HOUR_MS: i64 = 3_600_000;

/// The three counts of `[from_ms, to_ms)`, merged by campaign, category and hour.
pub(super) fn counts(
    tx: &mut dyn Tx,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<OutcomeCount>, SqlError> {
    let queries = [
        "SELECT campaign, page_cat, at_ms / 3600000, COUNT(*) FROM impressions
         WHERE at_ms >= $1 AND at_ms < $2 GROUP BY campaign, page_cat, at_ms / 3600000",
        "SELECT campaign, page_cat, at_ms / 3600000, COUNT(*) FROM clicks
         WHERE at_ms >= $1 AND at_ms < $2 AND valid = 1
         GROUP BY campaign, page_cat, at_ms / 3600000",
        "SELECT o.campaign, i.page_cat, o.received_ms / 3600000, COUNT(*) FROM orders o
         LEFT JOIN impressions i ON i.auction = o.auction AND i.imp = o.imp
         WHERE o.received_ms >= $1 AND o.received_ms < $2 AND o.campaign IS NOT NULL
         GROUP BY o.campaign, i.page_cat, o.received_ms / 3600000",
    ];
    let mut merged: std::collections::BTreeMap<(String, Option<u16>, i64), [i64; 3]> =
        std::collections::BTreeMap::new();
    for (slot, sql) in queries.into_iter().enumerate() {
        for row in tx.query(sql, &[from_ms.into(), to_ms.into()])? {
            let category = row
                .opt_int(1)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| exchange_core::learning::category_text(*c).is_some());
            let key = (row.text(0), category, row.int(2));
            merged.entry(key).or_default()[slot] += row.int(3);
        }
    }
    Ok(merged
        .into_iter()
        .map(
            |((campaign, page_category, hour), [impressions, clicks, orders])| OutcomeCount {
                campaign,
                page_category,
                hour_ms: hour * HOUR_MS,
                impressions,
                clicks,
                orders,
            },
        )
        .collect())
}
