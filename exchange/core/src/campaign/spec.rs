//! The campaign file as advertisers write it (serde shape, no validation).

use serde::Deserialize;

/// Top level of a campaign file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// The campaigns.
    pub campaigns: Vec<CampaignSpec>,
}

/// One campaign as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// Unique id (letters, digits, `-`, `_`, `.`; at most 64).
    pub id: String,
    /// Display name (any language).
    pub name: String,
    /// Advertiser id; also the buyer seat checked against `wseat`/`bseat`.
    pub advertiser: String,
    /// Advertiser domains, checked against `badv`.
    #[serde(default)]
    pub adomain: Vec<String>,
    /// IAB categories of the ad, checked against `bcat`.
    #[serde(default)]
    pub cat: Vec<String>,
    /// Merchandising vertical (e.g. `baby`, `beauty`), for reports.
    #[serde(default)]
    pub vertical: Option<String>,
    /// Descriptive keywords (Chinese or English) for contextual relevance.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Store bundle of an advertised app, checked against `bapp`.
    #[serde(default)]
    pub bundle: Option<String>,
    /// Language of the creatives (ISO-639-1), checked against `wlang`.
    #[serde(default)]
    pub language: Option<String>,
    /// `active` (default) or `paused`.
    #[serde(default)]
    pub status: Option<String>,
    /// How the advertiser pays.
    pub pricing: PricingSpec,
    /// Predicted click-through rate before contextual lift (0..1]. Default 0.005.
    #[serde(default)]
    pub base_ctr: Option<f64>,
    /// Predicted conversion rate per click (0..1]. Default 0.02.
    #[serde(default)]
    pub base_cvr: Option<f64>,
    /// Spend limits, in the exchange currency.
    #[serde(default)]
    pub budget: Option<BudgetSpec>,
    /// Impressions per user per window.
    #[serde(default)]
    pub frequency_cap: Option<FrequencyCapSpec>,
    /// First and last day the campaign runs (in its `timezone`).
    #[serde(default)]
    pub flight: Option<FlightSpec>,
    /// UTC offset for flight dates and day-parts, `+08:00` form. Default `+00:00`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Who may see the ads.
    #[serde(default)]
    pub targeting: TargetingSpec,
    /// The ads (at least one).
    pub creatives: Vec<CreativeSpec>,
    /// Contextual rules: minimum relevance, brand-safety exclusions.
    #[serde(default)]
    pub context: ContextSpec,
    /// Payout by the user's predicted lifetime value (at most 8 tiers).
    #[serde(default)]
    pub ltv_tiers: Vec<LtvTierSpec>,
    /// How clicks and orders are joined (click id parameter, windows).
    #[serde(default)]
    pub attribution: AttributionSpec,
    /// CPS only: commission rules (rates per SKU or category, first units, repurchase,
    /// new customers, volume tiers, platform fee, lock period).
    #[serde(default)]
    pub commission: Option<crate::commission::CommissionSpec>,
}

/// How a campaign's clicks and orders are joined.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionSpec {
    /// Query parameter the click id is added to the landing URL under. Default `click_id`.
    #[serde(default)]
    pub click_id_param: Option<String>,
    /// An order counts for the last valid click at most this many hours before it, 1–2160
    /// (90 days). Default 168 (7 days).
    #[serde(default)]
    pub window_hours: Option<u32>,
    /// Orders may be attributed to an impression without a click (by the user key), within
    /// this many hours, 1–720; absent: never (click-through only).
    #[serde(default)]
    pub view_through_hours: Option<u32>,
}

/// Contextual rules of a campaign.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSpec {
    /// Least page relevance (0..=1) the campaign bids on; default 0 (any page).
    pub min_relevance: Option<f64>,
    /// Never on pages of these IAB 1.0 categories (or their children).
    #[serde(default)]
    pub exclude_categories: Vec<String>,
    /// Never on pages carrying any of these words or phrases (Chinese or English).
    #[serde(default)]
    pub exclude_keywords: Vec<String>,
}

/// One LTV tier: applies when the user's predicted LTV reaches `min_ltv`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtvTierSpec {
    /// Tier name (shown in the debug view), e.g. `high`.
    pub name: String,
    /// Least predicted LTV over the model horizon, exchange currency.
    pub min_ltv: f64,
    /// CPS only: the commission rate paid for users in this tier, (0, 1].
    pub commission_rate: Option<f64>,
    /// CPM and CPC only: the bid multiplier for users in this tier, (0, 10].
    pub bid_multiplier: Option<f64>,
}

