//! The debug view: for each imp, every campaign with its eCPM and the reason it was
//! filtered or lost. Answers "why didn't my campaign win?". Built from the decision's own
//! [`Trace`] (the decision looks at every campaign when traced), so it reports what the
//! auction did, with the reason labels the metrics use. Only served when the config
//! allows it.

use crate::config::BidderTerms;
use crate::decision::{Decision, Fate, Trace};
use crate::index::Snapshot;
use crate::screen::DroppedBid;
use crate::signals::{AuctionSignals, SignalReport};
use crate::targeting::FilterReason;
use serde::Serialize;
use std::collections::BTreeMap;

/// Most candidate rows listed per imp; the rest are only counted.
pub const MAX_DEBUG_ROWS: usize = 500;

/// The debug document placed in `ext.debug` of the response.
#[derive(Debug, Serialize)]
pub struct DebugView {
    /// Snapshot the auction ran on.
    pub snapshot_version: u64,
    /// Auction type applied.
    pub auction_type: i32,
    /// Response currency, if any.
    pub currency: Option<String>,
    /// `tmax` honoured, ms.
    pub tmax_ms: u64,
    /// What the page said: terms (with weight), lexicon expansions, categories.
    pub page: PageDebug,
    /// One entry per imp.
    pub imps: Vec<ImpDebug>,
}

/// The page as the contextual engine read it.
#[derive(Debug, Serialize)]
pub struct PageDebug {
    /// Terms with their signal weight.
    pub terms: Vec<(String, f32)>,
    /// Terms the lexicon added, with the rule's weight.
    pub expansions: Vec<(String, f32)>,
    /// IAB 1.0 categories.
    pub categories: Vec<String>,
}

/// The debug rows of one imp.
#[derive(Debug, Serialize)]
pub struct ImpDebug {
    /// Imp id.
    pub impid: String,
    /// Floor in exchange currency.
    pub floor: f64,
    /// Why nothing won, if nothing did.
    pub no_bid_reason: Option<&'static str>,
    /// How many campaigns were filtered, by reason.
    pub filtered: BTreeMap<&'static str, usize>,
    /// Scored candidates (and filtered ones, up to the row cap), best first.
    pub candidates: Vec<CandidateDebug>,
    /// Rows left out by the cap.
    pub truncated: usize,
}

/// One campaign's fate on one imp.
#[derive(Debug, Serialize)]
pub struct CandidateDebug {
    /// Campaign id.
    pub campaign: String,
    /// Creative id, when one fitted.
    pub creative: Option<String>,
    /// `won`, `lost` or `filtered`.
    pub status: &'static str,
    /// Reason it lost or was filtered.
    pub reason: Option<&'static str>,
    /// Pricing model.
    pub model: &'static str,
    /// eCPM (scored candidates).
    pub ecpm: Option<f64>,
    /// Predicted CTR.
    pub pctr: Option<f64>,
    /// Predicted CVR.
    pub pcvr: Option<f64>,
    /// Commission rate applied (CPS; an LTV tier's when one applies).
    pub commission_rate: Option<f64>,
    /// Bid multiplier applied (an LTV tier's for CPM/CPC, else 1).
    pub bid_multiplier: Option<f64>,
    /// Relevance and its parts, pCTR lift, predicted LTV (P(alive), expected purchases,
    /// order value) and the tier applied.
    #[serde(flatten)]
    pub signals: Option<SignalReport>,
    /// Price charged (winner).
    pub price: Option<f64>,
}

