//! Screening a bidder's answer: every bid that breaks a rule is dropped with a reason
//! (counted per bidder, and told to the bidder through its `lurl` where it gave one);
//! the bids that pass become auction candidates in the exchange currency.

use crate::config::{AuctionConfig, BidderTerms};
use crate::features::RequestFeatures;
use crate::targeting::{blocked_ad, FilterReason};
use bidder_sdk::bid_check::{check_bids, response_currency, BidProblem};
use bidder_sdk::openrtb::enums::{loss_reason, markup_type};
use bidder_sdk::openrtb::{Bid, BidRequest, BidResponse, Imp};

/// Why an external bid (or a whole answer) was not admitted to the auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The response `id` does not echo the request's.
    IdMismatch,
    /// The response currency has no known rate.
    CurrencyUnsupported,
    /// `impid` names no imp of the request.
    UnknownImp,
    /// `impid` names an imp this bidder was not offered.
    ImpNotOffered,
    /// Empty bid `id`.
    MissingBidId,
    /// A bid `id` seen earlier in the same answer.
    DuplicateBidId,
    /// Price not finite and positive.
    InvalidPrice,
    /// No `crid`.
    MissingCrid,
    /// No inline `adm` (markup served on the win notice is not supported).
    NoMarkup,
    /// Adjusted price below the imp's floor.
    BelowFloor,
    /// An `adomain` the request blocks (`badv`, subdomains included).
    BlockedAdomain,
    /// A category the request blocks (`bcat`, children included).
    BlockedCategory,
    /// A creative attribute the imp blocks (`battr`).
    BlockedAttribute,
    /// An app bundle the request blocks (`bapp`).
    BlockedApp,
    /// The seat is not allowed (`wseat`/`bseat`).
    SeatBlocked,
    /// Creative size fits none of the imp's banner sizes.
    SizeMismatch,
    /// `mtype` names a media type the imp does not offer.
    WrongMediaType,
    /// A private auction without a matching `dealid`, or an unknown deal.
    InvalidDeal,
    /// Bidder in test mode: checked and counted, never in the auction.
    TestMode,
}

impl DropReason {
    /// Every value, for metric registration.
    pub const ALL: [DropReason; 19] = [
        Self::IdMismatch,
        Self::CurrencyUnsupported,
        Self::UnknownImp,
        Self::ImpNotOffered,
        Self::MissingBidId,
        Self::DuplicateBidId,
        Self::InvalidPrice,
        Self::MissingCrid,
        Self::NoMarkup,
        Self::BelowFloor,
        Self::BlockedAdomain,
        Self::BlockedCategory,
        Self::BlockedAttribute,
        Self::BlockedApp,
        Self::SeatBlocked,
        Self::SizeMismatch,
        Self::WrongMediaType,
        Self::InvalidDeal,
        Self::TestMode,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdMismatch => "id_mismatch",
            Self::CurrencyUnsupported => "currency_unsupported",
            Self::UnknownImp => "unknown_imp",
            Self::ImpNotOffered => "imp_not_offered",
            Self::MissingBidId => "missing_bid_id",
            Self::DuplicateBidId => "duplicate_bid_id",
            Self::InvalidPrice => "invalid_price",
            Self::MissingCrid => "missing_crid",
            Self::NoMarkup => "no_markup",
            Self::BelowFloor => "below_floor",
            Self::BlockedAdomain => "blocked_adomain",
            Self::BlockedCategory => "blocked_category",
            Self::BlockedAttribute => "blocked_attribute",
            Self::BlockedApp => "blocked_app",
            Self::SeatBlocked => "seat_blocked",
            Self::SizeMismatch => "size_mismatch",
            Self::WrongMediaType => "wrong_media_type",
            Self::InvalidDeal => "invalid_deal",
            Self::TestMode => "test_mode",
        }
    }

    /// The OpenRTB loss reason code told to the bidder (`${AUCTION_LOSS}`).
    pub fn loss_code(self) -> i32 {
        match self {
            Self::IdMismatch => loss_reason::INVALID_AUCTION_ID,
            Self::CurrencyUnsupported
            | Self::UnknownImp
            | Self::ImpNotOffered
            | Self::MissingBidId
            | Self::DuplicateBidId => loss_reason::INVALID_RESPONSE,
            Self::InvalidPrice => loss_reason::MISSING_PRICE,
            Self::MissingCrid => loss_reason::MISSING_CRID,
            Self::NoMarkup => loss_reason::MISSING_MARKUP,
            Self::BelowFloor => loss_reason::BELOW_FLOOR,
            Self::BlockedAdomain => loss_reason::ADVERTISER_EXCLUSIONS,
            Self::BlockedCategory => loss_reason::CATEGORY_EXCLUSIONS,
            Self::BlockedAttribute => loss_reason::ATTRIBUTE_EXCLUSIONS,
            Self::BlockedApp => 206,
            Self::SeatBlocked => loss_reason::SEAT_BLOCKED,
            Self::SizeMismatch => loss_reason::SIZE_NOT_ALLOWED,
            Self::WrongMediaType => loss_reason::INCORRECT_FORMAT,
            Self::InvalidDeal => loss_reason::INVALID_DEAL,
            Self::TestMode => loss_reason::INTERNAL_ERROR,
        }
    }
}

