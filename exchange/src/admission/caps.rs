//! Frequency caps: who the user is (a keyed hash, never the raw id), which window bucket
//! an impression falls in, whether a campaign may still be shown to this user, and the
//! counters an impression bumps.
//!
//! Windows are tumbling and aligned to the campaign's time zone: `1d` is the campaign's
//! calendar day, `1h` the clock hour, `lifetime` one bucket. A counter holds
//! `bucket:count`; an older bucket reads as zero, so windows roll over without a sweeper.

use crate::campaign::{Campaign, FrequencyCap};
use crate::shared::keys::LIFETIME_TTL_SECS;
use crate::shared::{CounterBump, UserCounters, UserKey};
use bidder_sdk::openrtb::BidRequest;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Longest user id hashed; longer ids are treated as absent (they are not ids).
pub const MAX_USER_ID_BYTES: usize = 512;
/// Slack added to a counter's time to live past the end of its window, seconds.
const TTL_SLACK_SECS: u64 = 60;

/// The user key of a request: `user.id`, else `user.buyeruid`, else `device.ifa`, hashed
/// with `secret` (each source in its own namespace). `None` when the request has none.
pub fn user_key(request: &BidRequest, secret: &[u8; 16]) -> Option<UserKey> {
    let user = request.user.as_ref();
    let candidates = [
        ("user.id", user.and_then(|u| u.id.as_deref())),
        ("user.buyeruid", user.and_then(|u| u.buyeruid.as_deref())),
        (
            "device.ifa",
            request.device.as_ref().and_then(|d| d.ifa.as_deref()),
        ),
    ];
    candidates
        .into_iter()
        .find_map(|(source, id)| user_key_of(source, id?, secret))
}

/// The key of `id` read from `source` (`user.id`, `user.buyeruid` or `device.ifa`);
/// `None` for an empty, over-long or all-zero id.
pub fn user_key_of(source: &str, id: &str, secret: &[u8; 16]) -> Option<UserKey> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_USER_ID_BYTES || is_zero_ifa(id) {
        return None;
    }
    let mut hasher = SipHasher13::new_with_key(secret);
    hasher.write(source.as_bytes());
    hasher.write_u8(0);
    hasher.write(id.as_bytes());
    Some(UserKey(hasher.finish()))
}

/// A device id of zeros means "tracking limited": not a user.
fn is_zero_ifa(id: &str) -> bool {
    id.bytes().all(|b| b == b'0' || b == b'-')
}

/// The window bucket of `now` for `cap`, and how long its counter must live.
pub fn bucket(cap: &FrequencyCap, utc_offset_secs: i32, now_unix: i64) -> (i64, u64) {
    if cap.window_secs == 0 {
        return (0, LIFETIME_TTL_SECS);
    }
    let window = cap.window_secs as i64;
    let local = now_unix + i64::from(utc_offset_secs);
    let bucket = local.div_euclid(window);
    let left = (bucket + 1) * window - local;
    (bucket, left.max(0) as u64 + TTL_SLACK_SECS)
}

/// The counters one impression of `campaign` bumps (none without a cap).
pub fn bumps(campaign: &Campaign, now_unix: i64) -> Vec<CounterBump> {
    campaign
        .frequency_cap
        .iter()
        .map(|cap| {
            let (bucket, ttl_secs) = bucket(cap, campaign.utc_offset_secs, now_unix);
            CounterBump {
                field: cap.field.clone(),
                bucket,
                ttl_secs,
            }
        })
        .collect()
}

/// What the request path learned about the user's counters.
#[derive(Debug, Clone, PartialEq)]
pub enum CapRead {
    /// No campaign in the snapshot has a cap: nothing was read.
    NotNeeded,
    /// The request has no user id.
    Anonymous,
    /// The counters, read in time.
    Counters(UserCounters),
    /// The store failed or missed the deadline.
    Failed,
}

/// Why a cap kept a campaign out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapBlock {
    /// The user has seen it enough in this window.
    Capped,
    /// No user id, and the cap does not allow anonymous traffic.
    Anonymous,
    /// The counters could not be read and the campaign fails closed.
    StoreUnavailable,
}

impl CapBlock {
    /// Every value.
    pub const ALL: [CapBlock; 3] = [Self::Capped, Self::Anonymous, Self::StoreUnavailable];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capped => "capped",
            Self::Anonymous => "anonymous",
            Self::StoreUnavailable => "store_unavailable",
        }
    }
}

/// Whether `campaign` may be shown to this user now.
pub fn admits(campaign: &Campaign, read: &CapRead, now_unix: i64) -> Result<(), CapBlock> {
    let Some(cap) = &campaign.frequency_cap else {
        return Ok(());
    };
    match read {
        CapRead::NotNeeded => Ok(()),
        CapRead::Anonymous if cap.allow_anonymous => Ok(()),
        CapRead::Anonymous => Err(CapBlock::Anonymous),
        CapRead::Failed if cap.fail_open => Ok(()),
        CapRead::Failed => Err(CapBlock::StoreUnavailable),
        CapRead::Counters(counters) => {
            let (bucket, _) = bucket(cap, campaign.utc_offset_secs, now_unix);
            if counters.count(&cap.field, bucket) < cap.count {
                Ok(())
            } else {
                Err(CapBlock::Capped)
            }
        }
    }
}

