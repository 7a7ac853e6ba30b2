//! `loadtest`: tools to put the exchange under realistic load.
//!
//! - [`scenario`]: what traffic to send (synthetic, seeded, generated before the run; or
//!   a folder of requests to replay).
//! - [`engine`]: the open-loop sender (fixed schedule, latency from the scheduled time,
//!   keep-alive connections, its own lag measured); [`report`]: what it measured.
//! - [`baseline`]: the bare hyper server the exchange is compared against.
//! - [`mock_bidder`]: a configurable DSP built on the bidder SDK (latency distribution,
//!   bid rate, prices, errors, garbage, silence, canned answers); used by the end-to-end
//!   tests and by `loadtest mock-bidder`.
//! - [`units`]: durations as people write them (`10s`, `2m`).

pub mod baseline;
pub mod engine;
pub mod mock_bidder;
pub mod report;
pub mod scenario;
pub mod units;
