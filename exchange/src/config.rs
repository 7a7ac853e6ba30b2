//! Exchange configuration: a TOML file parsed into immutable, validated settings.
//!
//! `from_str` → `validate` → [`ExchangeConfig`]; an invalid file stops the process with a
//! message naming the field, before any port is bound.

mod affiliate;
mod bidders;
mod enrichment;
mod ivt;
mod notices;
mod privacy;
mod reports;
mod signals;
mod store;
mod supply;

pub use affiliate::{
    AdvertiserConfig, AdvertiserCredentials, AffiliateConfig, FraudConfig,
    MIN_ADVERTISER_SECRET_BYTES,
};
pub use bidders::{BidderConfig, FanoutConfig, MediaType, MAX_BIDDERS};
pub use enrichment::{EnrichmentConfig, FirstPartyIdConfig};
pub use ivt::{IvtAction, IvtConfig};
pub use notices::{NoticeConfig, NoticeKeySpec, KEYS_ENV as NOTICE_KEYS_ENV};
pub use privacy::{PrivacyConfig, RuleConfig};
pub use reports::ReportsConfig;
use serde::Deserialize;
pub use signals::{ContextConfig, LearningConfig, LtvConfig, TrendsConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
pub use store::StoreConfig;
pub use supply::{IncompleteChain, InvalidChain, SupplyChainConfig, Unauthorised};
use thiserror::Error;

/// Whether a secret a caller sent equals the configured one, compared in constant time
/// (a mismatch's position leaks nothing; only the length may differ early).
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Everything the exchange reads from `configs/exchange.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeConfig {
    /// Campaign file (JSON or TOML), relative to the config file's folder.
    pub campaigns: PathBuf,
    /// Publisher registry (TOML), relative to the config file's folder; reloaded with the
    /// campaigns. None: no registry (no traffic is marked `source_mismatch`).
    pub publishers: Option<PathBuf>,
    /// Base URL at which publishers and bidders reach this exchange; notice URLs start with it.
    pub public_url: String,
    /// Currency of campaign prices and of the auction (ISO-4217).
    pub currency: String,
    /// Exchange rates: units of each currency per one unit of `currency`.
    pub fx_rates: BTreeMap<String, f64>,
    /// Bounds on what a request may cost.
    pub limits: Limits,
    /// Auction rules.
    pub auction: AuctionRules,
    /// Admin API.
    pub admin: AdminConfig,
    /// The per-candidate debug view.
    pub debug: DebugConfig,
    /// Campaign reloads.
    pub reload: ReloadConfig,
    /// External bidders (DSPs) the exchange fans out to (`[[bidders]]`).
    pub bidders: Vec<BidderConfig>,
    /// How the fan-out budgets time, judges bidder health and sends notices.
    pub fanout: FanoutConfig,
    /// Where frequency counters and budgets live, and how leases are sized.
    pub store: StoreConfig,
    /// The customer lifetime-value model.
    pub ltv: LtvConfig,
    /// Contextual relevance.
    pub context: ContextConfig,
    /// pCTR and pCVR learned from outcomes.
    pub learning: LearningConfig,
    /// Page topics rising over the traffic.
    pub trends: TrendsConfig,
    /// Notice URLs: validity and signing keys.
    pub notices: NoticeConfig,
    /// Which page origins may call the public endpoints from a browser.
    pub cors: CorsConfig,
    /// How the exchange answers Prebid.js (Prebid Server conventions).
    pub prebid: PrebidConfig,
    /// What the exchange fills in that a browser's request lacks (place, device).
    pub enrichment: EnrichmentConfig,
    /// The exchange's own user-id cookie.
    pub first_party_id: FirstPartyIdConfig,
    /// The exchange's node in supply chains, chain policies, `sellers.json`.
    pub supply_chain: SupplyChainConfig,
    /// Invalid traffic at the request: bots, data centers, impossible devices.
    pub ivt: IvtConfig,
    /// Consent enforcement: GDPR default, the exchange's TCF vendor id, activity rules.
    pub privacy: PrivacyConfig,
    /// Privacy-preserving aggregate reports: budgets, bounds, δ.
    pub reports: ReportsConfig,
    /// Clicks, orders and attribution: the database and the click batches.
    pub affiliate: AffiliateConfig,
    /// Advertisers that report orders, with their credentials (`[[advertisers]]`).
    pub advertisers: Vec<AdvertiserConfig>,
}

/// Prebid Server conventions (see `endpoint::prebid` for the rule that detects a Prebid
/// call and what changes for it).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrebidConfig {
    /// The bidder code publishers put in `imp.ext.prebid.bidder` (and in their
    /// `s2sConfig.bidders`) for this exchange; its bids come back under it.
    pub bidder_code: String,
    /// Other codes answered the same way (their bids come back under the code used).
    pub aliases: Vec<String>,
}

impl Default for PrebidConfig {
    fn default() -> Self {
        Self {
            bidder_code: "exchange".to_owned(),
            aliases: Vec::new(),
        }
    }
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
pub fn is_serialized_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Prebid bidder codes: 1–64 letters, digits, `_` or `-`.
fn is_bidder_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// CORS of the public endpoints (auction, notices, probes); never the admin ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins (`https://pub.example`) whose pages may call the exchange; `"*"`: any
    /// (each is echoed, with credentials allowed). Empty: no cross-origin calls.
    pub allow_origins: Vec<String>,
    /// How long a browser may cache a preflight's answer, seconds.
    pub max_age_secs: u32,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: vec!["*".to_owned()],
            max_age_secs: 600,
        }
    }
}

