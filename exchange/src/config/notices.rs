//! `[notices]`: how long notice URLs stay valid and the keys that sign them
//! (`[[notices.keys]]`, or `EXCHANGE_NOTICE_KEYS`). Secrets never appear in `Debug`.

use crate::notice::{KeyRing, NoticeKey};
use crate::shared::keys::EVENT_TTL_SECS;
use serde::Deserialize;

/// Environment variable holding `id:secret,id:secret` (the first signs); it replaces the
/// configured keys.
pub const KEYS_ENV: &str = "EXCHANGE_NOTICE_KEYS";

/// Notice URL settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeConfig {
    /// Seconds a notice URL stays valid after its auction; at most the idempotency
    /// window (two days), at least `auction.bid_expiry_secs`.
    pub ttl_secs: u64,
    /// Signing keys, the first signs new URLs, every one verifies. None: a random key
    /// per process (URLs from another node, or from before a restart, are refused).
    pub keys: Vec<NoticeKeySpec>,
}

impl Default for NoticeConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 86_400,
            keys: Vec::new(),
        }
    }
}

/// One signing key: its id and where its secret is.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeKeySpec {
    /// Key id, written in every URL it signs (1–16 of `A-Z a-z 0-9 - _`).
    pub id: String,
    /// The secret itself (at least 32 bytes); prefer `secret_env`.
    pub secret: String,
    /// Name of an environment variable holding the secret.
    pub secret_env: String,
}

impl std::fmt::Debug for NoticeKeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeKeySpec")
            .field("id", &self.id)
            .field("secret_env", &self.secret_env)
            .finish_non_exhaustive()
    }
}

impl NoticeConfig {
    /// The key ring these settings describe (reads `secret_env` variables); a random
    /// per-process ring when no key is configured.
    pub fn key_ring(&self) -> Result<KeyRing, (String, String)> {
        if self.keys.is_empty() {
            return Ok(KeyRing::ephemeral());
        }
        let mut keys = Vec::with_capacity(self.keys.len());
        for (i, spec) in self.keys.iter().enumerate() {
            let field = format!("notices.keys[{i}]");
            let secret = match (spec.secret.is_empty(), spec.secret_env.is_empty()) {
                (false, true) => spec.secret.clone(),
                (true, false) => std::env::var(&spec.secret_env).map_err(|_| {
                    (
                        format!("{field}.secret_env"),
                        format!("environment variable {} is not set", spec.secret_env),
                    )
                })?,
                _ => {
                    return Err((
                        field,
                        "give exactly one of secret and secret_env".to_owned(),
                    ))
                }
            };
            keys.push(NoticeKey::new(&spec.id, secret.as_bytes()).map_err(|m| (field, m))?);
        }
        KeyRing::new(keys).map_err(|m| ("notices.keys".to_owned(), m))
    }

    /// Replaces the keys with those of an `id:secret,...` list (`EXCHANGE_NOTICE_KEYS`).
    pub fn set_keys_from_list(&mut self, list: &str) -> Result<(), (String, String)> {
        let invalid = |m: String| (KEYS_ENV.to_owned(), m);
        KeyRing::parse_list(list).map_err(invalid)?;
        self.keys = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .filter_map(|entry| entry.split_once(':'))
            .map(|(id, secret)| NoticeKeySpec {
                id: id.trim().to_owned(),
                secret: secret.trim().to_owned(),
                secret_env: String::new(),
            })
            .collect();
        Ok(())
    }

    /// Checks the validity window against the bid's and the idempotency window, and
    /// every key.
    pub fn validate(&self, bid_expiry_secs: i64) -> Result<(), (String, String)> {
        let bid_expiry = u64::try_from(bid_expiry_secs).unwrap_or(0);
        if !(bid_expiry..=EVENT_TTL_SECS).contains(&self.ttl_secs) {
            return Err((
                "notices.ttl_secs".to_owned(),
                format!(
                    "{}: at least auction.bid_expiry_secs ({bid_expiry}) and at most {EVENT_TTL_SECS} (idempotency markers must outlive every URL)",
                    self.ttl_secs
                ),
            ));
        }
        self.key_ring().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn keys_come_from_the_file_or_the_environment_and_are_checked() {
        let mut config = NoticeConfig::default();
        assert!(config.key_ring().expect("ephemeral").is_ephemeral());
        config.keys = vec![NoticeKeySpec {
            id: "k1".into(),
            secret: SECRET.into(),
            secret_env: String::new(),
        }];
        assert_eq!(config.key_ring().expect("ring").ids(), ["k1"]);
        assert!(!format!("{config:?}").contains(SECRET));
        config.keys[0].secret_env = "X".into();
        assert_eq!(config.key_ring().expect_err("both").0, "notices.keys[0]");
        config.keys[0].secret.clear();
        config.keys[0].secret_env = "EXCHANGE_TEST_SURELY_UNSET_VARIABLE".into();
        assert_eq!(
            config.key_ring().expect_err("unset").0,
            "notices.keys[0].secret_env"
        );
        config
            .set_keys_from_list(&format!("k3:{SECRET}3,k2:{SECRET}"))
            .expect("list");
        assert_eq!(config.key_ring().expect("ring").ids(), ["k3", "k2"]);
        assert_eq!(
            config.set_keys_from_list("k3:short").expect_err("short").0,
            KEYS_ENV
        );
    }

    #[test]
    fn the_window_fits_between_the_bid_and_the_idempotency_markers() {
        let mut config = NoticeConfig::default();
        assert!(config.validate(300).is_ok());
        config.ttl_secs = 299;
        assert!(config.validate(300).is_err());
        config.ttl_secs = EVENT_TTL_SECS + 1;
        assert!(config.validate(300).is_err());
    }
}
