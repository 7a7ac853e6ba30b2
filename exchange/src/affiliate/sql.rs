//! One SQL surface over the two databases the affiliate records live in: the embedded
//! SQLite file (`rusqlite`, the default) and PostgreSQL (`postgres`, for several nodes).
//! Statements are written once, in the dialect both accept (`$1` placeholders, `BIGINT`,
//! `DOUBLE PRECISION`, `TEXT`, `ON CONFLICT`, `CAST(... AS BIGINT)`; flags are 0/1
//! integers); values cross as [`Value`]. Every call runs on a blocking thread, inside one
//! transaction ([`Database::transaction`]), never on the request path.

use postgres_types::{FromSql, IsNull, ToSql, Type};
use std::sync::Mutex;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (`BIGINT`).
    Int(i64),
    /// A float (`DOUBLE PRECISION`).
    Real(f64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

/// A row read back, by column position.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    /// Column `i` as an integer (0 when `NULL`).
    pub fn int(&self, i: usize) -> i64 {
        self.opt_int(i).unwrap_or(0)
    }

    /// Column `i` as an integer, if not `NULL`.
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match self.at(i) {
            Value::Int(v) => Some(*v),
            Value::Real(v) => Some(*v as i64),
            _ => None,
        }
    }

    /// Column `i` as a flag (a non-zero integer).
    pub fn flag(&self, i: usize) -> bool {
        self.int(i) != 0
    }

    /// Column `i` as a float, if not `NULL`.
    pub fn opt_real(&self, i: usize) -> Option<f64> {
        match self.at(i) {
            Value::Real(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// Column `i` as text (empty when `NULL`).
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    /// Column `i` as text, if not `NULL`.
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.at(i) {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

/// A database failure (its message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SqlError(pub String);

impl From<rusqlite::Error> for SqlError {
    fn from(error: rusqlite::Error) -> Self {
        Self(format!("sqlite: {error}"))
    }
}

impl From<postgres::Error> for SqlError {
    fn from(error: postgres::Error) -> Self {
        Self(format!("postgres: {error}"))
    }
}

/// One open transaction on either database.
pub trait Tx {
    /// Runs a statement; the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError>;

    /// Whether this is PostgreSQL (for the few statements that differ, e.g. row locks).
    fn is_postgres(&self) -> bool {
        false
    }

    /// The first row of a query, if any.
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, SqlError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// `$1`-style placeholders as SQLite's explicit `?1` (so a repeated or reordered
/// placeholder binds the same value as in PostgreSQL).
fn sqlite_dialect(sql: &str) -> String {
    sql.replace('$', "?")
}

struct SqliteTx<'a>(rusqlite::Transaction<'a>);

fn sqlite_params(params: &[Value]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Real(f) => rusqlite::types::Value::Real(*f),
            Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
        })
        .collect()
}

impl Tx for SqliteTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let mut statement = self.0.prepare_cached(&sqlite_dialect(sql))?;
        let changed = statement.execute(rusqlite::params_from_iter(sqlite_params(params)))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let mut statement = self.0.prepare_cached(&sqlite_dialect(sql))?;
        let columns = statement.column_count();
        let rows =
            statement.query_map(rusqlite::params_from_iter(sqlite_params(params)), |row| {
                let mut values = Vec::with_capacity(columns);
                for i in 0..columns {
                    values.push(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                        rusqlite::types::ValueRef::Real(v) => Value::Real(v),
                        rusqlite::types::ValueRef::Text(t) => {
                            Value::Text(String::from_utf8_lossy(t).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(_) => Value::Null,
                    });
                }
                Ok(Row(values))
            })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::TEXT
                | Type::VARCHAR
                | Type::BOOL
        )
    }

    postgres_types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(ty: &Type) -> bool {
        <Value as ToSql>::accepts(ty) || matches!(*ty, Type::BPCHAR | Type::NAME)
    }
}

struct PostgresTx<'a>(postgres::Transaction<'a>);

fn pg_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Tx for PostgresTx<'_> {
    fn is_postgres(&self) -> bool {
        true
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        Ok(self.0.execute(sql, &pg_params(params))?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let rows = self.0.query(sql, &pg_params(params))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<_, Value>(i).map_err(SqlError::from))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
            })
            .collect()
    }
}

/// Connections to PostgreSQL, taken one per transaction by blocking threads (a broken
/// one is replaced when next taken): several transactions commit at once, and the
/// server's group commit shares their WAL flushes.
pub struct PostgresPool {
    url: String,
    idle: Mutex<Vec<postgres::Client>>,
    returned: std::sync::Condvar,
    /// Connections open or being opened.
    open: std::sync::atomic::AtomicUsize,
    size: usize,
}

