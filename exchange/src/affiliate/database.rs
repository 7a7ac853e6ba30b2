//! The affiliate database: clicks, orders, order lines and every line's transitions, in
//! the embedded SQLite file (WAL, `synchronous = FULL`: a committed transaction survives
//! `kill -9`) or in PostgreSQL (several nodes; commits wait for its WAL flush), with the
//! same schema and migrations ([`super::sql`]). One connection behind a mutex that only
//! blocking threads take (the click batcher, the order endpoint's transaction, the admin
//! reports): never the request path.
//!
//! Money amounts are integer micro-units; times are unix ms (`at_ms`) or the advertiser's
//! unix seconds (`order_time`). Invariants the schema holds across nodes: one valid click
//! per impression (a partial unique index), one row per order and per order line, one
//! event per line version.

use super::sql::{Database, SqlError};
use crate::config::FraudConfig;
use crate::shared::StoreError;
use events::{insert_click, insert_impression, read_click};
use exchange_core::orders::OrderUpdate;
use ledger::LedgerSettings;
use orders::{apply_line, attribute_order};
use std::path::Path;

/// Schema versions, applied in order (`schema_version` counts those applied); the same
/// statements for SQLite and PostgreSQL.
const MIGRATIONS: [&str; 7] = [
    "
CREATE TABLE clicks (
  click_id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL, auction TEXT NOT NULL, imp TEXT NOT NULL,
  campaign TEXT NOT NULL, creative TEXT NOT NULL, advertiser TEXT NOT NULL, user_key TEXT,
  publisher TEXT, placement TEXT, sub_id TEXT, source_mismatch BIGINT NOT NULL,
  cpc_micros BIGINT, commission_rate DOUBLE PRECISION, served_ms BIGINT NOT NULL,
  ip TEXT, user_agent TEXT, valid BIGINT NOT NULL, reason TEXT);
CREATE INDEX clicks_imp ON clicks (auction, imp);
CREATE UNIQUE INDEX clicks_first_valid ON clicks (auction, imp) WHERE valid = 1;
CREATE INDEX clicks_publisher ON clicks (publisher, placement, sub_id);
CREATE TABLE orders (
  advertiser TEXT NOT NULL, order_id TEXT NOT NULL, currency TEXT NOT NULL,
  order_time BIGINT NOT NULL, click_id TEXT, user_key TEXT, received_ms BIGINT NOT NULL,
  unattributed TEXT, campaign TEXT, creative TEXT, auction TEXT, imp TEXT, publisher TEXT,
  placement TEXT, sub_id TEXT, source_mismatch BIGINT NOT NULL DEFAULT 0,
  commission_rate DOUBLE PRECISION,
  PRIMARY KEY (advertiser, order_id));
CREATE INDEX orders_publisher ON orders (publisher, placement, sub_id);
CREATE TABLE order_lines (
  advertiser TEXT NOT NULL, order_id TEXT NOT NULL, line_id TEXT NOT NULL, sku TEXT NOT NULL,
  category TEXT, quantity BIGINT NOT NULL, unit_price_micros BIGINT NOT NULL,
  state TEXT NOT NULL, refunded_micros BIGINT NOT NULL, commission_micros BIGINT NOT NULL,
  commission_exchange_micros BIGINT NOT NULL, version BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
  PRIMARY KEY (advertiser, order_id, line_id));
CREATE TABLE line_events (
  advertiser TEXT NOT NULL, order_id TEXT NOT NULL, line_id TEXT NOT NULL, version BIGINT NOT NULL,
  state TEXT NOT NULL, refunded_micros BIGINT NOT NULL, commission_micros BIGINT NOT NULL,
  spend_delta_micros BIGINT NOT NULL, spend_campaign TEXT, spend_committed BIGINT NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (advertiser, order_id, line_id, version));
CREATE INDEX line_events_uncommitted ON line_events (spend_committed, at_ms)
",
    "
CREATE TABLE links (
  code TEXT PRIMARY KEY, query TEXT NOT NULL, campaign TEXT NOT NULL, publisher TEXT NOT NULL,
  expires_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL)
",
    "
CREATE TABLE impressions (
  auction TEXT NOT NULL, imp TEXT NOT NULL, campaign TEXT NOT NULL, creative TEXT NOT NULL,
  advertiser TEXT NOT NULL, user_key TEXT, publisher TEXT, placement TEXT, sub_id TEXT,
  source_mismatch BIGINT NOT NULL, at_ms BIGINT NOT NULL,
  PRIMARY KEY (auction, imp));
CREATE INDEX impressions_user ON impressions (user_key, at_ms);
CREATE INDEX clicks_ip ON clicks (ip, valid, at_ms);
CREATE INDEX clicks_user ON clicks (user_key, valid, at_ms);
CREATE INDEX clicks_sub_id ON clicks (publisher, sub_id, valid, at_ms);
ALTER TABLE orders ADD COLUMN attributed_by TEXT;
ALTER TABLE orders ADD COLUMN hold TEXT;
ALTER TABLE orders ADD COLUMN hold_reasons TEXT;
ALTER TABLE orders ADD COLUMN hold_note TEXT;
ALTER TABLE orders ADD COLUMN buyer_account TEXT;
ALTER TABLE orders ADD COLUMN buyer_device TEXT;
ALTER TABLE orders ADD COLUMN buyer_ip TEXT;
CREATE TABLE sub_id_days (
  publisher TEXT NOT NULL, sub_id TEXT NOT NULL, day BIGINT NOT NULL, shard BIGINT NOT NULL,
  clicks BIGINT NOT NULL, orders BIGINT NOT NULL,
  PRIMARY KEY (publisher, sub_id, day, shard));
CREATE INDEX orders_hold ON orders (hold);
CREATE INDEX orders_buyer_account ON orders (buyer_account, order_time);
CREATE INDEX orders_buyer_device ON orders (buyer_device, order_time);
CREATE INDEX orders_buyer_ip ON orders (buyer_ip, order_time)
",
    "
ALTER TABLE orders ADD COLUMN new_customer BIGINT;
ALTER TABLE orders ADD COLUMN first_purchase_time BIGINT;
ALTER TABLE orders ADD COLUMN volume_rank BIGINT;
ALTER TABLE orders ADD COLUMN volume_period TEXT;
CREATE TABLE volume_counts (
  publisher TEXT NOT NULL, campaign TEXT NOT NULL, period TEXT NOT NULL, shard BIGINT NOT NULL,
  orders BIGINT NOT NULL,
  PRIMARY KEY (publisher, campaign, period, shard));
CREATE INDEX orders_buyer_key ON orders (advertiser, user_key, order_time);
ALTER TABLE order_lines ADD COLUMN first_units BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN fee_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN rules TEXT;
ALTER TABLE order_lines ADD COLUMN confirmed_ms BIGINT;
ALTER TABLE order_lines ADD COLUMN review TEXT;
ALTER TABLE order_lines ADD COLUMN review_reason TEXT;
ALTER TABLE order_lines ADD COLUMN amended_value_micros BIGINT;
ALTER TABLE order_lines ADD COLUMN settled_period TEXT;
ALTER TABLE order_lines ADD COLUMN settled_value_micros BIGINT;
ALTER TABLE order_lines ADD COLUMN settled_commission_micros BIGINT;
ALTER TABLE order_lines ADD COLUMN settled_order_commission_micros BIGINT;
ALTER TABLE order_lines ADD COLUMN settled_fee_micros BIGINT;
CREATE INDEX order_lines_unsettled ON order_lines (settled_period, state);
CREATE TABLE sku_units (
  campaign TEXT NOT NULL, sku TEXT NOT NULL, units BIGINT NOT NULL,
  PRIMARY KEY (campaign, sku));
CREATE TABLE ledger (
  seq BIGINT PRIMARY KEY, prev TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL,
  at_ms BIGINT NOT NULL);
CREATE TABLE ledger_head (
  id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL,
  since_checkpoint BIGINT NOT NULL);
INSERT INTO ledger_head (id, seq, hash, since_checkpoint)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
CREATE TABLE settlements (
  period TEXT PRIMARY KEY, settled_ms BIGINT NOT NULL, start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL, lines BIGINT NOT NULL, deltas BIGINT NOT NULL);
CREATE TABLE statement_lines (
  period TEXT NOT NULL, party TEXT NOT NULL, idx BIGINT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (period, party, idx));
CREATE TABLE statements (
  period TEXT NOT NULL, party TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (period, party));
CREATE TABLE ledger_keys (id BIGINT PRIMARY KEY, public_key TEXT NOT NULL);
CREATE TABLE ledger_queue (id TEXT PRIMARY KEY, body TEXT NOT NULL, at_ms BIGINT NOT NULL)
",
    "
ALTER TABLE impressions ADD COLUMN page_cat BIGINT;
ALTER TABLE clicks ADD COLUMN page_cat BIGINT;
CREATE INDEX impressions_at ON impressions (at_ms);
CREATE INDEX clicks_at ON clicks (at_ms);
CREATE INDEX orders_received ON orders (received_ms)
",
    "
CREATE INDEX impressions_placement ON impressions (publisher, placement, at_ms)
",
    "
CREATE TABLE dp_consumers (consumer TEXT PRIMARY KEY, reports BIGINT NOT NULL);
CREATE TABLE dp_spend (consumer TEXT NOT NULL, at_ms BIGINT NOT NULL, epsilon DOUBLE PRECISION NOT NULL);
CREATE INDEX dp_spend_consumer ON dp_spend (consumer, at_ms);
CREATE INDEX clicks_advertiser ON clicks (advertiser, at_ms);
CREATE INDEX impressions_advertiser ON impressions (advertiser, at_ms)
",
];

