//! `[affiliate]` and `[[advertisers]]`: where clicks and orders are kept, how clicks are
//! batched, and how each advertiser authenticates the orders it reports.

use serde::Deserialize;
use std::path::PathBuf;

/// Clicks, orders and attribution.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffiliateConfig {
    /// SQLite file of clicks, orders and their states, relative to the config file's folder
    /// (default `affiliate.db`). Empty: clicks still redirect and charge, but are recorded
    /// nowhere, and orders are refused (503): nothing is acknowledged that is not durable.
    pub database: PathBuf,
    /// PostgreSQL instead of the SQLite file, for several nodes:
    /// `postgres://user:password@host:port/database` (no TLS: loopback or a private
    /// network). `EXCHANGE_DATABASE_URL` overrides it. Empty: the SQLite file.
    pub database_url: String,
    /// PostgreSQL connections this node opens at most (transactions at once).
    pub database_connections: usize,
    /// Clicks waiting to be written, at most. A click past it still redirects, but its
    /// record is dropped and counted (`exchange_clicks_total{outcome="dropped"}`).
    pub click_queue: usize,
    /// Clicks written in one transaction, at most.
    pub click_batch: usize,
    /// Longest a click waits for its batch to be written, ms: what a crash can lose is
    /// at most the clicks of this window (and of the queue).
    pub click_flush_ms: u64,
    /// Largest order report body, bytes.
    pub max_order_bytes: usize,
    /// Largest order file (`POST /orders/batch`), bytes.
    pub max_batch_bytes: usize,
    /// An HMAC-signed order's `X-Timestamp` may differ from the exchange's clock by this
    /// many seconds at most (a captured request cannot be replayed later).
    pub signature_skew_secs: u64,
    /// Fraud rules' thresholds.
    pub fraud: FraudConfig,
    /// The exchange's Ed25519 ledger key: a file holding the 32-byte seed in hex, relative
    /// to the config file's folder (default `ledger.key`), created (mode 0600) if missing.
    /// Checkpoints and statements are signed with it; its public half is served at
    /// `GET /ledger/key`.
    pub ledger_key: PathBuf,
    /// A signed checkpoint after this many ledger entries (and after each settlement).
    pub checkpoint_every: u64,
    /// Money events wait at most this long (ms) in the ledger queue before they are chained
    /// (they are durable from their own transaction on).
    pub ledger_flush_ms: u64,
    /// The settlement cycle.
    pub settlement: SettlementConfig,
}

/// `[affiliate.settlement]`: when periods close and are paid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementConfig {
    /// Last day of a period, 1–28 (default 15: the 16th–15th).
    pub close_day: u8,
    /// Pay day, 1–28 (default 20): in the closing month if after `close_day`, else the next.
    pub pay_day: u8,
    /// The network's time zone as a UTC offset, `+08:00` form (default `+08:00`).
    pub utc_offset: String,
    /// Settle each period by itself once its pay day has come (default true).
    pub schedule: bool,
    /// How often the scheduled settlement looks, seconds, 1–86400 (default 60).
    pub check_secs: u64,
}

impl Default for SettlementConfig {
    fn default() -> Self {
        Self {
            close_day: 15,
            pay_day: 20,
            utc_offset: "+08:00".to_owned(),
            schedule: true,
            check_secs: 60,
        }
    }
}

impl SettlementConfig {
    /// The cycle, or the field that is wrong.
    pub fn cycle(&self) -> Result<exchange_core::cycle::Cycle, (String, String)> {
        let fail = |field: &str, message: &str| {
            Err((format!("affiliate.settlement.{field}"), message.to_owned()))
        };
        if !(1..=28).contains(&self.close_day) {
            return fail("close_day", "must be 1..=28");
        }
        if !(1..=28).contains(&self.pay_day) {
            return fail("pay_day", "must be 1..=28");
        }
        if !(1..=86_400).contains(&self.check_secs) {
            return fail("check_secs", "must be 1..=86400");
        }
        let format =
            time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
        let Ok(offset) = time::UtcOffset::parse(&self.utc_offset, &format) else {
            return fail("utc_offset", "use the +08:00 form");
        };
        Ok(exchange_core::cycle::Cycle {
            close_day: self.close_day,
            pay_day: self.pay_day,
            utc_offset_secs: offset.whole_seconds(),
        })
    }
}

