//! Learning from outcomes: pCTR and pCVR per campaign, and per campaign × page category,
//! estimated from served impressions, clicks and orders, and applied to the auction as
//! bounded lifts over the rates the campaign file declares.
//!
//! The model is Beta–Binomial, twice:
//! - a campaign's CTR has the prior Beta(k·base, k·(1 − base)), `k` =
//!   [`LearningSettings::ctr_prior`] pseudo-impressions around the declared `base_ctr`, so
//!   its posterior mean is `(clicks + k·base) / (impressions + k)`; its CVR (orders per
//!   click) the same with `cvr_prior` pseudo-clicks around `base_cvr`;
//! - on one page category, the campaign's rates have a prior centred on the campaign's
//!   posterior (`category_prior` pseudo-impressions; `cvr_prior` pseudo-clicks): a category with
//!   little traffic says what the campaign says, one with much says what it saw.
//!
//! Counts are time-decayed ([`OutcomeTable::decay`]), so an estimate follows a change in
//! the truth at the pace of the half-life. A lift is the learned rate over the base rate,
//! within `[1 / max_lift, max_lift]`; [`LearnedRates::max_boost_on`] bounds what they do to
//! any campaign's eCPM on a page category and [`LearnedRates::boost_bound`] to one
//! campaign's, which is what keeps early-stopped selection exact and lets it skip campaigns
//! outcomes demoted.
//!
//! Pure: the server counts outcomes from its affiliate database and publishes the rates
//! with the snapshot they were built for (`exchange::learning`).

pub mod simulation;

use crate::campaign::{Campaign, Pricing};
pub use crate::context::category::{category_from_text, category_label, category_text};
use crate::context::category::{Category, TIER1};
use crate::index::Snapshot;
use std::collections::HashMap;

/// Counts below this (after decay) are dropped from the table.
const NEGLIGIBLE: f64 = 1e-3;

/// Time-decayed outcome counts of one campaign on one page category.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcomes {
    /// Impressions served (verified notices).
    pub impressions: f64,
    /// Valid clicks.
    pub clicks: f64,
    /// Attributed orders.
    pub orders: f64,
}

impl Outcomes {
    fn add(&mut self, other: Outcomes) {
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.orders += other.orders;
    }

    fn scale(&mut self, factor: f64) {
        self.impressions *= factor;
        self.clicks *= factor;
        self.orders *= factor;
    }
}

/// The page-category key outcomes are counted under: the IAB tier-1 number of the page's
/// first category (`IAB8-5` → 8), coarse enough to gather evidence.
pub fn category_key(category: &Category) -> Option<u16> {
    (1..=TIER1)
        .contains(&category.tier1)
        .then_some(category.tier1)
}

/// The learning key of `request`'s page on a snapshot's context index (its first
/// category, as the page reading orders them), the same at auction and in the URLs.
pub fn page_category(
    request: &bidder_sdk::openrtb::BidRequest,
    index: &crate::context::index::ContextIndex,
) -> Option<u16> {
    key_of(&crate::context::page::categories(request, index))
}

/// The learning key of a page whose categories were read (`PageContext::categories`).
pub fn key_of(categories: &[Category]) -> Option<u16> {
    categories.first().and_then(category_key)
}

/// Outcome counts by campaign id and page category (`None`: the page had none).
#[derive(Debug, Clone, Default)]
pub struct OutcomeTable {
    counts: HashMap<(String, Option<u16>), Outcomes>,
}

impl OutcomeTable {
    /// Adds `outcomes` of `campaign` on pages of `category`.
    pub fn add(&mut self, campaign: &str, category: Option<u16>, outcomes: Outcomes) {
        self.counts
            .entry((campaign.to_owned(), category))
            .or_default()
            .add(outcomes);
    }

    /// Multiplies every count by `factor` (in (0, 1]: time decay), dropping negligible
    /// cells so the table stays the size of what recent traffic touched.
    pub fn decay(&mut self, factor: f64) {
        let factor = factor.clamp(0.0, 1.0);
        self.counts.retain(|_, outcomes| {
            outcomes.scale(factor);
            outcomes.impressions + outcomes.clicks + outcomes.orders > NEGLIGIBLE
        });
    }

    /// Cells (campaign × category) held.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// No cell.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The counts of `campaign` on `category`.
    pub fn get(&self, campaign: &str, category: Option<u16>) -> Outcomes {
        self.counts
            .get(&(campaign.to_owned(), category))
            .copied()
            .unwrap_or_default()
    }
}

