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

use super::sql::{Database, Row, SqlError, Tx, Value};
use crate::shared::StoreError;
use exchange_core::orders::{self, Line, LineState, LineUpdate, OrderUpdate, Transition};
use std::path::Path;

/// Schema versions, applied in order (`schema_version` counts those applied); the same
/// statements for SQLite and PostgreSQL.
const MIGRATIONS: [&str; 2] = [
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CampaignTerms {
    /// Click-through window, seconds.
    pub window_secs: i64,
    /// The campaign's commission rate when the click stamped none (CPS), else `None`.
    pub base_rate: Option<f64>,
    /// It pays commission (CPS): its commission counts against its budget.
    pub cps: bool,
}

/// Looks up what an order needs outside the database.
pub trait OrderContext {
    /// The serving campaign's terms (`None`: no longer serving; defaults apply).
    fn campaign(&self, id: &str) -> Option<CampaignTerms>;
    /// `micros` of `currency` in micros of the exchange currency (`None`: unknown).
    fn to_exchange(&self, currency: &str, micros: i64) -> Option<i64>;
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
    /// Per line.
    pub lines: Vec<LineOutcome>,
    /// Budget spend to commit (not part of the answer).
    #[serde(skip)]
    pub spend: Vec<SpendDelta>,
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
}

impl AffiliateDb {
    /// Opens (creating it, its folder and its schema if needed) the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::migrated(Database::sqlite(path).map_err(unavailable)?)
    }

    /// Connects to PostgreSQL at `url` and brings its schema up to date.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::migrated(Database::postgres(url).map_err(unavailable)?)
    }

    fn migrated(database: Database) -> Result<Self, StoreError> {
        database.migrate(&MIGRATIONS).map_err(unavailable)?;
        Ok(Self { database })
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.database.kind()
    }

    /// Writes a batch of clicks in one transaction; per click, whether it is valid (not
    /// flagged on the path, and the first valid click of its impression, whichever node
    /// recorded the other: a unique index decides).
    pub fn insert_clicks(&self, clicks: &[ClickRecord]) -> Result<Vec<ClickVerdict>, StoreError> {
        self.database
            .transaction(|tx| clicks.iter().map(|click| insert_click(tx, click)).collect())
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
            let order = attribute_order(tx, advertiser, update, now_ms, context)?;
            let mut outcome = OrderOutcome {
                order_id: update.order_id.clone(),
                attributed: order.unattributed.is_none(),
                unattributed: order.unattributed,
                campaign: order.campaign.clone(),
                publisher: order.publisher.clone(),
                lines: Vec::with_capacity(update.lines.len()),
                spend: Vec::new(),
            };
            for line in &update.lines {
                let (answer, spend) =
                    apply_line(tx, advertiser, update, line, &order, now_ms, context)?;
                outcome.lines.push(answer);
                outcome.spend.extend(spend);
            }
            Ok(outcome)
        })
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
}

fn insert_click(tx: &mut dyn Tx, click: &ClickRecord) -> Result<ClickVerdict, SqlError> {
    const INSERT: &str = "INSERT INTO clicks (click_id, at_ms, auction, imp, campaign, creative,
           advertiser, user_key, publisher, placement, sub_id, source_mismatch, cpc_micros,
           commission_rate, served_ms, ip, user_agent, valid, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
         ON CONFLICT DO NOTHING";
    let row = |valid: bool, reason: Option<&str>| -> Vec<Value> {
        vec![
            (&click.click_id).into(),
            click.at_ms.into(),
            (&click.auction).into(),
            (&click.imp).into(),
            (&click.campaign).into(),
            (&click.creative).into(),
            (&click.advertiser).into(),
            click.user.as_ref().into(),
            click.publisher.as_ref().into(),
            click.placement.as_ref().into(),
            click.sub_id.as_ref().into(),
            click.source_mismatch.into(),
            click.cpc_micros.into(),
            click.commission_rate.into(),
            click.served_ms.into(),
            click.ip.as_ref().into(),
            click.user_agent.as_ref().into(),
            valid.into(),
            reason.into(),
        ]
    };
    if let Some(flag) = click.flag {
        tx.execute(INSERT, &row(false, Some(flag)))?;
        return Ok(ClickVerdict {
            valid: false,
            reason: Some(flag.to_owned()),
        });
    }
    // The first valid click of an impression takes the unique slot; a later one (a double
    // click, a replay, another node's) finds it taken and is recorded as a duplicate.
    if tx.execute(INSERT, &row(true, None))? == 1 {
        return Ok(ClickVerdict {
            valid: true,
            reason: None,
        });
    }
    tx.execute(INSERT, &row(false, Some("duplicate")))?;
    Ok(ClickVerdict {
        valid: false,
        reason: Some("duplicate".to_owned()),
    })
}

