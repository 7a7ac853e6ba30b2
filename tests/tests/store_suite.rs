//! One behavioural suite, two backends: the in-process store and the Redis store (a real
//! `redis-server`) must keep the same rules for counters, spend and leases.

use exchange::shared::memory::MemoryStore;
use exchange::shared::redis::{RedisSettings, RedisStore};
use exchange::shared::{CounterBump, EventId, LeaseCall, PacingStore, Release, UserKey, Write};
use std::time::Duration;
use tests::redis_server::{unique_prefix, RedisServer};

fn event(auction: &str, imp: &str) -> EventId {
    EventId {
        auction: auction.into(),
        imp: imp.into(),
    }
}

fn impression(user: u64, auction: &str, bumps: &[(&str, i64)]) -> Write {
    Write::Impression {
        user: UserKey(user),
        event: event(auction, "1"),
        bumps: bumps
            .iter()
            .map(|&(field, bucket)| CounterBump {
                field: field.into(),
                bucket,
                ttl_secs: 3_600,
            })
            .collect(),
    }
}

fn spend(campaign: &str, day: i64, micros: i64, auction: &str) -> Write {
    Write::Spend {
        campaign: campaign.into(),
        day,
        micros,
        event: event(auction, "1"),
        release: Release::NONE,
    }
}

fn lease(
    node: &str,
    daily: Option<i64>,
    total: Option<i64>,
    release: i64,
    want: i64,
    now_ms: i64,
) -> LeaseCall {
    LeaseCall {
        campaign: "lease{1}".into(),
        day: 20_000,
        node: node.into(),
        daily_budget: daily,
        total_budget: total,
        release,
        want,
        now_ms,
        ttl_ms: 1_000,
        reserve: 0,
        reserve_bucket: 0,
    }
}

async fn counters_count_each_event_once_per_window<S: PacingStore>(store: &S) {
    let user = UserKey(42);
    assert!(store
        .read_counters(user)
        .await
        .expect("read")
        .fields
        .is_empty());
    let first = impression(42, "a1", &[("c:x:3600", 10), ("a:adv:3600", 10)]);
    assert_eq!(
        store
            .apply(std::slice::from_ref(&first))
            .await
            .expect("apply"),
        [true]
    );
    assert_eq!(
        store.apply(&[first]).await.expect("replay"),
        [false],
        "a replay counts once"
    );
    let twice = impression(42, "a2", &[("c:x:3600", 10)]);
    // Exactly one of the two counts (which one may differ on a cluster that retried a
    // command of the pipeline; the count below is what matters).
    let counted = store.apply(&[twice.clone(), twice]).await.expect("batch");
    assert_eq!(
        counted.iter().filter(|&&c| c).count(),
        1,
        "a duplicate inside one batch counts once: {counted:?}"
    );
    let read = store.read_counters(user).await.expect("read");
    assert_eq!(read.count("c:x:3600", 10), 2);
    assert_eq!(read.count("a:adv:3600", 10), 1);
    // The next window starts from one; the old bucket reads as zero.
    store
        .apply(&[impression(42, "a3", &[("c:x:3600", 11)])])
        .await
        .expect("apply");
    let read = store.read_counters(user).await.expect("read");
    assert_eq!(read.count("c:x:3600", 11), 1);
    assert_eq!(read.count("c:x:3600", 10), 0);
    // Other users are untouched.
    assert!(store
        .read_counters(UserKey(43))
        .await
        .expect("read")
        .fields
        .is_empty());
}

async fn spend_commits_once_per_event<S: PacingStore>(store: &S) {
    let day = 20_000;
    let results = store
        .apply(&[
            spend("camp{1}", day, 250, "s1"),
            spend("camp{1}", day, 250, "s1"),
            spend("camp{1}", day, 100, "s2"),
            spend("camp{1}", day + 1, 40, "s3"),
        ])
        .await
        .expect("apply");
    assert_eq!(results, [true, false, true, true]);
    let today = store.spend("camp{1}", day).await.expect("spend");
    assert_eq!((today.spent_day, today.spent_total), (350, 390));
    let tomorrow = store.spend("camp{1}", day + 1).await.expect("spend");
    assert_eq!(tomorrow.spent_day, 40);
    assert_eq!(
        store.spend("other", day).await.expect("spend").spent_total,
        0
    );
}

