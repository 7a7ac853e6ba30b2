//! Admission past targeting, per request: frequency caps (from the one counter read) and
//! budgets and pacing (from the local leases). No IO: the read already happened.
//! After the auction, [`charge_winners`] takes each internal win's price from its lease.

pub mod budgets;
pub mod caps;

use crate::campaign::Campaign;
use crate::decision::{Decision, Gate, ImpNoBid};
use budgets::{PacerTable, PacingStats, THROTTLE_SCALE};
use caps::{CapRead, CapStats};
use std::sync::atomic::Ordering::Relaxed;

/// The gate of one request.
#[derive(Debug)]
pub struct RequestGate<'a> {
    /// What the counter read found.
    pub caps: &'a CapRead,
    /// Pacers of the snapshot being served.
    pub pacers: &'a PacerTable,
    /// Now, unix seconds (cap windows) and ms (lease validity).
    pub now_unix: i64,
    /// Now, unix ms.
    pub now_ms: i64,
    /// Per-request seed of the throttle draws.
    pub seed: u64,
    /// Where cap exclusions are counted.
    pub cap_stats: &'a CapStats,
    /// Where pacing exclusions are counted.
    pub pacing_stats: &'a PacingStats,
}

impl RequestGate<'_> {
    fn draw(&self, id: usize) -> u32 {
        (crate::auction::mix(self.seed ^ (id as u64).rotate_left(32)) % u64::from(THROTTLE_SCALE))
            as u32
    }
}

impl Gate for RequestGate<'_> {
    fn admits(&self, id: usize, campaign: &Campaign) -> Result<(), &'static str> {
        if let Err(block) = caps::admits(campaign, self.caps, self.now_unix) {
            self.cap_stats.block(block);
            return Err(block.as_str());
        }
        let Some(pacer) = self.pacers.get(id) else {
            return Ok(());
        };
        pacer.admits(self.now_ms, self.draw(id)).map_err(|block| {
            self.pacing_stats.block(block);
            block.as_str()
        })
    }
}

pub use crate::auction::charged_micros;

/// Charges every internal win to its campaign's lease (price per impression = clearing
/// CPM / 1000, in micros). A win the lease cannot pay is withdrawn: the imp goes unfilled
/// with [`ImpNoBid::BudgetExhausted`].
pub fn charge_winners(decision: &mut Decision<'_>, pacers: &PacerTable, stats: &PacingStats) {
    for (clearing, no_bid) in decision.clearings.iter_mut().zip(&mut decision.no_bids) {
        let Some(won) = clearing else { continue };
        let Some(id) = won.winner.source.campaign() else {
            continue;
        };
        let Some(pacer) = pacers.get(id as usize) else {
            continue;
        };
        let micros = charged_micros(won.price);
        if pacer.charge(micros) {
            stats.charged.fetch_add(1, Relaxed);
        } else {
            stats.charge_refused.fetch_add(1, Relaxed);
            *clearing = None;
            *no_bid = Some(ImpNoBid::BudgetExhausted);
        }
    }
}
