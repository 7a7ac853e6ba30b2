use super::*;

fn snapshot() -> Snapshot {
    let settings = simulation::SimulationSettings {
        campaigns: 4,
        ..simulation::SimulationSettings::default()
    };
    simulation::campaigns(&settings)
}

fn outcomes(impressions: f64, clicks: f64, orders: f64) -> Outcomes {
    Outcomes {
        impressions,
        clicks,
        orders,
    }
}

#[test]
fn the_posterior_mean_moves_from_the_prior_to_the_evidence() {
    assert_eq!(posterior_mean(0.0, 0.0, 0.01, 2_000.0), 0.01);
    let some = posterior_mean(40.0, 2_000.0, 0.01, 2_000.0);
    assert!((some - 0.015).abs() < 1e-12, "{some}");
    let much = posterior_mean(20_000.0, 1_000_000.0, 0.01, 2_000.0);
    assert!((much - 0.02).abs() < 1e-4, "{much}");
    // More clicks than impressions (a click before its notice) still gives a rate.
    assert!(posterior_mean(50.0, 10.0, 0.01, 100.0) <= 1.0);
}

#[test]
fn nothing_learned_lifts_nothing() {
    let snapshot = snapshot();
    let rates = LearnedRates::build(
        &snapshot,
        &OutcomeTable::default(),
        &LearningSettings::default(),
    );
    assert_eq!(rates.lifts(0, Some(3)), (1.0, 1.0));
    assert_eq!(rates.max_boost(), 1.0);
    assert_eq!(rates.campaigns, 0);
}

#[test]
fn a_campaign_that_clicks_twice_its_declared_rate_is_lifted_toward_two() {
    let snapshot = snapshot();
    let campaign = &snapshot.campaigns[0];
    let mut table = OutcomeTable::default();
    let impressions = 200_000.0;
    table.add(
        &campaign.id,
        None,
        outcomes(impressions, impressions * campaign.base_ctr * 2.0, 0.0),
    );
    let rates = LearnedRates::build(&snapshot, &table, &LearningSettings::default());
    let (ctr_lift, cvr_lift) = rates.lifts(0, None);
    assert!((ctr_lift - 2.0).abs() < 0.02, "{ctr_lift}");
    // No click converted: the CVR falls, but within the bound.
    assert!((0.25..1.0).contains(&cvr_lift), "{cvr_lift}");
    assert!(rates.max_boost() >= ctr_lift * cvr_lift);
    assert_eq!(rates.lifts(1, None), (1.0, 1.0), "another campaign");
}

#[test]
fn a_category_with_little_traffic_says_what_the_campaign_says() {
    let snapshot = snapshot();
    let campaign = &snapshot.campaigns[0];
    let base = campaign.base_ctr;
    let mut table = OutcomeTable::default();
    // Much traffic on category 1 at 3× the declared rate, ten impressions on category 2
    // without a click.
    table.add(
        &campaign.id,
        Some(1),
        outcomes(500_000.0, 500_000.0 * base * 3.0, 0.0),
    );
    table.add(&campaign.id, Some(2), outcomes(10.0, 0.0, 0.0));
    let rates = LearnedRates::build(&snapshot, &table, &LearningSettings::default());
    let (on_one, _) = rates.lifts(0, Some(1));
    let (on_two, _) = rates.lifts(0, Some(2));
    let (overall, _) = rates.lifts(0, None);
    let (unseen, _) = rates.lifts(0, Some(7));
    assert!((on_one - 3.0).abs() < 0.05, "{on_one}");
    assert!(
        (on_two - overall).abs() / overall < 0.02,
        "{on_two} vs {overall}"
    );
    assert_eq!(
        unseen, overall,
        "a category never seen takes the campaign's rate"
    );
}