/// A click as the click endpoint saw it, on its way to the database.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickRecord {
    /// The id given to the landing page.
    pub click_id: String,
    /// When, unix ms.
    pub at_ms: i64,
    /// Auction id.
    pub auction: String,
    /// Imp id.
    pub imp: String,
    /// Campaign.
    pub campaign: String,
    /// Creative.
    pub creative: String,
    /// The campaign's advertiser.
    pub advertiser: String,
    /// Hashed user key, if any.
    pub user: Option<String>,
    /// Publisher.
    pub publisher: Option<String>,
    /// Placement.
    pub placement: Option<String>,
    /// Sub-id.
    pub sub_id: Option<String>,
    /// The source was not registered for the publisher.
    pub source_mismatch: bool,
    /// The page's learning category (IAB tier-1 number), signed in the click URL.
    pub page_category: Option<u16>,
    /// CPC: price of the click, micros of the exchange currency.
    pub cpc_micros: Option<i64>,
    /// CPS: commission rate stamped at auction time.
    pub commission_rate: Option<f64>,
    /// When the ad was served, unix ms.
    pub served_ms: i64,
    /// The clicker's address.
    pub ip: Option<String>,
    /// The clicker's user agent (bounded).
    pub user_agent: Option<String>,
    /// A rule the click already failed on the path (bot agent, too fast), if any.
    pub flag: Option<&'static str>,
}

