//! Consent strings built by the IAB's own encoder (`tests/consent/encode.mjs`, whose output
//! `tests/consent/fixtures.json` is checked against a fresh encoding by
//! `tests/consent/run.mjs`), read and turned into permissions.

use super::*;
use bidder_sdk::openrtb::decode_request;
use serde_json::Value;

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/consent/fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures")).expect("json")
}

fn tc(name: &str) -> String {
    fixtures()["tcf"][name].as_str().expect(name).to_owned()
}

fn gpp(name: &str) -> (String, Vec<i32>) {
    let f = &fixtures()["gpp"][name];
    let sid = f["sid"]
        .as_array()
        .expect("sid")
        .iter()
        .map(|s| s.as_i64().expect("int") as i32)
        .collect();
    (f["gpp"].as_str().expect("gpp").to_owned(), sid)
}

fn request(regs: &str, user: &str) -> BidRequest {
    decode_request(
        format!(
            r#"{{"id":"r","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],"site":{{"id":"s","publisher":{{"id":"pub-eu"}}}},
                "regs":{regs},"user":{user},"device":{{"dnt":0}}}}"#
        )
        .as_bytes(),
    )
    .expect("valid")
}

fn gdpr_with(consent: &str) -> Consent {
    Consent::read(
        &request(r#"{"gdpr":1}"#, &format!(r#"{{"consent":"{consent}"}}"#)),
        false,
    )
}

fn allowed(p: &Permissions) -> Vec<&'static str> {
    Activity::ALL
        .into_iter()
        .filter(|a| p.allows(*a))
        .map(Activity::as_str)
        .collect()
}

#[test]
fn a_tc_string_from_the_iab_encoder_reads_back_bit_for_bit() {
    let consent = gdpr_with(&tc("all"));
    assert!(consent.gdpr && consent.problems.is_empty(), "{consent:?}");
    let tcf = consent.tcf.expect("decoded").core;
    assert_eq!(tcf.policy_version, 4);
    assert_eq!(tcf.purpose_consents, (1..=10).fold(0, |b, p| b | 1 << p));
    assert_eq!(tcf.purpose_legitimate_interests, 1 << 2 | 1 << 7);
    assert_eq!(tcf.special_features, 1 << 1);
    assert_eq!(tcf.vendor_consents.ids(), [32, 755, 1000]);
    assert_eq!(tcf.vendor_legitimate_interests.ids(), [32, 755]);
    let restricted = gdpr_with(&tc("restricted")).tcf.expect("decoded").core;
    assert_eq!(restricted.restrictions.len(), 2);
    assert_eq!(restricted.restrictions[0].vendors.ids(), [755]);
    assert_eq!(restricted.restrictions[1].purpose, 7);
}

#[test]
fn purposes_need_the_vendor_and_legitimate_interest_only_where_allowed() {
    let all = gdpr_with(&tc("all")).tcf.expect("all");
    assert!(all.purpose(4, Some(755)) && all.purpose(4, None));
    assert!(!all.purpose(4, Some(44)), "vendor 44 has no consent");
    assert!(all.special_feature(1, Some(32)) && !all.special_feature(1, Some(44)));

    let interest = gdpr_with(&tc("interestOnly")).tcf.expect("interest");
    assert!(
        interest.purpose(2, Some(755)),
        "basic ads on legitimate interest"
    );
    assert!(interest.purpose(7, Some(755)));
    assert!(
        !interest.purpose(2, Some(32)),
        "32 has no legitimate interest"
    );
    assert!(!interest.purpose(1, Some(755)), "purpose 1 needs consent");

    let restricted = gdpr_with(&tc("restricted"));
    assert!(restricted.problems.is_empty(), "{:?}", restricted.problems);
    let restricted = restricted.tcf.expect("restricted");
    assert!(
        !restricted.purpose(2, Some(755)),
        "the publisher forbids it"
    );
    assert!(restricted.purpose(2, Some(32)));
    assert!(
        restricted.purpose(7, Some(32)),
        "consent given, as required"
    );
    assert!(
        restricted.purpose(7, Some(755)),
        "no restriction on 755 for 7"
    );
}

