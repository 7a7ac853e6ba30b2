//! Checks of a BidResponse against the BidRequest it answers: the rules every bid must
//! meet whoever reads it. The SDK host runs them on what a DSP is about to send (so the
//! DSP learns its mistakes in its own logs); the exchange runs them on what it receives,
//! then adds its own (floors, blocks, sizes).

use crate::openrtb::{Bid, BidRequest, BidResponse};
use std::collections::HashSet;

/// OpenRTB's currency when a response names none.
pub const DEFAULT_CURRENCY: &str = "USD";

/// Why a whole response cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseProblem {
    /// `id` does not echo the request's `id`.
    IdMismatch,
    /// The response currency is not one the request allowed in `cur`.
    CurrencyNotOffered,
}

impl ResponseProblem {
    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdMismatch => "id_mismatch",
            Self::CurrencyNotOffered => "currency_not_offered",
        }
    }
}

/// Why one bid cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidProblem {
    /// `impid` names no imp of the request.
    UnknownImp,
    /// `id` is empty.
    MissingBidId,
    /// Another bid of the response has the same `id`.
    DuplicateBidId,
    /// `price` is not a finite number above zero.
    InvalidPrice,
    /// `crid` is missing or empty (needed for creative review and reporting).
    MissingCrid,
    /// Neither `adm` nor `nurl`: there is no way to get the markup.
    NoMarkup,
}

impl BidProblem {
    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownImp => "unknown_imp",
            Self::MissingBidId => "missing_bid_id",
            Self::DuplicateBidId => "duplicate_bid_id",
            Self::InvalidPrice => "invalid_price",
            Self::MissingCrid => "missing_crid",
            Self::NoMarkup => "no_markup",
        }
    }
}

/// A bid that failed a check: where it is and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBid {
    /// Index in `seatbid`.
    pub seat: usize,
    /// Index in that seat's `bid`.
    pub bid: usize,
    /// The first rule it broke.
    pub problem: BidProblem,
}

/// The currency a response is priced in (`cur`, or USD when absent or empty).
pub fn response_currency(response: &BidResponse) -> &str {
    match response.cur.as_deref() {
        Some(code) if !code.is_empty() => code,
        _ => DEFAULT_CURRENCY,
    }
}

/// Response-level rules: the id echoes the request's and the currency was offered.
pub fn check_response(request: &BidRequest, response: &BidResponse) -> Result<(), ResponseProblem> {
    if response.id != request.id {
        return Err(ResponseProblem::IdMismatch);
    }
    let currency = response_currency(response);
    let offered = if request.cur.is_empty() {
        currency.eq_ignore_ascii_case(DEFAULT_CURRENCY)
    } else {
        request.cur.iter().any(|c| c.eq_ignore_ascii_case(currency))
    };
    if offered {
        Ok(())
    } else {
        Err(ResponseProblem::CurrencyNotOffered)
    }
}

/// Every bid that breaks a per-bid rule, in response order.
pub fn check_bids(request: &BidRequest, response: &BidResponse) -> Vec<BadBid> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut bad = Vec::new();
    for (seat, seatbid) in response.seatbid.iter().enumerate() {
        for (index, bid) in seatbid.bid.iter().enumerate() {
            let problem = check_bid(request, bid)
                .err()
                .or_else(|| (!seen.insert(bid.id.as_str())).then_some(BidProblem::DuplicateBidId));
            if let Some(problem) = problem {
                bad.push(BadBid {
                    seat,
                    bid: index,
                    problem,
                });
            }
        }
    }
    bad
}

/// The per-bid rules that need only the request and the bid itself.
pub fn check_bid(request: &BidRequest, bid: &Bid) -> Result<(), BidProblem> {
    if bid.id.is_empty() {
        return Err(BidProblem::MissingBidId);
    }
    if !request.imp.iter().any(|imp| imp.id == bid.impid) {
        return Err(BidProblem::UnknownImp);
    }
    if !bid.price.is_finite() || bid.price <= 0.0 {
        return Err(BidProblem::InvalidPrice);
    }
    if bid.crid.as_deref().is_none_or(str::is_empty) {
        return Err(BidProblem::MissingCrid);
    }
    let present = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !present(&bid.adm) && !present(&bid.nurl) {
        return Err(BidProblem::NoMarkup);
    }
    Ok(())
}

