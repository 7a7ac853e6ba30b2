use super::*;
use crate::notice::KeyRing;
use std::borrow::Cow;

const NOW: i64 = 1_780_000_000;

fn keys() -> KeyRing {
    KeyRing::parse_list(
        "k2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,k1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    )
    .expect("ring")
}

fn provenance() -> Provenance<'static> {
    Provenance {
        publisher: Some(Cow::Borrowed("pub-mama")),
        placement: Some(Cow::Borrowed("live room/1")),
        sub_id: Some(Cow::Borrowed("koc&7")),
        source_mismatch: true,
        page_category: Some(8),
    }
}

/// The query of a click URL issued now.
fn issued(keys: &KeyRing, cpc: Option<i64>, rate: Option<f64>) -> String {
    let signer = Signer {
        keys,
        expires: NOW + 600,
    };
    let provenance = provenance();
    let url = url(
        &signer,
        "https://x.example",
        &ClickFacts {
            auction: "a-1",
            imp: "1",
            campaign: "c&1",
            creative: "cr",
            user: Some("00ff00ff00ff00ff"),
            provenance: Some(&provenance),
            cpc_micros: cpc,
            commission_rate: rate,
            served_ms: NOW * 1000 - 5,
        },
    );
    let query = url
        .strip_prefix("https://x.example/c/ad?")
        .expect("the click path");
    query.to_owned()
}

#[test]
fn a_click_url_verifies_with_every_fact_it_was_issued_with() {
    let keys = keys();
    let click = verify(&keys, &issued(&keys, Some(420_000), None), NOW).expect("verifies");
    assert_eq!(click.auction, "a-1");
    assert_eq!(click.campaign, "c&1");
    assert_eq!(click.creative, "cr");
    assert_eq!(click.user.as_deref(), Some("00ff00ff00ff00ff"));
    assert_eq!(click.provenance, provenance());
    assert_eq!(click.cpc_micros, Some(420_000));
    assert_eq!(click.commission_rate, None);
    assert_eq!(click.served_ms, NOW * 1000 - 5);
    assert_eq!(click.expires, NOW + 600);
    let cps = verify(&keys, &issued(&keys, None, Some(0.14)), NOW).expect("verifies");
    assert_eq!((cps.cpc_micros, cps.commission_rate), (None, Some(0.14)));
}

#[test]
fn altered_expired_and_foreign_clicks_are_refused() {
    let keys = keys();
    let good = issued(&keys, Some(420_000), None);
    for (from, to) in [
        ("campaign=c%261", "campaign=c%262"),
        ("cpc=420000", "cpc=4200000"),
        ("sub=koc%267", "sub=koc%268"),
        ("&mm=1", ""),
        ("at=", "at=1"),
    ] {
        assert!(good.contains(from), "{from} in {good}");
        let altered = good.replacen(from, to, 1);
        assert_eq!(
            verify(&keys, &altered, NOW),
            Err(Rejection::BadSignature),
            "{from} → {to}"
        );
    }
    assert_eq!(verify(&keys, &good, NOW + 601), Err(Rejection::Expired));
    assert_eq!(
        verify(&keys, &format!("{good}&to=https://evil.example"), NOW),
        Err(Rejection::Malformed)
    );
    let other = KeyRing::parse_list("k2:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC").expect("ring");
    assert_eq!(verify(&other, &good, NOW), Err(Rejection::BadSignature));
    let (unsigned, _) = good.split_once("&sig=").expect("signed");
    assert_eq!(verify(&keys, unsigned, NOW), Err(Rejection::Unsigned));
}

#[test]
fn a_notice_never_verifies_as_a_click_nor_a_click_as_a_notice() {
    let keys = keys();
    let signer = Signer {
        keys: &keys,
        expires: NOW + 600,
    };
    // The same field names a click has, signed as a notice.
    let notice = signer.query(
        &[
            ("auction", "a-1"),
            ("imp", "1"),
            ("campaign", "c"),
            ("creative", "cr"),
        ],
        1.0,
    );
    assert!(verify(&keys, &notice, NOW).is_err());
    let click = issued(&keys, None, None);
    assert!(crate::notice::verify(&keys, &format!("{click}&price=1"), NOW).is_err());
}

#[test]
fn the_click_id_joins_the_landing_query_before_any_fragment() {
    let cases = [
        (
            "https://shop.example/p/1",
            "https://shop.example/p/1?click_id=AbC-1",
        ),
        (
            "https://shop.example/p?sku=9",
            "https://shop.example/p?sku=9&click_id=AbC-1",
        ),
        (
            "https://shop.example/p?",
            "https://shop.example/p?click_id=AbC-1",
        ),
        (
            "https://shop.example/p?a=1#top",
            "https://shop.example/p?a=1&click_id=AbC-1#top",
        ),
        (
            "https://shop.example/#/item?x=1",
            "https://shop.example/?click_id=AbC-1#/item?x=1",
        ),
    ];
    for (landing, expected) in cases {
        assert_eq!(
            landing_with_click_id(landing, "click_id", "AbC-1"),
            expected
        );
    }
    assert_eq!(
        landing_with_click_id("https://s.example/", "clk", "a b"),
        "https://s.example/?clk=a%20b"
    );
}

#[test]
fn a_promotion_link_verifies_as_a_click_of_its_link_and_nothing_else_does() {
    let keys = keys();
    let signer = Signer {
        keys: &keys,
        expires: NOW + 3600,
    };
    let provenance = Provenance {
        publisher: Some(Cow::Borrowed("pub-mama")),
        placement: Some(Cow::Borrowed("friday-live")),
        sub_id: Some(Cow::Borrowed("koc-lily")),
        source_mismatch: false,
        page_category: None,
    };
    let url = link_url(
        &signer,
        "https://x.example",
        &LinkFacts {
            link: "Ab3dE6gH",
            campaign: "c1",
            creative: "b1",
            provenance: &provenance,
            commission_rate: Some(0.2),
        },
    );
    let query = url
        .strip_prefix("https://x.example/c/p?")
        .expect("the link path");
    let click = verify_link(&keys, query, NOW).expect("verifies");
    assert_eq!(click.auction, "link:Ab3dE6gH");
    assert_eq!(click.provenance, provenance);
    assert_eq!(click.commission_rate, Some(0.2));
    assert_eq!(
        verify_link(&keys, query, NOW + 3601),
        Err(Rejection::Expired)
    );
    let moved = query.replace("sub=koc-lily", "sub=koc-mia");
    assert_eq!(
        verify_link(&keys, &moved, NOW),
        Err(Rejection::BadSignature)
    );
    // A link is not an ad click, and an ad click is not a link.
    assert!(verify(&keys, query, NOW).is_err());
    let ad = issued(&keys, None, Some(0.1));
    assert!(verify_link(&keys, &ad, NOW).is_err());
}