#[test]
fn permissions_follow_the_purposes_of_each_party() {
    let bidder = |consent: &Consent, vendor| permissions(consent, Party::Bidder("dsp", vendor));
    let all = gdpr_with(&tc("all"));
    assert_eq!(allowed(&bidder(&all, Some(755))).len(), Activity::ALL.len());
    assert!(
        allowed(&bidder(&all, Some(44))).is_empty(),
        "a vendor without consent is not even called"
    );
    assert_eq!(
        bidder(&all, None).reason(Activity::FetchBids),
        Some("gdpr: the bidder has no tcf_vendor_id")
    );

    let basic = gdpr_with(&tc("basic"));
    let p = bidder(&basic, Some(755));
    assert_eq!(allowed(&p), ["fetchBids", "stableId"]);
    assert_eq!(
        p.reason(Activity::TransmitUfpd),
        Some("tcf: purposes 3 and 4 (personalised ads) not allowed")
    );
    assert_eq!(
        p.reason(Activity::TransmitPreciseGeo),
        Some("tcf: special feature 1 (precise geolocation) not opted in")
    );

    let interest = gdpr_with(&tc("interestOnly"));
    assert_eq!(
        allowed(&bidder(&interest, Some(755))),
        ["fetchBids", "useUserData"]
            .into_iter()
            .filter(|a| *a == "fetchBids")
            .collect::<Vec<_>>()
    );
    let own = permissions(&interest, Party::Exchange(None));
    assert!(
        !own.allows(Activity::StableId),
        "no purpose 1 consent: no stable id"
    );

    let restricted = gdpr_with(&tc("restricted"));
    assert!(!bidder(&restricted, Some(755)).allows(Activity::FetchBids));
    assert!(bidder(&restricted, Some(32)).allows(Activity::TransmitUfpd));

    let only32 = gdpr_with(&tc("onlyVendor32"));
    assert!(bidder(&only32, Some(32)).allows(Activity::TransmitEids));
    assert!(!bidder(&only32, Some(755)).allows(Activity::FetchBids));
}