/// Removes the bids listed in `bad` and then any seat left without bids.
pub fn remove_bids(response: &mut BidResponse, bad: &[BadBid]) {
    for (seat_index, seat) in response.seatbid.iter_mut().enumerate() {
        let mut index = 0;
        seat.bid.retain(|_| {
            let keep = !bad.iter().any(|b| b.seat == seat_index && b.bid == index);
            index += 1;
            keep
        });
    }
    response.seatbid.retain(|seat| !seat.bid.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openrtb::{decode_request, decode_response};

    fn request() -> BidRequest {
        decode_request(
            br#"{"id":"r1","cur":["CNY"],"imp":[{"id":"1","banner":{"w":300,"h":250}}]}"#,
        )
        .expect("valid request")
    }

    fn response(bids: &str, cur: &str) -> BidResponse {
        let text =
            format!(r#"{{"id":"r1","cur":"{cur}","seatbid":[{{"seat":"s","bid":[{bids}]}}]}}"#);
        decode_response(text.as_bytes()).expect("valid response")
    }

    const GOOD: &str = r#"{"id":"b1","impid":"1","price":1.5,"crid":"c","adm":"<a/>"}"#;

    #[test]
    fn a_good_bid_passes() {
        let response = response(GOOD, "CNY");
        assert_eq!(check_response(&request(), &response), Ok(()));
        assert!(check_bids(&request(), &response).is_empty());
    }

    #[test]
    fn each_rule_names_its_problem() {
        let cases = [
            (
                r#"{"id":"","impid":"1","price":1,"crid":"c","adm":"x"}"#,
                BidProblem::MissingBidId,
            ),
            (
                r#"{"id":"b","impid":"9","price":1,"crid":"c","adm":"x"}"#,
                BidProblem::UnknownImp,
            ),
            (
                r#"{"id":"b","impid":"1","price":0,"crid":"c","adm":"x"}"#,
                BidProblem::InvalidPrice,
            ),
            (
                r#"{"id":"b","impid":"1","price":-2,"crid":"c","adm":"x"}"#,
                BidProblem::InvalidPrice,
            ),
            (
                r#"{"id":"b","impid":"1","price":1,"adm":"x"}"#,
                BidProblem::MissingCrid,
            ),
            (
                r#"{"id":"b","impid":"1","price":1,"crid":"c","adm":" "}"#,
                BidProblem::NoMarkup,
            ),
        ];
        for (bid, expected) in cases {
            let bad = check_bids(&request(), &response(bid, "CNY"));
            assert_eq!(bad.len(), 1, "{bid}");
            assert_eq!(bad[0].problem, expected, "{bid}");
        }
    }

    #[test]
    fn duplicates_are_flagged_after_the_first() {
        let mut response = response(&format!("{GOOD},{GOOD}"), "CNY");
        let bad = check_bids(&request(), &response);
        assert_eq!(
            bad,
            vec![BadBid {
                seat: 0,
                bid: 1,
                problem: BidProblem::DuplicateBidId
            }]
        );
        remove_bids(&mut response, &bad);
        assert_eq!(response.seatbid[0].bid.len(), 1);
    }

    #[test]
    fn response_rules() {
        let mut other = response(GOOD, "EUR");
        assert_eq!(
            check_response(&request(), &other),
            Err(ResponseProblem::CurrencyNotOffered)
        );
        other.cur = Some("CNY".into());
        other.id = "zzz".into();
        assert_eq!(
            check_response(&request(), &other),
            Err(ResponseProblem::IdMismatch)
        );
    }

    #[test]
    fn removing_every_bid_of_a_seat_removes_the_seat() {
        let mut response = response(GOOD, "CNY");
        remove_bids(
            &mut response,
            &[BadBid {
                seat: 0,
                bid: 0,
                problem: BidProblem::NoMarkup,
            }],
        );
        assert!(response.seatbid.is_empty());
    }
}