impl PostgresPool {
    fn take(&self) -> Result<postgres::Client, SqlError> {
        use std::sync::atomic::Ordering::SeqCst;
        let mut idle = crate::shared::lock(&self.idle);
        loop {
            while let Some(client) = idle.pop() {
                if !client.is_closed() {
                    return Ok(client);
                }
                self.open.fetch_sub(1, SeqCst);
            }
            if self.open.load(SeqCst) < self.size {
                self.open.fetch_add(1, SeqCst);
                drop(idle);
                return postgres::Client::connect(&self.url, postgres::NoTls).map_err(|e| {
                    self.open.fetch_sub(1, SeqCst);
                    SqlError::from(e)
                });
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn give_back(&self, client: postgres::Client) {
        crate::shared::lock(&self.idle).push(client);
        self.returned.notify_one();
    }
}

impl Drop for PostgresPool {
    /// The synchronous client blocks on its own runtime when closed, which panics on a
    /// runtime thread (the last holder may be a task cancelled at shutdown): the idle
    /// connections are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(
            self.idle
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("postgres-close".into())
                .spawn(move || drop(idle));
        }
    }
}

/// Prepared statements the SQLite connection keeps (more than the exchange has).
const STATEMENT_CACHE: usize = 256;

/// Which database (taken only by blocking threads).
pub enum Database {
    /// The embedded SQLite file: one connection (SQLite has one writer).
    Sqlite(Mutex<rusqlite::Connection>),
    /// A PostgreSQL server shared by several nodes: a pool of connections.
    Postgres(PostgresPool),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Database {
    /// Opens the SQLite file at `path` (WAL, `synchronous = FULL`), creating it and its folder.
    pub fn sqlite(path: &std::path::Path) -> Result<Self, SqlError> {
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)
                .map_err(|e| SqlError(format!("cannot create {}: {e}", folder.display())))?;
        }
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        // Every statement the exchange runs stays prepared (rusqlite keeps 16 by default:
        // an order's ~20 distinct statements would be parsed again each time).
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self::Sqlite(Mutex::new(connection)))
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:password@host:port/database`; no
    /// TLS: a private network or loopback). Commits wait for the server's WAL flush
    /// (`synchronous_commit` as the server has it, on by default).
    pub fn postgres(url: &str, connections: usize) -> Result<Self, SqlError> {
        let client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(Self::Postgres(PostgresPool {
            url: url.to_owned(),
            idle: Mutex::new(vec![client]),
            returned: std::sync::Condvar::new(),
            open: std::sync::atomic::AtomicUsize::new(1),
            size: connections.max(1),
        }))
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Runs `work` in one transaction: committed when it returns `Ok`, rolled back
    /// otherwise.
    pub fn transaction<T, E: From<SqlError>>(
        &self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            Self::Sqlite(connection) => {
                let mut connection = crate::shared::lock(connection);
                let mut tx = SqliteTx(connection.transaction().map_err(SqlError::from)?);
                let out = work(&mut tx)?;
                tx.0.commit().map_err(SqlError::from)?;
                Ok(out)
            }
            Self::Postgres(pool) => {
                let mut client = pool.take()?;
                let result = (|| {
                    let mut tx = PostgresTx(client.transaction().map_err(SqlError::from)?);
                    let out = work(&mut tx)?;
                    tx.0.commit().map_err(SqlError::from)?;
                    Ok(out)
                })();
                pool.give_back(client);
                result
            }
        }
    }

    /// Applies the migrations not applied yet, in order, each in its own transaction
    /// (`schema_version` records how many are; the same for both databases).
    pub fn migrate(&self, migrations: &[&str]) -> Result<(), SqlError> {
        self.transaction(|tx| {
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
                &[],
            )
            .map(drop)
        })?;
        for (version, migration) in migrations.iter().enumerate() {
            let version = version as i64 + 1;
            self.transaction(|tx| {
                if let Self::Postgres(_) = self {
                    // Two nodes starting at once: one migrates, the other waits and skips.
                    tx.execute("LOCK TABLE schema_version IN EXCLUSIVE MODE", &[])?;
                }
                let applied = tx
                    .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
                    .map_or(0, |row| row.int(0));
                if applied >= version {
                    return Ok::<(), SqlError>(());
                }
                for statement in migration
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    tx.execute(statement, &[])?;
                }
                tx.execute("DELETE FROM schema_version", &[])?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[Value::Int(version)],
                )?;
                Ok(())
            })?;
        }
        Ok(())
    }
}
