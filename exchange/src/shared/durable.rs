//! The exchange's own SQLite file (WAL, `synchronous = FULL`: a committed transaction
//! survives a crash or `kill -9`). Two uses:
//!
//! - **Embedded store state**: with no Redis, what the in-process store counts lives here
//!   too — idempotency markers, frequency counters, purchase histories, committed spend —
//!   written in the same transaction as the batch of notices that caused it, before any
//!   of those notices is answered. At start the counters, histories and spend are loaded
//!   back into memory (the request path reads memory only); markers stay on disk (only the
//!   writer looks them up). Budget leases are not kept: after a restart they are gone,
//!   like those of a node that died.
//! - **Journal of undelivered writes**: with Redis, a batch Redis did not take is appended
//!   here (and its notices answered); a replayer delivers the journal when Redis answers
//!   again, and at the next start.
//!
//! Every write is idempotent, so replaying a journal row twice counts once.

use super::keys::{DAY_TTL_SECS, EVENT_TTL_SECS};
use super::{PurchaseHistory, StoreError, UserKey, Write};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// What the embedded store loads back at start.
#[derive(Debug, Default)]
pub struct LoadedState {
    /// User → field → (bucket, count, expires unix s).
    pub counters: HashMap<UserKey, Vec<(String, i64, u32, u64)>>,
    /// User → vertical → (history, expires unix s).
    pub histories: HashMap<UserKey, Vec<(String, PurchaseHistory, u64)>>,
    /// Budget key (day or total) → committed micros.
    pub spend: HashMap<String, i64>,
}

/// The SQLite file. One connection, behind a mutex only the writer and the replayer take
/// (never the request path); callers run it on blocking threads.
#[derive(Debug)]
pub struct Database {
    connection: Mutex<Connection>,
}

fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("embedded database: {error}"))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS markers (key TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS markers_expires ON markers (expires);
CREATE TABLE IF NOT EXISTS counters (
  user INTEGER NOT NULL, field TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,
  expires INTEGER NOT NULL, PRIMARY KEY (user, field)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires);
CREATE TABLE IF NOT EXISTS histories (
  user INTEGER NOT NULL, vertical TEXT NOT NULL, value TEXT NOT NULL, expires INTEGER NOT NULL,
  PRIMARY KEY (user, vertical)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend (key TEXT PRIMARY KEY, micros INTEGER NOT NULL, expires INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
";

impl Database {
    /// Opens (creating it and its folder if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", folder.display()))
            })?;
        }
        let connection = Connection::open(path).map_err(unavailable)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| connection.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|()| connection.execute_batch(SCHEMA))
            .map_err(unavailable)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        super::lock(&self.connection)
    }

    /// Records `writes` (markers first: a write whose marker exists is a replay and
    /// changes nothing) in one transaction; per write, whether it counted.
    pub fn persist(&self, writes: &[Write], now: u64) -> Result<Vec<bool>, StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(unavailable)?;
        let mut counted = Vec::with_capacity(writes.len());
        for write in writes {
            counted.push(persist_one(&tx, write, now).map_err(unavailable)?);
        }
        tx.commit().map_err(unavailable)?;
        Ok(counted)
    }

    /// The state to load back at start (unexpired counters and histories, all spend).
    pub fn load(&self, now: u64) -> Result<LoadedState, StoreError> {
        let connection = self.connection();
        let mut state = LoadedState::default();
        let mut rows = connection
            .prepare("SELECT user, field, bucket, count, expires FROM counters WHERE expires > ?1")
            .map_err(unavailable)?;
        let counters = rows
            .query_map([now as i64], |row| {
                Ok((
                    UserKey(row.get::<_, i64>(0)? as u64),
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, u32>(3)?,
                    row.get::<_, i64>(4)? as u64,
                ))
            })
            .map_err(unavailable)?;
        for row in counters {
            let (user, field, bucket, count, expires) = row.map_err(unavailable)?;
            state
                .counters
                .entry(user)
                .or_default()
                .push((field, bucket, count, expires));
        }
        let mut rows = connection
            .prepare("SELECT user, vertical, value, expires FROM histories WHERE expires > ?1")
            .map_err(unavailable)?;
        let histories = rows
            .query_map([now as i64], |row| {
                Ok((
                    UserKey(row.get::<_, i64>(0)? as u64),
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)? as u64,
                ))
            })
            .map_err(unavailable)?;
        for row in histories {
            let (user, vertical, value, expires) = row.map_err(unavailable)?;
            if let Some(history) = PurchaseHistory::parse(&value) {
                state
                    .histories
                    .entry(user)
                    .or_default()
                    .push((vertical, history, expires));
            }
        }
        let mut rows = connection
            .prepare("SELECT key, micros FROM spend WHERE expires IS NULL OR expires > ?1")
            .map_err(unavailable)?;
        let spend = rows
            .query_map([now as i64], |row| {
                Ok((row.get::<_, String>(0)?, row.get(1)?))
            })
            .map_err(unavailable)?;
        for row in spend {
            let (key, micros) = row.map_err(unavailable)?;
            state.spend.insert(key, micros);
        }
        Ok(state)
    }

    /// Deletes expired markers, counters, histories and day spend; rows removed.
    pub fn expire(&self, now: u64) -> Result<usize, StoreError> {
        let connection = self.connection();
        let now = now as i64;
        let mut removed = 0;
        for sql in [
            "DELETE FROM markers WHERE expires <= ?1",
            "DELETE FROM counters WHERE expires <= ?1",
            "DELETE FROM histories WHERE expires <= ?1",
            "DELETE FROM spend WHERE expires IS NOT NULL AND expires <= ?1",
        ] {
            removed += connection.execute(sql, [now]).map_err(unavailable)?;
        }
        Ok(removed)
    }

    /// Appends `writes` to the journal (one transaction); durable when it returns.
    pub fn spill(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(unavailable)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO journal (body) VALUES (?1)")
                .map_err(unavailable)?;
            for write in writes {
                let body = serde_json::to_string(write)
                    .map_err(|e| StoreError::BadReply(format!("journal encoding: {e}")))?;
                insert.execute([body]).map_err(unavailable)?;
            }
        }
        tx.commit().map_err(unavailable)
    }

    /// Up to `limit` journal rows after sequence number `after`, oldest first.
    pub fn journal_rows(&self, after: i64, limit: usize) -> Result<Vec<(i64, Write)>, StoreError> {
        let connection = self.connection();
        let mut rows = connection
            .prepare_cached("SELECT seq, body FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(unavailable)?;
        let found = rows
            .query_map(params![after, limit as i64], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for row in found {
            let (seq, body) = row.map_err(unavailable)?;
            match serde_json::from_str::<Write>(&body) {
                Ok(write) => out.push((seq, write)),
                Err(error) => {
                    tracing::error!(seq, %error, "unreadable journal row dropped");
                    connection
                        .execute("DELETE FROM journal WHERE seq = ?1", [seq])
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(out)
    }

    /// Removes the journal rows `seqs` (delivered), in one transaction.
    pub fn journal_remove(&self, seqs: &[i64]) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(unavailable)?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM journal WHERE seq = ?1")
                .map_err(unavailable)?;
            for seq in seqs {
                delete.execute([seq]).map_err(unavailable)?;
            }
        }
        tx.commit().map_err(unavailable)
    }

    /// Rows waiting in the journal.
    pub fn journal_len(&self) -> Result<u64, StoreError> {
        self.connection()
            .query_row("SELECT count(*) FROM journal", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(unavailable)
    }

    /// The secret named `name`, made (32 random bytes) and kept the first time it is
    /// asked for: the same one after every restart.
    pub fn secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let connection = self.connection();
        let fresh: [u8; 32] = rand::random();
        connection
            .execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, fresh.as_slice()],
            )
            .map_err(unavailable)?;
        connection
            .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |row| {
                row.get::<_, Vec<u8>>(0)
            })
            .map_err(unavailable)
    }

    /// Whether the marker `key` is recorded (tests and the admin view).
    pub fn has_marker(&self, key: &str) -> Result<bool, StoreError> {
        self.connection()
            .query_row("SELECT 1 FROM markers WHERE key = ?1", [key], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(unavailable)
    }
}

