//! Each screening rule on one request.

use super::*;
use bidder_sdk::openrtb::{decode_request, decode_response};

const PUBLISHER: &str = r#"{"id":"pub","cur":["USD"],"badv":["blocked.example"],"bcat":["IAB25"],"bapp":["com.bad"],"bseat":["evil"],
  "imp":[{"id":"1","banner":{"format":[{"w":300,"h":250}],"battr":[3]},"bidfloor":0.5},
         {"id":"2","video":{"mimes":["video/mp4"]}},
         {"id":"3","banner":{"w":728,"h":90},"pmp":{"private_auction":1,"deals":[{"id":"deal-1"}]}},
         {"id":"4","native":{"request":"{}"}}]}"#;

/// Rates CNY 7.0; one bidder `d` with adjustment 0.5, a test bidder when `test`.
fn config(test: bool) -> AuctionConfig {
    AuctionConfig {
        fx_rates: [("CNY".to_owned(), 7.0)].into(),
        bidders: vec![crate::config::BidderTerms {
            name: "d".into(),
            bid_adjustment: 0.5,
            currency: "USD".into(),
            test,
            tcf_vendor_id: None,
        }],
        ..AuctionConfig::default()
    }
}

fn sent(publisher: &BidRequest) -> BidRequest {
    let mut sent = publisher.clone();
    sent.id = "auc".into();
    sent.imp.retain(|imp| imp.id != "4");
    sent
}

/// Screens `response` as bidder 0's answer to [`sent`] in an auction of `publisher`
/// (floors: 0.5 on imp 1, none elsewhere).
fn run(config: &AuctionConfig, publisher: &BidRequest, response: BidResponse) -> Screened {
    run_adjusted(config, publisher, response, &[])
}

/// [`run`] with the request's own per-bidder adjustment factors.
fn run_adjusted(
    config: &AuctionConfig,
    publisher: &BidRequest,
    response: BidResponse,
    adjustments: &[f64],
) -> Screened {
    let features = crate::features::request_features(publisher, 0);
    let auctioned = Auctioned {
        config,
        publisher,
        features: &features,
        floors: &[0.5, 0.0, 0.0, 0.0],
        adjustments,
    };
    screen(0, &auctioned, &sent(publisher), response)
}

