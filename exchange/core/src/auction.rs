//! The auction proper: pure ranking and pricing, no IO, never awaits.
//!
//! Per imp, candidates are ranked by eCPM (ties broken by a per-request hash, so equal
//! bids rotate across requests yet the same request always gets the same answer). Imps
//! are cleared in request order; a campaign may win at most `max_wins_per_campaign`
//! imps of one request. First price charges the winner its eCPM; second price charges
//! the runner-up's eCPM plus one increment, at least the floor, never above the winner's
//! eCPM. Prices are rounded to the nearest micro-unit within those bounds.

use bidder_sdk::openrtb::enums::auction_type;

/// Where a candidate comes from. Ordered (campaigns first, then by id) for the last
/// tie-break of [`rank_order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// One of the exchange's campaigns, with the creative chosen for the imp.
    Campaign {
        /// Dense campaign id in the snapshot.
        id: u32,
        /// Creative index within the campaign.
        creative: u16,
    },
    /// An external bidder's bid (not subject to the per-campaign win limit).
    External {
        /// Index in the request's admitted external bids.
        index: u32,
    },
}

impl Candidate {
    /// What candidates rank by: eCPM × quality.
    pub fn rank(&self) -> f64 {
        self.ecpm * self.quality
    }
}

impl Source {
    /// The dense campaign id, if this is a campaign.
    pub fn campaign(self) -> Option<u32> {
        match self {
            Self::Campaign { id, .. } => Some(id),
            Self::External { .. } => None,
        }
    }

    /// The external bid's index, if this is one.
    pub fn external(self) -> Option<u32> {
        match self {
            Self::External { index } => Some(index),
            Self::Campaign { .. } => None,
        }
    }
}

/// One campaign's best creative for one imp, scored; or one external bid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Campaign (and creative) or external bid.
    pub source: Source,
    /// Expected value per thousand impressions.
    pub ecpm: f64,
    /// Ranking weight in (0, 1]: candidates rank by `ecpm × quality` (contextual quality
    /// of an internal campaign; 1 for external bids and when the weight is off).
    pub quality: f64,
    /// Tie-break key: higher wins among equal eCPMs.
    pub tiebreak: u64,
    /// What the campaign pays per event at this score: per click for CPC (bid × tier
    /// multiplier), the commission rate for CPS (its LTV tier's); 0 for CPM and external
    /// bids. Stamped into the winner's click URL.
    pub event_rate: f64,
}

/// The candidates of one imp (after [`run`], the best ones lead, ranked).
#[derive(Debug, Clone, Default)]
pub struct ImpAuction {
    /// Effective floor CPM.
    pub floor: f64,
    /// Candidates, any order, at most one per campaign.
    pub candidates: Vec<Candidate>,
}

/// Auction parameters for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// 1 = first price, 2 = second price.
    pub auction_type: i32,
    /// Second-price increment.
    pub min_increment: f64,
    /// Imps one campaign may win per request.
    pub max_wins_per_campaign: u32,
}

/// The result of one imp's auction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clearing {
    /// The winning candidate.
    pub winner: Candidate,
    /// Price charged (CPM).
    pub price: f64,
    /// Rank (eCPM × quality) of the runner-up, if any.
    pub runner_up: Option<f64>,
}

/// Ranks every imp's candidates (best first) and clears the imps in order.
pub fn run(imps: &mut [ImpAuction], rules: &Rules) -> Vec<Option<Clearing>> {
    let mut wins: Vec<(u32, u32)> = Vec::new();
    // Imp `j` can find at most `j` campaigns capped by earlier imps, so the best
    // `imps + 2` candidates always hold its winner and runner-up: select those in linear
    // time and sort only them, instead of sorting thousands of candidates.
    let needed = imps.len() + 2;
    imps.iter_mut()
        .map(|imp| {
            rank_top(&mut imp.candidates, needed);
            let wins_of = |wins: &[(u32, u32)], id: u32| {
                wins.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n)
            };
            let mut eligible = imp.candidates.iter().filter(|c| {
                c.ecpm >= imp.floor
                    && c.source
                        .campaign()
                        .is_none_or(|id| wins_of(&wins, id) < rules.max_wins_per_campaign)
            });
            let winner = *eligible.next()?;
            let runner_up = eligible.next().map(Candidate::rank);
            if let Some(id) = winner.source.campaign() {
                match wins.iter_mut().find(|(c, _)| *c == id) {
                    Some((_, n)) => *n += 1,
                    None => wins.push((id, 1)),
                }
            }
            Some(Clearing {
                winner,
                price: price(&winner, runner_up, imp.floor, rules),
                runner_up,
            })
        })
        .collect()
}

/// Moves the best `k` candidates to the front, sorted best first; the rest follow in
/// no particular order.
pub fn rank_top(candidates: &mut [Candidate], k: usize) {
    if candidates.len() > k {
        candidates.select_nth_unstable_by(k, rank_order);
        candidates[..k].sort_unstable_by(rank_order);
    } else {
        candidates.sort_unstable_by(rank_order);
    }
}

/// Best first: higher rank (eCPM × quality), then higher tie-break, then lower ids (total
/// order).
pub fn rank_order(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.rank()
        .total_cmp(&a.rank())
        .then(b.tiebreak.cmp(&a.tiebreak))
        .then(a.source.cmp(&b.source))
}

/// What the winner pays (CPM): first price its eCPM; second price the least eCPM whose
/// rank would still beat the runner-up's (`(runner-up rank + increment) / quality`), never
/// below the floor nor above its eCPM. With quality 1 this is the runner-up's eCPM plus
/// the increment.
fn price(winner: &Candidate, runner_up: Option<f64>, floor: f64, rules: &Rules) -> f64 {
    let ecpm = winner.ecpm;
    let raw = if rules.auction_type == auction_type::FIRST_PRICE {
        ecpm
    } else {
        let contested = runner_up.map_or(rules.min_increment, |r| r + rules.min_increment);
        let quality = winner.quality.clamp(f64::MIN_POSITIVE, 1.0);
        (contested / quality).max(floor).min(ecpm)
    };
    // Nearest micro-unit (2.0 + 0.01 is 2.0099999999999998 in binary), then back inside
    // [floor, eCPM] should rounding have crossed either bound; eCPM ≥ floor holds.
    let rounded = (raw * 1e6).round() / 1e6;
    rounded.min(ecpm).max(floor)
}

/// A well-mixed 64-bit hash step (splitmix64 finaliser), for tie-break keys.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Micros a win at `price` (CPM, exchange currency) takes from its campaign's budget.
pub fn charged_micros(price: f64) -> i64 {
    (price * 1000.0).round() as i64
}

#[cfg(test)]
mod tests;
