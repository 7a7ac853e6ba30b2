//! Key layout. Every key starts with the configured prefix (`store.key_prefix`, default
//! `rtb`), so several exchanges or test runs can share one Redis. The part in braces is
//! the Redis Cluster hash tag: one user's keys share a slot, and one campaign's keys share
//! a slot, so each script touches a single slot.
//!
//! | key | type | what | expires |
//! |---|---|---|---|
//! | `{p}:f:{<user>}` | hash | one user: frequency counters, field `c:<campaign>:<window s>` or `a:<advertiser>:<window s>` → `<bucket>:<count>`; purchase history, field `h:<vertical>` (`h:*` all) → `<first day>:<last day>:<transactions>:<total>` | longest window or history written (lifetime caps and history: [`LIFETIME_TTL_SECS`]) |
//! | `{p}:f:{<user>}:n:<auction>:<imp>` | string | the impression was counted | [`EVENT_TTL_SECS`] |
//! | `{p}:b:{<campaign>}:d:<day>` | hash | `spent`, `leased`, per node `n:<node>` (held micros) and `e:<node>` (expiry, unix ms) | [`DAY_TTL_SECS`] |
//! | `{p}:b:{<campaign>}:t` | hash | the same over the campaign's life | none (one per campaign) |
//! | `{p}:b:{<campaign>}:n:<auction>:<imp>` | string | the spend was committed | [`EVENT_TTL_SECS`] |
//!
//! `<user>` is the 16-hex-digit [`super::UserKey`]; `<day>` is the unix day in the
//! campaign's time zone. Ids from outside (campaign, advertiser, auction, imp) are
//! percent-encoded so braces and colons in them cannot move a key to another slot or
//! collide with another key.

use super::{EventId, UserKey};

/// How long an "already counted" marker lives: longer than any notice may arrive late.
pub const EVENT_TTL_SECS: u64 = 2 * 86_400;
/// Width of a reservation bucket, seconds: reservations expire a bucket at a time, at the
/// end of the bucket their notices' expiry falls in.
pub const RESERVE_BUCKET_SECS: i64 = 60;
/// Key prefix of the embedded store (its maps and its file use the Redis layout).
pub const EMBEDDED_PREFIX: &str = "mem";
/// How long a day's budget hash lives after its last write.
pub const DAY_TTL_SECS: u64 = 3 * 86_400;
/// Lifetime of a lifetime frequency counter after its last write (about 13 months).
pub const LIFETIME_TTL_SECS: u64 = 400 * 86_400;

use exchange_core::campaign::counter::key_part as part;
pub use exchange_core::campaign::counter::{cap_field, CapScope};

/// The user's counter hash.
pub fn user_counters(prefix: &str, user: UserKey) -> String {
    format!("{prefix}:f:{{{}}}", user.hex())
}

/// The marker that one impression was counted for the user.
pub fn user_event(prefix: &str, user: UserKey, event: &EventId) -> String {
    format!(
        "{prefix}:f:{{{}}}:n:{}:{}",
        user.hex(),
        part(&event.auction),
        part(&event.imp)
    )
}

/// The field of a user's purchase history in `vertical` (`*`: all purchases).
pub fn history_field(vertical: &str) -> String {
    format!("h:{}", part(vertical))
}

/// The vertical of a [`history_field`], if `field` is one (verticals are plain ids).
pub fn history_vertical(field: &str) -> Option<&str> {
    field.strip_prefix("h:")
}

/// A campaign's budget hash for `day`.
pub fn campaign_day(prefix: &str, campaign: &str, day: i64) -> String {
    format!("{prefix}:b:{{{}}}:d:{day}", part(campaign))
}

/// A campaign's lifetime budget hash.
pub fn campaign_total(prefix: &str, campaign: &str) -> String {
    format!("{prefix}:b:{{{}}}:t", part(campaign))
}

/// The marker that one event's spend was committed.
pub fn campaign_event(prefix: &str, campaign: &str, event: &EventId) -> String {
    format!(
        "{prefix}:b:{{{}}}:n:{}:{}",
        part(campaign),
        part(&event.auction),
        part(&event.imp)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Redis Cluster hash tag of a key: the part between the first `{` and the next `}`.
    fn tag(key: &str) -> &str {
        let open = key.find('{').expect("a tag");
        let close = key[open..].find('}').expect("closed") + open;
        &key[open + 1..close]
    }

    #[test]
    fn one_users_keys_share_a_slot_and_one_campaigns_keys_share_a_slot() {
        let user = UserKey(0xabc);
        let event = EventId {
            auction: "a{x}".into(),
            imp: "1:2".into(),
        };
        assert_eq!(tag(&user_counters("rtb", user)), "0000000000000abc");
        assert_eq!(tag(&user_event("rtb", user, &event)), "0000000000000abc");
        let campaign = "shoe{s}:1";
        let day = campaign_day("rtb", campaign, 20_000);
        assert_eq!(tag(&day), tag(&campaign_total("rtb", campaign)));
        assert_eq!(tag(&day), tag(&campaign_event("rtb", campaign, &event)));
        assert_eq!(tag(&day), "shoe%7Bs%7D%3A1");
        assert!(!user_event("rtb", user, &event).contains("a{x}"));
    }

    #[test]
    fn fields_name_scope_and_window() {
        assert_eq!(cap_field(CapScope::Campaign("c-1"), 86_400), "c:c-1:86400");
        assert_eq!(cap_field(CapScope::Advertiser("jd:1"), 0), "a:jd%3A1:0");
    }
}
