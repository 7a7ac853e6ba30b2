use super::*;

fn rules(toml_text: &str, base: f64) -> CommissionRules {
    let spec: CommissionSpec = toml::from_str(toml_text).expect("spec");
    CommissionRules::compile(Some(&spec), Some(base)).expect("valid")
}

fn line(quantity: u32) -> LineFacts<'static> {
    LineFacts {
        quantity,
        ..LineFacts::default()
    }
}

#[test]
fn the_base_rate_pays_when_nothing_else_applies() {
    let r = rules("", 0.1);
    let c = r.commission(&line(1), 200_000_000);
    assert_eq!(c.commission_micros, 20_000_000);
    assert_eq!((c.fee_micros, c.payout_micros), (0, 20_000_000));
    assert_eq!(c.rules, vec!["base"]);
}

#[test]
fn a_high_ltv_tier_pays_its_stamped_rate_and_a_sku_rate_beats_a_category_rate() {
    let r = rules(
        r#"rates = [{ category = "lipstick", rate = 0.15 }, { sku = "SKU-9", rate = 0.05 }]"#,
        0.1,
    );
    let tier = LineFacts {
        tier_ppm: Some(200_000),
        ..line(1)
    };
    assert_eq!(
        r.commission(&tier, 100_000_000).commission_micros,
        20_000_000
    );
    assert_eq!(r.commission(&tier, 1).rules, vec!["ltv_tier"]);
    let category = LineFacts {
        category: Some("lipstick"),
        ..tier
    };
    let c = r.commission(&category, 100_000_000);
    assert_eq!(
        (c.commission_micros, c.rules.clone()),
        (15_000_000, vec!["category:lipstick".to_owned()])
    );
    let sku = LineFacts {
        sku: Some("SKU-9"),
        ..category
    };
    assert_eq!(r.commission(&sku, 100_000_000).commission_micros, 5_000_000);
}

#[test]
fn a_repurchase_pays_at_least_the_repurchase_rate() {
    let r = rules("repurchase = { within_days = 90, rate = 0.2 }", 0.1);
    let first = r.commission(&line(1), 50_000_000);
    let again = r.commission(
        &LineFacts {
            repurchase: true,
            ..line(1)
        },
        50_000_000,
    );
    assert_eq!(
        (first.commission_micros, again.commission_micros),
        (5_000_000, 10_000_000)
    );
    assert_eq!(again.rules, vec!["base", "repurchase"]);
    // A tier already above it keeps its own rate.
    let tier = LineFacts {
        repurchase: true,
        tier_ppm: Some(300_000),
        ..line(1)
    };
    assert_eq!(r.commission(&tier, 50_000_000).rules, vec!["ltv_tier"]);
}

#[test]
fn first_units_split_a_line_and_bonuses_add_up_to_at_most_all() {
    let r = rules(
        r#"first_units = { units = 100, rate = 0.3 }
           new_customer = { bonus = 0.02 }
           platform_fee = 0.1"#,
        0.1,
    );
    // 4 units of 10.00 each, 3 of them among the first 100.
    let facts = LineFacts {
        first_units: 3,
        new_customer: Some(true),
        ..line(4)
    };
    let c = r.commission(&facts, 40_000_000);
    assert_eq!(
        c.commission_micros,
        30_000_000 * 32 / 100 + 10_000_000 * 12 / 100
    );
    assert_eq!(c.fee_micros, c.commission_micros / 10);
    assert_eq!(c.payout_micros, c.commission_micros - c.fee_micros);
    assert_eq!(
        c.rules,
        vec!["base", "first_units:3", "new_customer", "fee"]
    );
    let capped = rules("new_customer = { bonus = 0.5 }", 0.9);
    let all = capped.commission(
        &LineFacts {
            new_customer: Some(true),
            ..line(1)
        },
        1_000,
    );
    assert_eq!(all.commission_micros, 1_000);
}