/// An external bid admitted to the auction.
#[derive(Debug, Clone)]
pub struct ExternalBid {
    /// Index of the bidder in the config.
    pub bidder: usize,
    /// Index of the imp in the publisher's request.
    pub imp: usize,
    /// The bid as the bidder sent it.
    pub bid: Bid,
    /// Its seat, if named.
    pub seat: Option<String>,
    /// The currency it bid in.
    pub currency: String,
    /// Units of that currency per unit of the exchange currency.
    pub rate: f64,
    /// Bid adjustment applied.
    pub adjustment: f64,
    /// eCPM in the exchange currency: price ÷ rate × adjustment.
    pub ecpm: f64,
}

impl ExternalBid {
    /// A clearing price (exchange currency, eCPM terms) in the bidder's own terms: its
    /// currency, adjustment undone. Never above its bid.
    pub fn bidder_price(&self, clearing: f64) -> f64 {
        (clearing / self.adjustment * self.rate).min(self.bid.price)
    }
}

/// An external bid (or answer) not admitted, and where to tell the bidder.
#[derive(Debug, Clone)]
pub struct DroppedBid {
    /// Index of the bidder in the config.
    pub bidder: usize,
    /// Why.
    pub reason: DropReason,
    /// The bid's `lurl`, when it gave one.
    pub lurl: Option<String>,
    /// Bid id (empty for a whole-answer drop).
    pub bid_id: String,
    /// Imp id.
    pub imp_id: String,
}

/// What the screening of one answer found.
#[derive(Debug, Default)]
pub struct Screened {
    /// Admitted bids.
    pub admitted: Vec<ExternalBid>,
    /// Dropped bids, with reasons.
    pub dropped: Vec<DroppedBid>,
}

/// What bids are screened against: the publisher's request, as decoded and as
/// featurised for the auction (blocks normalised once), and its imps' floors.
#[derive(Debug, Clone, Copy)]
pub struct Auctioned<'a> {
    /// Exchange config (bidders, rates).
    pub config: &'a AuctionConfig,
    /// The publisher's request.
    pub publisher: &'a BidRequest,
    /// Its request-level features.
    pub features: &'a RequestFeatures<'a>,
    /// Its imps' floors in the exchange currency, by imp index.
    pub floors: &'a [f64],
    /// Per bidder (by index), a factor of this request's on top of the configured
    /// `bid_adjustment` (Prebid's `bidadjustmentfactors`); empty: none.
    pub adjustments: &'a [f64],
}

