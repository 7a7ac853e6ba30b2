//! The affiliate database: clicks, orders, order lines and every line's transitions, in
//! a SQLite file (WAL, `synchronous = FULL`: a committed transaction survives `kill -9`).
//! One connection behind a mutex that only blocking threads take (the click batcher, the
//! order endpoint's transaction, the admin reports): never the request path.
//!
//! The schema is versioned (`PRAGMA user_version`, the migrations applied in order at
//! open). Money amounts are integer micro-units; times are unix ms (`at_ms`) or the
//! advertiser's unix seconds (`order_time`).

use crate::shared::StoreError;
use exchange_core::orders::{self, Line, LineState, LineUpdate, OrderUpdate, Transition};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::Path;
use std::sync::Mutex;

/// Schema versions, applied in order; `user_version` counts those applied.
const MIGRATIONS: [&str; 1] = ["
CREATE TABLE clicks (
  click_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, auction TEXT NOT NULL, imp TEXT NOT NULL,
  campaign TEXT NOT NULL, creative TEXT NOT NULL, advertiser TEXT NOT NULL, user_key TEXT,
  publisher TEXT, placement TEXT, sub_id TEXT, source_mismatch INTEGER NOT NULL,
  cpc_micros INTEGER, commission_rate REAL, served_ms INTEGER NOT NULL,
  ip TEXT, user_agent TEXT, valid INTEGER NOT NULL, reason TEXT);
CREATE INDEX clicks_imp ON clicks (auction, imp);
CREATE INDEX clicks_publisher ON clicks (publisher, placement, sub_id);
CREATE TABLE orders (
  advertiser TEXT NOT NULL, order_id TEXT NOT NULL, currency TEXT NOT NULL,
  order_time INTEGER NOT NULL, click_id TEXT, user_key TEXT, received_ms INTEGER NOT NULL,
  unattributed TEXT, campaign TEXT, creative TEXT, auction TEXT, imp TEXT, publisher TEXT,
  placement TEXT, sub_id TEXT, source_mismatch INTEGER NOT NULL DEFAULT 0, commission_rate REAL,
  PRIMARY KEY (advertiser, order_id));
CREATE INDEX orders_publisher ON orders (publisher, placement, sub_id);
CREATE TABLE order_lines (
  advertiser TEXT NOT NULL, order_id TEXT NOT NULL, line_id TEXT NOT NULL, sku TEXT NOT NULL,
  category TEXT, quantity INTEGER NOT NULL, unit_price_micros INTEGER NOT NULL,
  state TEXT NOT NULL, refunded_micros INTEGER NOT NULL, commission_micros INTEGER NOT NULL,
  commission_exchange_micros INTEGER NOT NULL, version INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
  PRIMARY KEY (advertiser, order_id, line_id));
CREATE TABLE line_events (
  advertiser TEXT NOT NULL, order_id TEXT NOT NULL, line_id TEXT NOT NULL, version INTEGER NOT NULL,
  state TEXT NOT NULL, refunded_micros INTEGER NOT NULL, commission_micros INTEGER NOT NULL,
  spend_delta_micros INTEGER NOT NULL, spend_campaign TEXT, spend_committed INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,
  PRIMARY KEY (advertiser, order_id, line_id, version));
CREATE INDEX line_events_uncommitted ON line_events (spend_committed, at_ms);
"];

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

impl From<rusqlite::Error> for ApplyError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Store(unavailable(error))
    }
}

fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("affiliate database: {error}"))
}

/// The affiliate SQLite file.
#[derive(Debug)]
pub struct AffiliateDb {
    connection: Mutex<Connection>,
}