#[test]
fn volume_tiers_apply_from_the_threshold_or_to_the_whole_period() {
    let from = rules(
        r#"volume_tiers = [{ orders = 1000, bonus = 0.02 }, { orders = 10, bonus = 0.01 }]"#,
        0.1,
    );
    let at = |rank, total| LineFacts {
        volume: Some(Volume { rank, total }),
        ..line(1)
    };
    assert_eq!(from.evaluate(&at(9, 2000)).rate_ppm, 100_000);
    assert_eq!(from.evaluate(&at(10, 10)).rate_ppm, 110_000);
    assert_eq!(from.evaluate(&at(1000, 1000)).rate_ppm, 120_000);
    assert_eq!(
        from.commission(&at(1000, 1000), 1).rules,
        vec!["base", "volume:1000:from_threshold"]
    );
    let whole = rules(
        r#"volume_tiers = [{ orders = 1000, bonus = 0.02, applies = "whole_period" }]"#,
        0.1,
    );
    assert_eq!(whole.evaluate(&at(1, 999)).rate_ppm, 100_000);
    assert_eq!(whole.evaluate(&at(1, 1000)).rate_ppm, 120_000);
}

#[test]
fn the_auction_expects_what_a_line_with_the_same_facts_would_pay() {
    let r = rules("repurchase = { within_days = 90, rate = 0.2 }", 0.1);
    assert_eq!(r.expected_ppm(100_000, false), 100_000);
    assert_eq!(r.expected_ppm(100_000, true), 200_000);
    let facts = LineFacts {
        tier_ppm: Some(100_000),
        repurchase: true,
        ..line(1)
    };
    assert_eq!(r.evaluate(&facts).rate_ppm, r.expected_ppm(100_000, true));
    // The shortcut for everything but a repeat buyer answers as the engine does.
    let full = rules(
        r#"rates = [{ category = "pots", rate = 0.3 }]
           first_units = { units = 10, rate = 0.4 }
           new_customer = { bonus = 0.05 }
           volume_tiers = [{ orders = 1, bonus = 0.1 }]"#,
        0.1,
    );
    for rules in [&r, &full, &CommissionRules::default()] {
        for stamped in [
            0, 1, 50_000, 100_000, 250_000, 999_999, 1_000_000, 2_000_000,
        ] {
            for repeat in [false, true] {
                let facts = LineFacts {
                    tier_ppm: Some(stamped),
                    repurchase: repeat,
                    ..LineFacts::default()
                };
                assert_eq!(
                    rules.expected_ppm(stamped, repeat),
                    rules.evaluate(&facts).rate_ppm,
                    "{stamped} {repeat}"
                );
            }
        }
    }
}

#[test]
fn errors_name_the_field() {
    let bad = |text: &str| {
        let spec: CommissionSpec = toml::from_str(text).expect("spec");
        CommissionRules::compile(Some(&spec), Some(0.1)).expect_err("invalid")[0]
            .field
            .clone()
    };
    assert_eq!(bad("rates = [{ rate = 0.1 }]"), "commission.rates[0]");
    assert_eq!(
        bad(r#"rates = [{ sku = "a", rate = 1.5 }]"#),
        "commission.rates[0].rate"
    );
    assert_eq!(
        bad(r#"rates = [{ sku = "a", rate = 0.1 }, { sku = "a", rate = 0.2 }]"#),
        "commission.rates[1]"
    );
    assert_eq!(
        bad("repurchase = { within_days = 0, rate = 0.2 }"),
        "commission.repurchase.within_days"
    );
    assert_eq!(
        bad(r#"volume_tiers = [{ orders = 5, bonus = 0.1, applies = "always" }]"#),
        "commission.volume_tiers[0].applies"
    );
    assert_eq!(bad("platform_fee = 1.0"), "commission.platform_fee");
    assert_eq!(bad("lock_days = 400"), "commission.lock_days");
    let spec = CommissionSpec::default();
    assert_eq!(
        CommissionRules::compile(Some(&spec), None).expect_err("not CPS")[0].field,
        "commission"
    );
}

#[test]
fn amounts_round_half_away_from_zero() {
    assert_eq!(apply_ppm(5, 100_000), 1);
    assert_eq!(apply_ppm(-5, 100_000), -1);
    assert_eq!(apply_ppm(4, 100_000), 0);
    assert_eq!(fee_of(-1_000_001, 500_000), -500_001);
}
