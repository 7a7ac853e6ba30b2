//! From a validated request to cleared imps: features → candidate bitsets → per-candidate
//! checks → scoring → auction. Synchronous, no IO, no locks: it reads one snapshot.
//!
//! Candidate bitsets are walked in dense-id order, which the index made descending
//! neutral eCPM; with the signal source's `max_boost` bound, selection stops as soon as no
//! remaining campaign could enter the top `imps + 2`. A request thus scores tens of
//! campaigns, not the thousands its targeting admits.

use crate::auction::{self, Candidate, Clearing, ImpAuction, Rules, Source};
use crate::campaign::Campaign;
use crate::config::AuctionConfig;
use crate::features::{imp_features, request_features, ImpFeatures, RequestFeatures};
use crate::index::Snapshot;
use crate::scoring::{score, SignalSource};
use crate::screen::ExternalBid;
use crate::targeting::{check_request, mask_reason, pick_creative, FilterReason};
use bidder_sdk::openrtb::enums::auction_type;
use bidder_sdk::openrtb::BidRequest;
use fixedbitset::FixedBitSet;
pub use observe::{Fate, Observer, Trace, Unobserved};
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
    /// Whether campaign `id` may bid on this request; if not, why (a stable label shared
    /// by the debug view and the metrics, which the gate counts).
    fn admits(&self, id: usize, campaign: &Campaign) -> Result<(), &'static str>;
}

/// Admits every campaign (no caps, no budgets: benches, tests, the debug replay).
#[derive(Debug, Clone, Copy, Default)]
pub struct Open;

impl Gate for Open {
    fn admits(&self, _id: usize, _campaign: &Campaign) -> Result<(), &'static str> {
        Ok(())
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
    let inputs = Inputs {
        snapshot,
        config,
        signals,
        now_unix,
        gate,
    };
    prepare_observed(request, floors, inputs, &mut Unobserved)
}

/// What a decision reads besides the request: the snapshot, the settings, the signal
/// source, the clock and the request's gate.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a, S, G> {
    /// Campaigns and their index.
    pub snapshot: &'a Snapshot,
    /// The auction's settings.
    pub config: &'a AuctionConfig,
    /// Relevance, LTV and other per-campaign signals.
    pub signals: &'a S,
    /// Now, unix seconds.
    pub now_unix: i64,
    /// Caps and budgets.
    pub gate: &'a G,
}

