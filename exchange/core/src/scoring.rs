//! Scoring: one expected value per candidate, eCPM in the exchange currency.
//!
//! - CPM: the bid.
//! - CPC: `cpc × pCTR × 1000`.
//! - CPS: `pCTR × pCVR × order value × commission × 1000`.
//!
//! pCTR = base CTR × contextual lift. The [`SignalSource`] seam is where contextual
//! relevance (lift, minimum relevance) and predicted LTV (commission tier, bid
//! multiplier) plug in; [`Neutral`] is the price-only auction.

use crate::campaign::{Campaign, Pricing};

/// Adjustments a signal source makes for one campaign on one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// Multiplies the base CTR (contextual relevance).
    pub ctr_lift: f64,
    /// Multiplies the base CVR.
    pub cvr_lift: f64,
    /// Multiplies the final eCPM (e.g. an LTV tier's bid multiplier).
    pub bid_multiplier: f64,
    /// Replaces a CPS campaign's commission rate (e.g. an LTV tier's rate).
    pub commission_rate: Option<f64>,
    /// The user bought from the campaign's vertical within its repurchase window: its
    /// commission rules expect the repurchase rate.
    pub repeat_buyer: bool,
    /// The ranking weight in (0, 1]: the auction ranks by eCPM × quality (contextual
    /// relevance's quality weight); what is charged never exceeds the eCPM.
    pub quality: f64,
}

impl Signals {
    /// No adjustment.
    pub const NEUTRAL: Signals = Signals {
        ctr_lift: 1.0,
        cvr_lift: 1.0,
        bid_multiplier: 1.0,
        commission_rate: None,
        repeat_buyer: false,
        quality: 1.0,
    };
}

/// Why a signal source keeps a campaign out of this request's auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// The page trips one of the campaign's brand-safety exclusions.
    BrandSafety,
    /// The page is less relevant than the campaign's `min_relevance`.
    Irrelevant,
}

impl Exclusion {
    /// Stable label (the debug view's reason).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BrandSafety => "brand_safety",
            Self::Irrelevant => "irrelevant",
        }
    }
}

/// Supplies [`Signals`] per campaign for the current request.
pub trait SignalSource {
    /// The adjustments for `campaign` (dense id `id` in the snapshot).
    fn signals(&self, id: usize, campaign: &Campaign) -> Signals;

    /// Whether `campaign` must stay out of this request's auction.
    fn exclusion(&self, _id: usize, _campaign: &Campaign) -> Option<Exclusion> {
        None
    }

    /// An upper bound on campaign `id`'s `signals(..).quality` that is cheaper than its
    /// signals: selection skips a campaign whose eCPM bound times this cannot enter the
    /// best found. Default 1 (no bound).
    fn quality_bound(&self, _id: usize) -> f64 {
        1.0
    }

    /// A cheaper upper bound still, on the share of [`Self::max_boost`] campaign `id` can
    /// get (e.g. learned rates that demoted it): selection skips a campaign whose neutral
    /// eCPM × `max_boost` × this cannot enter the best found, before asking its quality.
    /// Default 1 (no bound).
    fn boost_share(&self, _id: usize) -> f64 {
        1.0
    }

    /// An upper bound on `score(c, signals(c)).ecpm / score(c, NEUTRAL).ecpm` over all
    /// campaigns. Candidate selection visits campaigns in descending neutral eCPM and stops
    /// once no later one can reach the best found; `f64::INFINITY` disables that.
    fn max_boost(&self) -> f64;
}

/// The price-only auction: no adjustment for anyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neutral;

impl SignalSource for Neutral {
    fn signals(&self, _id: usize, _campaign: &Campaign) -> Signals {
        Signals::NEUTRAL
    }

    fn max_boost(&self) -> f64 {
        1.0
    }
}

/// A candidate's score and the parts it is made of (shown in the debug view).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Predicted click-through rate.
    pub pctr: f64,
    /// Predicted conversion rate per click.
    pub pcvr: f64,
    /// Commission rate used (CPS only).
    pub commission_rate: Option<f64>,
    /// Bid multiplier used.
    pub bid_multiplier: f64,
    /// Expected value per thousand impressions; finite and ≥ 0.
    pub ecpm: f64,
}

impl Score {
    /// What `campaign` pays per event at this score: per click for CPC (bid × multiplier),
    /// the commission rate for CPS; 0 for CPM.
    pub fn event_rate(&self, campaign: &Campaign) -> f64 {
        match campaign.pricing {
            Pricing::Cpm { .. } => 0.0,
            Pricing::Cpc { bid } => bid * self.bid_multiplier,
            Pricing::Cps { .. } => self.commission_rate.unwrap_or(0.0),
        }
    }
}

