//! The signal source of a live request ([`AuctionSignals`]): contextual relevance lifts
//! pCTR and enforces each campaign's minimum relevance and brand-safety exclusions; the
//! user's predicted LTV picks each campaign's LTV tier (its commission rate or bid
//! multiplier). Built once per request from the snapshot, the page and the user's
//! history; no IO.
//!
//! Learned rates ([`crate::learning`]), when the serving set has them, multiply pCTR and
//! pCVR by what outcomes taught about the campaign on this page category; with
//! exploration on, each campaign's lifts are drawn from their posterior per request, from
//! a hash of the auction id and the campaign (the same request draws the same).
//!
//! Without consent (COPPA, or GDPR without a consent string), without a user, without a
//! model, or with `[context] contextual_only`, no user data is used: every campaign pays
//! its default tier and the auction runs on context alone.

use crate::campaign::{Campaign, LtvTier};
use crate::config::AuctionConfig;
use crate::context::interests::Interests;
use crate::context::{Relevance, RequestContext};
use crate::index::Snapshot;
use crate::learning::{Learned, LearnedRates, LearningSettings};
use crate::ltv::train::LtvModel;
use crate::ltv::user::{customer, predict, publisher_history, HistorySource, Prediction};
use crate::ltv::PurchaseHistory;
use crate::scoring::{Exclusion, SignalSource, Signals};
use bidder_sdk::openrtb::BidRequest;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;

/// The key of all purchases in a user's history map.
pub const ALL_VERTICALS: &str = "*";

/// What the auction knows of the user, for LTV.
#[derive(Debug, Default)]
pub struct UserInputs<'a> {
    /// The serving model (none: no LTV).
    pub model: Option<&'a LtvModel>,
    /// Histories from the store, by vertical (`*`: all).
    pub stored: Option<&'a HashMap<String, PurchaseHistory>>,
    /// History the publisher shares in the request.
    pub shared: Option<PurchaseHistory>,
    /// Today, unix days.
    pub today: i64,
    /// Prediction horizon, weeks.
    pub horizon_weeks: f64,
    /// The request's consent denies the exchange its user's data (`privacy`'s
    /// `useUserData`): no history and no declared interests are read.
    pub user_data_denied: bool,
}

impl<'a> UserInputs<'a> {
    /// The inputs of `request` (`stored` from the user-hash read), or none when user data
    /// may not be used (`permitted`: the request's privacy allows `useUserData`).
    pub fn new(
        request: &BidRequest,
        permitted: bool,
        config: &AuctionConfig,
        model: Option<&'a LtvModel>,
        stored: Option<&'a HashMap<String, PurchaseHistory>>,
        now_unix: i64,
    ) -> Self {
        let today = now_unix.div_euclid(86_400);
        let permitted = permitted && !config.context.contextual_only;
        if model.is_none() || !permitted {
            return Self {
                user_data_denied: !permitted,
                ..Self::default()
            };
        }
        Self {
            model,
            stored,
            shared: request
                .user
                .as_ref()
                .and_then(|user| publisher_history(user, today)),
            today,
            horizon_weeks: config.ltv_horizon_weeks,
            user_data_denied: false,
        }
    }

    fn any(&self) -> bool {
        self.model.is_some()
            && (self.stored.is_some_and(|s| !s.is_empty()) || self.shared.is_some())
    }

    fn history(&self, vertical: Option<&str>) -> Option<(PurchaseHistory, HistorySource)> {
        let stored = self.stored;
        vertical
            .and_then(|v| stored?.get(v))
            .map(|h| (*h, HistorySource::StoreVertical))
            .or_else(|| {
                stored?
                    .get(ALL_VERTICALS)
                    .map(|h| (*h, HistorySource::Store))
            })
            .or_else(|| self.shared.map(|h| (h, HistorySource::Publisher)))
    }
}

/// The signals of one request.
pub struct AuctionSignals<'a> {
    snapshot: &'a Snapshot,
    context: RequestContext,
    relevance_lift: f64,
    category_weight: f32,
    quality_weight: f64,
    quality_floor: f64,
    /// The user's declared interests and membership (none without consent).
    interests: Option<Interests>,
    interest_lift: f64,
    member_cvr_lift: f64,
    user: UserInputs<'a>,
    /// Predictions per vertical, computed on first use.
    predictions: RefCell<Vec<(Option<String>, Option<Prediction>)>>,
    /// Relevance and quality weight per campaign, computed on first use (the pruning
    /// bound, the exclusion and the score of a campaign, on every imp, read the same).
    relevances: RefCell<hashbrown::HashMap<usize, (Relevance, f64)>>,
    /// What outcomes taught, when the serving set has it.
    learning: Option<Learning<'a>>,
    /// The lifts of trending topics, when the serving set has them.
    trends: Option<&'a crate::trends::TrendLifts>,
}

