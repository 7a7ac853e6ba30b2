//! From a validated request to cleared imps: features → candidate bitsets → per-candidate
//! checks → scoring → auction. Synchronous, no IO, no locks: it reads one snapshot.
//!
//! Candidate bitsets are walked in dense-id order, which the index made descending
//! neutral eCPM; with the signal source's `max_boost` bound, selection stops as soon as no
//! remaining campaign could enter the top `imps + 2`. A request thus scores tens of
//! campaigns, not the thousands its targeting admits.

use crate::auction::{self, Candidate, Clearing, ImpAuction, Rules};
use crate::campaign::Campaign;
use crate::config::AuctionConfig;
use crate::features::{imp_features, request_features, ImpFeatures, RequestFeatures};
use crate::index::Snapshot;
use crate::scoring::{score, SignalSource};
use crate::screen::ExternalBid;
use crate::targeting::{check_request, pick_creative};
use bidder_sdk::openrtb::enums::auction_type;
use bidder_sdk::openrtb::BidRequest;
use fixedbitset::FixedBitSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Why an imp got no bid (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpNoBid {
    /// Only formats internal campaigns cannot fill (video, audio, unreadable native).
    UnservableFormat,
    /// The floor is in a currency without a known rate.
    FloorCurrencyUnknown,
    /// None of the request's allowed currencies has a known rate.
    CurrencyUnsupported,
    /// No campaign passed targeting.
    NoEligibleCampaign,
    /// Campaigns matched the targeting index but none could reach the floor (selection
    /// stops at the floor, so those below it are not checked one by one).
    BelowFloor,
    /// Eligible campaigns had all won other imps of this request.
    CampaignCapped,
    /// The winner's budget lease could not pay for the impression.
    BudgetExhausted,
}

impl ImpNoBid {
    /// Every value, for metric registration.
    pub const ALL: [ImpNoBid; 7] = [
        Self::UnservableFormat,
        Self::FloorCurrencyUnknown,
        Self::CurrencyUnsupported,
        Self::NoEligibleCampaign,
        Self::BelowFloor,
        Self::CampaignCapped,
        Self::BudgetExhausted,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnservableFormat => "unservable_format",
            Self::FloorCurrencyUnknown => "floor_currency_unknown",
            Self::CurrencyUnsupported => "currency_unsupported",
            Self::NoEligibleCampaign => "no_eligible_campaign",
            Self::BelowFloor => "below_floor",
            Self::CampaignCapped => "campaign_capped",
            Self::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// The currency the response is priced in.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceCurrency {
    /// ISO-4217 code.
    pub code: String,
    /// Units of it per unit of the exchange currency.
    pub rate: f64,
}

/// Everything decided for one request.
#[derive(Debug)]
pub struct Decision<'r> {
    /// The request id.
    pub request_id: &'r str,
    /// Request-level features.
    pub request: RequestFeatures<'r>,
    /// Per-imp features.
    pub imps: Vec<ImpFeatures<'r>>,
    /// Response currency, `None` when no allowed currency is convertible.
    pub currency: Option<PriceCurrency>,
    /// Auction type applied.
    pub auction_type: i32,
    /// Per-imp candidates (once cleared, the best ones lead, ranked).
    pub auctions: Vec<ImpAuction>,
    /// Per-imp result, in exchange currency.
    pub clearings: Vec<Option<Clearing>>,
    /// Per-imp no-bid reason where nothing cleared.
    pub no_bids: Vec<Option<ImpNoBid>>,
    /// Tie-break seed per imp.
    pub seeds: Vec<u64>,
    /// External bids admitted to the auction; external candidates index this.
    pub external: Vec<ExternalBid>,
    /// Auction rules applied.
    pub rules: Rules,
    /// Per imp: selection stopped at the floor (for the no-bid reason).
    floor_stops: Vec<bool>,
}

/// Per-request admission of campaigns beyond targeting: frequency caps, budget, pacing.
/// Asked once per campaign and request (memoised with the targeting checks).
pub trait Gate {
    /// Whether campaign `id` may bid on this request.
    fn admits(&self, id: usize, campaign: &Campaign) -> bool;

    /// Why campaign `id` is kept out, if it is (the debug view's label; not counted).
    fn why_not(&self, _id: usize, _campaign: &Campaign) -> Option<&'static str> {
        None
    }
}