#[test]
fn lifts_stay_within_the_bound_whatever_the_counts() {
    let snapshot = snapshot();
    // `s00` and `s02` pay per click, `s01` and `s03` per order.
    let id = |name: &str| snapshot.ids[name] as usize;
    let mut table = OutcomeTable::default();
    table.add("s00", None, outcomes(1e9, 9e8, 9e8));
    table.add("s01", None, outcomes(1e9, 9e8, 9e8));
    table.add("s02", Some(3), outcomes(-5.0, f64::MAX, 0.0));
    table.add("s03", Some(3), outcomes(1e9, 0.0, 0.0));
    table.add("not-in-the-snapshot", None, outcomes(1e6, 1e5, 1e4));
    for explore in [0.0, 1.0] {
        let settings = LearningSettings {
            explore,
            ..LearningSettings::default()
        };
        let rates = LearnedRates::build(&snapshot, &table, &settings);
        for (id, campaign) in snapshot.campaigns.iter().enumerate() {
            for category in [None, Some(3), Some(26)] {
                let bound = rates.boost_bound(id, category);
                assert!(bound <= rates.campaign_bound(id) + 1e-12);
                assert!(bound <= rates.max_boost_on(category) + 1e-12);
                for draws in [
                    (0.0, 0.0),
                    (3.0, 3.0),
                    (99.0, 99.0),
                    (-99.0, 99.0),
                    (f64::NAN, 1.0),
                ] {
                    let (ctr, cvr) = rates.drawn_lifts(id, category, draws, &settings);
                    for lift in [ctr, cvr] {
                        assert!(
                            lift.is_finite() && (0.25..=4.0).contains(&lift),
                            "{id}: {lift}"
                        );
                    }
                    // What the lifts do to the eCPM stays within the campaign's bound.
                    let lifted = crate::scoring::Signals {
                        ctr_lift: ctr,
                        cvr_lift: cvr,
                        ..crate::scoring::Signals::NEUTRAL
                    };
                    let ratio = crate::scoring::score(campaign, lifted).ecpm
                        / crate::scoring::score(campaign, crate::scoring::Signals::NEUTRAL).ecpm;
                    assert!(
                        ratio <= bound * (1.0 + 1e-9),
                        "{id} {category:?}: {ratio} > {bound}"
                    );
                }
            }
        }
        // The CPC campaign clicked at 90% is capped at 4; the CPS one at 4 × 4.
        assert_eq!(rates.campaign_bound(id("s00")), 4.0);
        assert_eq!(rates.campaign_bound(id("s01")), 16.0);
        assert_eq!(rates.max_boost(), 16.0);
        // `s03` was shown 10⁹ times on category 3 without a click: its CTR there is
        // certain (a quarter, the bound), its CVR as uncertain as its prior.
        assert!(rates.boost_bound(id("s03"), Some(3)) < 1.0);
    }
}

#[test]
fn decay_halves_and_forgets() {
    let mut table = OutcomeTable::default();
    table.add("a", None, outcomes(100.0, 4.0, 1.0));
    table.add("b", Some(2), outcomes(0.001, 0.0, 0.0));
    table.decay(0.5);
    assert_eq!(table.get("a", None), outcomes(50.0, 2.0, 0.5));
    assert_eq!(table.len(), 1, "a negligible cell is dropped");
}

#[test]
fn category_keys_round_trip() {
    let parse = |code| crate::context::category::Category::parse(code).expect("code");
    assert_eq!(category_key(&parse("IAB8-5")), Some(8));
    assert_eq!(category_key(&parse("IAB27")), None, "past the tier-1 list");
    for key in 1..=26 {
        assert_eq!(
            category_from_text(category_text(key).expect("text")),
            Some(key)
        );
    }
    assert_eq!(category_text(0), None);
    assert_eq!(category_text(27), None);
    for bad in ["0", "27", "08", "+8", "8 ", "", "x", "65544"] {
        assert_eq!(category_from_text(bad), None, "{bad}");
    }
    assert_eq!(category_label(8), "IAB8");
}