/// An impression (an internal campaign's win or billing notice, verified and durable) on
/// its way to the database.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpressionRecord {
    /// Auction id.
    pub auction: String,
    /// Imp id.
    pub imp: String,
    /// Campaign.
    pub campaign: String,
    /// Creative.
    pub creative: String,
    /// The campaign's advertiser.
    pub advertiser: String,
    /// Hashed user key, if any.
    pub user: Option<String>,
    /// Publisher.
    pub publisher: Option<String>,
    /// Placement.
    pub placement: Option<String>,
    /// Sub-id.
    pub sub_id: Option<String>,
    /// Source mismatch.
    pub source_mismatch: bool,
    /// The page's learning category (IAB tier-1 number), signed in the notice URL.
    pub page_category: Option<u16>,
    /// When the notice arrived, unix ms.
    pub at_ms: i64,
    /// What the impression cost its campaign (CPM), micros of the exchange currency; 0 for
    /// CPC and CPS campaigns (they pay on clicks and orders).
    pub charge_micros: i64,
}

/// What the database decided about one click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickVerdict {
    /// It earns (a CPC charge, attribution).
    pub valid: bool,
    /// Why not.
    pub reason: Option<String>,
}

/// A recorded click, as orders and reports read it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredClick {
    /// When, unix ms.
    pub at_ms: i64,
    /// Auction id.
    pub auction: String,
    /// Imp id.
    pub imp: String,
    /// Campaign.
    pub campaign: String,
    /// Creative.
    pub creative: String,
    /// Advertiser.
    pub advertiser: String,
    /// Publisher.
    pub publisher: Option<String>,
    /// Placement.
    pub placement: Option<String>,
    /// Sub-id.
    pub sub_id: Option<String>,
    /// Source mismatch.
    pub source_mismatch: bool,
    /// Stamped commission rate.
    pub commission_rate: Option<f64>,
    /// Passed the click rules.
    pub valid: bool,
    /// Why not.
    pub reason: Option<String>,
}