fn screen_one(bid: &str, cur: &str, test: bool) -> Screened {
    let publisher = decode_request(PUBLISHER.as_bytes()).expect("request");
    let response = decode_response(
        format!(r#"{{"id":"auc","cur":"{cur}","seatbid":[{{"seat":"good","bid":[{bid}]}}]}}"#)
            .as_bytes(),
    )
    .expect("response");
    run(&config(test), &publisher, response)
}

fn reason(bid: &str) -> Option<DropReason> {
    screen_one(bid, "USD", false)
        .dropped
        .first()
        .map(|d| d.reason)
}

#[test]
fn a_good_bid_is_admitted_with_its_adjusted_ecpm_in_exchange_currency() {
    let screened = screen_one(
        r#"{"id":"b","impid":"1","price":14.0,"crid":"c","adm":"<a/>","w":300,"h":250,"adomain":["ok.example"]}"#,
        "CNY",
        false,
    );
    assert!(screened.dropped.is_empty(), "{:?}", screened.dropped);
    let bid = &screened.admitted[0];
    assert_eq!(bid.imp, 0);
    assert!((bid.ecpm - 1.0).abs() < 1e-12, "14 CNY / 7 × 0.5 = 1 USD");
    assert!((bid.bidder_price(0.8) - 11.2).abs() < 1e-9, "0.8 / 0.5 × 7");
    assert_eq!(bid.bidder_price(5.0), 14.0, "never above its bid");
}

#[test]
fn a_request_factor_multiplies_the_configured_adjustment_before_the_floor() {
    let publisher = decode_request(PUBLISHER.as_bytes()).expect("request");
    let answer = |price: f64| {
        decode_response(
            format!(r#"{{"id":"auc","cur":"USD","seatbid":[{{"bid":[{{"id":"b","impid":"1","price":{price},"crid":"c","adm":"<a/>","w":300,"h":250,"adomain":["ok.example"]}}]}}]}}"#)
                .as_bytes(),
        )
        .expect("response")
    };
    let doubled = run_adjusted(&config(false), &publisher, answer(1.0), &[2.0]);
    let bid = &doubled.admitted[0];
    assert!(
        (bid.ecpm - 1.0).abs() < 1e-12,
        "1.0 × 0.5 configured × 2 requested"
    );
    assert!((bid.bidder_price(0.6) - 0.6).abs() < 1e-12, "both undone");
    // 0.9 × 0.5 = 0.45 is under imp 1's 0.5 floor; × 2 it is not.
    assert!(run(&config(false), &publisher, answer(0.9))
        .admitted
        .is_empty());
    assert_eq!(
        run_adjusted(&config(false), &publisher, answer(0.9), &[2.0])
            .admitted
            .len(),
        1
    );
}

#[test]
fn each_rule_drops_with_its_reason() {
    let base = r#""crid":"c","adm":"<a/>""#;
    let cases = [
        (
            format!(r#"{{"id":"b","impid":"9","price":2,{base}}}"#),
            DropReason::UnknownImp,
        ),
        (
            format!(r#"{{"id":"b","impid":"4","price":2,{base}}}"#),
            DropReason::ImpNotOffered,
        ),
        (
            format!(r#"{{"id":"b","impid":"1","price":0,{base}}}"#),
            DropReason::InvalidPrice,
        ),
        (
            r#"{"id":"b","impid":"1","price":2,"adm":"x"}"#.to_owned(),
            DropReason::MissingCrid,
        ),
        (
            r#"{"id":"b","impid":"1","price":2,"crid":"c","nurl":"http://x/markup"}"#.to_owned(),
            DropReason::NoMarkup,
        ),
        (
            format!(r#"{{"id":"b","impid":"1","price":0.9,{base}}}"#),
            DropReason::BelowFloor,
        ),
        (
            format!(
                r#"{{"id":"b","impid":"1","price":2,"adomain":["shop.Blocked.example"],{base}}}"#
            ),
            DropReason::BlockedAdomain,
        ),
        (
            format!(r#"{{"id":"b","impid":"1","price":2,"cat":["IAB25-3"],{base}}}"#),
            DropReason::BlockedCategory,
        ),
        (
            format!(r#"{{"id":"b","impid":"1","price":2,"bundle":"com.bad",{base}}}"#),
            DropReason::BlockedApp,
        ),
        (
            format!(r#"{{"id":"b","impid":"1","price":2,"attr":[3],{base}}}"#),
            DropReason::BlockedAttribute,
        ),
        (
            format!(r#"{{"id":"b","impid":"1","price":2,"w":728,"h":90,{base}}}"#),
            DropReason::SizeMismatch,
        ),
        (
            format!(r#"{{"id":"b","impid":"2","price":2,"mtype":1,{base}}}"#),
            DropReason::WrongMediaType,
        ),
        (
            format!(r#"{{"id":"b","impid":"3","price":2,{base}}}"#),
            DropReason::InvalidDeal,
        ),
        (
            format!(r#"{{"id":"b","impid":"3","price":2,"dealid":"other",{base}}}"#),
            DropReason::InvalidDeal,
        ),
    ];
    for (bid, expected) in cases {
        assert_eq!(reason(&bid), Some(expected), "{bid}");
    }
    let deal =
        format!(r#"{{"id":"b","impid":"3","price":2,"dealid":"deal-1","w":728,"h":90,{base}}}"#);
    assert_eq!(reason(&deal), None);
    let video = format!(r#"{{"id":"b","impid":"2","price":2,"mtype":2,"w":640,"h":480,{base}}}"#);
    assert_eq!(reason(&video), None, "sizes are checked for banners only");
}

#[test]
fn duplicates_and_seats_and_test_mode() {
    let bid = r#"{"id":"b","impid":"1","price":2,"crid":"c","adm":"x","lurl":"http://dsp/loss?r=${AUCTION_LOSS}"}"#;
    let screened = screen_one(&format!("{bid},{bid}"), "USD", false);
    assert_eq!(screened.admitted.len(), 1);
    assert_eq!(screened.dropped[0].reason, DropReason::DuplicateBidId);
    assert!(screened.dropped[0].lurl.is_some(), "the bidder hears why");
    let test_mode = screen_one(bid, "USD", true);
    assert_eq!(test_mode.dropped[0].reason, DropReason::TestMode);
    assert!(test_mode.dropped[0].lurl.is_none());
    let publisher = decode_request(PUBLISHER.as_bytes()).expect("request");
    let response = decode_response(
        format!(r#"{{"id":"auc","seatbid":[{{"seat":"evil","bid":[{bid}]}}]}}"#).as_bytes(),
    )
    .expect("response");
    let screened = run(&config(false), &publisher, response);
    assert_eq!(screened.dropped[0].reason, DropReason::SeatBlocked);
}

#[test]
fn whole_answers_are_dropped_for_a_wrong_id_or_an_unknown_currency() {
    let publisher = decode_request(PUBLISHER.as_bytes()).expect("request");
    let bid = r#"{"id":"b","impid":"1","price":2,"crid":"c","adm":"x"}"#;
    for (id, cur, expected) in [
        ("pub", "USD", DropReason::IdMismatch),
        ("auc", "XAU", DropReason::CurrencyUnsupported),
    ] {
        let response = decode_response(
            format!(r#"{{"id":"{id}","cur":"{cur}","seatbid":[{{"bid":[{bid}]}}]}}"#).as_bytes(),
        )
        .expect("response");
        let screened = run(&config(false), &publisher, response);
        assert!(screened.admitted.is_empty());
        assert_eq!(screened.dropped.len(), 1);
        assert_eq!(screened.dropped[0].reason, expected);
    }
}

#[test]
fn every_reason_has_a_distinct_label() {
    let mut labels: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), DropReason::ALL.len());
}
