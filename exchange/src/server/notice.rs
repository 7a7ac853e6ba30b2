//! The exchange's own notice endpoints, `GET /notice/win` and `GET /notice/bill`, that
//! the `nurl`/`burl` of its bids point at
//! (`?auction=&imp=&bid=&campaign=&creative=&cur=&user=&price=`; signing can be added to
//! the same query later).
//!
//! For an internal campaign's win, either notice commits the spend (the cleared price, in
//! micros of the exchange currency) and counts the impression against the user's
//! frequency counters, once per auction and imp however many notices arrive: both go to
//! the store writer, whose scripts are idempotent. A full writer queue answers 503 so the
//! sender retries. A billing notice for an external bidder's win forwards the bidder's
//! parked `burl` (once: a replay finds nothing to forward).

use super::routes::{json, Body};
use crate::fanout::notices::NoticeJob;
use crate::freq;
use crate::metrics::NoticeEvent;
use crate::pacing_store::{EventId, UserKey, Write};
use crate::state::AppState;
use bidder_sdk::notice::MAX_NOTICE_QUERY;
use bidder_sdk::NoticeKind;
use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use std::time::Instant;

/// Highest CPM a notice may report (beyond it the notice is refused, not counted).
pub const MAX_NOTICE_CPM: f64 = 100_000.0;
/// Longest id (auction, imp, campaign) a notice may carry.
const MAX_NOTICE_ID: usize = 128;

/// The parameters of a notice URL.
#[derive(Debug, Default)]
struct NoticeQuery {
    auction: Option<String>,
    imp: Option<String>,
    bid: Option<String>,
    campaign: Option<String>,
    cur: Option<String>,
    user: Option<String>,
    price: Option<String>,
}

impl NoticeQuery {
    fn parse(query: &str) -> Self {
        let mut parsed = Self::default();
        for pair in query.split('&') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            let slot = match key {
                "auction" => &mut parsed.auction,
                "imp" => &mut parsed.imp,
                "bid" => &mut parsed.bid,
                "campaign" => &mut parsed.campaign,
                "cur" => &mut parsed.cur,
                "user" => &mut parsed.user,
                "price" => &mut parsed.price,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value);
            }
        }
        parsed
    }
}

fn bad(field: &str, message: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message, "field": field }),
    )
}

/// Answers a win (`billing == false`) or billing notice.
pub fn receive(state: &AppState, billing: bool, query: &str) -> Response<Body> {
    if query.len() > MAX_NOTICE_QUERY {
        state.metrics.notice(NoticeEvent::Rejected);
        return bad("query", "notice query too long");
    }
    let notice = NoticeQuery::parse(query);
    let Some(bid) = notice.bid.clone() else {
        state.metrics.notice(NoticeEvent::Rejected);
        return bad("bid", "notice needs a bid id");
    };
    if notice.campaign.is_some() {
        match campaign_writes(state, &notice) {
            Ok(writes) => {
                if !state.writer.send(writes) {
                    return json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &serde_json::json!({ "error": "store queue full; retry the notice", "field": "store" }),
                    );
                }
            }
            Err((field, message)) => {
                state.metrics.notice(NoticeEvent::Rejected);
                return bad(field, message);
            }
        }
    }
    if !billing {
        state.metrics.notice(NoticeEvent::Win);
    } else {
        state.metrics.notice(NoticeEvent::Billing);
        if let Some(bill) = state.fanout.bills.take(&bid, Instant::now()) {
            state.metrics.notice(NoticeEvent::BillingForwarded);
            state.fanout.notifier.send(NoticeJob {
                bidder: bill.bidder,
                kind: NoticeKind::Billing,
                url: bill.url,
            });
        }
    }
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The spend and impression writes of an internal campaign's notice.
fn campaign_writes(
    state: &AppState,
    notice: &NoticeQuery,
) -> Result<Vec<Write>, (&'static str, &'static str)> {
    let id_ok = |v: &Option<String>| v.as_ref().is_some_and(|s| s.len() <= MAX_NOTICE_ID);
    if !id_ok(&notice.auction) {
        return Err(("auction", "a campaign notice needs its auction id"));
    }
    if !id_ok(&notice.imp) {
        return Err(("imp", "a campaign notice needs its imp id"));
    }
    if !id_ok(&notice.campaign) {
        return Err(("campaign", "campaign id too long"));
    }
    let price = notice
        .price
        .as_deref()
        .and_then(|p| p.parse::<f64>().ok())
        .filter(|p| p.is_finite() && (0.0..=MAX_NOTICE_CPM).contains(p));
    let Some(price) = price else {
        return Err((
            "price",
            "price must be the cleared CPM (substitute ${AUCTION_PRICE})",
        ));
    };
    let currency = notice.cur.as_deref().unwrap_or(&state.config.currency);
    let Some(rate) = state.config.rate_of(currency) else {
        return Err(("cur", "unknown currency"));
    };
    let user = match notice.user.as_deref() {
        None => None,
        Some(hex) => match UserKey::from_hex(hex) {
            Some(user) => Some(user),
            None => return Err(("user", "user must be 16 hex digits")),
        },
    };
    let event = EventId {
        auction: notice.auction.clone().unwrap_or_default(),
        imp: notice.imp.clone().unwrap_or_default(),
    };
    let campaign_id = notice.campaign.clone().unwrap_or_default();
    let now_ms = state.clock.now_millis();
    let snapshot = state.store.load();
    // A campaign gone from the snapshot since the auction still pays (in UTC days).
    let campaign = snapshot.campaign(&campaign_id);
    let offset = campaign.map_or(0, |c| c.utc_offset_secs);
    let day = crate::pacing::local_day(now_ms, offset);
    let micros = (price / rate * 1000.0).round() as i64;
    let mut writes = vec![Write::Spend {
        campaign: campaign_id,
        day,
        micros,
        event: event.clone(),
    }];
    if let (Some(user), Some(campaign)) = (user, campaign) {
        let bumps = freq::bumps(campaign, now_ms.div_euclid(1000));
        if !bumps.is_empty() {
            writes.push(Write::Impression { user, event, bumps });
        }
    }
    Ok(writes)
}
