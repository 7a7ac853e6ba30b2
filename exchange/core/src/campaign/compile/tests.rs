use super::*;
use crate::campaign::parse;

const GOOD: &str = r#"{"campaigns":[{
  "id":"c-1","name":"纸尿裤 Diapers","advertiser":"adv-1","adomain":["Shop.Example"],
  "pricing":{"model":"cps","commission_rate":0.1,"avg_order_value":50},
  "budget":{"daily":100.5},"frequency_cap":{"count":3,"window":"1d"},
  "flight":{"start":"2026-01-01","end":"2026-12-31"},"timezone":"+08:00",
  "targeting":{"countries":["chn"],"device_types":["phone"],"os":["iPhone OS"],
    "dayparts":[{"days":["sat","sun"],"start_hour":22,"end_hour":2}]},
  "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
    "image_url":"https://img.example/1.jpg","landing_url":"https://shop.example/p/1"}]}]}"#;

fn compile_text(text: &str) -> Result<Vec<Campaign>, Vec<CampaignError>> {
    let file = parse(text, "test.json", false)?;
    compile(&file, "test.json")
}

#[test]
fn a_good_campaign_compiles_with_normalised_values() {
    let campaigns = compile_text(GOOD).expect("valid");
    let c = &campaigns[0];
    assert_eq!(c.adomain, vec!["shop.example"]);
    assert_eq!(c.countries, vec!["CHN"]);
    assert_eq!(c.os, vec!["ios"]);
    assert_eq!(c.daily_budget_micros, Some(100_500_000));
    let cap = c.frequency_cap.as_ref().expect("a cap");
    assert_eq!((cap.count, cap.window_secs), (3, 86_400));
    assert_eq!(cap.field, "c:c-1:86400");
    assert!(!cap.allow_anonymous && !cap.fail_open && !cap.advertiser_scope);
    assert_eq!(c.pacing, PacingMode::Even);
    assert_eq!(c.utc_offset_secs, 8 * 3600);
    // 2026-01-01T00:00+08:00 = 2025-12-31T16:00Z.
    assert_eq!(c.flight.map(|f| f.0), Some(1_767_196_800));
    let hours = c.daypart_hours.expect("dayparts");
    assert_eq!(
        hours[5],
        (1 << 22) | (1 << 23) | 0b11,
        "saturday wraps past midnight"
    );
    assert_eq!(hours[0], 0, "monday has no hours");
    assert!(c.creatives[0].secure);
}

#[test]
fn every_error_is_reported_with_its_field() {
    let bad = GOOD
        .replace("\"commission_rate\":0.1", "\"commission_rate\":1.5")
        .replace("\"chn\"", "\"CN\"")
        .replace("\"window\":\"1d\"", "\"window\":\"fortnight\"")
        .replace("https://shop.example/p/1", "javascript:alert(1)");
    let errors = compile_text(&bad).expect_err("invalid");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "campaigns[0](c-1).pricing.commission_rate",
        "campaigns[0](c-1).targeting.countries[0]",
        "campaigns[0](c-1).frequency_cap.window",
        "campaigns[0](c-1).creatives[0].landing_url",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
}

#[test]
fn duplicate_ids_and_parse_errors_name_the_place() {
    let one = &GOOD[GOOD.find('[').expect("array") + 1..GOOD.rfind(']').expect("array")];
    let doubled = format!(r#"{{"campaigns":[{one},{one}]}}"#);
    let errors = compile_text(&doubled).expect_err("duplicate");
    assert!(
        errors.iter().any(|e| e.field == "campaigns[1](c-1).id"),
        "{errors:?}"
    );
    let errors = compile_text(r#"{"campaigns":[{"id":"x","name":"n","advertiser":"a","pricing":{"model":"cpm","bid":"2"},"creatives":[]}]}"#)
        .expect_err("string bid");
    assert_eq!(errors[0].field, "campaigns[0].pricing");
}

#[test]
fn list_filters_allow_and_block() {
    let filter = ListFilter {
        allow: vec!["a.com".into(), "b.com".into()],
        block: vec!["b.com".into()],
    };
    assert!(filter.permits(Some("a.com")));
    assert!(!filter.permits(Some("b.com")));
    assert!(!filter.permits(Some("c.com")));
    assert!(!filter.permits(None));
    assert!(ListFilter::default().permits(None));
}

#[test]
fn commission_rules_compile_with_the_campaign_and_their_errors_name_the_field() {
    let with_rules = GOOD.replace(
        "\"budget\":",
        r#""commission":{"repurchase":{"within_days":90,"rate":0.2},"platform_fee":0.1,
            "volume_tiers":[{"orders":1000,"bonus":0.02,"applies":"whole_period"}]},"budget":"#,
    );
    let campaigns = compile_text(&with_rules).expect("valid");
    let rules = &campaigns[0].commission;
    assert_eq!(rules.base_ppm, 100_000);
    assert_eq!(rules.repurchase, Some((90, 200_000)));
    assert_eq!(rules.platform_fee_ppm, 100_000);
    assert_eq!(rules.lock_days, 15);
    let errors = compile_text(&with_rules.replace("whole_period", "forever")).expect_err("bad");
    assert_eq!(
        errors[0].field,
        "campaigns[0](c-1).commission.volume_tiers[0].applies"
    );
    let cpm = with_rules.replace(
        r#""model":"cps","commission_rate":0.1,"avg_order_value":50"#,
        r#""model":"cpm","bid":2"#,
    );
    let errors = compile_text(&cpm).expect_err("not CPS");
    assert_eq!(errors[0].field, "campaigns[0](c-1).commission");
}
