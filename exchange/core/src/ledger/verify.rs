//! The offline check of a ledger export: the chain, the checkpoints' signatures, each
//! statement's Merkle root, signature and totals. It names the first bad entry.

use super::{
    chain_hash, checkpoint_message, hex, leaf_hash, merkle_root, signature_holds,
    statement_message, unhex, Entry, Hash,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The first thing wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq} (line {line}): {message}")]
pub struct Problem {
    /// The entry's position as the export gives it (or the expected one).
    pub seq: u64,
    /// The line of the export (from 1).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// What a sound export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// The first entry's position (1 for a whole ledger).
    pub first_seq: u64,
    /// Checkpoints whose signature holds.
    pub checkpoints: u64,
    /// Statements whose root, signature and totals hold.
    pub statements: u64,
    /// Entries after the last checkpoint (chained, not yet signed).
    pub unsigned_tail: u64,
    /// The head hash.
    pub head: String,
    /// The key the checkpoints are signed with.
    pub key: Option<String>,
}

/// Lines of one statement gathered while reading.
#[derive(Default)]
struct Gathered {
    leaves: Vec<Hash>,
    sums: BTreeMap<String, i64>,
}

/// The amounts a statement totals.
pub const TOTALLED: [&str; 3] = ["commission_micros", "fee_micros", "payout_micros"];

