//! `loadtest`: tools to put the exchange under realistic load.
//!
//! - [`scenario`]: what traffic to send (synthetic, seeded, generated before the run; or
//!   a folder of requests to replay).
//! - [`engine`]: the open-loop sender (fixed schedule, latency from the scheduled time,
//!   keep-alive connections, its own lag measured); [`report`]: what it measured.
//! - [`baseline`]: the bare hyper server the exchange is compared against;
//!   [`servers`]: the exchange and the baseline started on their own runtimes.
//! - [`sweep`]: runs at rising rates to find the highest that holds a p99 objective;
//!   [`compare`]: the exchange against the baseline in alternating rounds, as ratios;
//!   [`demo`]: the exchange with two mock DSPs under a short load, in one command;
//!   [`cost`]: CPU per request and memory of the exchange's own process against the
//!   baseline's at everyday rates ([`process`]: servers as processes, `/proc` readings).
//! - [`mock_bidder`]: a configurable DSP built on the bidder SDK (latency distribution,
//!   bid rate, prices, errors, garbage, silence, canned answers); used by the end-to-end
//!   tests and by `loadtest mock-bidder`.
//! - [`affiliate`]: the click and order scenarios (`loadtest clicks`, `loadtest orders`)
//!   against a running exchange, with its server-side figures.
//! - [`units`]: durations as people write them (`10s`, `2m`).

pub mod affiliate;
pub mod baseline;
pub mod compare;
pub mod cost;
pub mod demo;
pub mod engine;
pub mod history;
pub mod mock_bidder;
pub mod process;
pub mod report;
pub mod scenario;
pub mod servers;
pub mod sweep;
pub mod units;
