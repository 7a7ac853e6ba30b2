//! A user's purchase history in one vertical: what the LTV model reads, in four numbers.
//! The store keeps it in its stored form ([`PurchaseHistory::encode`]); the model turns it
//! into a [`super::Customer`].

use serde::{Deserialize, Serialize};

/// A user's purchases in one vertical, as the store keeps them: what the LTV models need
/// (repeat transactions, recency, age, mean value) in four numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PurchaseHistory {
    /// Transactions (days with a purchase), ≥ 1.
    pub transactions: u32,
    /// Day of the first purchase (unix days).
    pub first_day: i64,
    /// Day of the last purchase (unix days), ≥ `first_day`.
    pub last_day: i64,
    /// Sum of all order values, exchange currency.
    pub total: f64,
}

impl PurchaseHistory {
    /// The stored form, `first:last:transactions:total`.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.first_day, self.last_day, self.transactions, self.total
        )
    }

    /// Reads [`PurchaseHistory::encode`] output; `None` for anything inconsistent.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let history = Self {
            first_day: parts.next()?.parse().ok()?,
            last_day: parts.next()?.parse().ok()?,
            transactions: parts.next()?.parse().ok()?,
            total: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && history.is_valid()).then_some(history)
    }

    /// Consistent: ≥ 1 transaction, last ≥ first, a finite non-negative total.
    pub fn is_valid(&self) -> bool {
        self.transactions >= 1
            && self.last_day >= self.first_day
            && (self.transactions > 1 || self.last_day == self.first_day)
            && self.total.is_finite()
            && self.total >= 0.0
    }
}