async fn leases_never_promise_more_than_the_budget<S: PacingStore>(store: &S) {
    let budget = Some(1_000);
    // Two nodes ask for more than there is: the second gets the rest, then nothing.
    let a = store
        .lease(&lease("a", budget, None, 0, 600, 0))
        .await
        .expect("lease");
    assert_eq!((a.granted, a.held), (600, 600));
    let b = store
        .lease(&lease("b", budget, None, 0, 600, 0))
        .await
        .expect("lease");
    assert_eq!((b.granted, b.held), (400, 400));
    let b2 = store
        .lease(&lease("b", budget, None, 0, 100, 0))
        .await
        .expect("lease");
    assert_eq!(b2.granted, 0, "spent + leased may not pass the budget");
    // Node a served 100 and the notice committed it; a settles what it used.
    store
        .apply(&[Write::Spend {
            campaign: "lease{1}".into(),
            day: 20_000,
            micros: 100,
            event: event("l1", "1"),
            release: Release::NONE,
        }])
        .await
        .expect("spend");
    let a2 = store
        .lease(&lease("a", budget, None, 100, 0, 10))
        .await
        .expect("settle");
    assert_eq!(a2.held, 500);
    assert_eq!((a2.spent_day, a2.leased_day), (100, 900));
    // Releasing more than it holds cannot push anything negative.
    let a3 = store
        .lease(&lease("a", budget, None, 10_000, 0, 10))
        .await
        .expect("release all");
    assert_eq!((a3.held, a3.leased_day), (0, 400));
    let b3 = store
        .lease(&lease("b", budget, None, 0, 10_000, 10))
        .await
        .expect("lease");
    assert_eq!(b3.granted, 500, "what a gave back is available again");
    assert_eq!(b3.spent_day + b3.leased_day, 1_000);
    // A node that stops settling loses its lease after the TTL.
    let late = store
        .lease(&lease("c", budget, None, 0, 0, 5_000))
        .await
        .expect("lease");
    assert_eq!(
        late.leased_day, 0,
        "b's lease (ttl 1 s, last settled at 10 ms) expired"
    );
    assert_eq!(late.spent_day, 100);
}

async fn a_lifetime_budget_bounds_every_day<S: PacingStore>(store: &S) {
    let mut call = lease("a", None, Some(300), 0, 1_000, 0);
    call.campaign = "life".into();
    let first = store.lease(&call).await.expect("lease");
    assert_eq!(first.granted, 300);
    call.day += 1;
    call.release = 300;
    call.want = 1_000;
    let next_day = store.lease(&call).await.expect("lease");
    assert_eq!(
        next_day.granted, 300,
        "released on the day hash and the lifetime hash"
    );
    call.node = "b".into();
    call.release = 0;
    assert_eq!(store.lease(&call).await.expect("lease").granted, 0);
}

