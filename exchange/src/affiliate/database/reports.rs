//! What a privacy-preserving report reads and spends (`crate::reports`): each user's
//! impressions, valid clicks and attributed orders per cell (a publisher's placement, or an
//! advertiser's campaign, × page category × day), for the bounding step of
//! `privacy::dp`; and each consumer's privacy budget, spent in the same transaction that
//! reads the data, under a per-consumer row lock, so two reports cannot both spend the last
//! of it.

use crate::affiliate::sql::{SqlError, Tx, Value};
use crate::privacy::dp::Contribution;

/// A report's cell: placement or campaign, page category (IAB tier-1), day (unix days).
pub type Cell = (String, Option<u16>, i64);

/// Whose data a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A publisher: cells by placement.
    Publisher(String),
    /// An advertiser: cells by campaign.
    Advertiser(String),
}

/// What the budget check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Spend {
    /// Spent; the rows of the report, and ε spent in the window before this one.
    Granted {
        /// ε spent in the window before this report.
        spent_before: f64,
        /// Per user and cell.
        rows: Vec<Contribution<Cell>>,
    },
    /// The report would exceed the budget: ε spent in the window.
    Refused {
        /// ε spent in the window.
        spent: f64,
    },
    /// More rows than `max_rows`: a narrower range is needed (nothing spent).
    TooLarge,
}

/// The request of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// Whose data.
    pub scope: Scope,
    /// `[from_ms, to_ms)`.
    pub from_ms: i64,
    /// End, exclusive.
    pub to_ms: i64,
    /// ε this report spends.
    pub epsilon: f64,
    /// The consumer's budget over the window.
    pub budget: f64,
    /// Window start: spends before it no longer count.
    pub window_from_ms: i64,
    /// Now, unix ms (the spend's time).
    pub now_ms: i64,
    /// Most rows read.
    pub max_rows: usize,
}

const DAY_MS: i64 = 86_400_000;

fn consumer(scope: &Scope) -> String {
    match scope {
        Scope::Publisher(id) => format!("publisher:{id}"),
        Scope::Advertiser(id) => format!("advertiser:{id}"),
    }
}

/// Checks and spends the budget, then reads the rows, in one transaction.
pub(super) fn spend_and_read(tx: &mut dyn Tx, ask: &Ask) -> Result<Spend, SqlError> {
    let who = consumer(&ask.scope);
    // The per-consumer lock: the first write of the transaction, on the consumer's row.
    tx.execute(
        "INSERT INTO dp_consumers (consumer, reports) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        &[who.clone().into()],
    )?;
    tx.execute(
        "UPDATE dp_consumers SET reports = reports + 1 WHERE consumer = $1",
        &[who.clone().into()],
    )?;
    let spent = tx
        .query_one(
            "SELECT COALESCE(SUM(epsilon), 0.0) FROM dp_spend WHERE consumer = $1 AND at_ms >= $2",
            &[who.clone().into(), ask.window_from_ms.into()],
        )?
        .and_then(|row| row.opt_real(0))
        .unwrap_or(0.0);
    if !crate::privacy::dp::fits(spent, ask.epsilon, ask.budget) {
        return Ok(Spend::Refused { spent });
    }
    let rows = read(tx, ask)?;
    let Some(rows) = rows else {
        return Ok(Spend::TooLarge);
    };
    tx.execute(
        "INSERT INTO dp_spend (consumer, at_ms, epsilon) VALUES ($1, $2, $3)",
        &[who.into(), ask.now_ms.into(), Value::Real(ask.epsilon)],
    )?;
    Ok(Spend::Granted {
        spent_before: spent,
        rows,
    })
}

/// Each user's counts per cell (`None` when more than `max_rows`).
fn read(tx: &mut dyn Tx, ask: &Ask) -> Result<Option<Vec<Contribution<Cell>>>, SqlError> {
    let (owner, dimension) = match &ask.scope {
        Scope::Publisher(id) => (id.clone(), "placement"),
        Scope::Advertiser(id) => (id.clone(), "campaign"),
    };
    let owner_column = match &ask.scope {
        Scope::Publisher(_) => "publisher",
        Scope::Advertiser(_) => "advertiser",
    };
    let queries = [
        format!(
            "SELECT {dimension}, page_cat, at_ms / {DAY_MS}, user_key, COUNT(*) FROM impressions
             WHERE {owner_column} = $1 AND at_ms >= $2 AND at_ms < $3
             GROUP BY {dimension}, page_cat, at_ms / {DAY_MS}, user_key"
        ),
        format!(
            "SELECT {dimension}, page_cat, at_ms / {DAY_MS}, user_key, COUNT(*) FROM clicks
             WHERE {owner_column} = $1 AND at_ms >= $2 AND at_ms < $3 AND valid = 1
             GROUP BY {dimension}, page_cat, at_ms / {DAY_MS}, user_key"
        ),
        format!(
            "SELECT o.{dimension}, i.page_cat, o.received_ms / {DAY_MS}, o.user_key, COUNT(*)
             FROM orders o LEFT JOIN impressions i ON i.auction = o.auction AND i.imp = o.imp
             WHERE o.{owner_column} = $1 AND o.received_ms >= $2 AND o.received_ms < $3
               AND o.campaign IS NOT NULL
             GROUP BY o.{dimension}, i.page_cat, o.received_ms / {DAY_MS}, o.user_key"
        ),
    ];
    let mut merged: std::collections::HashMap<(Option<String>, Cell), [u64; 3]> =
        std::collections::HashMap::new();
    let mut read = 0usize;
    for (slot, sql) in queries.iter().enumerate() {
        let params = [owner.clone().into(), ask.from_ms.into(), ask.to_ms.into()];
        for row in tx.query(sql, &params)? {
            read += 1;
            if read > ask.max_rows {
                return Ok(None);
            }
            let category = row
                .opt_int(1)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| exchange_core::learning::category_text(*c).is_some());
            let cell = (row.opt_text(0).unwrap_or_default(), category, row.int(2));
            let count = u64::try_from(row.int(4)).unwrap_or(0);
            // Without a key the events are aggregated as events of distinct users.
            let user = row.opt_text(3).filter(|k| !k.is_empty());
            merged.entry((user, cell)).or_default()[slot] += count;
        }
    }
    Ok(Some(
        merged
            .into_iter()
            .map(|((user, cell), counts)| Contribution { user, cell, counts })
            .collect(),
    ))
}