/// Admits every campaign (no caps, no budgets: benches, tests, the debug replay).
#[derive(Debug, Clone, Copy, Default)]
pub struct Open;

impl Gate for Open {
    fn admits(&self, _id: usize, _campaign: &Campaign) -> bool {
        true
    }
}

/// Decides the auction for `request` on `snapshot`, internal campaigns only.
pub fn decide<'r, S: SignalSource>(
    request: &'r BidRequest,
    snapshot: &Snapshot,
    config: &AuctionConfig,
    signals: &S,
    now_unix: i64,
) -> Decision<'r> {
    let floors = imp_floors(request, config);
    let mut decision = prepare(request, &floors, snapshot, config, signals, now_unix, &Open);
    decision.clear();
    decision
}

/// Every imp's floor in the exchange currency, raised to the exchange floor; `None`
/// where the floor's currency has no known rate.
pub fn imp_floors(request: &BidRequest, config: &AuctionConfig) -> Vec<Option<f64>> {
    request
        .imp
        .iter()
        .map(|imp| floor_in_exchange_currency(imp, config))
        .collect()
}

/// Gathers the internal candidates of every imp, given their floors ([`imp_floors`]);
/// nothing is cleared yet (external bids may join with [`Decision::add_external`] before
/// [`Decision::clear`]). `gate` admits campaigns past targeting (caps, budgets).
pub fn prepare<'r, S: SignalSource, G: Gate>(
    request: &'r BidRequest,
    floors: &[Option<f64>],
    snapshot: &Snapshot,
    config: &AuctionConfig,
    signals: &S,
    now_unix: i64,
    gate: &G,
) -> Decision<'r> {
    let features = request_features(request, now_unix);
    let currency = response_currency(request, config);
    let auction_type = match request.at {
        Some(at @ (auction_type::FIRST_PRICE | auction_type::SECOND_PRICE)) => at,
        _ => config.auction.default_auction_type,
    };
    let rules = Rules {
        auction_type,
        min_increment: config.auction.min_increment,
        max_wins_per_campaign: config.auction.max_wins_per_campaign,
    };
    let imps: Vec<ImpFeatures<'r>> = request
        .imp
        .iter()
        .zip(floors)
        .map(|(imp, floor)| imp_features(imp, *floor, snapshot))
        .collect();
    let seeds: Vec<u64> = request
        .imp
        .iter()
        .map(|imp| seed(&request.id, &imp.id))
        .collect();

    let mut auctions: Vec<ImpAuction> = Vec::with_capacity(imps.len());
    let mut floor_stops: Vec<bool> = Vec::with_capacity(imps.len());
    if currency.is_some() {
        let request_mask = request_mask(snapshot, &features);
        let mut memo = RequestCheckMemo::new(snapshot.len(), imps.len());
        let mut imp_mask = FixedBitSet::with_capacity(snapshot.len());
        // Candidates that can still matter per imp: the winner, the runner-up, and one for
        // each campaign earlier imps may have capped (see `auction::run`).
        let needed = imps.len() + 2;
        let max_boost = signals.max_boost();
        for (imp, &seed) in imps.iter().zip(&seeds) {
            let mut candidates = Vec::new();
            let mut stopped_at_floor = false;
            let mut best = TopValues::new(needed);
            if !imp.floor_currency_unknown {
                format_mask(snapshot, imp, &mut imp_mask);
                imp_mask.intersect_with(&request_mask);
                for id in imp_mask.ones() {
                    // Ids run in descending neutral eCPM: once even the maximum boost cannot
                    // lift this campaign to the floor or past the k-th best, none after can.
                    let reachable = snapshot.base_ecpm[id] * max_boost;
                    if reachable < imp.floor {
                        stopped_at_floor = true;
                        break;
                    }
                    if best.full_above(reachable) {
                        break;
                    }
                    let campaign = &snapshot.campaigns[id];
                    if !memo.passes(id, || {
                        check_request(campaign, &features).is_ok()
                            && signals.exclusion(id, campaign).is_none()
                            && gate.admits(id, campaign)
                    }) {
                        continue;
                    }
                    let Ok(creative) = pick_creative(campaign, imp) else {
                        continue;
                    };
                    let scored = score(campaign, signals.signals(id, campaign));
                    if scored.ecpm >= imp.floor {
                        best.offer(scored.ecpm);
                    }
                    candidates.push(Candidate {
                        external: false,
                        campaign: id as u32,
                        creative,
                        ecpm: scored.ecpm,
                        tiebreak: auction::mix(seed ^ id as u64),
                    });
                }
            }
            floor_stops.push(stopped_at_floor);
            auctions.push(ImpAuction {
                floor: imp.floor,
                candidates,
            });
        }
    } else {
        floor_stops.resize(imps.len(), false);
        auctions.extend(imps.iter().map(|imp| ImpAuction {
            floor: imp.floor,
            candidates: Vec::new(),
        }));
    }
    Decision {
        request_id: &request.id,
        request: features,
        imps,
        currency,
        auction_type,
        auctions,
        clearings: Vec::new(),
        no_bids: Vec::new(),
        seeds,
        external: Vec::new(),
        rules,
        floor_stops,
    }
}

