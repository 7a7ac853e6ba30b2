use super::*;

const SIMPLE: &str = r#"{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":0.5,
  "ext":{"vendor":{"k":[1,2,{"deep":true}]}},"futurefield":"kept"}],
  "site":{"page":"https://example.com/a","unknown_site":{"x":1}},"at":1,"tmax":120,
  "futuretop":[1,"two",null]}"#;

#[test]
fn unknown_fields_and_ext_survive_a_round_trip() {
    let request = decode_request(SIMPLE.as_bytes()).expect("valid request");
    assert_eq!(request.imp[0].extra["futurefield"], "kept");
    let encoded = encode_request(&request);
    let original: serde_json::Value = serde_json::from_str(SIMPLE).expect("json");
    let round_tripped: serde_json::Value = serde_json::from_slice(&encoded).expect("json");
    assert_eq!(original, round_tripped);
}

#[test]
fn unknown_enumeration_values_are_kept() {
    let body = br#"{"id":"r","imp":[{"id":"1","banner":{}}],"at":777,"device":{"devicetype":42}}"#;
    let request = decode_request(body).expect("valid");
    assert_eq!(request.at, Some(777));
    assert_eq!(request.device.and_then(|d| d.devicetype), Some(42));
}

#[test]
fn null_arrays_read_as_empty() {
    let body = br#"{"id":"r","imp":[{"id":"1","banner":{"format":null}}],"bcat":null}"#;
    let request = decode_request(body).expect("valid");
    assert!(request.bcat.is_empty());
}

#[test]
fn wrong_type_names_the_field() {
    let body = br#"{"id":"r","imp":[{"id":"1","banner":{"w":"300"}}]}"#;
    let error = decode_request(body).expect_err("string width");
    assert_eq!(error.kind, DecodeErrorKind::Schema);
    assert_eq!(error.field, "imp[0].banner.w");
}

#[test]
fn missing_id_names_the_root() {
    let error = decode_request(br#"{"imp":[]}"#).expect_err("no id");
    assert_eq!(error.kind, DecodeErrorKind::Schema);
    assert!(error.message.contains("id"), "{error}");
}

/// A request whose imp id, and user id, are `id` as written in JSON.
fn with_ids(id: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"r","imp":[{{"id":"{id}","banner":{{"w":1,"h":1}}}}],"user":{{"id":"{id}"}}}}"#
    )
    .into_bytes()
}

