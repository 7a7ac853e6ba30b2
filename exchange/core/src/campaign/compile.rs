//! Validation and compilation of campaign specs into their served form.

use super::counter::{cap_field, CapScope};
use super::markup::{MarkupTemplate, DEFAULT_BANNER_MARKUP};
use super::spec::{
    AttributionSpec, CampaignFile, CampaignSpec, CreativeSpec, ListSpec, PricingSpec,
};
use crate::commission::CommissionRules;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};
use time::{macros::format_description, Date, UtcOffset};

/// Most campaigns one file may hold; keeps a mistaken or hostile file from exhausting memory.
pub const MAX_CAMPAIGNS: usize = 1_000_000;
/// Most creatives per campaign.
pub const MAX_CREATIVES_PER_CAMPAIGN: usize = 64;
/// Longest id accepted for a campaign or creative.
pub const MAX_ID_LEN: usize = 64;
/// Largest creative side in pixels.
pub const MAX_CREATIVE_SIDE: u32 = 4_096;

/// A problem in a campaign file, naming the file and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignError {
    /// The file.
    pub file: String,
    /// Path of the field, e.g. `campaigns[3](c-003).pricing.bid`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl CampaignError {
    /// Makes an error.
    pub fn new(file: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for CampaignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.message)
    }
}

/// How a budget is spent over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacingMode {
    /// Spread evenly: the daily budget over the day, or a lifetime budget over the rest of
    /// the flight.
    #[default]
    Even,
    /// As fast as traffic allows.
    Asap,
}

impl PacingMode {
    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Even => "even",
            Self::Asap => "asap",
        }
    }
}

/// A validated frequency cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyCap {
    /// Impressions allowed per window.
    pub count: u32,
    /// Window in seconds; 0 = lifetime.
    pub window_secs: u64,
    /// Counts the advertiser's impressions rather than this campaign's.
    pub advertiser_scope: bool,
    /// Users without an id are served (uncapped).
    pub allow_anonymous: bool,
    /// Serves uncapped when the counters cannot be read (default: does not serve).
    pub fail_open: bool,
    /// The counter field in the store ([`super::counter::cap_field`]).
    pub field: String,
}

/// How a campaign pays, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pricing {
    /// CPM bid.
    Cpm {
        /// Bid per thousand impressions.
        bid: f64,
    },
    /// Price per click.
    Cpc {
        /// Bid per click.
        bid: f64,
    },
    /// Commission on sales.
    Cps {
        /// Share of order value, (0, 1].
        commission_rate: f64,
        /// Average order value.
        avg_order_value: f64,
    },
}

impl Pricing {
    /// Label for reports: `cpm`, `cpc` or `cps`.
    pub fn model(&self) -> &'static str {
        match self {
            Self::Cpm { .. } => "cpm",
            Self::Cpc { .. } => "cpc",
            Self::Cps { .. } => "cps",
        }
    }
}

/// A device class a campaign can target, covering one or more OpenRTB device types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceClass {
    /// Phones (devicetype 4, and the generic mobile/tablet 1).
    Phone,
    /// Tablets (5, and 1).
    Tablet,
    /// Personal computers (2).
    Desktop,
    /// Connected TV and set-top boxes (3, 7).
    Ctv,
    /// Other connected devices (6).
    Connected,
    /// Out-of-home screens (8).
    Ooh,
}

impl DeviceClass {
    fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "phone" | "mobile" => Self::Phone,
            "tablet" => Self::Tablet,
            "desktop" | "pc" => Self::Desktop,
            "ctv" | "tv" => Self::Ctv,
            "connected" => Self::Connected,
            "ooh" | "dooh" => Self::Ooh,
            _ => return None,
        })
    }

    /// The OpenRTB `devicetype` values this class covers.
    pub fn device_types(self) -> &'static [i32] {
        match self {
            Self::Phone => &[1, 4],
            Self::Tablet => &[1, 5],
            Self::Desktop => &[2],
            Self::Ctv => &[3, 7],
            Self::Connected => &[6],
            Self::Ooh => &[8],
        }
    }
}

/// An allow list and a block list of lower-cased values, sorted for binary search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Only these, when not empty.
    pub allow: Vec<String>,
    /// Never these.
    pub block: Vec<String>,
}

impl ListFilter {
    fn compile(spec: &ListSpec) -> Self {
        Self {
            allow: sorted_lower(&spec.allow),
            block: sorted_lower(&spec.block),
        }
    }

