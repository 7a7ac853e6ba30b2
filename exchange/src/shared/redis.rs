//! The Redis store: one server through a reconnecting `ConnectionManager`, or Redis
//! Cluster through the cluster client (`store.cluster = true`). Scripts run by `EVALSHA`
//! ([`super::scripts`]); a batch of writes goes out as one pipeline (one per key slot
//! on a cluster, concurrently).

use super::keys::{self, DAY_TTL_SECS, EVENT_TTL_SECS};
use super::scripts;
use super::{
    LeaseCall, LeaseReply, PacingStore, SpendView, StoreError, UserCounters, UserKey, Write,
};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Script, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://host:port/db` (comma-separated seed nodes in cluster mode).
    pub url: String,
    /// Use the Redis Cluster protocol.
    pub cluster: bool,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
    /// Timeout of one command's answer (the request path has its own, shorter deadline).
    pub response_timeout: Duration,
}

/// A connection to one server (reconnecting) or to a cluster.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

struct Scripts {
    count_impression: Script,
    commit_spend: Script,
    lease: Script,
    put_field: Script,
}

/// The Redis store. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: Arc<str>,
    scripts: Arc<Scripts>,
    journal: Option<Arc<super::durable::Database>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.connection {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Whether `INFO cluster` output says the server runs in cluster mode.
fn is_cluster_node(info: &str) -> bool {
    info.lines().any(|line| line.trim() == "cluster_enabled:1")
}

fn unavailable(error: &RedisError) -> StoreError {
    match error.kind() {
        ErrorKind::TypeError => StoreError::BadReply(error.to_string()),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

impl RedisStore {
    /// The same store, journaling the batches Redis does not take in `journal`.
    pub fn with_journal(mut self, journal: Option<Arc<super::durable::Database>>) -> Self {
        self.journal = journal;
        self
    }

    /// The journal of batches Redis did not take, if there is one.
    pub fn journal(&self) -> Option<Arc<super::durable::Database>> {
        self.journal.clone()
    }

    /// Connects (and loads the scripts). Fails when Redis cannot be reached now; once
    /// connected, a lost connection is re-established by itself.
    pub async fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let connection = if settings.cluster {
            let nodes: Vec<&str> = settings.url.split(',').map(str::trim).collect();
            let client = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(settings.connect_timeout)
                .response_timeout(settings.response_timeout)
                .build()
                .map_err(|e| unavailable(&e))?;
            Connection::Cluster(client.get_async_connection().await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "{e} (store.cluster = true: are {} Redis Cluster nodes? For one Redis, set store.cluster = false)",
                    settings.url
                ))
            })?)
        } else {
            let client = redis::Client::open(settings.url.as_str()).map_err(|e| unavailable(&e))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(settings.connect_timeout)
                .set_response_timeout(settings.response_timeout)
                .set_number_of_retries(6)
                .set_max_delay(1_000);
            let manager = tokio::time::timeout(
                settings.connect_timeout * 2,
                ConnectionManager::new_with_config(client, config),
            )
            .await
            .map_err(|_| StoreError::Unavailable("connect timed out".into()))?
            .map_err(|e| unavailable(&e))?;
            Connection::Single(manager)
        };
        let store = Self {
            journal: None,
            connection,
            prefix: settings.key_prefix.as_str().into(),
            scripts: Arc::new(Scripts {
                count_impression: Script::new(scripts::COUNT_IMPRESSION),
                commit_spend: Script::new(scripts::COMMIT_SPEND),
                lease: Script::new(scripts::LEASE),
                put_field: Script::new(scripts::PUT_FIELD),
            }),
        };
        store.check_mode(settings).await?;
        store.load_scripts().await.map_err(|e| unavailable(&e))?;
        Ok(store)
    }

    /// Refuses a single-node client pointed at a cluster node (most keys would answer
    /// `MOVED`), with a message that says what to set.
    async fn check_mode(&self, settings: &RedisSettings) -> Result<(), StoreError> {
        if settings.cluster {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        let info: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut connection)
            .await
            .map_err(|e| unavailable(&e))?;
        if is_cluster_node(&info) {
            return Err(StoreError::Unavailable(format!(
                "{} is a Redis Cluster node: set store.cluster = true and list the seed nodes (comma-separated) in store.redis_url",
                settings.url
            )));
        }
        Ok(())
    }

    async fn load_scripts(&self) -> Result<(), RedisError> {
        let mut connection = self.connection.clone();
        for script in [
            &self.scripts.count_impression,
            &self.scripts.commit_spend,
            &self.scripts.lease,
            &self.scripts.put_field,
        ] {
            script.prepare_invoke().load_async(&mut connection).await?;
        }
        Ok(())
    }

    /// The `EVALSHA` command of one write.
    fn write_command(&self, write: &Write) -> Cmd {
        let prefix = &*self.prefix;
        match write {
            Write::Impression { user, event, bumps } => {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(self.scripts.count_impression.get_hash())
                    .arg(2)
                    .arg(keys::user_counters(prefix, *user))
                    .arg(keys::user_event(prefix, *user, event))
                    .arg(EVENT_TTL_SECS);
                for bump in bumps {
                    cmd.arg(&bump.field).arg(bump.bucket).arg(bump.ttl_secs);
                }
                cmd
            }
            Write::History {
                user,
                vertical,
                history,
                ttl_secs,
            } => {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(self.scripts.put_field.get_hash())
                    .arg(1)
                    .arg(keys::user_counters(prefix, *user))
                    .arg(keys::history_field(vertical))
                    .arg(history.encode())
                    .arg(*ttl_secs);
                cmd
            }
            Write::Spend {
                campaign,
                day,
                micros,
                event,
                release,
            } => {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(self.scripts.commit_spend.get_hash())
                    .arg(3)
                    .arg(keys::campaign_day(prefix, campaign, *day))
                    .arg(keys::campaign_total(prefix, campaign))
                    .arg(keys::campaign_event(prefix, campaign, event))
                    .arg(*micros)
                    .arg(EVENT_TTL_SECS)
                    .arg(DAY_TTL_SECS)
                    .arg(release.micros.max(0))
                    .arg(release.bucket);
                cmd
            }
        }
    }

    async fn apply_pipelined(&self, writes: &[Write]) -> Result<Vec<bool>, RedisError> {
        let mut pipe = redis::pipe();
        for write in writes {
            pipe.add_command(self.write_command(write));
        }
        let mut connection = self.connection.clone();
        let counted: Vec<i64> = match pipe.query_async(&mut connection).await {
            Ok(counted) => counted,
            Err(error) if error.kind() == ErrorKind::NoScriptError => {
                // Redis restarted empty: load the scripts again, then the batch (idempotent).
                self.load_scripts().await?;
                pipe.query_async(&mut connection).await?
            }
            Err(error) => return Err(error),
        };
        Ok(counted.into_iter().map(|c| c == 1).collect())
    }

    /// Applies `writes` on a cluster: the writes of one hash tag (one user, one campaign:
    /// one slot) in their order, one after the other; different tags concurrently, so a
    /// failing master delays only its own keys.
    async fn apply_per_slot(&self, writes: &[Write]) -> Result<Vec<bool>, RedisError> {
        let mut groups: HashMap<SlotTag<'_>, Vec<usize>> = HashMap::new();
        for (index, write) in writes.iter().enumerate() {
            groups.entry(slot_tag(write)).or_default().push(index);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for indexes in groups.into_values() {
            let commands: Vec<(usize, redis::Cmd)> = indexes
                .into_iter()
                .map(|index| (index, self.write_command(&writes[index])))
                .collect();
            let store = self.clone();
            tasks.spawn(async move {
                let mut results = Vec::with_capacity(commands.len());
                for (index, cmd) in commands {
                    let result = store.run_write(&cmd).await;
                    let failed = result.is_err();
                    results.push((index, result));
                    if failed {
                        break;
                    }
                }
                results
            });
        }
        let mut counted = vec![false; writes.len()];
        while let Some(joined) = tasks.join_next().await {
            let results = joined.map_err(|e| {
                RedisError::from((ErrorKind::ClientError, "write task failed", e.to_string()))
            })?;
            for (index, result) in results {
                counted[index] = result? == 1;
            }
        }
        Ok(counted)
    }

    /// One write command, with the scripts loaded again if Redis lost them.
    async fn run_write(&self, cmd: &redis::Cmd) -> Result<i64, RedisError> {
        let mut connection = self.connection.clone();
        match cmd.query_async(&mut connection).await {
            Err(error) if error.kind() == ErrorKind::NoScriptError => {
                // SCRIPT LOAD goes to every node of the cluster.
                self.load_scripts().await?;
                cmd.query_async(&mut connection).await
            }
            other => other,
        }
    }
}

