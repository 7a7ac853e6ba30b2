//! Scenario files and generation.

use super::*;
use bidder_sdk::openrtb::{decode_request, validate_request};

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/loadtest")
}

#[test]
fn the_default_scenario_makes_valid_varied_reproducible_requests() {
    let (scenario, folder) = Scenario::load(&configs().join("default.toml")).expect("loads");
    let first = scenario.prepare(&folder).expect("prepares");
    let again = scenario.prepare(&folder).expect("prepares");
    assert_eq!(first.bodies.len(), scenario.pool);
    assert_eq!(
        first.bodies, again.bodies,
        "seeded: the same bodies every time"
    );
    let (mut sites, mut with_user, mut chinese, mut video) = (0, 0, 0, 0);
    let mut users = std::collections::HashMap::new();
    for body in &first.bodies {
        let mut request = decode_request(body).expect("decodes");
        validate_request(&mut request).expect("valid OpenRTB");
        sites += usize::from(request.site.is_some());
        chinese += usize::from(String::from_utf8_lossy(body).contains("\"language\":\"zh\""));
        video += request.imp.iter().filter(|i| i.video.is_some()).count();
        if let Some(id) = request.user.as_ref().and_then(|u| u.id.clone()) {
            with_user += 1;
            *users.entry(id).or_insert(0u32) += 1;
        }
    }
    let n = first.bodies.len() as f64;
    let share = |x: usize| x as f64 / n;
    assert!(
        (share(sites) - 0.7).abs() < 0.05,
        "site share {}",
        share(sites)
    );
    assert!(
        (share(with_user) - 0.6).abs() < 0.05,
        "user share {}",
        share(with_user)
    );
    assert!(
        (share(chinese) - 0.6).abs() < 0.05,
        "zh share {}",
        share(chinese)
    );
    assert!(video > 0);
    // Zipf: the most frequent user comes back far more often than the typical one.
    let top = users.values().max().copied().unwrap_or(0);
    assert!(top >= 50, "top user seen {top} times");
    assert!(users.len() > 500, "{} distinct users", users.len());
}

#[test]
fn another_seed_gives_other_requests() {
    let (mut scenario, folder) = Scenario::load(&configs().join("default.toml")).expect("loads");
    scenario.pool = 50;
    let a = scenario.prepare(&folder).expect("prepares");
    scenario.seed += 1;
    let b = scenario.prepare(&folder).expect("prepares");
    assert_ne!(a.bodies, b.bodies);
}

#[test]
fn a_replay_scenario_reads_the_conformance_requests() {
    let (scenario, folder) =
        Scenario::load(&configs().join("replay-conformance.toml")).expect("loads");
    let prepared = scenario
        .prepare(&folder)
        .expect("the shared corpus must be beside the repository");
    assert_eq!(prepared.bodies.len(), 32);
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("pool = 0", "pool"),
        ("tmax_ms = 1", "tmax_ms"),
        ("[imps]\nmin = 3\nmax = 2", "imps"),
        (
            "[formats]\nbanner = 0.0\nnative = 0.0\nvideo = 0.0",
            "formats",
        ),
        ("[users]\nid_share = 2.0", "users"),
        ("[floors]\nmin = 2.0\nmax = 1.0", "floors"),
    ];
    for (text, field) in cases {
        let scenario: Scenario = toml::from_str(text).expect(text);
        let error = scenario.validate("x.toml").expect_err(text).to_string();
        assert!(error.contains(field), "{text}: {error}");
    }
    assert!(
        toml::from_str::<Scenario>("rate = 5").is_err(),
        "unknown keys are refused"
    );
}