    /// True when the filter has no entries.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.block.is_empty()
    }

    /// Whether `value` (already lower-case) passes; an unknown value fails an allow list.
    pub fn permits(&self, value: Option<&str>) -> bool {
        match value {
            Some(v) => {
                (self.allow.is_empty()
                    || self.allow.binary_search_by(|a| a.as_str().cmp(v)).is_ok())
                    && self.block.binary_search_by(|b| b.as_str().cmp(v)).is_err()
            }
            None => self.allow.is_empty(),
        }
    }
}

/// Creative format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreativeKind {
    /// Display banner.
    Banner,
    /// Native ad assembled from assets.
    Native,
}

/// A validated creative.
#[derive(Debug, Clone, PartialEq)]
pub struct Creative {
    /// Id within the campaign.
    pub id: String,
    /// Banner or native.
    pub kind: CreativeKind,
    /// Width (banner, or native main image).
    pub w: u32,
    /// Height.
    pub h: u32,
    /// Image URL.
    pub image_url: String,
    /// Click-through URL.
    pub landing_url: String,
    /// Headline (empty if none).
    pub title: String,
    /// Body text.
    pub description: Option<String>,
    /// Brand or sponsor.
    pub brand: Option<String>,
    /// Price text.
    pub price_text: Option<String>,
    /// Call to action.
    pub cta: Option<String>,
    /// Icon URL.
    pub icon_url: Option<String>,
    /// Banner markup (shared: most creatives use the default template).
    pub markup: Arc<MarkupTemplate>,
    /// Creative attributes.
    pub attr: Vec<i32>,
    /// Every URL is https, so it may serve on `imp.secure=1`.
    pub secure: bool,
}

/// A validated campaign, ready to index.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Advertiser id (also the buyer seat).
    pub advertiser: String,
    /// Advertiser domains, lower-case.
    pub adomain: Vec<String>,
    /// IAB categories of the ad.
    pub cat: Vec<String>,
    /// Vertical.
    pub vertical: Option<String>,
    /// Descriptive keywords, lower-case.
    pub keywords: Vec<String>,
    /// Advertised app bundle, lower-case.
    pub bundle: Option<String>,
    /// Creative language.
    pub language: Option<String>,
    /// False when paused.
    pub active: bool,
    /// Pricing.
    pub pricing: Pricing,
    /// Base predicted CTR.
    pub base_ctr: f64,
    /// Base predicted CVR per click.
    pub base_cvr: f64,
    /// Daily budget in micro-units.
    pub daily_budget_micros: Option<i64>,
    /// Lifetime budget in micro-units.
    pub total_budget_micros: Option<i64>,
    /// How spend is spread over time.
    pub pacing: PacingMode,
    /// Frequency cap.
    pub frequency_cap: Option<FrequencyCap>,
    /// Flight as unix seconds `[start, end)`.
    pub flight: Option<(i64, i64)>,
    /// UTC offset of the campaign's time zone, seconds.
    pub utc_offset_secs: i32,
    /// Target countries (upper-case alpha-3).
    pub countries: Vec<String>,
    /// Target regions (upper-case).
    pub regions: Vec<String>,
    /// Target device classes.
    pub device_classes: Vec<DeviceClass>,
    /// Target operating systems (normalised lower-case).
    pub os: Vec<String>,
    /// Site domain filter.
    pub sites: ListFilter,
    /// App bundle filter.
    pub apps: ListFilter,
    /// Publisher id filter.
    pub publishers: ListFilter,
    /// Page categories (prefix match).
    pub page_categories: Vec<String>,
    /// Required page keywords, lower-case.
    pub targeting_keywords: Vec<String>,
    /// Target languages, lower-case ISO-639-1.
    pub languages: Vec<String>,
    /// Hours the campaign runs: bit `h` of entry `d` (0 = Monday), local time.
    pub daypart_hours: Option<[u32; 7]>,
    /// Creatives.
    pub creatives: Vec<Creative>,
    /// Contextual rules.
    pub context: ContextRules,
    /// LTV tiers, highest `min_ltv` first.
    pub ltv_tiers: Vec<LtvTier>,
    /// How its clicks and orders are joined.
    pub attribution: Attribution,
    /// Its commission rules (CPS; empty otherwise).
    pub commission: CommissionRules,
}

/// Default click-through attribution window: 7 days.
pub const DEFAULT_ATTRIBUTION_HOURS: u32 = 168;
/// Longest click-through attribution window: 90 days.
pub const MAX_ATTRIBUTION_HOURS: u32 = 2160;
/// Longest view-through window: 30 days.
pub const MAX_VIEW_THROUGH_HOURS: u32 = 720;