impl Decision<'_> {
    /// Adds screened external bids as candidates of their imps.
    pub fn add_external(&mut self, bids: Vec<ExternalBid>) {
        for bid in bids {
            let index = self.external.len() as u32;
            if let Some(auction) = self.auctions.get_mut(bid.imp) {
                auction.candidates.push(Candidate {
                    external: true,
                    campaign: index,
                    creative: 0,
                    ecpm: bid.ecpm,
                    tiebreak: auction::mix(self.seeds[bid.imp] ^ (1 << 40 | u64::from(index))),
                });
            }
            self.external.push(bid);
        }
    }

    /// Runs the auction of every imp and records why imps went unfilled.
    pub fn clear(&mut self) {
        self.clearings = auction::run(&mut self.auctions, &self.rules);
        let currency_known = self.currency.is_some();
        self.no_bids = self
            .imps
            .iter()
            .zip(&self.auctions)
            .zip(&self.clearings)
            .zip(&self.floor_stops)
            .map(|(((imp, auction), clearing), &stopped_at_floor)| {
                if clearing.is_some() {
                    None
                } else if !currency_known {
                    Some(ImpNoBid::CurrencyUnsupported)
                } else if imp.floor_currency_unknown {
                    Some(ImpNoBid::FloorCurrencyUnknown)
                } else if auction.candidates.iter().all(|c| c.ecpm < auction.floor)
                    && (stopped_at_floor || !auction.candidates.is_empty())
                {
                    Some(ImpNoBid::BelowFloor)
                } else if !imp.has_servable_format() && auction.candidates.is_empty() {
                    Some(ImpNoBid::UnservableFormat)
                } else if auction.candidates.is_empty() {
                    Some(ImpNoBid::NoEligibleCampaign)
                } else {
                    Some(ImpNoBid::CampaignCapped)
                }
            })
            .collect();
    }

    /// The external bid behind a candidate, if it is one.
    pub fn external_of(&self, candidate: &Candidate) -> Option<&ExternalBid> {
        candidate
            .external
            .then(|| self.external.get(candidate.campaign as usize))
            .flatten()
    }
}

