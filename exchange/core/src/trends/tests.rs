use super::simulation::{run, RISING};
use super::*;

fn topics(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

const HOUR: i64 = 3_600_000;

#[test]
fn steady_traffic_trends_nothing() {
    let settings = TrendSettings::default();
    let mut counts = TopicCounts::default();
    for hour in 1..=200 {
        counts.add(
            &topics(&[("tea", 50), ("tents", 20)]),
            1000,
            hour * HOUR,
            &settings,
        );
    }
    assert!(counts.trends(&settings).is_empty());
    let tea = counts.topic("tea", &settings).expect("seen");
    assert!((tea.ratio - 1.0).abs() < 1e-6, "{tea:?}");
    assert!((tea.baseline_share - 0.05).abs() < 1e-6, "{tea:?}");
}

#[test]
fn a_topic_five_times_as_common_lately_trends_at_full_strength() {
    let settings = TrendSettings::default();
    let mut counts = TopicCounts::default();
    for hour in 1..=24 * 14 {
        counts.add(
            &topics(&[("tea", 50), ("tents", 10)]),
            1000,
            hour * HOUR,
            &settings,
        );
    }
    for hour in 24 * 14 + 1..=24 * 15 {
        counts.add(
            &topics(&[("tea", 50), ("tents", 80)]),
            1000,
            hour * HOUR,
            &settings,
        );
    }
    let trends = counts.trends(&settings);
    assert_eq!(trends.len(), 1, "{trends:?}");
    assert_eq!(trends[0].topic, "tents");
    assert!(trends[0].ratio > 4.0, "{:?}", trends[0]);
    assert!(trends[0].strength > 0.7, "{:?}", trends[0]);
    // Few pages never trend, however large the ratio.
    let mut rare = TopicCounts::default();
    for hour in 1..=48 {
        let n = u64::from(hour > 40);
        rare.add(&topics(&[("kayak", n)]), 1000, hour * HOUR, &settings);
    }
    assert!(rare.trends(&settings).is_empty());
}

#[test]
fn forgotten_topics_leave_the_table() {
    let settings = TrendSettings::default();
    let mut counts = TopicCounts::default();
    counts.add(&topics(&[("fad", 1)]), 10, HOUR, &settings);
    counts.add(&[], 10, 200 * 24 * HOUR, &settings);
    assert!(counts.is_empty());
}

/// On a simulated season (`simulation`): the rising topic trends within a day and a half
/// of the rise's start, strongly at its top, has faded within two days of the fall, and no
/// steady topic ever trends; at a tenth of the traffic too.
#[test]
fn a_season_detects_the_rise_without_false_alarms() {
    let settings = TrendSettings::default();
    for (seed, pages) in [(1, 2_000), (2, 2_000), (3, 200)] {
        let report = run(seed, pages, &settings);
        let detected = report.detected_after_hours.expect("detected");
        assert!(detected <= 36, "seed {seed}: {report:?}");
        assert!(report.at_peak.1 >= 0.3, "seed {seed}: {report:?}");
        let faded = report.faded_after_hours.expect("faded");
        assert!(faded <= 48, "seed {seed}: {report:?}");
        assert!(report.false_alarms.is_empty(), "seed {seed}: {report:?}");
    }
    // The rising topic itself was steady for two weeks: no trend before its rise.
    let report = run(1, 2_000, &settings);
    assert!(report
        .timeline
        .iter()
        .filter(|(hour, _, _)| *hour < super::simulation::RISE.0)
        .all(|(_, ratio, strength)| *strength == 0.0 && *ratio < 1.5));
    assert_eq!(RISING, "camping");
}

#[test]
fn lifts_go_to_campaigns_about_the_trend_and_stay_bounded() {
    let file = crate::campaign::parse(
        r#"{"campaigns":[
          {"id":"tent","name":"Tent","advertiser":"a","adomain":["a.example"],"keywords":["露营","帐篷"],
           "pricing":{"model":"cpc","bid":1},"creatives":[{"id":"b","format":"banner","w":300,"h":250,
           "image_url":"https://i.example/a.jpg","landing_url":"https://a.example/p"}]},
          {"id":"tea","name":"Tea","advertiser":"b","adomain":["b.example"],"keywords":["茶叶","乌龙茶"],
           "pricing":{"model":"cpc","bid":1},"creatives":[{"id":"b","format":"banner","w":300,"h":250,
           "image_url":"https://i.example/b.jpg","landing_url":"https://b.example/p"}]}]}"#,
        "test",
        false,
    )
    .expect("parse");
    let campaigns = crate::campaign::compile(&file, "test").expect("compile");
    let snapshot = crate::index::build(campaigns, 1, "test".into());
    let settings = TrendSettings::default();
    let trend = |topic: &str, strength: f64| Trend {
        topic: topic.into(),
        recent_pages: 100.0,
        baseline_pages: 100.0,
        recent_share: 0.1,
        baseline_share: 0.02,
        ratio: 5.0,
        strength,
    };
    let none = TrendLifts::build(&snapshot, &[], &settings);
    assert_eq!(none.max(), 1.0);
    let lifts = TrendLifts::build(
        &snapshot,
        &[trend("露营", 1.0), trend("unknown-topic", 1.0)],
        &settings,
    );
    let tent = snapshot.ids["tent"] as usize;
    let tea = snapshot.ids["tea"] as usize;
    assert!(
        lifts.lift(tent) > 1.0 && lifts.lift(tent) <= 1.2,
        "{}",
        lifts.lift(tent)
    );
    assert_eq!(lifts.lift(tea), 1.0);
    assert_eq!(lifts.max(), lifts.lift(tent));
    // Whatever the strengths, the lift stays within max_lift.
    let all = TrendLifts::build(
        &snapshot,
        &[trend("露营", 50.0), trend("帐篷", 50.0), trend("茶叶", 1.0)],
        &settings,
    );
    for id in 0..2 {
        assert!(
            (1.0..=1.2 + 1e-6).contains(&all.lift(id)),
            "{}",
            all.lift(id)
        );
    }
}
