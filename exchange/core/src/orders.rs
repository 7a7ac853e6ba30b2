//! Orders advertisers report (conversions), as pure rules: the report's shape and bounds,
//! each order line's state machine, attribution to a click, and the commission a line
//! earns. The server stores what these decide (`affiliate` in the `exchange` crate).
//!
//! A line moves `pending` (paid) → `confirmed` (received) → `locked` (settlement, the next
//! issue's), or ends `cancelled` or `refunded`; a partial refund keeps its state and
//! lowers its value. Every update is idempotent (the same report twice changes nothing)
//! and order-independent where it can be: refunds are reported as cumulative totals, so an
//! older total arriving late changes nothing, and a refund or cancellation may arrive
//! before the confirmation.

use serde::Deserialize;

/// Longest id (order, line, SKU, click, user key) a report may carry.
pub const MAX_ORDER_ID_BYTES: usize = 64;
/// Most lines in one order.
pub const MAX_LINES: usize = 256;
/// Largest quantity of one line.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Largest unit price (in the order's currency).
pub const MAX_UNIT_PRICE: f64 = 10_000_000.0;
/// How far in the future an order time may lie (clock skew between systems), seconds.
pub const MAX_FUTURE_SECS: i64 = 300;
/// An order placed this long before its click is not the click's.
pub const CLICK_SKEW_SECS: i64 = 60;

/// One order as an advertiser reports it (JSON; see the README's order API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderReport {
    /// The advertiser's order id.
    pub order_id: String,
    /// ISO-4217 currency of the prices.
    pub currency: String,
    /// When the order was placed, unix seconds.
    pub order_time: i64,
    /// The click id the landing URL carried, if the shop kept it.
    #[serde(default)]
    pub click_id: Option<String>,
    /// The buyer's user key (view-through, where the campaign allows it).
    #[serde(default)]
    pub user_key: Option<String>,
    /// Status of every line that does not give its own: `paid` (default), `confirmed`,
    /// `cancelled`, `refunded`.
    #[serde(default)]
    pub status: Option<String>,
    /// Who bought, as the shop knows them (for the order rules: bursts, self-purchase).
    #[serde(default)]
    pub buyer: Buyer,
    /// The lines (at least one).
    pub lines: Vec<LineReport>,
}

/// The buyer of an order, as the shop identifies them (each ≤ 64 printable bytes; hashed
/// or not, as long as the shop reports the same value each time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buyer {
    /// The shop account.
    #[serde(default)]
    pub account: Option<String>,
    /// The device.
    #[serde(default)]
    pub device: Option<String>,
    /// The IP address the order came from.
    #[serde(default)]
    pub ip: Option<String>,
    /// The shop's own word on whether this is the buyer's first order from it (JD Union
    /// reports it); absent: the exchange decides from the orders it has seen.
    #[serde(default)]
    pub new_customer: Option<bool>,
}

/// One order line as reported.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineReport {
    /// Line id, unique in the order.
    pub line_id: String,
    /// The product's SKU.
    pub sku: String,
    /// Units bought (≥ 1).
    pub quantity: u32,
    /// Price of one unit, in the order's currency.
    pub price: f64,
    /// Product category (for reports and, later, commission rules).
    #[serde(default)]
    pub category: Option<String>,
    /// This line's status, if not the order's.
    #[serde(default)]
    pub status: Option<String>,
    /// Units refunded so far (cumulative).
    #[serde(default)]
    pub refunded_quantity: Option<u32>,
    /// Amount refunded so far (cumulative), in the order's currency.
    #[serde(default)]
    pub refunded_amount: Option<f64>,
}

/// What a report says happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// Paid: the line exists.
    Paid,
    /// Received by the buyer.
    Confirmed,
    /// Cancelled before it was received.
    Cancelled,
    /// Refunded, wholly or in part.
    Refunded,
}

impl Reported {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "paid" => Self::Paid,
            "confirmed" => Self::Confirmed,
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }
}