/// Thresholds of the click and order rules (`[affiliate.fraud]`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FraudConfig {
    /// An ad click with no impression notice received for it yet earns nothing
    /// (`before_impression`).
    pub click_needs_impression: bool,
    /// Valid clicks one IP may make in a minute; more are `flood_ip`.
    pub clicks_per_ip_per_minute: u32,
    /// Valid clicks one user key may make in a minute; more are `flood_user`.
    pub clicks_per_user_per_minute: u32,
    /// Valid clicks one sub-id may bring in a minute; more are `flood_sub_id`.
    pub clicks_per_sub_id_per_minute: u32,
    /// An order placed within this many ms of its click is held (`fast_conversion`).
    pub min_click_to_order_ms: u32,
    /// Orders one buyer (account, device or IP) may place in an hour; more are held
    /// (`burst`).
    pub orders_per_buyer_per_hour: u32,
    /// A sub-id whose orders per valid click (over 30 days, at least `outlier_min_clicks`
    /// clicks) exceed this many times the network's is held (`sub_id_outlier`).
    pub outlier_factor: f64,
    /// Fewest valid clicks of a sub-id before its conversion rate is judged.
    pub outlier_min_clicks: u32,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            click_needs_impression: true,
            clicks_per_ip_per_minute: 30,
            clicks_per_user_per_minute: 20,
            clicks_per_sub_id_per_minute: 600,
            min_click_to_order_ms: 1000,
            orders_per_buyer_per_hour: 5,
            outlier_factor: 5.0,
            outlier_min_clicks: 20,
        }
    }
}

impl Default for AffiliateConfig {
    fn default() -> Self {
        Self {
            database: PathBuf::from("affiliate.db"),
            database_url: String::new(),
            database_connections: 8,
            click_queue: 65_536,
            click_batch: 1024,
            click_flush_ms: 50,
            max_order_bytes: 1 << 20,
            max_batch_bytes: 16 << 20,
            signature_skew_secs: 300,
            fraud: FraudConfig::default(),
            ledger_key: PathBuf::from("ledger.key"),
            checkpoint_every: 1000,
            ledger_flush_ms: 200,
            settlement: SettlementConfig::default(),
        }
    }
}

impl AffiliateConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let checks = [
            (
                (1..=1 << 22).contains(&self.click_queue),
                "affiliate.click_queue",
                "1..=4194304 clicks",
            ),
            (
                (1..=256).contains(&self.database_connections),
                "affiliate.database_connections",
                "1..=256 connections",
            ),
            (
                (1..=65_536).contains(&self.click_batch),
                "affiliate.click_batch",
                "1..=65536 clicks",
            ),
            (
                (1..=10_000).contains(&self.click_flush_ms),
                "affiliate.click_flush_ms",
                "1..=10000 ms",
            ),
            (
                (1024..=64 << 20).contains(&self.max_order_bytes),
                "affiliate.max_order_bytes",
                "1 KiB..=64 MiB",
            ),
            (
                (1024..=256 << 20).contains(&self.max_batch_bytes),
                "affiliate.max_batch_bytes",
                "1 KiB..=256 MiB",
            ),
            (
                (1..=3600).contains(&self.signature_skew_secs),
                "affiliate.signature_skew_secs",
                "1..=3600 s",
            ),
        ];
        let url_ok = self.database_url.is_empty()
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://");
        if !url_ok {
            return Err((
                "affiliate.database_url".to_owned(),
                "must be a postgres:// URL (or empty)".to_owned(),
            ));
        }
        let fraud = &self.fraud;
        if fraud.clicks_per_ip_per_minute == 0
            || fraud.clicks_per_user_per_minute == 0
            || fraud.clicks_per_sub_id_per_minute == 0
            || fraud.orders_per_buyer_per_hour == 0
        {
            return Err((
                "affiliate.fraud".to_owned(),
                "per-minute and per-hour limits must be at least 1".to_owned(),
            ));
        }
        if !(fraud.outlier_factor.is_finite() && fraud.outlier_factor >= 1.0) {
            return Err((
                "affiliate.fraud.outlier_factor".to_owned(),
                "must be a number >= 1".to_owned(),
            ));
        }
        self.settlement.cycle()?;
        if !(1..=60_000).contains(&self.ledger_flush_ms) {
            return Err((
                "affiliate.ledger_flush_ms".to_owned(),
                "must be 1..=60000 ms".to_owned(),
            ));
        }
        if !(1..=1_000_000).contains(&self.checkpoint_every) {
            return Err((
                "affiliate.checkpoint_every".to_owned(),
                "must be 1..=1000000 entries".to_owned(),
            ));
        }
        for (ok, field, message) in checks {
            if !ok {
                return Err((field.to_owned(), format!("must be {message}")));
            }
        }
        Ok(())
    }
}

