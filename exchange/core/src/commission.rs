//! Commission rules: one engine, evaluated at auction time (the expected rate a CPS
//! campaign's eCPM uses) and on every order line (the realised commission, again at
//! settlement). Rates are integer parts per million and money integer micro-units, so an
//! independent recomputation gets the same numbers to the micro.
//!
//! How a line's rate is decided, in order (each step named in the line's `rules`):
//! 1. the product rate: the line's SKU rate, else its category rate, else the LTV tier
//!    rate stamped at auction time (`ltv_tier`), else the campaign's rate (`base`);
//! 2. `repurchase`: a customer's repurchase within `within_days` of their first purchase
//!    from the advertiser pays at least the repurchase rate;
//! 3. `first_units`: the first `units` units of each SKU the campaign sells pay at least
//!    the first-units rate (a line can be split: part inside, part past the limit);
//! 4. bonuses are added: `new_customer` (the advertiser's first order from this buyer) and
//!    the highest `volume` tier reached: `from_threshold` pays the bonus from the
//!    threshold-th order of the period on, `whole_period` pays it on every order of a
//!    period that reaches the threshold (settled with the period's final count);
//! 5. the rate is capped at 100%; `fee`: the exchange keeps `platform_fee` of the
//!    commission, the publisher is paid the rest.

use serde::Deserialize;

#[cfg(test)]
mod tests;

/// One million: a rate of 100%.
pub const PPM: u32 = 1_000_000;
/// Most rate rules (per SKU or category) per campaign.
pub const MAX_RATE_RULES: usize = 1_000;
/// Most volume tiers per campaign.
pub const MAX_VOLUME_TIERS: usize = 16;
/// Longest lock period, days.
pub const MAX_LOCK_DAYS: u32 = 180;
/// Default lock period after confirmation, days.
pub const DEFAULT_LOCK_DAYS: u32 = 15;

/// The `commission` table of a campaign (CPS) as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommissionSpec {
    /// Rates per SKU or category (the most specific one wins).
    #[serde(default)]
    pub rates: Vec<RateSpec>,
    /// A higher rate for the first units of each SKU.
    #[serde(default)]
    pub first_units: Option<FirstUnitsSpec>,
    /// A bonus on a buyer's first order from the advertiser.
    #[serde(default)]
    pub new_customer: Option<BonusSpec>,
    /// A higher rate on a repurchase within some days of the first purchase.
    #[serde(default)]
    pub repurchase: Option<RepurchaseSpec>,
    /// Bonuses by the number of orders in the settlement period.
    #[serde(default)]
    pub volume_tiers: Vec<VolumeTierSpec>,
    /// Share of the commission the exchange keeps, [0, 1). Default 0.
    #[serde(default)]
    pub platform_fee: Option<f64>,
    /// Days after confirmation before a line locks for settlement, 0–180. Default 15.
    #[serde(default)]
    pub lock_days: Option<u32>,
}

/// A rate for one SKU or one category (exactly one of them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    /// The SKU.
    #[serde(default)]
    pub sku: Option<String>,
    /// The product category (as orders report it).
    #[serde(default)]
    pub category: Option<String>,
    /// The rate, (0, 1].
    pub rate: f64,
}

/// The first-units rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstUnitsSpec {
    /// How many units of each SKU, 1–10,000,000.
    pub units: u32,
    /// Their rate, (0, 1].
    pub rate: f64,
}

/// A bonus added to the rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusSpec {
    /// Added rate, (0, 1].
    pub bonus: f64,
}

/// The repurchase rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepurchaseSpec {
    /// Days after the first purchase a repurchase counts, 1–730.
    pub within_days: u32,
    /// The rate a repurchase pays at least, (0, 1].
    pub rate: f64,
}