/// A campaign's attribution rules, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Landing-URL query parameter of the click id.
    pub click_id_param: String,
    /// Click-through window, seconds.
    pub window_secs: i64,
    /// View-through window, seconds; `None`: click-through only.
    pub view_through_secs: Option<i64>,
}

fn compile_attribution(spec: &AttributionSpec, check: &mut Checker<'_>) -> Attribution {
    let param = spec.click_id_param.as_deref().unwrap_or("click_id");
    check.require(
        (1..=32).contains(&param.len())
            && param
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "attribution.click_id_param",
        "need 1-32 letters, digits, '_' or '-'",
    );
    let window = spec.window_hours.unwrap_or(DEFAULT_ATTRIBUTION_HOURS);
    check.require(
        (1..=MAX_ATTRIBUTION_HOURS).contains(&window),
        "attribution.window_hours",
        "must be 1..=2160 (90 days)",
    );
    if let Some(view) = spec.view_through_hours {
        check.require(
            (1..=MAX_VIEW_THROUGH_HOURS).contains(&view),
            "attribution.view_through_hours",
            "must be 1..=720 (30 days)",
        );
    }
    Attribution {
        click_id_param: param.to_owned(),
        window_secs: i64::from(window) * 3600,
        view_through_secs: spec.view_through_hours.map(|h| i64::from(h) * 3600),
    }
}

/// Validates and compiles a parsed file; returns every error found.
pub fn compile(file: &CampaignFile, origin: &str) -> Result<Vec<Campaign>, Vec<CampaignError>> {
    let mut errors = Vec::new();
    if file.campaigns.len() > MAX_CAMPAIGNS {
        errors.push(CampaignError::new(
            origin,
            "campaigns",
            format!("more than {MAX_CAMPAIGNS} campaigns"),
        ));
        return Err(errors);
    }
    let mut seen = HashSet::with_capacity(file.campaigns.len());
    let mut campaigns = Vec::with_capacity(file.campaigns.len());
    for (index, spec) in file.campaigns.iter().enumerate() {
        let mut check = Checker {
            origin,
            index,
            id: &spec.id,
            errors: &mut errors,
        };
        if !seen.insert(spec.id.as_str()) {
            check.fail("id", "duplicate campaign id");
        }
        if let Some(campaign) = compile_one(spec, &mut check) {
            campaigns.push(campaign);
        }
    }
    if errors.is_empty() {
        Ok(campaigns)
    } else {
        Err(errors)
    }
}

/// Collects errors for one campaign. Field paths are `Display` values (literals or
/// `format_args!`), formatted only when a check fails: validating a large, valid file
/// allocates nothing for them.
struct Checker<'a> {
    origin: &'a str,
    index: usize,
    id: &'a str,
    errors: &'a mut Vec<CampaignError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: impl fmt::Display, message: impl Into<String>) {
        let path = format!("campaigns[{}]({}).{field}", self.index, self.id);
        self.errors
            .push(CampaignError::new(self.origin, &path, message));
    }

    fn require(&mut self, ok: bool, field: impl fmt::Display, message: &str) {
        if !ok {
            self.fail(field, message);
        }
    }

    fn rate(&mut self, value: Option<f64>, default: f64, field: &str) -> f64 {
        let rate = value.unwrap_or(default);
        self.require(
            rate.is_finite() && rate > 0.0 && rate <= 1.0,
            field,
            "must be in (0, 1]",
        );
        rate
    }

    fn money(&mut self, value: Option<f64>, field: &str) -> Option<i64> {
        let value = value?;
        // Micros stay exact in the store's Lua numbers (doubles) up to 2^53.
        if !value.is_finite() || !(0.0..=1e9).contains(&value) {
            self.fail(field, "must be a number between 0 and 1e9");
            return None;
        }
        Some((value * 1e6).round() as i64)
    }

    fn url(&mut self, url: &str, field: impl fmt::Display) {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= 2048
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        self.require(
            ok,
            field,
            "must be an http(s) URL without spaces, at most 2048 bytes",
        );
    }
}

