//! The identity of a frequency counter: which campaign (or advertiser) and window it
//! counts. The store keeps one field per identity in a user's hash (the layout is the
//! server's `pacing_store::keys`); the compiler computes it once per cap so the request
//! path never formats one.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters escaped in ids placed in store keys and fields (so braces and colons in an
/// id cannot move a key to another Redis Cluster slot or collide with another key).
const KEY_PART: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b':').add(b'{').add(b'}');

/// `id` escaped for use inside a store key or field.
pub fn key_part(id: &str) -> String {
    utf8_percent_encode(id, KEY_PART).to_string()
}

/// Which counter a cap reads: one campaign's, or all of one advertiser's campaigns'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapScope<'a> {
    /// One campaign.
    Campaign(&'a str),
    /// Every campaign of an advertiser that caps at advertiser level.
    Advertiser(&'a str),
}

/// The counter field of a cap with a window of `window_secs` (0 = lifetime).
pub fn cap_field(scope: CapScope<'_>, window_secs: u64) -> String {
    match scope {
        CapScope::Campaign(id) => format!("c:{}:{window_secs}", key_part(id)),
        CapScope::Advertiser(id) => format!("a:{}:{window_secs}", key_part(id)),
    }
}