/// A line update, validated: amounts in micro-units of the order's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineUpdate {
    /// Line id.
    pub line_id: String,
    /// SKU.
    pub sku: String,
    /// Category, if given.
    pub category: Option<String>,
    /// Units.
    pub quantity: u32,
    /// Unit price, micros.
    pub unit_price_micros: i64,
    /// What happened.
    pub reported: Reported,
    /// Cumulative refund, micros (a full refund when `Refunded` names no amount).
    pub refunded_micros: i64,
}

/// A report, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    /// Order id.
    pub order_id: String,
    /// Currency.
    pub currency: String,
    /// Order time, unix seconds.
    pub order_time: i64,
    /// Click id.
    pub click_id: Option<String>,
    /// User key.
    pub user_key: Option<String>,
    /// The buyer.
    pub buyer: Buyer,
    /// The lines.
    pub lines: Vec<LineUpdate>,
}

/// Why a report was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError {
    /// Path of the field, e.g. `lines[2].price`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn fail(field: impl Into<String>, message: impl Into<String>) -> ReportError {
    ReportError {
        field: field.into(),
        message: message.into(),
    }
}

/// A printable id of 1..=[`MAX_ORDER_ID_BYTES`] bytes without control characters.
fn is_report_id(text: &str) -> bool {
    (1..=MAX_ORDER_ID_BYTES).contains(&text.len()) && !text.chars().any(char::is_control)
}

fn micros(value: f64) -> i64 {
    (value * 1e6).round() as i64
}

impl OrderReport {
    /// Checks the report at `now_unix`; every line's update in micros.
    pub fn validate(&self, now_unix: i64) -> Result<OrderUpdate, ReportError> {
        if !is_report_id(&self.order_id) {
            return Err(fail("order_id", "need 1-64 printable bytes"));
        }
        let currency_ok =
            self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase());
        if !currency_ok {
            return Err(fail("currency", "need an ISO-4217 code such as CNY"));
        }
        if !(946_684_800..=now_unix + MAX_FUTURE_SECS).contains(&self.order_time) {
            return Err(fail(
                "order_time",
                "must be unix seconds between 2000 and now (+5 min)",
            ));
        }
        for (name, value) in [
            ("click_id", &self.click_id),
            ("user_key", &self.user_key),
            ("buyer.account", &self.buyer.account),
            ("buyer.device", &self.buyer.device),
            ("buyer.ip", &self.buyer.ip),
        ] {
            if value.as_deref().is_some_and(|v| !is_report_id(v)) {
                return Err(fail(name, "need 1-64 printable bytes"));
            }
        }
        let order_status = match &self.status {
            None => Reported::Paid,
            Some(text) => Reported::parse(text)
                .ok_or_else(|| fail("status", "use paid, confirmed, cancelled or refunded"))?,
        };
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Err(fail("lines", "need 1 to 256 lines"));
        }
        let mut lines: Vec<LineUpdate> = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.iter().enumerate() {
            let at = |name: &str| format!("lines[{i}].{name}");
            if !is_report_id(&line.line_id) {
                return Err(fail(at("line_id"), "need 1-64 printable bytes"));
            }
            if lines.iter().any(|l| l.line_id == line.line_id) {
                return Err(fail(at("line_id"), "duplicate line id"));
            }
            if !is_report_id(&line.sku) {
                return Err(fail(at("sku"), "need 1-64 printable bytes"));
            }
            if line.category.as_deref().is_some_and(|c| !is_report_id(c)) {
                return Err(fail(at("category"), "need 1-64 printable bytes"));
            }
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(fail(at("quantity"), "must be 1..=1000000"));
            }
            if !(line.price.is_finite() && (0.0..=MAX_UNIT_PRICE).contains(&line.price)) {
                return Err(fail(at("price"), "must be a number in 0..=10000000"));
            }
            let reported = match &line.status {
                None => order_status,
                Some(text) => Reported::parse(text).ok_or_else(|| {
                    fail(at("status"), "use paid, confirmed, cancelled or refunded")
                })?,
            };
            let unit_price_micros = micros(line.price);
            let gross = unit_price_micros * i64::from(line.quantity);
            let by_quantity = match line.refunded_quantity {
                Some(q) if q > line.quantity => {
                    return Err(fail(at("refunded_quantity"), "more than the quantity"))
                }
                Some(q) => Some(unit_price_micros * i64::from(q)),
                None => None,
            };
            let by_amount = match line.refunded_amount {
                Some(a) if !(a.is_finite() && a >= 0.0) => {
                    return Err(fail(at("refunded_amount"), "must be a number >= 0"))
                }
                Some(a) if micros(a) > gross => {
                    return Err(fail(at("refunded_amount"), "more than the line's value"))
                }
                Some(a) => Some(micros(a)),
                None => None,
            };
            let named = by_quantity.into_iter().chain(by_amount).max();
            let refunded_micros = match (reported, named) {
                (Reported::Refunded, None) => gross,
                (_, named) => named.unwrap_or(0),
            };
            lines.push(LineUpdate {
                line_id: line.line_id.clone(),
                sku: line.sku.clone(),
                category: line.category.clone(),
                quantity: line.quantity,
                unit_price_micros,
                reported,
                refunded_micros,
            });
        }
        Ok(OrderUpdate {
            order_id: self.order_id.clone(),
            currency: self.currency.clone(),
            order_time: self.order_time,
            click_id: self.click_id.clone(),
            user_key: self.user_key.clone(),
            buyer: self.buyer.clone(),
            lines,
        })
    }
}

