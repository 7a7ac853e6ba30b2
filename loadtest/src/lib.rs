//! `loadtest`: tools to put the exchange under realistic load.
//!
//! - [`mock_bidder`]: a configurable DSP built on the bidder SDK (latency distribution,
//!   bid rate, prices, errors, garbage, silence, canned answers); used by the end-to-end
//!   tests and by `loadtest mock-bidder`.
//!
//! The open-loop generator (`run`, `sweep`, `baseline`, `compare`, `demo`) arrives with
//! the load-test issue.

pub mod mock_bidder;
