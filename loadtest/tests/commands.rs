//! The commands that start servers themselves: `demo` and `compare`, briefly.

use loadtest::compare::{compare, CompareOptions};
use loadtest::engine::{RunOptions, StopSignal};
use loadtest::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bodies() -> (String, Arc<Vec<bytes::Bytes>>) {
    let (scenario, folder) =
        Scenario::load(&repo().join("configs/loadtest/default.toml")).expect("scenario");
    let prepared = scenario.prepare(&folder).expect("bodies");
    (prepared.name, Arc::new(prepared.bodies))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_the_exchange_with_two_bidders() {
    let (name, bodies) = bodies();
    let report = loadtest::demo::demo(
        &repo().join("configs/exchange.toml"),
        50.0,
        Duration::from_secs(1),
        &name,
        bodies,
        &StopSignal::default(),
    )
    .await
    .expect("demo");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.answered >= 45, "{report}");
    assert!(
        report.fill_rate > 0.5,
        "sample campaigns and two bidders fill most requests: {report}"
    );
    assert!(
        report.latency_us.max < 1_000_000,
        "answers come within tmax, never a second late: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_measures_both_servers_and_states_ratios() {
    let (name, bodies) = bodies();
    let options = CompareOptions {
        config: repo().join("configs/exchange.toml"),
        bidders: Vec::new(),
        rounds: 1,
        rates: vec![50.0, 100.0],
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
        redis: None,
        redis_cluster: false,
    };
    let comparison = compare(&options, &name, bodies, &StopSignal::default())
        .await
        .expect("compare");
    assert_eq!(comparison.rounds.len(), 2);
    assert_eq!(comparison.rounds[0].server, "baseline");
    assert_eq!(comparison.rounds[1].server, "exchange");
    for measured in &comparison.rounds {
        assert!(measured.achieved_at_fixed > 40.0, "{comparison}");
        assert!(measured.p99_us > 0, "{comparison}");
    }
    assert!(
        comparison.p99_ratio.is_finite() && comparison.p99_ratio > 0.0,
        "{comparison}"
    );
    assert!(comparison.to_string().contains("exchange / baseline"));
    assert_eq!(comparison.rounds[0].store_commands_per_request, None);
    let per_request = comparison.rounds[1]
        .store_commands_per_request
        .expect("the exchange counts its store commands");
    assert!(
        per_request > 0.0 && per_request <= 1.0,
        "at most one store command per request: {comparison}"
    );
}