/// A volume tier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeTierSpec {
    /// Orders in the period (per publisher and campaign) that reach the tier, ≥ 1.
    pub orders: u64,
    /// Added rate, (0, 1].
    pub bonus: f64,
    /// `from_threshold` (default) or `whole_period`.
    #[serde(default)]
    pub applies: Option<String>,
}

/// A volume tier, compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeTier {
    /// Threshold, orders.
    pub orders: u64,
    /// Bonus, ppm.
    pub bonus_ppm: u32,
    /// Every order of the period (true) or from the threshold on.
    pub whole_period: bool,
}

/// A campaign's commission rules, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommissionRules {
    /// The campaign's own rate, ppm (0 for campaigns that pay no commission).
    pub base_ppm: u32,
    /// Rates per SKU, sorted by SKU.
    pub by_sku: Vec<(String, u32)>,
    /// Rates per category, sorted by category.
    pub by_category: Vec<(String, u32)>,
    /// First units per SKU and their rate.
    pub first_units: Option<(u32, u32)>,
    /// New-customer bonus, ppm.
    pub new_customer_ppm: Option<u32>,
    /// Repurchase: window in days, rate ppm.
    pub repurchase: Option<(u32, u32)>,
    /// Volume tiers, by ascending threshold.
    pub volume_tiers: Vec<VolumeTier>,
    /// The exchange's fee, ppm of the commission.
    pub platform_fee_ppm: u32,
    /// Lock period, days.
    pub lock_days: u32,
}

/// A rule error: the field under `commission` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// e.g. `commission.rates[2].rate`.
    pub field: String,
    /// Why.
    pub message: &'static str,
}

/// A fraction (0, 1] in ppm, or `None` if out of range.
pub fn rate_ppm(rate: f64) -> Option<u32> {
    (rate.is_finite() && rate > 0.0 && rate <= 1.0).then(|| (rate * f64::from(PPM)).round() as u32)
}

