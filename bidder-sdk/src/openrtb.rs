//! OpenRTB 2.6 types and codec.
//!
//! Every object keeps fields it does not model in `extra` and carries `ext` verbatim, so
//! a parse → serialise round trip forwards what this crate does not understand.
//! Enumerations the spec lets grow are plain integers with named constants in [`enums`]:
//! an unknown value is kept, never an error.

mod codec;
pub mod enums;
mod nullable;
mod request;
mod response;
mod validate;

pub use codec::{
    decode_request, decode_response, encode_request, encode_response, DecodeError, DecodeErrorKind,
    MAX_NESTING_DEPTH,
};
pub use request::*;
pub use response::*;
pub use validate::{
    is_currency_code, validate_request, Invalid, MAX_FORMATS, MAX_ID_BYTES, MAX_IMPS,
    MAX_LIST_ENTRIES,
};

/// Fields an object does not model, kept for the round trip.
pub type Extra = serde_json::Map<String, serde_json::Value>;
/// A free-form JSON value (`ext` objects and structures the exchange passes through).
pub type Json = serde_json::Value;