/// One advertiser that reports orders (`[[advertisers]]`): its id is the campaigns'
/// `advertiser`. It authenticates with an HMAC of the body under its key, or with its
/// bearer token, or either when both are set.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvertiserConfig {
    /// The campaigns' `advertiser` id.
    pub id: String,
    /// HMAC-SHA256 key (at least 32 bytes); prefer `hmac_secret_env`.
    pub hmac_secret: String,
    /// Name of an environment variable holding the HMAC key.
    pub hmac_secret_env: String,
    /// Bearer token (at least 32 bytes); prefer `bearer_token_env`.
    pub bearer_token: String,
    /// Name of an environment variable holding the bearer token.
    pub bearer_token_env: String,
}

impl std::fmt::Debug for AdvertiserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvertiserConfig")
            .field("id", &self.id)
            .field("hmac_secret_env", &self.hmac_secret_env)
            .field("bearer_token_env", &self.bearer_token_env)
            .finish_non_exhaustive()
    }
}

/// Shortest HMAC key or bearer token accepted.
pub const MIN_ADVERTISER_SECRET_BYTES: usize = 32;

/// An advertiser's credentials, read (environment included) and checked.
#[derive(Clone, Default)]
pub struct AdvertiserCredentials {
    /// The advertiser id.
    pub id: String,
    /// HMAC key, if any.
    pub hmac_secret: Option<Vec<u8>>,
    /// Bearer token, if any.
    pub bearer_token: Option<Vec<u8>>,
}

impl std::fmt::Debug for AdvertiserCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvertiserCredentials")
            .field("id", &self.id)
            .field("hmac", &self.hmac_secret.is_some())
            .field("bearer", &self.bearer_token.is_some())
            .finish()
    }
}

impl AdvertiserConfig {
    /// The credentials these settings describe (reads the `_env` variables).
    pub fn credentials(&self, index: usize) -> Result<AdvertiserCredentials, (String, String)> {
        let field = format!("advertisers[{index}]({})", self.id);
        let valid_id = (1..=64).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_id {
            return Err((
                format!("{field}.id"),
                "need 1-64 letters, digits, '-', '_' or '.'".to_owned(),
            ));
        }
        let read =
            |value: &str, env: &str, name: &str| -> Result<Option<Vec<u8>>, (String, String)> {
                let secret = match (value.is_empty(), env.is_empty()) {
                    (true, true) => return Ok(None),
                    (false, true) => value.to_owned(),
                    (true, false) => std::env::var(env).map_err(|_| {
                        (
                            format!("{field}.{name}_env"),
                            format!("environment variable {env} is not set"),
                        )
                    })?,
                    (false, false) => {
                        return Err((
                            format!("{field}.{name}"),
                            format!("give one of {name} and {name}_env"),
                        ))
                    }
                };
                if secret.len() < MIN_ADVERTISER_SECRET_BYTES {
                    return Err((
                        format!("{field}.{name}"),
                        format!("must be at least {MIN_ADVERTISER_SECRET_BYTES} bytes"),
                    ));
                }
                Ok(Some(secret.into_bytes()))
            };
        let credentials = AdvertiserCredentials {
            id: self.id.clone(),
            hmac_secret: read(&self.hmac_secret, &self.hmac_secret_env, "hmac_secret")?,
            bearer_token: read(&self.bearer_token, &self.bearer_token_env, "bearer_token")?,
        };
        if credentials.hmac_secret.is_none() && credentials.bearer_token.is_none() {
            return Err((
                field,
                "needs an hmac_secret or a bearer_token (or their _env)".to_owned(),
            ));
        }
        Ok(credentials)
    }
}