fn compile_one(spec: &CampaignSpec, check: &mut Checker<'_>) -> Option<Campaign> {
    check.require(
        is_id(&spec.id),
        "id",
        "need 1-64 letters, digits, '-', '_' or '.'",
    );
    check.require(!spec.name.trim().is_empty(), "name", "must not be empty");
    check.require(
        is_id(&spec.advertiser),
        "advertiser",
        "need 1-64 letters, digits, '-', '_' or '.'",
    );
    let pricing = match spec.pricing {
        PricingSpec::Cpm { bid } => {
            check.require(
                bid.is_finite() && bid > 0.0 && bid <= 10_000.0,
                "pricing.bid",
                "must be in (0, 10000]",
            );
            Pricing::Cpm { bid }
        }
        PricingSpec::Cpc { bid } => {
            check.require(
                bid.is_finite() && bid > 0.0 && bid <= 1_000.0,
                "pricing.bid",
                "must be in (0, 1000]",
            );
            Pricing::Cpc { bid }
        }
        PricingSpec::Cps {
            commission_rate,
            avg_order_value,
        } => {
            check.require(
                commission_rate.is_finite() && commission_rate > 0.0 && commission_rate <= 1.0,
                "pricing.commission_rate",
                "must be in (0, 1]",
            );
            check.require(
                avg_order_value.is_finite() && avg_order_value > 0.0 && avg_order_value <= 1e7,
                "pricing.avg_order_value",
                "must be in (0, 1e7]",
            );
            Pricing::Cps {
                commission_rate,
                avg_order_value,
            }
        }
    };
    let base_ctr = check.rate(spec.base_ctr, 0.005, "base_ctr");
    let base_cvr = check.rate(spec.base_cvr, 0.02, "base_cvr");
    let (daily_budget_micros, total_budget_micros) = match &spec.budget {
        Some(budget) => (
            check.money(budget.daily, "budget.daily"),
            check.money(budget.total, "budget.total"),
        ),
        None => (None, None),
    };
    let frequency_cap = spec.frequency_cap.as_ref().and_then(|cap| {
        let window = parse_window(&cap.window);
        check.require(
            window.is_some(),
            "frequency_cap.window",
            "use 30m, 1h, 1d, 7d or lifetime",
        );
        check.require(cap.count > 0, "frequency_cap.count", "must be at least 1");
        let advertiser_scope = match cap.scope.as_deref() {
            None | Some("campaign") => false,
            Some("advertiser") => true,
            Some(_) => {
                check.fail("frequency_cap.scope", "use campaign or advertiser");
                false
            }
        };
        let fail_open = match cap.on_store_error.as_deref() {
            None | Some("closed") => false,
            Some("open") => true,
            Some(_) => {
                check.fail("frequency_cap.on_store_error", "use closed or open");
                false
            }
        };
        window.map(|window_secs| {
            let scope = if advertiser_scope {
                CapScope::Advertiser(&spec.advertiser)
            } else {
                CapScope::Campaign(&spec.id)
            };
            FrequencyCap {
                count: cap.count,
                window_secs,
                advertiser_scope,
                allow_anonymous: cap.allow_anonymous,
                fail_open,
                field: cap_field(scope, window_secs),
            }
        })
    });
    let pacing = match spec.budget.as_ref().and_then(|b| b.pacing.as_deref()) {
        None | Some("even") => PacingMode::Even,
        Some("asap") => PacingMode::Asap,
        Some(_) => {
            check.fail("budget.pacing", "use even or asap");
            PacingMode::Even
        }
    };
    let utc_offset = match spec.timezone.as_deref() {
        None => Some(UtcOffset::UTC),
        Some(tz) => parse_offset(tz),
    };
    check.require(
        utc_offset.is_some(),
        "timezone",
        "use an offset like +08:00",
    );
    let utc_offset = utc_offset.unwrap_or(UtcOffset::UTC);
    let flight = spec.flight.as_ref().and_then(|flight| {
        let start = parse_date(&flight.start);
        let end = parse_date(&flight.end);
        check.require(start.is_some(), "flight.start", "use YYYY-MM-DD");
        check.require(end.is_some(), "flight.end", "use YYYY-MM-DD");
        let (start, end) = (start?, end?);
        check.require(start <= end, "flight", "start is after end");
        let start_secs = start.midnight().assume_offset(utc_offset).unix_timestamp();
        let end_secs = end.next_day().map_or(i64::MAX, |d| {
            d.midnight().assume_offset(utc_offset).unix_timestamp()
        });
        Some((start_secs, end_secs))
    });
    let targeting = &spec.targeting;
    for (i, country) in targeting.countries.iter().enumerate() {
        check.require(
            country.len() == 3 && country.bytes().all(|b| b.is_ascii_alphabetic()),
            format_args!("targeting.countries[{i}]"),
            "use ISO-3166-1 alpha-3, e.g. CHN",
        );
    }
    let mut device_classes = Vec::new();
    for (i, name) in targeting.device_types.iter().enumerate() {
        match DeviceClass::parse(name) {
            Some(class) => device_classes.push(class),
            None => check.fail(
                format_args!("targeting.device_types[{i}]"),
                "use phone, tablet, desktop, ctv, connected or ooh",
            ),
        }
    }
    for (i, lang) in targeting.languages.iter().enumerate() {
        check.require(
            lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_alphabetic()),
            format_args!("targeting.languages[{i}]"),
            "use ISO-639-1, e.g. zh",
        );
    }
    let daypart_hours = compile_dayparts(spec, check);
    let context = signal_rules::compile_context(&spec.context, check);
    let ltv_tiers = signal_rules::compile_tiers(&spec.ltv_tiers, &pricing, check);
    if spec.creatives.is_empty() || spec.creatives.len() > MAX_CREATIVES_PER_CAMPAIGN {
        check.fail(
            "creatives",
            format!("need 1 to {MAX_CREATIVES_PER_CAMPAIGN} creatives"),
        );
    }
    let mut creative_ids = HashSet::new();
    let creatives: Vec<Creative> = spec
        .creatives
        .iter()
        .enumerate()
        .filter_map(|(i, creative)| {
            if !creative_ids.insert(creative.id.as_str()) {
                check.fail(format_args!("creatives[{i}].id"), "duplicate creative id");
            }
            compile_creative(creative, i, check)
        })
        .collect();
    let active = match spec.status.as_deref() {
        None | Some("active") => true,
        Some("paused") => false,
        Some(_) => {
            check.fail("status", "use active or paused");
            false
        }
    };
    Some(Campaign {
        id: spec.id.clone(),
        name: spec.name.clone(),
        advertiser: spec.advertiser.clone(),
        adomain: sorted_lower(&spec.adomain),
        cat: spec.cat.clone(),
        vertical: spec.vertical.clone(),
        keywords: spec
            .keywords
            .iter()
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect(),
        bundle: spec.bundle.as_ref().map(|b| b.to_lowercase()),
        language: spec.language.as_ref().map(|l| l.to_ascii_lowercase()),
        active,
        pricing,
        base_ctr,
        base_cvr,
        daily_budget_micros,
        total_budget_micros,
        pacing,
        frequency_cap,
        flight,
        utc_offset_secs: utc_offset.whole_seconds(),
        countries: targeting
            .countries
            .iter()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        regions: targeting
            .regions
            .iter()
            .map(|r| r.to_ascii_uppercase())
            .collect(),
        device_classes,
        os: targeting.os.iter().map(|o| normalise_os(o)).collect(),
        sites: ListFilter::compile(&targeting.sites),
        apps: ListFilter::compile(&targeting.apps),
        publishers: ListFilter::compile(&targeting.publishers),
        page_categories: targeting.page_categories.clone(),
        targeting_keywords: targeting
            .keywords
            .iter()
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect(),
        languages: targeting
            .languages
            .iter()
            .map(|l| l.to_ascii_lowercase())
            .collect(),
        daypart_hours,
        creatives,
        context,
        ltv_tiers,
        attribution: compile_attribution(&spec.attribution, check),
        commission: compile_commission(spec, check),
    })
}

