//! The host of a page URL, as the features and the publisher registry read it.

/// The host of an absolute URL (`https://www.a.com:8080/x` → `www.a.com`).
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
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
}
