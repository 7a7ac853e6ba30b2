//! An advertiser's review of order lines before they lock: approve, decline (the line earns
//! nothing) or amend (its value is lowered to the amount given), each with a reason kept
//! on the line, shown in the statements and appended to the ledger.

use super::orders::{load_order, recompute_lines, recomputed, AMENDED, DECLINED};
use super::{ApplyError, OrderContext, SpendDelta};
use crate::affiliate::sql::Tx;

/// What the advertiser decided about a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    /// It stands as reported.
    Approve,
    /// It earns nothing.
    Decline,
    /// Its commissionable value is this (micros of the order currency), at most its own.
    Amend(i64),
}

impl ReviewAction {
    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Decline => DECLINED,
            Self::Amend(_) => AMENDED,
        }
    }
}

/// One review, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReview {
    /// Order id.
    pub order_id: String,
    /// Line id.
    pub line_id: String,
    /// The decision.
    pub action: ReviewAction,
    /// Why (1–500 bytes).
    pub reason: String,
}

/// What happened to one review.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReviewOutcome {
    /// Order id.
    pub order_id: String,
    /// Line id.
    pub line_id: String,
    /// Applied.
    pub applied: bool,
    /// Why not: `no_such_line`, `locked` (settled), `unattributed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<&'static str>,
    /// The line's commission now, micros of the order currency.
    pub commission_micros: i64,
}

/// Applies `reviews` of `advertiser`'s lines; each is refused on its own when it cannot
/// apply.
pub(super) fn review(
    tx: &mut dyn Tx,
    advertiser: &str,
    reviews: &[LineReview],
    now_ms: i64,
    context: &dyn OrderContext,
    ledger: &mut Vec<serde_json::Value>,
) -> Result<(Vec<ReviewOutcome>, Vec<SpendDelta>), ApplyError> {
    let mut outcomes = Vec::with_capacity(reviews.len());
    let mut spend = Vec::new();
    for item in reviews {
        let refuse = |why: &'static str| ReviewOutcome {
            order_id: item.order_id.clone(),
            line_id: item.line_id.clone(),
            applied: false,
            refused: Some(why),
            commission_micros: 0,
        };
        let line = tx.query_one(
            "SELECT settled_period, quantity * unit_price_micros FROM order_lines
             WHERE advertiser = $1 AND order_id = $2 AND line_id = $3",
            &[
                advertiser.into(),
                (&item.order_id).into(),
                (&item.line_id).into(),
            ],
        )?;
        let Some(line) = line else {
            outcomes.push(refuse("no_such_line"));
            continue;
        };
        if line.opt_text(0).is_some() {
            outcomes.push(refuse("locked"));
            continue;
        }
        let Some((order, currency, _)) = load_order(tx, advertiser, &item.order_id, context)?
        else {
            outcomes.push(refuse("no_such_line"));
            continue;
        };
        if order.unattributed.is_some() {
            outcomes.push(refuse("unattributed"));
            continue;
        }
        let amended = match item.action {
            ReviewAction::Amend(value) => Some(value.min(line.int(1))),
            _ => None,
        };
        tx.execute(
            "UPDATE order_lines SET review = $1, review_reason = $2, amended_value_micros = $3
             WHERE advertiser = $4 AND order_id = $5 AND line_id = $6",
            &[
                item.action.as_str().into(),
                (&item.reason).into(),
                amended.into(),
                advertiser.into(),
                (&item.order_id).into(),
                (&item.line_id).into(),
            ],
        )?;
        ledger.push(serde_json::json!({
            "kind": "review", "at_ms": now_ms, "advertiser": advertiser,
            "order_id": item.order_id, "line_id": item.line_id,
            "action": item.action.as_str(), "amended_value_micros": amended,
            "reason": item.reason,
        }));
        let mut outcome = recomputed(&item.order_id, &order);
        recompute_lines(
            tx,
            advertiser,
            &item.order_id,
            &currency,
            &order,
            Some(&item.line_id),
            now_ms,
            context,
            ledger,
            &mut outcome,
        )?;
        spend.extend(outcome.spend);
        outcomes.push(ReviewOutcome {
            order_id: item.order_id.clone(),
            line_id: item.line_id.clone(),
            applied: true,
            refused: None,
            commission_micros: outcome.lines.first().map_or(0, |l| l.commission_micros),
        });
    }
    Ok((outcomes, spend))
}