/// What the order endpoint needs to know about a campaign, from the serving snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignTerms {
    /// Click-through window, seconds.
    pub window_secs: i64,
    /// The campaign's commission rate when the click stamped none (CPS), else `None`.
    pub base_rate: Option<f64>,
    /// It pays commission (CPS): its commission counts against its budget.
    pub cps: bool,
    /// View-through window, seconds, where the campaign allows it.
    pub view_through_secs: Option<i64>,
    /// Its commission rules.
    pub commission: exchange_core::commission::CommissionRules,
}

/// Looks up what an order needs outside the database.
pub trait OrderContext {
    /// The serving campaign's terms (`None`: no longer serving; defaults apply).
    fn campaign(&self, id: &str) -> Option<CampaignTerms>;
    /// `micros` of `currency` in micros of the exchange currency (`None`: unknown).
    fn to_exchange(&self, currency: &str, micros: i64) -> Option<i64>;
    /// Whether `account` is one of `publisher`'s own buyer accounts (the registry's).
    fn is_publishers_own(&self, publisher: &str, account: &str) -> bool;
    /// The fraud rules' thresholds.
    fn rules(&self) -> FraudConfig;
    /// The user keys (hex) an advertiser's buyer id stands for: the id as `user.id`,
    /// `user.buyeruid` or `device.ifa`, hashed as the auction hashes them.
    fn user_keys(&self, id: &str) -> Vec<String>;
    /// The network's settlement cycle.
    fn cycle(&self) -> exchange_core::cycle::Cycle;
}

/// A budget spend an order line's change makes (exchange currency; negative: refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendDelta {
    /// Campaign charged.
    pub campaign: String,
    /// Change, micros.
    pub micros: i64,
    /// Idempotency key: advertiser, order, line, version.
    pub event: (String, String, String, i64),
}

/// One line's answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineOutcome {
    /// Line id.
    pub line_id: String,
    /// The line's state now.
    pub state: &'static str,
    /// Whether this report changed it.
    pub changed: bool,
    /// If not, why (`same`, `final`, `locked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<&'static str>,
    /// Commission now, micros of the order currency.
    pub commission_micros: i64,
}

/// The answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderOutcome {
    /// Order id.
    pub order_id: String,
    /// Attributed (to `publisher` / `placement` / `sub_id` via `campaign`) or not.
    pub attributed: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unattributed: Option<&'static str>,
    /// The campaign credited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Publisher credited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Held (not commissioned until an operator clears it), with the rules that held it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<&'static str>,
    /// The rules held it at this report (its first attributed one).
    #[serde(skip)]
    pub held_now: bool,
    /// Per line.
    pub lines: Vec<LineOutcome>,
    /// Budget spend to commit (not part of the answer).
    #[serde(skip)]
    pub spend: Vec<SpendDelta>,
}

