//! The device behind a `User-Agent` string: OS, OpenRTB device type and browser, read by
//! the `woothee` parser (its rules ship inside the crate: no data file to deploy).

use bidder_sdk::openrtb::enums::device_type;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Longest user agent parsed (longer ones are left as they are, unparsed).
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// Agents remembered per thread: a page's visitors share a few hundred agent strings, and
/// parsing one costs ~18k instructions (a memo hit, a hash and a lookup). Past this many
/// the memo starts over, so a flood of distinct agents costs parsing, never memory.
const MEMO_ENTRIES: usize = 1024;

thread_local! {
    static MEMO: RefCell<HashMap<Box<str>, Option<Rc<Agent>>>> = RefCell::new(HashMap::new());
}

/// [`parse`], remembered per thread (at most 1,024 agents; past that the memo starts over).
pub fn parse_memoised(user_agent: &str) -> Option<Rc<Agent>> {
    if user_agent.len() > MAX_USER_AGENT_BYTES {
        return None;
    }
    MEMO.with(|memo| {
        if let Some(known) = memo.borrow().get(user_agent) {
            return known.clone();
        }
        let parsed = parse(user_agent).map(Rc::new);
        let mut memo = memo.borrow_mut();
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(user_agent.into(), parsed.clone());
        parsed
    })
}

/// What a user agent says about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// OS as OpenRTB callers spell it (`iOS`, `Android`, `Windows`, `macOS`, `HarmonyOS`…).
    pub os: Option<&'static str>,
    /// OS version, when the agent says it.
    pub osv: Option<String>,
    /// OpenRTB 2.6 device type (4 phone, 5 tablet, 2 PC, 6 connected device).
    pub devicetype: Option<i32>,
    /// Browser name (`Chrome`, `Safari`…), when known.
    pub browser: Option<&'static str>,
    /// Browser version.
    pub browser_version: Option<String>,
    /// A crawler or bot (search engines, feed readers, HTTP libraries).
    pub crawler: bool,
}

/// Reads a user agent; `None` when it is too long to be a real browser's.
pub fn parse(user_agent: &str) -> Option<Agent> {
    if user_agent.len() > MAX_USER_AGENT_BYTES {
        return None;
    }
    let found = woothee::parser::Parser::new().parse(user_agent)?;
    let known = |text: &str| text != woothee::woothee::VALUE_UNKNOWN && !text.is_empty();
    // woothee predates HarmonyOS, whose agents otherwise read as Android or Linux.
    let harmony = user_agent.contains("HarmonyOS") || user_agent.contains("OpenHarmony");
    let os = if harmony {
        Some("HarmonyOS")
    } else {
        os_name(found.os)
    };
    let devicetype = match found.category {
        "smartphone" | "mobilephone" if is_tablet(found.os, user_agent) => {
            Some(device_type::TABLET)
        }
        "smartphone" | "mobilephone" => Some(device_type::PHONE),
        "pc" if found.os == "iPad" => Some(device_type::TABLET),
        "pc" => Some(device_type::PERSONAL_COMPUTER),
        "appliance" => Some(device_type::CONNECTED_DEVICE),
        _ => None,
    };
    let osv = found.os_version.as_ref();
    Some(Agent {
        os,
        osv: (known(osv) && osv.len() <= 32).then(|| osv.to_owned()),
        devicetype,
        browser: known(found.name).then(|| static_name(found.name)).flatten(),
        browser_version: (known(found.version) && found.version.len() <= 32)
            .then(|| found.version.to_owned()),
        crawler: found.category == "crawler",
    })
}

/// Tablets: iPads, and Android devices whose agent does not say `Mobile` (the convention
/// Android browsers follow).
fn is_tablet(os: &str, user_agent: &str) -> bool {
    os == "iPad" || (os == "Android" && !user_agent.contains("Mobile"))
}