fn read_click(tx: &mut dyn Tx, click_id: &str) -> Result<Option<StoredClick>, SqlError> {
    let row = tx.query_one(
        "SELECT at_ms, auction, imp, campaign, creative, advertiser, publisher, placement, sub_id,
           source_mismatch, commission_rate, valid, reason FROM clicks WHERE click_id = $1",
        &[click_id.into()],
    )?;
    Ok(row.map(|row| StoredClick {
        at_ms: row.int(0),
        auction: row.text(1),
        imp: row.text(2),
        campaign: row.text(3),
        creative: row.text(4),
        advertiser: row.text(5),
        publisher: row.opt_text(6),
        placement: row.opt_text(7),
        sub_id: row.opt_text(8),
        source_mismatch: row.flag(9),
        commission_rate: row.opt_real(10),
        valid: row.flag(11),
        reason: row.opt_text(12),
    }))
}

/// An order's attribution as stored.
#[derive(Debug, Clone, Default)]
struct StoredOrder {
    unattributed: Option<&'static str>,
    campaign: Option<String>,
    publisher: Option<String>,
    rate: Option<f64>,
    cps: bool,
    /// Attributed by this report after an earlier one found no click: every stored line's
    /// commission is computed again.
    reattributed: bool,
}

/// The order's attribution: read, or decided on its first report (and again while its
/// click was unknown, e.g. still in another node's batch).
fn attribute_order(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<StoredOrder, ApplyError> {
    // `FOR UPDATE` on PostgreSQL (two nodes reporting one order serialise here); SQLite
    // has one writer anyway.
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let stored = tx.query_one(
        &format!(
            "SELECT currency, unattributed, campaign, publisher, commission_rate FROM orders
             WHERE advertiser = $1 AND order_id = $2{lock}"
        ),
        &[advertiser.into(), (&update.order_id).into()],
    )?;
    if let Some(row) = &stored {
        let currency = row.text(0);
        if currency != update.currency {
            return Err(ApplyError::Conflict(
                "currency",
                format!("the order was first reported in {currency}"),
            ));
        }
        let unattributed = row.opt_text(1);
        let retry = unattributed.as_deref() == Some(orders::Unattributed::UnknownClick.as_str());
        if !retry {
            let campaign = row.opt_text(2);
            let cps = campaign
                .as_deref()
                .and_then(|c| context.campaign(c))
                .is_some_and(|t| t.cps);
            return Ok(StoredOrder {
                unattributed: unattributed.as_deref().map(label),
                campaign,
                publisher: row.opt_text(3),
                rate: row.opt_real(4),
                cps,
                reattributed: false,
            });
        }
    }
    let click = match update.click_id.as_deref() {
        Some(id) => read_click(tx, id)?,
        None => None,
    };
    let terms = click.as_ref().and_then(|c| context.campaign(&c.campaign));
    let window = terms.map_or(
        i64::from(exchange_core::campaign::DEFAULT_ATTRIBUTION_HOURS) * 3600,
        |t| t.window_secs,
    );
    let verdict = match &update.click_id {
        None => Err(orders::Unattributed::NoClick),
        Some(_) => orders::attribute(
            click.as_ref().map(|c| orders::ClickForOrder {
                advertiser: &c.advertiser,
                at_ms: c.at_ms,
                valid: c.valid,
            }),
            advertiser,
            update.order_time,
            window,
        ),
    };
    let credited = verdict.is_ok().then_some(()).and(click.as_ref());
    let rate = credited.and_then(|c| c.commission_rate.or(terms.and_then(|t| t.base_rate)));
    tx.execute(
        "INSERT INTO orders (advertiser, order_id, currency, order_time, click_id, user_key,
           received_ms, unattributed, campaign, creative, auction, imp, publisher, placement,
           sub_id, source_mismatch, commission_rate)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (advertiser, order_id) DO UPDATE SET unattributed = excluded.unattributed,
           campaign = excluded.campaign, creative = excluded.creative, auction = excluded.auction,
           imp = excluded.imp, publisher = excluded.publisher, placement = excluded.placement,
           sub_id = excluded.sub_id, source_mismatch = excluded.source_mismatch,
           commission_rate = excluded.commission_rate",
        &[
            advertiser.into(),
            (&update.order_id).into(),
            (&update.currency).into(),
            update.order_time.into(),
            update.click_id.as_ref().into(),
            update.user_key.as_ref().into(),
            now_ms.into(),
            verdict.err().map(orders::Unattributed::as_str).into(),
            credited.map(|c| &c.campaign).into(),
            credited.map(|c| &c.creative).into(),
            credited.map(|c| &c.auction).into(),
            credited.map(|c| &c.imp).into(),
            credited.and_then(|c| c.publisher.as_ref()).into(),
            credited.and_then(|c| c.placement.as_ref()).into(),
            credited.and_then(|c| c.sub_id.as_ref()).into(),
            credited.is_some_and(|c| c.source_mismatch).into(),
            rate.into(),
        ],
    )?;
    Ok(StoredOrder {
        unattributed: verdict.err().map(orders::Unattributed::as_str),
        campaign: credited.map(|c| c.campaign.clone()),
        publisher: credited.and_then(|c| c.publisher.clone()),
        rate,
        cps: terms.is_some_and(|t| t.cps),
        reattributed: stored.is_some() && verdict.is_ok(),
    })
}