/// One write inside the batch transaction; whether it counted.
fn persist_one(tx: &rusqlite::Transaction<'_>, write: &Write, now: u64) -> rusqlite::Result<bool> {
    let prefix = super::keys::EMBEDDED_PREFIX;
    let now_i = now as i64;
    match write {
        Write::Impression { user, event, bumps } => {
            let marker = super::keys::user_event(prefix, *user, event);
            if !insert_marker(tx, &marker, now)? {
                return Ok(false);
            }
            let mut bump = tx.prepare_cached(
                "INSERT INTO counters (user, field, bucket, count, expires) VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT (user, field) DO UPDATE SET
                   count = CASE WHEN counters.bucket = excluded.bucket AND counters.expires > ?5
                                THEN counters.count + 1 ELSE 1 END,
                   bucket = excluded.bucket,
                   expires = max(counters.expires, excluded.expires)",
            )?;
            for b in bumps {
                bump.execute(params![
                    user.0 as i64,
                    b.field,
                    b.bucket,
                    now_i + b.ttl_secs as i64,
                    now_i
                ])?;
            }
            Ok(true)
        }
        Write::History {
            user,
            vertical,
            history,
            ttl_secs,
        } => {
            tx.prepare_cached(
                "INSERT INTO histories (user, vertical, value, expires) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user, vertical) DO UPDATE SET value = excluded.value,
                   expires = max(histories.expires, excluded.expires)",
            )?
            .execute(params![
                user.0 as i64,
                vertical,
                history.encode(),
                now_i + *ttl_secs as i64
            ])?;
            Ok(true)
        }
        Write::Spend {
            campaign,
            day,
            micros,
            event,
            ..
        } => {
            let marker = super::keys::campaign_event(prefix, campaign, event);
            if !insert_marker(tx, &marker, now)? {
                return Ok(false);
            }
            let mut add = tx.prepare_cached(
                "INSERT INTO spend (key, micros, expires) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET micros = spend.micros + excluded.micros",
            )?;
            let day_expires = (day + 1) * 86_400 + DAY_TTL_SECS as i64;
            add.execute(params![
                super::keys::campaign_day(prefix, campaign, *day),
                micros,
                day_expires
            ])?;
            add.execute(params![
                super::keys::campaign_total(prefix, campaign),
                micros,
                Option::<i64>::None
            ])?;
            Ok(true)
        }
    }
}

/// Records a marker for [`EVENT_TTL_SECS`]; false when it exists (unexpired): a replay.
fn insert_marker(tx: &rusqlite::Transaction<'_>, key: &str, now: u64) -> rusqlite::Result<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO markers (key, expires) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET expires = excluded.expires
             WHERE markers.expires <= ?3",
        )?
        .execute(params![key, (now + EVENT_TTL_SECS) as i64, now as i64])?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests;
