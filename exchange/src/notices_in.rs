//! The exchange's own notice endpoints, `GET /notice/win` and `GET /notice/bill`, that
//! the `nurl`/`burl` of its bids point at. Every notice is verified first
//! ([`crate::notice::verify`]: signed by an active key, unexpired, price within the signed
//! bid); a refused one is answered with its reason, counted by it, and writes nothing.
//!
//! For an internal campaign's win, either notice commits the spend (a CPM campaign's
//! cleared price, in micros of the exchange currency; nothing for CPC and CPS campaigns,
//! which pay on clicks and orders, see `affiliate`) and counts the impression against the user's
//! frequency counters, once per auction and imp however many notices arrive: both go to
//! the store writer, whose scripts are idempotent, and the notice is answered 204 only once
//! they are durable (committed to the embedded store's file, counted by Redis, or in the
//! journal). A campaign the snapshot no longer knows writes nothing. A full writer queue,
//! or writes not durable within [`NOTICE_DURABLE_TIMEOUT`], answer 503: the sender retries. A
//! billing notice for an external bidder's win forwards the bidder's parked `burl`
//! (once: a replay finds nothing to forward).

use crate::admission::caps;
use crate::affiliate::database::ImpressionRecord;
use crate::bidders::notices_out::NoticeJob;
use crate::metrics::NoticeEvent;
use crate::notice::{self, Rejection, VerifiedNotice};
use crate::receive::reply::{json, Body};
use crate::shared::keys::RESERVE_BUCKET_SECS;
use crate::shared::{EventId, Release, UserKey, Write};
use crate::state::AppState;
use bidder_sdk::notice::MAX_NOTICE_QUERY;
use bidder_sdk::NoticeKind;
use http::{Response, StatusCode};
use std::time::Instant;

/// The answer to a refused notice: its reason, counted.
fn refuse(state: &AppState, reason: Rejection) -> Response<Body> {
    state.metrics.notice(NoticeEvent::Rejected);
    state.metrics.notice_rejected(reason);
    let status = match reason {
        Rejection::Unsigned
        | Rejection::UnknownKey
        | Rejection::BadSignature
        | Rejection::Expired => StatusCode::FORBIDDEN,
        Rejection::UnknownCampaign => StatusCode::GONE,
        Rejection::Malformed
        | Rejection::BadPrice
        | Rejection::PriceAboveBid
        | Rejection::UnknownCurrency => StatusCode::BAD_REQUEST,
    };
    json(
        status,
        &serde_json::json!({
            "error": reason.message(),
            "field": reason.field(),
            "reason": reason.as_str(),
        }),
    )
}

/// Longest wait for a notice's writes to become durable before it is answered 503 (the
/// sender retries; the writes are idempotent, so one that landed meanwhile counts once).
pub const NOTICE_DURABLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Answers a win (`billing == false`) or billing notice: 204 only once its writes are
/// durable (in the store, or in the journal).
pub async fn receive(state: &AppState, billing: bool, query: &str) -> Response<Body> {
    if query.len() > MAX_NOTICE_QUERY {
        return refuse(state, Rejection::Malformed);
    }
    let notice = match notice::verify(&state.notice_keys, query, state.clock.now_unix()) {
        Ok(notice) => notice,
        Err(reason) => return refuse(state, reason),
    };
    if notice.campaign.is_some() {
        let (writes, impression) = match campaign_writes(state, &notice) {
            Ok(writes) => writes,
            Err(reason) => return refuse(state, reason),
        };
        let durable = match state.writer.send(writes) {
            Some(durable) => durable.wait(NOTICE_DURABLE_TIMEOUT).await,
            None => false,
        };
        if !durable {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "error": "store busy: the notice was not recorded durably; retry it", "field": "store" }),
            );
        }
        // The impression joins the click records (batched, off this path): what clicks are
        // checked against and what view-through attribution reads.
        state.affiliate.clicks.push_impression(impression);
    }
    if !billing {
        state.metrics.notice(NoticeEvent::Win);
    } else {
        state.metrics.notice(NoticeEvent::Billing);
        if let Some(bill) = state.bidders.bills.take(&notice.bid, Instant::now()) {
            state.metrics.notice(NoticeEvent::BillingForwarded);
            state.bidders.notifier.send(NoticeJob {
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

/// The spend and impression writes of a verified internal campaign notice, and its
/// impression record; nothing for a campaign the serving snapshot does not know.
fn campaign_writes(
    state: &AppState,
    notice: &VerifiedNotice,
) -> Result<(Vec<Write>, ImpressionRecord), Rejection> {
    let campaign_id = notice.campaign.as_deref().unwrap_or_default();
    let rate = state
        .config
        .rate_of(&notice.cur)
        .ok_or(Rejection::UnknownCurrency)?;
    let user = match notice.user.as_deref() {
        None => None,
        Some(hex) => Some(UserKey::from_hex(hex).ok_or(Rejection::Malformed)?),
    };
    let serving = state.serving();
    let campaign = serving
        .snapshot
        .campaign(campaign_id)
        .ok_or(Rejection::UnknownCampaign)?;
    let event = EventId {
        auction: notice.auction.clone(),
        imp: notice.imp.clone(),
    };
    let now_ms = state.clock.now_millis();
    let day = crate::admission::budgets::local_day(now_ms, campaign.utc_offset_secs);
    // CPM pays for the impression; CPC pays on its click and CPS on its orders
    // (`affiliate`): their notice commits nothing but still releases the reservation.
    let micros = match campaign.pricing {
        crate::campaign::Pricing::Cpm { .. } => (notice.price / rate * 1000.0).round() as i64,
        crate::campaign::Pricing::Cpc { .. } | crate::campaign::Pricing::Cps { .. } => 0,
    };
    let release = Release {
        micros: notice.reserved.unwrap_or(0),
        bucket: notice.expires.div_euclid(RESERVE_BUCKET_SECS),
    };
    let mut writes = vec![Write::Spend {
        campaign: campaign.id.clone(),
        day,
        micros,
        event: event.clone(),
        release,
    }];
    if let Some(user) = user {
        let bumps = caps::bumps(campaign, now_ms.div_euclid(1000));
        if !bumps.is_empty() {
            writes.push(Write::Impression { user, event, bumps });
        }
    }
    let provenance = &notice.provenance;
    let impression = ImpressionRecord {
        auction: notice.auction.clone(),
        imp: notice.imp.clone(),
        campaign: campaign.id.clone(),
        creative: notice.creative.clone().unwrap_or_default(),
        advertiser: campaign.advertiser.clone(),
        user: notice.user.clone(),
        publisher: provenance.publisher.as_deref().map(str::to_owned),
        placement: provenance.placement.as_deref().map(str::to_owned),
        sub_id: provenance.sub_id.as_deref().map(str::to_owned),
        source_mismatch: provenance.source_mismatch,
        page_category: provenance.page_category,
        at_ms: now_ms,
        charge_micros: micros,
    };
    Ok((writes, impression))
}
