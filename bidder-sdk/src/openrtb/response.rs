//! BidResponse, SeatBid and Bid (OpenRTB 2.6 section 4.2).

use super::nullable::or_default;
use super::{Extra, Json};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// The top-level bid response. `{}` and an empty `seatbid` are both no-bids.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BidResponse {
    /// Id of the request this answers. May be absent only in the `{}` no-bid.
    #[serde(default)]
    pub id: String,
    /// Bids, grouped by buyer seat.
    #[serde(default, deserialize_with = "or_default")]
    pub seatbid: Vec<SeatBid>,
    /// Bidder-generated response id.
    pub bidid: Option<String>,
    /// Currency of the prices (ISO-4217).
    pub cur: Option<String>,
    /// Opaque cookie data for the bidder.
    pub customdata: Option<String>,
    /// No-bid reason, see [`super::enums::no_bid_reason`].
    pub nbr: Option<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Bids of one buyer seat.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeatBid {
    /// The bids.
    #[serde(default, deserialize_with = "or_default")]
    pub bid: Vec<Bid>,
    /// Buyer seat id.
    pub seat: Option<String>,
    /// 1 = all bids must win together.
    pub group: Option<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One bid for one impression.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    /// Bidder-generated bid id.
    pub id: String,
    /// Id of the imp this bid is for.
    pub impid: String,
    /// CPM price.
    pub price: f64,
    /// Win notice URL.
    pub nurl: Option<String>,
    /// Billing notice URL.
    pub burl: Option<String>,
    /// Loss notice URL.
    pub lurl: Option<String>,
    /// Ad markup.
    pub adm: Option<String>,
    /// Preloaded ad id.
    pub adid: Option<String>,
    /// Advertiser domains.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub adomain: Vec<String>,
    /// Bundle of an advertised app.
    pub bundle: Option<String>,
    /// Sample image URL for quality checks.
    pub iurl: Option<String>,
    /// Campaign id.
    pub cid: Option<String>,
    /// Creative id.
    pub crid: Option<String>,
    /// Taxonomy of `cat`.
    pub cattax: Option<i32>,
    /// Categories of the creative.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cat: Vec<String>,
    /// Attributes of the creative.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attr: Vec<i32>,
    /// Language of the creative.
    pub language: Option<String>,
    /// Deal id, when the bid is for a deal.
    pub dealid: Option<String>,
    /// Creative width.
    pub w: Option<i64>,
    /// Creative height.
    pub h: Option<i64>,
    /// Seconds the bid stays valid.
    pub exp: Option<i64>,
    /// Markup type, see [`super::enums::markup_type`].
    pub mtype: Option<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}