/// Where a line stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    /// Paid, not yet received.
    Pending,
    /// Received.
    Confirmed,
    /// Past its lock period: settled (set by settlement, not by reports).
    Locked,
    /// Cancelled: earns nothing.
    Cancelled,
    /// Wholly refunded: earns nothing.
    Refunded,
}

impl LineState {
    /// Stable label (stored, reported).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Locked => "locked",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    /// The state a label names.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "confirmed" => Self::Confirmed,
            "locked" => Self::Locked,
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }

    /// Nothing changes a line in this state any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Cancelled | Self::Refunded)
    }
}

/// A stored line: what it is worth now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// State.
    pub state: LineState,
    /// Units.
    pub quantity: u32,
    /// Unit price, micros of the order's currency.
    pub unit_price_micros: i64,
    /// Refunded so far, micros.
    pub refunded_micros: i64,
}

impl Line {
    /// Value bought: quantity × unit price.
    pub fn gross_micros(&self) -> i64 {
        self.unit_price_micros * i64::from(self.quantity)
    }

    /// Value that earns commission: nothing once cancelled or refunded, else gross −
    /// refunds.
    pub fn value_micros(&self) -> i64 {
        if self.state.is_final() {
            0
        } else {
            (self.gross_micros() - self.refunded_micros).max(0)
        }
    }
}

/// What an update does to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The line changed (or was created) to this.
    To(Line),
    /// Nothing changes; why (a label for the answer).
    Unchanged(&'static str),
}

/// The line after `update`, given what is stored (`None`: not seen yet). The line's
/// quantity and price are those of its first report; later reports change its state and
/// refunds only (amending a line is the advertiser review's, in settlement).
pub fn transition(stored: Option<&Line>, update: &LineUpdate) -> Transition {
    let base = stored.copied().unwrap_or(Line {
        state: LineState::Pending,
        quantity: update.quantity,
        unit_price_micros: update.unit_price_micros,
        refunded_micros: 0,
    });
    if base.state.is_final() {
        return Transition::Unchanged("final");
    }
    let mut next = base;
    match update.reported {
        Reported::Paid => {}
        Reported::Confirmed => {
            if base.state == LineState::Pending {
                next.state = LineState::Confirmed;
            }
        }
        Reported::Cancelled => {
            if base.state == LineState::Locked {
                return Transition::Unchanged("locked");
            }
            next.state = LineState::Cancelled;
        }
        Reported::Refunded => {}
    }
    // Refunds are cumulative totals: only a larger one counts, whatever the order.
    if update.refunded_micros > base.refunded_micros && next.state != LineState::Cancelled {
        next.refunded_micros = update.refunded_micros.min(base.gross_micros());
        if next.refunded_micros >= base.gross_micros() {
            next.state = LineState::Refunded;
        }
    }
    if stored.is_some() && next == base {
        return Transition::Unchanged("same");
    }
    Transition::To(next)
}

