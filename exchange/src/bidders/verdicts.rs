//! Telling bidders how their bids fared, once an auction has cleared: the winner's
//! `nurl` with the clearing price in its own terms, its `burl` parked until the
//! publisher's billing notice, and `lurl` with the loss reason for every other bid that
//! gave one (losers and screened-out bids alike). Only queues; never waits.

use super::notices_out::{NoticeJob, PendingBill};
use super::Fanout;
use crate::decision::Decision;
use crate::response::bid_id;
use crate::screen::DroppedBid;
use bidder_sdk::macros::{substitute, MacroValues};
use bidder_sdk::openrtb::enums::loss_reason;
use bidder_sdk::NoticeKind;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// Queues the win, loss and (parked) billing notices of one cleared auction.
pub fn send(fanout: &Fanout, decision: &Decision<'_>, auction_id: &str, dropped: &[DroppedBid]) {
    let now = Instant::now();
    let mut won = vec![false; decision.external.len()];
    for (index, clearing) in decision.clearings.iter().enumerate() {
        let Some(clearing) = clearing else { continue };
        let Some(external_index) = clearing.winner.source.external() else {
            continue;
        };
        let external = &decision.external[external_index as usize];
        won[external_index as usize] = true;
        fanout.stats(external.bidder).wins.fetch_add(1, Relaxed);
        let price = external.bidder_price(clearing.price);
        let values = MacroValues {
            auction_id: Some(auction_id),
            bid_id: Some(&external.bid.id),
            imp_id: Some(&external.bid.impid),
            seat_id: external.seat.as_deref(),
            ad_id: external.bid.adid.as_deref(),
            price: Some(price),
            currency: Some(&external.currency),
            mbr: Some(price / external.bid.price),
            loss: Some(loss_reason::WON),
            ..MacroValues::default()
        };
        if let Some(nurl) = non_empty(&external.bid.nurl) {
            fanout.notifier.send(NoticeJob {
                bidder: external.bidder,
                kind: NoticeKind::Win,
                url: substitute(nurl, &values),
            });
        }
        if let Some(burl) = non_empty(&external.bid.burl) {
            let bill = PendingBill {
                bidder: external.bidder,
                url: substitute(burl, &values),
            };
            fanout.bills.insert(bid_id(auction_id, index), bill, now);
        }
    }
    let losers = decision
        .external
        .iter()
        .zip(&won)
        .filter(|(_, won)| !**won)
        .map(|(bid, _)| {
            (
                bid.bidder,
                &bid.bid.lurl,
                bid.bid.id.as_str(),
                bid.bid.impid.as_str(),
                bid.seat.as_deref(),
                loss_reason::LOST_TO_HIGHER_BID,
            )
        });
    let screened_out = dropped.iter().map(|d| {
        (
            d.bidder,
            &d.lurl,
            d.bid_id.as_str(),
            d.imp_id.as_str(),
            None,
            d.reason.loss_code(),
        )
    });
    for (bidder, lurl, bid, imp, seat, code) in losers.chain(screened_out) {
        let Some(lurl) = non_empty(lurl) else {
            continue;
        };
        let values = MacroValues {
            auction_id: Some(auction_id),
            bid_id: Some(bid),
            imp_id: Some(imp),
            seat_id: seat,
            loss: Some(code),
            ..MacroValues::default()
        };
        fanout.notifier.send(NoticeJob {
            bidder,
            kind: NoticeKind::Loss,
            url: substitute(lurl, &values),
        });
    }
}

fn non_empty(url: &Option<String>) -> Option<&str> {
    url.as_deref().map(str::trim).filter(|u| !u.is_empty())
}