/// An operator's decision on a held order, with their note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldDecision<'a> {
    /// Clear it (it earns from now on), or confirm it as fraud (it never does).
    pub clear: bool,
    /// Why (kept with the order).
    pub note: &'a str,
}

/// Why a report was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// The report contradicts what is stored (field, message): 409.
    Conflict(&'static str, String),
    /// The database failed: 503, nothing changed.
    Store(StoreError),
}

impl From<SqlError> for ApplyError {
    fn from(error: SqlError) -> Self {
        Self::Store(unavailable(error))
    }
}

fn unavailable(error: SqlError) -> StoreError {
    StoreError::Unavailable(format!("affiliate database: {error}"))
}

/// The affiliate database: SQLite or PostgreSQL, one schema.
#[derive(Debug)]
pub struct AffiliateDb {
    database: Database,
    ledger: LedgerSettings,
}

impl AffiliateDb {
    /// Opens (creating it, its folder and its schema if needed) the SQLite file at `path`.
    pub fn open(path: &Path, ledger: LedgerSettings) -> Result<Self, StoreError> {
        Self::migrated(Database::sqlite(path).map_err(unavailable)?, ledger)
    }

    /// Connects to PostgreSQL at `url` (up to `connections` at once) and brings its schema
    /// up to date.
    pub fn connect(
        url: &str,
        connections: usize,
        ledger: LedgerSettings,
    ) -> Result<Self, StoreError> {
        Self::migrated(
            Database::postgres(url, connections).map_err(unavailable)?,
            ledger,
        )
    }

    fn migrated(database: Database, ledger: LedgerSettings) -> Result<Self, StoreError> {
        database.migrate(&MIGRATIONS).map_err(unavailable)?;
        // The first node to open the ledger names its key; a node with another key (a
        // forgotten key file, a node given a fresh one) would sign checkpoints no verifier
        // accepts: it does not start.
        let public = ledger.key.public_hex();
        let signed_by = database
            .transaction(|tx| {
                tx.execute(
                    "INSERT INTO ledger_keys (id, public_key) VALUES (1, $1) ON CONFLICT DO NOTHING",
                    &[(&public).into()],
                )?;
                tx.query_one("SELECT public_key FROM ledger_keys WHERE id = 1", &[])
            })
            .map_err(unavailable)?
            .map(|row| row.text(0))
            .unwrap_or_default();
        if signed_by != public {
            return Err(StoreError::Unavailable(format!(
                "affiliate.ledger_key: this ledger is signed with key {signed_by}, this node has \
                 {public}; give every node the same key file"
            )));
        }
        Ok(Self { database, ledger })
    }

    /// How the ledger is signed.
    pub fn ledger_settings(&self) -> &LedgerSettings {
        &self.ledger
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.database.kind()
    }

    /// Writes a batch of impressions and clicks in one transaction (impressions first, so a
    /// click finds its impression of the same batch); per click, whether it is valid by the
    /// click rules (`rules`; the first valid click of its impression, whichever node
    /// recorded the other: a unique index decides).
    pub fn insert_events(
        &self,
        impressions: &[ImpressionRecord],
        clicks: &[ClickRecord],
        rules: &FraudConfig,
    ) -> Result<Vec<ClickVerdict>, StoreError> {
        self.database
            .transaction(|tx| {
                let mut charges: Vec<serde_json::Value> = Vec::new();
                for impression in impressions {
                    let first = insert_impression(tx, impression)?;
                    if first && impression.charge_micros != 0 {
                        charges.push(serde_json::json!({
                            "kind": "impression_charge", "at_ms": impression.at_ms,
                            "auction": impression.auction, "imp": impression.imp,
                            "campaign": impression.campaign, "advertiser": impression.advertiser,
                            "publisher": impression.publisher, "placement": impression.placement,
                            "sub_id": impression.sub_id, "amount_micros": impression.charge_micros,
                        }));
                    }
                }
                let verdicts = clicks
                    .iter()
                    .map(|click| insert_click(tx, click, rules))
                    .collect::<Result<Vec<_>, SqlError>>()?;
                let click_charges = clicks
                    .iter()
                    .zip(&verdicts)
                    .filter(|(click, verdict)| verdict.valid && click.cpc_micros.is_some())
                    .map(|(click, _)| {
                        serde_json::json!({
                            "kind": "click_charge", "at_ms": click.at_ms,
                            "click_id": click.click_id, "auction": click.auction,
                            "imp": click.imp, "campaign": click.campaign,
                            "advertiser": click.advertiser, "publisher": click.publisher,
                            "placement": click.placement, "sub_id": click.sub_id,
                            "amount_micros": click.cpc_micros,
                        })
                    });
                charges.extend(click_charges);
                if !charges.is_empty() {
                    let at_ms = clicks
                        .last()
                        .map(|c| c.at_ms)
                        .or(impressions.last().map(|i| i.at_ms))
                        .unwrap_or(0);
                    ledger::enqueue(tx, &charges, at_ms)?;
                }
                Ok(verdicts)
            })
            .map_err(unavailable)
    }