/// Pricing model and its price.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase", deny_unknown_fields)]
pub enum PricingSpec {
    /// Pays per thousand impressions.
    Cpm {
        /// CPM bid.
        bid: f64,
    },
    /// Pays per click.
    Cpc {
        /// Price per click.
        bid: f64,
    },
    /// Pays a commission on sales (affiliate).
    Cps {
        /// Share of the order value paid, (0, 1].
        commission_rate: f64,
        /// Average order value in the exchange currency.
        avg_order_value: f64,
    },
}

/// Budget limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Daily budget; absent means none.
    #[serde(default)]
    pub daily: Option<f64>,
    /// Lifetime budget; absent means none.
    #[serde(default)]
    pub total: Option<f64>,
    /// `even` (default: spread the daily budget over the day, or a lifetime budget over
    /// the rest of the flight) or `asap`.
    #[serde(default)]
    pub pacing: Option<String>,
}

/// Frequency cap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCapSpec {
    /// Impressions allowed per window.
    pub count: u32,
    /// Window: `30m`, `1h`, `1d`, `7d` or `lifetime`.
    pub window: String,
    /// `campaign` (default) or `advertiser`: count this campaign's impressions only, or
    /// every impression of the advertiser's campaigns that cap at advertiser level.
    #[serde(default)]
    pub scope: Option<String>,
    /// Serve users without any id (uncapped); default false: no id, no impression.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// When the counters cannot be read in time: `closed` (default: do not serve) or
    /// `open` (serve uncapped).
    #[serde(default)]
    pub on_store_error: Option<String>,
}

/// Flight dates, inclusive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightSpec {
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`.
    pub end: String,
}

/// Targeting; every list left empty means "anyone".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetingSpec {
    /// Countries, ISO-3166-1 alpha-3 (as OpenRTB `geo.country`).
    pub countries: Vec<String>,
    /// Regions, ISO-3166-2 subdivision codes as sent in `geo.region`.
    pub regions: Vec<String>,
    /// Device classes: `phone`, `tablet`, `desktop`, `ctv`, `connected`, `ooh`.
    pub device_types: Vec<String>,
    /// Operating systems: `ios`, `android`, `harmonyos`, `windows`, `macos`, `linux`...
    pub os: Vec<String>,
    /// Site domains.
    pub sites: ListSpec,
    /// App bundles.
    pub apps: ListSpec,
    /// Publisher ids.
    pub publishers: ListSpec,
    /// IAB content categories of the page; `IAB6` also matches `IAB6-1`.
    pub page_categories: Vec<String>,
    /// The page must carry at least one of these keywords.
    pub keywords: Vec<String>,
    /// Page or device languages (ISO-639-1).
    pub languages: Vec<String>,
    /// When the ads run, in the campaign's time zone.
    pub dayparts: Vec<DaypartSpec>,
}

/// An allow list and a block list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListSpec {
    /// Only these (empty: all).
    pub allow: Vec<String>,
    /// Never these.
    pub block: Vec<String>,
}

/// Hours on some days.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaypartSpec {
    /// `mon` … `sun`; empty means every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// First hour, 0..=23.
    pub start_hour: u8,
    /// Hour after the last, 1..=24; smaller than `start_hour` wraps past midnight.
    pub end_hour: u8,
}

/// One creative.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreativeSpec {
    /// Id unique within the campaign.
    pub id: String,
    /// `banner` or `native`.
    pub format: String,
    /// Width of the banner or of the native main image.
    pub w: u32,
    /// Height of the banner or of the native main image.
    pub h: u32,
    /// Image URL.
    pub image_url: String,
    /// Where a click goes (affiliate link).
    pub landing_url: String,
    /// Headline.
    #[serde(default)]
    pub title: Option<String>,
    /// Body text (native).
    #[serde(default)]
    pub description: Option<String>,
    /// Brand or sponsor name (native).
    #[serde(default)]
    pub brand: Option<String>,
    /// Price text such as `¥99` (native).
    #[serde(default)]
    pub price_text: Option<String>,
    /// Call to action such as `立即购买` (native).
    #[serde(default)]
    pub cta: Option<String>,
    /// Icon URL (native).
    #[serde(default)]
    pub icon_url: Option<String>,
    /// Banner markup template with `${CLICK_URL}`-style macros; a default `<a><img></a>` otherwise.
    #[serde(default)]
    pub markup: Option<String>,
    /// IAB creative attributes, checked against `battr`.
    #[serde(default)]
    pub attr: Vec<i32>,
}
