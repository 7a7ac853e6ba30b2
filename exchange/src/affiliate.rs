//! The affiliate loop. First half: `clicks_in` (`GET /c/ad`: verify, 302 to the
//! creative's landing URL with a click id) → `click_log` (off the request path, batched into
//! the database, judged, CPC charged) → `orders_in` (`POST /orders`: an advertiser's
//! authenticated report, applied in one transaction: attribution, commission by the
//! campaign's rules, fraud holds). Second half: `settlement_in` (advertiser review,
//! settlement of a period, statements per publisher and advertiser, the ledger export and
//! key) → `database` (SQLite or PostgreSQL: clicks, orders, lines, their transitions, the
//! hash-chained ledger, settlements and statements) → `report` / `statements` (what the
//! APIs read back). The pure rules are `exchange-core`'s `click`, `orders`, `commission`,
//! `cycle` and `ledger`.

pub mod auth;
pub mod batch;
pub mod click_log;
pub mod click_writer;
pub mod clicks_in;
pub mod database;
pub mod import;
pub mod ledger_cli;
pub mod ledger_key;
pub mod links;
pub mod orders_in;
mod report;
pub mod settlement_in;
pub mod sql;
pub mod statements;
pub mod stats;
pub mod views;

use crate::config::{AdvertiserCredentials, ExchangeConfig};
use crate::shared::StoreError;
use database::ledger::LedgerSettings;
use database::AffiliateDb;
use std::sync::Arc;
use std::time::Duration;

/// The affiliate state of one exchange node.
#[derive(Debug)]
pub struct Affiliate {
    /// Clicks and orders (none: clicks are not kept and orders are refused).
    pub database: Option<Arc<AffiliateDb>>,
    /// Clicks on their way to the database.
    pub clicks: click_log::ClickLog,
    /// Who may report orders.
    pub advertisers: Vec<AdvertiserCredentials>,
    /// Clicks refused at the door, by reason.
    pub refused: stats::RefusedClicks,
    /// Orders by outcome.
    pub orders: stats::OrderStats,
    /// Server time of a click (`/c/ad`, `/c/p`): routed to answered.
    pub click_latency: crate::metrics::histogram::LatencyHistogram,
    /// Server time of an order report, durable commit included.
    pub order_latency: crate::metrics::histogram::LatencyHistogram,
}

impl Affiliate {
    /// The affiliate state `config` describes, without its database (tests, benches).
    pub fn new(config: &ExchangeConfig) -> Self {
        let settings = &config.affiliate;
        Self {
            database: None,
            clicks: click_log::ClickLog::new(
                settings.click_queue,
                settings.click_batch,
                Duration::from_millis(settings.click_flush_ms),
            ),
            // Validation read these once already; a variable unset since leaves nobody
            // able to report (401), never someone else.
            advertisers: config.advertiser_credentials().unwrap_or_default(),
            refused: stats::RefusedClicks::default(),
            orders: stats::OrderStats::default(),
            click_latency: Default::default(),
            order_latency: Default::default(),
        }
    }

    /// The same, with its database: PostgreSQL at `affiliate.database_url`, else the SQLite
    /// file at `affiliate.database` (created if missing); schema brought up to date. Runs
    /// on a blocking thread (the PostgreSQL client blocks).
    pub async fn open(config: &ExchangeConfig) -> Result<Self, StoreError> {
        let mut affiliate = Self::new(config);
        let url = config.affiliate.database_url.clone();
        let connections = config.affiliate.database_connections;
        let path = config.affiliate.database.clone();
        let key_file = config.affiliate.ledger_key.clone();
        let checkpoint_every = config.affiliate.checkpoint_every;
        let opened = tokio::task::spawn_blocking(move || {
            let ledger = || {
                Ok::<_, StoreError>(LedgerSettings {
                    key: ledger_key::load_or_create(&key_file)?,
                    checkpoint_every,
                })
            };
            if !url.is_empty() {
                AffiliateDb::connect(&url, connections, ledger()?).map(Some)
            } else if !path.as_os_str().is_empty() {
                AffiliateDb::open(&path, ledger()?).map(Some)
            } else {
                Ok(None)
            }
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("affiliate database: {e}")))??;
        affiliate.database = opened.map(Arc::new);
        Ok(affiliate)
    }
}