/// woothee's OS names, as OpenRTB `device.os` values.
fn os_name(os: &str) -> Option<&'static str> {
    Some(match os {
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS",
        "Android" => "Android",
        "Mac OSX" | "Mac OS Classic" => "macOS",
        "Windows Phone OS" => "Windows Phone",
        "Linux" => "Linux",
        "ChromeOS" => "ChromeOS",
        "BSD" => "BSD",
        "Firefox OS" => "Firefox OS",
        "BlackBerry" | "BlackBerry 10" => "BlackBerry",
        other if other.starts_with("Windows") => "Windows",
        _ => return None,
    })
}

/// The browser names worth passing on, as `'static` strings (woothee's own are borrowed
/// from its dataset, so this only narrows the set).
fn static_name(name: &str) -> Option<&'static str> {
    const NAMES: [&str; 12] = [
        "Chrome",
        "Safari",
        "Firefox",
        "Edge",
        "Internet Explorer",
        "Opera",
        "Vivaldi",
        "SamsungBrowser",
        "Yandex Browser",
        "Webview",
        "Google Search App",
        "Sleipnir",
    ];
    NAMES.into_iter().find(|known| *known == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const ANDROID_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
    const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const HARMONY: &str = "Mozilla/5.0 (Phone; OpenHarmony 4.0; HarmonyOS 4.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Mobile Safari/537.36 ArkWeb/4.1.6.1";
    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    #[test]
    fn phones_tablets_and_pcs_are_told_apart() {
        let iphone = parse(IPHONE).expect("parsed");
        assert_eq!(iphone.os, Some("iOS"));
        assert_eq!(iphone.devicetype, Some(device_type::PHONE));
        assert_eq!(iphone.browser, Some("Safari"));
        assert!(!iphone.crawler);
        let android = parse(ANDROID_PHONE).expect("parsed");
        assert_eq!(
            (android.os, android.osv.as_deref(), android.devicetype),
            (Some("Android"), Some("14"), Some(device_type::PHONE))
        );
        assert_eq!(android.browser, Some("Chrome"));
        assert_eq!(
            parse(ANDROID_TABLET).expect("parsed").devicetype,
            Some(device_type::TABLET)
        );
        let windows = parse(WINDOWS).expect("parsed");
        assert_eq!(
            (windows.os, windows.devicetype),
            (Some("Windows"), Some(device_type::PERSONAL_COMPUTER))
        );
        assert_eq!(windows.browser_version.as_deref(), Some("124.0.0.0"));
    }

    #[test]
    fn harmonyos_and_crawlers_are_recognised() {
        let harmony = parse(HARMONY).expect("parsed");
        assert_eq!(harmony.os, Some("HarmonyOS"));
        let bot = parse(GOOGLEBOT).expect("parsed");
        assert!(bot.crawler);
        assert_eq!((bot.os, bot.devicetype), (None, None));
    }

    #[test]
    fn the_memo_answers_as_the_parser_and_stays_bounded() {
        for agent in [IPHONE, ANDROID_PHONE, WINDOWS, GOOGLEBOT, IPHONE] {
            assert_eq!(parse_memoised(agent).as_deref(), parse(agent).as_ref());
        }
        for i in 0..MEMO_ENTRIES + 10 {
            parse_memoised(&format!("Agent/{i}"));
        }
        assert!(MEMO.with(|m| m.borrow().len()) <= MEMO_ENTRIES);
        assert_eq!(parse_memoised(&"A".repeat(MAX_USER_AGENT_BYTES + 1)), None);
    }

    #[test]
    fn garbage_and_oversized_agents_say_nothing() {
        assert_eq!(parse(&"A".repeat(MAX_USER_AGENT_BYTES + 1)), None);
        if let Some(agent) = parse("\u{0}\u{ffff} curl?") {
            assert_eq!(
                (agent.os, agent.devicetype, agent.browser),
                (None, None, None)
            );
        }
        let empty = parse("").expect("empty parses as unknown");
        assert_eq!((empty.os, empty.devicetype), (None, None));
    }
}