impl CommissionRules {
    /// Compiles `spec` for a campaign whose own rate is `base_rate` (`None`: not CPS, and
    /// then only an empty spec is allowed).
    pub fn compile(
        spec: Option<&CommissionSpec>,
        base_rate: Option<f64>,
    ) -> Result<Self, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut fail =
            |field: String, message: &'static str| errors.push(RuleError { field, message });
        let mut rules = Self {
            base_ppm: base_rate.and_then(rate_ppm).unwrap_or(0),
            lock_days: DEFAULT_LOCK_DAYS,
            ..Self::default()
        };
        let Some(spec) = spec else {
            return Ok(rules);
        };
        if base_rate.is_none() {
            fail("commission".into(), "only CPS campaigns pay commission");
            return Err(errors);
        }
        if spec.rates.len() > MAX_RATE_RULES {
            fail("commission.rates".into(), "more than 1000 rates");
        }
        for (i, rate) in spec.rates.iter().enumerate() {
            let Some(ppm) = rate_ppm(rate.rate) else {
                fail(format!("commission.rates[{i}].rate"), "must be in (0, 1]");
                continue;
            };
            let (list, key) = match (&rate.sku, &rate.category) {
                (Some(sku), None) => (&mut rules.by_sku, sku),
                (None, Some(category)) => (&mut rules.by_category, category),
                _ => {
                    fail(
                        format!("commission.rates[{i}]"),
                        "name exactly one of sku or category",
                    );
                    continue;
                }
            };
            if key.is_empty() || key.len() > crate::orders::MAX_ORDER_ID_BYTES {
                fail(
                    format!("commission.rates[{i}]"),
                    "the sku or category needs 1-64 bytes",
                );
            } else if list.iter().any(|(k, _)| k == key) {
                fail(
                    format!("commission.rates[{i}]"),
                    "a second rate for the same sku or category",
                );
            } else {
                list.push((key.clone(), ppm));
            }
        }
        rules.by_sku.sort();
        rules.by_category.sort();
        if let Some(first) = &spec.first_units {
            match rate_ppm(first.rate) {
                Some(ppm) if (1..=10_000_000).contains(&first.units) => {
                    rules.first_units = Some((first.units, ppm));
                }
                Some(_) => fail(
                    "commission.first_units.units".into(),
                    "must be 1..=10000000",
                ),
                None => fail("commission.first_units.rate".into(), "must be in (0, 1]"),
            }
        }
        if let Some(bonus) = &spec.new_customer {
            match rate_ppm(bonus.bonus) {
                Some(ppm) => rules.new_customer_ppm = Some(ppm),
                None => fail("commission.new_customer.bonus".into(), "must be in (0, 1]"),
            }
        }
        if let Some(repurchase) = &spec.repurchase {
            match rate_ppm(repurchase.rate) {
                Some(ppm) if (1..=730).contains(&repurchase.within_days) => {
                    rules.repurchase = Some((repurchase.within_days, ppm));
                }
                Some(_) => fail(
                    "commission.repurchase.within_days".into(),
                    "must be 1..=730",
                ),
                None => fail("commission.repurchase.rate".into(), "must be in (0, 1]"),
            }
        }
        if spec.volume_tiers.len() > MAX_VOLUME_TIERS {
            fail("commission.volume_tiers".into(), "more than 16 tiers");
        }
        for (i, tier) in spec.volume_tiers.iter().enumerate() {
            let whole_period = match tier.applies.as_deref() {
                None | Some("from_threshold") => false,
                Some("whole_period") => true,
                Some(_) => {
                    fail(
                        format!("commission.volume_tiers[{i}].applies"),
                        "use from_threshold or whole_period",
                    );
                    continue;
                }
            };
            let Some(bonus_ppm) = rate_ppm(tier.bonus) else {
                fail(
                    format!("commission.volume_tiers[{i}].bonus"),
                    "must be in (0, 1]",
                );
                continue;
            };
            if !(1..=1_000_000_000).contains(&tier.orders) {
                fail(
                    format!("commission.volume_tiers[{i}].orders"),
                    "must be 1..=1000000000",
                );
            } else if rules.volume_tiers.iter().any(|t| t.orders == tier.orders) {
                fail(
                    format!("commission.volume_tiers[{i}].orders"),
                    "two tiers start here",
                );
            } else {
                rules.volume_tiers.push(VolumeTier {
                    orders: tier.orders,
                    bonus_ppm,
                    whole_period,
                });
            }
        }
        rules.volume_tiers.sort_by_key(|t| t.orders);
        if let Some(fee) = spec.platform_fee {
            if fee.is_finite() && (0.0..1.0).contains(&fee) {
                rules.platform_fee_ppm = (fee * f64::from(PPM)).round() as u32;
            } else {
                fail("commission.platform_fee".into(), "must be in [0, 1)");
            }
        }
        if let Some(days) = spec.lock_days {
            if days <= MAX_LOCK_DAYS {
                rules.lock_days = days;
            } else {
                fail("commission.lock_days".into(), "must be 0..=180");
            }
        }
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(errors)
        }
    }

    /// The highest rate a user signal (LTV tier or repurchase) can raise the campaign's
    /// expected rate to, over `stamped` (the tier's rate, or the base): for the bound on
    /// how far signals lift an eCPM.
    pub fn repurchase_ppm(&self) -> Option<u32> {
        self.repurchase.map(|(_, ppm)| ppm)
    }

    /// The rate expected at auction time for a user stamped at `stamped_ppm` (the LTV
    /// tier's rate, or the base), knowing whether they bought from the vertical within the
    /// repurchase window: the same engine as a line, on what the auction knows (no SKU,
    /// category, volume or new-customer fact).
    pub fn expected_ppm(&self, stamped_ppm: u32, repeat_buyer: bool) -> u32 {
        if !(repeat_buyer && self.repurchase.is_some()) {
            // Nothing the auction knows can trigger another rule: what `evaluate` returns
            // for these facts, without building them (every scored CPS candidate pays this;
            // `the_auction_expects_what_a_line_with_the_same_facts_would_pay` holds the two
            // equal).
            return if stamped_ppm > 0 {
                stamped_ppm.min(PPM)
            } else {
                self.base_ppm
            };
        }
        let facts = LineFacts {
            tier_ppm: Some(stamped_ppm),
            repurchase: repeat_buyer,
            ..LineFacts::default()
        };
        self.evaluate(&facts).rate_ppm
    }

    /// The rate a line of `facts` pays, and which rules decided it.
    pub fn evaluate(&self, facts: &LineFacts<'_>) -> Evaluation {
        let find = |list: &[(String, u32)], key: Option<&str>| {
            let key = key?;
            list.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()
        };
        let (mut rate, product) = if let Some(i) = find(&self.by_sku, facts.sku) {
            (self.by_sku[i].1, ProductRule::Sku(i))
        } else if let Some(i) = find(&self.by_category, facts.category) {
            (self.by_category[i].1, ProductRule::Category(i))
        } else if let Some(tier) = facts.tier_ppm.filter(|&t| t > 0 && t != self.base_ppm) {
            (tier, ProductRule::Tier)
        } else {
            (self.base_ppm, ProductRule::Base)
        };
        let mut applied = Applied {
            product,
            ..Applied::default()
        };
        if let (true, Some((_, ppm))) = (facts.repurchase, self.repurchase) {
            if ppm > rate {
                rate = ppm;
                applied.repurchase = true;
            }
        }
        let mut first_rate = rate;
        if let (Some((_, ppm)), true) = (self.first_units, facts.first_units > 0) {
            if ppm > rate {
                first_rate = ppm;
                applied.first_units = facts.first_units.min(facts.quantity);
            }
        }
        let mut bonus = 0;
        if let (Some(true), Some(ppm)) = (facts.new_customer, self.new_customer_ppm) {
            bonus += ppm;
            applied.new_customer = true;
        }
        if let Some(volume) = facts.volume {
            let reached = self.volume_tiers.iter().rposition(|t| {
                if t.whole_period {
                    volume.total >= t.orders
                } else {
                    volume.rank >= t.orders
                }
            });
            if let Some(i) = reached {
                bonus += self.volume_tiers[i].bonus_ppm;
                applied.volume = Some(i);
            }
        }
        Evaluation {
            rate_ppm: rate.saturating_add(bonus).min(PPM),
            first_rate_ppm: first_rate.saturating_add(bonus).min(PPM),
            applied,
        }
    }

    /// The commission of a line of `facts` worth `value_micros`: the amount, the fee, the
    /// publisher's payout and the rules.
    pub fn commission(&self, facts: &LineFacts<'_>, value_micros: i64) -> Commission {
        let evaluation = self.evaluate(facts);
        let value = i128::from(value_micros.max(0));
        let quantity = i128::from(facts.quantity.max(1));
        let first_value = value * i128::from(evaluation.applied.first_units) / quantity;
        let amount = apply_ppm(first_value, evaluation.first_rate_ppm)
            + apply_ppm(value - first_value, evaluation.rate_ppm);
        let commission_micros = i64::try_from(amount).unwrap_or(i64::MAX);
        let fee_micros = fee_of(commission_micros, self.platform_fee_ppm);
        Commission {
            commission_micros,
            fee_micros,
            payout_micros: commission_micros - fee_micros,
            rate_ppm: evaluation.rate_ppm,
            rules: evaluation.applied.labels(self),
        }
    }
}

