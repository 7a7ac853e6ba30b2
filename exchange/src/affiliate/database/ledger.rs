//! The ledger tables. A money event is queued (`ledger_queue`) inside the transaction that
//! makes it — durable with the change, and no lock shared between orders — and the
//! sequencer chains queued events in batches (`sequence`: `ledger_head` is the lock nodes
//! serialise on, once per batch, not once per order), with a signed checkpoint every
//! `checkpoint_every` entries. Settlement chains what is queued, then appends its own
//! entries directly, in its transaction. The format is `exchange_core::ledger`'s.

use crate::affiliate::sql::{SqlError, Tx};
use exchange_core::ledger::{checkpoint_body, unhex, Entry, Hash, LedgerKey, GENESIS};
use serde_json::Value;

/// How the ledger is signed.
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// The exchange's key.
    pub key: LedgerKey,
    /// Entries between checkpoints.
    pub checkpoint_every: u64,
}

struct Head {
    seq: u64,
    hash: Hash,
    since_checkpoint: i64,
}

fn read_head(tx: &mut dyn Tx) -> Result<Head, SqlError> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let row = tx.query_one(
        &format!("SELECT seq, hash, since_checkpoint FROM ledger_head WHERE id = 1{lock}"),
        &[],
    )?;
    let row = row.ok_or_else(|| SqlError("ledger head missing".into()))?;
    Ok(Head {
        seq: u64::try_from(row.int(0)).unwrap_or(0),
        hash: unhex(&row.text(1)).unwrap_or(GENESIS),
        since_checkpoint: row.int(2),
    })
}

fn write(tx: &mut dyn Tx, head: &mut Head, body: &Value, at_ms: i64) -> Result<(), SqlError> {
    let text = exchange_core::ledger::canonical(body)
        .map_err(|e| SqlError(format!("ledger body: {e}")))?;
    write_text(tx, head, text, at_ms)
}

fn save_head(tx: &mut dyn Tx, head: &Head) -> Result<(), SqlError> {
    tx.execute(
        "UPDATE ledger_head SET seq = $1, hash = $2, since_checkpoint = $3 WHERE id = 1",
        &[
            (head.seq as i64).into(),
            exchange_core::ledger::hex(&head.hash).into(),
            head.since_checkpoint.into(),
        ],
    )
    .map(drop)
}

fn checkpoint_into(
    tx: &mut dyn Tx,
    settings: &LedgerSettings,
    head: &mut Head,
    at_ms: i64,
) -> Result<(), SqlError> {
    let body = checkpoint_body(&settings.key, head.seq, &head.hash);
    write(tx, head, &body, at_ms)?;
    head.since_checkpoint = 0;
    Ok(())
}

/// Queues `bodies` in the caller's transaction, to be chained by [`sequence`]. Ids sort by
/// time, then node, then order within the node.
pub(crate) fn enqueue(tx: &mut dyn Tx, bodies: &[Value], at_ms: i64) -> Result<(), SqlError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static NODE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let node = *NODE.get_or_init(rand::random::<u32>);
    for body in bodies {
        let text = exchange_core::ledger::canonical(body)
            .map_err(|e| SqlError(format!("ledger body: {e}")))?;
        let id = format!(
            "{at_ms:015}-{node:08x}-{:012}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        tx.execute(
            "INSERT INTO ledger_queue (id, body, at_ms) VALUES ($1, $2, $3)",
            &[id.into(), text.into(), at_ms.into()],
        )?;
    }
    Ok(())
}

fn write_text(tx: &mut dyn Tx, head: &mut Head, body: String, at_ms: i64) -> Result<(), SqlError> {
    let hash = exchange_core::ledger::chain_hash(&head.hash, &body);
    let seq = head.seq + 1;
    tx.execute(
        "INSERT INTO ledger (seq, prev, hash, body, at_ms) VALUES ($1, $2, $3, $4, $5)",
        &[
            (seq as i64).into(),
            exchange_core::ledger::hex(&head.hash).into(),
            exchange_core::ledger::hex(&hash).into(),
            body.into(),
            at_ms.into(),
        ],
    )?;
    head.seq = seq;
    head.hash = hash;
    head.since_checkpoint += 1;
    Ok(())
}

/// Chains up to `limit` queued events, oldest first, under the head lock; how many.
fn drain(
    tx: &mut dyn Tx,
    settings: &LedgerSettings,
    head: &mut Head,
    limit: u64,
) -> Result<usize, SqlError> {
    let rows = tx.query(
        "SELECT id, body, at_ms FROM ledger_queue ORDER BY id LIMIT $1",
        &[(limit as i64).into()],
    )?;
    for row in &rows {
        write_text(tx, head, row.text(1), row.int(2))?;
        if head.since_checkpoint >= settings.checkpoint_every as i64 {
            checkpoint_into(tx, settings, head, row.int(2))?;
        }
        tx.execute(
            "DELETE FROM ledger_queue WHERE id = $1",
            &[row.text(0).into()],
        )?;
    }
    Ok(rows.len())
}

/// Chains up to `limit` queued events (one lock of the head for the batch); how many.
pub(crate) fn sequence(
    tx: &mut dyn Tx,
    settings: &LedgerSettings,
    limit: u64,
) -> Result<usize, SqlError> {
    let mut head = read_head(tx)?;
    let chained = drain(tx, settings, &mut head, limit)?;
    if chained > 0 {
        save_head(tx, &head)?;
    }
    Ok(chained)
}

/// Appends `bodies` directly, after chaining everything queued (settlement: its entries
/// come after the events it settles); the sequence number of the last.
pub(crate) fn append(
    tx: &mut dyn Tx,
    settings: &LedgerSettings,
    bodies: &[Value],
    at_ms: i64,
) -> Result<u64, SqlError> {
    let mut head = read_head(tx)?;
    while drain(tx, settings, &mut head, 10_000)? == 10_000 {}
    for body in bodies {
        write(tx, &mut head, body, at_ms)?;
        if head.since_checkpoint >= settings.checkpoint_every as i64 {
            checkpoint_into(tx, settings, &mut head, at_ms)?;
        }
    }
    save_head(tx, &head)?;
    Ok(head.seq)
}

/// Signs a checkpoint now, unless the last entry is one.
pub(crate) fn checkpoint(
    tx: &mut dyn Tx,
    settings: &LedgerSettings,
    at_ms: i64,
) -> Result<u64, SqlError> {
    let mut head = read_head(tx)?;
    if head.since_checkpoint > 0 {
        checkpoint_into(tx, settings, &mut head, at_ms)?;
        save_head(tx, &head)?;
    }
    Ok(head.seq)
}

/// Entries from `from` on (at most `limit`), as export lines (JSON of
/// `exchange_core::ledger::Entry`).
pub(crate) fn export(tx: &mut dyn Tx, from: u64, limit: u64) -> Result<Vec<String>, SqlError> {
    let rows = tx.query(
        "SELECT seq, prev, hash, body FROM ledger WHERE seq >= $1 ORDER BY seq LIMIT $2",
        &[(from as i64).into(), (limit as i64).into()],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let entry = Entry {
                seq: u64::try_from(r.int(0)).unwrap_or(0),
                prev: r.text(1),
                hash: r.text(2),
                body: r.text(3),
            };
            serde_json::to_string(&entry).unwrap_or_default()
        })
        .collect())
}
