use super::*;

const NOW: i64 = 1_780_000_000;

fn ring(list: &str) -> KeyRing {
    KeyRing::parse_list(list).expect("ring")
}

fn current() -> KeyRing {
    ring("k2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,k1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
}

/// A signed campaign notice query with `price` filled in.
fn issued(keys: &KeyRing, price: &str) -> String {
    let signer = Signer {
        keys,
        expires: NOW + 600,
    };
    let signed = signer.query(
        &[
            ("auction", "a 1/ü"),
            ("imp", "1"),
            ("bid", "a-0"),
            ("campaign", "c&1=x"),
            ("creative", "cr"),
            ("cur", "USD"),
            ("user", "00ff00ff00ff00ff"),
        ],
        12.5,
    );
    format!("{signed}&price={price}")
}

#[test]
fn a_signed_url_verifies_with_its_fields() {
    let keys = current();
    let notice = verify(&keys, &issued(&keys, "12.25"), NOW).expect("verifies");
    assert_eq!(notice.auction, "a 1/ü");
    assert_eq!(notice.campaign.as_deref(), Some("c&1=x"));
    assert_eq!(notice.bidder, None);
    assert_eq!(notice.user.as_deref(), Some("00ff00ff00ff00ff"));
    assert_eq!((notice.max_price, notice.price), (12.5, 12.25));
    assert_eq!(notice.expires, NOW + 600);
    // Up to the bid price, and exactly it.
    assert!(verify(&keys, &issued(&keys, "12.5"), NOW).is_ok());
    assert!(verify(&keys, &issued(&keys, "0"), NOW + 600).is_ok());
}

#[test]
fn every_altered_field_breaks_the_signature() {
    let keys = current();
    let good = issued(&keys, "1");
    for (from, to) in [
        ("campaign=c%261%3Dx", "campaign=c%261%3Dy"),
        ("auction=a", "auction=b"),
        ("imp=1", "imp=2"),
        ("cur=USD", "cur=CNY"),
        ("max=12.5", "max=125"),
        ("exp=", "exp=9"),
        ("user=00ff", "user=11ff"),
        ("&imp=1&bid=a-0", "&bid=a-0&imp=1"),
    ] {
        let forged = good.replacen(from, to, 1);
        assert_ne!(forged, good, "{from}");
        assert_eq!(
            verify(&keys, &forged, NOW),
            Err(Rejection::BadSignature),
            "{from} → {to}"
        );
    }
    let tag_at = good.find("&sig=").expect("sig") + 5;
    let mut flipped = good.clone().into_bytes();
    flipped[tag_at] = if flipped[tag_at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("utf8");
    assert_eq!(verify(&keys, &flipped, NOW), Err(Rejection::BadSignature));
    let short = format!("{}&price=1", &good[..tag_at + 10]);
    assert_eq!(verify(&keys, &short, NOW), Err(Rejection::BadSignature));
}

#[test]
fn another_exchanges_key_or_a_retired_one_does_not_verify() {
    let other = ring("k2:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC");
    assert_eq!(
        verify(&current(), &issued(&other, "1"), NOW),
        Err(Rejection::BadSignature)
    );
    let old = ring("k0:DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD");
    assert_eq!(
        verify(&current(), &issued(&old, "1"), NOW),
        Err(Rejection::UnknownKey)
    );
}

#[test]
fn rotation_keeps_the_old_key_verifying_until_it_is_removed() {
    let before = ring("k1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
    let url = issued(&before, "1");
    let rotated = current();
    assert_eq!(rotated.signing().id(), "k2");
    assert!(
        verify(&rotated, &url, NOW).is_ok(),
        "old key still verifies"
    );
    assert!(issued(&rotated, "1").contains("&kid=k2&"));
    let retired = ring("k2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(verify(&retired, &url, NOW), Err(Rejection::UnknownKey));
}

#[test]
fn expiry_and_price_are_enforced() {
    let keys = current();
    assert_eq!(
        verify(&keys, &issued(&keys, "1"), NOW + 601),
        Err(Rejection::Expired)
    );
    for price in ["12.6", "100000", "inf"] {
        let expected = if price == "inf" {
            Rejection::BadPrice
        } else {
            Rejection::PriceAboveBid
        };
        assert_eq!(
            verify(&keys, &issued(&keys, price), NOW),
            Err(expected),
            "{price}"
        );
    }
    for price in [
        "${AUCTION_PRICE:B64}",
        "%24%7BAUCTION",
        "-1",
        "NaN",
        "",
        "x",
    ] {
        assert_eq!(
            verify(&keys, &issued(&keys, price), NOW),
            Err(Rejection::BadPrice),
            "{price}"
        );
    }
}

#[test]
fn only_the_signed_layout_is_read() {
    let keys = current();
    let good = issued(&keys, "1");
    assert_eq!(
        verify(&keys, "auction=a&imp=1&bid=b&campaign=c&price=1", NOW),
        Err(Rejection::Unsigned)
    );
    // Nothing may follow the price: no second campaign, no second price.
    for tail in ["&campaign=other", "&price=2", "&x"] {
        assert_eq!(
            verify(&keys, &format!("{good}{tail}"), NOW),
            Err(Rejection::Malformed),
            "{tail}"
        );
    }
    // No price at all.
    let unpriced = &good[..good.find("&price=").expect("price")];
    assert_eq!(verify(&keys, unpriced, NOW), Err(Rejection::Malformed));
    // Unknown or repeated fields in front of the signature.
    for front in ["evil=1&", "auction=x&"] {
        assert_eq!(
            verify(&keys, &format!("{front}{good}"), NOW),
            Err(Rejection::Malformed),
            "{front}"
        );
    }
    assert_eq!(
        verify(&keys, "&sig=&price=1", NOW),
        Err(Rejection::Malformed)
    );
}

#[test]
fn signing_is_deterministic_for_the_same_fields() {
    let keys = current();
    assert_eq!(issued(&keys, "1"), issued(&keys, "1"));
}

/// Prebid.js fires `burl` with the macro unfilled: billed at the signed bid price (what
/// the exchange cleared), as written or percent-encoded.
#[test]
fn an_unfilled_price_macro_bills_the_signed_price() {
    let keys = current();
    for price in ["${AUCTION_PRICE}", "%24%7BAUCTION_PRICE%7D"] {
        let notice = verify(&keys, &issued(&keys, price), NOW).expect("valid");
        assert!(notice.price_unfilled, "{price}");
        assert_eq!(notice.price, notice.max_price, "{price}");
    }
    let filled = verify(&keys, &issued(&keys, "1"), NOW).expect("valid");
    assert!(!filled.price_unfilled);
    assert_eq!(filled.price, 1.0);
}

#[test]
fn who_sold_the_imp_is_signed_and_read_back() {
    let keys = current();
    let signer = Signer {
        keys: &keys,
        expires: NOW + 600,
    };
    let fields = |mm: &'static str| {
        let mut pairs = vec![
            ("auction", "a"),
            ("imp", "1"),
            ("bid", "a-0"),
            ("campaign", "c"),
            ("creative", "cr"),
            ("cur", "USD"),
            ("pub", "p1"),
            ("plc", "home-top"),
            ("sub", "wechat-group-7"),
        ];
        if !mm.is_empty() {
            pairs.push(("mm", mm));
        }
        format!("{}&price=1", signer.query(&pairs, 2.0))
    };
    let notice = verify(&keys, &fields("1"), NOW).expect("verifies");
    assert_eq!(
        notice.provenance,
        crate::publishers::Provenance {
            publisher: Some("p1".into()),
            placement: Some("home-top".into()),
            sub_id: Some("wechat-group-7".into()),
            source_mismatch: true,
            page_category: None,
        }
    );
    let unmarked = verify(&keys, &fields(""), NOW).expect("verifies");
    assert!(!unmarked.provenance.source_mismatch);
    assert_eq!(
        verify(&keys, &fields("2"), NOW).map(|_| ()),
        Err(Rejection::Malformed),
        "a mark is 1 or absent"
    );
    let moved = fields("").replace("sub=wechat-group-7", "sub=wechat-group-8");
    assert_eq!(
        verify(&keys, &moved, NOW).map(|_| ()),
        Err(Rejection::BadSignature)
    );
}
