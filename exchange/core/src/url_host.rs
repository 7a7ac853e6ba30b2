//! The host of a page URL and of a site request, as the features and the publisher
//! registry read them.

/// The host of an absolute URL (`https://www.a.com:8080/x` → `www.a.com`).
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// The host a site request comes from: `site.domain`, else its page's host; lower case,
/// without a port (Prebid.js sends `host:port` off ports 80/443) or a trailing dot. One
/// reading for campaign site lists and the publisher registry.
pub fn site_host(domain: Option<&str>, page: Option<&str>) -> Option<String> {
    let host = domain.or_else(|| page.and_then(host_of))?;
    let host = host.split(':').next()?.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A host name as `asi` and ads.txt write it: labels of letters, digits and `-`, at least
/// one dot, at most 253 bytes.
pub fn is_domain(text: &str) -> bool {
    (3..=253).contains(&text.len())
        && text.contains('.')
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_page_urls() {
        assert_eq!(host_of("https://www.a.com:8080/x?y"), Some("www.a.com"));
        assert_eq!(host_of("prebid.org"), Some("prebid.org"));
        assert_eq!(host_of("http://user@b.cn/"), Some("b.cn"));
        assert_eq!(host_of("https:///x"), None);
    }

    #[test]
    fn a_site_is_its_domain_else_its_page_host_without_port_or_root_dot() {
        assert_eq!(
            site_host(Some("Mama.Example:8443"), None).as_deref(),
            Some("mama.example")
        );
        assert_eq!(
            site_host(Some("mama.example."), None).as_deref(),
            Some("mama.example")
        );
        assert_eq!(
            site_host(None, Some("https://www.a.com:8080/x")).as_deref(),
            Some("www.a.com")
        );
        assert_eq!(site_host(Some(":80"), None), None);
        assert_eq!(site_host(None, None), None);
    }
}
