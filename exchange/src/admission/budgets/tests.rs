use super::simulation::{simulate_day, standard_day};
use super::*;
use crate::shared::memory::MemoryStore;
use crate::shared::{EventId, Write};

#[tokio::test]
async fn a_simulated_day_spends_evenly_and_never_overspends() {
    let (campaigns, traffic) = standard_day();
    let report = simulate_day(&campaigns, traffic, 20_000, 10).await;
    println!("{}", report.table());
    for day in &report.campaigns {
        assert!(
            day.max_spent <= day.budget,
            "{}: spent above budget",
            day.id
        );
        match day.mode {
            PacingMode::Even => {
                assert!(
                    day.utilisation() >= 0.97,
                    "{}: utilisation {}",
                    day.id,
                    day.utilisation()
                );
                assert!(
                    day.max_deviation() <= 0.03,
                    "{}: deviation {}",
                    day.id,
                    day.max_deviation()
                );
                assert!(
                    day.exhausted_at.is_none_or(|at| at >= 0.95),
                    "{}: exhausted at {:?}",
                    day.id,
                    day.exhausted_at
                );
            }
            PacingMode::Asap => {
                assert!(
                    day.exhausted_at.is_some_and(|at| at < 0.5),
                    "asap spends as fast as traffic allows: {:?}",
                    day.exhausted_at
                );
            }
        }
    }
}

fn one_campaign(daily: f64, timezone: &str) -> Snapshot {
    let text = format!(
        r#"{{"campaigns":[{{"id":"c","name":"c","advertiser":"a","adomain":["a.example"],
        "pricing":{{"model":"cpm","bid":20}},"budget":{{"daily":{daily},"pacing":"asap"}},
        "timezone":"{timezone}",
        "creatives":[{{"id":"b","format":"banner","w":300,"h":250,
          "image_url":"https://a.example/b.jpg","landing_url":"https://a.example/p"}}]}}]}}"#
    );
    let file = crate::campaign::parse(&text, "t.json", false).expect("parse");
    crate::index::build(
        crate::campaign::compile(&file, "t.json").expect("compile"),
        1,
        "t".into(),
    )
}

/// The spend a 20-CPM win's notice commits for campaign `c` (auction `auction`, won at
/// `won_ms`), releasing the 20,000 micros the win took from the lease.
fn win_notice(auction: String, day: i64, won_ms: i64) -> Write {
    Write::Spend {
        campaign: "c".into(),
        day,
        micros: 20_000,
        event: EventId {
            auction,
            imp: "1".into(),
        },
        release: crate::shared::Release {
            micros: 20_000,
            bucket: (won_ms / 1000 + 3_600).div_euclid(crate::shared::keys::RESERVE_BUCKET_SECS),
        },
    }
}

fn settings() -> PacingSettings {
    PacingSettings {
        node: "n".into(),
        lease_ttl_ms: 60_000,
        lease_secs: 10.0,
        max_lease_share: 0.25,
        settle_ms: 1_000,
        reservation_secs: 3_600,
    }
}

/// Charges 20-CPM wins (and commits them, as their notices would) until the lease
/// refuses; returns what was charged.
async fn spend_until_refused(
    pacing: &Pacing,
    store: &SharedStore,
    pacer: &Pacer,
    now_ms: i64,
    day: i64,
    tag: &str,
) -> i64 {
    let mut charged = 0;
    for n in 0..10_000 {
        if n % 5 == 0 {
            pacing.tick(store, now_ms + n).await;
        }
        if pacer.admits(now_ms + n, 0).is_err() {
            continue;
        }
        if !pacer.charge(20_000) {
            continue;
        }
        charged += 20_000;
        let write = win_notice(format!("{tag}{n}"), day, now_ms + n);
        store
            .apply(std::slice::from_ref(&write))
            .await
            .expect("commit");
    }
    charged
}

#[tokio::test]
async fn an_exhausted_budget_stops_bidding_and_a_new_day_in_its_time_zone_resets_it() {
    let snapshot = one_campaign(1.0, "+08:00");
    let store = SharedStore::Memory(MemoryStore::default());
    let pacing = Pacing::new(settings());
    let table = pacing.table(&snapshot);
    let pacer = table.get(0).expect("a budgeted campaign has a pacer");
    // 2026-11-29 15:00 UTC is 23:00 in UTC+8.
    let evening = 1_796_396_400_000;
    let day = pacer.rule().day(evening);
    let charged = spend_until_refused(&pacing, &store, pacer, evening, day, "a").await;
    assert_eq!(
        charged, 1_000_000,
        "the whole budget and not one impression more"
    );
    pacing.tick(&store, evening + 20_000).await;
    assert_eq!(pacer.admits(evening + 20_000, 0), Err(PaceBlock::NoLease));
    // An hour later it is the next day in UTC+8 (not yet in UTC): bidding resumes.
    let next_morning = evening + 3_600_000;
    assert_eq!(pacer.rule().day(next_morning), day + 1);
    pacing.tick(&store, next_morning).await;
    assert_eq!(pacer.admits(next_morning, 0), Ok(()));
    let charged = spend_until_refused(&pacing, &store, pacer, next_morning, day + 1, "b").await;
    assert_eq!(charged, 1_000_000);
}

