//! One Redis Cluster master hangs (SIGSTOP) or dies (SIGKILL, and its replica is promoted
//! after the cluster's node timeout): writes and lease renewals for campaigns on the
//! healthy masters go on; the failed master's writes are journaled, acknowledged, and
//! delivered once its slots answer again (from the promoted replica after a failover).

use exchange::admission::budgets::{Pacing, PacingSettings};
use exchange::shared::durable::Database;
use exchange::shared::redis::{RedisSettings, RedisStore};
use exchange::shared::writer::Writer;
use exchange::shared::{EventId, PacingStore, SharedStore, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::redis_cluster::RedisCluster;
use tests::redis_server::unique_prefix;

const CAMPAIGNS: usize = 24;
const DAY: i64 = 20_000;

async fn cluster_store(cluster: &RedisCluster, prefix: &str) -> SharedStore {
    let settings = RedisSettings {
        url: cluster.seeds(),
        cluster: true,
        key_prefix: prefix.to_owned(),
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
    };
    SharedStore::Redis(
        RedisStore::connect(&settings)
            .await
            .expect("connect to the cluster"),
    )
}

fn campaign_id(i: usize) -> String {
    format!("c{i}")
}

/// The campaigns whose keys (hash tag `{c<i>}`) live on `master`, and the others.
fn split_by_master(cluster: &RedisCluster, master: u16) -> (Vec<usize>, Vec<usize>) {
    (0..CAMPAIGNS).partition(|&i| cluster.master_of(&format!("{{{}}}", campaign_id(i))) == master)
}

fn spend(i: usize, n: usize) -> Write {
    Write::Spend {
        campaign: campaign_id(i),
        day: DAY,
        micros: 1_000,
        event: EventId {
            auction: format!("a{n}"),
            imp: "1".into(),
        },
        release: exchange::shared::Release::NONE,
    }
}

/// Campaign `i`'s total spend, or -1 when the store cannot say. A read may fail while the
/// cluster client refreshes its slot map after a node died; it is retried for a bounded
/// time (what is asserted is what landed, not how the client rides a topology change).
async fn spent(store: &SharedStore, i: usize) -> i64 {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match store.spend(&campaign_id(i), DAY).await {
            Ok(view) => return view.spent_total,
            Err(error) if Instant::now() < until => {
                eprintln!("reading campaign {i} failed, retrying: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => {
                eprintln!("reading campaign {i} failed: {error}");
                return -1;
            }
        }
    }
}

/// A writer draining into `store`, journaling what it does not take in `folder`.
fn start_writer(store: &SharedStore, folder: &std::path::Path) -> (Arc<Writer>, Arc<Database>) {
    let journal = Arc::new(Database::open(&folder.join("journal.db")).expect("journal"));
    let writer = Arc::new(Writer::new(1_024));
    let (running, store, journaled) = (Arc::clone(&writer), store.clone(), Arc::clone(&journal));
    tokio::spawn(async move { running.run(store, Some(journaled)).await });
    (writer, journal)
}

/// The journal replayer of `writer`, until the returned sender says stop.
fn start_replayer(
    writer: &Arc<Writer>,
    store: &SharedStore,
    journal: &Arc<Database>,
) -> tokio::sync::watch::Sender<bool> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (replayer, store, journal) = (Arc::clone(writer), store.clone(), Arc::clone(journal));
    tokio::spawn(async move { replayer.replay_journal(store, journal, stop_rx).await });
    stop_tx
}

/// One notice per campaign, all in flight together: every one is acknowledged.
async fn one_notice_per_campaign_acknowledged(writer: &Writer) {
    let mut acks = Vec::new();
    for i in 0..CAMPAIGNS {
        acks.push(writer.send(vec![spend(i, i)]).expect("queue room"));
    }
    for ack in acks {
        assert!(ack.wait(Duration::from_secs(5)).await, "acknowledged");
    }
}