/// How strongly the declared rates hold against evidence, and how far evidence may move
/// them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningSettings {
    /// Pseudo-impressions behind a campaign's declared `base_ctr`.
    pub ctr_prior: f64,
    /// Pseudo-clicks behind a campaign's declared `base_cvr`.
    pub cvr_prior: f64,
    /// Pseudo-impressions behind the campaign's learned CTR on one page category (its CVR
    /// there has `cvr_prior` pseudo-clicks around the campaign's learned CVR).
    pub category_prior: f64,
    /// Largest factor a learned rate may be above (or below) the declared one.
    pub max_lift: f64,
    /// Exploration by Thompson sampling: the auction ranks each campaign by a rate drawn
    /// around its posterior mean with this many posterior standard deviations of spread
    /// (a normal approximation, cut at three), so a campaign that declared too low a rate
    /// is served now and then and learned; as evidence grows the draws narrow and
    /// exploration fades by itself. 0 ranks by the mean (no randomness).
    pub explore: f64,
}

impl Default for LearningSettings {
    fn default() -> Self {
        Self {
            ctr_prior: 2_000.0,
            cvr_prior: 100.0,
            category_prior: 1_000.0,
            max_lift: 4.0,
            explore: 0.0,
        }
    }
}

/// What was learned for one campaign on one page category (the debug view's columns).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Learned {
    /// Learned CTR (posterior mean) over the declared one.
    pub ctr_lift: f64,
    /// Learned CVR (posterior mean) over the declared one.
    pub cvr_lift: f64,
    /// The posterior standard deviation of the CTR, over the declared CTR.
    pub ctr_spread: f64,
    /// The posterior standard deviation of the CVR, over the declared CVR.
    pub cvr_spread: f64,
    /// Decayed impressions behind it (campaign-wide plus the category's).
    pub impressions: f64,
    /// Decayed clicks behind it.
    pub clicks: f64,
    /// Decayed orders behind it.
    pub orders: f64,
}

/// One campaign's lifts, campaign-wide and per page category (sorted by key).
#[derive(Debug, Clone)]
struct CampaignLifts {
    overall: Learned,
    categories: Box<[(u16, Learned)]>,
    pays_on: PaysOn,
}

/// What a campaign's eCPM depends on, hence which lifts can move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PaysOn {
    /// CPM: neither.
    Impressions,
    /// CPC: the CTR.
    Clicks,
    /// CPS: the CTR and the CVR.
    Orders,
}

impl PaysOn {
    fn of(campaign: &Campaign) -> Self {
        match campaign.pricing {
            Pricing::Cpm { .. } => Self::Impressions,
            Pricing::Cpc { .. } => Self::Clicks,
            Pricing::Cps { .. } => Self::Orders,
        }
    }
}

/// The learned lifts of one snapshot's campaigns, by dense id: what the auction applies.
#[derive(Debug, Clone, Default)]
pub struct LearnedRates {
    by_id: Vec<Option<CampaignLifts>>,
    /// Per page-category key (0: a page without one), the largest [`Self::boost_bound`].
    max_by_category: Vec<f64>,
    /// Per campaign (dense id), its largest [`Self::boost_bound`] on any page.
    max_by_campaign: Vec<f64>,
    /// Campaigns with any evidence.
    pub campaigns: usize,
    /// Page-category cells with any evidence.
    pub cells: usize,
    settings: LearningSettings,
}

/// Beta–Binomial posterior mean of `successes` in `trials` around `prior_mean` with
/// `strength` pseudo-trials.
pub fn posterior_mean(successes: f64, trials: f64, prior_mean: f64, strength: f64) -> f64 {
    posterior(successes, trials, prior_mean, strength).0
}

/// Beta–Binomial posterior (mean, standard deviation).
fn posterior(successes: f64, trials: f64, prior_mean: f64, strength: f64) -> (f64, f64) {
    let finite = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let (trials, strength) = (finite(trials).min(1e12), finite(strength).max(1.0));
    // A decayed window can hold a few more clicks than impressions (a click counted
    // before its notice): the rate stays a rate.
    let successes = finite(successes).min(trials + strength * (1.0 - prior_mean));
    let n = trials + strength;
    if trials == 0.0 && successes == 0.0 {
        // No evidence: exactly the prior (a lift of exactly 1 changes no ranking).
        return (
            prior_mean,
            (prior_mean * (1.0 - prior_mean) / (n + 1.0)).sqrt(),
        );
    }
    let mean = (successes + strength * prior_mean) / n;
    (mean, (mean * (1.0 - mean) / (n + 1.0)).sqrt())
}