    /// The click with this id, if recorded.
    pub fn click(&self, click_id: &str) -> Result<Option<StoredClick>, StoreError> {
        self.database
            .transaction(|tx| read_click(tx, click_id))
            .map_err(unavailable)
    }

    /// Stores a promotion link under `code`; `false` when the code is taken.
    pub fn insert_link(
        &self,
        code: &str,
        query: &str,
        campaign: &str,
        publisher: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.database
            .transaction(|tx| {
                tx.execute(
                    "INSERT INTO links (code, query, campaign, publisher, expires_ms, created_ms)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        code.into(),
                        query.into(),
                        campaign.into(),
                        publisher.into(),
                        expires_ms.into(),
                        now_ms.into(),
                    ],
                )
            })
            .map(|inserted| inserted == 1)
            .map_err(unavailable)
    }

    /// The signed query and expiry (unix ms) of the link with this short code.
    pub fn link(&self, code: &str) -> Result<Option<(String, i64)>, StoreError> {
        self.database
            .transaction(|tx| {
                tx.query_one(
                    "SELECT query, expires_ms FROM links WHERE code = $1",
                    &[code.into()],
                )
            })
            .map(|row| row.map(|r| (r.text(0), r.int(1))))
            .map_err(unavailable)
    }

    /// Applies a validated report of `advertiser`'s in one transaction: attribution on its
    /// first report (or again while its click was unknown), then each line's transition,
    /// its commission and the budget spend it changes. Committed (durable) when it returns.
    pub fn apply_order(
        &self,
        advertiser: &str,
        update: &OrderUpdate,
        now_ms: i64,
        context: &dyn OrderContext,
    ) -> Result<OrderOutcome, ApplyError> {
        self.database.transaction(|tx| {
            let mut ledger = Vec::new();
            let order = attribute_order(tx, advertiser, update, now_ms, context, &mut ledger)?;
            let mut outcome = OrderOutcome {
                order_id: update.order_id.clone(),
                attributed: order.unattributed.is_none(),
                unattributed: order.unattributed,
                campaign: order.campaign.clone(),
                publisher: order.publisher.clone(),
                held: order.held.clone(),
                held_now: order.decided && !order.held.is_empty(),
                lines: Vec::with_capacity(update.lines.len()),
                spend: Vec::new(),
            };
            for line in &update.lines {
                let (answer, spend) = apply_line(
                    tx,
                    advertiser,
                    update,
                    line,
                    &order,
                    now_ms,
                    context,
                    &mut ledger,
                )?;
                outcome.lines.push(answer);
                outcome.spend.extend(spend);
            }
            ledger::enqueue(tx, &ledger, now_ms)?;
            Ok(outcome)
        })
    }

    /// Held orders (of `advertiser`, or all), oldest first: who, why, what.
    pub fn held_orders(&self, advertiser: Option<&str>) -> Result<serde_json::Value, StoreError> {
        self.database
            .transaction(|tx| orders::held_orders(tx, advertiser))
            .map_err(unavailable)
    }

    /// An operator's decision on a held order: `clear` (commissioned from now on: every
    /// line's commission computed again, its budget delta returned) or `confirm` (fraud: it
    /// never earns). Refused (409) for an order that is not held.
    pub fn decide_hold(
        &self,
        advertiser: &str,
        order_id: &str,
        decision: HoldDecision<'_>,
        now_ms: i64,
        context: &dyn OrderContext,
    ) -> Result<OrderOutcome, ApplyError> {
        self.database.transaction(|tx| {
            let mut ledger = Vec::new();
            let outcome = orders::decide_hold(
                tx,
                advertiser,
                order_id,
                decision,
                now_ms,
                context,
                &mut ledger,
            )?;
            ledger::enqueue(tx, &ledger, now_ms)?;
            Ok(outcome)
        })
    }

    /// Applies an advertiser's reviews of its lines (each refused on its own when the
    /// line is unknown, settled or unattributed), in one transaction.
    pub fn review(
        &self,
        advertiser: &str,
        reviews: &[review::LineReview],
        now_ms: i64,
        context: &dyn OrderContext,
    ) -> Result<(Vec<review::ReviewOutcome>, Vec<SpendDelta>), ApplyError> {
        self.database.transaction(|tx| {
            let mut ledger = Vec::new();
            let out = review::review(tx, advertiser, reviews, now_ms, context, &mut ledger)?;
            ledger::enqueue(tx, &ledger, now_ms)?;
            Ok(out)
        })
    }

    /// Settles `period` of `cycle` at `now_ms` (idempotent; refused before it closes).
    pub fn settle(
        &self,
        cycle: exchange_core::cycle::Cycle,
        period: exchange_core::cycle::Period,
        now_ms: i64,
        context: &dyn OrderContext,
    ) -> Result<Settlement, ApplyError> {
        let (start, end) = cycle.bounds_ms(period);
        let bounds = (start, end, cycle.pay_ms(period));
        self.database
            .transaction(|tx| settle::settle(tx, &self.ledger, period, bounds, now_ms, context))
    }

    /// Whether `period` is settled.
    pub fn is_settled(&self, period: &str) -> Result<bool, StoreError> {
        self.database
            .transaction(|tx| {
                tx.query_one(
                    "SELECT 1 FROM settlements WHERE period = $1",
                    &[period.into()],
                )
            })
            .map(|row| row.is_some())
            .map_err(unavailable)
    }

    /// The statement of `party` (`publisher:ID` or `advertiser:ID`) for `period`: its signed
    /// summary, every line with its inclusion proof, and the party's held orders.
    pub fn statement(
        &self,
        period: &str,
        party: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.database
            .transaction(|tx| super::statements::statement(tx, period, party))
            .map_err(unavailable)
    }

    /// Queues money events for the ledger in one transaction, as the exchange's own
    /// changes do (tools and benchmarks).
    pub fn queue_ledger(&self, bodies: &[serde_json::Value], at_ms: i64) -> Result<(), StoreError> {
        self.database
            .transaction(|tx| ledger::enqueue(tx, bodies, at_ms))
            .map_err(unavailable)
    }

    /// Chains queued money events into the ledger, up to `limit`; how many (the sequencer's
    /// task calls it every `affiliate.ledger_flush_ms`, exports before reading).
    pub fn sequence_ledger(&self, limit: u64) -> Result<usize, StoreError> {
        self.database
            .transaction(|tx| ledger::sequence(tx, &self.ledger, limit))
            .map_err(unavailable)
    }

    /// Ledger entries from `from` (at most `limit`), as export lines.
    pub fn ledger_export(&self, from: u64, limit: u64) -> Result<Vec<String>, StoreError> {
        self.database
            .transaction(|tx| ledger::export(tx, from, limit))
            .map_err(unavailable)
    }

    /// Appends money events to the ledger in one transaction (tools and benchmarks; the
    /// exchange's own events are appended in the transaction that makes them); the last
    /// entry's sequence number.
    pub fn append_ledger(
        &self,
        bodies: &[serde_json::Value],
        at_ms: i64,
    ) -> Result<u64, StoreError> {
        self.database
            .transaction(|tx| ledger::append(tx, &self.ledger, bodies, at_ms))
            .map_err(unavailable)
    }

    /// Signs a checkpoint over the ledger now (unless its last entry is one); the head.
    pub fn ledger_checkpoint(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.database
            .transaction(|tx| ledger::checkpoint(tx, &self.ledger, now_ms))
            .map_err(unavailable)
    }

    /// Marks the spend of these line events as committed to the budget store.
    pub fn spend_committed(
        &self,
        events: &[(String, String, String, i64)],
    ) -> Result<(), StoreError> {
        self.database
            .transaction(|tx| {
                for (advertiser, order, line, version) in events {
                    tx.execute(
                        "UPDATE line_events SET spend_committed = 1
                         WHERE advertiser = $1 AND order_id = $2 AND line_id = $3 AND version = $4",
                        &[
                            advertiser.into(),
                            order.into(),
                            line.into(),
                            (*version).into(),
                        ],
                    )?;
                }
                Ok::<(), SqlError>(())
            })
            .map_err(unavailable)
    }

    /// Spend of line events not yet committed to the budget store, newer than `since_ms`
    /// (older ones are past the store's idempotency window and are not re-sent).
    pub fn uncommitted_spend(&self, since_ms: i64) -> Result<Vec<SpendDelta>, StoreError> {
        let rows = self
            .database
            .transaction(|tx| {
                tx.query(
                    "SELECT advertiser, order_id, line_id, version, spend_campaign, spend_delta_micros
                     FROM line_events
                     WHERE spend_committed = 0 AND spend_campaign IS NOT NULL AND at_ms >= $1
                     ORDER BY at_ms LIMIT 100000",
                    &[since_ms.into()],
                )
            })
            .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|row| SpendDelta {
                event: (row.text(0), row.text(1), row.text(2), row.int(3)),
                campaign: row.text(4),
                micros: row.int(5),
            })
            .collect())
    }

    /// One order with its lines and their transitions, as JSON (the admin view).
    pub fn order_view(
        &self,
        advertiser: &str,
        order_id: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.database
            .transaction(|tx| super::report::order_view(tx, advertiser, order_id))
            .map_err(unavailable)
    }

    /// Clicks, orders and commission by publisher, placement, sub-id and campaign.
    pub fn summary(&self, publisher: Option<&str>) -> Result<serde_json::Value, StoreError> {
        self.database
            .transaction(|tx| super::report::summary(tx, publisher))
            .map_err(unavailable)
    }

    /// Checks and spends a consumer's privacy budget and reads the report's rows, in one
    /// transaction (`reports`).
    pub fn dp_report(&self, ask: &Ask) -> Result<Spend, StoreError> {
        self.database
            .transaction(|tx| reports::spend_and_read(tx, ask))
            .map_err(unavailable)
    }

    /// What `publisher`'s `placement` did since `since_ms`, per campaign, and its usual
    /// page category.
    pub fn placement_outcomes(
        &self,
        publisher: &str,
        placement: &str,
        since_ms: i64,
    ) -> Result<PlacementOutcomes, StoreError> {
        self.database
            .transaction(|tx| outcomes::at_placement(tx, publisher, placement, since_ms))
            .map_err(unavailable)
    }

    /// Impressions, valid clicks and attributed orders recorded in `[from_ms, to_ms)`, by
    /// campaign, page category and hour (what the learner counts).
    pub fn outcome_counts(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<OutcomeCount>, StoreError> {
        self.database
            .transaction(|tx| outcomes::counts(tx, from_ms, to_ms))
            .map_err(unavailable)
    }
}

mod events;
mod outcomes;
pub use outcomes::{CampaignAtPlacement, OutcomeCount, PlacementOutcomes};
mod reports;
pub use reports::{Ask, Cell, Scope, Spend};
mod holds;
pub mod ledger;
mod orders;
pub mod review;
mod settle;
pub use settle::Settlement;