/// Screens `response` from bidder `index` (`config.bidders[index]`), which answered
/// `sent`, against the auction it is to enter.
pub fn screen(
    index: usize,
    auctioned: &Auctioned<'_>,
    sent: &BidRequest,
    response: BidResponse,
) -> Screened {
    let Auctioned {
        config, publisher, ..
    } = *auctioned;
    let bidder = &config.bidders[index];
    let mut screened = Screened::default();
    let whole_answer = if response.id != sent.id {
        Some(DropReason::IdMismatch)
    } else if config.rate_of(response_currency(&response)).is_none() {
        Some(DropReason::CurrencyUnsupported)
    } else {
        None
    };
    if let Some(reason) = whole_answer {
        // An answer that cannot be matched or priced: its loss URLs are not trusted either.
        screened.dropped.push(DroppedBid {
            bidder: index,
            reason,
            lurl: None,
            bid_id: String::new(),
            imp_id: String::new(),
        });
        return screened;
    }
    let currency = response_currency(&response).to_owned();
    let rate = config.rate_of(&currency).unwrap_or(1.0);
    let adjustment =
        bidder.bid_adjustment * auctioned.adjustments.get(index).copied().unwrap_or(1.0);
    let bad = check_bids(sent, &response);
    for (seat_index, seatbid) in response.seatbid.into_iter().enumerate() {
        for (bid_index, bid) in seatbid.bid.into_iter().enumerate() {
            let problem = bad
                .iter()
                .find(|b| b.seat == seat_index && b.bid == bid_index)
                .map(|b| b.problem);
            let imp_index = publisher.imp.iter().position(|imp| imp.id == bid.impid);
            let verdict = match (problem, imp_index) {
                (Some(BidProblem::UnknownImp), Some(_)) => Err(DropReason::ImpNotOffered),
                (Some(problem), _) => Err(from_problem(problem)),
                (None, None) => Err(DropReason::UnknownImp),
                (None, Some(i)) => {
                    let ecpm = bid.price / rate * adjustment;
                    judge(bidder, auctioned, i, &bid, seatbid.seat.as_deref(), ecpm)
                        .map(|()| (i, ecpm))
                }
            };
            match verdict {
                Ok((imp, ecpm)) => screened.admitted.push(ExternalBid {
                    bidder: index,
                    imp,
                    bid,
                    seat: seatbid.seat.clone(),
                    currency: currency.clone(),
                    rate,
                    adjustment,
                    ecpm,
                }),
                Err(reason) => screened.dropped.push(DroppedBid {
                    bidder: index,
                    reason,
                    lurl: bid
                        .lurl
                        .filter(|u| !u.is_empty() && reason != DropReason::TestMode),
                    bid_id: bid.id,
                    imp_id: bid.impid,
                }),
            }
        }
    }
    screened
}

fn from_problem(problem: BidProblem) -> DropReason {
    match problem {
        BidProblem::UnknownImp => DropReason::UnknownImp,
        BidProblem::MissingBidId => DropReason::MissingBidId,
        BidProblem::DuplicateBidId => DropReason::DuplicateBidId,
        BidProblem::InvalidPrice => DropReason::InvalidPrice,
        BidProblem::MissingCrid => DropReason::MissingCrid,
        BidProblem::NoMarkup => DropReason::NoMarkup,
    }
}

