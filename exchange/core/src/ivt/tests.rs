use super::*;
use bidder_sdk::openrtb::decode_request;

const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const SAFARI_IPAD_DESKTOP: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";

fn request(device: &str) -> BidRequest {
    decode_request(
        format!(
            r#"{{"id":"r","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],"site":{{"id":"s"}},"device":{device}}}"#
        )
        .as_bytes(),
    )
    .expect("valid")
}

fn detector() -> Detector {
    Detector::new(
        IpRanges::parse("203.0.113.192/26\n2001:db8:dc::/48 # a cloud\n").expect("ranges"),
    )
}

fn reasons(device: &str) -> Vec<IvtReason> {
    detector()
        .check(&request(device))
        .found
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

#[test]
fn peoples_devices_pass() {
    for device in [
        format!(
            r#"{{"ua":"{CHROME_WINDOWS}","os":"Windows","devicetype":2,"ip":"203.0.113.7","w":1920,"h":1080}}"#
        ),
        format!(r#"{{"ua":"{SAFARI_IPHONE}","os":"iOS","devicetype":4,"ipv6":"2001:db8:1::5"}}"#),
        format!(r#"{{"ua":"{SAFARI_IPAD_DESKTOP}","os":"iOS","devicetype":5}}"#),
        format!(r#"{{"ua":"{CHROME_ANDROID}","os":"Android","devicetype":4}}"#),
        r#"{"devicetype":4}"#.to_owned(),
    ] {
        assert!(reasons(&device).is_empty(), "{device}");
    }
}

#[test]
fn bots_are_known_by_their_agents() {
    for ua in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "python-requests/2.31.0",
        "curl/8.4.0",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    ] {
        assert_eq!(
            reasons(&format!(r#"{{"ua":"{ua}"}}"#)),
            [IvtReason::Crawler],
            "{ua}"
        );
    }
}

#[test]
fn data_center_addresses_are_found_by_range() {
    for ip in [
        r#""ip":"203.0.113.200""#,
        r#""ipv6":"2001:db8:dc:7::1""#,
        r#""ipv6":"::ffff:203.0.113.255""#,
    ] {
        assert_eq!(
            reasons(&format!("{{{ip}}}")),
            [IvtReason::Datacenter],
            "{ip}"
        );
    }
    for ip in [
        r#""ip":"203.0.113.191""#,
        r#""ipv6":"2001:db8:dd::1""#,
        r#""ip":"not an ip""#,
    ] {
        assert!(reasons(&format!("{{{ip}}}")).is_empty(), "{ip}");
    }
}

#[test]
fn ranges_merge_and_bad_lines_are_named() {
    let ranges =
        IpRanges::parse("10.0.0.0/25\n10.0.0.128/25\n10.0.0.5\n\n# nothing\n::1").expect("valid");
    assert_eq!(
        ranges.len(),
        2,
        "the two halves and the address inside merge"
    );
    assert!(ranges.contains("10.0.0.255".parse().expect("ip")));
    assert!(!ranges.contains("10.0.1.0".parse().expect("ip")));
    let error = IpRanges::parse("10.0.0.0/8\n10.0.0.0/33\n").expect_err("bad");
    assert!(error.starts_with("line 2"), "{error}");
}

#[test]
fn devices_that_contradict_themselves_are_named() {
    let cases = [
        (
            format!(r#"{{"ua":"{CHROME_WINDOWS}","os":"iOS"}}"#),
            "os contradicts",
        ),
        (
            format!(r#"{{"ua":"{CHROME_ANDROID}","os":"Windows"}}"#),
            "os contradicts",
        ),
        (
            r#"{"os":"Android","devicetype":2}"#.to_owned(),
            "mobile os on a personal computer",
        ),
        (
            format!(r#"{{"ua":"{CHROME_WINDOWS}","devicetype":4}}"#),
            "desktop user agent on a phone",
        ),
        (r#"{"w":0,"h":800}"#.to_owned(), "screen size"),
        (r#"{"w":400,"h":99999}"#.to_owned(), "screen size"),
    ];
    for (device, words) in cases {
        let found = detector().check(&request(&device)).found;
        assert_eq!(found.len(), 1, "{device}: {found:?}");
        assert_eq!(found[0].0, IvtReason::DeviceMismatch);
        assert!(found[0].1.contains(words), "{device}: {}", found[0].1);
    }
}