#[test]
fn without_a_readable_tc_string_gdpr_allows_nothing_personal() {
    for user in [
        r#"{}"#,
        r#"{"consent":"not-a-tc-string"}"#,
        r#"{"consent":" "}"#,
    ] {
        let consent = Consent::read(&request(r#"{"gdpr":1}"#, user), false);
        assert!(consent.tcf.is_none(), "{user}");
        let own = permissions(&consent, Party::Exchange(None));
        assert!(!own.allows(Activity::UseUserData) && !own.allows(Activity::StableId));
        assert!(
            own.allows(Activity::FetchBids),
            "the exchange's own auction still runs"
        );
        let bidder = permissions(&consent, Party::Bidder("dsp", Some(755)));
        assert!(!bidder.allows(Activity::FetchBids), "{user}");
    }
    let bad = Consent::read(
        &request(r#"{"gdpr":1}"#, r#"{"consent":"not-a-tc-string"}"#),
        false,
    );
    assert!(
        bad.problems[0].starts_with("user.consent: not a TCF v2 string"),
        "{:?}",
        bad.problems
    );
}

#[test]
fn openrtb_2_5_extension_paths_are_read_too() {
    let consent = Consent::read(
        &request(
            r#"{"ext":{"gdpr":1,"us_privacy":"1YYN"}}"#,
            &format!(r#"{{"ext":{{"consent":"{}"}}}}"#, tc("all")),
        ),
        false,
    );
    assert!(consent.gdpr && consent.tcf.is_some() && consent.us_opt_out);
    assert_eq!(consent.us_source.as_deref(), Some("usp"));
    let default_on = Consent::read(&request("{}", "{}"), true);
    assert!(
        default_on.gdpr,
        "gdpr_default applies when the request says nothing"
    );
    let said_no = Consent::read(&request(r#"{"gdpr":0}"#, "{}"), true);
    assert!(!said_no.gdpr);
}

#[test]
fn gpp_sections_in_force_decide_and_others_do_not() {
    let read = |(text, sid): (String, Vec<i32>)| {
        let sids: Vec<String> = sid.iter().map(ToString::to_string).collect();
        Consent::read(
            &request(
                &format!(r#"{{"gpp":"{text}","gpp_sid":[{}]}}"#, sids.join(",")),
                "{}",
            ),
            false,
        )
    };
    let tcf = read(gpp("tcfAll"));
    assert!(tcf.gdpr, "section 2 in force: GDPR applies");
    assert_eq!(
        tcf.tcf.as_ref().expect("tcf").core.vendor_consents.ids(),
        [32, 755, 1000]
    );
    for name in [
        "usnatOptedOut",
        "usnatTargetedOptOut",
        "uscaGpc",
        "uspOptedOut",
    ] {
        let consent = read(gpp(name));
        assert!(consent.us_opt_out, "{name}: {consent:?}");
    }
    assert_eq!(
        read(gpp("usnatOptedOut")).us_source.as_deref(),
        Some("gpp:7")
    );
    for name in ["usnatNoOptOut", "usnatNotInForce"] {
        let consent = read(gpp(name));
        assert!(
            !consent.us_opt_out && consent.problems.is_empty(),
            "{name}: {consent:?}"
        );
    }
    // A US section in force that the string lacks, or a string that is not GPP: opted out.
    let (text, _) = gpp("usnatOptedOut");
    let missing = read((text, vec![8]));
    assert!(missing.us_opt_out && !missing.problems.is_empty());
    let garbage = read(("DBAB~!!".to_owned(), vec![7]));
    assert!(garbage.us_opt_out && !garbage.problems.is_empty());
    let opted = permissions(&read(gpp("usnatOptedOut")), Party::Bidder("dsp", None));
    assert_eq!(allowed(&opted), ["fetchBids", "stableId"]);
}

#[test]
fn coppa_and_operator_rules_only_take_away() {
    let coppa = Consent::read(&request(r#"{"coppa":1}"#, "{}"), false);
    assert_eq!(
        allowed(&permissions(&coppa, Party::Exchange(None))),
        ["fetchBids"]
    );
    let rules = Rules {
        rules: vec![
            Rule {
                activity: Some(Activity::TransmitEids),
                parties: vec!["dsp".to_owned()],
                publishers: vec!["pub-eu".to_owned()],
                gpp_sids: Vec::new(),
                label: "rules[0]",
            },
            Rule {
                activity: None,
                parties: vec!["other".to_owned()],
                publishers: Vec::new(),
                gpp_sids: Vec::new(),
                label: "rules[1]",
            },
        ],
    };
    let settings = PrivacySettings {
        rules: rules.clone(),
        ..PrivacySettings::default()
    };
    let plain = request("{}", "{}");
    let privacy = Privacy::read(&plain, &settings);
    assert_eq!(allowed(&privacy.own).len(), Activity::ALL.len());
    let dsp = privacy.bidder(&plain, "dsp", None, &rules);
    assert_eq!(dsp.reason(Activity::TransmitEids), Some("rules[0]"));
    assert!(dsp.allows(Activity::TransmitUfpd));
    assert!(allowed(&privacy.bidder(&plain, "other", None, &rules)).is_empty());
    assert_eq!(
        allowed(&privacy.bidder(&plain, "third", None, &rules)).len(),
        Activity::ALL.len()
    );
}

#[test]
fn scrubbing_removes_what_is_denied_and_coarsens_geo() {
    let mut request = decode_request(
        br#"{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"id":"s"},
            "device":{"ifa":"aaaa-bbbb","ip":"203.0.113.77","ipv6":"2001:db8:1:2:3::9","dpidsha1":"x",
                      "geo":{"lat":48.137154,"lon":11.576124,"country":"DEU"}},
            "user":{"id":"u1","buyeruid":"b1","keywords":"k","yob":1990,"consent":"C",
                    "data":[{"id":"d","segment":[{"id":"s"}]}],"eids":[{"source":"x.com","uids":[{"id":"e"}]}],
                    "ext":{"consent":"C","eids":[],"other":1}}}"#,
    )
    .expect("valid");
    let mut p = Permissions::all();
    p.deny(Activity::TransmitUfpd, "t");
    p.deny(Activity::TransmitEids, "t");
    p.deny(Activity::TransmitPreciseGeo, "t");
    let changed = scrub::scrub(&mut request, &p);
    let user = request.user.as_ref().expect("user");
    assert!(user.id.is_none() && user.buyeruid.is_none() && user.keywords.is_none());
    assert!(user.data.is_empty() && user.eids.is_empty() && !user.extra.contains_key("yob"));
    assert_eq!(
        user.consent.as_deref(),
        Some("C"),
        "the consent string stays"
    );
    assert_eq!(user.ext, Some(serde_json::json!({"consent": "C"})));
    let device = request.device.as_ref().expect("device");
    assert!(device.ifa.is_none() && !device.extra.contains_key("dpidsha1"));
    assert_eq!(device.ip.as_deref(), Some("203.0.113.0"));
    assert_eq!(device.ipv6.as_deref(), Some("2001:db8:1::"));
    let geo = device.geo.as_ref().expect("geo");
    assert_eq!((geo.lat, geo.lon), (Some(48.14), Some(11.58)));
    assert_eq!(geo.country.as_deref(), Some("DEU"), "country stays");
    for field in [
        "user.id",
        "user.eids",
        "device.ifa",
        "device.ip",
        "device.geo.lat/lon",
    ] {
        assert!(changed.contains(&field), "{field} in {changed:?}");
    }
    // Nothing denied: nothing changes.
    let before = request.clone();
    assert!(scrub::scrub(&mut request, &Permissions::all()).is_empty());
    assert_eq!(request, before);
}
