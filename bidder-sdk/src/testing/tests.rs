//! The kit against bidders that keep and break the contract.

use super::*;
use crate::openrtb::{encode_response, Bid, BidResponse, SeatBid};
use crate::{Answer, BidContext};

/// Bids correctly on every imp.
struct Correct;

impl Bidder for Correct {
    async fn bid(&self, request: &BidRequest, _context: &BidContext) -> Answer {
        let bids = request
            .imp
            .iter()
            .map(|imp| Bid {
                id: format!("b-{}", imp.id),
                impid: imp.id.clone(),
                price: 1.0,
                crid: Some("c".into()),
                adm: Some("<i>ad</i>".into()),
                ..Bid::default()
            })
            .collect();
        Answer::Bid(BidResponse {
            id: request.id.clone(),
            seatbid: vec![SeatBid {
                bid: bids,
                ..SeatBid::default()
            }],
            cur: request.cur.first().cloned(),
            ..BidResponse::default()
        })
    }
}

/// Answers 200 to anything with a bid on an imp that does not exist, priced at zero.
struct Sloppy;

impl Bidder for Sloppy {
    async fn bid(&self, request: &BidRequest, _context: &BidContext) -> Answer {
        let response = BidResponse {
            id: request.id.clone(),
            seatbid: vec![SeatBid {
                bid: vec![Bid {
                    id: "x".into(),
                    impid: "999".into(),
                    price: 0.0,
                    ..Bid::default()
                }],
                ..SeatBid::default()
            }],
            ..BidResponse::default()
        };
        Answer::Raw {
            status: 200,
            body: encode_response(&response),
        }
    }
}

#[tokio::test]
async fn a_correct_bidder_passes() {
    let report = check_bidder(Correct, &CheckOptions::new(""))
        .await
        .expect("served");
    assert!(report.passed(), "{report}");
    assert!(report.cases.iter().any(|c| c.name.starts_with("hostile/")));
    assert!(
        report.cases.iter().filter(|c| c.bids > 0).count() >= 5,
        "{report}"
    );
}

#[tokio::test]
async fn a_sloppy_bidder_fails_with_reasons() {
    let report = check_bidder(Sloppy, &CheckOptions::new(""))
        .await
        .expect("served");
    assert!(!report.passed());
    let text = report.to_string();
    assert!(text.contains("unknown_imp"), "{text}");
    let banner = report
        .cases
        .iter()
        .find(|c| c.name == "builtin/banner-site")
        .expect("case");
    assert!(banner
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error));
}

#[tokio::test]
async fn an_endpoint_that_is_not_there_is_reported_not_hung() {
    // Port 9 (discard) on loopback is closed on any sane test machine.
    let report = check_endpoint(&CheckOptions::new("http://127.0.0.1:9/bid")).await;
    assert!(!report.passed());
    assert!(
        report.cases[0].findings[0]
            .message
            .contains("request failed"),
        "{report}"
    );
}