fn compile_commission(spec: &CampaignSpec, check: &mut Checker<'_>) -> CommissionRules {
    let base = match spec.pricing {
        PricingSpec::Cps {
            commission_rate, ..
        } => Some(commission_rate),
        _ => None,
    };
    match CommissionRules::compile(spec.commission.as_ref(), base) {
        Ok(rules) => rules,
        Err(errors) => {
            for error in errors {
                check.fail(error.field, error.message);
            }
            CommissionRules::default()
        }
    }
}

fn compile_creative(spec: &CreativeSpec, i: usize, check: &mut Checker<'_>) -> Option<Creative> {
    check.require(
        is_id(&spec.id),
        format_args!("creatives[{i}].id"),
        "need 1-64 letters, digits, '-', '_' or '.'",
    );
    let kind = match spec.format.as_str() {
        "banner" => CreativeKind::Banner,
        "native" => CreativeKind::Native,
        _ => {
            check.fail(
                format_args!("creatives[{i}].format"),
                "use banner or native",
            );
            return None;
        }
    };
    let sides_ok =
        (1..=MAX_CREATIVE_SIDE).contains(&spec.w) && (1..=MAX_CREATIVE_SIDE).contains(&spec.h);
    check.require(
        sides_ok,
        format_args!("creatives[{i}].w"),
        "w and h must be 1..=4096",
    );
    check.url(&spec.image_url, format_args!("creatives[{i}].image_url"));
    check.url(
        &spec.landing_url,
        format_args!("creatives[{i}].landing_url"),
    );
    if let Some(icon) = &spec.icon_url {
        check.url(icon, format_args!("creatives[{i}].icon_url"));
    }
    if kind == CreativeKind::Native {
        check.require(
            spec.title.is_some(),
            format_args!("creatives[{i}].title"),
            "a native creative needs a title",
        );
    }
    let secure = [
        Some(&spec.image_url),
        Some(&spec.landing_url),
        spec.icon_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    .all(|u| u.starts_with("https://"));
    Some(Creative {
        id: spec.id.clone(),
        kind,
        w: spec.w,
        h: spec.h,
        image_url: spec.image_url.clone(),
        landing_url: spec.landing_url.clone(),
        title: spec.title.clone().unwrap_or_default(),
        description: spec.description.clone(),
        brand: spec.brand.clone(),
        price_text: spec.price_text.clone(),
        cta: spec.cta.clone(),
        icon_url: spec.icon_url.clone(),
        markup: match spec.markup.as_deref() {
            Some(custom) => Arc::new(MarkupTemplate::parse(custom)),
            None => Arc::clone(default_markup()),
        },
        attr: spec.attr.clone(),
        secure,
    })
}

fn default_markup() -> &'static Arc<MarkupTemplate> {
    static DEFAULT: OnceLock<Arc<MarkupTemplate>> = OnceLock::new();
    DEFAULT.get_or_init(|| Arc::new(MarkupTemplate::parse(DEFAULT_BANNER_MARKUP)))
}