/// `amount × ppm / 10⁶`, rounded half away from zero.
fn apply_ppm(amount: i128, ppm: u32) -> i128 {
    let product = amount * i128::from(ppm);
    let half = i128::from(PPM / 2);
    if product >= 0 {
        (product + half) / i128::from(PPM)
    } else {
        (product - half) / i128::from(PPM)
    }
}

/// The exchange's fee on `commission_micros` at `fee_ppm` (rounded as amounts are).
pub fn fee_of(commission_micros: i64, fee_ppm: u32) -> i64 {
    i64::try_from(apply_ppm(i128::from(commission_micros), fee_ppm)).unwrap_or(0)
}

/// What is known about an order line when its commission is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineFacts<'a> {
    /// Its SKU.
    pub sku: Option<&'a str>,
    /// Its category.
    pub category: Option<&'a str>,
    /// Units.
    pub quantity: u32,
    /// How many of them are among the first units of the SKU (first-units rule).
    pub first_units: u32,
    /// The LTV tier's rate stamped at auction time (or the base then).
    pub tier_ppm: Option<u32>,
    /// The advertiser's first order from this buyer (`None`: unknown).
    pub new_customer: Option<bool>,
    /// A repurchase within the campaign's window of the buyer's first purchase.
    pub repurchase: bool,
    /// Where the order stands in its period's volume.
    pub volume: Option<Volume>,
}