/// Checks `export` (JSON lines of [`Entry`]). With `trusted_key` (hex), every checkpoint
/// must be signed by it; without, by the key the first checkpoint names.
pub fn verify_export(export: &str, trusted_key: Option<&str>) -> Result<Verified, Problem> {
    let mut prev: Option<Hash> = None;
    let mut expected_seq = 0;
    let mut first_seq = 0;
    let mut key = trusted_key.map(str::to_ascii_lowercase);
    let mut checkpoints = 0;
    let mut statements = 0;
    let mut last_checkpoint = 0;
    let mut count = 0;
    let mut open: BTreeMap<(String, String), Gathered> = BTreeMap::new();
    for (i, text) in export
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line = i + 1;
        let fail = |seq: u64, message: String| Problem { seq, line, message };
        let entry: Entry = serde_json::from_str(text)
            .map_err(|e| fail(expected_seq, format!("not an entry: {e}")))?;
        let seq = entry.seq;
        let given_prev =
            unhex::<32>(&entry.prev).ok_or_else(|| fail(seq, "prev is not a hash".into()))?;
        match prev {
            None => {
                first_seq = seq;
                if seq == 0 || (seq == 1 && given_prev != super::GENESIS) {
                    return Err(fail(seq, "the first entry does not start the chain".into()));
                }
            }
            Some(p) => {
                if seq != expected_seq {
                    return Err(fail(
                        seq,
                        format!("expected entry {expected_seq}: removed, inserted or reordered"),
                    ));
                }
                if given_prev != p {
                    return Err(fail(seq, "prev is not the previous entry's hash".into()));
                }
            }
        }
        let hash = chain_hash(&given_prev, &entry.body);
        if hex(&hash) != entry.hash.to_ascii_lowercase() {
            return Err(fail(
                seq,
                "hash does not match prev and body (altered)".into(),
            ));
        }
        let body: Value = serde_json::from_str(&entry.body)
            .map_err(|e| fail(seq, format!("body is not JSON: {e}")))?;
        match super::canonical(&body) {
            Ok(again) if again == entry.body => {}
            _ => return Err(fail(seq, "body is not in canonical form".into())),
        }
        let kind = body.get("kind").and_then(Value::as_str).unwrap_or("");
        match kind {
            "checkpoint" => {
                let covers = body.get("covers").and_then(Value::as_u64);
                let head = body.get("head").and_then(Value::as_str).unwrap_or("");
                let signer = body.get("key").and_then(Value::as_str).unwrap_or("");
                let sig = body.get("sig").and_then(Value::as_str).unwrap_or("");
                if covers != Some(seq - 1) || head != entry.prev {
                    return Err(fail(
                        seq,
                        "checkpoint does not cover the entries before it".into(),
                    ));
                }
                let key = key.get_or_insert_with(|| signer.to_ascii_lowercase());
                if signer != key.as_str() {
                    return Err(fail(
                        seq,
                        format!("checkpoint signed by another key {signer}"),
                    ));
                }
                if !signature_holds(key, &checkpoint_message(seq - 1, &given_prev), sig) {
                    return Err(fail(seq, "checkpoint signature does not hold".into()));
                }
                checkpoints += 1;
                last_checkpoint = seq;
            }
            "statement_line" => {
                let id = statement_id(&body).ok_or_else(|| fail(seq, "no period/party".into()))?;
                let gathered = open.entry(id).or_default();
                let index = body.get("index").and_then(Value::as_u64);
                if index != Some(gathered.leaves.len() as u64) {
                    return Err(fail(seq, "statement line out of order".into()));
                }
                let line_body = body.get("line").unwrap_or(&Value::Null);
                let bytes = super::canonical(line_body)
                    .map_err(|e| fail(seq, format!("statement line: {e}")))?;
                gathered.leaves.push(leaf_hash(bytes.as_bytes()));
                for name in TOTALLED {
                    let amount = line_body.get(name).and_then(Value::as_i64).unwrap_or(0);
                    *gathered.sums.entry(name.to_owned()).or_default() += amount;
                }
            }
            "statement" => {
                let id = statement_id(&body).ok_or_else(|| fail(seq, "no period/party".into()))?;
                let gathered = open.remove(&id).unwrap_or_default();
                let root = merkle_root(&gathered.leaves);
                let stated = body.get("root").and_then(Value::as_str).unwrap_or("");
                if stated != hex(&root) {
                    return Err(fail(
                        seq,
                        format!("statement {}/{}: root does not match its lines", id.0, id.1),
                    ));
                }
                if body.get("lines").and_then(Value::as_u64) != Some(gathered.leaves.len() as u64) {
                    return Err(fail(seq, "statement: line count does not match".into()));
                }
                for name in TOTALLED {
                    let total = body
                        .get("totals")
                        .and_then(|t| t.get(name))
                        .and_then(Value::as_i64);
                    if total != Some(gathered.sums.get(name).copied().unwrap_or(0)) {
                        return Err(fail(
                            seq,
                            format!("statement: {name} total is not the sum of its lines"),
                        ));
                    }
                }
                let sig = body.get("sig").and_then(Value::as_str).unwrap_or("");
                let signer = body.get("key").and_then(Value::as_str).unwrap_or("");
                let key = key.get_or_insert_with(|| signer.to_ascii_lowercase());
                if !signature_holds(key, &statement_message(&id.0, &id.1, &root), sig) {
                    return Err(fail(seq, "statement signature does not hold".into()));
                }
                statements += 1;
            }
            "" => return Err(fail(seq, "body has no kind".into())),
            _ => {}
        }
        prev = Some(hash);
        expected_seq = seq + 1;
        count += 1;
    }
    if let Some(((period, party), _)) = open.into_iter().next() {
        return Err(Problem {
            seq: expected_seq,
            line: 0,
            message: format!("statement {period}/{party} has lines but no statement entry"),
        });
    }
    Ok(Verified {
        entries: count,
        first_seq,
        checkpoints,
        statements,
        unsigned_tail: (expected_seq.saturating_sub(1))
            .saturating_sub(last_checkpoint.max(first_seq.saturating_sub(1))),
        head: prev.map(|h| hex(&h)).unwrap_or_default(),
        key,
    })
}

fn statement_id(body: &Value) -> Option<(String, String)> {
    Some((
        body.get("period")?.as_str()?.to_owned(),
        body.get("party")?.as_str()?.to_owned(),
    ))
}