#[test]
fn lone_surrogate_escapes_are_refused_naming_the_field() {
    for id in [
        r"\ud800",
        r"A\ud800B",
        r"\udfff",
        r"\ud800\u0041",
        r"\udbff\ud800",
        r"x\ud83d",
        r"\ud800\n",
    ] {
        let error = decode_request(&with_ids(id)).expect_err(id);
        assert_eq!(error.kind, DecodeErrorKind::Syntax, "{id}: {error}");
        assert!(
            error.field.starts_with("imp[0].id") || error.field == "imp",
            "{id}: {error}"
        );
    }
    // Whole pairs and escaped backslashes are text like any other.
    for (id, decoded) in [
        (r"\ud83d\ude00", "😀"),
        (r"a\ud83d\ude00b\ud83d\ude00", "a😀b😀"),
        (r"\\ud800", r"\ud800"),
        (r"\u0041\u00e9", "Aé"),
        (r"\/x\\", r"/x\"),
    ] {
        let request = decode_request(&with_ids(id)).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(request.imp[0].id, decoded, "{id}");
    }
    assert_eq!(lone_surrogate(br#"{"a":"\ud800"}"#), Some(6));
    assert_eq!(lone_surrogate(br#"{"a":"no escapes"}"#), None);
    assert_eq!(
        lone_surrogate(br#"{"a":"\u12"}"#),
        None,
        "not hex: the parser's to refuse"
    );
}

#[test]
fn syntax_errors_are_syntax() {
    for body in [
        &b"{\"id\":\"x\", // c\n}"[..],
        b"{\"id\":",
        b"",
        b"NaN",
        b"{\"id\":\"r\",\"imp\":[{\"id\":\"1\",\"bidfloor\":NaN}]}",
    ] {
        let error = decode_request(body).expect_err("not json");
        assert_eq!(error.kind, DecodeErrorKind::Syntax, "{body:?}: {error}");
    }
}

#[test]
fn deep_nesting_is_rejected_without_recursion() {
    let mut body = br#"{"id":"r","imp":[{"id":"1","banner":{},"ext":{"x":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', 100_000));
    body.extend(std::iter::repeat_n(b']', 100_000));
    body.extend(b"}}]}");
    let error = decode_request(&body).expect_err("too deep");
    assert_eq!(error.kind, DecodeErrorKind::TooDeep);
}

#[test]
fn depth_is_checked_precisely_when_many_brackets_appear() {
    let at_limit = format!(
        r#"{{"id":"r","imp":[{{"id":"1","banner":{{}},"ext":{{"x":{}1{}}}}}]}}"#,
        "[".repeat(MAX_NESTING_DEPTH - 4),
        "]".repeat(MAX_NESTING_DEPTH - 4)
    );
    decode_request(at_limit.as_bytes()).expect("exactly at the limit");
    let over = at_limit
        .replacen("\"x\":", "\"x\":[", 1)
        .replacen("1]", "1]]", 1);
    assert_eq!(
        decode_request(over.as_bytes())
            .expect_err("one deeper")
            .kind,
        DecodeErrorKind::TooDeep
    );
    let wide = format!(
        r#"{{"id":"r","imp":[{{"id":"1","banner":{{}},"ext":{{"x":[{}[]]}}}}]}}"#,
        "[],".repeat(500)
    );
    decode_request(wide.as_bytes()).expect("many brackets, shallow");
}

#[test]
fn brackets_inside_strings_do_not_count_as_nesting() {
    let text = "[".repeat(500);
    let body = format!(r#"{{"id":"r\"[","imp":[{{"id":"1","banner":{{}},"tagid":"{text}"}}]}}"#);
    decode_request(body.as_bytes()).expect("brackets in strings are text");
}

#[test]
fn responses_round_trip_with_empty_forms() {
    let empty = decode_response(b"{\"id\":\"x\"}").expect("no-bid form");
    assert!(empty.seatbid.is_empty());
    decode_response(b"{}").expect("the empty no-bid");
    let error = decode_response(br#"{"seatbid":[{"bid":[{"id":"b","impid":"1","price":1}]}]}"#)
        .expect_err("bids need an id");
    assert_eq!(error.field, "id");
    let body = br#"{"id":"x","seatbid":[{"bid":[{"id":"b","impid":"1","price":1.5,"adm":"<a>","ext":{"k":1}}],"seat":"s"}],"cur":"USD","nbr":null}"#;
    let response = decode_response(body).expect("valid");
    let again = decode_response(&encode_response(&response)).expect("round trip");
    assert_eq!(response, again);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }

        #[test]
        fn unknown_top_level_fields_survive(key in "[a-z]{3,12}", value in any::<i64>()) {
            prop_assume!(!["id", "imp", "site", "app", "dooh", "device", "user", "test", "at", "tmax",
                "wseat", "bseat", "allimps", "cur", "wlang", "wlangb", "bcat", "cattax", "badv",
                "bapp", "source", "regs", "ext"].contains(&key.as_str()));
            let body = format!(r#"{{"id":"r","imp":[{{"id":"1","banner":{{}}}}],"{key}":{value}}}"#);
            let request = decode_request(body.as_bytes()).expect("valid");
            let encoded: serde_json::Value = serde_json::from_slice(&encode_request(&request)).expect("json");
            prop_assert_eq!(&encoded[key.as_str()], &serde_json::json!(value));
        }
    }
}

/// `lone_surrogate` finding each backslash by stepping byte by byte, as it did before it
/// jumped with memchr: the reference its jumps must agree with.
fn lone_surrogate_byte_by_byte(body: &[u8]) -> Option<usize> {
    lone_surrogate_with(body, |rest| rest.iter().position(|&b| b == b'\\'))
}

#[test]
fn lone_surrogates_are_found_where_a_byte_by_byte_scan_finds_them() {
    let cases: [&[u8]; 8] = [
        br#"{"a":"plain"}"#,
        br#"{"a":"\ud83d\ude00 and \/ and \\ud800"}"#,
        br#"{"a":"x\ud83d"}"#,
        br#"{"a":"\ude00"}"#,
        br#"{"a":"\\\ud800\udc00\u00e9\ud800"}"#,
        br#"\"#,
        br#"\u"#,
        br#"\ud800\u"#,
    ];
    for body in cases {
        assert_eq!(
            lone_surrogate(body),
            lone_surrogate_byte_by_byte(body),
            "{body:?}"
        );
    }
    assert_eq!(
        lone_surrogate(cases[2]),
        Some(7),
        "the backslash of the lone \\ud83d"
    );
}

proptest::proptest! {
    #[test]
    fn surrogate_scan_agrees_with_the_byte_by_byte_one(
        pieces in proptest::collection::vec(
            proptest::sample::select(vec!["\\", "u", "d8", "00", "dc", "de", "ff", "\\u", "\\ud83d", "\\ude00", "a", "\""]),
            0..40,
        )
    ) {
        let body = pieces.concat();
        proptest::prop_assert_eq!(
            lone_surrogate(body.as_bytes()),
            lone_surrogate_byte_by_byte(body.as_bytes())
        );
    }
}

#[test]
fn nesting_up_to_the_limit_passes_and_one_more_is_too_deep() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(check_depth(nested(MAX_NESTING_DEPTH).as_bytes()).is_ok());
    let error = check_depth(nested(MAX_NESTING_DEPTH + 1).as_bytes()).expect_err("too deep");
    assert_eq!(error.kind, DecodeErrorKind::TooDeep);
    // Many brackets side by side are shallow: past the quick count, the scan decides.
    assert!(check_depth("[]".repeat(MAX_NESTING_DEPTH * 4).as_bytes()).is_ok());
}