/// Money a win used stays reserved until its notice commits: another node cannot lease it
/// in between, however late the notice; an unreported win's reservation ends with its
/// bucket; a notice that commits before its node reported the win nets out.
async fn reservations_hold_budget_until_notices_commit<S: PacingStore>(store: &S) {
    // Today's wall clock: the in-process store sweeps old days by it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let day = now / 86_400_000;
    let bucket = (now / 1000 + 3_600) / 60;
    let call =
        |node: &str, release: i64, reserve: i64, want: i64, at: i64, bucket: i64| LeaseCall {
            campaign: "res{1}".into(),
            day,
            node: node.into(),
            daily_budget: Some(1_000),
            total_budget: None,
            release,
            want,
            now_ms: at,
            ttl_ms: 600_000,
            reserve,
            reserve_bucket: bucket,
        };
    let a = store
        .lease(&call("a", 0, 0, 1_000, now, bucket))
        .await
        .expect("lease");
    assert_eq!(a.granted, 1_000);
    // A served 600 of it and settles: the 600 are reserved, not returned to the pool.
    let settled = store
        .lease(&call("a", 600, 600, 0, now + 1, bucket))
        .await
        .expect("lease");
    assert_eq!((settled.held, settled.reserved_day), (400, 600));
    let b = store
        .lease(&call("b", 0, 0, 1_000, now + 2, bucket))
        .await
        .expect("lease");
    assert_eq!(b.granted, 0, "nothing left while the notices are late");
    // The notices come (late) and commit 550 (the cleared price) for the 600 reserved.
    let commit = Write::Spend {
        campaign: "res{1}".into(),
        day,
        micros: 550,
        event: event("r1", "1"),
        release: Release {
            micros: 600,
            bucket,
        },
    };
    assert_eq!(
        store
            .apply(std::slice::from_ref(&commit))
            .await
            .expect("commit"),
        [true]
    );
    assert_eq!(
        store.apply(&[commit]).await.expect("replay"),
        [false],
        "released once"
    );
    let b = store
        .lease(&call("b", 0, 0, 1_000, now + 3, bucket))
        .await
        .expect("lease");
    assert_eq!(b.granted, 1_000 - 550 - 400, "what the real spend left");
    let view = store.spend("res{1}", day).await.expect("spend");
    assert_eq!((view.spent_day, view.reserved_day), (550, 0));
    // A notice that commits before its node reported the win nets out when it does.
    let early = Write::Spend {
        campaign: "res{1}".into(),
        day,
        micros: 40,
        event: event("r2", "1"),
        release: Release { micros: 40, bucket },
    };
    store.apply(&[early]).await.expect("commit");
    assert_eq!(
        store
            .spend("res{1}", day)
            .await
            .expect("spend")
            .reserved_day,
        -40
    );
    let reported = store
        .lease(&call("b", 40, 40, 0, now + 4, bucket))
        .await
        .expect("lease");
    assert_eq!(reported.reserved_day, 0);
    // A win whose notice never comes: reserved until its bucket ends, then free again.
    let lost = store
        .lease(&call("a", 100, 100, 0, now + 5, bucket))
        .await
        .expect("lease");
    assert_eq!(lost.reserved_day, 100);
    let after = (bucket + 1) * 60 * 1000;
    let freed = store
        .lease(&call("c", 0, 0, 1_000, after, bucket))
        .await
        .expect("lease");
    assert_eq!(freed.reserved_day, 0, "the bucket ended");
}

async fn whole_suite<S: PacingStore>(store: &S) {
    reservations_hold_budget_until_notices_commit(store).await;
    counters_count_each_event_once_per_window(store).await;
    spend_commits_once_per_event(store).await;
    leases_never_promise_more_than_the_budget(store).await;
    a_lifetime_budget_bounds_every_day(store).await;
}

#[tokio::test]
async fn the_in_process_store_keeps_the_rules() {
    whole_suite(&MemoryStore::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_durable_in_process_store_keeps_the_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = MemoryStore::open(&dir.path().join("exchange.db")).expect("open");
    assert!(store.is_durable());
    whole_suite(&store).await;
}

#[tokio::test]
async fn the_redis_store_keeps_the_rules() {
    let redis = RedisServer::shared_or_own();
    let settings = RedisSettings {
        url: redis.url().to_owned(),
        cluster: false,
        key_prefix: unique_prefix(),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
    };
    let store = RedisStore::connect(&settings)
        .await
        .expect("connect to redis");
    whole_suite(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_cluster_store_keeps_the_rules() {
    let cluster = tests::redis_cluster::RedisCluster::start();
    let settings = RedisSettings {
        url: cluster.seeds(),
        cluster: true,
        key_prefix: unique_prefix(),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
    };
    let store = RedisStore::connect(&settings)
        .await
        .expect("connect to the cluster");
    whole_suite(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_in_the_wrong_mode_is_refused_saying_what_to_set() {
    let cluster = tests::redis_cluster::RedisCluster::start();
    let single_at_cluster = RedisSettings {
        url: cluster.node_url(0),
        cluster: false,
        key_prefix: unique_prefix(),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
    };
    let error = RedisStore::connect(&single_at_cluster)
        .await
        .expect_err("a single-node client on a cluster node");
    assert!(
        error.to_string().contains("store.cluster = true"),
        "{error}"
    );
    let redis = RedisServer::own();
    let cluster_at_single = RedisSettings {
        url: redis.url().to_owned(),
        cluster: true,
        ..single_at_cluster
    };
    let error = RedisStore::connect(&cluster_at_single)
        .await
        .expect_err("a cluster client on a single Redis");
    assert!(
        error.to_string().contains("store.cluster = false"),
        "{error}"
    );
}