/// [`prepare`], reporting each campaign's fate on each imp to `observer` (see
/// [`observe`]): the same decision, told as it is made.
pub fn prepare_observed<'r, S: SignalSource, G: Gate, O: Observer>(
    request: &'r BidRequest,
    floors: &[Option<f64>],
    inputs: Inputs<'_, S, G>,
    observer: &mut O,
) -> Decision<'r> {
    let Inputs {
        snapshot,
        config,
        signals,
        now_unix,
        gate,
    } = inputs;
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
    let every = observer.wants_every_campaign();

    let mut auctions: Vec<ImpAuction> = Vec::with_capacity(imps.len());
    let mut floor_stops: Vec<bool> = Vec::with_capacity(imps.len());
    if currency.is_some() {
        let request_mask = request_mask(snapshot, &features);
        let mut memo = RequestCheckMemo::new(snapshot.len(), imps.len(), every);
        let mut imp_mask = FixedBitSet::with_capacity(snapshot.len());
        // Candidates that can still matter per imp: the winner, the runner-up, and one for
        // each campaign earlier imps may have capped (see `auction::run`).
        let needed = imps.len() + 2;
        let max_boost = signals.max_boost();
        for (index, (imp, &seed)) in imps.iter().zip(&seeds).enumerate() {
            let mut candidates = Vec::new();
            let mut stopped_at_floor = false;
            let mut best = TopValues::new(needed);
            if imp.floor_currency_unknown {
                report_all(observer, index, snapshot.len(), "floor_currency_unknown");
            } else {
                format_mask(snapshot, imp, &mut imp_mask);
                if every {
                    report_masked(
                        observer,
                        index,
                        snapshot,
                        &features,
                        &request_mask,
                        &imp_mask,
                    );
                }
                imp_mask.intersect_with(&request_mask);
                for id in imp_mask.ones() {
                    // Ids run in descending neutral eCPM: once even the maximum boost cannot
                    // lift this campaign to the floor or past the k-th best rank, none after
                    // can (a rank is eCPM × quality, quality ≤ 1).
                    let reachable = snapshot.base_ecpm[id] * max_boost;
                    if reachable < imp.floor {
                        stopped_at_floor = true;
                        if !every {
                            break;
                        }
                    }
                    if !every && best.full_above(reachable) {
                        break;
                    }
                    // Ranks are eCPM × quality: a campaign whose own boost, then whose quality,
                    // cannot lift it into the best found is skipped unscored (later ones may
                    // still fit better).
                    if !every && best.is_full() {
                        let own = reachable * signals.boost_share(id);
                        if best.full_above(own) || best.full_above(own * signals.quality_bound(id))
                        {
                            continue;
                        }
                    }
                    let campaign = &snapshot.campaigns[id];
                    let admitted = memo.passes(id, || {
                        check_request(campaign, &features).map_err(FilterReason::as_str)?;
                        if let Some(exclusion) = signals.exclusion(id, campaign) {
                            return Err(exclusion.as_str());
                        }
                        gate.admits(id, campaign)
                    });
                    let creative = admitted
                        .and_then(|()| pick_creative(campaign, imp).map_err(FilterReason::as_str));
                    let creative = match creative {
                        Ok(creative) => creative,
                        Err(reason) => {
                            observer.excluded(index, id as u32, reason);
                            continue;
                        }
                    };
                    let adjustments = signals.signals(id, campaign);
                    let scored = score(campaign, adjustments);
                    observer.scored(index, id as u32, creative, &scored);
                    let quality = adjustments.quality.clamp(f64::MIN_POSITIVE, 1.0);
                    if scored.ecpm >= imp.floor {
                        best.offer(scored.ecpm * quality);
                    }
                    candidates.push(Candidate {
                        source: Source::Campaign {
                            id: id as u32,
                            creative,
                        },
                        ecpm: scored.ecpm,
                        quality,
                        tiebreak: auction::mix(seed ^ id as u64),
                        event_rate: scored.event_rate(campaign),
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
        for index in 0..imps.len() {
            report_all(observer, index, snapshot.len(), "currency_unsupported");
        }
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

/// Reports every campaign as left out of imp `imp` for `reason` (observers that want
/// every campaign only).
fn report_all<O: Observer>(observer: &mut O, imp: usize, campaigns: usize, reason: &'static str) {
    if observer.wants_every_campaign() {
        for id in 0..campaigns as u32 {
            observer.excluded(imp, id, reason);
        }
    }
}

/// Reports the campaigns the targeting bitsets leave out of imp `imp`, each with the
/// dimension that excludes it (the same index the masks were built from).
fn report_masked<O: Observer>(
    observer: &mut O,
    imp: usize,
    snapshot: &Snapshot,
    features: &RequestFeatures<'_>,
    request_mask: &FixedBitSet,
    format_mask: &FixedBitSet,
) {
    for id in 0..snapshot.len() {
        if !request_mask.contains(id) {
            let reason = mask_reason(snapshot, id as u32, features)
                .err()
                .map_or("targeting", FilterReason::as_str);
            observer.excluded(imp, id as u32, reason);
        } else if !format_mask.contains(id) {
            observer.excluded(imp, id as u32, FilterReason::Format.as_str());
        }
    }
}

impl Decision<'_> {
    /// Adds screened external bids as candidates of their imps.
    pub fn add_external(&mut self, bids: Vec<ExternalBid>) {
        for bid in bids {
            let index = self.external.len() as u32;
            if let Some(auction) = self.auctions.get_mut(bid.imp) {
                auction.candidates.push(Candidate {
                    source: Source::External { index },
                    ecpm: bid.ecpm,
                    quality: 1.0,
                    tiebreak: auction::mix(self.seeds[bid.imp] ^ (1 << 40 | u64::from(index))),
                    event_rate: 0.0,
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
            .source
            .external()
            .and_then(|index| self.external.get(index as usize))
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

    /// Whether `k` values are held.
    fn is_full(&self) -> bool {
        self.values.len() == self.k
    }

    /// Whether `k` values are held and the lowest of them beats `bound` outright (equal
    /// values still compete on the tie-break).
    fn full_above(&self, bound: f64) -> bool {
        self.is_full() && self.values[self.k - 1] > bound
    }
}

/// Remembers request-level check results across the imps of one request. A single-imp
/// request (the common case) never asks twice, so it gets no memo and allocates nothing.
struct RequestCheckMemo {
    bits: Option<(FixedBitSet, FixedBitSet)>,
    /// Why each failed campaign failed (kept only for an observer that wants every one).
    labels: Option<Vec<&'static str>>,
}

impl RequestCheckMemo {
    fn new(campaigns: usize, imps: usize, keep_labels: bool) -> Self {
        let bitset = || FixedBitSet::with_capacity(campaigns);
        Self {
            bits: (imps > 1).then(|| (bitset(), bitset())),
            labels: (imps > 1 && keep_labels).then(|| vec![""; campaigns]),
        }
    }

    /// The request-level result for campaign `id`, computed once per request. A failure
    /// remembered by the bitsets reads back as `"memo"` unless labels are kept.
    fn passes(
        &mut self,
        id: usize,
        check: impl FnOnce() -> Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        let Some((checked, passed)) = &mut self.bits else {
            return check();
        };
        if !checked.put(id) {
            let result = check();
            passed.set(id, result.is_ok());
            if let (Err(reason), Some(labels)) = (result, &mut self.labels) {
                labels[id] = reason;
            }
            return result;
        }
        if passed.contains(id) {
            Ok(())
        } else {
            Err(self.labels.as_ref().map_or("memo", |labels| labels[id]))
        }
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

pub mod observe;
#[cfg(test)]
mod tests;