/// An order's place in the volume of its period (per publisher and campaign).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    /// Its position, from 1 (by order time).
    pub rank: u64,
    /// Orders in the period so far (estimate) or in all (settlement).
    pub total: u64,
}

/// Which rule set the product rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProductRule {
    /// The campaign's rate.
    #[default]
    Base,
    /// The LTV tier stamped at auction time.
    Tier,
    /// The SKU rate at this index.
    Sku(usize),
    /// The category rate at this index.
    Category(usize),
}

/// The rules that decided a rate (no allocation: the auction evaluates it too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The product rate's rule.
    pub product: ProductRule,
    /// The repurchase rate raised it.
    pub repurchase: bool,
    /// Units paid at the first-units rate.
    pub first_units: u32,
    /// The new-customer bonus was added.
    pub new_customer: bool,
    /// The volume tier (index) whose bonus was added.
    pub volume: Option<usize>,
}

impl Applied {
    /// The rules as labels: `base`, `ltv_tier`, `sku:…`, `category:…`, `repurchase`,
    /// `first_units:N`, `new_customer`, `volume:N:from_threshold|whole_period`, `fee`.
    pub fn labels(&self, rules: &CommissionRules) -> Vec<String> {
        let mut labels = vec![match self.product {
            ProductRule::Base => "base".to_owned(),
            ProductRule::Tier => "ltv_tier".to_owned(),
            ProductRule::Sku(i) => format!("sku:{}", rules.by_sku[i].0),
            ProductRule::Category(i) => format!("category:{}", rules.by_category[i].0),
        }];
        if self.repurchase {
            labels.push("repurchase".into());
        }
        if self.first_units > 0 {
            labels.push(format!("first_units:{}", self.first_units));
        }
        if self.new_customer {
            labels.push("new_customer".into());
        }
        if let Some(tier) = self.volume.map(|i| rules.volume_tiers[i]) {
            let applies = if tier.whole_period {
                "whole_period"
            } else {
                "from_threshold"
            };
            labels.push(format!("volume:{}:{applies}", tier.orders));
        }
        if rules.platform_fee_ppm > 0 {
            labels.push("fee".into());
        }
        labels
    }
}

/// A line's rate and its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The rate of units past the first-units limit, ppm.
    pub rate_ppm: u32,
    /// The rate of the first units, ppm.
    pub first_rate_ppm: u32,
    /// The rules.
    pub applied: Applied,
}

/// A line's commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commission {
    /// What the advertiser pays, micros.
    pub commission_micros: i64,
    /// The exchange's fee out of it.
    pub fee_micros: i64,
    /// The publisher's share: commission − fee.
    pub payout_micros: i64,
    /// The rate (past the first units), ppm.
    pub rate_ppm: u32,
    /// The rules that produced it.
    pub rules: Vec<String>,
}
