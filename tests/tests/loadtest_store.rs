//! `loadtest compare --redis`: the exchange on a real Redis against the exchange on its
//! embedded store, briefly (the figures themselves are for BENCHMARKS.md).

use loadtest::compare::{compare, CompareOptions};
use loadtest::engine::{RunOptions, StopSignal};
use loadtest::scenario::Scenario;
use std::sync::Arc;
use std::time::Duration;
use tests::redis_server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_runs_the_exchange_on_redis_against_the_embedded_store() {
    let redis = RedisServer::shared_or_own();
    let (scenario, folder) =
        Scenario::load(&tests::repo_root().join("configs/loadtest/default.toml"))
            .expect("scenario");
    let prepared = scenario.prepare(&folder).expect("bodies");
    let options = CompareOptions {
        config: tests::repo_root().join("configs/exchange.toml"),
        bidders: Vec::new(),
        rounds: 1,
        rates: vec![50.0],
        slo_p99: Duration::from_millis(250),
        fixed_rate: 50.0,
        template: RunOptions::post(
            "http://127.0.0.1/".parse().expect("uri"),
            50.0,
            Duration::from_secs(1),
            Duration::ZERO,
            16,
            Duration::from_secs(5),
            false,
        ),
        redis: Some(redis.url().to_owned()),
        redis_cluster: false,
    };
    let comparison = compare(
        &options,
        &prepared.name,
        Arc::new(prepared.bodies),
        &StopSignal::default(),
    )
    .await
    .expect("compare");
    let servers: Vec<&str> = comparison.rounds.iter().map(|m| m.server).collect();
    assert_eq!(servers, ["embedded", "redis"]);
    for measured in &comparison.rounds {
        assert!(measured.achieved_at_fixed > 40.0, "{comparison}");
        let per_request = measured
            .store_commands_per_request
            .expect("store commands counted");
        // The default scenario gives most requests a user id: one read each, never more.
        assert!(per_request > 0.3 && per_request <= 1.0, "{comparison}");
    }
    assert!(
        comparison.rounds[1].frequency_read_p99_us.is_some(),
        "the Redis read is timed: {comparison}"
    );
    assert!(comparison.to_string().contains("redis / embedded"));
}
