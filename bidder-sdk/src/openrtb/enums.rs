//! Named values of the OpenRTB enumerations the exchange reasons about.
//!
//! The fields stay plain integers so that values added by later spec versions or
//! exchange-specific ranges (500+) survive; these constants only name the known ones.

/// `BidRequest.at`: auction type.
pub mod auction_type {
    /// First price: the winner pays its bid.
    pub const FIRST_PRICE: i32 = 1;
    /// Second price plus: the winner pays the runner-up plus one increment.
    pub const SECOND_PRICE: i32 = 2;
}

/// `Device.devicetype` (AdCOM list: Device Types).
pub mod device_type {
    /// Mobile/tablet (OpenRTB 2.x general value).
    pub const MOBILE_TABLET: i32 = 1;
    /// Personal computer.
    pub const PERSONAL_COMPUTER: i32 = 2;
    /// Connected TV.
    pub const CONNECTED_TV: i32 = 3;
    /// Phone.
    pub const PHONE: i32 = 4;
    /// Tablet.
    pub const TABLET: i32 = 5;
    /// Connected device.
    pub const CONNECTED_DEVICE: i32 = 6;
    /// Set-top box.
    pub const SET_TOP_BOX: i32 = 7;
    /// Out-of-home device.
    pub const OOH: i32 = 8;
}

/// `Geo.type` (AdCOM list: Location Types): where a location came from.
pub mod location_type {
    /// GPS or other location services on the device.
    pub const GPS: i32 = 1;
    /// Looked up from the IP address.
    pub const IP_ADDRESS: i32 = 2;
    /// Given by the user (e.g. a registration postcode).
    pub const USER_PROVIDED: i32 = 3;
}

/// `BidResponse.nbr`: no-bid reason codes.
pub mod no_bid_reason {
    /// Unknown error.
    pub const UNKNOWN: i32 = 0;
    /// Technical error.
    pub const TECHNICAL_ERROR: i32 = 1;
    /// Invalid request.
    pub const INVALID_REQUEST: i32 = 2;
    /// Known web spider.
    pub const KNOWN_SPIDER: i32 = 3;
    /// Suspected non-human traffic.
    pub const NON_HUMAN: i32 = 4;
    /// Unsupported device.
    pub const UNSUPPORTED_DEVICE: i32 = 6;
    /// Blocked publisher or site.
    pub const BLOCKED_PUBLISHER: i32 = 7;
    /// Unmatched user.
    pub const UNMATCHED_USER: i32 = 8;
}

/// `Bid.mtype`: markup type.
pub mod markup_type {
    /// Banner markup.
    pub const BANNER: i32 = 1;
    /// Video markup (VAST).
    pub const VIDEO: i32 = 2;
    /// Audio markup.
    pub const AUDIO: i32 = 3;
    /// Native markup.
    pub const NATIVE: i32 = 4;
}

/// Loss reason codes for `${AUCTION_LOSS}` (OpenRTB 2.6 list "Loss Reason Codes").
pub mod loss_reason {
    /// The bid won.
    pub const WON: i32 = 0;
    /// Internal error.
    pub const INTERNAL_ERROR: i32 = 1;
    /// Impression opportunity expired.
    pub const EXPIRED: i32 = 2;
    /// Invalid bid response.
    pub const INVALID_RESPONSE: i32 = 3;
    /// Invalid deal id.
    pub const INVALID_DEAL: i32 = 4;
    /// Invalid auction id.
    pub const INVALID_AUCTION_ID: i32 = 5;
    /// Invalid advertiser domain.
    pub const INVALID_ADOMAIN: i32 = 6;
    /// Missing markup.
    pub const MISSING_MARKUP: i32 = 7;
    /// Missing creative id.
    pub const MISSING_CRID: i32 = 8;
    /// Missing bid price.
    pub const MISSING_PRICE: i32 = 9;
    /// Bid was below the auction floor.
    pub const BELOW_FLOOR: i32 = 100;
    /// Bid was below the deal floor.
    pub const BELOW_DEAL_FLOOR: i32 = 101;
    /// Lost to a higher bid.
    pub const LOST_TO_HIGHER_BID: i32 = 102;
    /// Lost to a bid for a PMP deal.
    pub const LOST_TO_DEAL: i32 = 103;
    /// Buyer seat blocked.
    pub const SEAT_BLOCKED: i32 = 104;
    /// Creative filtered: general.
    pub const CREATIVE_FILTERED: i32 = 200;
    /// Creative filtered: size not allowed.
    pub const SIZE_NOT_ALLOWED: i32 = 203;
    /// Creative filtered: incorrect creative format.
    pub const INCORRECT_FORMAT: i32 = 204;
    /// Creative filtered: advertiser exclusions.
    pub const ADVERTISER_EXCLUSIONS: i32 = 205;
    /// Creative filtered: category exclusions.
    pub const CATEGORY_EXCLUSIONS: i32 = 209;
    /// Creative filtered: creative attribute exclusions.
    pub const ATTRIBUTE_EXCLUSIONS: i32 = 210;
}
