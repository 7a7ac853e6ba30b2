//! The exchange server: the IO around the pure auction core (`exchange-core`, re-exported
//! below under its own module names). See `ARCHITECTURE.md`.
//!
//! Request path, in order:
//! - [`connections`] (the cap and timeouts before hyper sees a socket), [`server`] (accept
//!   loop, routing, body caps, admin, notices in), [`handler`] (the endpoint without sockets).
//! - [`fanout`]: external bidders called under the deadline, their notices sent off the
//!   request path.
//! - [`freq`]: the user's counters read once; [`admission`]: caps and budgets as the
//!   auction's `Gate`, and the winners charged to their leases.
//! - the auction itself: [`features`], [`signals`], [`decision`], [`screen`], [`response`],
//!   [`debug_view`] (from the core), over one [`serving`] set.
//! - [`pacing_store`] (notices' writes, leases, the embedded and Redis stores) and
//!   [`pacing`] (budget leases on this node).
//!
//! Around it: [`config`], [`store`] (the campaign snapshot and its files), [`model_store`]
//! (the LTV model file), [`reload`] (triggers and watchers), [`metrics`], [`log_limit`],
//! [`state`].

// In the order a request meets them:
pub mod admission;
pub mod bidders;
pub mod endpoint;
pub mod notices_in;
pub mod receive;
pub mod shared;
// What requests are served from, and how it is reloaded:
pub mod serving;
// Around it:
pub mod admin;
pub mod config;
pub mod metrics;
pub mod state;

/// The pure auction core (its own crate, `exchange-core`: no IO by construction).
pub use exchange_core::{
    auction, campaign, clock, context, debug_view, decision, features, index, ltv, native, notice,
    response, scoring, screen, signals, targeting,
};

pub use receive::{run, run_with_admin};
pub use serving::snapshots::SnapshotStore;
pub use state::AppState;
