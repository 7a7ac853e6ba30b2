//! What a request is served from, as one value: the campaign snapshot (with the lexicon
//! built into it), the LTV model, the pacer table of that snapshot, the rates learned for
//! it, and its trend counters and lifts. Built together off the request path (at start, after every reload of campaigns,
//! lexicon or model, after every count of outcomes ([`learning`]) and every fold of
//! trending topics ([`trending`])) and
//! swapped in whole; a request loads it once and passes it down, so it never mixes two
//! versions and never takes a lock.

pub mod learning;
pub mod model_file;
pub mod refresh;
pub mod reload;
pub mod snapshots;
pub mod trending;

use crate::admission::budgets::PacerTable;
use crate::index::Snapshot;
use crate::ltv::train::LtvModel;
use std::sync::Arc;

/// The serving set.
#[derive(Debug)]
pub struct Serving {
    /// Campaigns, their index and the context index.
    pub snapshot: Arc<Snapshot>,
    /// The LTV model, if one is configured and loaded.
    pub model: Option<Arc<LtvModel>>,
    /// The budget pacer of each campaign of `snapshot` (by dense id).
    pub pacers: Arc<PacerTable>,
    /// pCTR and pCVR learned from outcomes, for `snapshot`'s campaigns.
    pub learned: Arc<crate::learning::LearnedRates>,
    /// Where requests count the page topics they read (`snapshot`'s vocabulary).
    pub topics: Arc<trending::TopicCounters>,
    /// The lift trending topics give `snapshot`'s campaigns.
    pub trends: Arc<crate::trends::TrendLifts>,
}
