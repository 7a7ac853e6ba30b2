//! What the HTTP request says about its caller beyond the body: whether a browser sent it,
//! its address (the TCP peer, or a trusted proxy's `X-Forwarded-For` entry), its user
//! agent and the exchange's user-id cookie. All bounded; anything malformed is left out.

use crate::config::ExchangeConfig;
use crate::enrich::agent::MAX_USER_AGENT_BYTES;
use crate::enrich::{uid, Caller};
use http::{header, HeaderMap};
use std::net::IpAddr;

/// Most `X-Forwarded-For` entries read (a longer chain is not one the operator built).
const MAX_FORWARDED_ENTRIES: usize = 32;

/// The caller of a request that came from `peer`.
pub fn of(headers: &HeaderMap, peer: Option<IpAddr>, config: &ExchangeConfig) -> Caller {
    let ip = address(headers, peer, config);
    // A server's own agent and cookies never stand for the device's: not even read.
    let from_browser = headers.contains_key(header::ORIGIN);
    if !from_browser {
        return Caller {
            from_browser,
            ip,
            user_agent: None,
            uid_cookie: None,
        };
    }
    let user_agent = agent(headers);
    let cookie = &config.first_party_id;
    let uid_cookie = cookie
        .enabled()
        .then(|| {
            let values = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok());
            uid::read_cookie(values, &cookie.cookie).map(str::to_owned)
        })
        .flatten();
    Caller {
        from_browser,
        ip,
        user_agent,
        uid_cookie,
    }
}

/// The caller of a navigation (a click: always the user's own browser, `Origin` or not):
/// its address and user agent, read the same bounded way; no cookie.
pub fn navigation(headers: &HeaderMap, peer: Option<IpAddr>, config: &ExchangeConfig) -> Caller {
    Caller {
        from_browser: true,
        ip: address(headers, peer, config),
        user_agent: agent(headers),
        uid_cookie: None,
    }
}

/// The caller's address: the TCP peer, or the trusted proxy hop of `X-Forwarded-For`.
fn address(headers: &HeaderMap, peer: Option<IpAddr>, config: &ExchangeConfig) -> Option<IpAddr> {
    match usize::from(config.enrichment.forwarded_for_hops) {
        0 => peer,
        hops => forwarded_for(headers, hops),
    }
}

/// The `User-Agent`, when present and at most [`MAX_USER_AGENT_BYTES`].
fn agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .filter(|ua| !ua.is_empty() && ua.len() <= MAX_USER_AGENT_BYTES)
        .map(str::to_owned)
}

/// The address `hops` entries from the right of `X-Forwarded-For` (each trusted proxy
/// appends the address it saw): `None` when the chain is shorter, too long or malformed.
fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for entry in value.to_str().ok()?.split(',') {
            if entries.len() == MAX_FORWARDED_ENTRIES {
                return None;
            }
            entries.push(entry.trim());
        }
    }
    let index = entries.len().checked_sub(hops)?;
    entries[index].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn the_peer_is_the_caller_unless_proxies_are_trusted() {
        let mut config = ExchangeConfig::default();
        let peer = Some("10.0.0.9".parse().expect("ip"));
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            of(&spoofed, peer, &config).ip,
            peer,
            "the header is ignored"
        );
        config.enrichment.forwarded_for_hops = 1;
        let chain = headers(&[
            ("x-forwarded-for", "6.6.6.6, 1.2.3.4"),
            ("x-forwarded-for", "192.0.2.7"),
        ]);
        assert_eq!(
            of(&chain, peer, &config).ip,
            Some("192.0.2.7".parse().expect("ip")),
            "one proxy: the address it saw"
        );
        config.enrichment.forwarded_for_hops = 2;
        assert_eq!(
            of(&chain, peer, &config).ip,
            Some("1.2.3.4".parse().expect("ip"))
        );
        config.enrichment.forwarded_for_hops = 4;
        assert_eq!(
            of(&chain, peer, &config).ip,
            None,
            "a chain shorter than the proxies"
        );
        let garbage = headers(&[("x-forwarded-for", "not-an-ip")]);
        config.enrichment.forwarded_for_hops = 1;
        assert_eq!(of(&garbage, peer, &config).ip, None);
        let long = vec!["1.1.1.1"; MAX_FORWARDED_ENTRIES + 1].join(",");
        assert_eq!(
            of(&headers(&[("x-forwarded-for", &long)]), peer, &config).ip,
            None
        );
    }

    #[test]
    fn browser_agent_and_cookie_are_read_within_bounds() {
        let config = ExchangeConfig::default();
        let browser = headers(&[
            ("origin", "https://pub.example"),
            ("user-agent", "Mozilla/5.0"),
            ("cookie", "a=b; exchange_uid=0123abcd"),
        ]);
        let caller = of(&browser, None, &config);
        assert!(caller.from_browser);
        assert_eq!(caller.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(caller.uid_cookie.as_deref(), Some("0123abcd"));
        let long_agent = "x".repeat(MAX_USER_AGENT_BYTES + 1);
        let oversized = headers(&[
            ("origin", "https://pub.example"),
            ("user-agent", &long_agent),
        ]);
        assert_eq!(of(&oversized, None, &config).user_agent, None);
        let server = headers(&[
            ("user-agent", "Go-http-client/1.1"),
            ("cookie", "exchange_uid=0123abcd"),
        ]);
        let caller = of(&server, None, &config);
        assert!(!caller.from_browser);
        assert_eq!(
            caller.user_agent, None,
            "a server's agent is not the device's"
        );
        assert_eq!(caller.uid_cookie, None);
    }
}