impl LearnedRates {
    /// Nothing learned: every lift 1.
    pub fn none() -> Self {
        Self {
            max_by_category: vec![1.0; usize::from(TIER1) + 1],
            ..Self::default()
        }
    }

    /// The lifts of `snapshot`'s campaigns from `table`.
    pub fn build(snapshot: &Snapshot, table: &OutcomeTable, settings: &LearningSettings) -> Self {
        let mut per_campaign: Vec<Vec<(Option<u16>, Outcomes)>> =
            vec![Vec::new(); snapshot.campaigns.len()];
        for ((campaign, category), outcomes) in &table.counts {
            if let Some(&id) = snapshot.ids.get(campaign) {
                per_campaign[id as usize].push((*category, *outcomes));
            }
        }
        let mut rates = Self::none();
        // Every campaign gets its lifts, evidence or not: with `explore`, one never served
        // is drawn from its prior.
        rates.by_id = per_campaign
            .into_iter()
            .zip(&snapshot.campaigns)
            .map(|(cells, campaign)| {
                if !cells.is_empty() {
                    rates.campaigns += 1;
                }
                Some(lifts_of(campaign, &cells, settings))
            })
            .collect();
        rates.max_by_category = vec![0.0; usize::from(TIER1) + 1];
        rates.max_by_campaign = Vec::with_capacity(rates.by_id.len());
        for lifts in rates.by_id.iter().flatten() {
            rates.cells += lifts.categories.len();
            let overall = lifts.overall.boost(lifts.pays_on, settings);
            let mut own = overall;
            for (key, max) in rates.max_by_category.iter_mut().enumerate() {
                let on = lifts
                    .categories
                    .binary_search_by_key(&(key as u16), |c| c.0)
                    .ok()
                    .map_or(overall, |at| {
                        lifts.categories[at].1.boost(lifts.pays_on, settings)
                    });
                *max = max.max(on);
                own = own.max(on);
            }
            rates.max_by_campaign.push(own);
        }
        rates.settings = *settings;
        rates
    }

    /// What was learned for campaign `id` on a page of `category` (`None`: nothing).
    pub fn learned(&self, id: usize, category: Option<u16>) -> Option<Learned> {
        let lifts = self.by_id.get(id)?.as_ref()?;
        let on_category = category.and_then(|key| {
            lifts
                .categories
                .binary_search_by_key(&key, |c| c.0)
                .ok()
                .map(|at| lifts.categories[at].1)
        });
        Some(on_category.unwrap_or(lifts.overall))
    }

    /// Campaign `id`'s campaign-wide lifts and those of its page categories (by key).
    pub fn of_campaign(&self, id: usize) -> Option<(Learned, &[(u16, Learned)])> {
        let lifts = self.by_id.get(id)?.as_ref()?;
        Some((lifts.overall, &lifts.categories))
    }

    /// `(ctr_lift, cvr_lift)` of campaign `id` on a page of `category`: the posterior
    /// means (1, 1 when nothing is learned).
    pub fn lifts(&self, id: usize, category: Option<u16>) -> (f64, f64) {
        self.learned(id, category)
            .map_or((1.0, 1.0), |l| (l.ctr_lift, l.cvr_lift))
    }

    /// The lifts the auction ranks campaign `id` by, given two standard normal draws
    /// (`ctr_draw`, `cvr_draw`): the means moved by `settings.explore` spreads each, the
    /// draws cut at ±3 (see [`LearningSettings::explore`]).
    pub fn drawn_lifts(
        &self,
        id: usize,
        category: Option<u16>,
        (ctr_draw, cvr_draw): (f64, f64),
        settings: &LearningSettings,
    ) -> (f64, f64) {
        self.learned(id, category)
            .map_or((1.0, 1.0), |l| l.drawn(ctr_draw, cvr_draw, settings))
    }

    /// An upper bound on how far learned lifts, drawn or not, raise campaign `id`'s eCPM on
    /// a page of `category` (1 for CPM, the CTR lift for CPC, both lifts for CPS).
    pub fn boost_bound(&self, id: usize, category: Option<u16>) -> f64 {
        let Some(lifts) = self.by_id.get(id).and_then(Option::as_ref) else {
            return 1.0;
        };
        self.learned(id, category)
            .map_or(1.0, |l| l.boost(lifts.pays_on, &self.settings))
    }

