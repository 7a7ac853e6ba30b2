//! The exchange's auction core: a pure function of a request, one snapshot, the screened
//! external bids, the auction's settings and the clock. No IO: this crate depends on no
//! runtime, HTTP stack or store, so "the auction does no IO" is a compile-time fact.
//!
//! In the order a request meets it:
//! - [`features`] (and [`native`]): what the auction needs from a request, extracted once.
//! - [`signals`]: the page read ([`context`]) and the user's LTV inputs ([`ltv`]).
//! - [`decision`]: candidate bitsets from the [`index`], [`targeting`] checks, [`scoring`],
//!   then one [`auction`] per imp.
//! - [`screen`]: external bids checked before they join that auction.
//! - [`response`]: bids, markup, notice URLs signed by [`notice`] (which also verifies
//!   them); [`debug_view`]: what happened to each campaign.
//!
//! Built off the request path: [`campaign`] (the file format and its compilation) and the
//! [`index`] snapshot. [`config`] is the slice of settings the auction reads; [`clock`]
//! the time it is told.

pub mod ads_txt;
pub mod auction;
pub mod campaign;
pub mod click;
pub mod clock;
pub mod commission;
pub mod config;
pub mod context;
pub mod cycle;
pub mod debug_view;
pub mod decision;
pub mod features;
pub mod index;
pub mod ivt;
pub mod learning;
pub mod ledger;
pub mod ltv;
pub mod memo;
pub mod native;
pub mod notice;
pub mod orders;
pub mod privacy;
pub mod publishers;
pub mod response;
pub mod scoring;
pub mod screen;
pub mod signals;
pub mod supply_chain;
pub mod targeting;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trends;
pub mod url_host;
