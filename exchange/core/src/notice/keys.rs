//! The notice-signing keys: which key signs, which keys verify, where the secrets come
//! from. Secrets are never logged (`Debug` prints key ids only).
//!
//! Rotation: add the new key first in the list (it signs from then on), keep the old one
//! after it until every URL it signed has expired (`notices.ttl_secs`), then remove it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The MAC notices are signed with.
pub type NoticeMac = Hmac<Sha256>;

/// Shortest secret accepted, bytes (the HMAC-SHA256 block wants at least its output size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Longest key id, bytes (it travels in every URL).
pub const MAX_KEY_ID: usize = 16;
/// Most keys active at once.
pub const MAX_KEYS: usize = 8;
/// Id of the per-process key used when none is configured and there is no store file.
pub const EPHEMERAL_KEY_ID: &str = "ephemeral";
/// Id of the key the embedded store keeps when none is configured.
pub const STORED_KEY_ID: &str = "stored";

/// One key: its id (in the URL) and the MAC keyed with its secret, ready to clone.
#[derive(Clone)]
pub struct NoticeKey {
    id: String,
    mac: NoticeMac,
}

impl std::fmt::Debug for NoticeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl NoticeKey {
    /// A key from its id and secret; checks both.
    pub fn new(id: &str, secret: &[u8]) -> Result<Self, String> {
        let id_ok = !id.is_empty()
            && id.len() <= MAX_KEY_ID
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(format!(
                "key id {id:?}: 1 to {MAX_KEY_ID} of A-Z a-z 0-9 - _"
            ));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "key {id}: secret of {} bytes; at least {MIN_SECRET_BYTES}",
                secret.len()
            ));
        }
        let mac = NoticeMac::new_from_slice(secret).map_err(|e| format!("key {id}: {e}"))?;
        Ok(Self {
            id: id.to_owned(),
            mac,
        })
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A MAC keyed with this key, to feed a message into.
    pub fn mac(&self) -> NoticeMac {
        self.mac.clone()
    }
}

/// The active keys: the first signs, every one verifies.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<NoticeKey>,
    ephemeral: bool,
}

impl KeyRing {
    /// A ring of `keys` (the first signs); at least one, at most [`MAX_KEYS`], ids unique.
    pub fn new(keys: Vec<NoticeKey>) -> Result<Self, String> {
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(format!("1 to {MAX_KEYS} keys, not {}", keys.len()));
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(format!("key id {} appears twice", key.id));
            }
        }
        Ok(Self {
            keys,
            ephemeral: false,
        })
    }

    /// A ring of one random key that lives as long as this process: URLs signed by
    /// another node, or before a restart, do not verify.
    pub fn ephemeral() -> Self {
        let secret: [u8; 32] = rand::random();
        let key = NoticeKey::new(EPHEMERAL_KEY_ID, &secret)
            .expect("a 32-byte random secret and a constant id are valid");
        Self {
            keys: vec![key],
            ephemeral: true,
        }
    }

    /// A ring of one key whose secret the embedded store keeps (`stored` id): the same
    /// after a restart, for one node. Several nodes need configured keys.
    pub fn stored(secret: &[u8]) -> Result<Self, String> {
        Ok(Self {
            keys: vec![NoticeKey::new(STORED_KEY_ID, secret)?],
            ephemeral: false,
        })
    }

    /// Reads `id:secret,id:secret` (first signs), the form of `EXCHANGE_NOTICE_KEYS`.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (id, secret) = entry
                    .split_once(':')
                    .ok_or_else(|| "each entry is id:secret".to_owned())?;
                NoticeKey::new(id.trim(), secret.trim().as_bytes())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The key that signs new URLs.
    pub fn signing(&self) -> &NoticeKey {
        &self.keys[0]
    }

    /// The key with id `id`, if active.
    pub fn get(&self, id: &str) -> Option<&NoticeKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Whether this is a per-process random key (no key configured).
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// The active key ids, signing key first (safe to log).
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert!(NoticeKey::new("k1", b"short").is_err());
        assert!(NoticeKey::new("", SECRET.as_bytes()).is_err());
        assert!(NoticeKey::new("k 1", SECRET.as_bytes()).is_err());
        assert!(NoticeKey::new("k1234567890123456", SECRET.as_bytes()).is_err());
        let ring = KeyRing::parse_list(&format!("new:{SECRET}x, old:{SECRET}")).expect("ring");
        assert_eq!(ring.ids(), ["new", "old"]);
        assert_eq!(ring.signing().id(), "new");
        let printed = format!("{ring:?}");
        assert!(!printed.contains(SECRET), "{printed}");
        assert!(KeyRing::parse_list(&format!("a:{SECRET},a:{SECRET}x")).is_err());
        assert!(KeyRing::parse_list("").is_err());
        assert!(KeyRing::parse_list(SECRET).is_err());
    }

    #[test]
    fn ephemeral_rings_differ() {
        let (a, b) = (KeyRing::ephemeral(), KeyRing::ephemeral());
        assert!(a.is_ephemeral());
        let tag = |ring: &KeyRing| ring.signing().mac().chain_update(b"m").finalize();
        assert_ne!(tag(&a).into_bytes(), tag(&b).into_bytes());
    }
}