impl AffiliateDb {
    /// Opens (creating it, its folder and its schema if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", folder.display()))
            })?;
        }
        let mut connection = Connection::open(path).map_err(unavailable)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| connection.busy_timeout(std::time::Duration::from_secs(5)))
            .map_err(unavailable)?;
        migrate(&mut connection).map_err(unavailable)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        crate::shared::lock(&self.connection)
    }

    /// Writes a batch of clicks in one transaction; per click, whether it is valid (not
    /// flagged on the path, and the first valid click of its impression).
    pub fn insert_clicks(&self, clicks: &[ClickRecord]) -> Result<Vec<ClickVerdict>, StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(unavailable)?;
        let mut verdicts = Vec::with_capacity(clicks.len());
        for click in clicks {
            verdicts.push(insert_click(&tx, click).map_err(unavailable)?);
        }
        tx.commit().map_err(unavailable)?;
        Ok(verdicts)
    }

    /// The click with this id, if recorded.
    pub fn click(&self, click_id: &str) -> Result<Option<StoredClick>, StoreError> {
        read_click(&self.connection(), click_id).map_err(unavailable)
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
        let mut connection = self.connection();
        let tx = connection.transaction()?;
        let order = attribute_order(&tx, advertiser, update, now_ms, context)?;
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
                apply_line(&tx, advertiser, update, line, &order, now_ms, context)?;
            outcome.lines.push(answer);
            outcome.spend.extend(spend);
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Marks the spend of these line events as committed to the budget store.
    pub fn spend_committed(
        &self,
        events: &[(String, String, String, i64)],
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(unavailable)?;
        for (advertiser, order, line, version) in events {
            tx.execute(
                "UPDATE line_events SET spend_committed = 1 WHERE advertiser = ?1 AND order_id = ?2 AND line_id = ?3 AND version = ?4",
                params![advertiser, order, line, version],
            )
            .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)
    }

    /// Spend of line events not yet committed to the budget store, newer than `since_ms`
    /// (older ones are past the store's idempotency window and are not re-sent).
    pub fn uncommitted_spend(&self, since_ms: i64) -> Result<Vec<SpendDelta>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT advertiser, order_id, line_id, version, spend_campaign, spend_delta_micros FROM line_events
                 WHERE spend_committed = 0 AND spend_campaign IS NOT NULL AND at_ms >= ?1 ORDER BY at_ms LIMIT 100000",
            )
            .map_err(unavailable)?;
        let rows = statement
            .query_map([since_ms], |row| {
                Ok(SpendDelta {
                    event: (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?),
                    campaign: row.get(4)?,
                    micros: row.get(5)?,
                })
            })
            .map_err(unavailable)?;
        rows.collect::<Result<_, _>>().map_err(unavailable)
    }

    /// One order with its lines and their transitions, as JSON (the admin view).
    pub fn order_view(
        &self,
        advertiser: &str,
        order_id: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        super::report::order_view(&self.connection(), advertiser, order_id).map_err(unavailable)
    }

    /// Clicks, orders and commission by publisher, placement, sub-id and campaign.
    pub fn summary(&self, publisher: Option<&str>) -> Result<serde_json::Value, StoreError> {
        super::report::summary(&self.connection(), publisher).map_err(unavailable)
    }
}

fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let applied: usize = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (version, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = connection.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn insert_click(tx: &Transaction<'_>, click: &ClickRecord) -> rusqlite::Result<ClickVerdict> {
    let reason = match click.flag {
        Some(flag) => Some(flag.to_owned()),
        None => {
            let earlier: Option<String> = tx
                .query_row(
                    "SELECT click_id FROM clicks WHERE auction = ?1 AND imp = ?2 AND valid = 1 LIMIT 1",
                    params![click.auction, click.imp],
                    |row| row.get(0),
                )
                .optional()?;
            earlier.map(|_| "duplicate".to_owned())
        }
    };
    let valid = reason.is_none();
    tx.execute(
        "INSERT INTO clicks (click_id, at_ms, auction, imp, campaign, creative, advertiser, user_key,
           publisher, placement, sub_id, source_mismatch, cpc_micros, commission_rate, served_ms, ip,
           user_agent, valid, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (click_id) DO NOTHING",
        params![
            click.click_id,
            click.at_ms,
            click.auction,
            click.imp,
            click.campaign,
            click.creative,
            click.advertiser,
            click.user,
            click.publisher,
            click.placement,
            click.sub_id,
            click.source_mismatch,
            click.cpc_micros,
            click.commission_rate,
            click.served_ms,
            click.ip,
            click.user_agent,
            valid,
            reason,
        ],
    )?;
    Ok(ClickVerdict { valid, reason })
}

fn read_click(connection: &Connection, click_id: &str) -> rusqlite::Result<Option<StoredClick>> {
    connection
        .query_row(
            "SELECT at_ms, auction, imp, campaign, creative, advertiser, publisher, placement, sub_id,
               source_mismatch, commission_rate, valid, reason FROM clicks WHERE click_id = ?1",
            [click_id],
            |row| {
                Ok(StoredClick {
                    at_ms: row.get(0)?,
                    auction: row.get(1)?,
                    imp: row.get(2)?,
                    campaign: row.get(3)?,
                    creative: row.get(4)?,
                    advertiser: row.get(5)?,
                    publisher: row.get(6)?,
                    placement: row.get(7)?,
                    sub_id: row.get(8)?,
                    source_mismatch: row.get(9)?,
                    commission_rate: row.get(10)?,
                    valid: row.get(11)?,
                    reason: row.get(12)?,
                })
            },
        )
        .optional()
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

/// An order row as attribution reads it: currency, unattributed reason, campaign,
/// publisher, commission rate.
type OrderRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<f64>,
);

/// The order's attribution: read, or decided on its first report (and again while its
/// click was unknown, e.g. still in another node's batch).
fn attribute_order(
    tx: &Transaction<'_>,
    advertiser: &str,
    update: &OrderUpdate,
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<StoredOrder, ApplyError> {
    let stored: Option<OrderRow> = tx
        .query_row(
            "SELECT currency, unattributed, campaign, publisher, commission_rate FROM orders
             WHERE advertiser = ?1 AND order_id = ?2",
            params![advertiser, update.order_id],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            },
        )
        .optional()?;
    if let Some((currency, unattributed, campaign, publisher, rate)) = &stored {
        if *currency != update.currency {
            return Err(ApplyError::Conflict(
                "currency",
                format!("the order was first reported in {currency}"),
            ));
        }
        let retry = unattributed.as_deref() == Some(orders::Unattributed::UnknownClick.as_str());
        if !retry {
            let cps = campaign
                .as_deref()
                .and_then(|c| context.campaign(c))
                .is_some_and(|t| t.cps);
            return Ok(StoredOrder {
                unattributed: unattributed.as_deref().map(label),
                campaign: campaign.clone(),
                publisher: publisher.clone(),
                rate: *rate,
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
    let verdict = match (&update.click_id, &click) {
        (None, _) => Err(orders::Unattributed::NoClick),
        (Some(_), click) => orders::attribute(
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
        "INSERT INTO orders (advertiser, order_id, currency, order_time, click_id, user_key, received_ms,
           unattributed, campaign, creative, auction, imp, publisher, placement, sub_id, source_mismatch,
           commission_rate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (advertiser, order_id) DO UPDATE SET unattributed = excluded.unattributed,
           campaign = excluded.campaign, creative = excluded.creative, auction = excluded.auction,
           imp = excluded.imp, publisher = excluded.publisher, placement = excluded.placement,
           sub_id = excluded.sub_id, source_mismatch = excluded.source_mismatch,
           commission_rate = excluded.commission_rate",
        params![
            advertiser,
            update.order_id,
            update.currency,
            update.order_time,
            update.click_id,
            update.user_key,
            now_ms,
            verdict.err().map(orders::Unattributed::as_str),
            credited.map(|c| &c.campaign),
            credited.map(|c| &c.creative),
            credited.map(|c| &c.auction),
            credited.map(|c| &c.imp),
            credited.and_then(|c| c.publisher.as_ref()),
            credited.and_then(|c| c.placement.as_ref()),
            credited.and_then(|c| c.sub_id.as_ref()),
            credited.is_some_and(|c| c.source_mismatch),
            rate,
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
    tx: &Transaction<'_>,
    advertiser: &str,
    update: &OrderUpdate,
    line: &LineUpdate,
    order: &StoredOrder,
    now_ms: i64,
    context: &dyn OrderContext,
) -> Result<(LineOutcome, Option<SpendDelta>), ApplyError> {
    let stored: Option<(Line, i64, i64, i64)> = tx
        .query_row(
            "SELECT state, quantity, unit_price_micros, refunded_micros, commission_micros,
               commission_exchange_micros, version FROM order_lines
             WHERE advertiser = ?1 AND order_id = ?2 AND line_id = ?3",
            params![advertiser, update.order_id, line.line_id],
            |row| {
                let state: String = row.get(0)?;
                Ok((
                    Line {
                        state: LineState::parse(&state).unwrap_or(LineState::Pending),
                        quantity: row.get(1)?,
                        unit_price_micros: row.get(2)?,
                        refunded_micros: row.get(3)?,
                    },
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            },
        )
        .optional()?;
    let (old_commission, old_exchange, version) = stored
        .as_ref()
        .map_or((0, 0, 0), |(_, c, e, v)| (*c, *e, *v));
    let stored_line = stored.as_ref().map(|(l, ..)| *l);
    let next = match (orders::transition(stored_line.as_ref(), line), stored_line) {
        (Transition::To(next), _) => next,
        (Transition::Unchanged(_), Some(current)) if order.reattributed => current,
        (Transition::Unchanged(why), _) => {
            let (current, ..) = stored.unwrap_or((
                Line {
                    state: LineState::Pending,
                    quantity: line.quantity,
                    unit_price_micros: line.unit_price_micros,
                    refunded_micros: 0,
                },
                0,
                0,
                0,
            ));
            return Ok((
                LineOutcome {
                    line_id: line.line_id.clone(),
                    state: current.state.as_str(),
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
    tx.execute(
        "INSERT INTO order_lines (advertiser, order_id, line_id, sku, category, quantity, unit_price_micros,
           state, refunded_micros, commission_micros, commission_exchange_micros, version, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (advertiser, order_id, line_id) DO UPDATE SET state = excluded.state,
           refunded_micros = excluded.refunded_micros, commission_micros = excluded.commission_micros,
           commission_exchange_micros = excluded.commission_exchange_micros, version = excluded.version,
           updated_ms = excluded.updated_ms",
        params![
            advertiser,
            update.order_id,
            line.line_id,
            line.sku,
            line.category,
            next.quantity,
            next.unit_price_micros,
            next.state.as_str(),
            next.refunded_micros,
            commission,
            exchange,
            version,
            now_ms,
        ],
    )?;
    let delta = exchange - old_exchange;
    let spend_campaign = order.campaign.as_ref().filter(|_| order.cps && delta != 0);
    tx.execute(
        "INSERT INTO line_events (advertiser, order_id, line_id, version, state, refunded_micros,
           commission_micros, spend_delta_micros, spend_campaign, spend_committed, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10)",
        params![
            advertiser,
            update.order_id,
            line.line_id,
            version,
            next.state.as_str(),
            next.refunded_micros,
            commission,
            delta,
            spend_campaign,
            now_ms,
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
