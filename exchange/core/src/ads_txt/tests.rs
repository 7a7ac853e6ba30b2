use super::*;

const REGISTRY: &str = r#"
[[publishers]]
id = "pub-owner"
name = "Owner"
domains = ["owner.example"]

[[publishers]]
id = "pub-other"
name = "Other Owner"
domains = ["owner.example", "other.example"]

[[publishers]]
id = "pub-reseller"
name = "Reseller"
domains = ["resold.example"]
seller_type = "intermediary"
"#;

const FILE: &str = "\u{feff}# ads.txt of owner.example
contact=ads@owner.example
subdomain=m.owner.example
Exchange.Example, pub-owner, DIRECT, abc123 # our own line
exchange.example, pub-reseller, DIRECT
exchange.example, pub-nobody, RESELLER
google.com, pub-1234, RESELLER, f08c47fec0942fa0
exchange.example, pub-owner, reseller ; ext=1
broken line without commas
exchange.example, , DIRECT
asi, 1, DIRECT
exchange.example, pub-owner, PARTNER
";

fn registry() -> Registry {
    Registry::parse(REGISTRY, "t").expect("valid")
}

#[test]
fn records_variables_and_problems_are_told_apart() {
    let parsed = parse(FILE);
    assert_eq!(parsed.records.len(), 5);
    let first = &parsed.records[0];
    assert_eq!(
        (first.line, first.system.as_str(), first.account.as_str()),
        (4, "exchange.example", "pub-owner")
    );
    assert_eq!(first.relationship, Relationship::Direct);
    assert_eq!(first.authority.as_deref(), Some("abc123"));
    assert_eq!(
        parsed.records[4].relationship,
        Relationship::Reseller,
        "case-insensitive"
    );
    assert_eq!(
        parsed.variables,
        [
            (2, "contact".to_owned(), "ads@owner.example".to_owned()),
            (3, "subdomain".to_owned(), "m.owner.example".to_owned()),
        ]
    );
    assert_eq!(
        parsed.problems,
        [
            (9, LineProblem::Fields),
            (10, LineProblem::Account),
            (11, LineProblem::System),
            (12, LineProblem::Relationship),
        ]
    );
    let long = format!("exchange.example, {}, DIRECT", "x".repeat(MAX_LINE_BYTES));
    assert_eq!(parse(&long).problems, [(1, LineProblem::TooLong)]);
}

#[test]
fn the_check_names_unknown_sellers_wrong_relationships_and_missing_owners() {
    let report = check(
        &parse(FILE),
        "Owner.Example.",
        "exchange.example",
        &registry(),
    );
    assert_eq!(report.domain, "owner.example");
    assert_eq!(report.lines_for_exchange, 4);
    assert_eq!(report.authorised, ["pub-owner", "pub-reseller"]);
    assert_eq!(
        report.unauthorised_owners,
        ["pub-other"],
        "a co-owner without a line"
    );
    let said: Vec<(usize, Severity, &str)> = report
        .findings
        .iter()
        .map(|f| (f.line, f.severity, f.message.as_str()))
        .collect();
    let has = |line: usize, severity: Severity, words: &str| {
        assert!(
            said.iter()
                .any(|(l, s, m)| *l == line && *s == severity && m.contains(words)),
            "line {line} {severity:?} {words:?} in {said:?}"
        );
    };
    has(0, Severity::Error, "pub-other");
    has(5, Severity::Warning, "INTERMEDIARY");
    has(6, Severity::Error, "no seller \"pub-nobody\"");
    has(
        8,
        Severity::Warning,
        "RESELLER, but pub-owner is a PUBLISHER",
    );
    has(9, Severity::Warning, "skipped");
    assert!(report.has_errors());
    let clean = check(
        &parse("exchange.example, pub-reseller, RESELLER\n"),
        "resold.example",
        "exchange.example",
        &registry(),
    );
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
}

#[test]
fn a_request_is_authorised_by_its_domains_file_or_its_parents() {
    let mut table = Table::default();
    table.insert(
        Kind::Site,
        "Owner.Example",
        &parse(FILE),
        "exchange.example",
    );
    table.insert(
        Kind::App,
        "owner.example",
        &parse("other.example, pub-owner, DIRECT"),
        "exchange.example",
    );
    assert_eq!(table.len(), 2);
    let site = |host: &str, seller: Option<&str>| table.verdict(Kind::Site, host, seller);
    assert_eq!(
        site("owner.example", Some("pub-owner")),
        Verdict::Authorised
    );
    assert_eq!(
        site("m.news.owner.example", Some("pub-owner")),
        Verdict::Authorised
    );
    assert_eq!(
        site("owner.example", Some("pub-other")),
        Verdict::Unauthorised
    );
    assert_eq!(site("owner.example", None), Verdict::Unauthorised);
    assert_eq!(site("other.example", Some("pub-other")), Verdict::NoFile);
    assert_eq!(site("example", Some("pub-owner")), Verdict::NoFile);
    assert_eq!(
        table.verdict(Kind::App, "owner.example", Some("pub-owner")),
        Verdict::Unauthorised,
        "the app file lists another system only"
    );
}

#[test]
fn an_app_is_checked_at_its_developers_domain() {
    use bidder_sdk::openrtb::decode_request;
    let mut table = Table::default();
    table.insert(
        Kind::App,
        "owner.example",
        &parse("exchange.example, pub-owner, DIRECT\n"),
        "exchange.example",
    );
    let app = |publisher: &str, domain: &str| {
        decode_request(
            format!(
                r#"{{"id":"r","imp":[{{"id":"1","banner":{{"w":320,"h":50}}}}],
                    "app":{{"bundle":"com.owner","publisher":{{"id":"{publisher}"{domain}}}}}}}"#
            )
            .as_bytes(),
        )
        .expect("valid")
    };
    let registry = registry();
    // The registered publisher's own domain, when the request names none.
    let verdict = request_verdict(&table, &registry, &app("pub-owner", ""));
    assert_eq!(verdict, Some(Verdict::Authorised));
    // The declared developer domain wins; another publisher there is not listed.
    let declared = app("pub-other", r#","domain":"Owner.Example.""#);
    assert_eq!(
        request_verdict(&table, &registry, &declared),
        Some(Verdict::Unauthorised)
    );
    // No domain to look at: nothing to check.
    assert_eq!(
        request_verdict(&table, &registry, &app("pub-nobody", "")),
        None
    );
    // No table: no check at all.
    assert_eq!(
        request_verdict(&Table::default(), &registry, &app("pub-owner", "")),
        None
    );
}