/// Every campaign of `healthy` (on a master that answers) has its one notice's spend.
async fn assert_landed(store: &SharedStore, healthy: &[usize]) {
    for &i in healthy {
        assert_eq!(
            spent(store, i).await,
            1_000,
            "campaign {i} on a healthy master"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_for_healthy_masters_land_while_one_master_is_down() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, &unique_prefix()).await;
    let down = cluster.master_of("{c0}");
    let (stopped, healthy) = split_by_master(&cluster, down);
    assert!(
        !healthy.is_empty() && !stopped.is_empty(),
        "campaigns on both sides"
    );
    let dir = tempfile::tempdir().expect("dir");
    let (writer, journal) = start_writer(&store, dir.path());
    cluster.signal(down, "-STOP");
    one_notice_per_campaign_acknowledged(&writer).await;
    // The healthy masters have theirs now; the stopped master's wait in the journal.
    assert_landed(&store, &healthy).await;
    assert_eq!(
        journal.journal_len().expect("journal") as usize,
        stopped.len(),
        "only the stopped master's writes were journaled"
    );
    // The master answers again: the replayer delivers the journal, once.
    cluster.signal(down, "-CONT");
    let stop_tx = start_replayer(&writer, &store, &journal);
    let until = Instant::now() + Duration::from_secs(30);
    while journal.journal_len().expect("journal") > 0 {
        assert!(Instant::now() < until, "the journal was not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..CAMPAIGNS {
        assert_eq!(spent(&store, i).await, 1_000, "campaign {i}, once");
    }
    let _ = stop_tx.send(true);
}

fn budgeted_campaigns() -> Vec<exchange::campaign::Campaign> {
    let list: Vec<String> = (0..CAMPAIGNS)
        .map(|i| {
            format!(
                r#"{{"id":"{}","name":"n","advertiser":"a","adomain":["a.example"],
                "pricing":{{"model":"cpm","bid":10}},"budget":{{"daily":100}},
                "creatives":[{{"id":"b","format":"banner","w":300,"h":250,
                "image_url":"https://i.example/a.jpg","landing_url":"https://a.example/p"}}]}}"#,
                campaign_id(i)
            )
        })
        .collect();
    let text = format!(r#"{{"campaigns":[{}]}}"#, list.join(","));
    let file = exchange::campaign::parse(&text, "test", false).expect("parse");
    exchange::campaign::compile(&file, "test").expect("compile")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_renewals_on_healthy_masters_never_wait_for_a_stopped_one() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, &unique_prefix()).await;
    let down = cluster.master_of("{c0}");
    let (stopped, healthy) = split_by_master(&cluster, down);
    let pacing = Pacing::new(PacingSettings {
        node: "n1".into(),
        lease_ttl_ms: 30_000,
        lease_secs: 10.0,
        max_lease_share: 0.05,
        settle_ms: 1_000,
        reservation_secs: 3_600,
    });
    let snapshot = exchange::index::build(budgeted_campaigns(), 1, "test".into());
    pacing.table(&snapshot);
    let now = DAY * 86_400_000 + 3_600_000;
    cluster.signal(down, "-STOP");
    // Settled one at a time, each of the stopped master's campaigns would cost the whole
    // command timeout before the next campaign is tried (here 500 ms × their number);
    // settled together under per-call deadlines, one pass ends within one deadline.
    assert!(
        stopped.len() >= 4,
        "enough campaigns on the stopped master: {stopped:?}"
    );
    let bound = (Duration::from_millis(400) * stopped.len() as u32).min(Duration::from_secs(3));
    let pass = tokio::time::timeout(bound, pacing.tick(&store, now)).await;
    cluster.signal(down, "-CONT");
    assert!(pass.is_ok(), "one settle pass waited on the stopped master");
    for &i in &healthy {
        let pacer = pacing.pacer(&campaign_id(i)).expect("pacer");
        assert!(
            pacer.lease_left() > 0,
            "campaign {i} on a healthy master got its lease"
        );
    }
    for &i in &stopped {
        let pacer = pacing.pacer(&campaign_id(i)).expect("pacer");
        assert_eq!(
            pacer.lease_left(),
            0,
            "campaign {i} on the stopped master got none"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_master_dies_its_writes_reach_the_promoted_replica() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, &unique_prefix()).await;
    let down = cluster.master_of("{c0}");
    let (lost, healthy) = split_by_master(&cluster, down);
    let dir = tempfile::tempdir().expect("dir");
    let (writer, journal) = start_writer(&store, dir.path());
    let stop_tx = start_replayer(&writer, &store, &journal);
    // The master dies for good (a crash: connections refused from now on).
    cluster.signal(down, "-KILL");
    one_notice_per_campaign_acknowledged(&writer).await;
    assert_landed(&store, &healthy).await;
    // The cluster fails over (node timeout 2 s) and the journal reaches the new master.
    let until = Instant::now() + Duration::from_secs(60);
    while journal.journal_len().expect("journal") > 0 {
        assert!(
            Instant::now() < until,
            "the journal was not delivered after the failover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for &i in lost.iter().chain(&healthy) {
        assert_eq!(spent(&store, i).await, 1_000, "campaign {i}, once");
    }
    let _ = stop_tx.send(true);
}
