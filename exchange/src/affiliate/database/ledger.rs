//! The ledger table: every money event appended inside the transaction that makes it,
//! chained to the one before (`ledger_head` is the lock two nodes serialise on), with a
//! signed checkpoint every `checkpoint_every` entries. The format is
//! `exchange_core::ledger`'s.

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
    let entry = Entry::next(head.seq + 1, &head.hash, body)
        .map_err(|e| SqlError(format!("ledger body: {e}")))?;
    tx.execute(
        "INSERT INTO ledger (seq, prev, hash, body, at_ms) VALUES ($1, $2, $3, $4, $5)",
        &[
            (entry.seq as i64).into(),
            (&entry.prev).into(),
            (&entry.hash).into(),
            (&entry.body).into(),
            at_ms.into(),
        ],
    )?;
    head.seq = entry.seq;
    head.hash = unhex(&entry.hash).unwrap_or(GENESIS);
    head.since_checkpoint += 1;
    Ok(())
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

/// Appends `bodies` in order (a checkpoint after every `checkpoint_every`); the sequence
/// number of the last.
pub(crate) fn append(
    tx: &mut dyn Tx,
    settings: &LedgerSettings,
    bodies: &[Value],
    at_ms: i64,
) -> Result<u64, SqlError> {
    let mut head = read_head(tx)?;
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