/// Bounds on request size and time.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted request body in bytes; larger gets 413. Default 256 KiB: a
    /// 10-imp request with long page text is under 32 KiB; the margin is for page text.
    pub max_body_bytes: usize,
    /// Time allowed to receive a whole request body, ms; slower gets 408.
    pub body_read_timeout_ms: u64,
    /// Time allowed to receive request headers on a connection, ms.
    pub header_read_timeout_ms: u64,
    /// Most client connections open at once; the effective cap is also kept below the
    /// process's open-file limit. At the cap, new connections wait to be accepted.
    pub max_connections: usize,
    /// Time a new connection may stay silent before its first byte, ms (then closed).
    pub first_byte_timeout_ms: u64,
    /// Time a connection may go without reading or writing a byte, ms (then closed; this
    /// also ends HTTP/2 connections that stop after the preface).
    pub idle_timeout_ms: u64,
    /// `tmax` used when a request gives none, ms.
    pub tmax_default_ms: u64,
    /// Smallest `tmax` honoured; lower (including ≤ 0) is raised to this, ms.
    pub tmax_min_ms: u64,
    /// Largest `tmax` honoured; higher is lowered to this, ms.
    pub tmax_max_ms: u64,
}

pub use exchange_core::config::{AuctionConfig, AuctionRules, BidderTerms, ContextWeights};

/// Admin API settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token for `/admin/*`; empty disables the admin API. `EXCHANGE_ADMIN_TOKEN`
    /// overrides it.
    pub token: String,
    /// Address of a second listener for `/metrics` and `/admin/*` (with the probes), e.g.
    /// `127.0.0.1:9100`; the public port then answers 404 for them. Empty: one port.
    pub listen: String,
}

impl AdminConfig {
    /// The admin listener's address, if one is configured.
    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, String> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        self.listen
            .parse()
            .map(Some)
            .map_err(|_| format!("{:?} is not an address like 127.0.0.1:9100", self.listen))
    }
}

/// Debug view settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// Allow `ext.debug=1` / `?debug=1` to return every candidate and why it lost.
    pub allow: bool,
}