/// The learned rates a request applies.
struct Learning<'a> {
    rates: &'a LearnedRates,
    settings: LearningSettings,
    /// The page's learning key.
    page_category: Option<u16>,
    /// Seed of this request's exploration draws.
    seed: u64,
    /// The largest learned boost on this page's category.
    max_boost: f64,
}

impl Learning<'_> {
    /// Campaign `id`'s `(ctr, cvr)` lifts on this request.
    fn lifts(&self, id: usize) -> (f64, f64) {
        if self.settings.explore > 0.0 {
            let draws = normal_pair(self.seed ^ crate::auction::mix(id as u64));
            self.rates
                .drawn_lifts(id, self.page_category, draws, &self.settings)
        } else {
            self.rates.lifts(id, self.page_category)
        }
    }
}

/// Two independent standard normal draws from a 64-bit key (Box–Muller on two hashes).
fn normal_pair(key: u64) -> (f64, f64) {
    let first = crate::auction::mix(key);
    let second = crate::auction::mix(first);
    // (0, 1]: the logarithm stays finite.
    let uniform = |bits: u64| ((bits >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let radius = (-2.0 * uniform(first).ln()).sqrt();
    let angle = std::f64::consts::TAU * uniform(second);
    (radius * angle.cos(), radius * angle.sin())
}

impl std::fmt::Debug for AuctionSignals<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuctionSignals")
            .field("context", &self.context)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Per campaign, what the signals made of it (the debug view's columns).
#[derive(Debug, Clone, Serialize)]
pub struct SignalReport {
    /// Relevance and its parts (absent when the page said nothing).
    pub relevance: Option<Relevance>,
    /// The pCTR multiplier applied.
    pub ctr_lift: f64,
    /// How well the user's declared interests fit the campaign (absent: none, or no
    /// consent).
    pub interest: Option<f32>,
    /// The user's predicted value in the campaign's vertical.
    pub ltv: Option<Prediction>,
    /// The LTV tier applied (none: the campaign's default payout).
    pub tier: Option<String>,
    /// What outcomes taught about the campaign on this page's category (absent: learning
    /// off), and the lifts this request drew from it.
    pub learned: Option<LearnedReport>,
    /// The pCTR lift of trending topics it is about (absent: trends off).
    pub trend_lift: Option<f64>,
}

/// One campaign's learned rates as a request applied them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LearnedReport {
    /// The page category they are for (`None`: campaign-wide).
    pub page_category: Option<u16>,
    /// The posterior and the evidence behind it.
    #[serde(flatten)]
    pub learned: Learned,
    /// The CTR lift this request ranked by (the mean, or an exploration draw).
    pub applied_ctr_lift: f64,
    /// The CVR lift this request ranked by.
    pub applied_cvr_lift: f64,
}

impl<'a> AuctionSignals<'a> {
    /// The signals of `request` on `snapshot`.
    pub fn new(
        request: &BidRequest,
        snapshot: &'a Snapshot,
        config: &AuctionConfig,
        user: UserInputs<'a>,
    ) -> Self {
        // Nothing reads the page when relevance lifts nothing and no campaign has rules.
        let reads_page = config.context.relevance_lift > 0.0 || snapshot.context.any_rules;
        let context = if reads_page {
            RequestContext::new(request, &snapshot.context, config.context.max_terms)
        } else {
            RequestContext::default()
        };
        let wants_interests =
            config.context.interest_lift > 0.0 || config.context.member_cvr_lift > 1.0;
        let interests = request
            .user
            .as_ref()
            .filter(|_| {
                wants_interests && !user.user_data_denied && !config.context.contextual_only
            })
            .map(|user| Interests::read(user, &snapshot.context))
            .filter(|interests| !interests.is_empty());
        Self {
            snapshot,
            context,
            relevance_lift: config.context.relevance_lift,
            category_weight: config.context.category_weight as f32,
            quality_weight: config.context.quality_weight,
            quality_floor: config.context.quality_floor,
            interests,
            interest_lift: config.context.interest_lift,
            member_cvr_lift: config.context.member_cvr_lift,
            user,
            predictions: RefCell::new(Vec::new()),
            relevances: RefCell::default(),
            learning: None,
            trends: None,
        }
    }

    /// The same signals, lifting pCTR of campaigns about trending topics by `lifts`
    /// (built for this snapshot).
    pub fn with_trends(mut self, lifts: &'a crate::trends::TrendLifts) -> Self {
        self.trends = Some(lifts);
        self
    }

    /// The same signals, applying `rates` (learned for this snapshot) on `request`'s page
    /// category ([`crate::learning::page_category`], taken from the page as read when it
    /// was) with `config`'s learning settings; `seed` keys this request's exploration
    /// draws.
    pub fn with_learning(
        mut self,
        request: &BidRequest,
        rates: &'a LearnedRates,
        config: &AuctionConfig,
        seed: u64,
    ) -> Self {
        let page_category = if self.context.is_empty() {
            crate::learning::page_category(request, &self.snapshot.context)
        } else {
            crate::learning::key_of(&self.context.page.categories)
        };
        self.learning = Some(Learning {
            rates,
            settings: config.learning,
            page_category,
            seed,
            max_boost: rates.max_boost_on(page_category),
        });
        self
    }

    /// The page as read.
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// The page category learned rates apply on (none without learning, or a category).
    pub fn page_category(&self) -> Option<u16> {
        self.learning.as_ref().and_then(|l| l.page_category)
    }

    fn relevance(&self, id: usize) -> Option<Relevance> {
        self.relevance_and_quality(id)
            .map(|(relevance, _)| relevance)
    }

    /// Campaign `id`'s relevance and the quality weight it gives (none when the page
    /// said nothing).
    fn relevance_and_quality(&self, id: usize) -> Option<(Relevance, f64)> {
        if self.context.is_empty() {
            return None;
        }
        let mut known = self.relevances.borrow_mut();
        Some(*known.entry(id).or_insert_with(|| {
            let relevance =
                self.context
                    .relevance(&self.snapshot.context, id, self.category_weight);
            (relevance, self.quality_of(f64::from(relevance.total)))
        }))
    }

    /// The user's predicted value in `vertical` (memoised per request).
    pub fn prediction(&self, vertical: Option<&str>) -> Option<Prediction> {
        if !self.user.any() {
            return None;
        }
        let mut cache = self.predictions.borrow_mut();
        if let Some((_, p)) = cache.iter().find(|(v, _)| v.as_deref() == vertical) {
            return *p;
        }
        let prediction = self.user.history(vertical).and_then(|(history, source)| {
            let model = self.user.model?;
            let customer = customer(&history, self.user.today)?;
            predict(model, &customer, self.user.horizon_weeks, source)
        });
        cache.push((vertical.map(str::to_owned), prediction));
        prediction
    }

    /// The user's last purchase in `vertical` was at most `days` ago.
    fn bought_within(&self, vertical: Option<&str>, days: u32) -> bool {
        self.user.any()
            && self.user.history(vertical).is_some_and(|(history, _)| {
                (0..=i64::from(days)).contains(&(self.user.today - history.last_day))
            })
    }

    fn tier<'c>(&self, campaign: &'c Campaign) -> Option<&'c LtvTier> {
        if campaign.ltv_tiers.is_empty() {
            return None;
        }
        let ltv = self.prediction(campaign.vertical.as_deref())?.ltv;
        campaign.ltv_tiers.iter().find(|t| ltv >= t.min_ltv)
    }

    /// The quality weight of a campaign of relevance `total` (1 without a weight).
    fn quality_of(&self, total: f64) -> f64 {
        if self.quality_weight > 0.0 {
            let quality = self.quality_floor + (1.0 - self.quality_floor) * total;
            quality
                .clamp(f64::MIN_POSITIVE, 1.0)
                .powf(self.quality_weight)
        } else {
            1.0
        }
    }

    /// Campaign `id`'s quality weight on this page (1 when the page is empty or the
    /// weight is off).
    fn quality(&self, id: usize) -> f64 {
        if self.quality_weight <= 0.0 {
            return 1.0;
        }
        self.relevance_and_quality(id)
            .map_or(1.0, |(_, quality)| quality)
    }

    /// What the signals made of campaign `id`.
    pub fn report(&self, id: usize, campaign: &Campaign) -> SignalReport {
        SignalReport {
            relevance: self.relevance(id),
            ctr_lift: self.signals(id, campaign).ctr_lift,
            interest: self
                .interests
                .as_ref()
                .map(|i| i.fit(&self.snapshot.context, id)),
            ltv: self.prediction(campaign.vertical.as_deref()),
            tier: self.tier(campaign).map(|t| t.name.clone()),
            learned: self.learning.as_ref().and_then(|learning| {
                let learned = learning.rates.learned(id, learning.page_category)?;
                let (applied_ctr_lift, applied_cvr_lift) = learning.lifts(id);
                Some(LearnedReport {
                    page_category: learning.page_category,
                    learned,
                    applied_ctr_lift,
                    applied_cvr_lift,
                })
            }),
            trend_lift: self.trends.map(|lifts| lifts.lift(id)),
        }
    }
}