#[tokio::test]
async fn shutdown_gives_every_lease_back() {
    let snapshot = one_campaign(10.0, "+00:00");
    let store = SharedStore::Memory(MemoryStore::default());
    let pacing = Pacing::new(settings());
    let table = pacing.table(&snapshot);
    let pacer = table.get(0).expect("pacer");
    pacing.tick(&store, 1_000).await;
    assert!(pacer.lease_left() > 0);
    let day = pacer.rule().day(1_000);
    assert!(store.spend("c", day).await.expect("spend").leased_day > 0);
    pacing.release_all(&store, 2_000).await;
    assert_eq!(store.spend("c", day).await.expect("spend").leased_day, 0);
    assert_eq!(pacer.lease_left(), 0);
}

#[test]
fn even_pacing_over_the_flight_spreads_a_lifetime_budget_over_the_days_left() {
    let rule = BudgetRule {
        daily: None,
        total: Some(10_000_000),
        mode: PacingMode::Even,
        utc_offset_secs: 0,
        flight_end: Some(10 * 86_400),
        max_charge: 1,
    };
    // Day 6 of a flight ending at the start of day 10: 4 days left, 2 units spent before.
    let plan = rule.plan(6, 0, 2_000_000).expect("a plan");
    assert_eq!(plan.budget, 2_000_000);
    let asap = BudgetRule {
        mode: PacingMode::Asap,
        ..rule
    };
    assert!(asap.plan(6, 0, 0).is_none());
}

/// Two nodes serve one campaign while every notice is held back `delay_ms` (simulated
/// time: ticks and charges at explicit instants); what the notices commit in the end.
async fn two_nodes_with_late_notices(delay_ms: i64) -> i64 {
    let snapshot = one_campaign(1.0, "+00:00");
    let store = SharedStore::Memory(MemoryStore::default());
    let nodes: Vec<Pacing> = ["n1", "n2"]
        .iter()
        .map(|node| {
            Pacing::new(PacingSettings {
                node: (*node).into(),
                ..settings()
            })
        })
        .collect();
    let tables: Vec<_> = nodes.iter().map(|p| p.table(&snapshot)).collect();
    // 01:00 today by the wall clock (the in-process store sweeps old days by it); the
    // five simulated minutes stay within the day.
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        / DAY_MS;
    let start = today * DAY_MS + 3_600_000;
    let mut pending: std::collections::VecDeque<(i64, Write)> = Default::default();
    let mut n = 0;
    // Five minutes of traffic, a request every 10 ms to each node; a settle every 50 ms.
    for step in 0..30_000i64 {
        let now = start + step * 10;
        for (node, table) in nodes.iter().zip(&tables) {
            if step % 5 == 0 {
                node.tick(&store, now).await;
            }
            let pacer = table.get(0).expect("pacer");
            if pacer.admits(now, 0).is_ok() && pacer.charge(20_000) {
                n += 1;
                let write = win_notice(format!("w{n}"), pacer.rule().day(now), now);
                pending.push_back((now + delay_ms, write));
            }
        }
        while pending.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, write)) = pending.pop_front() {
                store.apply(&[write]).await.expect("commit");
            }
        }
    }
    for (_, write) in pending {
        store.apply(&[write]).await.expect("commit");
    }
    store
        .spend("c", tables[0].get(0).expect("pacer").rule().day(start))
        .await
        .expect("spend")
        .spent_day
}

#[tokio::test]
async fn late_notices_from_two_nodes_stay_within_the_budget() {
    for delay_ms in [0, 10_000, 120_000] {
        let spent = two_nodes_with_late_notices(delay_ms).await;
        println!("notices {delay_ms} ms late: {spent} of 1,000,000 committed");
        assert!(
            spent * 100 <= 1_000_000 * 101,
            "notices {delay_ms} ms late: {spent} committed on a budget of 1,000,000"
        );
        assert!(
            spent >= 900_000,
            "notices {delay_ms} ms late: only {spent} spent"
        );
    }
}