/// Campaign reload settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReloadConfig {
    /// How often the campaign file and the lexicon are checked for changes, ms; 0 turns
    /// the watcher off.
    pub watch_interval_ms: u64,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self {
            campaigns: PathBuf::from("campaigns.json"),
            publishers: None,
            public_url: "http://127.0.0.1:8080".to_owned(),
            currency: "USD".to_owned(),
            fx_rates: BTreeMap::new(),
            limits: Limits::default(),
            auction: AuctionRules::default(),
            admin: AdminConfig::default(),
            debug: DebugConfig::default(),
            reload: ReloadConfig::default(),
            bidders: Vec::new(),
            fanout: FanoutConfig::default(),
            store: StoreConfig::default(),
            ltv: LtvConfig::default(),
            context: ContextConfig::default(),
            learning: LearningConfig::default(),
            trends: TrendsConfig::default(),
            notices: NoticeConfig::default(),
            cors: CorsConfig::default(),
            prebid: PrebidConfig::default(),
            enrichment: EnrichmentConfig::default(),
            first_party_id: FirstPartyIdConfig::default(),
            supply_chain: SupplyChainConfig::default(),
            ivt: IvtConfig::default(),
            privacy: PrivacyConfig::default(),
            reports: ReportsConfig::default(),
            affiliate: AffiliateConfig::default(),
            advertisers: Vec::new(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            body_read_timeout_ms: 1_000,
            header_read_timeout_ms: 5_000,
            max_connections: 10_000,
            first_byte_timeout_ms: 5_000,
            idle_timeout_ms: 60_000,
            tmax_default_ms: 200,
            tmax_min_ms: 10,
            tmax_max_ms: 3_000,
        }
    }
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch_interval_ms: 1_000,
        }
    }
}

