//! `[store]`: where frequency counters and budgets live (Redis or in process) and how
//! budget leases are sized.

use serde::Deserialize;

/// Shared-state settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Redis URL (`redis://host:port/db`; comma-separated seed nodes with `cluster`).
    /// Empty: the in-process store (one node). `REDIS_URL` and `--redis` override it.
    pub redis_url: String,
    /// Speak the Redis Cluster protocol.
    pub cluster: bool,
    /// Prefix of every key, so several exchanges can share one Redis.
    pub key_prefix: String,
    /// The exchange's own SQLite file (relative to the config file's folder): the embedded
    /// store's state when there is no Redis, the journal of writes Redis did not take when
    /// there is. Empty: none (the embedded store then forgets everything on restart, and a
    /// Redis outage holds notices until it ends).
    pub path: std::path::PathBuf,
    /// Deadline of the frequency read on the request path, ms (also never past the
    /// response deadline). Missed: each capped campaign applies its `on_store_error`.
    pub read_timeout_ms: u64,
    /// Timeout of one connection attempt, ms.
    pub connect_timeout_ms: u64,
    /// Timeout of one command's answer off the request path (writes, leases), ms.
    pub command_timeout_ms: u64,
    /// Notice writes queued for the store; beyond it a notice is answered 503 (retry).
    pub write_queue: usize,
    /// This node's id in lease records; empty: generated from the process.
    pub node_id: String,
    /// Key of the user-id hash, 32 hex digits; empty: a built-in key (set your own so user
    /// keys cannot be recomputed from ids elsewhere; every node needs the same one).
    pub user_key_secret: String,
    /// A lease not settled for this long returns to the budget (a dead node's money), ms.
    pub lease_ttl_ms: u64,
    /// A lease aims to cover this many seconds of the campaign's recent spend.
    pub lease_secs: f64,
    /// Largest lease as a share of the (daily or lifetime) budget, (0, 1].
    pub max_lease_share: f64,
    /// How often each campaign settles its lease and updates its pacing, ms.
    pub settle_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            redis_url: String::new(),
            cluster: false,
            key_prefix: "rtb".to_owned(),
            path: std::path::PathBuf::from("exchange.db"),
            read_timeout_ms: 5,
            connect_timeout_ms: 1_000,
            command_timeout_ms: 500,
            write_queue: 65_536,
            node_id: String::new(),
            user_key_secret: String::new(),
            lease_ttl_ms: 30_000,
            lease_secs: 10.0,
            max_lease_share: 0.05,
            settle_ms: 1_000,
        }
    }
}

/// The built-in user-key secret (used when none is configured).
const DEFAULT_SECRET: [u8; 16] = *b"rtb-exchange-uk1";

impl StoreConfig {
    /// The user-key secret as bytes.
    pub fn secret(&self) -> [u8; 16] {
        let mut out = DEFAULT_SECRET;
        if self.user_key_secret.len() == 32 {
            for (i, byte) in out.iter_mut().enumerate() {
                if let Ok(b) = u8::from_str_radix(&self.user_key_secret[2 * i..2 * i + 2], 16) {
                    *byte = b;
                }
            }
        }
        out
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: &str| Err((format!("store.{field}"), message.to_owned()));
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 32
            && self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !prefix_ok {
            return fail("key_prefix", "1-32 characters of A-Z a-z 0-9 - _ .");
        }
        if !self.redis_url.is_empty()
            && !self.redis_url.split(',').all(|u| {
                let u = u.trim();
                u.starts_with("redis://")
                    || u.starts_with("rediss://")
                    || u.starts_with("redis+unix://")
            })
        {
            return fail(
                "redis_url",
                "must start with redis://, rediss:// or redis+unix://",
            );
        }
        if !(1..=1_000).contains(&self.read_timeout_ms) {
            return fail("read_timeout_ms", "must be between 1 and 1000");
        }
        if !(1..=60_000).contains(&self.connect_timeout_ms)
            || !(1..=60_000).contains(&self.command_timeout_ms)
        {
            return fail(
                "connect_timeout_ms",
                "timeouts must be between 1 and 60000 ms",
            );
        }
        if !(1..=10_000_000).contains(&self.write_queue) {
            return fail("write_queue", "must be between 1 and 10000000");
        }
        if self.node_id.len() > 64 || self.node_id.bytes().any(|b| !b.is_ascii_graphic()) {
            return fail("node_id", "at most 64 printable characters without spaces");
        }
        if !(self.user_key_secret.is_empty()
            || self.user_key_secret.len() == 32
                && self.user_key_secret.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return fail("user_key_secret", "must be empty or 32 hex digits");
        }
        if !(1_000..=3_600_000).contains(&self.lease_ttl_ms) {
            return fail("lease_ttl_ms", "must be between 1000 and 3600000");
        }
        if !(self.lease_secs.is_finite() && self.lease_secs > 0.0 && self.lease_secs <= 3_600.0) {
            return fail("lease_secs", "must be in (0, 3600]");
        }
        if !(self.max_lease_share.is_finite()
            && self.max_lease_share > 0.0
            && self.max_lease_share <= 1.0)
        {
            return fail("max_lease_share", "must be in (0, 1]");
        }
        if !(10..=60_000).contains(&self.settle_ms) || self.settle_ms * 2 > self.lease_ttl_ms {
            return fail(
                "settle_ms",
                "must be between 10 and 60000 and at most half of lease_ttl_ms",
            );
        }
        Ok(())
    }
}
