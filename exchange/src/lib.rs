//! The exchange: a latency-tuned OpenRTB 2.6 ad exchange for e-commerce affiliate networks.
//!
//! Request path, in order (see `ARCHITECTURE.md`):
//! - [`server`]: hyper accept loop, routing, body caps; [`handler`]: the endpoint without sockets.
//! - decoding and OpenRTB rules beyond types: `bidder_sdk::openrtb` (shared with DSPs).
//! - [`features`] (and [`native`]): what the auction needs from a request, extracted once.
//! - [`decision`]: candidate bitsets from the [`index`], [`targeting`] checks, [`scoring`], [`auction`].
//! - [`fanout`]: external bidders called under the deadline, their bids screened and
//!   merged into the same auction, their notices sent off the request path.
//! - [`response`]: bids, markup, notice URLs signed by [`notice`] (which also verifies
//!   them); [`debug_view`]: why each campaign lost.
//!
//! Around it: [`connections`] (the cap and timeouts before hyper sees a socket),
//! [`config`], [`campaign`] (file format and compilation), [`store`] (the `arc-swap`
//! snapshot), [`reload`] (triggers), [`notice`] (signed notice URLs), [`metrics`],
//! [`state`], [`clock`].

pub mod admission;
pub mod auction;
pub mod campaign;
pub mod clock;
pub mod config;
pub mod connections;
pub mod context;
pub mod debug_view;
pub mod decision;
pub mod fanout;
pub mod features;
pub mod freq;
pub mod handler;
pub mod index;
pub mod log_limit;
pub mod ltv;
pub mod metrics;
pub mod native;
pub mod notice;
pub mod pacing;
pub mod pacing_store;
pub mod reload;
pub mod response;
pub mod scoring;
pub mod server;
pub mod signals;
pub mod state;
pub mod store;
pub mod targeting;

pub use server::run;
pub use state::AppState;
pub use store::SnapshotStore;