fn compile_dayparts(spec: &CampaignSpec, check: &mut Checker<'_>) -> Option<[u32; 7]> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    if spec.targeting.dayparts.is_empty() {
        return None;
    }
    let mut hours = [0u32; 7];
    for (i, part) in spec.targeting.dayparts.iter().enumerate() {
        if part.start_hour > 23 || part.end_hour > 24 || part.start_hour == part.end_hour {
            check.fail(
                format_args!("targeting.dayparts[{i}]"),
                "need start_hour 0..=23, end_hour 1..=24, and start != end",
            );
            continue;
        }
        let mask: u32 = (0..24u8)
            .filter(|h| {
                if part.start_hour < part.end_hour {
                    (part.start_hour..part.end_hour).contains(h)
                } else {
                    *h >= part.start_hour || *h < part.end_hour
                }
            })
            .fold(0, |m, h| m | (1 << h));
        let days: Vec<usize> = if part.days.is_empty() {
            (0..7).collect()
        } else {
            part.days
                .iter()
                .filter_map(|d| {
                    let day = DAYS.iter().position(|known| known.eq_ignore_ascii_case(d));
                    if day.is_none() {
                        check.fail(
                            format_args!("targeting.dayparts[{i}].days"),
                            format!("{d:?}: use mon..sun"),
                        );
                    }
                    day
                })
                .collect()
        };
        for day in days {
            hours[day] |= mask;
        }
    }
    Some(hours)
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn sorted_lower(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = values.iter().map(|v| v.trim().to_lowercase()).collect();
    out.sort();
    out.dedup();
    out
}

fn parse_window(window: &str) -> Option<u64> {
    if window == "lifetime" {
        return Some(0);
    }
    let (number, unit) = window.split_at(window.len().checked_sub(1)?);
    let n: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit_secs = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit_secs)
        .filter(|secs| *secs <= 366 * 86_400)
}

fn parse_offset(text: &str) -> Option<UtcOffset> {
    UtcOffset::parse(
        text,
        format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
    )
    .ok()
}

fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
}

/// Normalises an OS name as sent in `device.os` or written in a campaign.
pub(crate) fn normalise_os(os: &str) -> String {
    let lower = os.trim().to_ascii_lowercase();
    match lower.as_str() {
        "iphone os" | "ipados" | "ios" => "ios".to_owned(),
        "mac os x" | "mac os" | "macos" | "os x" => "macos".to_owned(),
        "harmony" | "harmonyos" | "harmony os" => "harmonyos".to_owned(),
        _ => lower,
    }
}

mod signal_rules;
pub use signal_rules::{ContextRules, LtvTier};

#[cfg(test)]
mod tests;