/// Why an order is not attributed to a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unattributed {
    /// The report named no click (and no view-through applies).
    NoClick,
    /// The click id is not one the exchange recorded.
    UnknownClick,
    /// The click was flagged (duplicate, bot, too fast, ...): it earns nothing.
    ClickInvalid,
    /// The click was on another advertiser's campaign.
    OtherAdvertiser,
    /// The order came after the campaign's attribution window.
    Expired,
    /// The order was placed before the click.
    BeforeClick,
}

impl Unattributed {
    /// Every value.
    pub const ALL: [Self; 6] = [
        Self::NoClick,
        Self::UnknownClick,
        Self::ClickInvalid,
        Self::OtherAdvertiser,
        Self::Expired,
        Self::BeforeClick,
    ];

    /// The value a label names.
    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == label)
    }

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoClick => "no_click",
            Self::UnknownClick => "unknown_click",
            Self::ClickInvalid => "click_invalid",
            Self::OtherAdvertiser => "other_advertiser",
            Self::Expired => "expired",
            Self::BeforeClick => "before_click",
        }
    }
}

/// Why an attributed order is held (not commissioned until an operator clears it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// Placed implausibly soon after its click.
    FastConversion,
    /// One of many orders from one buyer (account, device or IP) within an hour.
    Burst,
    /// Bought by an account of the publisher's own.
    SelfPurchase,
    /// The sub-id converts far above the network.
    SubIdOutlier,
}

impl HoldReason {
    /// Every value.
    pub const ALL: [Self; 4] = [
        Self::FastConversion,
        Self::Burst,
        Self::SelfPurchase,
        Self::SubIdOutlier,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FastConversion => "fast_conversion",
            Self::Burst => "burst",
            Self::SelfPurchase => "self_purchase",
            Self::SubIdOutlier => "sub_id_outlier",
        }
    }
}

/// The facts of a recorded click attribution reads.
#[derive(Debug, Clone, Copy)]
pub struct ClickForOrder<'a> {
    /// The advertiser of the clicked campaign.
    pub advertiser: &'a str,
    /// When the click happened, unix ms.
    pub at_ms: i64,
    /// Whether it passed the click rules.
    pub valid: bool,
}

/// Whether an order of `advertiser` placed at `order_time` (unix s) is the click's, within
/// the campaign's click-through window (`window_secs`).
pub fn attribute(
    click: Option<ClickForOrder<'_>>,
    advertiser: &str,
    order_time: i64,
    window_secs: i64,
) -> Result<(), Unattributed> {
    let click = click.ok_or(Unattributed::UnknownClick)?;
    if click.advertiser != advertiser {
        return Err(Unattributed::OtherAdvertiser);
    }
    if !click.valid {
        return Err(Unattributed::ClickInvalid);
    }
    let clicked = click.at_ms.div_euclid(1000);
    if order_time + CLICK_SKEW_SECS < clicked {
        return Err(Unattributed::BeforeClick);
    }
    if order_time - clicked > window_secs {
        return Err(Unattributed::Expired);
    }
    Ok(())
}

/// Commission on `value_micros` at `rate`, micros (same currency), rounded.
pub fn commission_micros(value_micros: i64, rate: f64) -> i64 {
    if !(rate.is_finite() && rate > 0.0) {
        return 0;
    }
    (value_micros as f64 * rate.min(1.0)).round() as i64
}

#[cfg(test)]
mod tests;
