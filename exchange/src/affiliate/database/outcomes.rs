//! Outcomes read back: what the learner counts (`crate::learning`): impressions (verified
//! notices), valid clicks and attributed orders in a time range, grouped by campaign, page
//! category and hour (each range query walks one time index; an order takes the page
//! category of the impression it was credited to); and what one placement's traffic did
//! per campaign, for product selection (`crate::selection`).

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

/// One campaign's outcomes at one placement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignAtPlacement {
    /// Campaign id.
    pub campaign: String,
    /// Impressions.
    pub impressions: i64,
    /// Valid clicks.
    pub clicks: i64,
    /// Attributed orders.
    pub orders: i64,
}

/// What one placement's traffic did, per campaign, and its usual page category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacementOutcomes {
    /// Per campaign that served there.
    pub campaigns: Vec<CampaignAtPlacement>,
    /// The page category most of its impressions had.
    pub page_category: Option<u16>,
}

/// The outcomes at `publisher`'s `placement` since `since_ms`.
pub(super) fn at_placement(
    tx: &mut dyn Tx,
    publisher: &str,
    placement: &str,
    since_ms: i64,
) -> Result<PlacementOutcomes, SqlError> {
    let queries = [
        "SELECT campaign, COUNT(*) FROM impressions
         WHERE publisher = $1 AND placement = $2 AND at_ms >= $3 GROUP BY campaign",
        "SELECT campaign, COUNT(*) FROM clicks
         WHERE publisher = $1 AND placement = $2 AND valid = 1 AND at_ms >= $3 GROUP BY campaign",
        "SELECT campaign, COUNT(*) FROM orders
         WHERE publisher = $1 AND placement = $2 AND received_ms >= $3 AND campaign IS NOT NULL
         GROUP BY campaign",
    ];
    let mut merged: std::collections::BTreeMap<String, [i64; 3]> = Default::default();
    for (slot, sql) in queries.into_iter().enumerate() {
        let rows = tx.query(sql, &[publisher.into(), placement.into(), since_ms.into()])?;
        for row in rows {
            merged.entry(row.text(0)).or_default()[slot] += row.int(1);
        }
    }
    let page_category = tx
        .query_one(
            "SELECT page_cat, COUNT(*) FROM impressions
             WHERE publisher = $1 AND placement = $2 AND at_ms >= $3 AND page_cat IS NOT NULL
             GROUP BY page_cat ORDER BY COUNT(*) DESC, page_cat LIMIT 1",
            &[publisher.into(), placement.into(), since_ms.into()],
        )?
        .and_then(|row| row.opt_int(0))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| exchange_core::learning::category_text(*c).is_some());
    Ok(PlacementOutcomes {
        campaigns: merged
            .into_iter()
            .map(
                |(campaign, [impressions, clicks, orders])| CampaignAtPlacement {
                    campaign,
                    impressions,
                    clicks,
                    orders,
                },
            )
            .collect(),
        page_category,
    })
}
