use super::*;
use bidder_sdk::openrtb::decode_request;

const REGISTRY: &str = r#"
[[publishers]]
id = "p1"
name = "Mama Reviews"
domains = ["mama.example"]
bundles = ["com.mama.reviews"]

[[publishers.placements]]
id = "home-top"
kind = "site_slot"

[[publishers.placements]]
id = "live-7"
name = "Friday live room"
kind = "live_room"

[[publishers.sub_ids]]
id = "wechat-group-7"
kind = "channel"
"#;

fn request(source: &str, ext: &str) -> BidRequest {
    decode_request(
        format!(
            r#"{{"id":"r","imp":[{{"id":"1","tagid":"home-top","banner":{{"w":300,"h":250}}{ext}}},
            {{"id":"2","banner":{{"w":300,"h":250}}}}],{source}}}"#
        )
        .as_bytes(),
    )
    .expect("request")
}

fn site(publisher: &str, domain: &str) -> String {
    format!(r#""site":{{"domain":"{domain}","publisher":{{"id":"{publisher}"}}}}"#)
}

#[test]
fn the_registry_is_read_with_its_placements_and_sub_ids() {
    let registry = Registry::parse(REGISTRY, "publishers.toml").expect("valid");
    assert_eq!(registry.len(), 1);
    let p1 = registry.get("p1").expect("p1");
    assert_eq!(p1.placements["live-7"].kind, PlacementKind::LiveRoom);
    assert_eq!(p1.sub_ids["wechat-group-7"].kind, SubIdKind::Channel);
}

#[test]
fn every_problem_is_named_with_its_field() {
    let bad = r#"
[[publishers]]
id = "p 1"
name = ""
domains = ["bad domain"]
[[publishers.placements]]
id = "a"
kind = "site_slot"
[[publishers.placements]]
id = "a"
kind = "site_slot"
[[publishers.sub_ids]]
id = "this-sub-id-is-far-too-long-for-any-union-to-accept-it-as-a-sub-id-at-all"
kind = "member"
"#;
    let errors = Registry::parse(bad, "publishers.toml").expect_err("invalid");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "publishers[0](p 1).id",
        "publishers[0](p 1).name",
        "publishers[0](p 1).domains[0]",
        "publishers[0](p 1).placements[1]",
        "publishers[0](p 1).sub_ids[0].id",
    ] {
        assert!(fields.contains(&expected), "{expected} in {fields:?}");
    }
    let unknown = Registry::parse("[[publishers]]\nid='x'\nname='x'\nkind='y'", "f")
        .expect_err("unknown key");
    assert!(unknown[0].message.contains("kind"), "{unknown:?}");
}

#[test]
fn registered_sources_pass_and_others_are_marked() {
    let registry = Registry::parse(REGISTRY, "publishers.toml").expect("valid");
    let marked = |source: &str| !registry.source_registered(&request(source, ""));
    assert!(!marked(&site("p1", "mama.example")));
    assert!(!marked(&site("p1", "m.mama.example")), "a subdomain");
    assert!(
        !marked(&site("p1", "MAMA.example.")),
        "case and the root dot"
    );
    assert!(
        !marked(&site("p1", "mama.example:8443")),
        "a port is not the domain"
    );
    assert!(marked(&site("p1", "evilmama.example")), "not a subdomain");
    assert!(marked(&site("p1", "other.example")));
    assert!(marked(&site("p9", "mama.example")), "an unknown publisher");
    assert!(
        marked(r#""site":{"page":"https://mama.example/a"}"#),
        "no publisher"
    );
    assert!(!marked(
        r#""site":{"page":"https://www.mama.example/a","publisher":{"id":"p1"}}"#
    ));
    assert!(!marked(
        r#""app":{"bundle":"com.mama.reviews","publisher":{"id":"p1"}}"#
    ));
    assert!(marked(
        r#""app":{"bundle":"com.copycat","publisher":{"id":"p1"}}"#
    ));
    let none = Registry::default();
    assert!(none.source_registered(&request(&site("p9", "x.example"), "")));
}

#[test]
fn each_imp_carries_publisher_placement_and_sub_id() {
    let registry = Registry::parse(REGISTRY, "publishers.toml").expect("valid");
    let with_sub = request(
        &format!(
            r#"{},"ext":{{"sub_id":"kol-3"}}"#,
            site("p1", "mama.example")
        ),
        r#","ext":{"sub_id":"wechat-group-7"}"#,
    );
    let imps = provenance(&registry, &with_sub).expect("valid");
    assert_eq!(
        imps[0],
        Provenance {
            publisher: Some("p1".into()),
            placement: Some("home-top".into()),
            sub_id: Some("wechat-group-7".into()),
            source_mismatch: false,
            page_category: None,
        }
    );
    assert_eq!(imps[1].placement, None);
    assert_eq!(
        imps[1].sub_id.as_deref(),
        Some("kol-3"),
        "the request's sub-id"
    );
    let bad = request(
        &site("p1", "mama.example"),
        r#","ext":{"sub_id":"has space"}"#,
    );
    assert_eq!(
        provenance(&registry, &bad).expect_err("malformed"),
        "imp[0].ext.sub_id"
    );
    let bad = request(
        &format!(r#"{},"ext":{{"sub_id":7}}"#, site("p1", "mama.example")),
        "",
    );
    assert_eq!(
        provenance(&registry, &bad).expect_err("malformed"),
        "ext.sub_id"
    );
}