/// The hash tag a write's keys share (see `keys`): writes with the same tag go to the same
/// slot and must land in order.
#[derive(Debug, PartialEq, Eq, Hash)]
enum SlotTag<'a> {
    User(UserKey),
    Campaign(&'a str),
}

fn slot_tag(write: &Write) -> SlotTag<'_> {
    match write {
        Write::Impression { user, .. } | Write::History { user, .. } => SlotTag::User(*user),
        Write::Spend { campaign, .. } => SlotTag::Campaign(campaign),
    }
}

impl PacingStore for RedisStore {
    async fn read_counters(&self, user: UserKey) -> Result<UserCounters, StoreError> {
        let mut connection = self.connection.clone();
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(keys::user_counters(&self.prefix, user))
            .query_async(&mut connection)
            .await
            .map_err(|e| unavailable(&e))?;
        let mut counters = UserCounters::default();
        for (field, value) in raw {
            counters.insert_raw(field, &value);
        }
        Ok(counters)
    }

    async fn apply(&self, writes: &[Write]) -> Result<Vec<bool>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let result = match self.connection {
            Connection::Single(_) => self.apply_pipelined(writes).await,
            Connection::Cluster(_) => self.apply_per_slot(writes).await,
        };
        result.map_err(|e| unavailable(&e))
    }

    async fn lease(&self, call: &LeaseCall) -> Result<LeaseReply, StoreError> {
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = self
            .scripts
            .lease
            .key(keys::campaign_day(&self.prefix, &call.campaign, call.day))
            .key(keys::campaign_total(&self.prefix, &call.campaign))
            .arg(&call.node)
            .arg(call.release.max(0))
            .arg(call.want.max(0))
            .arg(call.daily_budget.unwrap_or(-1))
            .arg(call.total_budget.unwrap_or(-1))
            .arg(call.now_ms)
            .arg(call.ttl_ms)
            .arg(DAY_TTL_SECS)
            .arg(call.reserve.max(0))
            .arg(call.reserve_bucket)
            .arg(keys::RESERVE_BUCKET_SECS)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| unavailable(&e))?;
        match reply[..] {
            [granted, held, spent_day, leased_day, spent_total, reserved_day] => Ok(LeaseReply {
                granted,
                held,
                spent_day,
                leased_day,
                spent_total,
                reserved_day,
            }),
            _ => Err(StoreError::BadReply(format!("lease returned {reply:?}"))),
        }
    }

    async fn spend(&self, campaign: &str, day: i64) -> Result<SpendView, StoreError> {
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET")
            .arg(keys::campaign_day(&self.prefix, campaign, day))
            .arg("spent")
            .arg("leased")
            .arg("reserved")
            .cmd("HGET")
            .arg(keys::campaign_total(&self.prefix, campaign))
            .arg("spent");
        type Reply = ((Option<i64>, Option<i64>, Option<i64>), Option<i64>);
        let ((spent_day, leased_day, reserved_day), spent_total): Reply = pipe
            .query_async(&mut connection)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(SpendView {
            spent_day: spent_day.unwrap_or(0),
            leased_day: leased_day.unwrap_or(0),
            reserved_day: reserved_day.unwrap_or(0),
            spent_total: spent_total.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_mode_is_read_from_info() {
        assert!(is_cluster_node("# Cluster\r\ncluster_enabled:1\r\n"));
        assert!(!is_cluster_node("# Cluster\r\ncluster_enabled:0\r\n"));
        assert!(!is_cluster_node(""));
    }
}