    /// The largest [`Self::boost_bound`] of campaign `id` on any page: one array read, for
    /// selection to skip campaigns outcomes demoted (1 when nothing is learned).
    pub fn campaign_bound(&self, id: usize) -> f64 {
        self.max_by_campaign.get(id).copied().unwrap_or(1.0)
    }

    /// The largest [`Self::boost_bound`] over every campaign on a page of `category`.
    pub fn max_boost_on(&self, category: Option<u16>) -> f64 {
        let key = category.map_or(0, usize::from);
        self.max_by_category
            .get(key)
            .copied()
            .unwrap_or_else(|| self.max_boost())
    }

    /// The largest [`Self::boost_bound`] over every campaign and category.
    pub fn max_boost(&self) -> f64 {
        self.max_by_category.iter().copied().fold(0.0, f64::max)
    }
}

/// How many standard deviations a draw may move a rate.
const MAX_DRAW: f64 = 3.0;

impl Learned {
    /// The largest factor these lifts (drawn or not) apply to the eCPM of a campaign paid
    /// on `pays_on`.
    fn boost(&self, pays_on: PaysOn, settings: &LearningSettings) -> f64 {
        let (ctr, cvr) = self.drawn(MAX_DRAW, MAX_DRAW, settings);
        match pays_on {
            PaysOn::Impressions => 1.0,
            PaysOn::Clicks => ctr,
            PaysOn::Orders => ctr * cvr,
        }
    }

    /// The lifts at `ctr_draw`, `cvr_draw` standard deviations (cut at ±3) × `explore`.
    fn drawn(&self, ctr_draw: f64, cvr_draw: f64, settings: &LearningSettings) -> (f64, f64) {
        let explore = if settings.explore.is_finite() {
            settings.explore.clamp(0.0, 10.0)
        } else {
            0.0
        };
        let max = max_lift(settings);
        let at = |mean: f64, spread: f64, draw: f64| {
            let draw = if draw.is_finite() {
                draw.clamp(-MAX_DRAW, MAX_DRAW)
            } else {
                0.0
            };
            (mean + explore * spread * draw).clamp(1.0 / max, max)
        };
        (
            at(self.ctr_lift, self.ctr_spread, ctr_draw),
            at(self.cvr_lift, self.cvr_spread, cvr_draw),
        )
    }
}

fn max_lift(settings: &LearningSettings) -> f64 {
    if settings.max_lift.is_finite() {
        settings.max_lift.max(1.0)
    } else {
        1.0
    }
}

fn lifts_of(
    campaign: &Campaign,
    cells: &[(Option<u16>, Outcomes)],
    settings: &LearningSettings,
) -> CampaignLifts {
    let mut total = Outcomes::default();
    for (_, outcomes) in cells {
        total.add(*outcomes);
    }
    let base_ctr = campaign.base_ctr.clamp(1e-6, 1.0);
    let base_cvr = campaign.base_cvr.clamp(1e-6, 1.0);
    let ctr = posterior(
        total.clicks,
        total.impressions,
        base_ctr,
        settings.ctr_prior,
    );
    let cvr = posterior(total.orders, total.clicks, base_cvr, settings.cvr_prior);
    let max = max_lift(settings);
    let bounded = |rate: f64, base: f64| (rate / base).clamp(1.0 / max, max);
    let learned =
        |(ctr, ctr_sd): (f64, f64), (cvr, cvr_sd): (f64, f64), outcomes: Outcomes| Learned {
            ctr_lift: bounded(ctr, base_ctr),
            cvr_lift: bounded(cvr, base_cvr),
            ctr_spread: ctr_sd / base_ctr,
            cvr_spread: cvr_sd / base_cvr,
            impressions: outcomes.impressions,
            clicks: outcomes.clicks,
            orders: outcomes.orders,
        };
    let mut categories: Vec<(u16, Learned)> = cells
        .iter()
        .filter_map(|(category, outcomes)| {
            let key = (*category)?;
            let strength = settings.category_prior;
            let on_ctr = posterior(outcomes.clicks, outcomes.impressions, ctr.0, strength);
            let on_cvr = posterior(outcomes.orders, outcomes.clicks, cvr.0, settings.cvr_prior);
            Some((key, learned(on_ctr, on_cvr, *outcomes)))
        })
        .collect();
    categories.sort_unstable_by_key(|c| c.0);
    CampaignLifts {
        overall: learned(ctr, cvr, total),
        categories: categories.into_boxed_slice(),
        pays_on: PaysOn::of(campaign),
    }
}

#[cfg(test)]
mod tests;