/// Campaigns passing every bitset dimension for this request.
fn request_mask(snapshot: &Snapshot, features: &RequestFeatures<'_>) -> FixedBitSet {
    let mut mask = snapshot.active.clone();
    let mut scratch = FixedBitSet::with_capacity(snapshot.len());
    snapshot
        .country
        .mask_into(features.country.as_deref(), &mut scratch);
    mask.intersect_with(&scratch);
    snapshot
        .device_type
        .mask_into(features.device_type.as_ref(), &mut scratch);
    mask.intersect_with(&scratch);
    snapshot.os.mask_into(features.os.as_deref(), &mut scratch);
    mask.intersect_with(&scratch);
    snapshot
        .language
        .mask_into(features.languages.iter().map(String::as_str), &mut scratch);
    mask.intersect_with(&scratch);
    snapshot
        .keyword
        .mask_into(features.keywords.iter().map(String::as_str), &mut scratch);
    mask.intersect_with(&scratch);
    mask
}

/// Campaigns with a creative of a format this imp allows.
fn format_mask(snapshot: &Snapshot, imp: &ImpFeatures<'_>, mask: &mut FixedBitSet) {
    mask.clear();
    for size in &imp.banner_sizes {
        snapshot.banner_size.union_key(size, mask);
    }
    if imp.banner_any_size {
        mask.union_with(&snapshot.any_banner);
    }
    if imp.native.is_some() {
        mask.union_with(&snapshot.any_native);
    }
}

/// The `k` highest values offered so far (k is small: imps + 2).
struct TopValues {
    k: usize,
    values: Vec<f64>,
}

impl TopValues {
    fn new(k: usize) -> Self {
        Self {
            k,
            values: Vec::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, value: f64) {
        let at = self.values.partition_point(|v| *v >= value);
        if at < self.k {
            self.values.insert(at, value);
            self.values.truncate(self.k);
        }
    }

    /// Whether `k` values are held and the lowest of them beats `bound` outright (equal
    /// values still compete on the tie-break).
    fn full_above(&self, bound: f64) -> bool {
        self.values.len() == self.k && self.values[self.k - 1] > bound
    }
}

/// Remembers request-level check results across the imps of one request. A single-imp
/// request (the common case) never asks twice, so it gets no memo and allocates nothing.
struct RequestCheckMemo {
    bits: Option<(FixedBitSet, FixedBitSet)>,
}

impl RequestCheckMemo {
    fn new(campaigns: usize, imps: usize) -> Self {
        let bitset = || FixedBitSet::with_capacity(campaigns);
        Self {
            bits: (imps > 1).then(|| (bitset(), bitset())),
        }
    }

    fn passes(&mut self, id: usize, check: impl FnOnce() -> bool) -> bool {
        let Some((checked, passed)) = &mut self.bits else {
            return check();
        };
        if !checked.put(id) {
            passed.set(id, check());
        }
        passed.contains(id)
    }
}

/// The response currency: the exchange's own when allowed, else the first allowed one
/// with a known rate.
fn response_currency(request: &BidRequest, config: &AuctionConfig) -> Option<PriceCurrency> {
    if request.cur.is_empty()
        || request
            .cur
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&config.currency))
    {
        return Some(PriceCurrency {
            code: config.currency.clone(),
            rate: 1.0,
        });
    }
    request.cur.iter().find_map(|code| {
        config.rate_of(code).map(|rate| PriceCurrency {
            code: code.clone(),
            rate,
        })
    })
}

/// The imp's floor in the exchange currency, raised to the exchange floor; `None` when
/// the floor's currency is unknown.
fn floor_in_exchange_currency(
    imp: &bidder_sdk::openrtb::Imp,
    config: &AuctionConfig,
) -> Option<f64> {
    let floor = imp.bidfloor.unwrap_or(0.0);
    let converted = if floor > 0.0 {
        // OpenRTB's default floor currency is USD.
        let code = imp.bidfloorcur.as_deref().unwrap_or("USD");
        floor / config.rate_of(code)?
    } else {
        0.0
    };
    Some(converted.max(config.auction.floor_cpm))
}

fn seed(request_id: &str, imp_id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    request_id.hash(&mut hasher);
    imp_id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests;
