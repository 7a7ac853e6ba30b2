//! The money ledger's format, as pure functions: each entry's canonical body, the SHA-256
//! chain, Ed25519 checkpoints, the Merkle tree of a statement's lines with inclusion
//! proofs, and the offline check of an export (`exchange ledger verify`). The format is
//! specified in `docs/ledger.md`; `tests/ledger_verify.py` is an independent verifier.
//!
//! An entry is `{"seq":N,"prev":H(N-1),"hash":H(N),"body":"<canonical JSON>"}` with
//! `H(N) = SHA-256(H(N-1) ‖ body bytes)` and `H(0)` = 32 zero bytes. A body is a JSON
//! object whose keys are sorted and whose values are strings, integers (money in
//! micro-units, rates in parts per million), booleans, null, arrays or such objects;
//! no floats, no whitespace.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

mod merkle;
#[cfg(test)]
mod tests;
mod verify;

pub use merkle::{inclusion_proof, leaf_hash, merkle_root, verify_inclusion};
pub use verify::{verify_export, Problem, Verified};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash before the first entry.
pub const GENESIS: Hash = [0; 32];

/// Domain tag of a checkpoint signature.
pub const CHECKPOINT_TAG: &str = "exchange-ledger-checkpoint-v1";
/// Domain tag of a statement signature.
pub const STATEMENT_TAG: &str = "exchange-statement-v1";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The bytes of lower-case (or upper-case) hex text of exactly `N` bytes.
pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// Why a value cannot be a ledger body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not canonical: {0}")]
pub struct NotCanonical(pub &'static str);

/// The canonical encoding of `body`: sorted keys, no whitespace, integers only.
pub fn canonical(body: &Value) -> Result<String, NotCanonical> {
    check_canonical(body)?;
    // serde_json's map is ordered by key (bytewise = code point order for UTF-8) and its
    // compact writer adds no whitespace.
    serde_json::to_string(body).map_err(|_| NotCanonical("unserialisable"))
}

fn check_canonical(value: &Value) -> Result<(), NotCanonical> {
    match value {
        Value::Number(n) if n.is_f64() => Err(NotCanonical("a float")),
        Value::Array(items) => items.iter().try_for_each(check_canonical),
        Value::Object(map) => map.values().try_for_each(check_canonical),
        _ => Ok(()),
    }
}

/// `H(n) = SHA-256(prev ‖ body)`.
pub fn chain_hash(prev: &Hash, body: &str) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(body.as_bytes());
    hasher.finalize().into()
}

/// One entry as exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position, from 1, without gaps.
    pub seq: u64,
    /// The previous entry's hash (hex).
    pub prev: String,
    /// This entry's hash (hex).
    pub hash: String,
    /// The canonical body.
    pub body: String,
}

impl Entry {
    /// The entry after one whose hash is `prev`, at `seq`, carrying `body`.
    pub fn next(seq: u64, prev: &Hash, body: &Value) -> Result<Self, NotCanonical> {
        let body = canonical(body)?;
        Ok(Self {
            seq,
            prev: hex(prev),
            hash: hex(&chain_hash(prev, &body)),
            body,
        })
    }
}

/// What a checkpoint signs: the tag, the entry count covered and the head hash, one per
/// line.
pub fn checkpoint_message(covers: u64, head: &Hash) -> String {
    format!("{CHECKPOINT_TAG}\n{covers}\n{}", hex(head))
}

/// What a statement signature signs.
pub fn statement_message(period: &str, party: &str, root: &Hash) -> String {
    format!("{STATEMENT_TAG}\n{period}\n{party}\n{}", hex(root))
}

/// The exchange's signing key.
#[derive(Clone)]
pub struct LedgerKey(SigningKey);

impl std::fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LedgerKey({})", self.public_hex())
    }
}

impl LedgerKey {
    /// The key of a 32-byte Ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex(self.0.verifying_key().as_bytes())
    }

    /// Signature of `message`, hex.
    pub fn sign(&self, message: &str) -> String {
        hex(&self.0.sign(message.as_bytes()).to_bytes())
    }
}

/// Whether `signature` (hex) is `public` key's (hex) over `message`.
pub fn signature_holds(public: &str, message: &str, signature: &str) -> bool {
    let (Some(key), Some(sig)) = (unhex::<32>(public), unhex::<64>(signature)) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return false;
    };
    key.verify_strict(message.as_bytes(), &Signature::from_bytes(&sig))
        .is_ok()
}

/// The body of a checkpoint over the entries before it.
pub fn checkpoint_body(key: &LedgerKey, covers: u64, head: &Hash) -> Value {
    let mut body = BTreeMap::new();
    body.insert("kind", Value::from("checkpoint"));
    body.insert("covers", Value::from(covers));
    body.insert("head", Value::from(hex(head)));
    body.insert("key", Value::from(key.public_hex()));
    body.insert(
        "sig",
        Value::from(key.sign(&checkpoint_message(covers, head))),
    );
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// A statement's signed summary over its lines (canonical line bodies, in order): the
/// Merkle root, the line count, the totals of [`verify::TOTALLED`] and the signature.
pub fn statement_body(key: &LedgerKey, period: &str, party: &str, lines: &[Value]) -> Value {
    let leaves: Vec<Hash> = lines
        .iter()
        .map(|l| leaf_hash(canonical(l).unwrap_or_default().as_bytes()))
        .collect();
    let root = merkle_root(&leaves);
    let mut totals = serde_json::Map::new();
    for name in verify::TOTALLED {
        let sum: i64 = lines
            .iter()
            .map(|l| l.get(name).and_then(Value::as_i64).unwrap_or(0))
            .sum();
        totals.insert(name.to_owned(), Value::from(sum));
    }
    serde_json::json!({
        "kind": "statement",
        "period": period,
        "party": party,
        "lines": lines.len(),
        "root": hex(&root),
        "totals": totals,
        "key": key.public_hex(),
        "sig": key.sign(&statement_message(period, party, &root)),
    })
}

/// The ledger body of line `index` of a statement.
pub fn statement_line_body(period: &str, party: &str, index: usize, line: &Value) -> Value {
    serde_json::json!({
        "kind": "statement_line",
        "period": period,
        "party": party,
        "index": index,
        "line": line,
    })
}
