//! `bidder-sdk`: the OpenRTB 2.6 wire contract shared by the exchange and external
//! bidders (DSPs), and the host a DSP runs its bidding logic in.
//!
//! - [`openrtb`]: request/response types that keep every unknown field and `ext`, open
//!   enumerations, and the simd-json codec (no IO).
//! - [`macros`]: `${AUCTION_PRICE}` and the other OpenRTB macros, one implementation
//!   for the exchange and the SDK.
//! - [`bid_check`]: the rules every bid must meet (known imp, price, ids, currency).
//! - [`Bidder`] (in `bidder`): the trait a DSP implements; [`notice`]: the notice URLs.
//! - `gzip` (feature `gzip`): bounded gzip for bodies.
//! - `serve` / `serve_with` (feature `server`, default): the HTTP host;
//!   `testing`: the conformance kit behind the `bidder-check` command.
//!
//! The exchange depends on this crate with default features off: it shares the wire
//! contract, never the DSP host.

pub mod bid_check;
mod bidder;
pub mod macros;
pub mod notice;
pub mod openrtb;

#[cfg(feature = "gzip")]
pub mod gzip;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod testing;

pub use bidder::{Answer, BidContext, Bidder, Notice, NoticeKind, EXCHANGE_HEADER};
pub use notice::NoticeUrls;
#[cfg(feature = "server")]
pub use server::{serve, serve_with, ServeOptions, DRAIN_TIMEOUT};