/// Scores `campaign` under `signals`.
pub fn score(campaign: &Campaign, signals: Signals) -> Score {
    let pctr = clamp_rate(campaign.base_ctr * signals.ctr_lift);
    let pcvr = clamp_rate(campaign.base_cvr * signals.cvr_lift);
    let (raw, commission_rate) = match campaign.pricing {
        Pricing::Cpm { bid } => (bid, None),
        Pricing::Cpc { bid } => (bid * pctr * 1000.0, None),
        Pricing::Cps {
            commission_rate,
            avg_order_value,
        } => {
            // The stamped rate (tier or base) is what the click carries; the expected rate
            // is the commission engine's on what the auction knows, which for anyone but a
            // repeat buyer of a campaign with a repurchase rule is the stamp itself
            // (`CommissionRules::expected_ppm`'s shortcut, taken here without a conversion:
            // every scored CPS candidate passes by).
            let rate = clamp_rate(signals.commission_rate.unwrap_or(commission_rate));
            let expected = if signals.repeat_buyer {
                let stamped = crate::commission::rate_ppm(rate).unwrap_or(0);
                let ppm = campaign.commission.expected_ppm(stamped, true);
                f64::from(ppm) / f64::from(crate::commission::PPM)
            } else {
                rate
            };
            (
                pctr * pcvr * avg_order_value * expected * 1000.0,
                Some(rate),
            )
        }
    };
    let multiplier = if signals.bid_multiplier.is_finite() && signals.bid_multiplier >= 0.0 {
        signals.bid_multiplier
    } else {
        1.0
    };
    let ecpm = raw * multiplier;
    Score {
        pctr,
        pcvr,
        commission_rate,
        bid_multiplier: multiplier,
        ecpm: if ecpm.is_finite() && ecpm > 0.0 {
            ecpm
        } else {
            0.0
        },
    }
}

fn clamp_rate(rate: f64) -> f64 {
    if rate.is_finite() {
        rate.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::campaign;

    #[test]
    fn each_model_prices_as_designed() {
        let cpm = score(&campaign(Pricing::Cpm { bid: 2.5 }), Signals::NEUTRAL);
        assert_eq!(cpm.ecpm, 2.5);
        let cpc = score(&campaign(Pricing::Cpc { bid: 0.4 }), Signals::NEUTRAL);
        assert!((cpc.ecpm - 0.4 * 0.01 * 1000.0).abs() < 1e-9);
        let cps = score(
            &campaign(Pricing::Cps {
                commission_rate: 0.1,
                avg_order_value: 80.0,
            }),
            Signals::NEUTRAL,
        );
        assert!((cps.ecpm - 0.01 * 0.05 * 80.0 * 0.1 * 1000.0).abs() < 1e-9);
        assert_eq!(cps.commission_rate, Some(0.1));
    }

    #[test]
    fn signals_lift_ctr_and_override_commission() {
        let c = campaign(Pricing::Cps {
            commission_rate: 0.1,
            avg_order_value: 80.0,
        });
        let base = score(&c, Signals::NEUTRAL).ecpm;
        let lifted = score(
            &c,
            Signals {
                ctr_lift: 2.0,
                commission_rate: Some(0.2),
                ..Signals::NEUTRAL
            },
        )
        .ecpm;
        assert!((lifted - base * 4.0).abs() < 1e-9);
    }

    #[test]
    fn the_worked_example_in_architecture_md_holds() {
        let mut c = campaign(Pricing::Cps {
            commission_rate: 0.1,
            avg_order_value: 100.0,
        });
        (c.base_ctr, c.base_cvr) = (0.008, 0.03);
        let relevance = 1.0 - (1.0 - 0.75) * (1.0 - 0.6 * 0.6);
        let lifted = Signals {
            ctr_lift: 1.0 + 2.0 * relevance,
            ..Signals::NEUTRAL
        };
        let high = Signals {
            commission_rate: Some(0.2),
            ..lifted
        };
        let round = |s: Signals| (score(&c, s).ecpm * 100.0).round() / 100.0;
        assert_eq!(round(high), 12.86);
        assert_eq!(round(lifted), 6.43);
        assert_eq!(
            round(Signals {
                commission_rate: Some(0.2),
                ..Signals::NEUTRAL
            }),
            4.8
        );
        assert_eq!(round(Signals::NEUTRAL), 2.4);
    }

    #[test]
    fn hostile_signals_cannot_make_nan_or_negative_scores() {
        let c = campaign(Pricing::Cpc { bid: 0.4 });
        for lift in [f64::NAN, f64::INFINITY, -3.0, 1e308] {
            let s = score(
                &c,
                Signals {
                    ctr_lift: lift,
                    bid_multiplier: lift,
                    ..Signals::NEUTRAL
                },
            );
            assert!(s.ecpm.is_finite() && s.ecpm >= 0.0, "{lift}: {s:?}");
            assert!((0.0..=1.0).contains(&s.pctr));
        }
    }
}
