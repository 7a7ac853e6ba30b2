//! The affiliate loop's counters that live in the exchange's state (rendered in
//! `/metrics` by `admin::scrape::affiliate`): clicks refused at the door, order reports by
//! outcome. The click writer's own counters are `click_log::ClickStats`.

use crate::notice::Rejection;
use exchange_core::orders::{HoldReason, Unattributed};
use std::sync::atomic::AtomicU64;

/// Counts of refused clicks, by [`Rejection`] (in [`Rejection::ALL`] order).
#[derive(Debug, Default)]
pub struct RefusedClicks(pub [std::sync::atomic::AtomicU64; Rejection::ALL.len()]);

/// Counters of the order path (rendered in `/metrics`).
#[derive(Debug, Default)]
pub struct OrderStats {
    /// Reports applied, attributed.
    pub attributed: AtomicU64,
    /// Reports applied, not attributed, by reason ([`Unattributed::ALL`] order).
    pub unattributed: [AtomicU64; Unattributed::ALL.len()],
    /// Reports refused, by [`REFUSALS`] order.
    pub refused: [AtomicU64; REFUSALS.len()],
    /// Line transitions written.
    pub transitions: AtomicU64,
    /// Orders held, by rule ([`HoldReason::ALL`] order; an order breaking two counts in both).
    pub holds: [AtomicU64; HoldReason::ALL.len()],
    /// Operators' decisions on held orders: cleared, confirmed.
    pub decisions: [AtomicU64; 2],
}

/// Why a report is refused (metric labels).
pub const REFUSALS: [&str; 6] = [
    "unauthenticated",
    "invalid",
    "conflict",
    "too_large",
    "unavailable",
    "no_database",
];
