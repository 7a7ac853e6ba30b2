//! The exchange server: the IO around the pure auction core (`exchange-core`, re-exported
//! below under its own module names). See `ARCHITECTURE.md`. The modules, in the order a
//! request meets them:
//! - [`receive`]: the listeners (public, and optionally admin), connection caps and
//!   timeouts, the router, body caps.
//! - [`endpoint`]: the auction endpoint without sockets, seven named steps; the auction
//!   itself is the core's ([`decision`], [`screen`], [`response`], [`debug_view`]).
//! - `bidders`: external bidders called under the deadline, their notices sent off the
//!   request path.
//! - [`admission`]: frequency caps ([`admission::caps`]) and budgets
//!   ([`admission::budgets`]) as the auction's gate, and the winners charged to leases.
//! - `notices_in`: the exchange's own win and billing notices: verified, then written.
//! - [`affiliate`], the affiliate loop: clicks (signed URL → 302 with a click id, batched
//!   records, CPC charges) and advertisers' orders (authenticated, attributed, durable).
//! - [`shared`]: the state nodes share (the embedded store, Redis, the writer, the journal).
//!
//! What requests are served from: [`serving`] (the snapshot, the LTV model, the pacer
//! table and the learned rates as one value, their files, reloads and the learner). Around it: `admin` (the admin API and
//! `/metrics`), [`config`], [`metrics`], [`memory`] (what start-up loaded costs), [`state`]; what publishers and advertisers read:
//! [`selection`] (trends and products), [`reports`] (privacy-preserving aggregates),
//! [`transparency`] (`sellers.json`, the ads.txt report).

// In the order a request meets them:
pub mod admission;
pub mod affiliate;
pub(crate) mod bidders;
pub(crate) mod cookie_sync;
pub mod endpoint;
pub mod enrich;
pub(crate) mod notices_in;
pub mod receive;
pub mod shared;
// What requests are served from, and how it is reloaded:
pub mod serving;
// Around it:
pub(crate) mod admin;
pub mod config;
pub mod intent_eval;
pub mod memory;
pub mod metrics;
pub mod reports;
pub mod selection;
pub mod state;
pub mod transparency;

/// The pure auction core (its own crate, `exchange-core`: no IO by construction).
pub use exchange_core::{
    ads_txt, auction, campaign, click, clock, commission, context, cycle, debug_view, decision,
    features, index, ivt, learning, ledger, ltv, native, notice, orders, privacy, publishers,
    response, scoring, screen, signals, supply_chain, targeting, trends,
};

pub use receive::{run, run_with_admin};
pub use serving::snapshots::SnapshotStore;
pub use state::AppState;