/// The exchange's own rules for one well-formed bid on `imp`.
fn judge(
    bidder: &BidderTerms,
    auctioned: &Auctioned<'_>,
    imp_index: usize,
    bid: &Bid,
    seat: Option<&str>,
    ecpm: f64,
) -> Result<(), DropReason> {
    let request = auctioned.publisher;
    let imp = &request.imp[imp_index];
    let floor = auctioned.floors[imp_index];
    if bid.adm.as_deref().is_none_or(|adm| adm.trim().is_empty()) {
        return Err(DropReason::NoMarkup);
    }
    if ecpm < floor {
        return Err(DropReason::BelowFloor);
    }
    let adomain: Vec<String> = bid
        .adomain
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    let bundle = bid.bundle.as_deref().map(str::to_ascii_lowercase);
    match blocked_ad(auctioned.features, &bid.cat, &adomain, bundle.as_deref()) {
        Some(FilterReason::BlockedCategory) => return Err(DropReason::BlockedCategory),
        Some(FilterReason::BlockedApp) => return Err(DropReason::BlockedApp),
        Some(_) => return Err(DropReason::BlockedAdomain),
        None => {}
    }
    let seat_allowed = match seat {
        Some(seat) => {
            (request.wseat.is_empty() || request.wseat.iter().any(|s| s == seat))
                && !request.bseat.iter().any(|s| s == seat)
        }
        None => request.wseat.is_empty(),
    };
    if !seat_allowed {
        return Err(DropReason::SeatBlocked);
    }
    let battr = imp
        .banner
        .iter()
        .flat_map(|b| &b.battr)
        .chain(imp.video.iter().flat_map(|v| &v.battr))
        .chain(imp.audio.iter().flat_map(|a| &a.battr))
        .chain(imp.native.iter().flat_map(|n| &n.battr));
    let mut battr = battr;
    if battr.any(|blocked| bid.attr.contains(blocked)) {
        return Err(DropReason::BlockedAttribute);
    }
    let media_offered = match bid.mtype {
        Some(markup_type::BANNER) => imp.banner.is_some(),
        Some(markup_type::VIDEO) => imp.video.is_some(),
        Some(markup_type::AUDIO) => imp.audio.is_some(),
        Some(markup_type::NATIVE) => imp.native.is_some(),
        _ => true,
    };
    if !media_offered {
        return Err(DropReason::WrongMediaType);
    }
    let is_banner_bid = bid.mtype == Some(markup_type::BANNER)
        || (bid.mtype.is_none()
            && imp.banner.is_some()
            && imp.video.is_none()
            && imp.native.is_none());
    if is_banner_bid && !banner_size_fits(imp, bid) {
        return Err(DropReason::SizeMismatch);
    }
    let deals = imp
        .pmp
        .as_ref()
        .map(|p| p.deals.as_slice())
        .unwrap_or_default();
    let private = imp
        .pmp
        .as_ref()
        .is_some_and(|p| p.private_auction == Some(1));
    match bid.dealid.as_deref().filter(|d| !d.is_empty()) {
        Some(deal) if !deals.iter().any(|d| d.id == deal) => return Err(DropReason::InvalidDeal),
        None if private => return Err(DropReason::InvalidDeal),
        _ => {}
    }
    if bidder.test {
        return Err(DropReason::TestMode);
    }
    Ok(())
}

/// A banner bid's `w`×`h` matches one of the imp's sizes (explicit formats, `w`/`h`,
/// or a flexible ratio format); a bid without a size, or an imp without one, fits.
fn banner_size_fits(imp: &Imp, bid: &Bid) -> bool {
    let (Some(banner), Some(w), Some(h)) = (&imp.banner, bid.w, bid.h) else {
        return true;
    };
    let mut sized = false;
    for format in &banner.format {
        match (format.w, format.h, format.wratio, format.hratio) {
            (Some(fw), Some(fh), _, _) if fw > 0 && fh > 0 => {
                sized = true;
                if (fw, fh) == (w, h) {
                    return true;
                }
            }
            (_, _, Some(wr), Some(hr)) if wr > 0 && hr > 0 => {
                sized = true;
                if w.saturating_mul(hr) == h.saturating_mul(wr) && w >= format.wmin.unwrap_or(0) {
                    return true;
                }
            }
            _ => {}
        }
    }
    match (banner.w, banner.h) {
        (Some(bw), Some(bh)) if bw > 0 && bh > 0 => (bw, bh) == (w, h),
        _ => !sized,
    }
}

#[cfg(test)]
mod tests;
