//! BidRequest and the objects under it (OpenRTB 2.6 section 3.2).
//!
//! Only fields the exchange or a typical DSP reads are typed; everything else lands in
//! `extra` and is written back unchanged.

use super::nullable::or_default;
use super::{Extra, Json};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// The top-level bid request.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BidRequest {
    /// Request id, chosen by the publisher.
    pub id: String,
    /// Impressions offered (at least one).
    #[serde(default, deserialize_with = "or_default")]
    pub imp: Vec<Imp>,
    /// Website placement (mutually exclusive with `app` and `dooh`).
    pub site: Option<Site>,
    /// App placement.
    pub app: Option<App>,
    /// Digital out-of-home placement.
    pub dooh: Option<Dooh>,
    /// The device the ad shows on.
    pub device: Option<Device>,
    /// The human user of the device.
    pub user: Option<User>,
    /// 1 = test mode (no billing).
    pub test: Option<i32>,
    /// Auction type, see [`super::enums::auction_type`]; absent means second price.
    pub at: Option<i32>,
    /// Time the publisher waits for the response, in milliseconds.
    pub tmax: Option<i64>,
    /// Allowed buyer seats.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub wseat: Vec<String>,
    /// Blocked buyer seats.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub bseat: Vec<String>,
    /// 1 = all impressions must be won together.
    pub allimps: Option<i32>,
    /// Allowed currencies (ISO-4217).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cur: Vec<String>,
    /// Allowed creative languages (ISO-639-1).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub wlang: Vec<String>,
    /// Allowed creative languages (BCP-47).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub wlangb: Vec<String>,
    /// Blocked advertiser categories.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub bcat: Vec<String>,
    /// Taxonomy of `bcat`.
    pub cattax: Option<i32>,
    /// Blocked advertiser domains.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub badv: Vec<String>,
    /// Blocked app bundles of advertised apps.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub bapp: Vec<String>,
    /// Supply-chain and transaction source.
    pub source: Option<Source>,
    /// Regulations in force.
    pub regs: Option<Regs>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One ad slot offered for auction.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Imp {
    /// Id unique within the request.
    pub id: String,
    /// Banner slot.
    pub banner: Option<Banner>,
    /// Video slot.
    pub video: Option<Video>,
    /// Audio slot.
    pub audio: Option<Audio>,
    /// Native slot.
    pub native: Option<Native>,
    /// Private marketplace deals.
    pub pmp: Option<Pmp>,
    /// Rendering SDK name.
    pub displaymanager: Option<String>,
    /// Rendering SDK version.
    pub displaymanagerver: Option<String>,
    /// 1 = interstitial or full screen.
    pub instl: Option<i32>,
    /// Placement tag id.
    pub tagid: Option<String>,
    /// Minimum CPM bid.
    pub bidfloor: Option<f64>,
    /// Currency of `bidfloor` (default USD).
    pub bidfloorcur: Option<String>,
    /// 1 = secure (HTTPS) creatives required.
    pub secure: Option<i32>,
    /// 1 = rewarded inventory.
    pub rwdd: Option<i32>,
    /// Seconds between auction and impression.
    pub exp: Option<i64>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Banner slot.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Banner {
    /// Allowed sizes, in order of preference.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub format: Vec<Format>,
    /// Exact width (device-independent pixels).
    pub w: Option<i64>,
    /// Exact height.
    pub h: Option<i64>,
    /// Blocked banner types.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub btype: Vec<i32>,
    /// Blocked creative attributes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub battr: Vec<i32>,
    /// Ad position on screen.
    pub pos: Option<i32>,
    /// Allowed content MIME types.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mimes: Vec<String>,
    /// Supported API frameworks.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api: Vec<i32>,
    /// Banner id (for companion ads).
    pub id: Option<String>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An allowed banner size, exact or flexible (ratio + minimum width).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Format {
    /// Width.
    pub w: Option<i64>,
    /// Height.
    pub h: Option<i64>,
    /// Relative width, for flexible sizes.
    pub wratio: Option<i64>,
    /// Relative height, for flexible sizes.
    pub hratio: Option<i64>,
    /// Minimum width, for flexible sizes.
    pub wmin: Option<i64>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Video slot.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Video {
    /// Allowed MIME types (required, non-empty).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mimes: Vec<String>,
    /// Minimum duration, seconds.
    pub minduration: Option<i64>,
    /// Maximum duration, seconds.
    pub maxduration: Option<i64>,
    /// Supported protocols.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub protocols: Vec<i32>,
    /// Player width.
    pub w: Option<i64>,
    /// Player height.
    pub h: Option<i64>,
    /// Start delay.
    pub startdelay: Option<i64>,
    /// Placement subtype (2.6).
    pub plcmt: Option<i32>,
    /// Blocked creative attributes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub battr: Vec<i32>,
    /// Companion banners.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub companionad: Vec<Banner>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Audio slot.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audio {
    /// Allowed MIME types (required, non-empty).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mimes: Vec<String>,
    /// Minimum duration, seconds.
    pub minduration: Option<i64>,
    /// Maximum duration, seconds.
    pub maxduration: Option<i64>,
    /// Blocked creative attributes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub battr: Vec<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Native slot; `request` is a Native Ads request document encoded as a string.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Native {
    /// The Native Ads request (JSON text).
    pub request: String,
    /// Native Ads spec version.
    pub ver: Option<String>,
    /// Supported API frameworks.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api: Vec<i32>,
    /// Blocked creative attributes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub battr: Vec<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Private marketplace.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pmp {
    /// 1 = only the listed deals may bid.
    pub private_auction: Option<i32>,
    /// Deals offered.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub deals: Vec<Deal>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A direct deal between buyer and seller.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    /// Deal id (required, non-empty).
    pub id: String,
    /// Deal floor CPM.
    pub bidfloor: Option<f64>,
    /// Currency of the deal floor.
    pub bidfloorcur: Option<String>,
    /// Deal auction type.
    pub at: Option<i32>,
    /// Allowed buyer seats.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub wseat: Vec<String>,
    /// Allowed advertiser domains.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub wadomain: Vec<String>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A website.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Exchange-specific site id.
    pub id: Option<String>,
    /// Site name.
    pub name: Option<String>,
    /// Domain, e.g. `example.com`.
    pub domain: Option<String>,
    /// Taxonomy of the category lists.
    pub cattax: Option<i32>,
    /// Content categories of the site.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cat: Vec<String>,
    /// Categories of the current section.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sectioncat: Vec<String>,
    /// Categories of the current page.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pagecat: Vec<String>,
    /// URL of the page.
    pub page: Option<String>,
    /// Referrer URL.
    #[serde(rename = "ref")]
    pub referrer: Option<String>,
    /// Search string that led to the page.
    pub search: Option<String>,
    /// 1 = mobile-optimised.
    pub mobile: Option<i32>,
    /// The publisher.
    pub publisher: Option<Publisher>,
    /// Content of the page.
    pub content: Option<Content>,
    /// Comma-separated keywords.
    pub keywords: Option<String>,
    /// Keywords as an array (2.6).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub kwarray: Vec<String>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A mobile or CTV application.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct App {
    /// Exchange-specific app id.
    pub id: Option<String>,
    /// App name.
    pub name: Option<String>,
    /// Store bundle or package name.
    pub bundle: Option<String>,
    /// App domain.
    pub domain: Option<String>,
    /// Store URL.
    pub storeurl: Option<String>,
    /// Taxonomy of the category lists.
    pub cattax: Option<i32>,
    /// Content categories of the app.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cat: Vec<String>,
    /// Categories of the current section.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sectioncat: Vec<String>,
    /// Categories of the current view.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pagecat: Vec<String>,
    /// App version.
    pub ver: Option<String>,
    /// 1 = paid app.
    pub paid: Option<i32>,
    /// The publisher.
    pub publisher: Option<Publisher>,
    /// Content shown in the app.
    pub content: Option<Content>,
    /// Comma-separated keywords.
    pub keywords: Option<String>,
    /// Keywords as an array (2.6).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub kwarray: Vec<String>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A digital out-of-home screen (2.6).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dooh {
    /// Exchange-specific id.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Venue types.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub venuetype: Vec<String>,
    /// The publisher.
    pub publisher: Option<Publisher>,
    /// Domain.
    pub domain: Option<String>,
    /// Comma-separated keywords.
    pub keywords: Option<String>,
    /// Content shown.
    pub content: Option<Content>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Publisher of a site, app or screen.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Publisher {
    /// Exchange-specific publisher id.
    pub id: Option<String>,
    /// Publisher name.
    pub name: Option<String>,
    /// Taxonomy of `cat`.
    pub cattax: Option<i32>,
    /// Publisher categories.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cat: Vec<String>,
    /// Publisher domain.
    pub domain: Option<String>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Content (article, video, live stream) where the ad shows.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// Content id.
    pub id: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Taxonomy of `cat`.
    pub cattax: Option<i32>,
    /// Content categories.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cat: Vec<String>,
    /// URL of the content.
    pub url: Option<String>,
    /// Comma-separated keywords.
    pub keywords: Option<String>,
    /// Keywords as an array (2.6).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub kwarray: Vec<String>,
    /// Language (ISO-639-1).
    pub language: Option<String>,
    /// Language (BCP-47).
    pub langb: Option<String>,
    /// 1 = live content.
    pub livestream: Option<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The device.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Location of the device.
    pub geo: Option<Geo>,
    /// Do Not Track.
    pub dnt: Option<i32>,
    /// Limit Ad Tracking.
    pub lmt: Option<i32>,
    /// User agent.
    pub ua: Option<String>,
    /// IPv4 address.
    pub ip: Option<String>,
    /// IPv6 address.
    pub ipv6: Option<String>,
    /// Device type, see [`super::enums::device_type`].
    pub devicetype: Option<i32>,
    /// Make.
    pub make: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// OS version.
    pub osv: Option<String>,
    /// Screen height, physical pixels.
    pub h: Option<i64>,
    /// Screen width, physical pixels.
    pub w: Option<i64>,
    /// Browser language (ISO-639-1).
    pub language: Option<String>,
    /// Browser language (BCP-47).
    pub langb: Option<String>,
    /// Carrier or ISP.
    pub carrier: Option<String>,
    /// Connection type.
    pub connectiontype: Option<i32>,
    /// Advertising id.
    pub ifa: Option<String>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A location.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    /// Latitude, -90..=90.
    pub lat: Option<f64>,
    /// Longitude, -180..=180.
    pub lon: Option<f64>,
    /// Source of the location.
    #[serde(rename = "type")]
    pub kind: Option<i32>,
    /// Country, ISO-3166-1 alpha-3.
    pub country: Option<String>,
    /// Region, ISO-3166-2.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// Minutes from UTC.
    pub utcoffset: Option<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The user.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Exchange-specific user id.
    pub id: Option<String>,
    /// Buyer-specific user id.
    pub buyeruid: Option<String>,
    /// Comma-separated interest keywords.
    pub keywords: Option<String>,
    /// First-party data segments.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub data: Vec<Data>,
    /// Consent string (TCF), 2.6 location.
    pub consent: Option<String>,
    /// Extended ids (kept as given).
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub eids: Vec<Json>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A data provider's segments about the user or the content.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// Provider id.
    pub id: Option<String>,
    /// Provider name.
    pub name: Option<String>,
    /// Segments.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub segment: Vec<Segment>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One data segment.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Segment id.
    pub id: Option<String>,
    /// Segment name.
    pub name: Option<String>,
    /// Segment value.
    pub value: Option<String>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Source of the request: transaction id and supply chain.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// 1 = the exchange makes the final decision.
    pub fd: Option<i32>,
    /// Transaction id shared by all participants.
    pub tid: Option<String>,
    /// Payment chain.
    pub pchain: Option<String>,
    /// Supply chain (kept as given).
    pub schain: Option<Json>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Regulations in force for the request.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Regs {
    /// 1 = COPPA applies.
    pub coppa: Option<i32>,
    /// 1 = GDPR applies, 0 = it does not.
    pub gdpr: Option<i32>,
    /// US privacy string.
    pub us_privacy: Option<String>,
    /// Global Privacy Platform string.
    pub gpp: Option<String>,
    /// GPP sections in force.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gpp_sid: Vec<i32>,
    /// Exchange-specific extensions.
    pub ext: Option<Json>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}
