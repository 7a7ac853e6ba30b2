//! The exchange's own notice endpoints, `GET /notice/win` and `GET /notice/bill`, that
//! the `nurl`/`burl` of its bids point at. A billing notice for an external bidder's win
//! forwards the bidder's parked `burl` (once: a replay finds nothing to forward).
//! Counting impressions and spend on these events belongs to the pacing issue; the URL
//! format stays `?auction=&imp=&bid=&...&price=` so signing can be added to it.

use super::routes::{json, Body};
use crate::fanout::notices::NoticeJob;
use crate::metrics::NoticeEvent;
use crate::state::AppState;
use bidder_sdk::notice::MAX_NOTICE_QUERY;
use bidder_sdk::NoticeKind;
use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use std::time::Instant;

/// Answers a win (`billing == false`) or billing notice.
pub fn receive(state: &AppState, billing: bool, query: &str) -> Response<Body> {
    let bid = (query.len() <= MAX_NOTICE_QUERY)
        .then(|| {
            query.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == "bid").then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
            })
        })
        .flatten()
        .filter(|bid| !bid.is_empty());
    let Some(bid) = bid else {
        state.metrics.notice(NoticeEvent::Rejected);
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": "notice needs a bid id", "field": "bid" }),
        );
    };
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
