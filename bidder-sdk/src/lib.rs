//! `bidder-sdk`: the OpenRTB 2.6 wire contract shared by the exchange and external bidders.
//!
//! - [`openrtb`]: request/response types that keep every unknown field and `ext`, open
//!   enumerations, and the simd-json codec (no IO).
//!
//! The HTTP host for DSPs lives behind the default `server` feature (its own issue); the
//! exchange depends on this crate with default features off.

pub mod openrtb;