/// A config file that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File path.
        path: String,
        /// IO error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// File path.
        path: String,
        /// Parser message (names the key).
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// File path.
        path: String,
        /// The offending key (a path such as `bidders[1](dsp-a).endpoint`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl ExchangeConfig {
    /// Reads, parses and validates a config file; the campaign path becomes absolute-ish
    /// (joined to the config file's folder).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml(&text, &path.display().to_string())?;
        let folder = path.parent().unwrap_or_else(|| Path::new("."));
        if config.campaigns.is_relative() {
            config.campaigns = folder.join(&config.campaigns);
        }
        for file in [
            config.ltv.model.as_mut(),
            config.context.lexicon.as_mut(),
            config.context.semantic.as_mut(),
            config.publishers.as_mut(),
        ]
        .into_iter()
        .flatten()
        .filter(|f| f.is_relative())
        {
            *file = folder.join(&*file);
        }
        for file in [
            &mut config.store.path,
            &mut config.enrichment.geo_database,
            &mut config.affiliate.database,
            &mut config.affiliate.ledger_key,
            &mut config.supply_chain.ads_txt_dir,
            &mut config.ivt.datacenter_ranges,
        ] {
            if file.is_relative() && !file.as_os_str().is_empty() {
                *file = folder.join(&*file);
            }
        }
        if let Ok(url) = std::env::var("EXCHANGE_DATABASE_URL") {
            config.affiliate.database_url = url;
        }
        if let Ok(token) = std::env::var("EXCHANGE_ADMIN_TOKEN") {
            config.admin.token = token;
        }
        let mut changed = false;
        if let Ok(url) = std::env::var("REDIS_URL") {
            config.store.redis_url = url;
            changed = true;
        }
        if let Ok(list) = std::env::var(NOTICE_KEYS_ENV) {
            config
                .notices
                .set_keys_from_list(&list)
                .map_err(|(field, message)| ConfigError::Invalid {
                    path: path.display().to_string(),
                    field,
                    message,
                })?;
            changed = true;
        }
        if changed {
            config.validate(&path.display().to_string())?;
        }
        Ok(config)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: origin.to_owned(),
            message: error.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks ranges and relations between values.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            field: field.to_owned(),
            message,
        };
        if let Err(message) = self.admin.listen_addr() {
            return Err(invalid("admin.listen", message));
        }
        if !is_bidder_code(&self.prebid.bidder_code) {
            return Err(invalid(
                "prebid.bidder_code",
                format!(
                    "{:?}: 1-64 letters, digits, _ or -",
                    self.prebid.bidder_code
                ),
            ));
        }
        for (i, alias) in self.prebid.aliases.iter().enumerate() {
            if !is_bidder_code(alias) {
                return Err(invalid(
                    &format!("prebid.aliases[{i}]"),
                    format!("{alias:?}: 1-64 letters, digits, _ or -"),
                ));
            }
        }
        for (i, origin) in self.cors.allow_origins.iter().enumerate() {
            if origin != "*" && !is_serialized_origin(origin) {
                return Err(invalid(
                    &format!("cors.allow_origins[{i}]"),
                    format!("{origin:?} is not an origin like https://pub.example (or \"*\")"),
                ));
            }
        }
        if !is_currency_code(&self.currency) {
            return Err(invalid(
                "currency",
                format!("{:?} is not an ISO-4217 code", self.currency),
            ));
        }
        for (code, rate) in &self.fx_rates {
            if !is_currency_code(code) || !rate.is_finite() || *rate <= 0.0 {
                return Err(invalid(
                    "fx_rates",
                    format!("{code} = {rate}: need a code and a positive rate"),
                ));
            }
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(invalid(
                "public_url",
                "must start with http:// or https://".to_owned(),
            ));
        }
        let limits = &self.limits;
        if !(1024..=16 * 1024 * 1024).contains(&limits.max_body_bytes) {
            return Err(invalid(
                "limits.max_body_bytes",
                "must be between 1 KiB and 16 MiB".to_owned(),
            ));
        }
        if limits.max_connections == 0 {
            return Err(invalid(
                "limits.max_connections",
                "must be at least 1".to_owned(),
            ));
        }
        if limits.first_byte_timeout_ms == 0 || limits.idle_timeout_ms == 0 {
            return Err(invalid(
                "limits.first_byte_timeout_ms",
                "connection timeouts must be > 0".to_owned(),
            ));
        }
        if limits.body_read_timeout_ms == 0 || limits.header_read_timeout_ms == 0 {
            return Err(invalid(
                "limits.body_read_timeout_ms",
                "read timeouts must be > 0".to_owned(),
            ));
        }
        if !(limits.tmax_min_ms >= 1
            && limits.tmax_min_ms <= limits.tmax_default_ms
            && limits.tmax_default_ms <= limits.tmax_max_ms
            && limits.tmax_max_ms <= 60_000)
        {
            return Err(invalid(
                "limits.tmax_default_ms",
                "need 1 <= tmax_min_ms <= tmax_default_ms <= tmax_max_ms <= 60000".to_owned(),
            ));
        }
        let rules = &self.auction;
        if ![1, 2].contains(&rules.default_auction_type) {
            return Err(invalid(
                "auction.default_auction_type",
                "must be 1 or 2".to_owned(),
            ));
        }
        if !rules.min_increment.is_finite() || rules.min_increment <= 0.0 {
            return Err(invalid(
                "auction.min_increment",
                "must be a positive number".to_owned(),
            ));
        }
        if !rules.floor_cpm.is_finite() || rules.floor_cpm < 0.0 {
            return Err(invalid(
                "auction.floor_cpm",
                "must be a number >= 0".to_owned(),
            ));
        }
        if rules.max_wins_per_campaign == 0 {
            return Err(invalid(
                "auction.max_wins_per_campaign",
                "must be at least 1".to_owned(),
            ));
        }
        if rules.bid_expiry_secs <= 0 {
            return Err(invalid(
                "auction.bid_expiry_secs",
                "must be positive".to_owned(),
            ));
        }
        bidders::validate(self).map_err(|(field, message)| invalid(&field, message))?;
        self.store
            .validate()
            .and_then(|()| self.context.validate())
            .and_then(|()| self.learning.validate())
            .and_then(|()| self.trends.validate())
            .and_then(|()| self.ltv.validate())
            .and_then(|()| self.notices.validate(self.auction.bid_expiry_secs))
            .and_then(|()| self.enrichment.validate())
            .and_then(|()| self.first_party_id.validate())
            .and_then(|()| self.supply_chain.validate())
            .and_then(|()| self.privacy.validate())
            .and_then(|()| self.reports.validate())
            .and_then(|()| self.affiliate.validate())
            .and_then(|()| self.advertiser_credentials().map(drop))
            .map_err(|(field, message)| invalid(&field, message))
    }

    /// Every `[[advertisers]]` entry's credentials (environment read), ids unique.
    pub fn advertiser_credentials(&self) -> Result<Vec<AdvertiserCredentials>, (String, String)> {
        let mut out: Vec<AdvertiserCredentials> = Vec::with_capacity(self.advertisers.len());
        for (i, advertiser) in self.advertisers.iter().enumerate() {
            let credentials = advertiser.credentials(i)?;
            if out.iter().any(|c| c.id == credentials.id) {
                return Err((
                    format!("advertisers[{i}]({}).id", advertiser.id),
                    "duplicate advertiser id".to_owned(),
                ));
            }
            out.push(credentials);
        }
        Ok(out)
    }

    /// Units of `code` per unit of the exchange currency, if known.
    pub fn rate_of(&self, code: &str) -> Option<f64> {
        exchange_core::config::rate_of(&self.currency, &self.fx_rates, code)
    }

    /// The auction's slice of this configuration (the core reads nothing else).
    pub fn auction_config(&self) -> exchange_core::config::AuctionConfig {
        exchange_core::config::AuctionConfig {
            currency: self.currency.clone(),
            fx_rates: self.fx_rates.clone(),
            auction: self.auction.clone(),
            context: exchange_core::config::ContextWeights {
                relevance_lift: self.context.relevance_lift,
                category_weight: self.context.category_weight,
                quality_weight: self.context.quality_weight,
                quality_floor: self.context.quality_floor,
                interest_lift: self.context.interest_lift,
                member_cvr_lift: self.context.member_cvr_lift,
                max_terms: self.context.max_terms,
                contextual_only: self.context.contextual_only,
            },
            ltv_horizon_weeks: self.ltv.horizon_weeks,
            learning: self.learning.settings(),
            privacy: self.privacy.settings(self.context.contextual_only),
            bidders: self
                .bidders
                .iter()
                .map(|b| exchange_core::config::BidderTerms {
                    name: b.name.clone(),
                    bid_adjustment: b.bid_adjustment,
                    currency: b.currency.clone(),
                    test: b.test,
                    tcf_vendor_id: b.tcf_vendor_id,
                })
                .collect(),
        }
    }
}

pub use bidder_sdk::openrtb::is_currency_code;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ExchangeConfig::default()
            .validate("defaults")
            .expect("valid");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_field() {
        let error = ExchangeConfig::from_toml("curency = \"USD\"", "x.toml").expect_err("typo");
        assert!(error.to_string().contains("curency"), "{error}");
        let error = ExchangeConfig::from_toml("[auction]\nmin_increment = -1.0", "x.toml")
            .expect_err("negative");
        assert!(
            error.to_string().contains("auction.min_increment"),
            "{error}"
        );
        let error = ExchangeConfig::from_toml(
            "[limits]\ntmax_min_ms = 500\ntmax_default_ms = 100",
            "x.toml",
        )
        .expect_err("inverted");
        assert!(error.to_string().contains("tmax"), "{error}");
    }

    #[test]
    fn fx_rates_are_case_insensitive_and_own_currency_is_one() {
        let config = ExchangeConfig::from_toml("[fx_rates]\nCNY = 7.2", "x.toml").expect("valid");
        assert_eq!(config.rate_of("cny"), Some(7.2));
        assert_eq!(config.rate_of("USD"), Some(1.0));
        assert_eq!(config.rate_of("EUR"), None);
    }
}