/// The static label of a stored reason.
fn label(text: &str) -> &'static str {
    orders::Unattributed::parse(text).map_or("unknown", orders::Unattributed::as_str)
}

/// One line's transition: stored, with its event and the spend it changes.
fn apply_line(
    tx: &mut dyn Tx,
    advertiser: &str,
    update: &OrderUpdate,
    line: &LineUpdate,
    order: &StoredOrder,
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<(LineOutcome, Option<SpendDelta>), ApplyError> {
    let key: [Value; 3] = [
        advertiser.into(),
        (&update.order_id).into(),
        (&line.line_id).into(),
    ];
    let stored = tx
        .query_one(
            "SELECT state, quantity, unit_price_micros, refunded_micros, commission_micros,
               commission_exchange_micros, version FROM order_lines
             WHERE advertiser = $1 AND order_id = $2 AND line_id = $3",
            &key,
        )?
        .map(|row: Row| {
            let line = Line {
                state: LineState::parse(&row.text(0)).unwrap_or(LineState::Pending),
                quantity: u32::try_from(row.int(1)).unwrap_or(0),
                unit_price_micros: row.int(2),
                refunded_micros: row.int(3),
            };
            (line, row.int(4), row.int(5), row.int(6))
        });
    let (old_commission, old_exchange, version) = stored
        .as_ref()
        .map_or((0, 0, 0), |(_, c, e, v)| (*c, *e, *v));
    let stored_line = stored.as_ref().map(|(l, ..)| *l);
    let next = match (orders::transition(stored_line.as_ref(), line), stored_line) {
        (Transition::To(next), _) => next,
        (Transition::Unchanged(_), Some(current)) if order.reattributed => current,
        (Transition::Unchanged(why), current) => {
            return Ok((
                LineOutcome {
                    line_id: line.line_id.clone(),
                    state: current.map_or(LineState::Pending, |c| c.state).as_str(),
                    changed: false,
                    unchanged: Some(why),
                    commission_micros: old_commission,
                },
                None,
            ));
        }
    };
    let commission = order
        .rate
        .filter(|_| order.unattributed.is_none())
        .map_or(0, |rate| {
            orders::commission_micros(next.value_micros(), rate)
        });
    let exchange =
        context
            .to_exchange(&update.currency, commission)
            .ok_or(ApplyError::Conflict(
                "currency",
                "no exchange rate for it".to_owned(),
            ))?;
    let version = version + 1;
    let [advertiser_v, order_v, line_v] = key;
    tx.execute(
        "INSERT INTO order_lines (advertiser, order_id, line_id, sku, category, quantity,
           unit_price_micros, state, refunded_micros, commission_micros,
           commission_exchange_micros, version, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (advertiser, order_id, line_id) DO UPDATE SET state = excluded.state,
           refunded_micros = excluded.refunded_micros, commission_micros = excluded.commission_micros,
           commission_exchange_micros = excluded.commission_exchange_micros,
           version = excluded.version, updated_ms = excluded.updated_ms",
        &[
            advertiser_v.clone(),
            order_v.clone(),
            line_v.clone(),
            (&line.sku).into(),
            line.category.as_ref().into(),
            i64::from(next.quantity).into(),
            next.unit_price_micros.into(),
            next.state.as_str().into(),
            next.refunded_micros.into(),
            commission.into(),
            exchange.into(),
            version.into(),
            now_ms.into(),
        ],
    )?;
    let delta = exchange - old_exchange;
    let spend_campaign = order.campaign.as_ref().filter(|_| order.cps && delta != 0);
    tx.execute(
        "INSERT INTO line_events (advertiser, order_id, line_id, version, state, refunded_micros,
           commission_micros, spend_delta_micros, spend_campaign, spend_committed, at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10)",
        &[
            advertiser_v,
            order_v,
            line_v,
            version.into(),
            next.state.as_str().into(),
            next.refunded_micros.into(),
            commission.into(),
            delta.into(),
            spend_campaign.into(),
            now_ms.into(),
        ],
    )?;
    let spend = spend_campaign.map(|campaign| SpendDelta {
        campaign: campaign.clone(),
        micros: delta,
        event: (
            advertiser.to_owned(),
            update.order_id.clone(),
            line.line_id.clone(),
            version,
        ),
    });
    Ok((
        LineOutcome {
            line_id: line.line_id.clone(),
            state: next.state.as_str(),
            changed: true,
            unchanged: None,
            commission_micros: commission,
        },
        spend,
    ))
}