/// Builds the debug view of a decision from its [`Trace`]: each campaign's fate as the
/// decision met it, and the clearing's winners and prices.
pub fn build(
    decision: &Decision<'_>,
    trace: &Trace,
    snapshot: &Snapshot,
    signals: &AuctionSignals<'_>,
    tmax_ms: u64,
) -> DebugView {
    let max_wins = decision.rules.max_wins_per_campaign;
    let mut wins: BTreeMap<u32, u32> = BTreeMap::new();
    for clearing in decision.clearings.iter().flatten() {
        if let Some(id) = clearing.winner.source.campaign() {
            *wins.entry(id).or_default() += 1;
        }
    }
    let no_fates = Vec::new();
    let imps = decision
        .imps
        .iter()
        .enumerate()
        .map(|(index, imp)| {
            let clearing = decision.clearings.get(index).copied().flatten();
            let mut filtered = BTreeMap::new();
            let mut rows = Vec::new();
            let mut filtered_rows = Vec::new();
            for (id, fate) in trace.imps.get(index).unwrap_or(&no_fates) {
                let id = *id;
                let campaign = &snapshot.campaigns[id as usize];
                match fate {
                    Fate::Scored { creative, score } => {
                        let won = clearing.is_some_and(|c| c.winner.source.campaign() == Some(id));
                        let reason = if won {
                            None
                        } else if score.ecpm < imp.floor {
                            Some(FilterReason::BelowFloor)
                        } else if wins.get(&id).is_some_and(|n| *n >= max_wins) {
                            Some(FilterReason::CampaignCapped)
                        } else {
                            Some(FilterReason::Outbid)
                        };
                        rows.push(CandidateDebug {
                            campaign: campaign.id.clone(),
                            creative: Some(campaign.creatives[usize::from(*creative)].id.clone()),
                            status: if won { "won" } else { "lost" },
                            reason: reason.map(FilterReason::as_str),
                            model: campaign.pricing.model(),
                            ecpm: Some(score.ecpm),
                            pctr: Some(score.pctr),
                            pcvr: Some(score.pcvr),
                            commission_rate: score.commission_rate,
                            bid_multiplier: Some(score.bid_multiplier),
                            signals: Some(signals.report(id as usize, campaign)),
                            price: clearing.filter(|_| won).map(|c| c.price),
                        });
                    }
                    Fate::Excluded(label) => {
                        *filtered.entry(*label).or_default() += 1;
                        filtered_rows.push(CandidateDebug {
                            campaign: campaign.id.clone(),
                            creative: None,
                            status: "filtered",
                            reason: Some(label),
                            model: campaign.pricing.model(),
                            ecpm: None,
                            pctr: None,
                            pcvr: None,
                            commission_rate: None,
                            bid_multiplier: None,
                            signals: None,
                            price: None,
                        });
                    }
                }
            }
            rows.sort_by(|a, b| {
                let rank = |r: &CandidateDebug| {
                    (
                        r.status != "won",
                        std::cmp::Reverse(r.ecpm.map(f64::to_bits)),
                    )
                };
                rank(a).cmp(&rank(b))
            });
            rows.extend(filtered_rows);
            let truncated = rows.len().saturating_sub(MAX_DEBUG_ROWS);
            rows.truncate(MAX_DEBUG_ROWS);
            ImpDebug {
                impid: imp.imp.id.clone(),
                floor: imp.floor,
                no_bid_reason: decision.no_bids[index].map(|r| r.as_str()),
                filtered,
                candidates: rows,
                truncated,
            }
        })
        .collect();
    DebugView {
        snapshot_version: snapshot.version,
        auction_type: decision.auction_type,
        currency: decision.currency.as_ref().map(|c| c.code.clone()),
        tmax_ms,
        page: PageDebug {
            terms: signals.context().page.terms.clone(),
            expansions: signals.context().page.expansions.clone(),
            categories: signals
                .context()
                .page
                .categories
                .iter()
                .map(|c| match c.tier2 {
                    Some(t2) => format!("IAB{}-{t2}", c.tier1),
                    None => format!("IAB{}", c.tier1),
                })
                .collect(),
        },
        imps,
    }
}

/// One external bid's fate, for the debug view.
#[derive(Debug, Serialize)]
pub struct ExternalDebug {
    /// Bidder name.
    pub bidder: String,
    /// The bidder's bid id.
    pub bid: String,
    /// Imp id.
    pub impid: String,
    /// `won`, `lost` or `dropped`.
    pub status: &'static str,
    /// Drop reason (dropped bids).
    pub reason: Option<&'static str>,
    /// eCPM in the exchange currency, adjusted (admitted bids).
    pub ecpm: Option<f64>,
    /// Price charged, exchange currency (winner).
    pub price: Option<f64>,
}

/// Every external bid of a decision and what became of it.
pub fn external(
    decision: &Decision<'_>,
    dropped: &[DroppedBid],
    bidders: &[BidderTerms],
) -> Vec<ExternalDebug> {
    let name = |index: usize| {
        bidders
            .get(index)
            .map_or("?", |b| b.name.as_str())
            .to_owned()
    };
    let mut rows: Vec<ExternalDebug> = decision
        .external
        .iter()
        .enumerate()
        .map(|(index, bid)| {
            let clearing = decision
                .clearings
                .iter()
                .flatten()
                .find(|c| c.winner.source.external() == Some(index as u32));
            ExternalDebug {
                bidder: name(bid.bidder),
                bid: bid.bid.id.clone(),
                impid: bid.bid.impid.clone(),
                status: if clearing.is_some() { "won" } else { "lost" },
                reason: None,
                ecpm: Some(bid.ecpm),
                price: clearing.map(|c| c.price),
            }
        })
        .collect();
    rows.extend(dropped.iter().map(|d| ExternalDebug {
        bidder: name(d.bidder),
        bid: d.bid_id.clone(),
        impid: d.imp_id.clone(),
        status: "dropped",
        reason: Some(d.reason.as_str()),
        ecpm: None,
        price: None,
    }));
    rows
}