/// Counters of the frequency-cap read on the request path.
#[derive(Debug, Default)]
pub struct CapStats {
    /// Reads that answered in time.
    pub reads_ok: AtomicU64,
    /// Reads that failed (store error).
    pub reads_failed: AtomicU64,
    /// Reads that missed their deadline.
    pub reads_late: AtomicU64,
    /// Requests without a user id (no read).
    pub anonymous: AtomicU64,
    /// Campaign exclusions by reason (indexed by [`CapBlock`]).
    pub blocked: [AtomicU64; CapBlock::ALL.len()],
    /// Limits the warnings of failed or late reads.
    pub log: crate::metrics::log_limit::LogLimit,
}

impl CapStats {
    /// Counts one exclusion.
    pub fn block(&self, reason: CapBlock) {
        self.blocked[reason as usize].fetch_add(1, Relaxed);
    }

    /// Store commands issued on the request path so far (one per read).
    pub fn commands(&self) -> u64 {
        self.reads_ok.load(Relaxed)
            + self.reads_failed.load(Relaxed)
            + self.reads_late.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidder_sdk::openrtb::decode_request;

    fn cap(window_secs: u64) -> FrequencyCap {
        FrequencyCap {
            count: 2,
            window_secs,
            advertiser_scope: false,
            allow_anonymous: false,
            fail_open: false,
            field: "c:x:1".into(),
        }
    }

    #[test]
    fn user_key_prefers_user_id_then_buyeruid_then_ifa_and_skips_zero_ifa() {
        let secret = [7u8; 16];
        let request = |json: &str| decode_request(json.as_bytes()).expect("valid");
        let base = r#""imp":[{"id":"1","banner":{"w":1,"h":1}}],"site":{"id":"s"}"#;
        let by_id = user_key(
            &request(&format!(
                r#"{{"id":"r",{base},"user":{{"id":"u1","buyeruid":"b1"}},"device":{{"ifa":"i1"}}}}"#
            )),
            &secret,
        );
        let by_buyer = user_key(
            &request(&format!(
                r#"{{"id":"r",{base},"user":{{"buyeruid":"b1"}},"device":{{"ifa":"i1"}}}}"#
            )),
            &secret,
        );
        let by_ifa = user_key(
            &request(&format!(r#"{{"id":"r",{base},"device":{{"ifa":"i1"}}}}"#)),
            &secret,
        );
        let zero_ifa = user_key(
            &request(&format!(
                r#"{{"id":"r",{base},"device":{{"ifa":"00000000-0000-0000-0000-000000000000"}}}}"#
            )),
            &secret,
        );
        assert!(by_id.is_some() && by_buyer.is_some() && by_ifa.is_some());
        assert_ne!(by_id, by_buyer);
        assert_ne!(by_buyer, by_ifa);
        assert_eq!(zero_ifa, None);
        let same_id_other_secret = user_key(
            &request(&format!(r#"{{"id":"r",{base},"user":{{"id":"u1"}}}}"#)),
            &[8u8; 16],
        );
        assert_ne!(
            by_id, same_id_other_secret,
            "the key is keyed by the secret"
        );
    }

    #[test]
    fn day_windows_follow_the_campaign_time_zone() {
        let day = cap(86_400);
        // 2026-11-29T15:59:59Z is 23:59:59 in UTC+8; one second later a new day there.
        let before = 1_796_399_999;
        let (b1, ttl1) = bucket(&day, 8 * 3600, before);
        let (b2, _) = bucket(&day, 8 * 3600, before + 1);
        assert_eq!(b2, b1 + 1);
        assert_eq!(ttl1, 1 + TTL_SLACK_SECS);
        assert_eq!(bucket(&cap(0), 0, before), (0, LIFETIME_TTL_SECS));
    }

    #[test]
    fn a_cap_admits_until_its_count_in_the_current_bucket() {
        let mut campaign =
            exchange_core::testing::campaign(crate::campaign::Pricing::Cpm { bid: 1.0 });
        campaign.frequency_cap = Some(cap(3600));
        let now = 1_796_399_999;
        let (b, _) = bucket(campaign.frequency_cap.as_ref().expect("cap"), 0, now);
        let mut counters = UserCounters::default();
        counters.fields.insert("c:x:1".into(), (b, 1));
        assert_eq!(
            admits(&campaign, &CapRead::Counters(counters.clone()), now),
            Ok(())
        );
        counters.fields.insert("c:x:1".into(), (b, 2));
        assert_eq!(
            admits(&campaign, &CapRead::Counters(counters.clone()), now),
            Err(CapBlock::Capped)
        );
        counters.fields.insert("c:x:1".into(), (b - 1, 9));
        assert_eq!(
            admits(&campaign, &CapRead::Counters(counters), now),
            Ok(()),
            "an old bucket reads as zero"
        );
        assert_eq!(
            admits(&campaign, &CapRead::Anonymous, now),
            Err(CapBlock::Anonymous)
        );
        assert_eq!(
            admits(&campaign, &CapRead::Failed, now),
            Err(CapBlock::StoreUnavailable)
        );
        let cap = campaign.frequency_cap.as_mut().expect("cap");
        cap.fail_open = true;
        cap.allow_anonymous = true;
        assert_eq!(admits(&campaign, &CapRead::Failed, now), Ok(()));
        assert_eq!(admits(&campaign, &CapRead::Anonymous, now), Ok(()));
    }
}