impl SignalSource for AuctionSignals<'_> {
    fn signals(&self, id: usize, campaign: &Campaign) -> Signals {
        let mut signals = Signals::NEUTRAL;
        if let Some((relevance, quality)) = self.relevance_and_quality(id) {
            signals.ctr_lift = 1.0 + self.relevance_lift * f64::from(relevance.total);
            signals.quality = quality;
        }
        if let Some(interests) = &self.interests {
            let fit = f64::from(interests.fit(&self.snapshot.context, id));
            signals.ctr_lift *= 1.0 + self.interest_lift * fit;
            if interests.member {
                signals.cvr_lift *= self.member_cvr_lift;
            }
        }
        if let Some(learning) = &self.learning {
            let (ctr, cvr) = learning.lifts(id);
            signals.ctr_lift *= ctr;
            signals.cvr_lift *= cvr;
        }
        if let Some(trends) = self.trends {
            signals.ctr_lift *= trends.lift(id);
        }
        if let Some(tier) = self.tier(campaign) {
            signals.commission_rate = tier.commission_rate;
            signals.bid_multiplier = tier.bid_multiplier;
        }
        if let Some((days, _)) = campaign.commission.repurchase {
            signals.repeat_buyer = self.bought_within(campaign.vertical.as_deref(), days);
        }
        signals
    }

    fn exclusion(&self, id: usize, campaign: &Campaign) -> Option<Exclusion> {
        if self
            .context
            .unsafe_for(&self.snapshot.context, id, campaign)
        {
            return Some(Exclusion::BrandSafety);
        }
        let minimum = campaign.context.min_relevance;
        if minimum > 0.0 && self.relevance(id).map_or(0.0, |r| r.total) < minimum {
            return Some(Exclusion::Irrelevant);
        }
        None
    }

    fn quality_bound(&self, id: usize) -> f64 {
        self.quality(id)
    }

    fn boost_share(&self, id: usize) -> f64 {
        let learned = self.learning.as_ref().map_or(1.0, |learning| {
            if learning.max_boost > 0.0 {
                learning.rates.campaign_bound(id) / learning.max_boost
            } else {
                1.0
            }
        });
        let trend = self
            .trends
            .map_or(1.0, |lifts| lifts.lift(id) / lifts.max());
        learned * trend
    }

    fn max_boost(&self) -> f64 {
        let context = if self.context.is_empty() {
            1.0
        } else {
            1.0 + self.relevance_lift
        };
        let ltv = if self.user.any() {
            self.snapshot.max_tier_boost
        } else {
            1.0
        };
        let interests = self.interests.as_ref().map_or(1.0, |i| {
            let member = if i.member { self.member_cvr_lift } else { 1.0 };
            (1.0 + self.interest_lift) * member
        });
        let learned = self
            .learning
            .as_ref()
            .map_or(1.0, |learning| learning.max_boost);
        let trends = self.trends.map_or(1.0, crate::trends::TrendLifts::max);
        context * ltv * interests * learned * trends
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::Pricing;
    use crate::testing::campaign;

    fn request(json: &str) -> BidRequest {
        bidder_sdk::openrtb::decode_request(json.as_bytes()).expect("valid")
    }

    fn snapshot(min_relevance: f32) -> Snapshot {
        let mut shoes = campaign(Pricing::Cpc { bid: 0.5 });
        shoes.keywords = vec!["running shoes".into()];
        shoes.context.min_relevance = min_relevance;
        crate::index::build(vec![shoes], 1, "t".into())
    }

    const RUNNING: &str = r#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250}}],
        "site":{"id":"s","content":{"title":"best running shoes"}}}"#;

    #[test]
    fn pages_are_read_only_when_something_uses_them() {
        let request = request(RUNNING);
        let mut config = AuctionConfig::default();
        let plain = snapshot(0.0);
        let read = AuctionSignals::new(&request, &plain, &config, UserInputs::default());
        assert!(!read.context().is_empty());
        assert!(read.signals(0, &plain.campaigns[0]).ctr_lift > 1.5);
        assert_eq!(read.max_boost(), 2.0);
        config.context.relevance_lift = 0.0;
        let skipped = AuctionSignals::new(&request, &plain, &config, UserInputs::default());
        assert!(skipped.context().is_empty(), "no lift, no rules: not read");
        assert_eq!(skipped.signals(0, &plain.campaigns[0]), Signals::NEUTRAL);
        assert_eq!(skipped.max_boost(), 1.0);
        // A campaign rule still needs the page, lift or not.
        let ruled = snapshot(0.2);
        let read = AuctionSignals::new(&request, &ruled, &config, UserInputs::default());
        assert!(!read.context().is_empty());
        assert_eq!(read.exclusion(0, &ruled.campaigns[0]), None);
    }

    #[test]
    fn declared_interests_and_membership_boost_within_the_bound_and_only_with_consent() {
        let mut tent = campaign(Pricing::Cpc { bid: 0.5 });
        tent.id = "tent".into();
        tent.keywords = vec!["camping tent".into(), "帐篷".into(), "露营".into()];
        let mut coffee = campaign(Pricing::Cpc { bid: 0.5 });
        coffee.id = "coffee".into();
        coffee.keywords = vec!["espresso".into(), "咖啡".into()];
        let snapshot = crate::index::build(vec![tent, coffee], 1, "t".into());
        let tent_id = snapshot.ids["tent"] as usize;
        let coffee_id = snapshot.ids["coffee"] as usize;
        let mut config = AuctionConfig::default();
        config.context.member_cvr_lift = 1.2;
        let user = r#""user":{"id":"u","keywords":"camping tent,hiking",
            "data":[{"segment":[{"name":"outdoor lovers","value":"露营"}]}],
            "ext":{"interests":["露营"],"member":true}}"#;
        let body = |regs: &str| {
            format!(
                r#"{{"id":"r","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],"site":{{"id":"s"}},{user}{regs}}}"#
            )
        };
        let request = self::request(&body(""));
        let signals = AuctionSignals::new(&request, &snapshot, &config, UserInputs::default());
        let on_tent = signals.signals(tent_id, &snapshot.campaigns[tent_id]);
        let on_coffee = signals.signals(coffee_id, &snapshot.campaigns[coffee_id]);
        assert!(on_tent.ctr_lift > 1.2, "{on_tent:?}");
        assert_eq!(on_coffee.ctr_lift, 1.0, "no interest in coffee");
        assert_eq!(
            (on_tent.cvr_lift, on_coffee.cvr_lift),
            (1.2, 1.2),
            "a member"
        );
        let bound = signals.max_boost();
        for (id, s) in [(tent_id, on_tent), (coffee_id, on_coffee)] {
            let boost = s.ctr_lift * s.cvr_lift;
            assert!(boost <= bound + 1e-9, "{id}: {boost} > {bound}");
        }
        let fit = signals
            .report(tent_id, &snapshot.campaigns[tent_id])
            .interest;
        assert!(fit.is_some_and(|f| f > 0.3), "{fit:?}");
        // Under COPPA, or GDPR without consent, or contextual-only: nothing is read.
        for regs in [r#","regs":{"coppa":1}"#, r#","regs":{"gdpr":1}"#] {
            let request = self::request(&body(regs));
            let privacy = crate::privacy::Privacy::read(&request, &config.privacy);
            let permitted = privacy.own.allows(crate::privacy::Activity::UseUserData);
            assert!(!permitted, "{regs}");
            let user = UserInputs::new(&request, permitted, &config, None, None, 0);
            let signals = AuctionSignals::new(&request, &snapshot, &config, user);
            assert_eq!(
                signals.signals(tent_id, &snapshot.campaigns[tent_id]),
                Signals::NEUTRAL
            );
            assert_eq!(signals.max_boost(), 1.0);
        }
        config.context.contextual_only = true;
        let signals = AuctionSignals::new(&request, &snapshot, &config, UserInputs::default());
        assert_eq!(
            signals.signals(tent_id, &snapshot.campaigns[tent_id]),
            Signals::NEUTRAL
        );
    }
}
